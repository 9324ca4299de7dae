/* revocations.h — keeping a token verifier's revocation list current, in every process that
 * verifies tokens (rooms, catalog, draw, the gateway): confetti-auth's database is the source of
 * truth, read through auth.v1.Auth/ListRevokedTokens; its `token.revoked` / `session.revoked`
 * events (bus, with Replay for what the bus drops) bring each revocation within a second; the
 * list is re-read every `refresh_ms` as the safety net.
 *
 * The verifier is held (authn_verifier_set_synced false: calls with a token answer UNAVAILABLE)
 * from revsync_start until the whole list has been loaded once, so a process that starts late,
 * or was cut off, never accepts a token revoked meanwhile.
 *
 * Lifetime: revsync_start (starts a thread) → revsync_loaded polled by readiness →
 * revsync_stop. */
#ifndef CONFETTI_SVC_REVOCATIONS_H
#define CONFETTI_SVC_REVOCATIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "authn/authn.h"
#include "base/status.h"
#include "events/v1/events.pb-c.h"
#include "auth/v1/auth.pb-c.h"

typedef struct revsync_config {
    authn_verifier *verifier;     /* borrowed; outlives the revsync */
    const char *const *auth_urls; /* confetti-auth's RPC endpoints */
    size_t nurls;
    const char *bus;         /* the bus's subscriber URL; NULL or "" = no events */
    int64_t refresh_ms;      /* re-read the whole list this often; 0 = only until loaded */
    int timeout_ms;          /* per ListRevokedTokens call; 0 = 5000 */
    struct rpc_ident *ident; /* borrowed: signs the ListRevokedTokens calls (an internal method)
                                and verifies auth's events (rpc/ident.h); NULL = none */
} revsync_config;

typedef struct revsync revsync;

/* Holds the verifier and starts the thread that loads the list (retrying every 500 ms until it
 * has it), follows the events and re-reads the list. Strings are copied. INVALID_ARGUMENT with
 * err for no URL or a bad one. */
cf_code revsync_start(const revsync_config *cfg, revsync **out, char *err, size_t errlen);
/* Stops the thread and frees. The verifier is left as it is. NULL is a no-op. */
void revsync_stop(revsync *r);
/* The list has been loaded at least once (the verifier is open). Thread-safe, never blocks. */
bool revsync_loaded(revsync *r);

/* Applies one revocation of auth's list to v (a jti, or a whole session); false if unusable. */
bool revsync_apply(authn_verifier *v, const Auth__V1__RevokedToken *t, int64_t now);
/* Applies auth's token.revoked / session.revoked event to v; other events are ignored. */
void revsync_apply_event(authn_verifier *v, const Events__V1__Event *ev, int64_t now);

#endif
