/* page.c — page sizes and keyset page tokens: base64url("p1" 0x1f "p2" … 0x1e "fingerprint"),
 * the fingerprint being a 64-bit FNV-1a of the filters in hex. */
#include "page.h"
#include "base/b64url.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEP_PART   '\x1f'
#define SEP_FILTER '\x1e'

cf_code page_size(int32_t requested, int *out)
{
    if (requested < 0)
        return CF_INVALID_ARGUMENT;
    *out = requested == 0 ? PAGE_SIZE_DEFAULT
                          : (requested > PAGE_SIZE_MAX ? PAGE_SIZE_MAX : (int)requested);
    return CF_OK;
}

static void fingerprint(const char *filters, char out[17])
{
    uint64_t h = 14695981039346656037ull;
    for (const char *p = filters ? filters : ""; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

char *page_token_encode(arena *a, const char *filters, const char *const *parts, size_t n)
{
    char raw[PAGE_TOKEN_MAX];
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        size_t pl = strnlen(parts[i], 128);
        if (i)
            raw[len++] = SEP_PART;
        memcpy(raw + len, parts[i], pl);
        len += pl;
    }
    raw[len++] = SEP_FILTER;
    fingerprint(filters, raw + len);
    len += 16;
    char *out = arena_alloc(a, b64url_encoded_len(len) + 1);
    size_t w = b64url_encode(out, raw, len);
    out[w] = '\0';
    return out;
}

cf_code page_token_decode(arena *a, const char *token, const char *filters, char **parts, size_t n)
{
    if (!token || !*token)
        return CF_NOT_FOUND;
    size_t tl = strlen(token);
    unsigned char raw[PAGE_TOKEN_MAX];
    size_t len = 0;
    if (tl > b64url_encoded_len(sizeof raw - 1) || !b64url_decode(token, tl, raw, &len))
        return CF_INVALID_ARGUMENT;
    if (len < 17 || raw[len - 17] != SEP_FILTER || memchr(raw, 0, len))
        return CF_INVALID_ARGUMENT;
    char fp[17];
    fingerprint(filters, fp);
    if (memcmp(raw + len - 16, fp, 16) != 0)
        return CF_INVALID_ARGUMENT;
    len -= 17;
    size_t i = 0, start = 0;
    for (size_t k = 0; k <= len; k++) {
        if (k == len || raw[k] == SEP_PART) {
            if (i == n)
                return CF_INVALID_ARGUMENT;
            parts[i++] = arena_strndup(a, (const char *)raw + start, k - start);
            start = k + 1;
        }
    }
    return i == n ? CF_OK : CF_INVALID_ARGUMENT;
}

char *page_keyset_encode(arena *a, const char *filters, int64_t after_us, const char *after_id)
{
    const char *parts[] = {arena_printf(a, "%" PRId64, after_us), after_id};
    return page_token_encode(a, filters, parts, 2);
}

cf_code page_keyset_decode(arena *a, const char *token, const char *filters, int64_t *after_us,
                           char **after_id)
{
    char *parts[2];
    cf_code code = page_token_decode(a, token, filters, parts, 2);
    if (code != CF_OK)
        return code;
    char *end;
    errno = 0;
    long long us = strtoll(parts[0], &end, 10);
    /* a position a store can hold: a token forged with a time past PAGE_KEYSET_MAX_US reached
     * the database as "a value is out of range" (issue 24 item 4); it is a bad token */
    if (end == parts[0] || *end || errno || us < 0 || us > PAGE_KEYSET_MAX_US || !*parts[1])
        return CF_INVALID_ARGUMENT;
    *after_us = us;
    *after_id = parts[1];
    return CF_OK;
}
