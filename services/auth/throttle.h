/* throttle.h — the one rule for failed credential checks in confetti-auth (docs/auth.md,
 * "Failed attempts"): app tokens, refresh, the OpenID callback. A throttle can never be turned
 * against the one it protects:
 *
 * - Failures are counted per *source* (the client's address as the gateway saw it, IPv6 per
 *   /64) and per (source, credential) where the credential has a public name (an app id). No
 *   counter is per credential alone: failures from one source never slow another source, so
 *   guessing an app's secret from one address cannot lock its owner out from another.
 * - A growing delay, not a hard lock: the first `max_failures` failures of a (source,
 *   credential) pair (`max_per_source` of a source over all credentials of a kind) cost
 *   nothing; each further one makes the next attempt wait 1 s, 2 s, 4 s … up to `window`.
 *   While waiting, attempts are refused unchecked with the seconds left (Retry-After), and do
 *   not count. A success forgets the pair's failures (not the source's). Failures are
 *   forgotten after a quiet `window` (no failure, and no delay running).
 * - Bounded memory: a table of `max_entries` fixed-size slots allocated at start (nothing
 *   grows with traffic). Keys are stored as 16 bytes of a keyed SHA-256 (a random key per
 *   process, so nobody can aim collisions at a slot); a full probe run evicts an expired slot,
 *   else the one whose last failure is oldest. Counted in throttle_stats.
 *
 * Thread-safe (one mutex); nothing blocks. */
#ifndef CONFETTI_AUTH_THROTTLE_H
#define CONFETTI_AUTH_THROTTLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct throttle throttle;

typedef struct throttle_config {
    int64_t max_failures;   /* free failures per (source, credential); 0 = throttling off */
    int64_t max_per_source; /* free failures per source over a kind's credentials (>= 1) */
    int64_t window_s;       /* failures forgotten this long after the last; the longest delay */
    size_t max_entries;     /* slots (rounded up to a power of two, at least 64) */
} throttle_config;

/* What one attempt is: its kind ("app", "refresh", "login"), its source (an address in text;
 * "" for callers that gave none, who then share one source) and the credential's public name
 * ("" when the credential is itself the secret: a refresh token, a login state — then only
 * the source is counted). Strings borrowed. */
typedef struct throttle_key {
    const char *kind, *source, *credential;
} throttle_key;

typedef struct throttle_stats {
    size_t entries, capacity;
    uint64_t evictions; /* live slots taken for another key */
    uint64_t refusals;  /* attempts refused while a delay ran */
} throttle_stats;

throttle *throttle_new(const throttle_config *cfg);
void throttle_free(throttle *t);

/* 0 when the attempt may be checked now; else the whole seconds (>= 1) until it may. */
int64_t throttle_wait(throttle *t, const throttle_key *k, int64_t now);
/* Records a failed check of k at now (seconds). */
void throttle_failed(throttle *t, const throttle_key *k, int64_t now);
/* Records a successful check: the (source, credential) pair's failures are forgotten. */
void throttle_succeeded(throttle *t, const throttle_key *k, int64_t now);
throttle_stats throttle_get_stats(throttle *t);

/* The source text of an address: IPv4 as is, IPv6 as its /64 ("2001:db8:1:2::/64"), anything
 * else (no address, not an address) unchanged. out must hold 64 bytes. */
void throttle_source(const char *addr, char out[64]);

#endif
