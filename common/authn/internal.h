/* internal.h — what the authn files share and nothing else includes: the immutable key snapshot
 * verifiers read, JWK <-> EVP_PKEY conversion, the verified-token cache and the deny set. */
#ifndef CONFETTI_AUTHN_INTERNAL_H
#define CONFETTI_AUTHN_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "authn/authn.h"
#include "authn/keyset.h"

/* ---- key snapshot (keyset.c) ---- */

typedef struct authn_key {
    char kid[AUTHN_KID_MAX + 1];
    authn_alg alg;  /* the only algorithm this key verifies */
    EVP_PKEY *pkey; /* public key, loaded once */
    size_t sig_len; /* exact signature length: modulus bytes (RS256), 64 (ES256) */
} authn_key;

/* An immutable set of keys. Readers hold a reference while they use it; a load swaps in a new
 * snapshot and the old one is freed when its last reader lets go. */
typedef struct authn_keys {
    atomic_int refs;
    uint64_t gen; /* generation of the key set it was loaded as */
    size_t n;
    authn_key *keys;
} authn_keys;

/* Takes a reference to the current snapshot (never NULL; possibly empty). */
authn_keys *keyset_acquire(authn_keyset *ks);
/* Drops a reference taken by keyset_acquire. */
void keys_release(authn_keys *k);
/* The key named kid, or NULL. Borrowed from k. */
const authn_key *keys_find(const authn_keys *k, const char *kid);
/* The current generation: changes on every successful load. */
uint64_t keyset_generation(authn_keyset *ks);

/* ---- JWK conversion (jwk.c) ---- */

/* Builds a verified public key from one JWK object. On success *key is filled (kid, alg, pkey
 * owned by the caller) and NULL is returned; otherwise the reason it is unusable. */
const char *jwk_to_key(json_t *jwk, authn_key *key);
/* The public JWK of pkey, with kid/alg/use. New reference. NULL if pkey does not fit alg. */
json_t *jwk_from_pkey(EVP_PKEY *pkey, const char *kid, authn_alg alg);
/* Reason pkey cannot be used with alg (type, curve, RSA size), or NULL if it can. */
const char *pkey_fits_alg(EVP_PKEY *pkey, authn_alg alg);

/* ---- JSON strings (verify.c, jwk.c) ---- */

typedef enum { JSTR_ABSENT, JSTR_OK, JSTR_BAD } jstr_result;
/* Reads obj[key] as a string shorter than cap bytes with no embedded NUL. JSTR_BAD for another
 * type, an embedded NUL or a string that would not fit. */
jstr_result jstr_get(json_t *obj, const char *key, size_t cap, const char **out);

/* ---- verified-token cache (cache.c) ---- */

typedef struct tcache tcache;
/* A cache of about `entries` slots (power of two), or NULL when entries is 0. */
tcache *tcache_new(size_t entries);
void tcache_free(tcache *c);
/* Copies the identity cached for digest into *out if it was verified under key-set generation
 * gen and now < exp + leeway. */
bool tcache_get(tcache *c, const unsigned char digest[32], uint64_t gen, int64_t now,
                int64_t leeway, authn_identity *out);
void tcache_put(tcache *c, const unsigned char digest[32], uint64_t gen, const authn_identity *id);

/* ---- deny set (deny.c) ---- */

/* What an entry names: one token (its jti) or every token of a session (its sid). */
#define DENY_JTI 'j'
#define DENY_SID 's'

typedef struct denyset denyset;
denyset *denyset_new(void);
void denyset_free(denyset *d);
/* Denies (kind, id) until `until` (exclusive); a later `until` for the same key extends it.
 * Expired entries are dropped when the table would grow. Takes the write lock. */
void denyset_add(denyset *d, char kind, const char *id, int64_t until, int64_t now);
/* true if jti (when not "") or sid (when not "") is denied at `now`. O(1): one probe each. */
bool denyset_has_any(denyset *d, const char *jti, const char *sid, int64_t now);
/* Entries held (live, or expired and not yet dropped). */
size_t denyset_count(denyset *d);

#endif
