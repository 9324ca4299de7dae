/* pattern.c — ECMA-262 patterns on PCRE2 with a bounded cost (see pattern.h): a cache of
 * compiled patterns (hash table + LRU list, bounded in bytes, reference-counted so that an
 * entry evicted while a worker matches with it lives until that match ends), and the matching
 * budget enforced from an automatic callout. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "pattern.h"
#include "base/xmalloc.h"

#include <pcre2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BUCKETS 4096u /* power of two */
/* The CPU clock is a system call: read it every this many callouts only. Between two callouts
 * the matcher does at most one item's work (a scan of the subject), so the overrun is small. */
#define CLOCK_EVERY 256u

typedef struct entry {
    char *text;
    size_t len;
    uint64_t hash;
    pcre2_code *code; /* NULL: refused, and why says why (kept so it is not recompiled) */
    char *why;
    size_t bytes;       /* charged to the cache: compiled + JIT code + this entry */
    unsigned refs;      /* the table's reference (while cached) + one per search using it */
    bool cached;        /* in the table and the LRU list */
    struct entry *next; /* bucket chain */
    struct entry *newer, *older;
} entry;

struct pattern_cache {
    pattern_limits limits;
    pthread_mutex_t mu;
    entry *buckets[BUCKETS];
    entry *newest, *oldest;
    size_t bytes, entries;
    uint64_t compiles;
};

struct pattern_run {
    pattern_cache *cache;
    uint64_t steps;
    uint64_t step_limit;
    int64_t cpu_deadline_ns;
    unsigned calls;
    size_t last_pos;   /* subject offset at the previous step */
    size_t last_start; /* where the current match attempt started */
    bool spent;
    pcre2_match_context *mctx;
    pcre2_match_data *md;
    pcre2_jit_stack *jit;
};

