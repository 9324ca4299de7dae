/* verify.c — access-token verification: structure, header, signature, claims, in that order, so
 * nothing a forger controls reaches a crypto library before the algorithm is pinned by our key.
 * libjwt is deliberately not used here: 1.x verifies an HS256 token with an RSA public key as the
 * HMAC secret, and parses the PEM key on every call (STACK.md). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bn.h>
#include <openssl/ecdsa.h>

#include "base/b64url.h"
#include "authn/internal.h"
#include "base/xmalloc.h"

/* Largest signature decoded: an 8192-bit RSA signature. */
#define SIG_MAX 1024

struct authn_verifier {
    char *issuer;
    char *audience;
    int64_t leeway;
    const cf_clock *clock;
    cf_clock real_clock; /* used when the config gives none */
    authn_keyset *ks;    /* borrowed */
    EVP_MD *sha256;      /* fetched once: implicit fetches cost on every call */
    tcache *cache;
    denyset *deny;
    atomic_bool synced; /* false while a revocation source has not been loaded (held) */
    atomic_uint_fast64_t hits, misses;
};

cf_code authn_verifier_new(const authn_config *cfg, authn_keyset *ks, authn_verifier **out)
{
    if (!cfg || !ks || !cfg->issuer || !*cfg->issuer || !cfg->audience || !*cfg->audience ||
        cfg->leeway_seconds < 0 || cfg->leeway_seconds > AUTHN_LEEWAY_MAX ||
        cfg->cache_entries > AUTHN_CACHE_MAX)
        return CF_INVALID_ARGUMENT;
    EVP_MD *md = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (!md)
        return CF_INTERNAL;
    authn_verifier *v = xcalloc(1, sizeof *v);
    v->issuer = xstrdup(cfg->issuer);
    v->audience = xstrdup(cfg->audience);
    v->leeway = cfg->leeway_seconds;
    v->real_clock = (cf_clock)CF_CLOCK_REAL;
    v->clock = cfg->clock ? cfg->clock : &v->real_clock;
    v->ks = ks;
    v->sha256 = md;
    v->cache = tcache_new(cfg->cache_entries);
    v->deny = denyset_new();
    atomic_init(&v->synced, true);
    atomic_init(&v->hits, 0);
    atomic_init(&v->misses, 0);
    *out = v;
    return CF_OK;
}

void authn_verifier_free(authn_verifier *v)
{
    if (!v)
        return;
    tcache_free(v->cache);
    denyset_free(v->deny);
    EVP_MD_free(v->sha256);
    free(v->issuer);
    free(v->audience);
    free(v);
}

/* Checks the header; on success *kid points into hdr and *alg is the accepted algorithm. */
static const char *check_header(json_t *hdr, const char **kid, authn_alg *alg)
{
    const char *alg_name, *typ;
    if (!json_is_object(hdr))
        return "header is not a JSON object";
    if (jstr_get(hdr, "alg", 16, &alg_name) != JSTR_OK)
        return "header has no alg";
    if (!authn_alg_parse(alg_name, alg))
        return "alg not accepted";
    if (jstr_get(hdr, "kid", AUTHN_KID_MAX + 1, kid) != JSTR_OK)
        return "header has no usable kid";
    jstr_result r = jstr_get(hdr, "typ", 16, &typ);
    if (r == JSTR_BAD ||
        (r == JSTR_OK && strcasecmp(typ, "JWT") != 0 && strcasecmp(typ, "at+jwt") != 0))
        return "typ is not JWT";
    /* RFC 7515 §4.1.11: extensions we do not understand must not be ignored. */
    if (json_object_get(hdr, "crit"))
        return "crit header not supported";
    return NULL;
}

/* JWS ES256 signatures are r||s (RFC 7518 §3.4); OpenSSL wants DER. */
static bool es256_to_der(const unsigned char *sig, unsigned char *der, size_t cap, size_t *len)
{
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
    if (!es || !r || !s || !ECDSA_SIG_set0(es, r, s)) {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(es);
        return false;
    }
    int n = i2d_ECDSA_SIG(es, NULL);
    bool ok = n > 0 && (size_t)n <= cap;
    if (ok) {
        unsigned char *p = der;
        *len = (size_t)i2d_ECDSA_SIG(es, &p);
    }
    ECDSA_SIG_free(es);
    return ok;
}

