/* test_login.c — the browser dance end to end over real HTTP: the gateway, confetti-auth and a
 * real OpenID provider (the oidc-provider npm package, --auto logs alice in) on loopback.
 * GET /v1/auth/dev/login → 302 to the provider (an empty body that says so: Content-Length 0)
 * → provider → 302 to /v1/auth/dev/callback → tokens; then /v1/users/me, refresh rotation,
 * logout, and the logged-out token refused right away. Also the client's address (issue 21
 * item 2: sessions record it; forwarded headers count only from http.trusted_proxies) and the
 * anonymous rate limit per address (issue 13 item 4: a flooding client does not lock out
 * another one's login and refresh), with client sockets bound to 127.0.0.2 and 127.0.0.3. */
#include "th.h"
#include "service.h"
#include "th_ident.h"
#include "th_proc.h"
#include "th_http.h"
#include "oidc.h"
#include "auth.h"
#include "gateway.h"
#include "rooms.h"
#include "bus.h"
#include "testsvc.h"
#include "base/clock.h"
#include "base/xmalloc.h"

#include <curl/curl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static th_keys *keys;
static th_service *auth, *gwsvc, *bus, *rooms;
static char base2[64], jwks2[128];
static pid_t gw2_pid;
static char keyfile[128], base[64];
static th_oidc oidc;

typedef struct resp {
    long status;
    char *body; /* owned */
    size_t len;
    char location[1024];
    bool content_length_zero;
} resp;

/* One request (th_http.h) from source (a local address, NULL = the default) with extra header
 * lines, with what these tests look at picked out of the headers. */
static resp http_from(const char *source, const char *const *headers, const char *method,
                      const char *url, const char *token, const char *body, bool follow,
                      void *session, char *retry_after)
{
    th_http_resp t = th_http(&(th_http_req){.method = method,
                                            .url = url,
                                            .bearer = token,
                                            .body = body,
                                            .headers = headers,
                                            .follow = follow,
                                            .session = session,
                                            .source = source});
    if (retry_after)
        th_http_header(&t, "Retry-After", retry_after, 16);
    resp r = {.status = t.status, .body = t.body, .len = t.len};
    th_http_header(&t, "Location", r.location, sizeof r.location);
    char cl[32];
    r.content_length_zero = th_http_header(&t, "Content-Length", cl, sizeof cl) && !strcmp(cl, "0");
    free(t.headers);
    return r;
}

/* One request (th_http.h) from the default address. session: a th_http_session() handle
 * keeping the provider's cookies, or NULL. */
static resp http(const char *method, const char *url, const char *token, const char *body,
                 bool follow, void *session)
{
    return http_from(NULL, NULL, method, url, token, body, follow, session, NULL);
}

static char *json_str(const char *body, const char *key)
{
    json_t *j = json_loads(body ? body : "", 0, NULL);
    const char *v = j ? json_string_value(json_object_get(j, key)) : NULL;
    char *out = v ? xstrdup(v) : NULL;
    json_decref(j);
    return out;
}

