/* verify_test.c — authn_verify: a valid RS256/ES256 token fills the identity; every other token
 * (expired, not yet valid, wrong iss/aud, missing claims, unknown kid, alg none/HS256/mismatch,
 * tampered, truncated, garbage, oversized) is UNAUTHENTICATED for the rule it breaks. */
#include "th.h"
#include "tokens.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jwt.h>
#include <openssl/evp.h>

#include "base/b64url.h"
#include "base/xmalloc.h"

/* The injected clock: a fixed instant, so boundaries are exact. */
#define T0 1750000000

static int64_t fixed_now(const cf_clock *c)
{
    return c->offset;
}

typedef struct fixture {
    th_keys *rs, *es;
    authn_keyset *both; /* rs and es keys */
    cf_clock clock;
    authn_verifier *v;
} fixture;

static int setup(void **state)
{
    fixture *f = xcalloc(1, sizeof *f);
    f->rs = th_keys_new("RS256");
    f->es = th_keys_new("ES256");
    char *jwks = th_jwks_merge(f->rs, f->es);
    assert_code(CF_OK, authn_keyset_new(&f->both));
    assert_code(CF_OK, authn_keyset_load_json(f->both, jwks, strlen(jwks), NULL, 0));
    free(jwks);
    f->clock = (cf_clock){fixed_now, T0};
    authn_config c = th_keys_config(f->rs);
    c.clock = &f->clock;
    c.cache_entries = 0; /* every case takes the full path */
    assert_code(CF_OK, authn_verifier_new(&c, f->both, &f->v));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    authn_verifier_free(f->v);
    authn_keyset_free(f->both);
    th_keys_free(f->rs);
    th_keys_free(f->es);
    free(f);
    return 0;
}

/* Expands {rskid} {eskid} {T+n} {T-n} {An} (n times 'a') in a template. */
static char *expand(const fixture *f, const char *t)
{
    size_t cap = strlen(t) + 2048, o = 0;
    char *out = xmalloc(cap);
    while (*t) {
        long n;
        int used = 0;
        if (strncmp(t, "{rskid}", 7) == 0) {
            o += (size_t)sprintf(out + o, "%s", th_keys_kid(f->rs));
            t += 7;
        } else if (strncmp(t, "{eskid}", 7) == 0) {
            o += (size_t)sprintf(out + o, "%s", th_keys_kid(f->es));
            t += 7;
        } else if (sscanf(t, "{T%ld}%n", &n, &used) == 1 && used > 0) {
            o += (size_t)sprintf(out + o, "%ld", (long)T0 + n);
            t += used;
        } else if (sscanf(t, "{A%ld}%n", &n, &used) == 1 && used > 0) {
            memset(out + o, 'a', (size_t)n);
            o += (size_t)n;
            t += used;
        } else {
            out[o++] = *t++;
        }
    }
    out[o] = '\0';
    return out;
}

#define RS_HDR "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"{rskid}\"}"
#define ES_HDR "{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"{eskid}\"}"
#define ISS    "\"iss\":\"" TH_ISSUER "\""
#define AUD    "\"aud\":\"" TH_AUDIENCE "\""
#define BASE   ISS "," AUD ",\"sub\":\"u1\""
#define FRESH  BASE ",\"exp\":{T+600}"

typedef struct raw_case {
    const char *name;
    bool es;             /* sign with the ES256 key instead of the RS256 one */
    const char *header;  /* template */
    const char *payload; /* template */
    const char *reason;  /* expected refusal (substring); NULL = accepted */
} raw_case;

