/* test_login_hardening.c — issue 14 item 4, against the real OpenID provider:
 * - the login is bound to the browser that began it (login CSRF): a callback without the
 *   binding, or with another one, is refused and spends the state; through the gateway the
 *   binding is a cookie set with the 302 to the provider and brought back by the callback;
 * - the dev provider here is NOT trusted for e-mail (the default): its verified e-mail links no
 *   account, makes no admin (admins.emails names it) and is not recorded;
 * - the refresh grace is measured in milliseconds: the previous token presented 10 s after the
 *   rotation (grace 10 s) is a reuse, not a grace (whole seconds with <= granted it). */
#include "th.h"
#include "service.h"
#include "th_http.h"
#include "oidc.h"
#include "pg.h"
#include "auth.h"
#include "gateway.h"
#include "auth/v1/auth.pb-c.h"
#include "base/clock.h"
#include "base/xmalloc.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int64_t test_now(const cf_clock *c)
{
    return cf_wall_ms() / 1000 + c->offset;
}
static cf_clock clk = {test_now, 0};

static th_keys *keys;
static th_service *auth, *gwsvc;
static th_oidc oidc;
static char redirect[128], keyfile[128], base[64];

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
    rpc_client_invoke(auth->client, &auth__v1__auth__descriptor,
                      (unsigned)(m - auth__v1__auth__descriptor.methods), in, cc);
    free(bearer);
    return cc->code;
}

/* BeginLogin (with binding, or none) and the provider's part: the code and the state. */
static char *begin(const char *binding, char *state, size_t cap)
{
    Auth__V1__BeginLoginRequest b = AUTH__V1__BEGIN_LOGIN_REQUEST__INIT;
    b.provider = "dev";
    b.browser_binding = (char *)(binding ? binding : "");
    rpc_ccall cc;
    assert_code(CF_OK, call("BeginLogin", &b.base, NULL, &cc));
    char *code = th_oidc_authorize(
        ((const Auth__V1__BeginLoginResponse *)cc.response)->authorize_url, redirect, state, cap);
    rpc_ccall_free(&cc);
    return code;
}

typedef struct finished {
    cf_code code;
    char message[256];
    char access[4096], refresh[128], user_id[64], email[128];
    bool admin;
} finished;

static finished finish(const char *code, const char *state, const char *binding)
{
    Auth__V1__FinishLoginRequest f = AUTH__V1__FINISH_LOGIN_REQUEST__INIT;
    f.provider = "dev";
    f.code = (char *)code;
    f.state = (char *)state;
    f.browser_binding = (char *)(binding ? binding : "");
    rpc_ccall cc;
    finished out = {.code = call("FinishLogin", &f.base, NULL, &cc)};
    snprintf(out.message, sizeof out.message, "%s", cc.message ? cc.message : "");
    if (out.code == CF_OK) {
        const Auth__V1__TokenResponse *t = (const void *)cc.response;
        snprintf(out.access, sizeof out.access, "%s", t->access_token);
        snprintf(out.refresh, sizeof out.refresh, "%s", t->refresh_token);
        snprintf(out.user_id, sizeof out.user_id, "%s", t->user->id);
        snprintf(out.email, sizeof out.email, "%s", t->user->email);
        out.admin = t->user->is_admin;
    }
    rpc_ccall_free(&cc);
    return out;
}

static finished login(void)
{
    char state[128];
    char *code = begin(NULL, state, sizeof state);
    finished f = finish(code, state, NULL);
    free(code);
    if (f.code != CF_OK)
        fail_msg("login: %s %s", cf_code_name(f.code), f.message);
    return f;
}

