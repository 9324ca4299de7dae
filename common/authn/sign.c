/* sign.c — minting access tokens with libjwt (the mandated JWT library), the signer's public
 * JWKS, and key generation. Signing happens at login and refresh only, so libjwt re-parsing the
 * PEM on every call is acceptable here, unlike on the verify path. */
#include <stdlib.h>
#include <string.h>

#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>

#include "authn/internal.h"
#include "authn/sign.h"
#include "base/clock.h"
#include "base/cuid.h"
#include "base/xmalloc.h"

struct authn_signer {
    char *pem; /* the private key, as libjwt wants it on each call */
    size_t pem_len;
    char kid[AUTHN_KID_MAX + 1];
    authn_alg alg;
    EVP_PKEY *pkey; /* parsed once, for the JWKS and the key/alg check */
};

static EVP_PKEY *pem_private(const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    return pkey;
}

cf_code authn_signer_new_pem(const char *private_pem, const char *kid, const char *alg,
                             authn_signer **out)
{
    authn_alg a;
    if (!private_pem || !kid || !*kid || strlen(kid) > AUTHN_KID_MAX || !alg ||
        !authn_alg_parse(alg, &a))
        return CF_INVALID_ARGUMENT;
    EVP_PKEY *pkey = pem_private(private_pem);
    if (!pkey)
        return CF_INVALID_ARGUMENT;
    if (pkey_fits_alg(pkey, a)) {
        EVP_PKEY_free(pkey);
        return CF_INVALID_ARGUMENT;
    }
    authn_signer *s = xcalloc(1, sizeof *s);
    s->pem = xstrdup(private_pem);
    s->pem_len = strlen(private_pem);
    memcpy(s->kid, kid, strlen(kid) + 1);
    s->alg = a;
    s->pkey = pkey;
    *out = s;
    return CF_OK;
}

void authn_signer_free(authn_signer *s)
{
    if (!s)
        return;
    OPENSSL_cleanse(s->pem, s->pem_len);
    free(s->pem);
    EVP_PKEY_free(s->pkey);
    free(s);
}

const char *authn_signer_kid(const authn_signer *s)
{
    return s->kid;
}

authn_alg authn_signer_alg(const authn_signer *s)
{
    return s->alg;
}

/* Adds every claim to jwt; false if libjwt refuses one. */
static bool add_claims(jwt_t *jwt, const authn_claims *c, const char *jti, int64_t iat)
{
    bool ok = jwt_add_grant(jwt, "iss", c->iss) == 0 && jwt_add_grant(jwt, "aud", c->aud) == 0 &&
              jwt_add_grant(jwt, "sub", c->sub) == 0 && jwt_add_grant(jwt, "jti", jti) == 0 &&
              jwt_add_grant_int(jwt, "iat", (long)iat) == 0 &&
              jwt_add_grant_int(jwt, "exp", (long)(iat + c->ttl_seconds)) == 0;
    if (ok && c->sid)
        ok = jwt_add_grant(jwt, "sid", c->sid) == 0;
    if (ok && c->scope)
        ok = jwt_add_grant(jwt, "scope", c->scope) == 0;
    if (ok && c->nroles) {
        /* libjwt has no array setter: hand it a JSON object built with jansson. */
        json_t *roles = json_array();
        for (size_t i = 0; i < c->nroles; i++)
            json_array_append_new(roles, json_string(c->roles[i]));
        json_t *obj = json_pack("{s:o}", "roles", roles);
        char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
        ok = text && json_array_size(roles) == c->nroles && jwt_add_grants_json(jwt, text) == 0;
        free(text);
        json_decref(obj);
    }
    return ok;
}

cf_code authn_sign(authn_signer *s, const authn_claims *c, char **token_out)
{
    if (!c || !c->iss || !c->aud || !c->sub || !*c->sub || c->ttl_seconds <= 0)
        return CF_INVALID_ARGUMENT;
    char cuid[CUID_LEN + 1];
    const char *jti = c->jti;
    if (!jti) {
        cuid_new(cuid);
        jti = cuid;
    }
    int64_t iat = c->iat ? c->iat : cf_wall_ms() / 1000;
    jwt_t *jwt = NULL;
    cf_code rc = CF_INTERNAL;
    jwt_alg_t alg = s->alg == AUTHN_ALG_ES256 ? JWT_ALG_ES256 : JWT_ALG_RS256;
    if (jwt_new(&jwt) == 0 && add_claims(jwt, c, jti, iat) &&
        jwt_add_header(jwt, "kid", s->kid) == 0 &&
        jwt_set_alg(jwt, alg, (const unsigned char *)s->pem, (int)s->pem_len) == 0) {
        char *tok = jwt_encode_str(jwt);
        if (tok) {
            *token_out = xstrdup(tok);
            free(tok);
            rc = CF_OK;
        }
    }
    jwt_free(jwt);
    return rc;
}

cf_code authn_signer_jwks(authn_signer *s, char **json_out)
{
    json_t *jwk = jwk_from_pkey(s->pkey, s->kid, s->alg);
    if (!jwk)
        return CF_INTERNAL;
    json_t *doc = json_pack("{s:[o]}", "keys", jwk);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!text)
        return CF_INTERNAL;
    *json_out = xstrdup(text);
    free(text);
    return CF_OK;
}

/* Writes pkey with write() into a new NUL-terminated string. */
static char *bio_string(EVP_PKEY *pkey, int (*write)(BIO *, const EVP_PKEY *))
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *out = NULL;
    if (bio && write(bio, pkey) == 1) {
        char *data;
        long n = BIO_get_mem_data(bio, &data);
        out = xstrndup(data, (size_t)n);
    }
    BIO_free(bio);
    return out;
}

static int write_private(BIO *bio, const EVP_PKEY *pkey)
{
    return PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL);
}

static int write_public(BIO *bio, const EVP_PKEY *pkey)
{
    return PEM_write_bio_PUBKEY(bio, pkey);
}

cf_code authn_generate_key(const char *alg, char **private_pem_out)
{
    authn_alg a;
    if (!alg || !authn_alg_parse(alg, &a))
        return CF_INVALID_ARGUMENT;
    EVP_PKEY *pkey = a == AUTHN_ALG_RS256 ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048)
                                          : EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (!pkey)
        return CF_INTERNAL;
    char *pem = bio_string(pkey, write_private);
    EVP_PKEY_free(pkey);
    if (!pem)
        return CF_INTERNAL;
    *private_pem_out = pem;
    return CF_OK;
}

cf_code authn_public_pem(const char *private_pem, char **public_pem_out)
{
    EVP_PKEY *pkey = private_pem ? pem_private(private_pem) : NULL;
    if (!pkey)
        return CF_INVALID_ARGUMENT;
    char *pem = bio_string(pkey, write_public);
    EVP_PKEY_free(pkey);
    if (!pem)
        return CF_INTERNAL;
    *public_pem_out = pem;
    return CF_OK;
}
