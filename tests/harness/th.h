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

/* Asserts that the client call cc_ (an rpc_ccall *, answered) ended with code_ and, for
 * FAILED_PRECONDITION and INVALID_ARGUMENT, that the answer says what was wrong (issue 21 item
 * 5): at least one detail, each with a non-empty field and description, one of them field_
 * (NULL: any field). */
#define assert_refusal(cc_, code_, field_)                                                         \
    do {                                                                                           \
        const __typeof__(*(cc_)) *r_ = (cc_);                                                      \
        const char *f_ = (field_);                                                                 \
        if ((int)r_->code != (int)(code_))                                                         \
            fail_msg("line %d: %s expected, got %s: %s", __LINE__, cf_code_name(code_),            \
                     cf_code_name(r_->code), r_->message);                                         \
        if ((code_) == CF_FAILED_PRECONDITION || (code_) == CF_INVALID_ARGUMENT) {                 \
            int hit_ = f_ == NULL;                                                                 \
            if (!r_->ndetails)                                                                     \
                fail_msg("line %d: %s without details: %s", __LINE__, cf_code_name(code_),         \
                         r_->message);                                                             \
            for (size_t i_ = 0; i_ < r_->ndetails; i_++) {                                         \
                if (!*r_->details[i_]->field || !*r_->details[i_]->description)                    \
                    fail_msg("line %d: an empty detail in: %s", __LINE__, r_->message);            \
                hit_ |= f_ && strcmp(r_->details[i_]->field, f_) == 0;                             \
            }                                                                                      \
            if (!hit_)                                                                             \
                fail_msg("line %d: no detail names %s (first: %s: %s)", __LINE__, f_,              \
                         r_->details[0]->field, r_->details[0]->description);                      \
        }                                                                                          \
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
