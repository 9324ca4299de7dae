/* test_auth.c — confetti-auth end to end: login against a real OpenID provider (oidc-provider
 * on loopback), tokens, refresh rotation with grace and reuse detection, logout, users,
 * JWKS checked by an independent library (jose), forged tokens, no plaintext secrets at rest. */
#include "th.h"
#include "th_proc.h"
#include "service.h"
#include "oidc.h"
#include "pg.h"
#include "auth.h"
#include "auth/v1/auth.pb-c.h"
#include "base/xmalloc.h"
#include "pbjson/pbjson.h"

#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int64_t test_now(const cf_clock *c)
{
    return cf_wall_ms() / 1000 + c->offset;
}
static cf_clock clk = {test_now, 0};

static th_keys *keys;
static th_service *svc;
static th_oidc oidc;
static char redirect[128], keyfile[128];

/* ---- plumbing ---- */

/* One call with an optional bearer token; the ccall holds the response. */
static cf_code call(const char *method, const ProtobufCMessage *in, const char *token,
                    rpc_ccall *cc)
{
    rpc_ccall_init(cc, NULL);
    char *bearer = token ? xasprintf("Bearer %s", token) : NULL;
    if (bearer)
        rpc_ccall_md(cc, "authorization", bearer);
    const ProtobufCMethodDescriptor *m =
        protobuf_c_service_descriptor_get_method_by_name(&auth__v1__auth__descriptor, method);
    assert_non_null(m);
    rpc_client_invoke(svc->client, &auth__v1__auth__descriptor,
                      (unsigned)(m - auth__v1__auth__descriptor.methods), in, cc);
    free(bearer);
    return cc->code;
}

/* GETs url without following redirects, with the cookie engine of h; the Location (copied). */
static char *hop(CURL *h, const char *url)
{
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_COOKIEFILE, "");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, fwrite);
    FILE *sink = fopen("/dev/null", "w");
    curl_easy_setopt(h, CURLOPT_WRITEDATA, sink);
    CURLcode rc = curl_easy_perform(h);
    fclose(sink);
    if (rc != CURLE_OK)
        fail_msg("GET %s: %s", url, curl_easy_strerror(rc));
    char *loc = NULL;
    curl_easy_getinfo(h, CURLINFO_REDIRECT_URL, &loc);
    return loc ? xstrdup(loc) : NULL;
}

/* Drives the provider's authorize URL to our redirect URI (auto login/consent); returns the
 * code (new string) and copies the state it came back with. */
static char *authorize(const char *url, char *state_out, size_t cap)
{
    CURL *h = curl_easy_init();
    char *next = xstrdup(url);
    for (int i = 0; i < 10 && next && strncmp(next, redirect, strlen(redirect)) != 0; i++) {
        char *loc = hop(h, next);
        free(next);
        next = loc;
    }
    curl_easy_cleanup(h);
    if (!next || strncmp(next, redirect, strlen(redirect)) != 0)
        fail_msg("the provider did not redirect back (%s)", next ? next : "no Location");
    char *code = NULL;
    for (char *p = strchr(next, '?'); p; p = strchr(p + 1, '&')) {
        if (strncmp(p + 1, "code=", 5) == 0)
            code = xstrndup(p + 6, strcspn(p + 6, "&"));
        if (strncmp(p + 1, "state=", 6) == 0)
            snprintf(state_out, cap, "%.*s", (int)strcspn(p + 7, "&"), p + 7);
    }
    free(next);
    assert_non_null(code);
    return code;
}

typedef struct login {
    char access[4096], refresh[128], sid[64], user_id[64];
    bool admin;
} login;

