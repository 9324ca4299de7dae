/* sign_test.c — the signer: refuses keys and claims it cannot honour, writes standard JWS (libjwt
 * itself verifies them), names its kid and alg in the header, and publishes a JWKS that verifies
 * what it signs. */
#include "th.h"
#include "tokens.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <jwt.h>

#include "base/b64url.h"
#include "base/cuid.h"

static void signer_refuses_keys_that_do_not_fit(void **state)
{
    (void)state;
    th_keys *rs = th_keys_new("RS256"), *es = th_keys_new("ES256");
    authn_signer *s = NULL;
    char long_kid[AUTHN_KID_MAX + 2];
    memset(long_kid, 'k', sizeof long_kid - 1);
    long_kid[sizeof long_kid - 1] = '\0';
    assert_code(CF_INVALID_ARGUMENT, authn_signer_new_pem("garbage", "k", "RS256", &s));
    assert_code(CF_INVALID_ARGUMENT,
                authn_signer_new_pem(th_keys_public_pem(rs), "k", "RS256", &s));
    assert_code(CF_INVALID_ARGUMENT,
                authn_signer_new_pem(th_keys_private_pem(es), "k", "RS256", &s));
    assert_code(CF_INVALID_ARGUMENT,
                authn_signer_new_pem(th_keys_private_pem(rs), "k", "ES256", &s));
    assert_code(CF_INVALID_ARGUMENT,
                authn_signer_new_pem(th_keys_private_pem(rs), "k", "HS256", &s));
    assert_code(CF_INVALID_ARGUMENT,
                authn_signer_new_pem(th_keys_private_pem(rs), "", "RS256", &s));
    assert_code(CF_INVALID_ARGUMENT,
                authn_signer_new_pem(th_keys_private_pem(rs), long_kid, "RS256", &s));
    assert_null(s);
    char *pem = NULL;
    assert_code(CF_INVALID_ARGUMENT, authn_generate_key("HS256", &pem));
    assert_null(pem);
    th_keys_free(rs);
    th_keys_free(es);
}

static void sign_refuses_incomplete_claims(void **state)
{
    (void)state;
    th_keys *k = th_keys_new("ES256");
    authn_signer *s = th_keys_signer(k);
    char *tok = NULL;
    const authn_claims no_sub = {.iss = "i", .aud = "a", .ttl_seconds = 60};
    const authn_claims no_iss = {.aud = "a", .sub = "u", .ttl_seconds = 60};
    const authn_claims no_ttl = {.iss = "i", .aud = "a", .sub = "u"};
    const authn_claims neg_ttl = {.iss = "i", .aud = "a", .sub = "u", .ttl_seconds = -5};
    assert_code(CF_INVALID_ARGUMENT, authn_sign(s, &no_sub, &tok));
    assert_code(CF_INVALID_ARGUMENT, authn_sign(s, &no_iss, &tok));
    assert_code(CF_INVALID_ARGUMENT, authn_sign(s, &no_ttl, &tok));
    assert_code(CF_INVALID_ARGUMENT, authn_sign(s, &neg_ttl, &tok));
    assert_null(tok);
    th_keys_free(k);
}

/* Decodes the header of a compact token. */
static json_t *header_of(const char *tok)
{
    unsigned char buf[512];
    size_t n;
    const char *dot = strchr(tok, '.');
    assert_true(b64url_decode(tok, (size_t)(dot - tok), buf, &n));
    return json_loadb((const char *)buf, n, 0, NULL);
}

static void signed_tokens_are_standard_jws(void **state)
{
    (void)state;
    static const char *const algs[] = {"RS256", "ES256"};
    for (size_t i = 0; i < 2; i++) {
        th_keys *k = th_keys_new(algs[i]);
        char *tok = th_token(k, "u-1", 300, true);

        json_t *h = header_of(tok);
        assert_string_equal(json_string_value(json_object_get(h, "alg")), algs[i]);
        assert_string_equal(json_string_value(json_object_get(h, "kid")), th_keys_kid(k));
        assert_string_equal(json_string_value(json_object_get(h, "typ")), "JWT");
        json_decref(h);

        /* An independent verifier (libjwt with the public PEM) accepts it: the ES256 signature
         * is the raw r||s form every JOSE library expects. */
        const char *pem = th_keys_public_pem(k);
        jwt_t *jwt = NULL;
        assert_int_equal(0, jwt_decode(&jwt, tok, (const unsigned char *)pem, (int)strlen(pem)));
        assert_string_equal(jwt_get_grant(jwt, "sub"), "u-1");
        assert_string_equal(jwt_get_grant(jwt, "iss"), TH_ISSUER);
        assert_true(cuid_valid(jwt_get_grant(jwt, "jti")));
        assert_int_equal(jwt_get_grant_int(jwt, "exp") - jwt_get_grant_int(jwt, "iat"), 300);
        jwt_free(jwt);

        /* And the key set built from the signer's own JWKS verifies it. */
        authn_verifier *v = th_verifier_new(k, NULL);
        authn_identity id;
        assert_code(CF_OK, authn_verify(v, tok, &id, NULL));
        assert_true(id.is_admin);
        authn_verifier_free(v);
        free(tok);
        th_keys_free(k);
    }
}

static void signer_jwks_names_only_public_numbers(void **state)
{
    (void)state;
    th_keys *rs = th_keys_new("RS256"), *es = th_keys_new("ES256");
    json_t *r = json_loads(th_keys_jwks(rs), 0, NULL), *e = json_loads(th_keys_jwks(es), 0, NULL);
    json_t *rk = json_array_get(json_object_get(r, "keys"), 0);
    json_t *ek = json_array_get(json_object_get(e, "keys"), 0);
    assert_string_equal(json_string_value(json_object_get(rk, "kty")), "RSA");
    assert_string_equal(json_string_value(json_object_get(rk, "e")), "AQAB");
    assert_int_equal(strlen(json_string_value(json_object_get(rk, "n"))), 342); /* 256 bytes */
    assert_string_equal(json_string_value(json_object_get(ek, "crv")), "P-256");
    assert_int_equal(strlen(json_string_value(json_object_get(ek, "x"))), 43); /* 32 bytes */
    assert_int_equal(strlen(json_string_value(json_object_get(ek, "y"))), 43);
    assert_null(json_object_get(rk, "d"));
    assert_null(json_object_get(ek, "d"));
    json_decref(r);
    json_decref(e);
    th_keys_free(rs);
    th_keys_free(es);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(signer_refuses_keys_that_do_not_fit),
        cmocka_unit_test(sign_refuses_incomplete_claims),
        cmocka_unit_test(signed_tokens_are_standard_jws),
        cmocka_unit_test(signer_jwks_names_only_public_numbers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