static int setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    keys = th_keys_new("RS256");
    snprintf(keyfile, sizeof keyfile, "/tmp/confetti-hardening-key-%d.pem", (int)getpid());
    FILE *f = fopen(keyfile, "w");
    fputs(th_keys_private_pem(keys), f);
    fclose(f);
    snprintf(base, sizeof base, "http://127.0.0.1:%d", th_free_port());
    snprintf(redirect, sizeof redirect, "%s/v1/auth/dev/callback", base);
    th_oidc_start(&oidc, OIDC_DIR, redirect);
    char *env[] = {
        xasprintf("CONFETTI_SIGNING_KEYS=%s=%s", th_keys_kid(keys), keyfile),
        xasprintf("CONFETTI_PROVIDER_DEV_ENABLED=true"), /* trusted_email: the default, false */
        xasprintf("CONFETTI_PROVIDER_DEV_ISSUER=%s", oidc.issuer),
        xasprintf("CONFETTI_PROVIDER_DEV_CLIENT_ID=confetti"),
        xasprintf("CONFETTI_PROVIDER_DEV_CLIENT_SECRET=confetti-dev-secret"),
        xasprintf("CONFETTI_PROVIDER_DEV_REDIRECT_URIS=%s", redirect),
        xasprintf("CONFETTI_ADMINS_EMAILS=alice@example.test"),
        xasprintf("CONFETTI_CATALOG_URLS=ipc:///tmp/confetti-no-catalog-%d", (int)getpid()),
        NULL,
    };
    auth = th_service_start(auth_service_def(),
                            &(th_service_opts){.keys = keys, .clock = &clk, .env = (void *)env});
    char *genv[] = {xasprintf("CONFETTI_HTTP_LISTEN=%s", base),
                    xasprintf("CONFETTI_SERVICES_AUTH=%s", auth->url), NULL};
    gwsvc = th_service_start(gateway_service_def(),
                             &(th_service_opts){.keys = keys, .env = (void *)genv});
    for (int i = 0; env[i]; i++)
        free(env[i]);
    for (int i = 0; genv[i]; i++)
        free(genv[i]);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    th_service_stop(gwsvc);
    th_service_stop(auth);
    th_oidc_stop(&oidc);
    unlink(keyfile);
    th_keys_free(keys);
    curl_global_cleanup();
    return 0;
}

static void test_login_is_bound_to_the_browser_that_began_it(void **state)
{
    (void)state;
    char st[128];
    /* another browser's callback (no binding, or another one): refused, and the state spent */
    char *code = begin("victim-cookie", st, sizeof st);
    finished f = finish(code, st, NULL);
    assert_code(CF_UNAUTHENTICATED, f.code);
    assert_non_null(strstr(f.message, "another browser"));
    free(code);
    code = begin("victim-cookie", st, sizeof st);
    f = finish(code, st, "attacker-cookie");
    assert_code(CF_UNAUTHENTICATED, f.code);
    f = finish(code, st, "victim-cookie"); /* spent by the refused attempt */
    assert_code(CF_UNAUTHENTICATED, f.code);
    assert_non_null(strstr(f.message, "already used"));
    free(code);
    /* the browser that began it */
    code = begin("victim-cookie", st, sizeof st);
    f = finish(code, st, "victim-cookie");
    assert_code(CF_OK, f.code);
    free(code);
}

/* Through the gateway: the 302 sets the cookie; a callback without it is refused, the browser
 * that kept it finishes the login, and the cookie is cleared. */