static void do_login(login *out)
{
    Auth__V1__BeginLoginRequest b = AUTH__V1__BEGIN_LOGIN_REQUEST__INIT;
    b.provider = "dev";
    rpc_ccall cc;
    assert_code(CF_OK, call("BeginLogin", &b.base, NULL, &cc));
    const Auth__V1__BeginLoginResponse *br = (const void *)cc.response;
    assert_non_null(strstr(br->authorize_url, "code_challenge_method=S256"));
    char state[128];
    char *code = authorize(br->authorize_url, state, sizeof state);
    assert_string_equal(state, br->state);
    rpc_ccall_free(&cc);

    Auth__V1__FinishLoginRequest f = AUTH__V1__FINISH_LOGIN_REQUEST__INIT;
    Auth__V1__ClientInfo ci = AUTH__V1__CLIENT_INFO__INIT;
    ci.user_agent = "test-agent/1.0";
    ci.ip_address = "192.0.2.7";
    f.provider = "dev";
    f.code = code;
    f.state = state;
    f.client = &ci;
    assert_code(CF_OK, call("FinishLogin", &f.base, NULL, &cc));
    const Auth__V1__TokenResponse *t = (const void *)cc.response;
    snprintf(out->access, sizeof out->access, "%s", t->access_token);
    snprintf(out->refresh, sizeof out->refresh, "%s", t->refresh_token);
    snprintf(out->sid, sizeof out->sid, "%s", t->session_id);
    snprintf(out->user_id, sizeof out->user_id, "%s", t->user->id);
    out->admin = t->user->is_admin;
    assert_int_equal(t->expires_in, 900);
    assert_string_equal(t->token_type, "Bearer");
    assert_string_equal(t->user->email, "alice@example.test");
    rpc_ccall_free(&cc);

    /* The state is single-use. */
    assert_code(CF_UNAUTHENTICATED, call("FinishLogin", &f.base, NULL, &cc));
    rpc_ccall_free(&cc);
    free(code);
}

static cf_code get_me(const char *token)
{
    Auth__V1__GetMeRequest r = AUTH__V1__GET_ME_REQUEST__INIT;
    rpc_ccall cc;
    cf_code code = call("GetMe", &r.base, token, &cc);
    rpc_ccall_free(&cc);
    return code;
}

static cf_code refresh(const char *rt, char *access, char *next)
{
    Auth__V1__RefreshRequest r = AUTH__V1__REFRESH_REQUEST__INIT;
    r.refresh_token = (char *)rt;
    rpc_ccall cc;
    cf_code code = call("Refresh", &r.base, NULL, &cc);
    if (code == CF_OK) {
        const Auth__V1__TokenResponse *t = (const void *)cc.response;
        if (access)
            snprintf(access, 4096, "%s", t->access_token);
        if (next)
            snprintf(next, 128, "%s", t->refresh_token);
    }
    rpc_ccall_free(&cc);
    return code;
}

static char *sql1(const char *q)
{
    PGconn *c = th_pg_connect(svc->dsn);
    PGresult *r = PQexec(c, q);
    char *v = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) ? xstrdup(PQgetvalue(r, 0, 0))
                                                                   : xstrdup("");
    PQclear(r);
    PQfinish(c);
    return v;
}

/* ---- setup ---- */

static int setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    keys = th_keys_new("RS256");
    snprintf(keyfile, sizeof keyfile, "/tmp/confetti-auth-key-%d.pem", (int)getpid());
    FILE *f = fopen(keyfile, "w");
    fputs(th_keys_private_pem(keys), f);
    fclose(f);
    snprintf(redirect, sizeof redirect, "http://127.0.0.1:%d/v1/auth/dev/callback", th_free_port());
    th_oidc_start(&oidc, OIDC_DIR, redirect);

    char *env[] = {
        xasprintf("CONFETTI_SIGNING_KEYS=%s=%s", th_keys_kid(keys), keyfile),
        xasprintf("CONFETTI_PROVIDER_DEV_ENABLED=true"),
        xasprintf("CONFETTI_PROVIDER_DEV_TRUSTED_EMAIL=true"),
        xasprintf("CONFETTI_PROVIDER_DEV_ISSUER=%s", oidc.issuer),
        xasprintf("CONFETTI_PROVIDER_DEV_CLIENT_ID=confetti"),
        xasprintf("CONFETTI_PROVIDER_DEV_CLIENT_SECRET=confetti-dev-secret"),
        xasprintf("CONFETTI_PROVIDER_DEV_REDIRECT_URIS=%s", redirect),
        xasprintf("CONFETTI_ADMINS_EMAILS=alice@example.test"),
        xasprintf("CONFETTI_CATALOG_URLS=ipc:///tmp/confetti-no-catalog-%d", (int)getpid()),
        xasprintf("CONFETTI_THROTTLE_MAX_FAILURES=5"),
        NULL,
    };
    svc = th_service_start(auth_service_def(),
                           &(th_service_opts){.keys = keys, .clock = &clk, .env = (void *)env});
    for (int i = 0; env[i]; i++)
        free(env[i]);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    th_service_stop(svc);
    th_oidc_stop(&oidc);
    unlink(keyfile);
    th_keys_free(keys);
    curl_global_cleanup();
    return 0;
}

