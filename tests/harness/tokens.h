/* tokens.h — test keys and access tokens: a key pair (RS256 or ES256), its JWKS loaded into a key
 * set, a verifier config that accepts what it mints, and token minting, either through the real
 * signer or raw (any header and payload, for forgeries). Setup failures abort the test. */
#ifndef CONFETTI_TESTS_TOKENS_H
#define CONFETTI_TESTS_TOKENS_H

#include <stdbool.h>

#include "authn/authn.h"
#include "authn/keyset.h"
#include "authn/sign.h"

#define TH_ISSUER   "https://auth.confetti.test"
#define TH_AUDIENCE "confetti"

typedef struct th_keys th_keys;

/* A fresh key pair for "RS256" or "ES256" under a unique kid, with its key set loaded.
 * RSA generation takes ~50-100 ms. Free with th_keys_free. */
th_keys *th_keys_new(const char *alg);
void th_keys_free(th_keys *k);

/* Borrowed from k. */
authn_keyset *th_keys_keyset(th_keys *k);
authn_signer *th_keys_signer(th_keys *k);
const char *th_keys_kid(th_keys *k);
const char *th_keys_jwks(th_keys *k); /* {"keys":[this key]} */
const char *th_keys_private_pem(th_keys *k);
const char *th_keys_public_pem(th_keys *k); /* SubjectPublicKeyInfo */

/* A verifier config for k's tokens: TH_ISSUER, TH_AUDIENCE, default leeway and cache. */
authn_config th_keys_config(th_keys *k);

/* A new verifier on k's key set with th_keys_config (clock may be NULL). Free with
 * authn_verifier_free. */
authn_verifier *th_verifier_new(th_keys *k, const cf_clock *clock);

/* A valid token for sub, expiring ttl_s seconds from now (real clock), with roles ["admin"] if
 * admin, sid "sess-1" and a fresh jti. Caller frees. */
char *th_token(th_keys *k, const char *sub, int ttl_s, bool admin);

/* A token with these claims; NULL iss/aud become TH_ISSUER/TH_AUDIENCE. Caller frees. */
char *th_token_claims(th_keys *k, const authn_claims *claims);

/* base64url(header_json) "." base64url(payload_json) "." signature made with k's private key
 * (ES256 as raw r||s), whatever the header says. Caller frees. */
char *th_token_raw(th_keys *k, const char *header_json, const char *payload_json);

/* Concatenates the JWKS documents of a and b into {"keys":[a's, b's]}. Caller frees. */
char *th_jwks_merge(th_keys *a, th_keys *b);

#endif