static bool check_signature(const authn_verifier *v, const authn_key *key, const char *input,
                            size_t input_len, const unsigned char *sig, size_t sig_len)
{
    unsigned char der[80];
    if (key->alg == AUTHN_ALG_ES256) {
        if (!es256_to_der(sig, der, sizeof der, &sig_len))
            return false;
        sig = der;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx && EVP_DigestVerifyInit(ctx, NULL, v->sha256, NULL, key->pkey) == 1 &&
              EVP_DigestVerify(ctx, sig, sig_len, (const unsigned char *)input, input_len) == 1;
    EVP_MD_CTX_free(ctx);
    return ok;
}

/* Copies an optional string claim into dst[cap]; oversized or non-string is an error. */
static bool copy_claim(json_t *claims, const char *name, char *dst, size_t cap)
{
    const char *s;
    jstr_result r = jstr_get(claims, name, cap, &s);
    if (r == JSTR_OK)
        memcpy(dst, s, strlen(s) + 1);
    return r != JSTR_BAD;
}

static bool str_is(json_t *j, const char *want)
{
    return json_is_string(j) && json_string_length(j) == strlen(want) &&
           strcmp(json_string_value(j), want) == 0;
}

/* aud is one string or an array of strings (RFC 7519 §4.1.3). */
static bool aud_matches(json_t *aud, const char *want)
{
    if (!json_is_array(aud))
        return str_is(aud, want);
    size_t i;
    json_t *a;
    json_array_foreach(aud, i, a)
    {
        if (str_is(a, want))
            return true;
    }
    return false;
}

static const char *check_claims(const authn_verifier *v, json_t *c, int64_t now,
                                authn_identity *out)
{
    if (!json_is_object(c))
        return "claims are not a JSON object";
    /* Times are compared by moving `now`, never by adding to a claim (no overflow on huge
     * values). */
    json_t *exp = json_object_get(c, "exp"), *nbf = json_object_get(c, "nbf"),
           *iat = json_object_get(c, "iat");
    if (!json_is_integer(exp))
        return "no integer exp";
    if (json_integer_value(exp) <= now - v->leeway)
        return "token expired";
    if (nbf && (!json_is_integer(nbf) || json_integer_value(nbf) > now + v->leeway))
        return "token not yet valid";
    if (iat && (!json_is_integer(iat) || json_integer_value(iat) > now + v->leeway))
        return "token issued in the future";
    const char *iss;
    if (jstr_get(c, "iss", 1024, &iss) != JSTR_OK || strcmp(iss, v->issuer) != 0)
        return "wrong issuer";
    if (!aud_matches(json_object_get(c, "aud"), v->audience))
        return "wrong audience";
    const char *sub;
    if (jstr_get(c, "sub", sizeof out->sub, &sub) != JSTR_OK || !*sub)
        return "no usable sub";
    memcpy(out->sub, sub, strlen(sub) + 1);
    if (!copy_claim(c, "sid", out->sid, sizeof out->sid) ||
        !copy_claim(c, "jti", out->jti, sizeof out->jti) ||
        !copy_claim(c, "scope", out->scopes, sizeof out->scopes))
        return "oversized or malformed sid/jti/scope";
    json_t *roles = json_object_get(c, "roles");
    if (roles) {
        if (!json_is_array(roles))
            return "roles is not an array";
        size_t i;
        json_t *r;
        json_array_foreach(roles, i, r)
        {
            if (!json_is_string(r))
                return "roles holds a non-string";
            if (str_is(r, "admin"))
                out->is_admin = true;
        }
    }
    out->exp = json_integer_value(exp);
    out->is_app = strncmp(out->sub, "app:", 4) == 0;
    return NULL;
}

/* Decodes one part into buf (cap bytes) and parses it as JSON. NULL if either fails. */
static json_t *decode_json(const char *part, size_t n, unsigned char *buf, size_t cap)
{
    size_t len;
    if (b64url_decoded_max(n) > cap || !b64url_decode(part, n, buf, &len))
        return NULL;
    return json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, NULL);
}

