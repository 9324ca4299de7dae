/* keys.c — confetti-auth's signing keys: "kid=path" entries from signing.keys, the first one
 * current (it signs), the others only published in the JWKS so tokens they signed keep
 * verifying until they expire (rotation without logging anyone out). */
#include "auth.h"
#include "base/xmalloc.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct auth_keys {
    authn_signer **signers;
    size_t n;
    char *jwks;
};

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *buf = xmalloc(65536);
    size_t n = fread(buf, 1, 65535, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* "RS256" for an RSA key, "ES256" for an EC key, NULL otherwise. */
static const char *alg_of(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
    BIO_free(b);
    if (!k)
        return NULL;
    const char *alg = EVP_PKEY_base_id(k) == EVP_PKEY_RSA  ? "RS256"
                      : EVP_PKEY_base_id(k) == EVP_PKEY_EC ? "ES256"
                                                           : NULL;
    EVP_PKEY_free(k);
    return alg;
}

cf_code auth_keys_load(const cfg_strlist *entries, auth_keys **out, char *err, size_t errlen)
{
    if (entries->n == 0) {
        snprintf(err, errlen, "signing.keys: at least one \"kid=path\" entry is required");
        return CF_INVALID_ARGUMENT;
    }
    auth_keys *k = xcalloc(1, sizeof *k);
    k->signers = xcalloc(entries->n, sizeof *k->signers);
    json_t *keys = json_array();
    cf_code code = CF_OK;
    for (size_t i = 0; i < entries->n && code == CF_OK; i++) {
        const char *e = entries->items[i], *eq = strchr(e, '=');
        if (!eq || eq == e || !eq[1]) {
            snprintf(err, errlen, "signing.keys[%zu]: want \"kid=path\"", i);
            code = CF_INVALID_ARGUMENT;
            break;
        }
        char *kid = xstrndup(e, (size_t)(eq - e));
        char *pem = slurp(eq + 1);
        const char *alg = pem ? alg_of(pem) : NULL;
        if (!pem || !alg || authn_signer_new_pem(pem, kid, alg, &k->signers[k->n]) != CF_OK) {
            snprintf(err, errlen, "signing.keys[%zu]: %s: %s", i, eq + 1,
                     !pem ? "cannot read" : "not an RSA (2048+) or P-256 private key");
            code = CF_INVALID_ARGUMENT;
        } else {
            char *doc = NULL;
            authn_signer_jwks(k->signers[k->n++], &doc);
            json_t *j = json_loads(doc, 0, NULL);
            json_array_extend(keys, json_object_get(j, "keys"));
            json_decref(j);
            free(doc);
        }
        if (pem) {
            memset(pem, 0, strlen(pem));
            free(pem);
        }
        free(kid);
    }
    if (code != CF_OK) {
        json_decref(keys);
        auth_keys_free(k);
        return code;
    }
    json_t *doc = json_pack("{s:o}", "keys", keys);
    k->jwks = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    *out = k;
    return CF_OK;
}

void auth_keys_free(auth_keys *k)
{
    if (!k)
        return;
    for (size_t i = 0; i < k->n; i++)
        authn_signer_free(k->signers[i]);
    free(k->signers);
    free(k->jwks);
    free(k);
}

cf_code auth_keys_sign(auth_keys *k, const authn_claims *c, char **token)
{
    return authn_sign(k->signers[0], c, token);
}

const char *auth_keys_jwks(const auth_keys *k)
{
    return k->jwks;
}
