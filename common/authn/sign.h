/* sign.h — minting access tokens (the auth service at login/refresh, and tests) with libjwt,
 * publishing the matching public key as a JWKS, and generating keys for tests and development.
 *
 * Lifetime: authn_signer_new_pem → authn_sign / authn_signer_jwks from any thread →
 * authn_signer_free. */
#ifndef CONFETTI_AUTHN_SIGN_H
#define CONFETTI_AUTHN_SIGN_H

#include <stddef.h>
#include <stdint.h>

#include "authn/keyset.h"
#include "base/status.h"

typedef struct authn_signer authn_signer;

/* The claims of one token. Strings are borrowed for the call. */
typedef struct authn_claims {
    const char *iss;          /* required */
    const char *aud;          /* required */
    const char *sub;          /* required */
    const char *sid;          /* optional */
    const char *jti;          /* NULL: a new CUID */
    int64_t iat;              /* 0: now (wall clock) */
    int64_t ttl_seconds;      /* > 0: exp = iat + ttl_seconds */
    const char *const *roles; /* optional, nroles strings, e.g. {"admin"} */
    size_t nroles;
    const char *scope; /* optional, space-separated */
} authn_claims;

/* Creates a signer from a PEM private key (PKCS#8 or traditional) for alg "RS256" (RSA >= 2048
 * bits) or "ES256" (P-256), published under kid. INVALID_ARGUMENT if the PEM does not parse, is
 * not private, does not fit alg, or kid is empty/too long. Copies everything. Caller frees. */
cf_code authn_signer_new_pem(const char *private_pem, const char *kid, const char *alg,
                             authn_signer **out);

/* Frees the signer (wipes its copy of the PEM). NULL is a no-op. */
void authn_signer_free(authn_signer *s);

/* Signs claims into a compact JWS (header alg, typ "JWT", kid). *token_out is a new string the
 * caller frees. INVALID_ARGUMENT for missing iss/aud/sub or ttl <= 0; INTERNAL if libjwt fails.
 * CPU-bound: RS256 costs ~0.3 ms (libjwt parses the PEM on every call). */
cf_code authn_sign(authn_signer *s, const authn_claims *claims, char **token_out);

/* The public JWKS of this signer, {"keys":[{kty, kid, alg, use, n/e or crv/x/y}]}, in the format
 * authn_keyset_load_json reads. *json_out is a new string the caller frees. */
cf_code authn_signer_jwks(authn_signer *s, char **json_out);

/* The signer's kid and algorithm (borrowed). */
const char *authn_signer_kid(const authn_signer *s);
authn_alg authn_signer_alg(const authn_signer *s);

/* Generates a private key for alg ("RS256": RSA 2048; "ES256": P-256) as PKCS#8 PEM in a new
 * string the caller frees (wipe it). INVALID_ARGUMENT for another alg. RSA takes ~50-100 ms. */
cf_code authn_generate_key(const char *alg, char **private_pem_out);

/* The public key of a private PEM, as SubjectPublicKeyInfo PEM in a new string. For tests and
 * tools (e.g. to show what libjwt would do with it). INVALID_ARGUMENT if the PEM does not parse. */
cf_code authn_public_pem(const char *private_pem, char **public_pem_out);

#endif
