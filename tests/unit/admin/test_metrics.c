/* test_metrics.c — the metrics registry: exact concurrent counts, histogram consistency, label
 * escaping, the bounded "other" slot, and a render a Prometheus scraper accepts. */
#include "th.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/metrics.h"
#include "promtext.h"

/* Renders m and parses it strictly; fails the test on any malformed line. */
static void render_parse(metrics *m, prom_page *page)
{
    size_t len;
    char *text = metrics_render(m, &len);
    assert_int_equal(strlen(text), len);
    char err[256];
    if (!prom_parse(text, len, page, err, sizeof err))
        fail_msg("render does not parse: %s\n%s", err, text);
    free(text);
}

static double get(const prom_page *p, const char *name, const char *labels)
{
    double v;
    if (!prom_get(p, name, labels, &v))
        fail_msg("no sample %s{%s}", name, labels);
    return v;
}

#define THREADS 8
#define CALLS   100000

typedef struct worker {
    metrics_method *mm;
    int id;
} worker;

/* Thread id t makes call i with code (t + i) % 17 and latency i µs. */
static void *observe_worker(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < CALLS; i++)
        metrics_observe(w->mm, (w->id + i) % CF_CODE_COUNT, (int64_t)i * 1000);
    return NULL;
}

static void test_observe_from_8_threads_counts_every_call(void **state)
{
    (void)state;
    metrics *m = metrics_new("rooms");
    metrics_method *mm = metrics_method_get(m, "rooms.v1.Rooms/GetRoom");
    pthread_t th[THREADS];
    worker w[THREADS];
    for (int t = 0; t < THREADS; t++) {
        w[t] = (worker){mm, t};
        assert_int_equal(pthread_create(&th[t], NULL, observe_worker, &w[t]), 0);
    }
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);

    uint64_t want[CF_CODE_COUNT] = {0};
    for (int t = 0; t < THREADS; t++)
        for (int i = 0; i < CALLS; i++)
            want[(t + i) % CF_CODE_COUNT]++;

    prom_page p;
    render_parse(m, &p);
    double total = 0;
    for (int c = 0; c < CF_CODE_COUNT; c++) {
        char labels[160];
        snprintf(labels, sizeof labels,
                 "service=\"rooms\",method=\"rooms.v1.Rooms/GetRoom\",code=\"%s\"",
                 cf_code_name(c));
        double v = get(&p, "confetti_rpc_requests_total", labels);
        assert_true(v == (double)want[c]);
        total += v;
    }
    assert_true(total == THREADS * CALLS);
    const char *ml = "service=\"rooms\",method=\"rooms.v1.Rooms/GetRoom\"";
    assert_true(get(&p, "confetti_rpc_request_duration_seconds_count", ml) == THREADS * CALLS);
    /* sum of i µs for i < CALLS, per thread: exact in the rendered decimal */
    double want_sum = THREADS * ((double)CALLS * (CALLS - 1) / 2) * 1e-6;
    assert_true(fabs(get(&p, "confetti_rpc_request_duration_seconds_sum", ml) - want_sum) < 1e-6);
    prom_page_free(&p);
    metrics_free(m);
}

/* Each latency lands in the first bucket whose bound it does not exceed (le is inclusive). */
static const struct {
    int64_t ns;
    const char *first_le;
} latencies[] = {
    {-5, "5e-05"},       {0, "5e-05"},        {50000, "5e-05"},      {50001, "0.0001"},
    {999999, "0.001"},   {1000000, "0.001"},  {7000000, "0.01"},     {100000000, "0.1"},
    {2500000000, "2.5"}, {10000000000, "10"}, {10000000001, "+Inf"}, {3600000000000, "+Inf"},
};
#define NLAT (sizeof latencies / sizeof latencies[0])

static const char *const les[] = {"5e-05", "0.0001", "0.00025", "0.0005", "0.001", "0.0025",
                                  "0.005", "0.01",   "0.025",   "0.05",   "0.1",   "0.25",
                                  "0.5",   "1",      "2.5",     "5",      "10",    "+Inf"};