static const raw_case raw_cases[] = {
    {"valid RS256", false, RS_HDR, "{" FRESH "}", NULL},
    {"valid ES256", true, ES_HDR, "{" FRESH "}", NULL},
    {"exp 59 s ago, within leeway", false, RS_HDR, "{" BASE ",\"exp\":{T-59}}", NULL},
    {"exp exactly leeway ago", false, RS_HDR, "{" BASE ",\"exp\":{T-60}}", "expired"},
    {"expired beyond leeway", false, RS_HDR, "{" BASE ",\"exp\":{T-1000}}", "expired"},
    {"nbf within leeway", false, RS_HDR, "{" FRESH ",\"nbf\":{T+60}}", NULL},
    {"nbf beyond leeway", false, RS_HDR, "{" FRESH ",\"nbf\":{T+61}}", "not yet valid"},
    {"iat within leeway", false, RS_HDR, "{" FRESH ",\"iat\":{T+30}}", NULL},
    {"iat beyond leeway", false, RS_HDR, "{" FRESH ",\"iat\":{T+61}}", "future"},
    {"huge exp does not overflow", false, RS_HDR, "{" BASE ",\"exp\":9223372036854775807}", NULL},
    {"missing exp", false, RS_HDR, "{" BASE "}", "exp"},
    {"exp as string", false, RS_HDR, "{" BASE ",\"exp\":\"{T+600}\"}", "exp"},
    {"exp as real", false, RS_HDR, "{" BASE ",\"exp\":1750000600.5}", "exp"},
    {"missing sub", false, RS_HDR, "{" ISS "," AUD ",\"exp\":{T+600}}", "sub"},
    {"empty sub", false, RS_HDR, "{" ISS "," AUD ",\"sub\":\"\",\"exp\":{T+600}}", "sub"},
    {"sub 127 bytes", false, RS_HDR, "{" ISS "," AUD ",\"sub\":\"{A127}\",\"exp\":{T+600}}", NULL},
    {"sub 128 bytes", false, RS_HDR, "{" ISS "," AUD ",\"sub\":\"{A128}\",\"exp\":{T+600}}", "sub"},
    {"wrong iss", false, RS_HDR, "{\"iss\":\"https://evil\"," AUD ",\"sub\":\"u\",\"exp\":{T+9}}",
     "issuer"},
    {"missing iss", false, RS_HDR, "{" AUD ",\"sub\":\"u\",\"exp\":{T+9}}", "issuer"},
    /* A NUL would cut the string short for strcmp; jansson refuses \u0000 outright. */
    {"iss with embedded NUL", false, RS_HDR,
     "{\"iss\":\"" TH_ISSUER "\\u0000x\"," AUD ",\"sub\":\"u\",\"exp\":{T+9}}", "payload"},
    {"wrong aud", false, RS_HDR, "{" ISS ",\"aud\":\"other\",\"sub\":\"u\",\"exp\":{T+9}}",
     "audience"},
    {"missing aud", false, RS_HDR, "{" ISS ",\"sub\":\"u\",\"exp\":{T+9}}", "audience"},
    {"aud array with ours", false, RS_HDR,
     "{" ISS ",\"aud\":[\"x\",\"" TH_AUDIENCE "\"],\"sub\":\"u\",\"exp\":{T+9}}", NULL},
    {"aud array without ours", false, RS_HDR,
     "{" ISS ",\"aud\":[\"x\",[\"" TH_AUDIENCE "\"]],\"sub\":\"u\",\"exp\":{T+9}}", "audience"},
    {"roles not an array", false, RS_HDR, "{" FRESH ",\"roles\":\"admin\"}", "roles"},
    {"scope 511 bytes", false, RS_HDR, "{" FRESH ",\"scope\":\"{A511}\"}", NULL},
    {"scope 512 bytes", false, RS_HDR, "{" FRESH ",\"scope\":\"{A512}\"}", "oversized"},
    {"jti 64 bytes", false, RS_HDR, "{" FRESH ",\"jti\":\"{A64}\"}", "oversized"},
    {"duplicate claim", false, RS_HDR, "{" FRESH ",\"sub\":\"admin\"}", "payload"},
    {"payload not an object", false, RS_HDR, "[1]", "not a JSON object"},
    {"unknown kid", false, "{\"alg\":\"RS256\",\"kid\":\"nope\"}", "{" FRESH "}", "unknown kid"},
    {"no kid", false, "{\"alg\":\"RS256\"}", "{" FRESH "}", "kid"},
    {"alg none", false, "{\"alg\":\"none\",\"kid\":\"{rskid}\"}", "{" FRESH "}", "alg not"},
    {"alg lower case", false, "{\"alg\":\"rs256\",\"kid\":\"{rskid}\"}", "{" FRESH "}", "alg not"},
    {"alg RS384", false, "{\"alg\":\"RS384\",\"kid\":\"{rskid}\"}", "{" FRESH "}", "alg not"},
    {"ES256 header on the RSA key", false, "{\"alg\":\"ES256\",\"kid\":\"{rskid}\"}", "{" FRESH "}",
     "does not match"},
    {"RS256 header on the EC key", true, "{\"alg\":\"RS256\",\"kid\":\"{eskid}\"}", "{" FRESH "}",
     "does not match"},
    {"duplicate alg in header", false, "{\"alg\":\"RS256\",\"alg\":\"none\",\"kid\":\"{rskid}\"}",
     "{" FRESH "}", "header"},
    {"crit header", false, "{\"alg\":\"RS256\",\"kid\":\"{rskid}\",\"crit\":[\"exp\"]}",
     "{" FRESH "}", "crit"},
    {"typ not JWT", false, "{\"alg\":\"RS256\",\"kid\":\"{rskid}\",\"typ\":\"JOSE+JSON\"}",
     "{" FRESH "}", "typ"},
    {"header not an object", false, "[\"RS256\"]", "{" FRESH "}", "not a JSON object"},
    {"header not JSON", false, "hello", "{" FRESH "}", "header"},
};

