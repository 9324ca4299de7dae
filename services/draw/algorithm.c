/* algorithm.c — "confetti-fy-hmac-sha256/1" (definition in algorithm.h and docs/draw.md). */
#include "algorithm.h"
#include "base/xmalloc.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

void draw_stream_init(draw_stream *s, const uint8_t seed[DRAW_SEED_LEN])
{
    memcpy(s->seed, seed, DRAW_SEED_LEN);
    s->counter = 0;
    s->used = sizeof s->block;
}

static void next_block(draw_stream *s)
{
    uint8_t msg[8];
    for (int i = 0; i < 8; i++)
        msg[i] = (uint8_t)(s->counter >> (56 - 8 * i));
    unsigned len = sizeof s->block;
    /* HMAC() cannot fail for SHA-256 with these sizes; a NULL return would mean a broken
     * OpenSSL, and drawing from an unfilled block must never happen */
    if (!HMAC(EVP_sha256(), s->seed, DRAW_SEED_LEN, msg, sizeof msg, s->block, &len))
        abort();
    s->counter++;
    s->used = 0;
}

uint64_t draw_stream_next(draw_stream *s)
{
    if (s->used == sizeof s->block)
        next_block(s);
    uint64_t x = 0;
    for (int i = 0; i < 8; i++)
        x = x << 8 | s->block[s->used + i];
    s->used += 8;
    return x;
}

uint64_t draw_below(draw_stream *s, uint64_t bound)
{
    /* 2^64 mod bound, computed in 64 bits; limit = 2^64 - that (0 rejects nothing when bound
     * divides 2^64, which the "rem == 0" case handles) */
    uint64_t rem = (0 - bound) % bound;
    for (;;) {
        uint64_t x = draw_stream_next(s);
        if (rem == 0 || x < 0 - rem)
            return x % bound;
    }
}

/* The positions a Fisher–Yates shuffle has moved, as an open-addressing map position → value;
 * a position not in the map holds itself. At most 2k entries for k swaps. */
typedef struct swap_map {
    uint64_t *keys, *vals;
    uint8_t *used;
    size_t mask;
} swap_map;

static size_t slot(const swap_map *m, uint64_t key)
{
    size_t i = (size_t)((key * 0x9E3779B97F4A7C15ull) >> 17) & m->mask;
    while (m->used[i] && m->keys[i] != key)
        i = (i + 1) & m->mask;
    return i;
}

static uint64_t map_get(const swap_map *m, uint64_t key)
{
    size_t i = slot(m, key);
    return m->used[i] ? m->vals[i] : key;
}

static void map_set(swap_map *m, uint64_t key, uint64_t val)
{
    size_t i = slot(m, key);
    m->used[i] = 1;
    m->keys[i] = key;
    m->vals[i] = val;
}

bool draw_select(const uint8_t seed[DRAW_SEED_LEN], uint64_t n, uint64_t k, uint64_t *out)
{
    if (k < 1 || k > n || k > (1u << 26))
        return false;
    size_t cap = 16;
    while (cap < 4 * k)
        cap <<= 1;
    swap_map m = {xcalloc(cap, sizeof *m.keys), xcalloc(cap, sizeof *m.vals), xcalloc(cap, 1),
                  cap - 1};
    draw_stream s;
    draw_stream_init(&s, seed);
    for (uint64_t j = 0; j < k; j++) {
        uint64_t r = j + draw_below(&s, n - j);
        uint64_t vj = map_get(&m, j), vr = map_get(&m, r);
        map_set(&m, j, vr);
        map_set(&m, r, vj);
        out[j] = vr;
    }
    free(m.keys);
    free(m.vals);
    free(m.used);
    return true;
}

/* Ids are short: they are gathered in buf and hashed 16 KiB at a time (two EVP calls per id
 * cost more than the hashing itself). The bytes hashed are the same. */
enum { DIGEST_BUF = 16384 };

struct draw_digest {
    EVP_MD_CTX *ctx;
    size_t len;
    unsigned char buf[DIGEST_BUF];
};

draw_digest *draw_digest_new(void)
{
    draw_digest *d = xmalloc(sizeof *d);
    d->len = 0;
    d->ctx = EVP_MD_CTX_new();
    if (!d->ctx || !EVP_DigestInit_ex(d->ctx, EVP_sha256(), NULL))
        abort(); /* allocation failure aborts, as everywhere */
    return d;
}