static int setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_ALL);
    keys = th_keys_new("RS256");
    snprintf(keyfile, sizeof keyfile, "/tmp/confetti-login-key-%d.pem", (int)getpid());
    FILE *f = fopen(keyfile, "w");
    fputs(th_keys_private_pem(keys), f);
    fclose(f);
    int gw_port = th_free_port();
    snprintf(base, sizeof base, "http://127.0.0.1:%d", gw_port);
    char redirect[128];
    snprintf(redirect, sizeof redirect, "%s/v1/auth/dev/callback", base);
    th_oidc_start(&oidc, OIDC_DIR, redirect);

    /* the event bus: auth publishes its revocations, the second gateway follows them */
    char bus_pub[128], bus_sub[128];
    th_ipc_url(bus_pub, sizeof bus_pub, "bus-pub");
    th_ipc_url(bus_sub, sizeof bus_sub, "bus-sub");
    char *benv[] = {xasprintf("CONFETTI_BUS_PUBLISHERS=%s", bus_pub),
                    xasprintf("CONFETTI_BUS_SUBSCRIBERS=%s", bus_sub), NULL};
    bus = th_service_start(bus_service_def(),
                           &(th_service_opts){.dsn = "n/a", .env = (const char *const *)benv});
    char *aenv[] = {xasprintf("CONFETTI_EVENTS_BUS=%s", bus_pub),
                    xasprintf("CONFETTI_SIGNING_KEYS=%s=%s", th_keys_kid(keys), keyfile),
                    xasprintf("CONFETTI_PROVIDER_DEV_ENABLED=true"),
                    xasprintf("CONFETTI_PROVIDER_DEV_TRUSTED_EMAIL=true"),
                    xasprintf("CONFETTI_PROVIDER_DEV_ISSUER=%s", oidc.issuer),
                    xasprintf("CONFETTI_PROVIDER_DEV_CLIENT_ID=confetti"),
                    xasprintf("CONFETTI_PROVIDER_DEV_CLIENT_SECRET=confetti-dev-secret"),
                    xasprintf("CONFETTI_PROVIDER_DEV_REDIRECT_URIS=%s", redirect),
                    NULL};
    auth = th_service_start(auth_service_def(),
                            &(th_service_opts){.keys = keys, .env = (const char *const *)aenv});
    char *genv[] = {xasprintf("CONFETTI_HTTP_LISTEN=%s", base),
                    xasprintf("CONFETTI_SERVICES_AUTH=%s", auth->url),
                    xasprintf("CONFETTI_HTTP_TRUSTED_PROXIES=127.0.0.2/32,10.0.0.0/8"),
                    /* low, so that a flood empties a bucket however slow the machine is */
                    xasprintf("CONFETTI_RATELIMIT_RATE=5"),
                    xasprintf("CONFETTI_RATELIMIT_BURST=30"), NULL};
    gwsvc = th_service_start(gateway_service_def(),
                             &(th_service_opts){.keys = keys, .env = (const char *const *)genv});
    char *renv[] = {xasprintf("CONFETTI_EVENTS_BUS=%s", bus_pub), NULL};
    rooms = th_service_start(rooms_service_def(),
                             &(th_service_opts){.keys = keys, .env = (const char *const *)renv});
    /* gateway 2 — a process of its own (a service's config is one per process) — never polls
     * the revocation list: only events can tell it */
    snprintf(base2, sizeof base2, "http://127.0.0.1:%d", th_free_port());
    snprintf(jwks2, sizeof jwks2, "/tmp/confetti-login-jwks-%d.json", (int)getpid());
    FILE *jf = fopen(jwks2, "w");
    fputs(th_keys_jwks(keys), jf);
    fclose(jf);
    authn_config ac = th_keys_config(keys);
    char rpc2[128];
    th_ipc_url(rpc2, sizeof rpc2, "gw2");
    char *g2env[20] = {xasprintf("CONFETTI_HTTP_LISTEN=%s", base2),
                       xasprintf("CONFETTI_RPC_LISTEN=%s", rpc2),
                       xasprintf("CONFETTI_ADMIN_LISTEN=http://127.0.0.1:%d", th_free_port()),
                       xasprintf("CONFETTI_SERVICES_AUTH=%s", auth->url),
                       xasprintf("CONFETTI_SERVICES_ROOMS=%s", rooms->url),
                       xasprintf("CONFETTI_AUTH_REVOKED_REFRESH=0"),
                       xasprintf("CONFETTI_AUTH_JWKS_URLS=%s", auth->url),
                       xasprintf("CONFETTI_AUTH_EVENTS=%s", bus_sub),
                       xasprintf("CONFETTI_AUTH_JWKS_FILE=%s", jwks2),
                       xasprintf("CONFETTI_AUTH_ISSUER=%s", ac.issuer),
                       xasprintf("CONFETTI_AUTH_AUDIENCE=%s", ac.audience),
                       xasprintf("CONFETTI_LOG_LEVEL=warn")};
    size_t ng = 12;
    th_ident_env("gateway", g2env, &ng); /* its key: Replay answers it, events verify */
    th_sanitizer_env(g2env, &ng);
    pid_t parent = getpid();
    gw2_pid = fork();
    if (gw2_pid == 0) {
        th_child_init(parent);
        char *argv[] = {GATEWAY_BIN, NULL};
        execve(GATEWAY_BIN, argv, g2env);
        _exit(127);
    }
    for (int i = 0; g2env[i]; i++)
        free(g2env[i]);
    char ready[128];
    snprintf(ready, sizeof ready, "%s/readyz", base2);
    long st = 0;
    for (int i = 0; i < 600 && st != 200; i++) {
        CURL *hh = curl_easy_init();
        curl_easy_setopt(hh, CURLOPT_URL, ready);
        curl_easy_setopt(hh, CURLOPT_NOBODY, 1L);
        if (curl_easy_perform(hh) == CURLE_OK)
            curl_easy_getinfo(hh, CURLINFO_RESPONSE_CODE, &st);
        curl_easy_cleanup(hh);
        if (st != 200)
            usleep(50000);
    }
    if (st != 200)
        fail_msg("the second gateway did not become ready");
    free(renv[0]);
    for (int i = 0; benv[i]; i++)
        free(benv[i]);
    for (int i = 0; aenv[i]; i++)
        free(aenv[i]);
    for (int i = 0; genv[i]; i++)
        free(genv[i]);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (gw2_pid > 0) {
        kill(gw2_pid, SIGTERM);
        waitpid(gw2_pid, NULL, 0);
    }
    unlink(jwks2);
    th_service_stop(gwsvc);
    th_service_stop(rooms);
    th_service_stop(auth);
    th_service_free(bus);
    th_oidc_stop(&oidc);
    unlink(keyfile);
    th_keys_free(keys);
    curl_global_cleanup();
    return 0;
}