/* The verification proper; returns NULL on success or the reason for refusing. */
static const char *verify(authn_verifier *v, const char *token, authn_identity *out)
{
    if (!token)
        return "no token";
    size_t len = strnlen(token, AUTHN_TOKEN_MAX + 1);
    if (len == 0)
        return "empty token";
    if (len > AUTHN_TOKEN_MAX)
        return "token too long";
    int64_t now = v->clock->now(v->clock);

    unsigned char digest[32];
    if (v->cache) {
        if (!EVP_Digest(token, len, digest, NULL, v->sha256, NULL))
            return "internal hash failure";
        if (tcache_get(v->cache, digest, keyset_generation(v->ks), now, v->leeway, out)) {
            atomic_fetch_add_explicit(&v->hits, 1, memory_order_relaxed);
            return denyset_has_any(v->deny, out->jti, out->sid, now) ? "token revoked" : NULL;
        }
    }
    atomic_fetch_add_explicit(&v->misses, 1, memory_order_relaxed);

    const char *d1 = memchr(token, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token)) : NULL;
    if (!d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token)))
        return "not three parts";
    size_t hlen = (size_t)(d1 - token), plen = (size_t)(d2 - d1 - 1),
           slen = len - (size_t)(d2 + 1 - token);
    if (hlen == 0 || plen == 0 || slen == 0)
        return "empty part";

    unsigned char buf[AUTHN_TOKEN_MAX / 4 * 3 + 4];
    json_t *hdr = decode_json(token, hlen, buf, sizeof buf);
    if (!hdr)
        return "header is not base64url JSON";
    const char *kid;
    authn_alg alg;
    const char *why = check_header(hdr, &kid, &alg);

    authn_keys *keys = NULL;
    const authn_key *key = NULL;
    if (!why) {
        keys = keyset_acquire(v->ks);
        key = keys_find(keys, kid);
        if (!key)
            why = AUTHN_REASON_UNKNOWN_KID;
        else if (key->alg != alg)
            why = "alg does not match the key's";
    }
    json_decref(hdr);

    unsigned char sig[SIG_MAX + 4];
    size_t sig_len = 0;
    if (!why &&
        (b64url_decoded_max(slen) > sizeof sig || !b64url_decode(d2 + 1, slen, sig, &sig_len)))
        why = "signature is not base64url";
    if (!why && sig_len != key->sig_len)
        why = "signature has the wrong length";
    if (!why && !check_signature(v, key, token, (size_t)(d2 - token), sig, sig_len))
        why = "bad signature";
    uint64_t gen = keys ? keys->gen : 0;
    keys_release(keys);
    if (why)
        return why;

    json_t *claims = decode_json(d1 + 1, plen, buf, sizeof buf);
    if (!claims)
        return "payload is not base64url JSON";
    why = check_claims(v, claims, now, out);
    json_decref(claims);
    if (why)
        return why;
    if (denyset_has_any(v->deny, out->jti, out->sid, now))
        return "token revoked";
    if (v->cache)
        tcache_put(v->cache, digest, gen, out);
    return NULL;
}

cf_code authn_verify(authn_verifier *v, const char *token, authn_identity *out, const char **reason)
{
    memset(out, 0, sizeof *out);
    if (!atomic_load_explicit(&v->synced, memory_order_acquire)) {
        if (reason)
            *reason = AUTHN_REASON_NOT_SYNCED;
        return CF_UNAVAILABLE;
    }
    const char *why = verify(v, token, out);
    if (reason)
        *reason = why;
    if (why) {
        memset(out, 0, sizeof *out);
        return CF_UNAUTHENTICATED;
    }
    return CF_OK;
}

cf_code authn_verifier_revoke(authn_verifier *v, const char *jti, int64_t exp)
{
    if (!jti || !*jti || strlen(jti) >= sizeof((authn_identity *)0)->jti)
        return CF_INVALID_ARGUMENT;
    int64_t until = exp > INT64_MAX - v->leeway ? INT64_MAX : exp + v->leeway;
    denyset_add(v->deny, DENY_JTI, jti, until, v->clock->now(v->clock));
    return CF_OK;
}

cf_code authn_verifier_revoke_session(authn_verifier *v, const char *sid, int64_t until)
{
    if (!sid || !*sid || strlen(sid) >= sizeof((authn_identity *)0)->sid)
        return CF_INVALID_ARGUMENT;
    int64_t u = until > INT64_MAX - v->leeway ? INT64_MAX : until + v->leeway;
    denyset_add(v->deny, DENY_SID, sid, u, v->clock->now(v->clock));
    return CF_OK;
}

void authn_verifier_set_synced(authn_verifier *v, bool synced)
{
    atomic_store_explicit(&v->synced, synced, memory_order_release);
}

bool authn_verifier_synced(authn_verifier *v)
{
    return atomic_load_explicit(&v->synced, memory_order_acquire);
}

size_t authn_verifier_revoked_count(authn_verifier *v)
{
    return denyset_count(v->deny);
}

void authn_verifier_stats(authn_verifier *v, uint64_t *cache_hits, uint64_t *full_verifies)
{
    if (cache_hits)
        *cache_hits = atomic_load_explicit(&v->hits, memory_order_relaxed);
    if (full_verifies)
        *full_verifies = atomic_load_explicit(&v->misses, memory_order_relaxed);
}
