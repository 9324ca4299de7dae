/* metrics.c — the RPC metrics registry: per-method atomic counters and histograms, written by
 * the dispatcher without locks, read by the Prometheus text renderer. */
#include "metrics.h"
#include "base/strbuf.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/status.h"
#include "base/xmalloc.h"

/* Histogram upper bounds: the one list of buckets, with the `le` text each renders as. */
static const struct {
    int64_t ns;
    const char *le;
} bounds[] = {
    {50000, "5e-05"},    {100000, "0.0001"},  {250000, "0.00025"}, {500000, "0.0005"},
    {1000000, "0.001"},  {2500000, "0.0025"}, {5000000, "0.005"},  {10000000, "0.01"},
    {25000000, "0.025"}, {50000000, "0.05"},  {100000000, "0.1"},  {250000000, "0.25"},
    {500000000, "0.5"},  {1000000000, "1"},   {2500000000, "2.5"}, {5000000000, "5"},
    {10000000000, "10"},
};
#define NBOUNDS (sizeof bounds / sizeof bounds[0])

struct metrics_method {
    _Atomic(metrics_method *) next; /* registration order; published with release */
    char *name;                     /* as registered */
    char *label;                    /* escaped for a label value */
    _Atomic uint64_t codes[CF_CODE_COUNT];
    /* Per-bucket counts, not cumulative; [NBOUNDS] is +Inf. The renderer derives _count from
     * them, so +Inf always equals _count even while observations land. */
    _Atomic uint64_t buckets[NBOUNDS + 1];
    _Atomic uint64_t sum_ns;
};

typedef struct metrics_gauge {
    _Atomic(struct metrics_gauge *) next;
    char *name;
    char *help; /* escaped for a HELP line */
    double (*fn)(void *);
    void *arg;
    char *label; /* "" or `,name="value"` (escaped), appended to the service label */
} metrics_gauge;

struct metrics {
    char *service_label; /* escaped */
    int64_t start_ms;
    _Atomic int64_t inflight;
    _Atomic(metrics_method *) methods;
    metrics_method *methods_tail; /* registration side only */
    size_t nmethods;
    metrics_method other;
    _Atomic(metrics_gauge *) gauges;
    metrics_gauge *gauges_tail;
    size_t ngauges;
};

/* Length of the valid UTF-8 sequence at s, or 0 if it is not one (overlong forms, surrogates
 * and code points past U+10FFFF included). Never reads past a NUL. */