#define NLES (sizeof les / sizeof les[0])

static void test_histogram_buckets_cumulative_and_consistent(void **state)
{
    (void)state;
    metrics *m = metrics_new("draw");
    metrics_method *mm = metrics_method_get(m, "draw.v1.Draw/DrawWinners");
    int64_t sum_ns = 0;
    for (size_t i = 0; i < NLAT; i++) {
        metrics_observe(mm, CF_OK, latencies[i].ns);
        sum_ns += latencies[i].ns > 0 ? latencies[i].ns : 0;
    }
    prom_page p;
    render_parse(m, &p);
    assert_int_equal(prom_count(&p, "confetti_rpc_request_duration_seconds_bucket"),
                     2 * NLES); /* this method and "other" */

    double prev = 0;
    for (size_t b = 0; b < NLES; b++) {
        /* expected: observations whose first bucket is at or below this one */
        size_t want = 0;
        for (size_t i = 0; i < NLAT; i++)
            for (size_t k = 0; k <= b; k++)
                want += strcmp(latencies[i].first_le, les[k]) == 0;
        char labels[160];
        snprintf(labels, sizeof labels,
                 "service=\"draw\",method=\"draw.v1.Draw/DrawWinners\",le=\"%s\"", les[b]);
        double v = get(&p, "confetti_rpc_request_duration_seconds_bucket", labels);
        if (v != (double)want)
            fail_msg("bucket le=%s: %g, want %zu", les[b], v, want);
        assert_true(v >= prev);
        prev = v;
    }
    const char *ml = "service=\"draw\",method=\"draw.v1.Draw/DrawWinners\"";
    double count = get(&p, "confetti_rpc_request_duration_seconds_count", ml);
    assert_true(count == NLAT);
    assert_true(prev == count); /* +Inf == _count */
    double sum = get(&p, "confetti_rpc_request_duration_seconds_sum", ml);
    assert_true(fabs(sum - (double)sum_ns / 1e9) < 1e-6);
    prom_page_free(&p);
    metrics_free(m);
}

/* Renders while 4 threads observe: every page must keep +Inf == _count and monotonic buckets. */
typedef struct spinner {
    metrics_method *mm;
    volatile int *stop;
} spinner;

static void *spin_observe(void *arg)
{
    spinner *s = arg;
    for (int64_t i = 0; !__atomic_load_n(s->stop, __ATOMIC_RELAXED); i++)
        metrics_observe(s->mm, (int)(i % 3), (i * 7919) % 20000000000);
    return NULL;
}