static void raw_tokens_follow_the_rules(void **state)
{
    fixture *f = *state;
    for (size_t i = 0; i < sizeof raw_cases / sizeof *raw_cases; i++) {
        const raw_case *c = &raw_cases[i];
        char *h = expand(f, c->header), *p = expand(f, c->payload);
        char *tok = th_token_raw(c->es ? f->es : f->rs, h, p);
        authn_identity id;
        const char *why = "unset";
        cf_code rc = authn_verify(f->v, tok, &id, &why);
        if (!c->reason && rc != CF_OK)
            fail_msg("%s: refused (%s)", c->name, why);
        if (c->reason && (rc != CF_UNAUTHENTICATED || !why || !strstr(why, c->reason)))
            fail_msg("%s: %s (%s), expected refusal for \"%s\"", c->name, cf_code_name(rc),
                     why ? why : "no reason", c->reason);
        if (c->reason)
            assert_string_equal(id.sub, ""); /* nothing leaks out of a refusal */
        free(h);
        free(p);
        free(tok);
    }
}

/* Mutations of a valid token: the signature must cover every byte that matters. */
typedef struct mut_case {
    const char *name;
    bool es;
    char *(*mutate)(const char *tok);
    const char *reason;
} mut_case;

static char *swap_payload(const char *tok)
{
    /* Replaces the payload with one claiming another subject: the signature no longer fits. */
    const char *d1 = strchr(tok, '.'), *d2 = strrchr(tok, '.');
    static const char forged[] = "{" ISS "," AUD ",\"sub\":\"admin\",\"exp\":1750000600}";
    char *p = b64url_encode_new(forged, strlen(forged));
    char *out = xasprintf("%.*s.%s%s", (int)(d1 - tok), tok, p, d2);
    free(p);
    return out;
}

static char *flip_signature(const char *tok)
{
    char *out = xstrdup(tok);
    char *c = strrchr(out, '.') + 10;
    *c = *c == 'A' ? 'B' : 'A';
    return out;
}

static char *drop_signature_tail(const char *tok)
{
    return xstrndup(tok, strlen(tok) - 4);
}

static char *extend_signature(const char *tok)
{
    return xasprintf("%sAAAA", tok);
}

static char *empty_signature(const char *tok)
{
    return xstrndup(tok, (size_t)(strrchr(tok, '.') - tok + 1));
}

static char *two_parts(const char *tok)
{
    return xstrndup(tok, (size_t)(strrchr(tok, '.') - tok));
}

static char *four_parts(const char *tok)
{
    return xasprintf("%s.AAAA", tok);
}

static char *garbage(const char *tok)
{
    (void)tok;
    return xstrdup("abc.def.ghi");
}

static char *oversized(const char *tok)
{
    size_t n = AUTHN_TOKEN_MAX + 1, len = strlen(tok);
    char *out = xmalloc(n + 1);
    memcpy(out, tok, len);
    memset(out + len, 'A', n - len);
    out[n] = '\0';
    return out;
}

static char *empty(const char *tok)
{
    (void)tok;
    return xstrdup("");
}

static char *with_space(const char *tok)
{
    return xasprintf(" %s", tok);
}