static void test_browser_login_refresh_logout_through_the_gateway(void **state)
{
    (void)state;
    char url[512];
    snprintf(url, sizeof url, "%s/v1/auth/dev/login?redirect_uri=%s/v1/auth/dev/callback", base,
             base);
    /* step 1: the redirect to the provider, delimited (a keep-alive client must not wait) */
    resp r = http("GET", url, NULL, NULL, false, NULL);
    assert_int_equal(r.status, 302);
    assert_true(r.content_length_zero);
    assert_non_null(strstr(r.location, "code_challenge_method=S256"));
    assert_non_null(strstr(r.location, "state="));
    assert_non_null(strstr(r.location, "nonce="));
    free(r.body);

    /* the whole dance, following redirects like a browser */
    void *h = th_http_session();
    r = http("GET", url, NULL, NULL, true, h);
    th_http_session_free(h);
    if (r.status != 200)
        fail_msg("login ended with %ld: %s", r.status, r.body ? r.body : "");
    char *access = json_str(r.body, "accessToken"), *refresh = json_str(r.body, "refreshToken");
    assert_non_null(access);
    assert_non_null(refresh);
    assert_non_null(strstr(r.body, "alice@example.test"));
    free(r.body);

    char me_url[128];
    snprintf(me_url, sizeof me_url, "%s/v1/users/me", base);
    r = http("GET", me_url, access, NULL, false, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "alice@example.test"));
    free(r.body);

    /* refresh rotates: a new pair */
    char ref_url[128], *body = xasprintf("{\"refreshToken\":\"%s\"}", refresh);
    snprintf(ref_url, sizeof ref_url, "%s/v1/auth/refresh", base);
    r = http("POST", ref_url, NULL, body, false, NULL);
    assert_int_equal(r.status, 200);
    char *access2 = json_str(r.body, "accessToken"), *refresh2 = json_str(r.body, "refreshToken");
    assert_non_null(access2);
    assert_string_not_equal(refresh2, refresh);
    free(r.body);

    /* logout: the current access token is refused right after, by the gateway itself */
    char out_url[128];
    snprintf(out_url, sizeof out_url, "%s/v1/auth/logout", base);
    r = http("POST", out_url, access2, NULL, false, NULL);
    assert_int_equal(r.status, 200);
    free(r.body);
    r = http("GET", me_url, access2, NULL, false, NULL);
    assert_int_equal(r.status, 401);
    assert_non_null(strstr(r.body, "UNAUTHENTICATED"));
    free(r.body);
    /* and the session is gone: its refresh token no longer works */
    char *body2 = xasprintf("{\"refreshToken\":\"%s\"}", refresh2);
    r = http("POST", ref_url, NULL, body2, false, NULL);
    assert_int_equal(r.status, 401);
    free(r.body);
    free(body);
    free(body2);
    free(access);
    free(refresh);
    free(access2);
    free(refresh2);
}

/* A state from a fresh login redirect (the `state` parameter of its Location). */
static char *fresh_state(const char *login_url)
{
    resp r = http("GET", login_url, NULL, NULL, false, NULL);
    assert_int_equal(r.status, 302);
    const char *s = strstr(r.location, "state=");
    assert_non_null(s);
    s += 6;
    char *out = xstrndup(s, strcspn(s, "&"));
    free(r.body);
    return out;
}

