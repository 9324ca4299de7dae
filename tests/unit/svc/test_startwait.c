/* test_startwait.c — a database step at start is retried while the database is out of reach
 * (common/svc/startwait.h; issue 13 item 8: a replica restarted on a starved machine exited
 * when its first read ran past its deadline). */
#include "th.h"
#include "svc/startwait.h"
#include "base/clock.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

typedef struct {
    int calls;
    int fail_first; /* this many attempts fail with code */
    cf_code code;
} step_state;

static cf_code step(void *arg, char *err, size_t errlen)
{
    step_state *s = arg;
    if (++s->calls <= s->fail_first) {
        snprintf(err, errlen, "attempt %d: %s", s->calls, cf_code_name(s->code));
        return s->code;
    }
    return CF_OK;
}

static void test_unreachable_then_reachable_succeeds(void **state)
{
    (void)state;
    cf_code codes[] = {CF_UNAVAILABLE, CF_DEADLINE_EXCEEDED};
    for (size_t i = 0; i < 2; i++) {
        step_state s = {.fail_first = 3, .code = codes[i]};
        char err[128] = "";
        assert_int_equal(CF_OK, svc_start_retry(60000, "test step", step, &s, err, sizeof err));
        assert_int_equal(4, s.calls);
    }
}

static void test_other_failures_are_not_retried(void **state)
{
    (void)state;
    /* a failing migration or a refused statement is not the database being away */
    cf_code codes[] = {CF_INTERNAL, CF_INVALID_ARGUMENT, CF_PERMISSION_DENIED};
    for (size_t i = 0; i < 3; i++) {
        step_state s = {.fail_first = 100, .code = codes[i]};
        char err[128] = "";
        assert_int_equal(codes[i], svc_start_retry(60000, "test step", step, &s, err, sizeof err));
        assert_int_equal(1, s.calls);
        assert_non_null(strstr(err, "attempt 1"));
    }
}

static void test_zero_wait_is_one_attempt(void **state)
{
    (void)state;
    step_state s = {.fail_first = 100, .code = CF_UNAVAILABLE};
    char err[128] = "";
    assert_int_equal(CF_UNAVAILABLE, svc_start_retry(0, "test step", step, &s, err, sizeof err));
    assert_int_equal(1, s.calls);
}

static void test_gives_up_after_the_wait(void **state)
{
    (void)state;
    step_state s = {.fail_first = 1000000, .code = CF_UNAVAILABLE};
    char err[128] = "";
    int64_t t0 = cf_mono_ns();
    assert_int_equal(CF_UNAVAILABLE, svc_start_retry(400, "test step", step, &s, err, sizeof err));
    /* 100 ms, then 200 ms, then the 100 ms left: at least three attempts, and not before the
     * wait has passed (no upper bound: a starved machine may take longer) */
    assert_true(s.calls >= 3);
    assert_true(cf_mono_ns() - t0 >= 400 * 1000000LL);
    assert_non_null(strstr(err, "UNAVAILABLE"));
}

/* A service's main thread blocks SIGTERM and SIGINT before it starts (svc.c), so an operator's
 * stop arrives as a pending signal: the wait must end on it, not hold the pod for the whole
 * db.start_wait (Kubernetes would SIGKILL it after its grace period). */
static void test_a_pending_stop_signal_ends_the_wait(void **state)
{
    (void)state;
    int sigs[] = {SIGTERM, SIGINT};
    for (size_t i = 0; i < 2; i++) {
        sigset_t set, old;
        sigemptyset(&set);
        sigaddset(&set, sigs[i]);
        assert_int_equal(0, pthread_sigmask(SIG_BLOCK, &set, &old));
        assert_false(svc_stop_pending());
        raise(sigs[i]);
        assert_true(svc_stop_pending());
        step_state s = {.fail_first = 1000000, .code = CF_UNAVAILABLE};
        char err[128] = "";
        int64_t t0 = cf_mono_ns();
        assert_int_equal(CF_UNAVAILABLE,
                         svc_start_retry(3600000, "test step", step, &s, err, sizeof err));
        assert_int_equal(1, s.calls);
        /* an hour's wait ended by the signal: far under a minute even on a starved machine */
        assert_true(cf_mono_ns() - t0 < 60 * 1000000000LL);
        struct timespec zero = {0, 0};
        assert_int_equal(sigs[i], sigtimedwait(&set, NULL, &zero)); /* taken, as main would */
        assert_false(svc_stop_pending());
        assert_int_equal(0, pthread_sigmask(SIG_SETMASK, &old, NULL));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unreachable_then_reachable_succeeds),
        cmocka_unit_test(test_other_failures_are_not_retried),
        cmocka_unit_test(test_zero_wait_is_one_attempt),
        cmocka_unit_test(test_gives_up_after_the_wait),
        cmocka_unit_test(test_a_pending_stop_signal_ends_the_wait),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
