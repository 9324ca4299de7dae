/* semver.c — Semantic Versioning 2.0.0 parsing and precedence (see semver.h). */
#include "semver.h"

#include <string.h>

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_ident_char(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
}

/* A numeric part at *p: digits, no leading zero unless it is "0". Advances *p. */
static bool take_number(const char **p, const char **start, size_t *len)
{
    const char *s = *p;
    size_t n = 0;
    while (is_digit(s[n]))
        n++;
    if (n == 0 || (n > 1 && s[0] == '0'))
        return false;
    *start = s;
    *len = n;
    *p = s + n;
    return true;
}

/* Dot-separated identifiers up to the first char that is neither an identifier char nor a dot;
 * numeric_rules: numeric identifiers may not have leading zeros (pre-release, not build). */
static bool take_idents(const char **p, bool numeric_rules, const char **start, size_t *len)
{
    const char *s = *p, *q = s;
    for (;;) {
        const char *id = q;
        bool all_digits = true;
        while (is_ident_char(*q)) {
            all_digits = all_digits && is_digit(*q);
            q++;
        }
        size_t n = (size_t)(q - id);
        if (n == 0)
            return false;
        if (numeric_rules && all_digits && n > 1 && id[0] == '0')
            return false;
        if (*q != '.')
            break;
        q++;
    }
    *start = s;
    *len = (size_t)(q - s);
    *p = q;
    return true;
}

bool semver_parse(const char *s, semver *out)
{
    if (!s || strnlen(s, SEMVER_MAX_LEN + 1) > SEMVER_MAX_LEN)
        return false;
    semver v = {0};
    const char *p = s;
    if (!take_number(&p, &v.major, &v.major_len) || *p++ != '.' ||
        !take_number(&p, &v.minor, &v.minor_len) || *p++ != '.' ||
        !take_number(&p, &v.patch, &v.patch_len))
        return false;
    if (*p == '-') {
        p++;
        if (!take_idents(&p, true, &v.pre, &v.pre_len))
            return false;
    }
    if (*p == '+') {
        p++;
        if (!take_idents(&p, false, &v.build, &v.build_len))
            return false;
    }
    if (*p != '\0')
        return false;
    *out = v;
    return true;
}

bool semver_valid(const char *s)
{
    semver v;
    return semver_parse(s, &v);
}

/* Two digit strings without leading zeros: the longer is larger, else the text decides. */
static int cmp_numeric(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen)
        return alen < blen ? -1 : 1;
    int c = memcmp(a, b, alen);
    return (c > 0) - (c < 0);
}

static bool all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_digit(s[i]))
            return false;
    return true;
}

/* semver §11.4: identifier by identifier; numeric < alphanumeric; a shorter list that is a
 * prefix of a longer one is lower. */
static int cmp_pre(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t i = 0, j = 0;
    while (i < alen && j < blen) {
        size_t an = 0, bn = 0;
        while (i + an < alen && a[i + an] != '.')
            an++;
        while (j + bn < blen && b[j + bn] != '.')
            bn++;
        bool anum = all_digits(a + i, an), bnum = all_digits(b + j, bn);
        int c;
        if (anum && bnum) {
            c = cmp_numeric(a + i, an, b + j, bn);
        } else if (anum != bnum) {
            c = anum ? -1 : 1;
        } else {
            c = memcmp(a + i, b + j, an < bn ? an : bn);
            c = c ? (c > 0) - (c < 0) : (an > bn) - (an < bn);
        }
        if (c)
            return c;
        i += an + (i + an < alen);
        j += bn + (j + bn < blen);
    }
    return (i < alen) - (j < blen);
}

int semver_cmp(const semver *a, const semver *b)
{
    int c = cmp_numeric(a->major, a->major_len, b->major, b->major_len);
    if (!c)
        c = cmp_numeric(a->minor, a->minor_len, b->minor, b->minor_len);
    if (!c)
        c = cmp_numeric(a->patch, a->patch_len, b->patch, b->patch_len);
    if (c)
        return c;
    if (!a->pre_len || !b->pre_len) /* a release is higher than any of its pre-releases */
        return (a->pre_len == 0) - (b->pre_len == 0);
    return cmp_pre(a->pre, a->pre_len, b->pre, b->pre_len);
}