static uint64_t fnv1a(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* --- compiling --- */

/* Refuses what is PCRE2's and not ECMA-262 and would let a pattern change how it is run:
 * start-of-pattern options and backtracking verbs `(*…)` (e.g. (*NO_JIT), (*LIMIT_HEAP=…)) and
 * callouts `(?C…)`. Escapes and character classes are skipped (a `(` in them is literal). */
static bool refused_construct(const char *t, size_t n, char *why, size_t whylen)
{
    bool in_class = false;
    for (size_t i = 0; i < n; i++) {
        if (t[i] == '\\') {
            i++;
            continue;
        }
        if (in_class) {
            in_class = t[i] != ']';
            continue;
        }
        if (t[i] == '[') {
            in_class = true;
            if (i + 1 < n && t[i + 1] == '^')
                i++;
            continue;
        }
        if (t[i] != '(' || i + 1 >= n)
            continue;
        if (t[i + 1] == '*') {
            snprintf(why, whylen,
                     "uses (*…) at character %zu: PCRE2 verbs and options are not "
                     "ECMA-262 regular expression syntax",
                     i);
            return true;
        }
        if (t[i + 1] == '?' && i + 2 < n && t[i + 2] == 'C') {
            snprintf(why, whylen,
                     "uses a callout (?C…) at character %zu: not ECMA-262 regular "
                     "expression syntax",
                     i);
            return true;
        }
    }
    return false;
}

static entry *entry_new(const char *text, size_t len, pcre2_code *code, const char *why,
                        size_t code_bytes)
{
    entry *e = xcalloc(1, sizeof *e);
    e->text = xmalloc(len + 1);
    memcpy(e->text, text, len);
    e->text[len] = '\0';
    e->len = len;
    e->hash = fnv1a(text, len);
    e->code = code;
    e->why = why ? xstrdup(why) : NULL;
    e->bytes = code_bytes + sizeof *e + len + 1 + (why ? strlen(why) + 1 : 0);
    return e;
}

/* Compiles text into a new entry (refs 0): compiled, or refused with the reason (a refusal is
 * cached too, so a stored pattern that no longer compiles costs one compilation, not one per
 * value). Text longer than PATTERN_MAX_LENGTH is not compiled nor kept: NULL with why. */
static entry *compile(const char *text, size_t len, char *why, size_t whylen)
{
    if (len > PATTERN_MAX_LENGTH) {
        snprintf(why, whylen, "is longer than %d bytes", PATTERN_MAX_LENGTH);
        return NULL;
    }
    char reason[256];
    if (refused_construct(text, len, reason, sizeof reason))
        return entry_new(text, len, NULL, reason, 0);
    pcre2_compile_context *cc = pcre2_compile_context_create(NULL);
    if (!cc)
        abort();
    pcre2_set_compile_extra_options(cc, PCRE2_EXTRA_ALT_BSUX);
    pcre2_set_newline(cc, PCRE2_NEWLINE_ANY);
    pcre2_set_max_pattern_length(cc, PATTERN_MAX_LENGTH);
    int err;
    PCRE2_SIZE off;
    pcre2_code *code =
        pcre2_compile((PCRE2_SPTR)text, len,
                      PCRE2_UTF | PCRE2_ALT_BSUX | PCRE2_ALLOW_EMPTY_CLASS | PCRE2_DOLLAR_ENDONLY |
                          PCRE2_MATCH_UNSET_BACKREF | PCRE2_NEVER_BACKSLASH_C | PCRE2_AUTO_CALLOUT,
                      &err, &off, cc);
    pcre2_compile_context_free(cc);
    if (!code) {
        PCRE2_UCHAR msg[160];
        if (pcre2_get_error_message(err, msg, sizeof msg) < 0)
            snprintf((char *)msg, sizeof msg, "error %d", err);
        snprintf(reason, sizeof reason, "is not a valid regular expression: %s at character %zu",
                 (const char *)msg, (size_t)off);
        return entry_new(text, len, NULL, reason, 0);
    }
    size_t size = 0, jit_size = 0;
    pcre2_pattern_info(code, PCRE2_INFO_SIZE, &size);
    if (size > PATTERN_MAX_COMPILED) {
        pcre2_code_free(code);
        snprintf(reason, sizeof reason, "is too large once compiled (%zu bytes; the limit is %d)",
                 size, PATTERN_MAX_COMPILED);
        return entry_new(text, len, NULL, reason, 0);
    }
    /* Where the JIT is missing or refuses the pattern, the interpreter runs it: slower, under
     * the same budget. */
    if (pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0)
        pcre2_pattern_info(code, PCRE2_INFO_JITSIZE, &jit_size);
    return entry_new(text, len, code, NULL, size + jit_size);
}

static void entry_free(entry *e)
{
    pcre2_code_free(e->code);
    free(e->why);
    free(e->text);
    free(e);
}

/* --- the cache (callers hold mu) --- */

static void lru_unlink(pattern_cache *c, entry *e)
{
    if (e->newer)
        e->newer->older = e->older;
    else
        c->newest = e->older;
    if (e->older)
        e->older->newer = e->newer;
    else
        c->oldest = e->newer;
    e->newer = e->older = NULL;
}

static void lru_push(pattern_cache *c, entry *e)
{
    e->older = c->newest;
    e->newer = NULL;
    if (c->newest)
        c->newest->newer = e;
    c->newest = e;
    if (!c->oldest)
        c->oldest = e;
}

/* Drops the table's reference; returns the entry if nobody else holds it (caller frees it
 * outside the lock), else NULL. */
static entry *evict(pattern_cache *c, entry *e)
{
    entry **p = &c->buckets[e->hash & (BUCKETS - 1)];
    while (*p != e)
        p = &(*p)->next;
    *p = e->next;
    lru_unlink(c, e);
    e->cached = false;
    c->bytes -= e->bytes;
    c->entries--;
    return --e->refs == 0 ? e : NULL;
}

static entry *lookup(pattern_cache *c, const char *text, size_t len, uint64_t h)
{
    for (entry *e = c->buckets[h & (BUCKETS - 1)]; e; e = e->next)
        if (e->hash == h && e->len == len && memcmp(e->text, text, len) == 0)
            return e;
    return NULL;
}

/* A reference to the text's entry (release with release()) — compiled, or refused with its
 * reason — or NULL with why when the text is too long to be compiled at all. */
static entry *acquire(pattern_cache *c, const char *text, size_t len, char *why, size_t whylen)
{
    uint64_t h = fnv1a(text, len);
    pthread_mutex_lock(&c->mu);
    entry *e = lookup(c, text, len, h);
    if (e) {
        e->refs++;
        lru_unlink(c, e);
        lru_push(c, e);
        pthread_mutex_unlock(&c->mu);
        return e;
    }
    pthread_mutex_unlock(&c->mu);

    /* Compiled outside the lock (up to a few ms for the largest patterns); two workers missing
     * on the same text at once both compile, and the second keeps the first's. */
    entry *fresh = compile(text, len, why, whylen);
    if (!fresh)
        return NULL;
    entry *victims = NULL;
    pthread_mutex_lock(&c->mu);
    c->compiles++;
    e = lookup(c, text, len, h);
    if (e) {
        e->refs++;
    } else if (fresh->bytes > (size_t)c->limits.cache_bytes) {
        e = fresh; /* larger than the whole cache: used once, never kept */
        fresh = NULL;
        e->refs = 1;
    } else {
        e = fresh;
        fresh = NULL;
        e->refs = 2; /* the table's and the caller's */
        e->cached = true;
        e->next = c->buckets[h & (BUCKETS - 1)];
        c->buckets[h & (BUCKETS - 1)] = e;
        lru_push(c, e);
        c->bytes += e->bytes;
        c->entries++;
        while (c->bytes > (size_t)c->limits.cache_bytes && c->oldest != e) {
            entry *gone = evict(c, c->oldest);
            if (gone) {
                gone->next = victims;
                victims = gone;
            }
        }
    }
    pthread_mutex_unlock(&c->mu);
    if (fresh)
        entry_free(fresh);
    while (victims) {
        entry *next = victims->next;
        entry_free(victims);
        victims = next;
    }
    return e;
}

static void release(pattern_cache *c, entry *e)
{
    pthread_mutex_lock(&c->mu);
    bool last = --e->refs == 0;
    pthread_mutex_unlock(&c->mu);
    if (last)
        entry_free(e);
}

pattern_cache *pattern_cache_new(const pattern_limits *limits)
{
    pattern_cache *c = xcalloc(1, sizeof *c);
    c->limits = *limits;
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

void pattern_cache_free(pattern_cache *c)
{
    if (!c)
        return;
    while (c->oldest) {
        entry *gone = evict(c, c->oldest);
        if (gone)
            entry_free(gone);
    }
    pthread_mutex_destroy(&c->mu);
    free(c);
}

pattern_stats pattern_cache_stats(pattern_cache *c)
{
    pthread_mutex_lock(&c->mu);
    pattern_stats s = {c->entries, c->bytes, c->compiles};
    pthread_mutex_unlock(&c->mu);
    return s;
}

bool pattern_check(pattern_cache *c, const char *text, size_t len, char *why, size_t whylen)
{
    entry *e = acquire(c, text, len, why, whylen);
    if (!e)
        return false;
    bool ok = e->code != NULL;
    if (!ok)
        snprintf(why, whylen, "%s", e->why);
    release(c, e);
    return ok;
}

/* --- matching --- */

static int64_t cpu_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Runs before every pattern item (PCRE2_AUTO_CALLOUT). A step costs 1 plus the characters the
 * matcher moved since the previous one (a greedy item's scan, a back-reference's compare), so a
 * quadratic rescan of the subject is charged as such; the first step of a new starting position
 * (bumpalong) costs 1. The attempt is told by start_match: the JIT does not set
 * PCRE2_CALLOUT_STARTMATCH. Returning a negative value abandons the match with that value. */
static int on_step(pcre2_callout_block *cb, void *ud)
{
    pattern_run *r = ud;
    size_t pos = cb->current_position;
    uint64_t cost = 1;
    if (cb->start_match != r->last_start)
        r->last_start = cb->start_match;
    else
        cost += pos > r->last_pos ? pos - r->last_pos : r->last_pos - pos;
    r->last_pos = pos;
    r->steps += cost;
    if (r->steps > r->step_limit ||
        (++r->calls % CLOCK_EVERY == 0 && cpu_now_ns() > r->cpu_deadline_ns)) {
        r->spent = true;
        return PCRE2_ERROR_CALLOUT;
    }
    return 0;
}

pattern_run *pattern_run_new(pattern_cache *c)
{
    pattern_run *r = xcalloc(1, sizeof *r);
    r->cache = c;
    r->step_limit = (uint64_t)c->limits.steps;
    r->cpu_deadline_ns = cpu_now_ns() + c->limits.cpu_ms * 1000000;
    return r;
}

void pattern_run_free(pattern_run *r)
{
    if (!r)
        return;
    pcre2_match_data_free(r->md);
    pcre2_jit_stack_free(r->jit);
    pcre2_match_context_free(r->mctx);
    free(r);
}

pattern_cache *pattern_run_cache(const pattern_run *r)
{
    return r->cache;
}

uint64_t pattern_run_steps(const pattern_run *r)
{
    return r->steps;
}

/* The match context, data and JIT stack, made on the run's first search. */
static void run_scratch(pattern_run *r)
{
    if (r->mctx)
        return;
    r->mctx = pcre2_match_context_create(NULL);
    r->md = pcre2_match_data_create(1, NULL);
    r->jit = pcre2_jit_stack_create(32 * 1024, PATTERN_JIT_STACK_MAX, NULL);
    if (!r->mctx || !r->md || !r->jit)
        abort();
    pcre2_set_callout(r->mctx, on_step, r);
    pcre2_set_heap_limit(r->mctx, PATTERN_HEAP_LIMIT_KIB);
    /* per starting position in PCRE2; our budget is the real bound, this only repeats it */
    pcre2_set_match_limit(r->mctx,
                          r->step_limit > UINT32_MAX ? UINT32_MAX : (uint32_t)r->step_limit);
    pcre2_jit_stack_assign(r->mctx, NULL, r->jit);
}

pattern_result pattern_search(pattern_run *r, const char *text, size_t plen, const char *subject,
                              size_t n)
{
    if (r->spent)
        return PATTERN_BUDGET;
    char why[64];
    entry *e = acquire(r->cache, text, plen, why, sizeof why);
    if (!e)
        return PATTERN_INVALID;
    if (!e->code) {
        release(r->cache, e);
        return PATTERN_INVALID;
    }
    run_scratch(r);
    r->last_pos = 0;
    r->last_start = SIZE_MAX;
    /* subjects are jansson strings: valid UTF-8 already */
    int rc = pcre2_match(e->code, (PCRE2_SPTR)subject, n, 0, PCRE2_NO_UTF_CHECK, r->md, r->mctx);
    release(r->cache, e);
    if (rc >= 0)
        return PATTERN_MATCH;
    switch (rc) {
    case PCRE2_ERROR_NOMATCH:
        return PATTERN_NO_MATCH;
    case PCRE2_ERROR_CALLOUT:
    case PCRE2_ERROR_MATCHLIMIT:
        r->spent = true;
        return PATTERN_BUDGET;
    case PCRE2_ERROR_HEAPLIMIT:
    case PCRE2_ERROR_DEPTHLIMIT:
    case PCRE2_ERROR_JIT_STACKLIMIT:
    case PCRE2_ERROR_NOMEMORY:
        return PATTERN_MEMORY;
    default:
        return PATTERN_INVALID;
    }
}