static void test_gateway_sets_and_checks_the_login_cookie(void **state)
{
    (void)state;
    char url[512];
    snprintf(url, sizeof url, "%s/v1/auth/dev/login", base);
    th_http_resp r = th_http(&(th_http_req){.method = "GET", .url = url});
    assert_int_equal(r.status, 302);
    char cookie[256], loc[2048];
    assert_true(th_http_header(&r, "Set-Cookie", cookie, sizeof cookie));
    assert_true(th_http_header(&r, "Location", loc, sizeof loc));
    th_http_free(&r);
    assert_true(strncmp(cookie, "confetti_login=", 15) == 0);
    assert_non_null(strstr(cookie, "HttpOnly"));
    assert_non_null(strstr(cookie, "SameSite=Lax"));
    assert_non_null(strstr(cookie, "Path=/v1/auth/"));
    assert_null(strstr(cookie, "Secure")); /* the callback is http://127.0.0.1 here */

    /* the provider sends the browser back; an attacker replays this callback in a browser
     * without the cookie (login CSRF): refused */
    char st[128];
    char *code = th_oidc_authorize(loc, redirect, st, sizeof st);
    char cb[1024];
    snprintf(cb, sizeof cb, "%s?code=%s&state=%s", redirect, code, st);
    r = th_http(&(th_http_req){.method = "GET", .url = cb});
    assert_int_equal(r.status, 401);
    assert_non_null(strstr(r.body, "another browser"));
    th_http_free(&r);
    free(code);

    /* a whole login in one browser (cookies kept, redirects followed): tokens */
    void *h = th_http_session();
    r = th_http(&(th_http_req){.method = "GET", .url = url, .follow = true, .session = h});
    if (r.status != 200)
        fail_msg("login through the gateway: %ld %s", r.status, r.body);
    assert_non_null(strstr(r.body, "accessToken"));
    char cleared[256];
    assert_true(th_http_header(&r, "Set-Cookie", cleared, sizeof cleared));
    assert_non_null(strstr(cleared, "Max-Age=0"));
    th_http_free(&r);
    th_http_session_free(h);
}

static void test_untrusted_provider_email_links_nothing_and_makes_no_admin(void **state)
{
    (void)state;
    /* a live account with alice's address, from a provider that vouched for it */
    PGconn *c = th_pg_connect(auth->dsn);
    PQclear(PQexec(c, "INSERT INTO auth.users (id, email, name, provider, provider_id) VALUES "
                      "('u-trusted', 'alice@example.test', 'Alice', 'google', 'g-1')"));
    finished f = login();
    assert_string_not_equal(f.user_id, "u-trusted"); /* not linked */
    assert_false(f.admin);                           /* admins.emails names alice: not via dev */
    assert_string_equal(f.email, "");                /* not recorded either */
    PGresult *r = PQexec(c, "SELECT count(*) FROM auth.identities WHERE user_id = 'u-trusted'");
    assert_string_equal(PQgetvalue(r, 0, 0), "0");
    PQclear(r);
    PQfinish(c);
}

static cf_code refresh(const char *rt, char *access, char *next)
{
    Auth__V1__RefreshRequest q = AUTH__V1__REFRESH_REQUEST__INIT;
    q.refresh_token = (char *)rt;
    rpc_ccall cc;
    cf_code code = call("Refresh", &q.base, NULL, &cc);
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

/* Starts at the beginning of a wall-clock second, so that the rotation and the retry fall in
 * one second: then whole seconds would see exactly `offset` seconds between them. */
static void align_to_second_start(void)
{
    while (cf_wall_ms() % 1000 > 300)
        usleep(10000);
}

static void test_refresh_grace_is_measured_in_milliseconds(void **state)
{
    (void)state;
    /* 9 s after the rotation: within the 10 s grace, the same pair */
    finished a = login();
    char a1[4096], r1[128], again[128];
    align_to_second_start();
    assert_code(CF_OK, refresh(a.refresh, a1, r1));
    clk.offset = 9;
    assert_code(CF_OK, refresh(a.refresh, NULL, again));
    assert_string_equal(r1, again);
    clk.offset = 0;
    /* 10 s and a few milliseconds after: over the grace, a reuse (the session dies) */
    finished b = login();
    char b1[4096], s1[128];
    align_to_second_start();
    assert_code(CF_OK, refresh(b.refresh, b1, s1));
    clk.offset = 10;
    assert_code(CF_UNAUTHENTICATED, refresh(b.refresh, NULL, NULL));
    assert_code(CF_UNAUTHENTICATED, refresh(s1, NULL, NULL));
    clk.offset = 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_login_is_bound_to_the_browser_that_began_it),
        cmocka_unit_test(test_gateway_sets_and_checks_the_login_cookie),
        cmocka_unit_test(test_untrusted_provider_email_links_nothing_and_makes_no_admin),
        cmocka_unit_test(test_refresh_grace_is_measured_in_milliseconds),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
