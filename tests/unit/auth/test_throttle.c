/* test_throttle.c — failed-attempt throttling: blocks after max failures within the window,
 * per key, and never permanently. */
#include "th.h"
#include "auth.h"

#include <stdio.h>

static void test_window(void **state)
{
    (void)state;
    throttle *t = throttle_new(3, 60);
    for (int i = 0; i < 3; i++) {
        assert_false(throttle_blocked(t, "ip:1", 1000));
        throttle_fail(t, "ip:1", 1000 + i);
    }
    assert_true(throttle_blocked(t, "ip:1", 1010));
    assert_false(throttle_blocked(t, "ip:2", 1010));
    assert_false(throttle_blocked(t, "ip:1", 1060)); /* the window ended */
    assert_false(throttle_blocked(t, "", 1010));
    /* many keys: bounded memory, no crash */
    char k[32];
    for (int i = 0; i < 20000; i++) {
        snprintf(k, sizeof k, "ip:%d", i);
        throttle_fail(t, k, 2000);
    }
    throttle_free(t);
    throttle *off = throttle_new(0, 60);
    throttle_fail(off, "x", 1);
    assert_false(throttle_blocked(off, "x", 1));
    throttle_free(off);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_window)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
