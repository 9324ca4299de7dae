/* text.c — the text forms the JSON mapping needs: base64, RFC 3339 timestamps, FieldMask path
 * spelling and UTF-8 repair. Pure functions, no allocation beyond xmalloc. */
#include "internal.h"
#include "pbjson.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "base/xmalloc.h"

#define TS_MIN (-62135596800LL) /* 0001-01-01T00:00:00Z */
#define TS_MAX 253402300799LL   /* 9999-12-31T23:59:59Z */

char *pbj_base64_encode(const uint8_t *p, size_t n)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = xmalloc((n + 2) / 3 * 4 + 1), *o = out;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        *o++ = abc[v >> 18];
        *o++ = abc[v >> 12 & 63];
        *o++ = i + 1 < n ? abc[v >> 6 & 63] : '=';
        *o++ = i + 2 < n ? abc[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

static int b64_digit(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

bool pbj_base64_decode(const char *s, size_t n, uint8_t *out, size_t *out_len)
{
    if (n % 4 == 0 && n > 0 && s[n - 1] == '=')
        n -= s[n - 2] == '=' ? 2 : 1;
    if (n % 4 == 1)
        return false;
    uint32_t acc = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int d = b64_digit(s[i]);
        if (d < 0)
            return false;
        acc = acc << 6 | (uint32_t)d;
        if (i % 4 == 3) {
            out[o++] = (uint8_t)(acc >> 16);
            out[o++] = (uint8_t)(acc >> 8);
            out[o++] = (uint8_t)acc;
        }
    }
    if (n % 4 == 2)
        out[o++] = (uint8_t)(acc >> 4);
    else if (n % 4 == 3) {
        out[o++] = (uint8_t)(acc >> 10);
        out[o++] = (uint8_t)(acc >> 2);
    }
    *out_len = o;
    return true;
}

/* Length of the valid UTF-8 sequence at s (RFC 3629: no overlongs, surrogates or > U+10FFFF),
 * or 0. */
size_t pbj_utf8_seq(const unsigned char *s, size_t n)
{
    size_t len = s[0] < 0x80 ? 1 : s[0] < 0xC2 ? 0 : s[0] < 0xE0 ? 2 : s[0] < 0xF0 ? 3 : 4;
    if (len == 0 || len > n || s[0] > 0xF4)
        return 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (s[0] == 0xE0)
        lo = 0xA0;
    else if (s[0] == 0xED)
        hi = 0x9F;
    else if (s[0] == 0xF0)
        lo = 0x90;
    else if (s[0] == 0xF4)
        hi = 0x8F;
    for (size_t i = 1; i < len; i++, lo = 0x80, hi = 0xBF)
        if (s[i] < lo || s[i] > hi)
            return 0;
    return len;
}

json_t *pbj_string(const char *s, size_t n)
{
    json_t *j = json_stringn(s, n);
    if (j)
        return j;
    char *fixed = xmalloc(n * 3 + 1);
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t len = s[i] ? pbj_utf8_seq((const unsigned char *)s + i, n - i) : 0;
        if (len == 0) {
            memcpy(fixed + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        } else {
            memcpy(fixed + o, s + i, len);
            o += len;
            i += len;
        }
    }
    j = json_stringn(fixed, o);
    free(fixed);
    return j;
}

char *pbj_snake_to_camel(const char *s, size_t n)
{
    char *out = xmalloc(n + 1), *o = out;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '_' && i + 1 < n && islower((unsigned char)s[i + 1]))
            *o++ = (char)toupper((unsigned char)s[++i]);
        else
            *o++ = s[i];
    }
    *o = '\0';
    return out;
}

char *pbj_camel_to_snake(const char *s, size_t n)
{
    char *out = xmalloc(2 * n + 1), *o = out;
    for (size_t i = 0; i < n; i++) {
        if (isupper((unsigned char)s[i])) {
            *o++ = '_';
            *o++ = (char)tolower((unsigned char)s[i]);
        } else
            *o++ = s[i];
    }
    *o = '\0';
    return out;
}

bool pbj_mask_path_ok(const char *path)
{
    if (!*path)
        return false;
    for (const char *p = path; *p; p++)
        if (*p == ',' || (*p >= 'A' && *p <= 'Z'))
            return false;
    return true;
}

/* Howard Hinnant's days_from_civil / civil_from_days: the proleptic Gregorian calendar without
 * timegm/gmtime, which depend on the host's time_t and locale. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

bool pbjson_timestamp_format(int64_t seconds, int32_t nanos, char out[PBJSON_TIMESTAMP_MAX])
{
    if (seconds < TS_MIN || seconds > TS_MAX || nanos < 0 || nanos > 999999999)
        return false;
    int64_t days = (seconds - TS_MIN) / 86400 + TS_MIN / 86400, rem = seconds - days * 86400;
    int y, m, d;
    civil_from_days(days, &y, &m, &d);
    int n = snprintf(out, PBJSON_TIMESTAMP_MAX, "%04d-%02d-%02dT%02d:%02d:%02d", y, m, d,
                     (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60));
    if (nanos % 1000000 == 0 && nanos)
        n += snprintf(out + n, PBJSON_TIMESTAMP_MAX - (size_t)n, ".%03d", nanos / 1000000);
    else if (nanos % 1000 == 0 && nanos)
        n += snprintf(out + n, PBJSON_TIMESTAMP_MAX - (size_t)n, ".%06d", nanos / 1000);
    else if (nanos)
        n += snprintf(out + n, PBJSON_TIMESTAMP_MAX - (size_t)n, ".%09d", nanos);
    snprintf(out + n, PBJSON_TIMESTAMP_MAX - (size_t)n, "Z");
    return true;
}

/* The number in s[0..n) made of exactly n digits, or -1. */
static int digits(const char *s, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

bool pbjson_timestamp_parse(const char *s, size_t len, int64_t *seconds, int32_t *nanos)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (len < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
        s[16] != ':')
        return false;
    int y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
    int h = digits(s + 11, 2), mi = digits(s + 14, 2), se = digits(s + 17, 2);
    bool leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && leap) || h < 0 ||
        h > 23 || mi < 0 || mi > 59 || se < 0 || se > 59)
        return false;
    size_t i = 19;
    int32_t ns = 0;
    if (s[i] == '.') {
        size_t nd = 0;
        for (i++; i < len && isdigit((unsigned char)s[i]) && nd < 10; i++, nd++)
            ns = nd < 9 ? ns * 10 + (s[i] - '0') : ns;
        if (nd == 0 || nd > 9)
            return false;
        for (; nd < 9; nd++)
            ns *= 10;
    }
    int64_t off = 0;
    if (i + 1 == len && (s[i] == 'Z' || s[i] == 'z'))
        off = 0;
    else if (i + 6 == len && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
        int oh = digits(s + i + 1, 2), om = digits(s + i + 4, 2);
        if (oh < 0 || oh > 23 || om < 0 || om > 59)
            return false;
        off = (s[i] == '-' ? -1 : 1) * (oh * 3600 + om * 60);
    } else
        return false;
    int64_t t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - off;
    if (t < TS_MIN || t > TS_MAX)
        return false;
    *seconds = t;
    *nanos = ns;
    return true;
}