static const mut_case mut_cases[] = {
    {"tampered payload", false, swap_payload, "bad signature"},
    {"tampered RS256 signature", false, flip_signature, "bad signature"},
    {"tampered ES256 signature", true, flip_signature, "bad signature"},
    {"truncated signature", false, drop_signature_tail, "signature"},
    {"extended signature", true, extend_signature, "length"},
    {"signature removed", false, empty_signature, "empty part"},
    {"two parts", false, two_parts, "three parts"},
    {"four parts", false, four_parts, "three parts"},
    {"three parts of garbage", false, garbage, "header"},
    {"oversized", false, oversized, "too long"},
    {"empty", false, empty, "empty"},
    {"leading space", false, with_space, "header"},
};

static void mutated_tokens_are_refused(void **state)
{
    fixture *f = *state;
    for (size_t i = 0; i < sizeof mut_cases / sizeof *mut_cases; i++) {
        const mut_case *c = &mut_cases[i];
        char *p = expand(f, "{" FRESH "}");
        char *h = expand(f, c->es ? ES_HDR : RS_HDR);
        char *good = th_token_raw(c->es ? f->es : f->rs, h, p);
        authn_identity id;
        const char *why;
        assert_code(CF_OK, authn_verify(f->v, good, &id, &why));
        char *bad = c->mutate(good);
        cf_code rc = authn_verify(f->v, bad, &id, &why);
        if (rc != CF_UNAUTHENTICATED || !why || !strstr(why, c->reason))
            fail_msg("%s: %s (%s), expected \"%s\"", c->name, cf_code_name(rc),
                     why ? why : "no reason", c->reason);
        free(bad);
        free(good);
        free(h);
        free(p);
    }
    authn_identity id;
    assert_code(CF_UNAUTHENTICATED, authn_verify(f->v, NULL, &id, NULL));
}

/* The classic confusion: an HS256 token whose HMAC key is the server's RSA public key (which is
 * public). libjwt 1.x accepts it when handed the public PEM; authn_verify must not. */
static void hs256_forged_with_the_public_pem_is_refused(void **state)
{
    fixture *f = *state;
    const char *pem = th_keys_public_pem(f->rs);
    char *h = expand(f, "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"{rskid}\"}");
    char *p = xasprintf("{" ISS "," AUD ",\"sub\":\"admin\",\"roles\":[\"admin\"],\"exp\":%ld}",
                        (long)cf_wall_ms() / 1000 + 600);
    char *hb = b64url_encode_new(h, strlen(h)), *pb = b64url_encode_new(p, strlen(p));
    char *input = xasprintf("%s.%s", hb, pb);
    unsigned char mac[32];
    size_t mac_len = 0;
    assert_non_null(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, pem, strlen(pem),
                              (const unsigned char *)input, strlen(input), mac, sizeof mac,
                              &mac_len));
    char *sb = b64url_encode_new(mac, mac_len);
    char *forged = xasprintf("%s.%s", input, sb);

    /* The hazard is real: libjwt verifies the forgery. */
    jwt_t *jwt = NULL;
    assert_int_equal(0, jwt_decode(&jwt, forged, (const unsigned char *)pem, (int)strlen(pem)));
    assert_string_equal(jwt_get_grant(jwt, "sub"), "admin");
    jwt_free(jwt);

    /* And refused here, on the header, before any signature check. */
    authn_verifier *real = th_verifier_new(f->rs, NULL);
    authn_identity id;
    const char *why;
    assert_code(CF_UNAUTHENTICATED, authn_verify(real, forged, &id, &why));
    assert_string_equal(why, "alg not accepted");
    assert_false(id.is_admin);
    authn_verifier_free(real);
    free(forged);
    free(sb);
    free(input);
    free(hb);
    free(pb);
    free(h);
    free(p);
}

static void signed_rs256_token_fills_the_identity(void **state)
{
    fixture *f = *state;
    static const char *const roles[] = {"member", "admin"};
    authn_claims c = {.sub = "u-123",
                      .sid = "s-9",
                      .jti = "j-1",
                      .ttl_seconds = 900,
                      .roles = roles,
                      .nroles = 2,
                      .scope = "rooms:read rooms:write"};
    char *tok = th_token_claims(f->rs, &c);
    authn_verifier *v = th_verifier_new(f->rs, NULL);
    authn_identity id;
    const char *why = "unset";
    assert_code(CF_OK, authn_verify(v, tok, &id, &why));
    assert_null(why);
    assert_string_equal(id.sub, "u-123");
    assert_string_equal(id.sid, "s-9");
    assert_string_equal(id.jti, "j-1");
    assert_string_equal(id.scopes, "rooms:read rooms:write");
    assert_true(id.is_admin);
    assert_false(id.is_app);
    int64_t now = cf_wall_ms() / 1000;
    assert_true(id.exp >= now + 890 && id.exp <= now + 900);
    authn_verifier_free(v);
    free(tok);
}