void draw_digest_add(draw_digest *d, const char *id, size_t len)
{
    if (d->len + len + 1 > DIGEST_BUF) {
        EVP_DigestUpdate(d->ctx, d->buf, d->len);
        d->len = 0;
    }
    if (len + 1 > DIGEST_BUF) { /* not an id: hash it as it is */
        EVP_DigestUpdate(d->ctx, id, len);
        EVP_DigestUpdate(d->ctx, "\n", 1);
        return;
    }
    memcpy(d->buf + d->len, id, len);
    d->buf[d->len + len] = '\n';
    d->len += len + 1;
}

void draw_digest_add_lines(draw_digest *d, const char *lines, size_t len)
{
    if (d->len + len <= DIGEST_BUF) { /* short runs gather in the buffer */
        memcpy(d->buf + d->len, lines, len);
        d->len += len;
        return;
    }
    EVP_DigestUpdate(d->ctx, d->buf, d->len);
    d->len = 0;
    EVP_DigestUpdate(d->ctx, lines, len);
}

void draw_digest_finish(draw_digest *d, uint8_t out[DRAW_DIGEST_LEN])
{
    unsigned len = DRAW_DIGEST_LEN;
    EVP_DigestUpdate(d->ctx, d->buf, d->len);
    EVP_DigestFinal_ex(d->ctx, out, &len);
    EVP_MD_CTX_free(d->ctx);
    free(d);
}

void draw_digest_list(const char *const *ids, size_t n, uint8_t out[DRAW_DIGEST_LEN])
{
    draw_digest *d = draw_digest_new();
    for (size_t i = 0; i < n; i++)
        draw_digest_add(d, ids[i], strlen(ids[i]));
    draw_digest_finish(d, out);
}

void draw_hex(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static int nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool draw_unhex(const char *hex, uint8_t *out, size_t n)
{
    if (strlen(hex) != 2 * n)
        return false;
    for (size_t i = 0; i < n; i++) {
        int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

draw_verdict draw_verify(const char *algorithm, const char *seed_hex, const char *digest_hex,
                         int64_t eligible_count, int64_t count, const char *const *ids, size_t n,
                         const char *const *winners, size_t nwinners)
{
    if (strcmp(algorithm, DRAW_ALGORITHM) != 0)
        return DRAW_BAD_ALGORITHM;
    uint8_t seed[DRAW_SEED_LEN], want[DRAW_DIGEST_LEN], got[DRAW_DIGEST_LEN];
    if (!draw_unhex(seed_hex, seed, sizeof seed))
        return DRAW_BAD_SEED;
    if (eligible_count < 0 || (uint64_t)eligible_count != n || count < 1 ||
        (uint64_t)count != nwinners || (uint64_t)count > n)
        return DRAW_BAD_COUNT;
    draw_digest_list(ids, n, got);
    if (!draw_unhex(digest_hex, want, sizeof want) || memcmp(want, got, sizeof got) != 0)
        return DRAW_BAD_DIGEST;
    uint64_t *pos = xmalloc(nwinners * sizeof *pos);
    draw_verdict v = draw_select(seed, n, nwinners, pos) ? DRAW_MATCH : DRAW_BAD_COUNT;
    for (size_t i = 0; v == DRAW_MATCH && i < nwinners; i++)
        if (strcmp(ids[pos[i]], winners[i]) != 0)
            v = DRAW_BAD_WINNERS;
    free(pos);
    return v;
}

const char *draw_verdict_text(draw_verdict v)
{
    switch (v) {
    case DRAW_MATCH:
        return "the winners follow from the seed and the eligible list";
    case DRAW_BAD_ALGORITHM:
        return "unknown algorithm (this tool knows " DRAW_ALGORITHM ")";
    case DRAW_BAD_SEED:
        return "the seed is not 64 hexadecimal digits";
    case DRAW_BAD_COUNT:
        return "the eligible list or the winners do not have the recorded length";
    case DRAW_BAD_DIGEST:
        return "the eligible list does not have the recorded SHA-256 digest";
    case DRAW_BAD_WINNERS:
        return "the recomputed winners differ from the recorded winners";
    }
    return "?";
}