static void test_histogram_consistent_while_observed(void **state)
{
    (void)state;
    metrics *m = metrics_new("rooms");
    metrics_method *mm = metrics_method_get(m, "rooms.v1.Rooms/ListRooms");
    volatile int stop = 0;
    pthread_t th[4];
    spinner s = {mm, &stop};
    for (int t = 0; t < 4; t++)
        pthread_create(&th[t], NULL, spin_observe, &s);
    for (int round = 0; round < 200; round++) {
        prom_page p;
        render_parse(m, &p);
        double prev = 0;
        for (size_t b = 0; b < NLES; b++) {
            char labels[160];
            snprintf(labels, sizeof labels,
                     "service=\"rooms\",method=\"rooms.v1.Rooms/ListRooms\",le=\"%s\"", les[b]);
            double v = get(&p, "confetti_rpc_request_duration_seconds_bucket", labels);
            assert_true(v >= prev);
            prev = v;
        }
        assert_true(prev == get(&p, "confetti_rpc_request_duration_seconds_count",
                                "service=\"rooms\",method=\"rooms.v1.Rooms/ListRooms\""));
        prom_page_free(&p);
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
    for (int t = 0; t < 4; t++)
        pthread_join(th[t], NULL);
    metrics_free(m);
}

static void test_hostile_method_name_is_escaped(void **state)
{
    (void)state;
    metrics *m = metrics_new("svc\"\\\n");
    /* tries to close the label set, inject a sample, and carries invalid UTF-8 */
    metrics_method *mm = metrics_method_get(m, "a\"} 1\nfake_metric{x=\"y\\\xff\xc0\xaf");
    metrics_observe(mm, CF_NOT_FOUND, 1000);
    size_t len;
    char *text = metrics_render(m, &len);
    assert_non_null(strstr(text, "service=\"svc\\\"\\\\\\n\""));
    assert_non_null(strstr(text, "method=\"a\\\"} 1\\nfake_metric{x=\\\"y\\\\"
                                 "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\""));
    assert_null(strstr(text, "\nfake_metric"));
    free(text);

    prom_page p;
    render_parse(m, &p);
    assert_int_equal(prom_count(&p, "fake_metric"), 0);
    assert_int_equal(prom_count(&p, "confetti_rpc_requests_total"), 1);
    prom_page_free(&p);
    metrics_free(m);
}

static size_t count_lines(metrics *m)
{
    char *text = metrics_render(m, NULL);
    size_t n = 0;
    for (char *s = text; *s; s++)
        n += *s == '\n';
    free(text);
    return n;
}

static void test_unknown_methods_share_one_slot(void **state)
{
    (void)state;
    metrics *m = metrics_new("rooms");
    metrics_method *known = metrics_method_get(m, "rooms.v1.Rooms/GetRoom");
    assert_ptr_equal(metrics_method_get(m, "rooms.v1.Rooms/GetRoom"), known);
    metrics_method *other = metrics_other(m);
    assert_ptr_equal(metrics_other(m), other);
    assert_ptr_not_equal(other, known);

    metrics_observe(other, CF_UNIMPLEMENTED, 10);
    size_t lines = count_lines(m);
    for (int i = 0; i < 100000; i++)
        metrics_observe(metrics_other(m), CF_UNIMPLEMENTED, i);
    assert_int_equal(count_lines(m), lines);

    prom_page p;
    render_parse(m, &p);
    assert_true(get(&p, "confetti_rpc_requests_total",
                    "service=\"rooms\",method=\"other\",code=\"UNIMPLEMENTED\"") == 100001);
    prom_page_free(&p);
    metrics_free(m);
}

static void test_registry_is_bounded(void **state)
{
    (void)state;
    metrics *m = metrics_new("rooms");
    char name[64];
    for (int i = 0; i < METRICS_MAX_METHODS; i++) {
        snprintf(name, sizeof name, "x.v1.X/M%d", i);
        assert_ptr_not_equal(metrics_method_get(m, name), metrics_other(m));
    }
    size_t lines = count_lines(m);
    for (int i = 0; i < 50; i++) {
        snprintf(name, sizeof name, "x.v1.X/Extra%d", i);
        assert_ptr_equal(metrics_method_get(m, name), metrics_other(m));
    }
    assert_int_equal(count_lines(m), lines);
    snprintf(name, sizeof name, "x.v1.X/M%d", 7);
    assert_ptr_not_equal(metrics_method_get(m, name), metrics_other(m));
    metrics_free(m);
}

static void test_code_outside_vocabulary_counts_as_unknown(void **state)
{
    (void)state;
    metrics *m = metrics_new("rooms");
    metrics_method *mm = metrics_method_get(m, "a.v1.A/B");
    metrics_observe(mm, -1, 1);
    metrics_observe(mm, 17, 1);
    metrics_observe(mm, 1000000, 1);
    prom_page p;
    render_parse(m, &p);
    assert_true(get(&p, "confetti_rpc_requests_total",
                    "service=\"rooms\",method=\"a.v1.A/B\",code=\"UNKNOWN\"") == 3);
    prom_page_free(&p);
    metrics_free(m);
}

static double gauge_value(void *arg)
{
    return *(double *)arg;
}

static void test_render_is_prometheus_text(void **state)
{
    (void)state;
    metrics *m = metrics_new("auth");
    metrics_method *a = metrics_method_get(m, "auth.v1.Auth/GetMe");
    metrics_method_get(m, "auth.v1.Auth/Logout"); /* registered, never called */
    metrics_observe(a, CF_OK, 120000);
    metrics_observe(a, CF_NOT_FOUND, 80000);
    metrics_inflight_add(m, 3);
    metrics_inflight_add(m, -1);
    double up = 1, nan = NAN, inf = INFINITY;
    metrics_gauge_fn(m, "confetti_db_pool_up", "Database pool can serve.\nSecond line \\",
                     gauge_value, &up);
    metrics_gauge_fn(m, "confetti_test_nan", "A NaN.", gauge_value, &nan);
    metrics_gauge_fn(m, "confetti_test_inf", "An infinity.", gauge_value, &inf);
    metrics_gauge_fn(m, "confetti_test_things_total", "Things so far.", gauge_value, &up);

    prom_page p;
    render_parse(m, &p);
    assert_true(get(&p, "confetti_rpc_requests_total",
                    "service=\"auth\",method=\"auth.v1.Auth/GetMe\",code=\"OK\"") == 1);
    assert_true(get(&p, "confetti_rpc_requests_total",
                    "service=\"auth\",method=\"auth.v1.Auth/GetMe\",code=\"NOT_FOUND\"") == 1);
    /* only non-zero request series */
    assert_int_equal(prom_count(&p, "confetti_rpc_requests_total"), 2);
    /* every registered method has its histogram, plus "other" */
    assert_int_equal(prom_count(&p, "confetti_rpc_request_duration_seconds_count"), 3);
    assert_true(get(&p, "confetti_rpc_request_duration_seconds_count",
                    "service=\"auth\",method=\"auth.v1.Auth/Logout\"") == 0);
    assert_true(get(&p, "confetti_rpc_inflight", "service=\"auth\"") == 2);
    double start = get(&p, "confetti_process_start_time_seconds", "service=\"auth\"");
    assert_true(start > 1.6e9 && start < 4.2e9);
    assert_true(get(&p, "confetti_db_pool_up", "service=\"auth\"") == 1);
    assert_true(isnan(get(&p, "confetti_test_nan", "service=\"auth\"")));
    assert_true(isinf(get(&p, "confetti_test_inf", "service=\"auth\"")));
    prom_page_free(&p);

    char *text = metrics_render(m, NULL);
    assert_non_null(strstr(text, "# TYPE confetti_rpc_requests_total counter\n"));
    assert_non_null(strstr(text, "# TYPE confetti_test_things_total counter\n"));
    assert_non_null(strstr(text, "# TYPE confetti_db_pool_up gauge\n"));
    assert_non_null(strstr(text, "# TYPE confetti_rpc_request_duration_seconds histogram\n"));
    assert_non_null(strstr(text, "# TYPE confetti_rpc_inflight gauge\n"));
    assert_non_null(strstr(text, "# HELP confetti_db_pool_up Database pool can serve.\\nSecond "
                                 "line \\\\\n"));
    free(text);
    metrics_free(m);
}

static void test_free_null_is_noop(void **state)
{
    (void)state;
    metrics_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_observe_from_8_threads_counts_every_call),
        cmocka_unit_test(test_histogram_buckets_cumulative_and_consistent),
        cmocka_unit_test(test_histogram_consistent_while_observed),
        cmocka_unit_test(test_hostile_method_name_is_escaped),
        cmocka_unit_test(test_unknown_methods_share_one_slot),
        cmocka_unit_test(test_registry_is_bounded),
        cmocka_unit_test(test_code_outside_vocabulary_counts_as_unknown),
        cmocka_unit_test(test_render_is_prometheus_text),
        cmocka_unit_test(test_free_null_is_noop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