/* ---- tests ---- */

static void test_login_and_me(void **state)
{
    (void)state;
    login l;
    do_login(&l);
    assert_true(l.admin); /* bootstrapped from admins.emails */
    assert_code(CF_OK, get_me(l.access));
    /* Logging in again finds the same user by (provider, provider_id). */
    login l2;
    do_login(&l2);
    assert_string_equal(l.user_id, l2.user_id);
    assert_string_not_equal(l.sid, l2.sid);
}

static void test_providers_and_state_rules(void **state)
{
    (void)state;
    Auth__V1__ListProvidersRequest lp = AUTH__V1__LIST_PROVIDERS_REQUEST__INIT;
    rpc_ccall cc;
    assert_code(CF_OK, call("ListProviders", &lp.base, NULL, &cc));
    const Auth__V1__ListProvidersResponse *r = (const void *)cc.response;
    assert_int_equal(r->n_providers, 1);
    assert_string_equal(r->providers[0]->name, "dev");
    rpc_ccall_free(&cc);

    Auth__V1__BeginLoginRequest b = AUTH__V1__BEGIN_LOGIN_REQUEST__INIT;
    b.provider = "dev";
    b.redirect_uri = "https://evil.example/cb";
    assert_code(CF_INVALID_ARGUMENT, call("BeginLogin", &b.base, NULL, &cc));
    rpc_ccall_free(&cc);
    b.redirect_uri = "";
    b.provider = "nope";
    assert_code(CF_NOT_FOUND, call("BeginLogin", &b.base, NULL, &cc));
    rpc_ccall_free(&cc);

    /* An expired state is refused. */
    b.provider = "dev";
    assert_code(CF_OK, call("BeginLogin", &b.base, NULL, &cc));
    char *st = xstrdup(((const Auth__V1__BeginLoginResponse *)cc.response)->state);
    rpc_ccall_free(&cc);
    clk.offset = 11 * 60;
    Auth__V1__FinishLoginRequest f = AUTH__V1__FINISH_LOGIN_REQUEST__INIT;
    f.provider = "dev";
    f.code = "whatever";
    f.state = st;
    assert_code(CF_UNAUTHENTICATED, call("FinishLogin", &f.base, NULL, &cc));
    rpc_ccall_free(&cc);
    clk.offset = 0;
    /* An unknown state too. */
    f.state = "not-a-state";
    assert_code(CF_UNAUTHENTICATED, call("FinishLogin", &f.base, NULL, &cc));
    rpc_ccall_free(&cc);
    free(st);
}

