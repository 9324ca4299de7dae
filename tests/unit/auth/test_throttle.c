/* test_throttle.c — the failed-attempt throttle (services/auth/throttle.h; issue 24 item 2):
 * counted per source and per (source, credential), never per credential alone; a growing
 * delay capped at the window, never permanent; a bounded table that evicts past its bound. */
#include "th.h"
#include "throttle.h"

#include <stdio.h>

static throttle *make(int64_t max, int64_t per_source, int64_t window, size_t entries)
{
    throttle_config c = {.max_failures = max,
                         .max_per_source = per_source,
                         .window_s = window,
                         .max_entries = entries};
    return throttle_new(&c);
}

/* The case: one address floods bad secrets for an app; its owner at another address
 * is never slowed, the flooder waits. */
static void test_flooder_never_locks_out_another_source(void **state)
{
    (void)state;
    throttle *t = make(10, 100, 300, 1024);
    throttle_key bad = {.kind = "app", .source = "127.0.0.2", .credential = "app-1"};
    throttle_key owner = {.kind = "app", .source = "127.0.0.3", .credential = "app-1"};
    int64_t now = 1000;
    for (int i = 0; i < 10; i++) {
        assert_int_equal(0, throttle_wait(t, &bad, now));
        throttle_failed(t, &bad, now);
    }
    assert_int_equal(1, throttle_wait(t, &bad, now)); /* the 10th failure: wait 1 s */
    for (int round = 0; round < 50; round++) {        /* the flood goes on for minutes */
        now += throttle_wait(t, &bad, now);
        throttle_failed(t, &bad, now);
        assert_int_equal(0, throttle_wait(t, &owner, now));
    }
    assert_int_equal(300, throttle_wait(t, &bad, now)); /* grown to the cap, not beyond */
    /* the owner's own source never failed: its check goes on, and succeeds */
    throttle_succeeded(t, &owner, now);
    assert_int_equal(0, throttle_wait(t, &owner, now));
    /* the same source on another app is not slowed by this pair (under the per-source bound) */
    throttle_key other = {.kind = "app", .source = "127.0.0.2", .credential = "app-2"};
    assert_int_equal(0, throttle_wait(t, &other, now));
    /* the delay runs out; a quiet window after it forgets the failures */
    assert_int_equal(0, throttle_wait(t, &bad, now + 300));
    throttle_failed(t, &bad, now + 600);
    assert_int_equal(0, throttle_wait(t, &bad, now + 600));
    throttle_free(t);
}

/* The delay doubles per failure past the free ones: 1, 2, 4, 8 … */
static void test_growing_delay(void **state)
{
    (void)state;
    throttle *t = make(3, 100, 60, 64);
    throttle_key k = {.kind = "app", .source = "10.0.0.1", .credential = "a"};
    int64_t now = 5000;
    throttle_failed(t, &k, now);
    throttle_failed(t, &k, now);
    assert_int_equal(0, throttle_wait(t, &k, now));
    int64_t expect[] = {1, 2, 4, 8, 16, 32, 60, 60};
    for (size_t i = 0; i < sizeof expect / sizeof *expect; i++) {
        throttle_failed(t, &k, now);
        assert_int_equal(expect[i], throttle_wait(t, &k, now));
        now += expect[i];
        assert_int_equal(0, throttle_wait(t, &k, now));
    }
    /* a success forgets the pair's failures: the next failure is free again */
    throttle_succeeded(t, &k, now);
    throttle_failed(t, &k, now);
    assert_int_equal(0, throttle_wait(t, &k, now));
    throttle_free(t);
}

/* A source spraying many credentials is slowed by its own count; others are not. Refresh-like
 * checks (no public credential) count the source only. */
