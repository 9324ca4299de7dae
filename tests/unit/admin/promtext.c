/* promtext.c — line-shape checker for Prometheus text format 0.0.4 (see promtext.h). */
#include "promtext.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xmalloc.h"

#define MAX_FAMILIES 64

typedef struct family {
    char name[128];
    char type[16];
    bool help, typed;
} family;

typedef struct parser {
    family fam[MAX_FAMILIES];
    size_t nfam;
    char *err;
    size_t errlen;
    int line;
} parser;

__attribute__((format(printf, 2, 3))) static bool bad(parser *ps, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(ps->err, ps->errlen, "line %d: %s", ps->line, msg);
    return false;
}

static bool name_char(char c, bool first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
           (!first && c >= '0' && c <= '9');
}

/* Length of the metric name at s (0 if none). */
static size_t scan_name(const char *s, const char *end)
{
    size_t n = 0;
    while (s + n < end && name_char(s[n], n == 0))
        n++;
    return n;
}

static family *family_get(parser *ps, const char *name, size_t n)
{
    for (size_t i = 0; i < ps->nfam; i++)
        if (strlen(ps->fam[i].name) == n && memcmp(ps->fam[i].name, name, n) == 0)
            return &ps->fam[i];
    if (ps->nfam == MAX_FAMILIES || n >= sizeof ps->fam[0].name)
        return NULL;
    family *f = &ps->fam[ps->nfam++];
    memset(f, 0, sizeof *f);
    memcpy(f->name, name, n);
    return f;
}

/* The family a sample belongs to: a histogram's _bucket/_sum/_count go to their base name. */
static family *family_of_sample(parser *ps, const char *name, size_t n, const char **suffix)
{
    static const char *const sfx[] = {"_bucket", "_sum", "_count"};
    *suffix = "";
    for (size_t i = 0; i < 3; i++) {
        size_t k = strlen(sfx[i]);
        if (n > k && memcmp(name + n - k, sfx[i], k) == 0) {
            for (size_t j = 0; j < ps->nfam; j++) {
                family *f = &ps->fam[j];
                if (strcmp(f->type, "histogram") == 0 && strlen(f->name) == n - k &&
                    memcmp(f->name, name, n - k) == 0) {
                    *suffix = sfx[i];
                    return f;
                }
            }
        }
    }
    for (size_t j = 0; j < ps->nfam; j++)
        if (strlen(ps->fam[j].name) == n && memcmp(ps->fam[j].name, name, n) == 0)
            return &ps->fam[j];
    return NULL;
}

static bool utf8_ok(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t k = c < 0x80             ? 1
                   : (c & 0xE0) == 0xC0 ? 2
                   : (c & 0xF0) == 0xE0 ? 3
                   : (c & 0xF8) == 0xF0 ? 4
                                        : 0;
        if (k == 0 || i + k > n || (k == 2 && c < 0xC2))
            return false;
        for (size_t j = 1; j < k; j++)
            if ((s[i + j] & 0xC0) != 0x80)
                return false;
        i += k;
    }
    return true;
}

static bool parse_comment(parser *ps, const char *s, const char *end)
{
    bool help = strncmp(s, "# HELP ", 7) == 0, type = strncmp(s, "# TYPE ", 7) == 0;
    if (!help && !type)
        return true; /* other comments are allowed */
    s += 7;
    size_t n = scan_name(s, end);
    if (n == 0 || s + n == end || s[n] != ' ')
        return bad(ps, "HELP/TYPE without a metric name");
    family *f = family_get(ps, s, n);
    if (f == NULL)
        return bad(ps, "too many families");
    const char *rest = s + n + 1;
    if (help) {
        if (f->help)
            return bad(ps, "second HELP for %s", f->name);
        for (const char *p = rest; p < end; p++) {
            if (*p != '\\')
                continue;
            if (p + 1 == end || (p[1] != '\\' && p[1] != 'n'))
                return bad(ps, "bad escape in HELP");
            p++;
        }
        f->help = true;
        return true;
    }
    if (f->typed)
        return bad(ps, "second TYPE for %s", f->name);
    size_t tl = (size_t)(end - rest);
    static const char *const types[] = {"counter", "gauge", "histogram", "summary", "untyped"};
    for (size_t i = 0; i < 5; i++) {
        if (strlen(types[i]) == tl && memcmp(types[i], rest, tl) == 0) {
            memcpy(f->type, rest, tl);
            f->typed = true;
            return true;
        }
    }
    return bad(ps, "unknown TYPE");
}