/* The callback as a provider (or an attacker) may shape it: a refusal, a foreign issuer
 * (RFC 9207 mix-up), a replayed state — each 401, none a token. */
static void test_callback_refusals(void **state)
{
    (void)state;
    char login[512], url[1024];
    snprintf(login, sizeof login, "%s/v1/auth/dev/login?redirect_uri=%s/v1/auth/dev/callback", base,
             base);
    char *st = fresh_state(login);
    snprintf(url, sizeof url, "%s/v1/auth/dev/callback?error=access_denied&state=%s", base, st);
    resp r = http("GET", url, NULL, NULL, false, NULL);
    assert_int_equal(r.status, 401);
    assert_non_null(strstr(r.body, "refused"));
    free(r.body);
    free(st);

    st = fresh_state(login);
    snprintf(url, sizeof url,
             "%s/v1/auth/dev/callback?code=stolen&state=%s&iss=http%%3A%%2F%%2Fevil.example", base,
             st);
    r = http("GET", url, NULL, NULL, false, NULL);
    assert_int_equal(r.status, 401);
    assert_non_null(strstr(r.body, "another issuer"));
    free(r.body);
    /* that state is spent: replaying it fails too */
    snprintf(url, sizeof url, "%s/v1/auth/dev/callback?code=stolen&state=%s", base, st);
    r = http("GET", url, NULL, NULL, false, NULL);
    assert_int_equal(r.status, 401);
    free(r.body);
    free(st);
}

/* SPEC §3: "revocations reach every verifier within a second through events". A token logged
 * out through gateway 1 is refused by gateway 2 — which never polls the revocation list — in
 * under a second, on a route whose service (rooms) checks only the signature. */
static void test_logout_reaches_a_second_gateway_within_a_second(void **state)
{
    (void)state;
    char url[512], list2[128], out_url[128];
    snprintf(url, sizeof url, "%s/v1/auth/dev/login?redirect_uri=%s/v1/auth/dev/callback", base,
             base);
    void *h = th_http_session();
    resp r = http("GET", url, NULL, NULL, true, h);
    th_http_session_free(h);
    assert_int_equal(r.status, 200);
    char *access = json_str(r.body, "accessToken");
    free(r.body);
    snprintf(list2, sizeof list2, "%s/v1/rooms?pageSize=1", base2);
    r = http("GET", list2, access, NULL, false, NULL);
    assert_int_equal(r.status, 200);
    free(r.body);

    snprintf(out_url, sizeof out_url, "%s/v1/auth/logout", base);
    r = http("POST", out_url, access, NULL, false, NULL);
    assert_int_equal(r.status, 200);
    free(r.body);
    int64_t t0 = cf_mono_ns();
    long status = 200;
    while (status != 401 && cf_mono_ns() - t0 < 3000000000LL) {
        r = http("GET", list2, access, NULL, false, NULL);
        status = r.status;
        free(r.body);
        if (status != 401)
            usleep(20000);
    }
    int64_t ms = (cf_mono_ns() - t0) / 1000000;
    assert_int_equal(status, 401);
    if (ms > 1000)
        fail_msg("gateway 2 refused the token only after %lld ms", (long long)ms);
    free(access);
}

/* The browser dance from the default address: the new token pair. */
static void login(char **access, char **refresh)
{
    char url[512];
    snprintf(url, sizeof url, "%s/v1/auth/dev/login?redirect_uri=%s/v1/auth/dev/callback", base,
             base);
    void *h = th_http_session();
    resp r = http("GET", url, NULL, NULL, true, h);
    th_http_session_free(h);
    if (r.status != 200)
        fail_msg("login ended with %ld: %s", r.status, r.body ? r.body : "");
    *access = json_str(r.body, "accessToken");
    *refresh = json_str(r.body, "refreshToken");
    assert_non_null(*access);
    assert_non_null(*refresh);
    free(r.body);
}

/* Refreshes (rotating *access and *refresh) from source with header, or fails the test. */
static void refresh_from(const char *source, const char *header, char **access, char **refresh)
{
    char url[128], *body = xasprintf("{\"refreshToken\":\"%s\"}", *refresh);
    snprintf(url, sizeof url, "%s/v1/auth/refresh", base);
    const char *hs[] = {header, NULL};
    resp r = http_from(source, header ? hs : NULL, "POST", url, NULL, body, false, NULL, NULL);
    if (r.status != 200)
        fail_msg("refresh from %s: %ld %s", source ? source : "default", r.status, r.body);
    free(*access);
    free(*refresh);
    *access = json_str(r.body, "accessToken");
    *refresh = json_str(r.body, "refreshToken");
    free(r.body);
    free(body);
}

