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

#endif
