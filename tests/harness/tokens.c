/* tokens.c — test key pairs and token minting (see tokens.h). */
#include "tokens.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "base/b64url.h"
#include "base/cuid.h"
#include "base/xmalloc.h"

struct th_keys {
    authn_alg alg;
    char *private_pem;
    char *public_pem;
    char *jwks;
    char kid[64];
    authn_signer *signer;
    authn_keyset *keyset;
    EVP_PKEY *pkey; /* private, for raw signatures */
};

static void die(const char *what)
{
    fprintf(stderr, "tokens harness: %s\n", what);
    abort();
}

th_keys *th_keys_new(const char *alg)
{
    th_keys *k = xcalloc(1, sizeof *k);
    if (!authn_alg_parse(alg, &k->alg))
        die("unknown alg");
    char cuid[CUID_LEN + 1];
    cuid_new(cuid);
    snprintf(k->kid, sizeof k->kid, "test-%s-%s", alg, cuid);
    if (authn_generate_key(alg, &k->private_pem) != CF_OK ||
        authn_public_pem(k->private_pem, &k->public_pem) != CF_OK ||
        authn_signer_new_pem(k->private_pem, k->kid, alg, &k->signer) != CF_OK ||
        authn_signer_jwks(k->signer, &k->jwks) != CF_OK || authn_keyset_new(&k->keyset) != CF_OK)
        die("key setup failed");
    char err[256];
    if (authn_keyset_load_json(k->keyset, k->jwks, strlen(k->jwks), err, sizeof err) != CF_OK)
        die(err);
    BIO *bio = BIO_new_mem_buf(k->private_pem, -1);
    k->pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (!k->pkey)
        die("cannot reload the private key");
    return k;
}

void th_keys_free(th_keys *k)
{
    if (!k)
        return;
    authn_keyset_free(k->keyset);
    authn_signer_free(k->signer);
    EVP_PKEY_free(k->pkey);
    free(k->private_pem);
    free(k->public_pem);
    free(k->jwks);
    free(k);
}

authn_keyset *th_keys_keyset(th_keys *k)
{
    return k->keyset;
}

authn_signer *th_keys_signer(th_keys *k)
{
    return k->signer;
}

const char *th_keys_kid(th_keys *k)
{
    return k->kid;
}

const char *th_keys_jwks(th_keys *k)
{
    return k->jwks;
}

const char *th_keys_private_pem(th_keys *k)
{
    return k->private_pem;
}

const char *th_keys_public_pem(th_keys *k)
{
    return k->public_pem;
}

authn_config th_keys_config(th_keys *k)
{
    (void)k;
    authn_config c = AUTHN_CONFIG_INIT;
    c.issuer = TH_ISSUER;
    c.audience = TH_AUDIENCE;
    return c;
}

authn_verifier *th_verifier_new(th_keys *k, const cf_clock *clock)
{
    authn_config c = th_keys_config(k);
    c.clock = clock;
    authn_verifier *v;
    if (authn_verifier_new(&c, k->keyset, &v) != CF_OK)
        die("verifier setup failed");
    return v;
}

char *th_token_claims(th_keys *k, const authn_claims *claims)
{
    authn_claims c = *claims;
    if (!c.iss)
        c.iss = TH_ISSUER;
    if (!c.aud)
        c.aud = TH_AUDIENCE;
    char *tok;
    if (authn_sign(k->signer, &c, &tok) != CF_OK)
        die("signing failed");
    return tok;
}

char *th_token(th_keys *k, const char *sub, int ttl_s, bool admin)
{
    static const char *const admin_roles[] = {"admin"};
    authn_claims c = {.sub = sub, .sid = "sess-1", .ttl_seconds = ttl_s};
    if (admin) {
        c.roles = admin_roles;
        c.nroles = 1;
    }
    return th_token_claims(k, &c);
}

/* ES256 signatures travel as r||s, 32 bytes each; OpenSSL produces DER. */
static size_t der_to_raw(const unsigned char *der, size_t len, unsigned char *raw)
{
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &der, (long)len);
    if (!es)
        die("bad DER signature");
    BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + 32, 32);
    ECDSA_SIG_free(es);
    return 64;
}

char *th_token_raw(th_keys *k, const char *header_json, const char *payload_json)
{
    char *h = b64url_encode_new(header_json, strlen(header_json));
    char *p = b64url_encode_new(payload_json, strlen(payload_json));
    char *input = xasprintf("%s.%s", h, p);
    free(h);
    free(p);
    unsigned char sig[1024], raw[64];
    size_t sig_len = sizeof sig;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, k->pkey) != 1 ||
        EVP_DigestSign(ctx, sig, &sig_len, (const unsigned char *)input, strlen(input)) != 1)
        die("raw signing failed");
    EVP_MD_CTX_free(ctx);
    const unsigned char *s = sig;
    if (k->alg == AUTHN_ALG_ES256) {
        sig_len = der_to_raw(sig, sig_len, raw);
        s = raw;
    }
    char *sb = b64url_encode_new(s, sig_len);
    char *tok = xasprintf("%s.%s", input, sb);
    free(sb);
    free(input);
    return tok;
}

char *th_jwks_merge(th_keys *a, th_keys *b)
{
    json_t *da = json_loads(a->jwks, 0, NULL), *db = json_loads(b->jwks, 0, NULL);
    if (!da || !db)
        die("bad JWKS");
    json_array_extend(json_object_get(da, "keys"), json_object_get(db, "keys"));
    char *s = json_dumps(da, JSON_COMPACT);
    char *out = xstrdup(s);
    free(s);
    json_decref(da);
    json_decref(db);
    return out;
}