static size_t utf8_seq(const unsigned char *s)
{
    unsigned c = s[0];
    size_t n;
    uint32_t cp, min;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2, cp = c & 0x1F, min = 0x80;
    else if ((c & 0xF0) == 0xE0)
        n = 3, cp = c & 0x0F, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 4, cp = c & 0x07, min = 0x10000;
    else
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

/* Escapes s for the exposition format: backslash and newline always, the double quote too in
 * label values (not in HELP text). Invalid UTF-8 becomes U+FFFD, since the format is UTF-8 and
 * a scraper rejects the whole page on one bad byte. */
static char *prom_escape(const char *s, bool quote)
{
    strbuf b = {0};
    strbuf_reserve(&b, strlen(s));
    const unsigned char *p = (const unsigned char *)s;
    while (*p != '\0') {
        size_t n = utf8_seq(p);
        if (n == 0) {
            strbuf_puts(&b, "\xEF\xBF\xBD");
            p++;
        } else if (*p == '\\') {
            strbuf_puts(&b, "\\\\");
            p++;
        } else if (*p == '\n') {
            strbuf_puts(&b, "\\n");
            p++;
        } else if (*p == '"' && quote) {
            strbuf_puts(&b, "\\\"");
            p++;
        } else {
            strbuf_putn(&b, (const char *)p, n);
            p += n;
        }
    }
    return b.p;
}

static void method_init(metrics_method *mm, const char *name)
{
    memset(mm, 0, sizeof *mm);
    mm->name = xstrdup(name);
    mm->label = prom_escape(name, true);
}

metrics *metrics_new(const char *service)
{
    metrics *m = xcalloc(1, sizeof *m);
    m->service_label = prom_escape(service, true);
    m->start_ms = cf_wall_ms();
    method_init(&m->other, "other");
    return m;
}

void metrics_free(metrics *m)
{
    if (m == NULL)
        return;
    metrics_method *mm = atomic_load(&m->methods);
    while (mm != NULL) {
        metrics_method *next = atomic_load(&mm->next);
        free(mm->name);
        free(mm->label);
        free(mm);
        mm = next;
    }
    metrics_gauge *g = atomic_load(&m->gauges);
    while (g != NULL) {
        metrics_gauge *next = atomic_load(&g->next);
        free(g->name);
        free(g->help);
        free(g->label);
        free(g);
        g = next;
    }
    free(m->other.name);
    free(m->other.label);
    free(m->service_label);
    free(m);
}

metrics_method *metrics_method_get(metrics *m, const char *full_method)
{
    if (strcmp(full_method, m->other.name) == 0)
        return &m->other;
    for (metrics_method *mm = atomic_load(&m->methods); mm != NULL; mm = atomic_load(&mm->next))
        if (strcmp(mm->name, full_method) == 0)
            return mm;
    if (m->nmethods >= METRICS_MAX_METHODS) {
        log_warn("metrics: more than %d methods, \"%s\" counted as other", METRICS_MAX_METHODS,
                 full_method);
        return &m->other;
    }
    metrics_method *mm = xmalloc(sizeof *mm);
    method_init(mm, full_method);
    /* Release: a renderer that sees the pointer sees the initialised slot. */
    if (m->methods_tail == NULL)
        atomic_store_explicit(&m->methods, mm, memory_order_release);
    else
        atomic_store_explicit(&m->methods_tail->next, mm, memory_order_release);
    m->methods_tail = mm;
    m->nmethods++;
    return mm;
}

metrics_method *metrics_other(metrics *m)
{
    return &m->other;
}

void metrics_observe(metrics_method *mm, int code, int64_t latency_ns)
{
    if (latency_ns < 0)
        latency_ns = 0;
    size_t i = 0;
    while (i < NBOUNDS && latency_ns > bounds[i].ns)
        i++;
    atomic_fetch_add_explicit(&mm->codes[cf_code_from_int(code)], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&mm->buckets[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&mm->sum_ns, (uint64_t)latency_ns, memory_order_relaxed);
}

void metrics_inflight_add(metrics *m, int delta)
{
    atomic_fetch_add_explicit(&m->inflight, delta, memory_order_relaxed);
}

__attribute__((unused)) static bool metric_name_valid(const char *s)
{
    if (*s == '\0')
        return false;
    for (size_t i = 0; s[i] != '\0'; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
                  (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

void metrics_gauge_fn(metrics *m, const char *name, const char *help, double (*fn)(void *),
                      void *arg)
{
    metrics_gauge_fn_labeled(m, name, NULL, NULL, help, fn, arg);
}

void metrics_gauge_fn_labeled(metrics *m, const char *name, const char *label, const char *value,
                              const char *help, double (*fn)(void *), void *arg)
{
    assert(metric_name_valid(name) && fn != NULL);
    assert(label == NULL || (metric_name_valid(label) && value != NULL));
    if (m->ngauges >= METRICS_MAX_GAUGES) {
        log_warn("metrics: more than %d gauges, %s ignored", METRICS_MAX_GAUGES, name);
        return;
    }
    metrics_gauge *g = xcalloc(1, sizeof *g);
    g->name = xstrdup(name);
    g->help = prom_escape(help != NULL ? help : "", false);
    if (label) {
        char *v = prom_escape(value, true);
        g->label = xasprintf(",%s=\"%s\"", label, v);
        free(v);
    } else {
        g->label = xstrdup("");
    }
    g->fn = fn;
    g->arg = arg;
    if (m->gauges_tail == NULL)
        atomic_store_explicit(&m->gauges, g, memory_order_release);
    else
        atomic_store_explicit(&m->gauges_tail->next, g, memory_order_release);
    m->gauges_tail = g;
    m->ngauges++;
}

static void render_family(strbuf *b, const char *name, const char *type, const char *help)
{
    strbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void render_double(strbuf *b, double v)
{
    if (isnan(v))
        strbuf_puts(b, "NaN");
    else if (isinf(v))
        strbuf_puts(b, v > 0 ? "+Inf" : "-Inf");
    else
        strbuf_printf(b, "%.17g", v);
}

/* Method slots in render order: the registered ones, then "other". */
static metrics_method *method_first(metrics *m)
{
    metrics_method *mm = atomic_load_explicit(&m->methods, memory_order_acquire);
    return mm != NULL ? mm : &m->other;
}

static metrics_method *method_next(metrics *m, metrics_method *mm)
{
    if (mm == &m->other)
        return NULL;
    metrics_method *next = atomic_load_explicit(&mm->next, memory_order_acquire);
    return next != NULL ? next : &m->other;
}

static void render_requests(strbuf *b, metrics *m)
{
    render_family(b, "confetti_rpc_requests_total", "counter",
                  "RPCs finished, by method and status code.");
    for (metrics_method *mm = method_first(m); mm != NULL; mm = method_next(m, mm)) {
        for (int c = 0; c < CF_CODE_COUNT; c++) {
            uint64_t v = atomic_load_explicit(&mm->codes[c], memory_order_relaxed);
            if (v == 0)
                continue;
            strbuf_printf(b,
                          "confetti_rpc_requests_total{service=\"%s\",method=\"%s\",code=\"%s\"} "
                          "%" PRIu64 "\n",
                          m->service_label, mm->label, cf_code_name(c), v);
        }
    }
}

static void render_durations(strbuf *b, metrics *m)
{
    static const char name[] = "confetti_rpc_request_duration_seconds";
    render_family(b, name, "histogram", "Time to handle an RPC, in seconds.");
    for (metrics_method *mm = method_first(m); mm != NULL; mm = method_next(m, mm)) {
        uint64_t cum = 0;
        for (size_t i = 0; i <= NBOUNDS; i++) {
            cum += atomic_load_explicit(&mm->buckets[i], memory_order_relaxed);
            strbuf_printf(b, "%s_bucket{service=\"%s\",method=\"%s\",le=\"%s\"} %" PRIu64 "\n",
                          name, m->service_label, mm->label, i < NBOUNDS ? bounds[i].le : "+Inf",
                          cum);
        }
        uint64_t sum = atomic_load_explicit(&mm->sum_ns, memory_order_relaxed);
        /* Integer arithmetic keeps the sum exact at any magnitude. */
        strbuf_printf(b, "%s_sum{service=\"%s\",method=\"%s\"} %" PRIu64 ".%09" PRIu64 "\n", name,
                      m->service_label, mm->label, sum / 1000000000u, sum % 1000000000u);
        strbuf_printf(b, "%s_count{service=\"%s\",method=\"%s\"} %" PRIu64 "\n", name,
                      m->service_label, mm->label, cum);
    }
}

char *metrics_render(metrics *m, size_t *len_out)
{
    strbuf b = {0};
    strbuf_reserve(&b, 8192);
    render_requests(&b, m);
    render_durations(&b, m);

    render_family(&b, "confetti_rpc_inflight", "gauge", "RPCs being handled now.");
    strbuf_printf(&b, "confetti_rpc_inflight{service=\"%s\"} %" PRId64 "\n", m->service_label,
                  atomic_load_explicit(&m->inflight, memory_order_relaxed));

    render_family(&b, "confetti_process_start_time_seconds", "gauge",
                  "Start time of the process since the Unix epoch, in seconds.");
    strbuf_printf(&b,
                  "confetti_process_start_time_seconds{service=\"%s\"} %" PRId64 ".%03" PRId64 "\n",
                  m->service_label, m->start_ms / 1000, m->start_ms % 1000);

    const char *family = NULL; /* series of one name are registered together: one HELP */
    for (metrics_gauge *g = atomic_load_explicit(&m->gauges, memory_order_acquire); g != NULL;
         g = atomic_load_explicit(&g->next, memory_order_acquire)) {
        size_t nl = strlen(g->name); /* Prometheus: the _total suffix is a counter's */
        bool counter = nl > 6 && strcmp(g->name + nl - 6, "_total") == 0;
        if (!family || strcmp(family, g->name) != 0)
            render_family(&b, g->name, counter ? "counter" : "gauge", g->help);
        family = g->name;
        strbuf_printf(&b, "%s{service=\"%s\"%s} ", g->name, m->service_label, g->label);
        render_double(&b, g->fn(g->arg));
        strbuf_puts(&b, "\n");
    }
    if (len_out != NULL)
        *len_out = b.len;
    return b.p;
}
