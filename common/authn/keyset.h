/* keyset.h — the public keys that access tokens may be signed with, by `kid`, each pinned to
 * one algorithm. Loaded from a JWKS document (RFC 7517) into OpenSSL keys once; replaced as a
 * whole (rotation, refetch) while verifiers keep reading it from other threads.
 *
 * Lifetime: authn_keyset_new → authn_keyset_load_* (any number of times, from any thread) →
 * authn_keyset_free once no verifier uses it any more. */
#ifndef CONFETTI_AUTHN_KEYSET_H
#define CONFETTI_AUTHN_KEYSET_H

#include <stdbool.h>
#include <stddef.h>

#include "base/status.h"

/* The signature algorithms Confetti accepts. Anything else (HS*, none, PS*, RS384…) is refused. */
typedef enum authn_alg {
    AUTHN_ALG_RS256 = 1, /* RSASSA-PKCS1-v1_5 with SHA-256, RSA 2048..8192 bits */
    AUTHN_ALG_ES256 = 2, /* ECDSA P-256 with SHA-256, JWS raw r||s signature */
} authn_alg;

/* Longest kid accepted, in bytes (without the NUL). */
#define AUTHN_KID_MAX 127
/* Largest JWKS document and key count accepted. */
#define AUTHN_JWKS_MAX_BYTES (256 * 1024)
#define AUTHN_JWKS_MAX_KEYS  64

/* Parses "RS256"/"ES256" (exact, case-sensitive); false for anything else. */
bool authn_alg_parse(const char *name, authn_alg *out);
/* "RS256" or "ES256". */
const char *authn_alg_name(authn_alg alg);

typedef struct authn_keyset authn_keyset;

/* Creates an empty key set (every token fails until a load succeeds). Caller frees. */
cf_code authn_keyset_new(authn_keyset **out);

/* Frees the key set. No verifier may use it any more (verifiers borrow it). NULL is a no-op. */
void authn_keyset_free(authn_keyset *ks);

/* Replaces the keys with those of a JWKS document ({"keys":[...]}) of len bytes.
 * Keys this module cannot use (other kty/crv/alg, use other than "sig", weak RSA, bad numbers,
 * no kid, private material) are skipped, and their kids and reasons are written to err (NUL
 * terminated, "; "-separated, truncated to errcap; empty when none was skipped).
 * Errors (the current keys stay as they were, err says why): INVALID_ARGUMENT for a document
 * that is not JSON, too big, has no "keys" array, a non-object key, a duplicate kid, or no usable
 * key at all. err may be NULL. Thread-safe against concurrent verifiers and loads; does not
 * block on I/O. Verified-token caches of verifiers on this set are invalidated. */
cf_code authn_keyset_load_json(authn_keyset *ks, const char *json, size_t len, char *err,
                               size_t errcap);

/* Same, reading the document from a file. NOT_FOUND if the file cannot be opened, otherwise as
 * authn_keyset_load_json. Blocks on file I/O. */
cf_code authn_keyset_load_file(authn_keyset *ks, const char *path, char *err, size_t errcap);

/* Number of usable keys at this instant. */
size_t authn_keyset_size(authn_keyset *ks);

/* True if a key with this kid is loaded at this instant; *alg (may be NULL) gets its algorithm. */
bool authn_keyset_has(authn_keyset *ks, const char *kid, authn_alg *alg);

#endif
