/* jwk.c — one JWK (RFC 7518 §6) to a checked OpenSSL public key, and back for publishing. */
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>

#include "base/b64url.h"
#include "authn/internal.h"

/* RSA moduli accepted, in bits: below 2048 is breakable, above 8192 only costs. */
#define RSA_BITS_MIN 2048
#define RSA_BITS_MAX 8192
#define P256_COORD   32

jstr_result jstr_get(json_t *obj, const char *key, size_t cap, const char **out)
{
    json_t *j = json_object_get(obj, key);
    if (!j)
        return JSTR_ABSENT;
    if (!json_is_string(j))
        return JSTR_BAD;
    const char *s = json_string_value(j);
    size_t n = json_string_length(j);
    /* An embedded NUL would make strcmp see a different string than the signer meant. */
    if (n >= cap || strlen(s) != n)
        return JSTR_BAD;
    *out = s;
    return JSTR_OK;
}

/* Decodes obj[key] (base64url) into buf of cap bytes. */
static bool jwk_number(json_t *obj, const char *key, unsigned char *buf, size_t cap, size_t *len)
{
    const char *s;
    if (jstr_get(obj, key, cap / 3 * 4 + 4, &s) != JSTR_OK)
        return false;
    size_t n = strlen(s);
    if (n == 0 || b64url_decoded_max(n) > cap)
        return false;
    return b64url_decode(s, n, buf, len) && *len > 0;
}

const char *pkey_fits_alg(EVP_PKEY *pkey, authn_alg alg)
{
    if (alg == AUTHN_ALG_RS256) {
        if (!EVP_PKEY_is_a(pkey, "RSA"))
            return "RS256 needs an RSA key";
        int bits = EVP_PKEY_get_bits(pkey);
        if (bits < RSA_BITS_MIN || bits > RSA_BITS_MAX)
            return "RSA modulus outside 2048..8192 bits";
        return NULL;
    }
    if (alg == AUTHN_ALG_ES256) {
        char group[64];
        size_t glen = 0;
        if (!EVP_PKEY_is_a(pkey, "EC"))
            return "ES256 needs an EC key";
        if (!EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                            &glen) ||
            strcmp(group, "prime256v1") != 0)
            return "ES256 needs curve P-256";
        return NULL;
    }
    return "unsupported alg";
}

/* Builds a public key of `type` from params and runs OpenSSL's public-key checks on it. */
static EVP_PKEY *pkey_from_params(const char *type, OSSL_PARAM_BLD *bld)
{
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
        pkey = NULL;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    if (!pkey)
        return NULL;
    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    bool ok = ctx && EVP_PKEY_public_check(ctx) == 1;
    EVP_PKEY_CTX_free(ctx);
    if (!ok) {
        EVP_PKEY_free(pkey);
        return NULL;
    }
    return pkey;
}

static const char *rsa_key(json_t *jwk, EVP_PKEY **out)
{
    unsigned char n[RSA_BITS_MAX / 8 + 3], e[16];
    size_t nlen, elen;
    if (!jwk_number(jwk, "n", n, sizeof n, &nlen) || !jwk_number(jwk, "e", e, sizeof e, &elen))
        return "RSA key without valid n/e";
    BIGNUM *bn = BN_bin2bn(n, (int)nlen, NULL), *be = BN_bin2bn(e, (int)elen, NULL);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    EVP_PKEY *pkey = NULL;
    if (bn && be && bld && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be))
        pkey = pkey_from_params("RSA", bld);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn);
    BN_free(be);
    if (!pkey)
        return "RSA key rejected by OpenSSL";
    *out = pkey;
    return NULL;
}

static const char *ec_key(json_t *jwk, EVP_PKEY **out)
{
    const char *crv;
    if (jstr_get(jwk, "crv", 16, &crv) != JSTR_OK || strcmp(crv, "P-256") != 0)
        return "EC key not on P-256";
    /* Uncompressed point: 0x04 || x || y, each coordinate exactly 32 bytes (RFC 7518 §6.2.1.2). */
    unsigned char pt[1 + 2 * P256_COORD], x[P256_COORD + 4], y[P256_COORD + 4];
    size_t xlen, ylen;
    if (!jwk_number(jwk, "x", x, sizeof x, &xlen) || !jwk_number(jwk, "y", y, sizeof y, &ylen) ||
        xlen != P256_COORD || ylen != P256_COORD)
        return "EC key without valid x/y";
    pt[0] = 0x04;
    memcpy(pt + 1, x, P256_COORD);
    memcpy(pt + 1 + P256_COORD, y, P256_COORD);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    EVP_PKEY *pkey = NULL;
    if (bld && OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) &&
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof pt))
        pkey = pkey_from_params("EC", bld);
    OSSL_PARAM_BLD_free(bld);
    if (!pkey)
        return "EC point rejected by OpenSSL";
    *out = pkey;
    return NULL;
}

