/* keys.h — where a service's token-verifying keys come from: confetti-auth's GetJwks
 * (auth.jwks_urls), fetched at start, refreshed in the background when the document's max-age
 * passes, and — rate-limited — at once when a token names a kid the set does not have (keys were
 * rotated at auth). A JWKS file (auth.jwks_file) may seed the set; either source may be alone.
 * Lifetime: svc_keys_new → (serving: svc_keys_on_miss from workers) → svc_keys_free. */
#ifndef CONFETTI_SVC_KEYS_H
#define CONFETTI_SVC_KEYS_H

#include <stdbool.h>

#include "authn/keyset.h"
#include "base/clock.h"
#include "base/status.h"
#include "cfg/cfg.h"
#include "rpc/ident.h"

typedef struct svc_keys svc_keys;

/* Starts fetching into ks (borrowed; outlives the svc_keys) from urls, calling as ident
 * (borrowed; may be NULL). The first fetch is tried
 * at once (bounded by 2 s); if it fails the background thread keeps trying and calls carrying
 * tokens are refused until a fetch succeeds — never a process that cannot start because auth is
 * down. min_refetch_ms bounds how often a miss may trigger a fetch. */
cf_code svc_keys_new(const cfg_strlist *urls, rpc_ident *ident, authn_keyset *ks,
                     int64_t min_refetch_ms, svc_keys **out, char *err, size_t errlen);

/* The rpc_server key_miss hook: refetches now unless one happened within min_refetch_ms;
 * true if the key set was replaced. Thread-safe; blocks up to ~1 s. */
bool svc_keys_on_miss(void *arg);

/* How many fetches succeeded (tests, metrics). */
long svc_keys_fetches(const svc_keys *k);

void svc_keys_free(svc_keys *k);

#endif