static void signed_es256_app_token_is_an_app_not_an_admin(void **state)
{
    fixture *f = *state;
    static const char *const roles[] = {"administrator"};
    authn_claims c = {.sub = "app:cabc", .ttl_seconds = 60, .roles = roles, .nroles = 1};
    char *tok = th_token_claims(f->es, &c);
    authn_verifier *v = th_verifier_new(f->es, NULL);
    authn_identity id;
    assert_code(CF_OK, authn_verify(v, tok, &id, NULL));
    assert_string_equal(id.sub, "app:cabc");
    assert_true(id.is_app);
    assert_false(id.is_admin);
    assert_string_equal(id.sid, "");
    assert_true(strlen(id.jti) > 0); /* the signer made one */
    authn_verifier_free(v);
    free(tok);
}

/* A token from a key outside the verifier's key set fails even when its kid is known. */
static void token_signed_by_another_key_under_a_known_kid_is_refused(void **state)
{
    fixture *f = *state;
    th_keys *other = th_keys_new("ES256");
    char *h = expand(f, ES_HDR), *p = expand(f, "{" FRESH "}");
    char *tok = th_token_raw(other, h, p);
    authn_identity id;
    const char *why;
    assert_code(CF_UNAUTHENTICATED, authn_verify(f->v, tok, &id, &why));
    assert_string_equal(why, "bad signature");
    free(tok);
    free(h);
    free(p);
    th_keys_free(other);
}

static void config_bounds_are_enforced(void **state)
{
    fixture *f = *state;
    authn_verifier *v = NULL;
    authn_config c = th_keys_config(f->rs);
    c.leeway_seconds = AUTHN_LEEWAY_MAX + 1;
    assert_code(CF_INVALID_ARGUMENT, authn_verifier_new(&c, f->both, &v));
    c = th_keys_config(f->rs);
    c.leeway_seconds = -1;
    assert_code(CF_INVALID_ARGUMENT, authn_verifier_new(&c, f->both, &v));
    c = th_keys_config(f->rs);
    c.issuer = NULL;
    assert_code(CF_INVALID_ARGUMENT, authn_verifier_new(&c, f->both, &v));
    c = th_keys_config(f->rs);
    c.audience = "";
    assert_code(CF_INVALID_ARGUMENT, authn_verifier_new(&c, f->both, &v));
    c = th_keys_config(f->rs);
    c.cache_entries = (size_t)AUTHN_CACHE_MAX + 1;
    assert_code(CF_INVALID_ARGUMENT, authn_verifier_new(&c, f->both, &v));
    assert_null(v);
}

static void zero_leeway_is_exact(void **state)
{
    fixture *f = *state;
    authn_config c = th_keys_config(f->rs);
    c.leeway_seconds = 0;
    c.clock = &f->clock;
    authn_verifier *v;
    assert_code(CF_OK, authn_verifier_new(&c, f->both, &v));
    char *h = expand(f, RS_HDR);
    char *live = expand(f, "{" BASE ",\"exp\":{T+1}}"),
         *dead = expand(f, "{" BASE ",\"exp\":{T+0}}");
    char *t1 = th_token_raw(f->rs, h, live), *t2 = th_token_raw(f->rs, h, dead);
    authn_identity id;
    assert_code(CF_OK, authn_verify(v, t1, &id, NULL));
    assert_code(CF_UNAUTHENTICATED, authn_verify(v, t2, &id, NULL));
    authn_verifier_free(v);
    free(t1);
    free(t2);
    free(h);
    free(live);
    free(dead);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(raw_tokens_follow_the_rules),
        cmocka_unit_test(mutated_tokens_are_refused),
        cmocka_unit_test(hs256_forged_with_the_public_pem_is_refused),
        cmocka_unit_test(signed_rs256_token_fills_the_identity),
        cmocka_unit_test(signed_es256_app_token_is_an_app_not_an_admin),
        cmocka_unit_test(token_signed_by_another_key_under_a_known_kid_is_refused),
        cmocka_unit_test(config_bounds_are_enforced),
        cmocka_unit_test(zero_leeway_is_exact),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