static void test_refresh_grace_and_reuse(void **state)
{
    (void)state;
    login l;
    do_login(&l);
    char a1[4096], r1[128], a1b[4096], r1b[128];
    assert_code(CF_OK, refresh(l.refresh, a1, r1));
    assert_string_not_equal(r1, l.refresh);
    /* Within the grace, the previous token answers the same pair. */
    assert_code(CF_OK, refresh(l.refresh, a1b, r1b));
    assert_string_equal(r1, r1b);
    assert_string_equal(a1, a1b);
    assert_code(CF_OK, get_me(a1));
    /* The new one rotates on. */
    char a2[4096], r2[128];
    assert_code(CF_OK, refresh(r1, a2, r2));
    /* The first token (two generations back) is a reuse: the session is revoked. */
    assert_code(CF_UNAUTHENTICATED, refresh(l.refresh, NULL, NULL));
    assert_code(CF_UNAUTHENTICATED, refresh(r2, NULL, NULL));
    assert_code(CF_UNAUTHENTICATED, get_me(a2)); /* its live access token is blacklisted */

    /* Reuse of the immediately previous token after the grace also revokes. */
    login m;
    do_login(&m);
    char b1[4096], s1[128];
    assert_code(CF_OK, refresh(m.refresh, b1, s1));
    clk.offset = 11;
    assert_code(CF_UNAUTHENTICATED, refresh(m.refresh, NULL, NULL));
    assert_code(CF_UNAUTHENTICATED, refresh(s1, NULL, NULL));
    clk.offset = 0;
    char q[256];
    snprintf(q, sizeof q, "SELECT revoked_reason FROM auth.sessions WHERE id = '%s'", m.sid);
    char *why = sql1(q);
    assert_string_equal(why, "refresh_token_reuse");
    free(why);
}

typedef struct racer {
    const char *rt;
    cf_code code;
    char next[128];
} racer;

static void *race(void *arg)
{
    racer *r = arg;
    r->code = refresh(r->rt, NULL, r->next);
    return NULL;
}

static void test_concurrent_refresh(void **state)
{
    (void)state;
    for (int round = 0; round < 5; round++) {
        login l;
        do_login(&l);
        racer a = {l.refresh, 0, ""}, b = {l.refresh, 0, ""};
        pthread_t ta, tb;
        pthread_create(&ta, NULL, race, &a);
        pthread_create(&tb, NULL, race, &b);
        pthread_join(ta, NULL);
        pthread_join(tb, NULL);
        assert_true(a.code == CF_OK || b.code == CF_OK);
        if (a.code == CF_OK && b.code == CF_OK)
            assert_string_equal(a.next, b.next); /* the grace answer: one branch only */
        char q[256];
        snprintf(q, sizeof q, "SELECT generation FROM auth.sessions WHERE id = '%s'", l.sid);
        char *gen = sql1(q);
        assert_string_equal(gen, "1");
        free(gen);
    }
}

static void test_logout_and_sessions(void **state)
{
    (void)state;
    login l, other;
    do_login(&l);
    do_login(&other);
    Auth__V1__ListSessionsRequest ls = AUTH__V1__LIST_SESSIONS_REQUEST__INIT;
    rpc_ccall cc;
    assert_code(CF_OK, call("ListSessions", &ls.base, l.access, &cc));
    const Auth__V1__ListSessionsResponse *r = (const void *)cc.response;
    int current = 0;
    for (size_t i = 0; i < r->n_sessions; i++)
        if (r->sessions[i]->current) {
            current++;
            assert_string_equal(r->sessions[i]->id, l.sid);
            assert_string_equal(r->sessions[i]->user_agent, "test-agent/1.0");
            assert_string_equal(r->sessions[i]->ip_address, "192.0.2.7");
        }
    assert_int_equal(current, 1);
    rpc_ccall_free(&cc);

    /* Revoke the other session; twice is fine. */
    Auth__V1__RevokeSessionRequest rs = AUTH__V1__REVOKE_SESSION_REQUEST__INIT;
    rs.session_id = other.sid;
    assert_code(CF_OK, call("RevokeSession", &rs.base, l.access, &cc));
    rpc_ccall_free(&cc);
    assert_code(CF_OK, call("RevokeSession", &rs.base, l.access, &cc));
    rpc_ccall_free(&cc);
    assert_code(CF_UNAUTHENTICATED, get_me(other.access));
    assert_code(CF_UNAUTHENTICATED, refresh(other.refresh, NULL, NULL));
    rs.session_id = "cnosuchsession000000000000";
    assert_code(CF_NOT_FOUND, call("RevokeSession", &rs.base, l.access, &cc));
    rpc_ccall_free(&cc);

    Auth__V1__LogoutRequest lo = AUTH__V1__LOGOUT_REQUEST__INIT;
    assert_code(CF_OK, call("Logout", &lo.base, l.access, &cc));
    rpc_ccall_free(&cc);
    assert_code(CF_UNAUTHENTICATED, get_me(l.access));
    assert_code(CF_UNAUTHENTICATED, refresh(l.refresh, NULL, NULL));

    Auth__V1__ListRevokedTokensRequest lr = AUTH__V1__LIST_REVOKED_TOKENS_REQUEST__INIT;
    assert_code(CF_OK, call("ListRevokedTokens", &lr.base, NULL, &cc));
    assert_true(((const Auth__V1__ListRevokedTokensResponse *)cc.response)->n_tokens >= 2);
    rpc_ccall_free(&cc);
}

