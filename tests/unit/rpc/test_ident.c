/* test_ident.c — service tokens and the per-method policy (common/rpc/ident.h; issue 14 item 3):
 * who may call what under the shipped allow list, and every way a token can be wrong. */
#include "th.h"
#include "th_ident.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/b64url.h"
#include "base/clock.h"
#include "svc/svc.h"

/* The shipped default of ident.allow, split as the config loader splits it. */
static rpc_ident *server_with_default_policy(bool require)
{
    const char *def = NULL;
    for (size_t i = 0; i < svc_common_nfields; i++)
        if (strcmp(svc_common_fields[i].section, "ident") == 0 &&
            strcmp(svc_common_fields[i].key, "allow") == 0)
            def = svc_common_fields[i].def;
    assert_non_null(def);
    static char buf[2048];
    snprintf(buf, sizeof buf, "%s", def);
    const char *items[32];
    size_t n = 0;
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
        items[n++] = t;
    const char *ops[] = {"test"};
    rpc_ident_config c = {.name = "server",
                          .trust_dir = th_ident_dir(),
                          .allow = items,
                          .nallow = n,
                          .operators = ops,
                          .noperators = 1,
                          .require = require};
    rpc_ident *id;
    char err[256];
    if (rpc_ident_new(&c, &id, err, sizeof err) != CF_OK)
        fail_msg("%s", err);
    return id;
}

/* The code `who` gets calling method on a server with the default policy. */
static cf_code check_as(rpc_ident *server, const char *who, const char *method)
{
    char token[RPC_IDENT_TOKEN_MAX] = "";
    if (who) {
        char aud[128];
        snprintf(aud, sizeof aud, "%.*s", (int)(strchr(method, '/') - method), method);
        assert_true(rpc_ident_token(th_ident(who), aud, token, sizeof token));
    }
    const char *got_who, *why;
    cf_code code = rpc_ident_check(server, method, token, &got_who, &why);
    if (code == CF_OK && who)
        assert_string_equal(who, got_who);
    return code;
}

/* docs/operations.md, "What each service may call": every internal method, every caller. */
static void test_default_allow_list(void **state)
{
    (void)state;
    rpc_ident *s = server_with_default_policy(false);
    static const struct {
        const char *method, *allowed; /* the services that may call it */
    } table[] = {
        {"events.v1.Events/Replay", "gateway rooms catalog draw auth"}, /* auth: catalog's */
        {"auth.v1.Auth/ListRevokedTokens", "gateway rooms catalog draw"},
        {"catalog.v1.Catalog/VerifyAppCredentials", "auth"},
        {"rooms.v1.Rooms/CheckPermission", "draw"},
        {"rooms.v1.Rooms/ListEligibleParticipants", "draw"},
        {"rooms.v1.Rooms/AppInUse", "catalog"},
    };
    static const char *const callers[] = {"auth", "catalog", "rooms", "draw", "gateway", "bus"};
    for (size_t i = 0; i < sizeof table / sizeof *table; i++) {
        for (size_t j = 0; j < sizeof callers / sizeof *callers; j++) {
            char key[40];
            snprintf(key, sizeof key, " %s ", callers[j]);
            char set[80];
            snprintf(set, sizeof set, " %s ", table[i].allowed);
            cf_code want = strstr(set, key) ? CF_OK : CF_PERMISSION_DENIED;
            cf_code got = check_as(s, callers[j], table[i].method);
            if (got != want)
                fail_msg("%s as %s: %s, want %s", table[i].method, callers[j], cf_code_name(got),
                         cf_code_name(want));
        }
        assert_code(CF_UNAUTHENTICATED, check_as(s, NULL, table[i].method));
        assert_code(CF_UNAUTHENTICATED, check_as(s, "intruder", table[i].method));
        assert_code(CF_OK, check_as(s, "test", table[i].method)); /* an operator */
    }
    /* public methods: anyone without a token, any trusted service; an untrusted token never */
    assert_code(CF_OK, check_as(s, NULL, "rooms.v1.Rooms/GetRoom"));
    assert_code(CF_OK, check_as(s, "gateway", "rooms.v1.Rooms/GetRoom"));
    assert_code(CF_UNAUTHENTICATED, check_as(s, "intruder", "rooms.v1.Rooms/GetRoom"));
    rpc_ident_free(s);
    /* ident.require: no token, no call */
    s = server_with_default_policy(true);
    assert_code(CF_UNAUTHENTICATED, check_as(s, NULL, "rooms.v1.Rooms/GetRoom"));
    assert_code(CF_OK, check_as(s, "gateway", "rooms.v1.Rooms/GetRoom"));
    rpc_ident_free(s);
}

/* A token signed with name's real key for any claims (what a thief of that key could make). */
static void forge(const char *name, const char *aud, int64_t exp, char *out, size_t len)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s.key", th_ident_dir(), name);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(k);
    char msg[256];
    int mn =
        snprintf(msg, sizeof msg, "confetti-service-token-v1\n%s\n%s\n%" PRId64, name, aud, exp);
    uint8_t sig[64];
    size_t sl = sizeof sig;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    assert_int_equal(1, EVP_DigestSignInit(ctx, NULL, NULL, NULL, k));
    assert_int_equal(1, EVP_DigestSign(ctx, sig, &sl, (const uint8_t *)msg, (size_t)mn));
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(k);
    char s[100];
    b64url_encode(s, sig, sl);
    snprintf(out, len, "v1:%s:%s:%" PRId64 ":%s", name, aud, exp, s);
}