/* Checks name="value",... up to the closing brace; *endp gets the brace. Notes an le label. */
static bool parse_labels(parser *ps, const char *s, const char *end, const char **endp, bool *le)
{
    *le = false;
    while (s < end && *s != '}') {
        size_t n = scan_name(s, end);
        if (n == 0 || s + n + 1 >= end || s[n] != '=' || s[n + 1] != '"')
            return bad(ps, "bad label name");
        if (n == 2 && memcmp(s, "le", 2) == 0)
            *le = true;
        const char *v = s + n + 2, *p = v;
        while (p < end && *p != '"') {
            if (*p == '\\') {
                if (p + 1 == end || (p[1] != '\\' && p[1] != '"' && p[1] != 'n'))
                    return bad(ps, "bad escape in label value");
                p++;
            }
            p++;
        }
        if (p == end)
            return bad(ps, "unterminated label value");
        if (!utf8_ok((const unsigned char *)v, (size_t)(p - v)))
            return bad(ps, "label value is not UTF-8");
        s = p + 1;
        if (s < end && *s == ',')
            s++;
    }
    if (s == end)
        return bad(ps, "unterminated label set");
    *endp = s;
    return true;
}

static bool parse_value(parser *ps, const char *s, const char *end, double *v)
{
    size_t n = (size_t)(end - s);
    char buf[64];
    if (n == 0 || n >= sizeof buf)
        return bad(ps, "missing value");
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (strcmp(buf, "+Inf") == 0 || strcmp(buf, "-Inf") == 0 || strcmp(buf, "NaN") == 0) {
        *v = strtod(buf, NULL);
        return true;
    }
    char *e;
    *v = strtod(buf, &e);
    if (*e != '\0' || strpbrk(buf, "iInN") != NULL)
        return bad(ps, "value '%s' is not a float", buf);
    return true;
}

static bool parse_sample(parser *ps, const char *s, const char *end, prom_page *out)
{
    size_t n = scan_name(s, end);
    if (n == 0)
        return bad(ps, "sample without a metric name");
    const char *suffix;
    family *f = family_of_sample(ps, s, n, &suffix);
    if (f == NULL || !f->typed)
        return bad(ps, "sample %.*s before its TYPE", (int)n, s);
    const char *p = s + n, *lstart = p, *lend = p;
    bool le = false;
    if (p < end && *p == '{') {
        lstart = p + 1;
        if (!parse_labels(ps, lstart, end, &lend, &le))
            return false;
        p = lend + 1;
    }
    if (strcmp(f->type, "histogram") == 0) {
        if (*suffix == '\0')
            return bad(ps, "histogram sample without _bucket/_sum/_count");
        if ((strcmp(suffix, "_bucket") == 0) != le)
            return bad(ps, "le label on the wrong histogram sample");
    }
    if (p == end || *p != ' ')
        return bad(ps, "no space before the value");
    double v = 0;
    if (!parse_value(ps, p + 1, end, &v))
        return false;
    out->samples = xrealloc(out->samples, (out->n + 1) * sizeof *out->samples);
    out->samples[out->n++] = (prom_sample){
        .name = xstrndup(s, n),
        .labels = xstrndup(lstart, (size_t)(lend - lstart)),
        .value = v,
    };
    return true;
}

bool prom_parse(const char *text, size_t len, prom_page *out, char *err, size_t errlen)
{
    parser ps = {.err = err, .errlen = errlen};
    memset(out, 0, sizeof *out);
    const char *s = text, *stop = text + len;
    while (s < stop) {
        ps.line++;
        const char *end = memchr(s, '\n', (size_t)(stop - s));
        if (end == NULL)
            return bad(&ps, "last line does not end in \\n");
        if (memchr(s, '\0', (size_t)(end - s)) != NULL)
            return bad(&ps, "NUL byte");
        bool ok =
            end == s || (*s == '#' ? parse_comment(&ps, s, end) : parse_sample(&ps, s, end, out));
        if (!ok)
            return false;
        s = end + 1;
    }
    for (size_t i = 0; i < ps.nfam; i++)
        if (!ps.fam[i].help || !ps.fam[i].typed)
            return bad(&ps, "family %s lacks HELP or TYPE", ps.fam[i].name);
    return true;
}

bool prom_get(const prom_page *p, const char *name, const char *labels, double *value)
{
    for (size_t i = 0; i < p->n; i++) {
        if (strcmp(p->samples[i].name, name) == 0 && strcmp(p->samples[i].labels, labels) == 0) {
            *value = p->samples[i].value;
            return true;
        }
    }
    return false;
}

size_t prom_count(const prom_page *p, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < p->n; i++)
        n += strcmp(p->samples[i].name, name) == 0;
    return n;
}

void prom_page_free(prom_page *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->samples[i].name);
        free(p->samples[i].labels);
    }
    free(p->samples);
    memset(p, 0, sizeof *p);
}