static void test_users(void **state)
{
    (void)state;
    login l;
    do_login(&l);
    Auth__V1__UpdateMeRequest u = AUTH__V1__UPDATE_ME_REQUEST__INIT;
    Auth__V1__User user = AUTH__V1__USER__INIT;
    Google__Protobuf__FieldMask mask = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
    char *paths[] = {"name"};
    user.name = "Alice Renamed";
    user.email = "ignored@example.test";
    mask.paths = paths;
    mask.n_paths = 1;
    u.user = &user;
    u.update_mask = &mask;
    rpc_ccall cc;
    assert_code(CF_OK, call("UpdateMe", &u.base, l.access, &cc));
    assert_string_equal(((const Auth__V1__User *)cc.response)->name, "Alice Renamed");
    assert_string_equal(((const Auth__V1__User *)cc.response)->email, "alice@example.test");
    rpc_ccall_free(&cc);
    /* the one rule for names (issue 24 item 5, base/name.h): trimmed and NFC when kept ... */
    user.name = "  Jose\xcc\x81 ";
    assert_code(CF_OK, call("UpdateMe", &u.base, l.access, &cc));
    assert_string_equal(((const Auth__V1__User *)cc.response)->name, "Jos\xc3\xa9");
    rpc_ccall_free(&cc);
    /* ... and a blank one (null arrives as ""), a line break or a control character refused */
    const char *bad[] = {"", "   ", "\t\n", "a\nb", "a\x01", NULL};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        user.name = (char *)bad[i];
        assert_code(CF_INVALID_ARGUMENT, call("UpdateMe", &u.base, l.access, &cc));
        assert_true(cc.ndetails == 1);
        assert_string_equal(cc.details[0]->field, "user.name");
        rpc_ccall_free(&cc);
    }
    user.name = "Alice Renamed";
    paths[0] = "email";
    assert_code(CF_INVALID_ARGUMENT, call("UpdateMe", &u.base, l.access, &cc));
    rpc_ccall_free(&cc);

    Auth__V1__GetUserRequest g = AUTH__V1__GET_USER_REQUEST__INIT;
    g.user_id = l.user_id;
    assert_code(CF_OK, call("GetUser", &g.base, l.access, &cc)); /* alice is an admin */
    rpc_ccall_free(&cc);
    char *plain = th_token(keys, "someone-else", 600, false);
    assert_code(CF_PERMISSION_DENIED, call("GetUser", &g.base, plain, &cc));
    rpc_ccall_free(&cc);
    free(plain);

    /* DeleteMe: soft delete, every session revoked. */
    login l2;
    do_login(&l2);
    Auth__V1__DeleteMeRequest d = AUTH__V1__DELETE_ME_REQUEST__INIT;
    assert_code(CF_OK, call("DeleteMe", &d.base, l.access, &cc));
    rpc_ccall_free(&cc);
    assert_code(CF_UNAUTHENTICATED, get_me(l2.access));
    assert_code(CF_UNAUTHENTICATED, refresh(l2.refresh, NULL, NULL));
    /* Logging in again makes a new account. */
    login l3;
    do_login(&l3);
    assert_string_not_equal(l3.user_id, l.user_id);
}