static void test_bad_tokens(void **state)
{
    (void)state;
    rpc_ident *s = server_with_default_policy(false);
    const char *m = "auth.v1.Auth/ListRevokedTokens", *who, *why;
    char good[RPC_IDENT_TOKEN_MAX], t[RPC_IDENT_TOKEN_MAX + 64];
    assert_true(rpc_ident_token(th_ident("gateway"), "auth.v1.Auth", good, sizeof good));
    assert_code(CF_OK, rpc_ident_check(s, m, good, &who, &why));
    assert_string_equal("gateway", who);
    /* the client reuses its token (no signature per call) */
    char again[RPC_IDENT_TOKEN_MAX];
    assert_true(rpc_ident_token(th_ident("gateway"), "auth.v1.Auth", again, sizeof again));

    int64_t now = cf_wall_ms();
    struct {
        const char *what;
        char token[RPC_IDENT_TOKEN_MAX + 64];
    } bad[12];
    size_t n = 0;
    /* one signature byte changed */
    snprintf(bad[n].token, sizeof bad[n].token, "%s", good);
    char *last = bad[n].token + strlen(bad[n].token) - 2;
    *last = *last == 'A' ? 'B' : 'A';
    bad[n++].what = "tampered signature";
    /* the name swapped for another trusted service's */
    snprintf(bad[n].token, sizeof bad[n].token, "v1:rooms%s", good + strlen("v1:gateway"));
    bad[n++].what = "another service's name";
    /* made for another service: catalog's token replayed at auth */
    assert_true(rpc_ident_token(th_ident("gateway"), "catalog.v1.Catalog", bad[n].token,
                                sizeof bad[n].token));
    bad[n++].what = "another audience";
    forge("gateway", "auth.v1.Auth", now - 5 * 60 * 1000, bad[n].token, sizeof bad[n].token);
    bad[n++].what = "expired";
    forge("gateway", "auth.v1.Auth", now + 3 * 3600 * 1000, bad[n].token, sizeof bad[n].token);
    bad[n++].what = "lives too long";
    assert_true(
        rpc_ident_token(th_ident("intruder"), "auth.v1.Auth", bad[n].token, sizeof bad[n].token));
    bad[n++].what = "untrusted key";
    snprintf(bad[n].token, sizeof bad[n].token, "v2%s", good + 2);
    bad[n++].what = "unknown version";
    snprintf(bad[n].token, sizeof bad[n].token, "v1:gateway:auth.v1.Auth");
    bad[n++].what = "truncated";
    snprintf(bad[n].token, sizeof bad[n].token, "v1:gateway:auth.v1.Auth:12x:AAAA");
    bad[n++].what = "bad expiry";
    memset(t, 'a', sizeof t - 1);
    t[sizeof t - 1] = 0;
    snprintf(bad[n].token, sizeof bad[n].token, "%s", t);
    bad[n++].what = "too long";
    for (size_t i = 0; i < n; i++) {
        cf_code code = rpc_ident_check(s, m, bad[i].token, &who, &why);
        if (code != CF_UNAUTHENTICATED)
            fail_msg("%s: %s", bad[i].what, cf_code_name(code));
        assert_null(who);
        assert_non_null(why);
        /* a bad token is refused on a public method too: never taken as anonymous */
        assert_code(CF_UNAUTHENTICATED,
                    rpc_ident_check(s, "rooms.v1.Rooms/GetRoom", bad[i].token, &who, &why));
    }
    /* the cached good token still verifies, for its own audience only */
    assert_code(CF_OK, rpc_ident_check(s, m, good, &who, &why));
    assert_code(CF_UNAUTHENTICATED, rpc_ident_check(s, "rooms.v1.Rooms/GetRoom", good, &who, &why));
    rpc_ident_free(s);
}

static void test_bad_config(void **state)
{
    (void)state;
    rpc_ident *id;
    char err[256];
    static const char *const allows[][1] = {{"Replay=rooms"},
                                            {"events.v1.Events/Replay"},
                                            {"events.v1.Events/Replay=Rooms"},
                                            {"/Replay=rooms"}};
    for (size_t i = 0; i < sizeof allows / sizeof *allows; i++) {
        rpc_ident_config c = {.name = "x", .allow = allows[i], .nallow = 1};
        assert_code(CF_INVALID_ARGUMENT, rpc_ident_new(&c, &id, err, sizeof err));
        assert_non_null(strstr(err, "ident.allow"));
    }
    rpc_ident_config c = {.name = "Bad_Name"};
    assert_code(CF_INVALID_ARGUMENT, rpc_ident_new(&c, &id, err, sizeof err));
    c = (rpc_ident_config){.name = "x", .key_file = "/nonexistent/x.key"};
    assert_code(CF_INVALID_ARGUMENT, rpc_ident_new(&c, &id, err, sizeof err));
    assert_non_null(strstr(err, "ident.key_file"));
    char pub[256];
    snprintf(pub, sizeof pub, "%s/rooms.pub", th_ident_dir());
    c = (rpc_ident_config){.name = "x", .key_file = pub}; /* a public key is no private key */
    assert_code(CF_INVALID_ARGUMENT, rpc_ident_new(&c, &id, err, sizeof err));
    c = (rpc_ident_config){.name = "x", .trust_dir = "/nonexistent"};
    assert_code(CF_INVALID_ARGUMENT, rpc_ident_new(&c, &id, err, sizeof err));
    assert_non_null(strstr(err, "ident.trust_dir"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_allow_list),
        cmocka_unit_test(test_bad_tokens),
        cmocka_unit_test(test_bad_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
