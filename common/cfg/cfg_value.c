/* cfg_value.c — the typed half of cfg: text to int/bool/duration/size/enum/list in a target
 * slot, bounds and choices, formatting back, and freeing. */
#include "cfg_value.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/xmalloc.h"

typedef struct unit {
    const char *name;
    int64_t scale;
} unit;

/* Largest unit first, so cfgv_format picks the largest exact one. "" is the bare number. */
static const unit duration_units[] = {{"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000},
                                      {"ms", 1},       {"", 1},        {NULL, 0}};
static const unit size_units[] = {{"TiB", 1LL << 40},
                                  {"GiB", 1LL << 30},
                                  {"MiB", 1LL << 20},
                                  {"KiB", 1LL << 10},
                                  {"B", 1},
                                  {"", 1},
                                  {"TB", 1000000000000LL},
                                  {"GB", 1000000000},
                                  {"MB", 1000000},
                                  {"KB", 1000},
                                  {NULL, 0}};

static void *slot(const cfg_field *f, void *target)
{
    return (char *)target + f->offset;
}

/* Digits then a unit from the table; no sign, no spaces, no fractions. */
static bool parse_scaled(const char *s, const unit *units, int64_t *out)
{
    int64_t n = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; p++)
        if (__builtin_mul_overflow(n, 10, &n) || __builtin_add_overflow(n, *p - '0', &n))
            return false;
    if (p == s)
        return false;
    for (const unit *u = units; u->name; u++)
        if (strcmp(p, u->name) == 0)
            return !__builtin_mul_overflow(n, u->scale, out);
    return false;
}

static bool parse_int(const char *s, int64_t *out)
{
    if (!((*s >= '0' && *s <= '9') || *s == '-' || *s == '+'))
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end)
        return false;
    *out = v;
    return true;
}

static bool parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"}, *const no[] = {"false", "no",
                                                                                "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0 || strcasecmp(s, no[i]) == 0) {
            *out = strcasecmp(s, yes[i]) == 0;
            return true;
        }
    }
    return false;
}

char *cfgv_env_name(const char *scope, const char *section, const char *key, const char *suffix)
{
    char *s = xasprintf("CONFETTI_%s%s%s_%s%s", scope ? scope : "", scope ? "__" : "", section, key,
                        suffix);
    for (char *p = s; *p; p++)
        *p = (*p == '.' || *p == '-') ? '_' : (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
    return s;
}

void cfgv_format(cfg_type t, int64_t v, char *buf, size_t len)
{
    const unit *units = t == CFG_DURATION ? duration_units : t == CFG_SIZE ? size_units : NULL;
    for (const unit *u = units; u && u->name && v != 0; u++) {
        if (v % u->scale == 0) {
            snprintf(buf, len, "%" PRId64 "%s", v / u->scale, u->name);
            return;
        }
    }
    snprintf(buf, len, "%" PRId64, v);
}

static bool check_bounds(const cfg_field *f, int64_t v, char *why, size_t whylen)
{
    if ((f->min == 0 && f->max == 0) || (v >= f->min && v <= f->max))
        return true;
    char a[32], b[32], c[32];
    cfgv_format(f->type, v, a, sizeof a);
    cfgv_format(f->type, f->min, b, sizeof b);
    cfgv_format(f->type, f->max, c, sizeof c);
    snprintf(why, whylen, "out of range: %s (allowed %s..%s)", a, b, c);
    return false;
}

static bool check_choice(const cfg_field *f, const char *s, char *why, size_t whylen)
{
    size_t off = (size_t)snprintf(why, whylen, "not one of ");
    for (const char *const *c = f->choices; *c; c++) {
        if (strcmp(*c, s) == 0)
            return true;
        if (off < whylen)
            off +=
                (size_t)snprintf(why + off, whylen - off, "%s%s", c == f->choices ? "" : ", ", *c);
    }
    if (off < whylen)
        snprintf(why + off, whylen - off, ": \"%.64s\"", s);
    return false;
}

void cfgv_list_push(cfg_strlist *l, const char *s, size_t n)
{
    l->items = xrealloc(l->items, (l->n + 1) * sizeof *l->items);
    l->items[l->n++] = xstrndup(s, n);
}

void cfgv_list_free(cfg_strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i]);
    free(l->items);
    *l = (cfg_strlist){0};
}