const char *jwk_to_key(json_t *jwk, authn_key *key)
{
    const char *kid, *kty, *use, *alg_name;
    memset(key, 0, sizeof *key);
    if (jstr_get(jwk, "kid", AUTHN_KID_MAX + 1, &kid) != JSTR_OK || !*kid)
        return "no usable kid";
    memcpy(key->kid, kid, strlen(kid) + 1);
    if (jstr_get(jwk, "kty", 16, &kty) != JSTR_OK)
        return "no kty";
    jstr_result r = jstr_get(jwk, "use", 16, &use);
    if (r == JSTR_BAD || (r == JSTR_OK && strcmp(use, "sig") != 0))
        return "use is not sig";
    if (json_object_get(jwk, "d") || json_object_get(jwk, "p"))
        return "private key material in a public JWKS";

    authn_alg by_kty;
    if (strcmp(kty, "RSA") == 0)
        by_kty = AUTHN_ALG_RS256;
    else if (strcmp(kty, "EC") == 0)
        by_kty = AUTHN_ALG_ES256;
    else
        return "unsupported kty";
    r = jstr_get(jwk, "alg", 16, &alg_name);
    if (r == JSTR_BAD)
        return "alg is not a string";
    if (r == JSTR_OK) {
        authn_alg a;
        if (!authn_alg_parse(alg_name, &a))
            return "unsupported alg";
        if (a != by_kty)
            return "alg does not fit kty";
    }
    key->alg = by_kty;

    EVP_PKEY *pkey = NULL;
    const char *why = by_kty == AUTHN_ALG_RS256 ? rsa_key(jwk, &pkey) : ec_key(jwk, &pkey);
    if (why)
        return why;
    why = pkey_fits_alg(pkey, by_kty);
    if (why) {
        EVP_PKEY_free(pkey);
        return why;
    }
    key->pkey = pkey;
    key->sig_len = by_kty == AUTHN_ALG_RS256 ? (size_t)EVP_PKEY_get_size(pkey) : 2 * P256_COORD;
    return NULL;
}

/* base64url of a big number's bytes, left-padded to width bytes (0 = minimal). */
static json_t *bn_b64(EVP_PKEY *pkey, const char *param, int width)
{
    BIGNUM *bn = NULL;
    if (!EVP_PKEY_get_bn_param(pkey, param, &bn))
        return NULL;
    unsigned char buf[RSA_BITS_MAX / 8 + 1];
    int n = width ? BN_bn2binpad(bn, buf, width) : BN_bn2bin(bn, buf);
    BN_free(bn);
    if (n <= 0)
        return NULL;
    char out[sizeof buf / 3 * 4 + 8];
    b64url_encode(out, buf, (size_t)n);
    return json_string(out);
}

json_t *jwk_from_pkey(EVP_PKEY *pkey, const char *kid, authn_alg alg)
{
    if (pkey_fits_alg(pkey, alg))
        return NULL;
    json_t *k = json_object();
    json_object_set_new(k, "kid", json_string(kid));
    json_object_set_new(k, "alg", json_string(authn_alg_name(alg)));
    json_object_set_new(k, "use", json_string("sig"));
    json_t *a, *b;
    if (alg == AUTHN_ALG_RS256) {
        json_object_set_new(k, "kty", json_string("RSA"));
        a = bn_b64(pkey, OSSL_PKEY_PARAM_RSA_N, 0);
        b = bn_b64(pkey, OSSL_PKEY_PARAM_RSA_E, 0);
        json_object_set_new(k, "n", a ? a : json_null());
        json_object_set_new(k, "e", b ? b : json_null());
    } else {
        json_object_set_new(k, "kty", json_string("EC"));
        json_object_set_new(k, "crv", json_string("P-256"));
        a = bn_b64(pkey, OSSL_PKEY_PARAM_EC_PUB_X, P256_COORD);
        b = bn_b64(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, P256_COORD);
        json_object_set_new(k, "x", a ? a : json_null());
        json_object_set_new(k, "y", b ? b : json_null());
    }
    if (!a || !b) {
        json_decref(k);
        return NULL;
    }
    return k;
}