/* GET /v1/auth/sessions (the caller's sessions, with ipAddress). */
static char *sessions(const char *access)
{
    char url[128];
    snprintf(url, sizeof url, "%s/v1/auth/sessions", base);
    resp r = http("GET", url, access, NULL, false, NULL);
    assert_int_equal(r.status, 200);
    return r.body;
}

/* Issue 21 item 2: a session records the address its client connected from — 127.0.0.1 for a
 * direct local login; a forwarded header is believed only from http.trusted_proxies
 * (127.0.0.2/32 and 10.0.0.0/8 here), taking the rightmost address not in them; from anyone
 * else it is ignored. Refresh records the address again (auth keeps the latest). */
static void test_sessions_record_the_client_address(void **state)
{
    (void)state;
    char *access, *refresh;
    login(&access, &refresh);
    char *list = sessions(access);
    assert_non_null(strstr(list, "\"ipAddress\":\"127.0.0.1\""));
    free(list);

    /* a spoofed header from an untrusted peer: ignored */
    refresh_from("127.0.0.1", "X-Forwarded-For: 6.6.6.6", &access, &refresh);
    refresh_from("127.0.0.1", "Forwarded: for=6.6.6.7", &access, &refresh);
    list = sessions(access);
    assert_null(strstr(list, "6.6.6."));
    free(list);

    /* through one trusted proxy */
    refresh_from("127.0.0.2", "X-Forwarded-For: 203.0.113.9", &access, &refresh);
    list = sessions(access);
    assert_non_null(strstr(list, "\"ipAddress\":\"203.0.113.9\""));
    free(list);

    /* through two (the client's own claim on the left is not believed) */
    refresh_from("127.0.0.2", "X-Forwarded-For: 6.6.6.8, 198.51.100.4, 10.1.2.3", &access,
                 &refresh);
    list = sessions(access);
    assert_non_null(strstr(list, "\"ipAddress\":\"198.51.100.4\""));
    assert_null(strstr(list, "6.6.6."));
    free(list);
    free(access);
    free(refresh);
}

/* Issue 13 item 4: anonymous callers are limited per address. A client on 127.0.0.3 flooding
 * an anonymous route gets 429 with Retry-After (its WebSocket upgrades too), while a client on
 * 127.0.0.1 still logs in and refreshes. (One shared bucket, as before, fails this.) */
static void test_a_flooding_client_does_not_lock_out_another(void **state)
{
    (void)state;
    char url[128], ws[128], ra[16] = "";
    snprintf(url, sizeof url, "%s/v1/rooms?pageSize=1", base);
    snprintf(ws, sizeof ws, "%s/v1/ws", base);
    bool limited = false;
    /* the bucket holds ratelimit.burst (30) and refills 5/s: 400 calls empty it */
    for (int i = 0; i < 400 && !limited; i++) {
        resp r = http_from("127.0.0.3", NULL, "GET", url, NULL, NULL, false, NULL, ra);
        limited = r.status == 429;
        if (limited)
            assert_non_null(strstr(r.body, "RESOURCE_EXHAUSTED"));
        free(r.body);
    }
    assert_true(limited);
    assert_true(atoi(ra) >= 1);
    /* upgrades take from the same bucket (each try takes a token when one is back) */
    long st = 0;
    for (int i = 0; i < 100 && st != 429; i++) {
        resp r = http_from("127.0.0.3", NULL, "GET", ws, NULL, NULL, false, NULL, NULL);
        st = r.status;
        free(r.body);
    }
    assert_int_equal(st, 429);

    char *access, *refresh;
    login(&access, &refresh);
    refresh_from("127.0.0.1", NULL, &access, &refresh);
    free(access);
    free(refresh);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_browser_login_refresh_logout_through_the_gateway),
        cmocka_unit_test(test_callback_refusals),
        cmocka_unit_test(test_logout_reaches_a_second_gateway_within_a_second),
        cmocka_unit_test(test_sessions_record_the_client_address),
        cmocka_unit_test(test_a_flooding_client_does_not_lock_out_another),
    };
    return cmocka_run_group_tests_name("gateway_login", tests, setup, teardown);
}
