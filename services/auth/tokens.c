/* tokens.c — hashing and the deterministic derivations of confetti-auth's secrets.
 *
 * Why derive instead of store: the refresh grace must answer the *same* new pair to the
 * immediately previous token without the database holding any plaintext token. The successor of
 * a refresh token is HMAC(secret, "refresh:" || token): anyone presenting the previous token
 * inside the grace gets it recomputed, and the database keeps only SHA-256 hashes. The same
 * secret derives the PKCE verifier and the nonce of a login from its state, so nothing about a
 * login in flight but the state's hash is stored. */
#include "auth.h"
#include "base/b64url.h"

#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>

void auth_sha256_hex(const char *s, char out[65])
{
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)s, strlen(s), d);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

void auth_derive(const char *secret, const char *label, const char *input, char out[44])
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(mac);
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", "SHA256", 0),
                           OSSL_PARAM_construct_end()};
    size_t len = 0;
    EVP_MAC_init(ctx, (const unsigned char *)secret, strlen(secret), params);
    EVP_MAC_update(ctx, (const unsigned char *)label, strlen(label));
    EVP_MAC_update(ctx, (const unsigned char *)":", 1);
    EVP_MAC_update(ctx, (const unsigned char *)input, strlen(input));
    EVP_MAC_final(ctx, d, &len, sizeof d);
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    n = (unsigned int)len;
    b64url_encode(out, d, n); /* 32 bytes → 43 characters */
}