static void test_forged_tokens(void **state)
{
    (void)state;
    long now = (long)(cf_wall_ms() / 1000);
    char payload[512];
    snprintf(payload, sizeof payload,
             "{\"iss\":\"%s\",\"aud\":\"%s\",\"sub\":\"x\",\"iat\":%ld,\"exp\":%ld}", TH_ISSUER,
             TH_AUDIENCE, now, now + 600);
    char hdr[256];
    const char *algs[] = {"none", "HS256"};
    for (int i = 0; i < 2; i++) {
        snprintf(hdr, sizeof hdr, "{\"alg\":\"%s\",\"kid\":\"%s\"}", algs[i], th_keys_kid(keys));
        char *t = th_token_raw(keys, hdr, payload);
        assert_code(CF_UNAUTHENTICATED, get_me(t));
        free(t);
    }
    char *t = th_token_raw(keys, "{\"alg\":\"RS256\",\"kid\":\"unknown\"}", payload);
    assert_code(CF_UNAUTHENTICATED, get_me(t));
    free(t);
    snprintf(hdr, sizeof hdr, "{\"alg\":\"RS256\",\"kid\":\"%s\"}", th_keys_kid(keys));
    t = th_token_raw(keys, hdr, payload);
    t[strlen(t) - 3] ^= 1; /* bad signature */
    assert_code(CF_UNAUTHENTICATED, get_me(t));
    free(t);
    snprintf(payload, sizeof payload,
             "{\"iss\":\"%s\",\"aud\":\"%s\",\"sub\":\"x\",\"iat\":%ld,\"exp\":%ld}", TH_ISSUER,
             TH_AUDIENCE, now - 7200, now - 3600);
    t = th_token_raw(keys, hdr, payload);
    assert_code(CF_UNAUTHENTICATED, get_me(t));
    free(t);
    snprintf(payload, sizeof payload,
             "{\"iss\":\"https://other\",\"aud\":\"%s\",\"sub\":\"x\",\"iat\":%ld,\"exp\":%ld}",
             TH_AUDIENCE, now, now + 600);
    t = th_token_raw(keys, hdr, payload);
    assert_code(CF_UNAUTHENTICATED, get_me(t));
    free(t);
}

static void test_jwks_verifies_with_jose(void **state)
{
    (void)state;
    login l;
    do_login(&l);
    Auth__V1__GetJwksRequest r = AUTH__V1__GET_JWKS_REQUEST__INIT;
    rpc_ccall cc;
    assert_code(CF_OK, call("GetJwks", &r.base, NULL, &cc));
    const Auth__V1__GetJwksResponse *j = (const void *)cc.response;
    assert_int_equal(j->n_keys, 1);
    assert_string_equal(j->keys[0]->kid, th_keys_kid(keys));
    assert_int_equal(j->max_age_seconds, 300);
    char *doc = pbjson_to_string(cc.response);
    rpc_ccall_free(&cc);
    char path[128];
    snprintf(path, sizeof path, "/tmp/confetti-auth-jwks-%d.json", (int)getpid());
    FILE *f = fopen(path, "w");
    fputs(doc, f);
    fclose(f);
    free(doc);
    char out[4096];
    const char *argv[] = {"node", OIDC_DIR "/verify.mjs", path, l.access, TH_ISSUER, TH_AUDIENCE,
                          NULL};
    if (th_run(argv, NULL, out, sizeof out) != 0)
        fail_msg("verify.mjs refused our token: %s", out);
    /* and a forged one does not */
    char *forged = xasprintf("%sx", l.access);
    argv[3] = forged;
    assert_int_not_equal(th_run(argv, NULL, NULL, 0), 0);
    free(forged);
    unlink(path);
}

