/* authn.h — who is calling: verification of JWT access tokens by signature alone (no database),
 * with a verified-token cache and an in-memory revocation (deny) set.
 *
 * Lifetime: authn_verifier_new (borrows a key set that must outlive it) → authn_verify /
 * authn_verifier_revoke from any number of threads → authn_verifier_free. */
#ifndef CONFETTI_AUTHN_AUTHN_H
#define CONFETTI_AUTHN_AUTHN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "authn/keyset.h"
#include "base/clock.h"
#include "base/status.h"

/* Longest token looked at; anything longer is refused unread. */
#define AUTHN_TOKEN_MAX 8192
/* Clock-skew bounds, in seconds. */
#define AUTHN_LEEWAY_DEFAULT 60
#define AUTHN_LEEWAY_MAX     300
/* Verified-token cache bounds, in entries (rounded up to a power of two). */
#define AUTHN_CACHE_DEFAULT 4096
#define AUTHN_CACHE_MAX     (1u << 20)

typedef struct authn_config {
    const char *issuer;    /* required: the `iss` every token must carry, compared exactly */
    const char *audience;  /* required: must equal `aud`, or be one of `aud`'s strings */
    int leeway_seconds;    /* 0..AUTHN_LEEWAY_MAX: skew allowed on exp, nbf and iat */
    const cf_clock *clock; /* borrowed, outlives the verifier; NULL = the real clock */
    size_t cache_entries;  /* 0 disables the cache; at most AUTHN_CACHE_MAX */
} authn_config;

/* A config with the defaults; set issuer and audience. */
#define AUTHN_CONFIG_INIT                                                                          \
    {                                                                                              \
        NULL, NULL, AUTHN_LEEWAY_DEFAULT, NULL, AUTHN_CACHE_DEFAULT                                \
    }

/* The verified caller. Strings are NUL-terminated; a token with a longer claim is refused, never
 * truncated. */
typedef struct authn_identity {
    char sub[128];    /* user id, or "app:<id>" for an app token */
    char sid[64];     /* session id ("" if absent) */
    char jti[64];     /* token id ("" if absent) */
    int64_t exp;      /* expiry, seconds since the epoch */
    bool is_admin;    /* `roles` contains "admin" */
    bool is_app;      /* sub starts with "app:" */
    char scopes[512]; /* `scope`, space-separated ("" if absent) */
} authn_identity;

typedef struct authn_verifier authn_verifier;

/* The reason authn_verify gives when the token's kid is not in the key set: the one refusal a
 * key refetch can cure (keys rotated at the issuer). Compare the pointer or the text. */
#define AUTHN_REASON_UNKNOWN_KID "unknown kid"

/* Creates a verifier. cfg is copied (its strings too); ks is borrowed and must outlive it.
 * INVALID_ARGUMENT if issuer/audience are missing or a bound is exceeded. Caller frees. */
cf_code authn_verifier_new(const authn_config *cfg, authn_keyset *ks, authn_verifier **out);

/* Frees the verifier. NULL is a no-op. */
void authn_verifier_free(authn_verifier *v);

/* Verifies a compact JWS access token (without "Bearer "): size, structure, header (alg must be
 * exactly the algorithm of the key its kid names), signature (OpenSSL, keys loaded once), then
 * claims (exp, nbf, iat with leeway; iss; aud; sub), then the deny set (its jti, and its sid: a
 * revoked session). A token already verified is answered from the cache (SHA-256 of the token →
 * identity until its exp), the deny set is still checked. Returns CF_OK and fills *out, or
 * CF_UNAUTHENTICATED with *reason (may be NULL) set to a short static text for logs that never
 * contains the token; *out is then zeroed. CF_UNAVAILABLE (reason AUTHN_REASON_NOT_SYNCED) while
 * the verifier is held (see authn_verifier_set_synced). Thread-safe; never blocks on I/O. */
cf_code authn_verify(authn_verifier *v, const char *token, authn_identity *out,
                     const char **reason);

/* Refuses every token whose jti is `jti` until `exp` (the token's own exp; kept leeway seconds
 * longer, as long as such a token could still pass). INVALID_ARGUMENT for an empty or oversized
 * jti. Thread-safe; takes effect for the next verify, cached tokens included. */
cf_code authn_verifier_revoke(authn_verifier *v, const char *jti, int64_t exp);

/* Refuses every token whose sid is `sid` — all the access tokens of a revoked session, or of a
 * revoked app credential (app tokens carry one too) — until `until` (seconds since the epoch:
 * when the last such token expires; kept leeway seconds longer). INVALID_ARGUMENT for an empty
 * or oversized sid. Thread-safe; takes effect for the next verify, cached tokens included. */
cf_code authn_verifier_revoke_session(authn_verifier *v, const char *sid, int64_t until);

/* The reason authn_verify gives (with CF_UNAVAILABLE) while the verifier is held. */
#define AUTHN_REASON_NOT_SYNCED "revocation list not loaded yet"

/* Holds (false) or opens (true) the verifier. A verifier is open when created; whoever feeds it
 * revocations holds it until the list has been loaded once, so a process that starts late never
 * accepts a token revoked while it was away: meanwhile authn_verify answers CF_UNAVAILABLE with
 * AUTHN_REASON_NOT_SYNCED (callers answer UNAVAILABLE: retry). Thread-safe. */
void authn_verifier_set_synced(authn_verifier *v, bool synced);
bool authn_verifier_synced(authn_verifier *v);

/* Revocations held (jti and sid entries; expired ones may linger until the set next grows). */
size_t authn_verifier_revoked_count(authn_verifier *v);

/* Counters since creation, for metrics: verifies answered from the cache, verifies that ran the
 * full check (successful or not). Either pointer may be NULL. Thread-safe, approximate under
 * concurrency. */
void authn_verifier_stats(authn_verifier *v, uint64_t *cache_hits, uint64_t *full_verifies);

#endif