/* Comma-separated, items trimmed of blanks, empty items dropped ("a, b," = [a, b]). */
static void split_list(const char *s, cfg_strlist *out)
{
    while (*s) {
        size_t n = strcspn(s, ",");
        const char *b = s, *e = s + n;
        while (b < e && (*b == ' ' || *b == '\t'))
            b++;
        while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if (e > b)
            cfgv_list_push(out, b, (size_t)(e - b));
        s += n + (s[n] == ',');
    }
}

bool cfgv_set(const cfg_field *f, void *target, const char *text, char *why, size_t whylen)
{
    void *p = slot(f, target);
    int64_t v = 0;
    bool b;
    switch (f->type) {
    case CFG_ENUM:
        if (!check_choice(f, text, why, whylen))
            return false;
        /* fall through */
    case CFG_STR:
    case CFG_SECRET:
        cfgv_clear(f, target);
        *(char **)p = xstrdup(text);
        return true;
    case CFG_BOOL:
        if (!parse_bool(text, &b)) {
            snprintf(why, whylen, "not a boolean: \"%.64s\" (true/false, yes/no, on/off, 1/0)",
                     text);
            return false;
        }
        *(bool *)p = b;
        return true;
    case CFG_INT:
        if (!parse_int(text, &v)) {
            snprintf(why, whylen, "not an integer: \"%.64s\"", text);
            return false;
        }
        break;
    case CFG_DURATION:
        if (!parse_scaled(text, duration_units, &v)) {
            snprintf(why, whylen, "not a duration: \"%.64s\" (units ms, s, m, h, d)", text);
            return false;
        }
        break;
    case CFG_SIZE:
        if (!parse_scaled(text, size_units, &v)) {
            snprintf(why, whylen,
                     "not a size: \"%.64s\" (units B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)", text);
            return false;
        }
        break;
    case CFG_STRLIST: {
        cfg_strlist l = {0};
        split_list(text, &l);
        cfgv_set_list(f, target, &l);
        return true;
    }
    }
    if (!check_bounds(f, v, why, whylen))
        return false;
    *(int64_t *)p = v;
    return true;
}

void cfgv_set_list(const cfg_field *f, void *target, cfg_strlist *list)
{
    cfg_strlist *l = slot(f, target);
    cfgv_list_free(l);
    *l = *list;
    *list = (cfg_strlist){0};
}

void cfgv_zero(const cfg_field *f, void *target)
{
    void *p = slot(f, target);
    switch (f->type) {
    case CFG_STR:
    case CFG_SECRET:
    case CFG_ENUM:
        *(char **)p = NULL;
        break;
    case CFG_BOOL:
        *(bool *)p = false;
        break;
    case CFG_INT:
    case CFG_DURATION:
    case CFG_SIZE:
        *(int64_t *)p = 0;
        break;
    case CFG_STRLIST:
        *(cfg_strlist *)p = (cfg_strlist){0};
        break;
    }
}

void cfgv_clear(const cfg_field *f, void *target)
{
    void *p = slot(f, target);
    if (f->type == CFG_STRLIST) {
        cfgv_list_free(p);
    } else if (f->type == CFG_STR || f->type == CFG_SECRET || f->type == CFG_ENUM) {
        char **s = p;
        if (*s && f->type == CFG_SECRET)
            explicit_bzero(*s, strlen(*s));
        free(*s);
        *s = NULL;
    }
}

void cfg_free(const cfg_schema *schemas, size_t nschemas)
{
    for (size_t s = 0; s < nschemas; s++)
        for (size_t i = 0; i < schemas[s].nfields; i++)
            cfgv_clear(&schemas[s].fields[i], schemas[s].target);
}