static void test_no_plaintext_at_rest(void **state)
{
    (void)state;
    login l;
    do_login(&l);
    char r1[128];
    assert_code(CF_OK, refresh(l.refresh, NULL, r1));
    const char *secrets[] = {l.refresh, r1, "confetti-dev-secret"};
    for (size_t i = 0; i < 3; i++) {
        char q[1024];
        snprintf(q, sizeof q,
                 "SELECT count(*) FROM (SELECT s::text FROM auth.sessions s UNION ALL "
                 "SELECT h::text FROM auth.refresh_history h UNION ALL SELECT b::text FROM "
                 "auth.token_blacklist b UNION ALL SELECT u::text FROM auth.users u UNION ALL "
                 "SELECT l::text FROM auth.login_states l) t(row) WHERE row LIKE '%%%s%%'",
                 secrets[i]);
        char *n = sql1(q);
        assert_string_equal(n, "0");
        free(n);
    }
}

static void test_throttle(void **state)
{
    (void)state;
    Auth__V1__RefreshRequest r = AUTH__V1__REFRESH_REQUEST__INIT;
    Auth__V1__ClientInfo ci = AUTH__V1__CLIENT_INFO__INIT;
    ci.ip_address = "198.51.100.9";
    r.refresh_token = "garbage";
    r.client = &ci;
    rpc_ccall cc;
    /* a refresh token is its own secret: the source alone is counted, up to
     * throttle.max_failures_per_source (100) free failures (services/auth/throttle.h) */
    for (int i = 0; i < 100; i++) {
        assert_code(CF_UNAUTHENTICATED, call("Refresh", &r.base, NULL, &cc));
        rpc_ccall_free(&cc);
    }
    assert_code(CF_RESOURCE_EXHAUSTED, call("Refresh", &r.base, NULL, &cc));
    assert_int_equal(1, cc.retry_after_s); /* the first delay: 1 s, said in the reply */
    rpc_ccall_free(&cc);
    /* another source is not slowed */
    ci.ip_address = "198.51.100.10";
    assert_code(CF_UNAUTHENTICATED, call("Refresh", &r.base, NULL, &cc));
    rpc_ccall_free(&cc);
    ci.ip_address = "198.51.100.9";
    clk.offset = 301; /* temporary: the delay and a quiet window pass */
    assert_code(CF_UNAUTHENTICATED, call("Refresh", &r.base, NULL, &cc));
    rpc_ccall_free(&cc);
    clk.offset = 0;
    /* App tokens: catalog unreachable here → UNAVAILABLE, never a token. */
    Auth__V1__IssueAppTokenRequest a = AUTH__V1__ISSUE_APP_TOKEN_REQUEST__INIT;
    a.app_id = "app";
    a.app_secret = "secret";
    cf_code code = call("IssueAppToken", &a.base, NULL, &cc);
    rpc_ccall_free(&cc);
    assert_true(code == CF_UNAVAILABLE || code == CF_DEADLINE_EXCEEDED);
}

/* SPEC §3 OAuth: "a verified e-mail that matches a live user links the identity to that
 * user". Alice deletes her dev-provider account; a live account with her e-mail exists from
 * another provider; logging in through dev lands on that account. Runs last: it deletes alice's
 * first account. */
static void test_verified_email_links_to_the_live_user(void **state)
{
    (void)state;
    login first;
    do_login(&first); /* alice's live account (created by an earlier test or now) */
    Auth__V1__DeleteMeRequest d = AUTH__V1__DELETE_ME_REQUEST__INIT;
    rpc_ccall cc;
    assert_code(CF_OK, call("DeleteMe", &d.base, first.access, &cc));
    rpc_ccall_free(&cc);
    free(sql1("INSERT INTO auth.users (id, email, name, provider, provider_id) VALUES "
              "('u-from-google', 'alice@example.test', 'Alice', 'google', 'g-123') RETURNING id"));
    login l;
    do_login(&l);
    assert_string_equal(l.user_id, "u-from-google");
    char *n = sql1("SELECT count(*) FROM auth.users WHERE email = 'alice@example.test' AND "
                   "deleted_at IS NULL");
    assert_string_equal(n, "1"); /* linked, not a second account */
    free(n);
}