static void test_per_source_bound(void **state)
{
    (void)state;
    throttle *t = make(10, 20, 300, 4096);
    int64_t now = 100;
    char cred[32];
    for (int i = 0; i < 20; i++) {
        snprintf(cred, sizeof cred, "app-%d", i);
        throttle_key k = {.kind = "app", .source = "192.0.2.7", .credential = cred};
        assert_int_equal(0, throttle_wait(t, &k, now));
        throttle_failed(t, &k, now);
    }
    throttle_key next = {.kind = "app", .source = "192.0.2.7", .credential = "app-99"};
    assert_true(throttle_wait(t, &next, now) > 0);
    throttle_key elsewhere = {.kind = "app", .source = "192.0.2.8", .credential = "app-1"};
    assert_int_equal(0, throttle_wait(t, &elsewhere, now));
    /* another kind from the same source is counted apart */
    throttle_key refresh = {.kind = "refresh", .source = "192.0.2.7", .credential = ""};
    assert_int_equal(0, throttle_wait(t, &refresh, now));
    for (int i = 0; i < 20; i++)
        throttle_failed(t, &refresh, now);
    assert_int_equal(1, throttle_wait(t, &refresh, now));
    throttle_key refresh2 = {.kind = "refresh", .source = "192.0.2.9", .credential = ""};
    assert_int_equal(0, throttle_wait(t, &refresh2, now));
    throttle_free(t);
}

/* Off (max_failures 0): nothing is counted or refused. */
static void test_off(void **state)
{
    (void)state;
    throttle *t = make(0, 1, 60, 64);
    throttle_key k = {.kind = "app", .source = "x", .credential = "y"};
    for (int i = 0; i < 100; i++)
        throttle_failed(t, &k, 1);
    assert_int_equal(0, throttle_wait(t, &k, 1));
    assert_int_equal(0, throttle_get_stats(t).entries);
    throttle_free(t);
}

/* Bounded: 100 times the table's size in distinct keys keeps it at its size (its memory is
 * allocated once), evicting; a source under attack right now keeps its slot (the oldest last
 * failure goes first), so flooding the table with other keys does not lift its delay. */
static void test_bounded_table(void **state)
{
    (void)state;
    throttle *t = make(2, 1000000, 300, 256);
    throttle_key hot = {.kind = "app", .source = "203.0.113.1", .credential = "target"};
    int64_t now = 10;
    for (int i = 0; i < 6; i++)
        throttle_failed(t, &hot, now);
    int64_t w = throttle_wait(t, &hot, now);
    assert_true(w >= 16);
    char src[32];
    for (int i = 0; i < 256 * 100; i++) {
        snprintf(src, sizeof src, "198.18.%d.%d", (i / 256) % 256, i % 256);
        throttle_key k = {.kind = "app", .source = src, .credential = "x"};
        throttle_failed(t, &k, now - 1); /* older than the hot slot's last failure */
        throttle_stats st = throttle_get_stats(t);
        assert_true(st.entries <= st.capacity);
    }
    throttle_stats st = throttle_get_stats(t);
    assert_int_equal(256, st.capacity);
    assert_true(st.evictions > 0);
    assert_int_equal(w, throttle_wait(t, &hot, now));
    throttle_free(t);
}

/* IPv6 clients count per /64; IPv4-mapped addresses as IPv4. */
static void test_source_text(void **state)
{
    (void)state;
    char a[64], b[64];
    throttle_source("2001:db8:1:2:aaaa::1", a);
    throttle_source("2001:db8:1:2:bbbb::9", b);
    assert_string_equal(a, b);
    assert_string_equal(a, "2001:db8:1:2::/64");
    throttle_source("::ffff:192.0.2.1", a);
    assert_string_equal(a, "192.0.2.1");
    throttle_source("192.0.2.1", a);
    assert_string_equal(a, "192.0.2.1");
    throttle_source("", a);
    assert_string_equal(a, "");
    throttle_source(NULL, a);
    assert_string_equal(a, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flooder_never_locks_out_another_source),
        cmocka_unit_test(test_growing_delay),
        cmocka_unit_test(test_per_source_bound),
        cmocka_unit_test(test_off),
        cmocka_unit_test(test_bounded_table),
        cmocka_unit_test(test_source_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
