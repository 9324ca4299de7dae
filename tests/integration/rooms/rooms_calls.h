/* rooms_calls.h — what the rooms integration tests share (test_archive.c, test_search.c,
 * test_private_members.c): a caller with a lazily minted token, one Rooms RPC by method name
 * through the service under test, and `ok` for a call that must succeed. rooms_calls_use names
 * the keys and the service once they exist (the test's setup). */
#ifndef CONFETTI_TEST_ROOMS_CALLS_H
#define CONFETTI_TEST_ROOMS_CALLS_H

#include "th.h"
#include "service.h"
#include "tokens.h"
#include "rpc/client.h"

#include <stdbool.h>

typedef struct user {
    const char *sub; /* NULL: a call without a token */
    bool admin;
    char *bearer; /* "Bearer <jwt>", minted on first use; the test frees it */
} user;

void rooms_calls_use(th_keys *keys, th_service *rooms);
/* The user's Authorization value (minted once). */
const char *bearer(user *u);
/* Calls Rooms/<method> as u (blocking); the caller frees the result with done(). */
rpc_ccall *rc(const char *method, user *u, const void *in);
void done(rpc_ccall *cc);

/* Runs a call that must succeed and frees it. */
#define ok(line_call)                                                                              \
    do {                                                                                           \
        rpc_ccall *cc_ = (line_call);                                                              \
        if (cc_->code != CF_OK)                                                                    \
            fail_msg("line %d: %s: %s", __LINE__, cf_code_name(cc_->code), cc_->message);          \
        done(cc_);                                                                                 \
    } while (0)

#endif