/* Issue 18 item 5 (docs/audit.md): a login and each session revocation write exactly one audit
 * row, in their own transaction; a refused login (do_login replays a spent state) and a repeated
 * revocation write none; platform admins read them with ListAudit, other users may not. */
static long count1(const char *q)
{
    char *v = sql1(q);
    long n = strtol(v, NULL, 10);
    free(v);
    return n;
}

static void test_audit_rows(void **state)
{
    (void)state;
    long before = count1("SELECT count(*) FROM auth.audit_log WHERE action = 'user.login'");
    login l;
    do_login(&l);
    assert_int_equal(count1("SELECT count(*) FROM auth.audit_log WHERE action = 'user.login'"),
                     before + 1);
    char *actor = sql1("SELECT actor_id || '/' || detail FROM auth.audit_log WHERE action = "
                       "'user.login' ORDER BY occurred_at DESC, id DESC LIMIT 1");
    char want[128];
    snprintf(want, sizeof want, "%s/dev", l.user_id);
    assert_string_equal(actor, want);
    free(actor);

    login o;
    do_login(&o);
    Auth__V1__RevokeSessionRequest rs = AUTH__V1__REVOKE_SESSION_REQUEST__INIT;
    rs.session_id = o.sid;
    rpc_ccall cc;
    for (int i = 0; i < 2; i++) {
        assert_code(CF_OK, call("RevokeSession", &rs.base, l.access, &cc));
        rpc_ccall_free(&cc);
    }
    char q[512];
    snprintf(q, sizeof q,
             "SELECT count(*) FROM auth.audit_log WHERE action = 'session.revoked' AND "
             "target_id = '%s' AND actor_id = '%s' AND detail = 'revoked_by_user'",
             o.sid, l.user_id);
    assert_int_equal(count1(q), 1);

    assert_true(l.admin);
    Audit__V1__ListAuditRequest la = AUDIT__V1__LIST_AUDIT_REQUEST__INIT;
    la.action = "session.revoked";
    assert_code(CF_OK, call("ListAudit", &la.base, l.access, &cc));
    const Audit__V1__ListAuditResponse *r = (const void *)cc.response;
    assert_true(r->n_entries >= 1);
    assert_string_equal(r->entries[0]->target_id, o.sid);
    assert_string_equal(r->entries[0]->service, "auth");
    rpc_ccall_free(&cc);
    char *bob = th_token(keys, "bob", 600, false);
    assert_code(CF_PERMISSION_DENIED, call("ListAudit", &la.base, bob, &cc));
    rpc_ccall_free(&cc);
    la.room_id = "some-room"; /* no auth row names a room: an empty page, never another's rows */
    assert_code(CF_OK, call("ListAudit", &la.base, bob, &cc));
    assert_int_equal(((const Audit__V1__ListAuditResponse *)cc.response)->n_entries, 0);
    rpc_ccall_free(&cc);
    free(bob);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_login_and_me),
        cmocka_unit_test(test_providers_and_state_rules),
        cmocka_unit_test(test_refresh_grace_and_reuse),
        cmocka_unit_test(test_concurrent_refresh),
        cmocka_unit_test(test_logout_and_sessions),
        cmocka_unit_test(test_audit_rows),
        cmocka_unit_test(test_users),
        cmocka_unit_test(test_forged_tokens),
        cmocka_unit_test(test_jwks_verifies_with_jose),
        cmocka_unit_test(test_no_plaintext_at_rest),
        cmocka_unit_test(test_throttle),
        cmocka_unit_test(test_verified_email_links_to_the_live_user),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
