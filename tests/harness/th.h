/* th.h — the test harness: include this in every test. */
#ifndef CONFETTI_TESTS_TH_H
#define CONFETTI_TESTS_TH_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/status.h"

/* Environment variable or a default. */
const char *th_env(const char *name, const char *def);

/* Asserts a status code, printing both names on failure. */
#define assert_code(expected, actual)                                                              \
    do {                                                                                           \
        int e_ = (int)(expected), a_ = (int)(actual);                                              \
        if (e_ != a_)                                                                              \
            fail_msg("status %s expected, got %s", cf_code_name(e_), cf_code_name(a_));            \
    } while (0)

/* A fixed-seed generator for tests that try many random inputs (xorshift64: the same sequence
 * on every run, so a failure reproduces). *state must not be 0. */
static inline uint64_t th_xorshift(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

#endif
