/* test_revocation.c — issue 14 item 1: revoking a session kills EVERY token of it at EVERY
 * verifier, through events, and app credentials likewise.
 *
 * Everything runs for real: a bus, confetti-auth (logging in against the real OpenID provider),
 * catalog, rooms, draw and the gateway, each verifier fed by auth.jwks_urls + auth.events with
 * the periodic re-read off (auth.revoked_refresh 0), so only auth's events can tell them. A user
 * logs in and refreshes twice (A1, A2, A3); after each of Logout (with A2, not the newest),
 * RevokeSession, reuse of the first refresh token and DeleteMe, all three are refused by the
 * gateway (401 "token revoked", its own verifier) and on each backend's nng port (rooms,
 * catalog, draw, auth: UNAUTHENTICATED) — waited for with a generous bound, the time it took
 * printed. RevokeAllSessions ("sign out everywhere") likewise for two sessions, and keeps the
 * current one when asked. App tokens die with deactivation, secret regeneration and deletion,
 * and tokens issued afterwards live. A verifier that starts late loads the list before it
 * accepts a token; one that cannot reach auth answers UNAVAILABLE, never accepts. */
#include "th.h"
#include "service.h"
#include "th_http.h"
#include "oidc.h"
#include "testsvc.h"
#include "auth.h"
#include "bus.h"
#include "catalog.h"
#include "draw.h"
#include "gateway.h"
#include "rooms.h"
#include "auth/v1/auth.pb-c.h"
#include "catalog/v1/catalog.pb-c.h"
#include "draw/v1/draw.pb-c.h"
#include "rooms/v1/rooms.pb-c.h"
#include "base/clock.h"
#include "base/xmalloc.h"
#include "pbjson/pbjson.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* How long a revocation may take to reach every verifier before the test fails. The target is
 * one second (SPEC §3); the bound is generous because the test machine is shared and loaded;
 * the time measured is printed. */
#define BOUND_MS 5000

static th_keys *keys;
static th_service *bus, *auth, *catalog, *rooms, *draw, *gwsvc;
static th_oidc oidc;
static char redirect[128], keyfile[128], base[64], bus_pub[128], bus_sub[128];
static char catalog_url[128], rooms_url[128];
static int64_t worst_ms;

/* ---- calls ---- */

static cf_code call_on(th_service *s, const ProtobufCServiceDescriptor *d, const char *method,
                       const ProtobufCMessage *in, const char *token, rpc_ccall *cc)
{
    rpc_ccall_init(cc, NULL);
    char *bearer = token ? xasprintf("Bearer %s", token) : NULL;
    if (bearer)
        rpc_ccall_md(cc, "authorization", bearer);
    const ProtobufCMethodDescriptor *m =
        protobuf_c_service_descriptor_get_method_by_name(d, method);
    assert_non_null(m);
    rpc_client_invoke(s->client, d, (unsigned)(m - d->methods), in, cc);
    free(bearer);
    return cc->code;
}

static cf_code auth_call(const char *method, const ProtobufCMessage *in, const char *token,
                         rpc_ccall *cc)
{
    return call_on(auth, &auth__v1__auth__descriptor, method, in, token, cc);
}

/* The verifiers: index 0 is the gateway (HTTP), the others a backend's nng port. */
enum { V_GATEWAY, V_ROOMS, V_CATALOG, V_DRAW, V_AUTH, NV };
static const char *const vname[NV] = {"gateway", "rooms", "catalog", "draw", "auth"};

/* What verifier v answers a call carrying token: CF_UNAUTHENTICATED when its verifier refused
 * the token, CF_UNAVAILABLE while it is held, anything else = the token was accepted. */
static cf_code probe(int v, const char *token)
{
    rpc_ccall cc;
    cf_code code;
    switch (v) {
    case V_GATEWAY: {
        char url[128];
        snprintf(url, sizeof url, "%s/v1/rooms", base);
        th_http_resp r = th_http(&(th_http_req){.method = "GET", .url = url, .bearer = token});
        /* refused by the gateway's own verifier ("invalid access token: token revoked"); a 401
         * from rooms behind it means the gateway itself still accepted the token */
        code = r.status == 401 && strstr(r.body, "token revoked") ? CF_UNAUTHENTICATED
               : r.status == 503                                  ? CF_UNAVAILABLE
                                                                  : CF_OK;
        th_http_free(&r);
        return code;
    }
    case V_ROOMS: {
        Rooms__V1__ListRoomsRequest q = ROOMS__V1__LIST_ROOMS_REQUEST__INIT;
        code = call_on(rooms, &rooms__v1__rooms__descriptor, "ListRooms", &q.base, token, &cc);
        break;
    }
    case V_CATALOG: {
        Catalog__V1__ListAppsRequest q = CATALOG__V1__LIST_APPS_REQUEST__INIT;
        code = call_on(catalog, &catalog__v1__catalog__descriptor, "ListApps", &q.base, token, &cc);
        break;
    }
    case V_DRAW: {
        Draw__V1__ListPrizesRequest q = DRAW__V1__LIST_PRIZES_REQUEST__INIT;
        code = call_on(draw, &draw__v1__draw__descriptor, "ListPrizes", &q.base, token, &cc);
        break;
    }
    default: {
        Auth__V1__ListProvidersRequest q = AUTH__V1__LIST_PROVIDERS_REQUEST__INIT;
        code = auth_call("ListProviders", &q.base, token, &cc);
        break;
    }
    }
    rpc_ccall_free(&cc);
    return code;
}

static bool accepted(cf_code c)
{
    return c != CF_UNAUTHENTICATED && c != CF_UNAVAILABLE;
}

/* Every verifier accepts every token (waiting while one is still loading its list). */
static void expect_accepted(char **toks, int n, const char *what)
{
    for (int v = 0; v < NV; v++)
        for (int t = 0; t < n; t++) {
            cf_code c = CF_UNAVAILABLE;
            for (int i = 0; i < 200 && c == CF_UNAVAILABLE; i++)
                if ((c = probe(v, toks[t])) == CF_UNAVAILABLE)
                    usleep(50000);
            if (!accepted(c))
                fail_msg("%s: token %d refused by %s before any revocation (%s)", what, t + 1,
                         vname[v], cf_code_name(c));
        }
}

/* Every verifier refuses every token within BOUND_MS of t0 (cf_mono_ns); the slowest is
 * printed. */
static void expect_refused(char **toks, int n, int64_t t0, const char *what)
{
    bool done[NV][8] = {{false}};
    int left = NV * n;
    int64_t slowest = 0;
    while (left > 0) {
        for (int v = 0; v < NV; v++)
            for (int t = 0; t < n; t++) {
                if (done[v][t])
                    continue;
                cf_code c = probe(v, toks[t]);
                if (c == CF_UNAUTHENTICATED) {
                    done[v][t] = true;
                    left--;
                    int64_t ms = (cf_mono_ns() - t0) / 1000000;
                    slowest = ms > slowest ? ms : slowest;
                } else if (c == CF_UNAVAILABLE) {
                    fail_msg("%s: %s answered UNAVAILABLE (held after start?)", what, vname[v]);
                }
            }
        if (left > 0 && (cf_mono_ns() - t0) / 1000000 > BOUND_MS) {
            for (int v = 0; v < NV; v++)
                for (int t = 0; t < n; t++)
                    if (!done[v][t])
                        print_message("%s: token %d still accepted by %s\n", what, t + 1, vname[v]);
            fail_msg("%s: not refused everywhere within %d ms", what, BOUND_MS);
        }
        if (left > 0)
            usleep(10000);
    }
    print_message("%-40s refused by all %d verifiers after %lld ms (upper bound)\n", what, NV,
                  (long long)slowest);
    worst_ms = slowest > worst_ms ? slowest : worst_ms;
}

/* ---- login and refresh ---- */

typedef struct session {
    char *access[3]; /* A1, A2, A3 (owned) */
    char refresh[3][128];
    char sid[64];
} session;

/* Logs in (A1, R1), then refreshes twice: (A2, R2), (A3, R3). */
static void login(session *s)
{
    Auth__V1__BeginLoginRequest b = AUTH__V1__BEGIN_LOGIN_REQUEST__INIT;
    b.provider = "dev";
    rpc_ccall cc;
    assert_code(CF_OK, auth_call("BeginLogin", &b.base, NULL, &cc));
    char state[128];
    char *code =
        th_oidc_authorize(((const Auth__V1__BeginLoginResponse *)cc.response)->authorize_url,
                          redirect, state, sizeof state);
    rpc_ccall_free(&cc);
    Auth__V1__FinishLoginRequest f = AUTH__V1__FINISH_LOGIN_REQUEST__INIT;
    f.provider = "dev";
    f.code = code;
    f.state = state;
    if (auth_call("FinishLogin", &f.base, NULL, &cc) != CF_OK)
        fail_msg("FinishLogin: %s %s", cf_code_name(cc.code), cc.message);
    const Auth__V1__TokenResponse *t = (const void *)cc.response;
    s->access[0] = xstrdup(t->access_token);
    snprintf(s->refresh[0], sizeof s->refresh[0], "%s", t->refresh_token);
    snprintf(s->sid, sizeof s->sid, "%s", t->session_id);
    rpc_ccall_free(&cc);
    free(code);
    for (int i = 1; i < 3; i++) {
        Auth__V1__RefreshRequest r = AUTH__V1__REFRESH_REQUEST__INIT;
        r.refresh_token = s->refresh[i - 1];
        assert_code(CF_OK, auth_call("Refresh", &r.base, NULL, &cc));
        t = (const void *)cc.response;
        s->access[i] = xstrdup(t->access_token);
        snprintf(s->refresh[i], sizeof s->refresh[i], "%s", t->refresh_token);
        rpc_ccall_free(&cc);
    }
    assert_string_not_equal(s->access[0], s->access[1]);
    assert_string_not_equal(s->access[1], s->access[2]);
}

static void session_free(session *s)
{
    for (int i = 0; i < 3; i++)
        free(s->access[i]);
}

/* ---- setup ---- */

static int setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    keys = th_keys_new("RS256");
    snprintf(keyfile, sizeof keyfile, "/tmp/confetti-revoke-key-%d.pem", (int)getpid());
    FILE *f = fopen(keyfile, "w");
    fputs(th_keys_private_pem(keys), f);
    fclose(f);
    snprintf(base, sizeof base, "http://127.0.0.1:%d", th_free_port());
    snprintf(redirect, sizeof redirect, "%s/v1/auth/dev/callback", base);
    th_oidc_start(&oidc, OIDC_DIR, redirect);

    th_ipc_url(bus_pub, sizeof bus_pub, "rv-bus-pub");
    th_ipc_url(bus_sub, sizeof bus_sub, "rv-bus-sub");
    th_ipc_url(catalog_url, sizeof catalog_url, "rv-catalog");
    th_ipc_url(rooms_url, sizeof rooms_url, "rv-rooms");
    char *benv[] = {xasprintf("CONFETTI_BUS_PUBLISHERS=%s", bus_pub),
                    xasprintf("CONFETTI_BUS_SUBSCRIBERS=%s", bus_sub), NULL};
    bus = th_service_start(bus_service_def(),
                           &(th_service_opts){.dsn = "n/a", .env = (const char *const *)benv});
    char *aenv[] = {xasprintf("CONFETTI_EVENTS_BUS=%s", bus_pub),
                    xasprintf("CONFETTI_EVENTS_SUBSCRIBE=%s", bus_sub),
                    xasprintf("CONFETTI_CATALOG_URLS=%s", catalog_url),
                    xasprintf("CONFETTI_SIGNING_KEYS=%s=%s", th_keys_kid(keys), keyfile),
                    xasprintf("CONFETTI_PROVIDER_DEV_ENABLED=true"),
                    xasprintf("CONFETTI_PROVIDER_DEV_ISSUER=%s", oidc.issuer),
                    xasprintf("CONFETTI_PROVIDER_DEV_CLIENT_ID=confetti"),
                    xasprintf("CONFETTI_PROVIDER_DEV_CLIENT_SECRET=confetti-dev-secret"),
                    xasprintf("CONFETTI_PROVIDER_DEV_REDIRECT_URIS=%s", redirect),
                    NULL};
    auth = th_service_start(auth_service_def(),
                            &(th_service_opts){.keys = keys, .env = (const char *const *)aenv});
    /* every verifier: keys and revocations from auth, events from the bus, no periodic re-read */
    char *venv[] = {xasprintf("CONFETTI_AUTH_JWKS_URLS=%s", auth->url),
                    xasprintf("CONFETTI_AUTH_EVENTS=%s", bus_sub),
                    xasprintf("CONFETTI_AUTH_REVOKED_REFRESH=0"),
                    xasprintf("CONFETTI_EVENTS_BUS=%s", bus_pub),
                    xasprintf("CONFETTI_ROOMS_URLS=%s", rooms_url),
                    xasprintf("CONFETTI_HTTP_LISTEN=%s", base),
                    xasprintf("CONFETTI_SERVICES_AUTH=%s", auth->url),
                    xasprintf("CONFETTI_SERVICES_ROOMS=%s", rooms_url),
                    xasprintf("CONFETTI_SERVICES_CATALOG=%s", catalog_url),
                    NULL};
    /* catalog: only the keys it knows (rooms.urls would make DeleteApp ask rooms) */
    const char *const cenv[] = {venv[0], venv[1], venv[2], venv[3], NULL};
    catalog = th_service_start(catalog_service_def(),
                               &(th_service_opts){.keys = keys, .url = catalog_url, .env = cenv});
    const char *const renv[] = {venv[0], venv[1], venv[2], venv[3], NULL};
    rooms = th_service_start(rooms_service_def(),
                             &(th_service_opts){.keys = keys, .url = rooms_url, .env = renv});
    const char *const denv[] = {venv[0], venv[1], venv[2], venv[3], venv[4], NULL};
    draw = th_service_start(draw_service_def(), &(th_service_opts){.keys = keys, .env = denv});
    const char *const genv[] = {venv[0], venv[1], venv[2], venv[5],
                                venv[6], venv[7], venv[8], NULL};
    gwsvc = th_service_start(gateway_service_def(), &(th_service_opts){.keys = keys, .env = genv});
    for (int i = 0; benv[i]; i++)
        free(benv[i]);
    for (int i = 0; aenv[i]; i++)
        free(aenv[i]);
    for (int i = 0; venv[i]; i++)
        free(venv[i]);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    print_message("slowest revocation seen: %lld ms\n", (long long)worst_ms);
    th_service_stop(gwsvc);
    th_service_stop(draw);
    th_service_stop(rooms);
    th_service_stop(catalog);
    th_service_stop(auth);
    th_service_free(bus);
    th_oidc_stop(&oidc);
    unlink(keyfile);
    th_keys_free(keys);
    curl_global_cleanup();
    return 0;
}

/* ---- tests ---- */

static void test_logout_kills_every_token_of_the_session(void **state)
{
    (void)state;
    session s;
    login(&s);
    expect_accepted(s.access, 3, "logout");
    Auth__V1__LogoutRequest q = AUTH__V1__LOGOUT_REQUEST__INIT;
    rpc_ccall cc;
    int64_t t0 = cf_mono_ns();
    assert_code(CF_OK, auth_call("Logout", &q.base, s.access[1], &cc)); /* A2, not the newest */
    rpc_ccall_free(&cc);
    expect_refused(s.access, 3, t0, "Logout (with A2)");
    session_free(&s);
}

static void test_revoke_session_kills_every_token_of_the_session(void **state)
{
    (void)state;
    session s, other;
    login(&s);
    login(&other);
    expect_accepted(s.access, 3, "RevokeSession");
    Auth__V1__RevokeSessionRequest q = AUTH__V1__REVOKE_SESSION_REQUEST__INIT;
    q.session_id = s.sid;
    rpc_ccall cc;
    int64_t t0 = cf_mono_ns();
    assert_code(CF_OK, auth_call("RevokeSession", &q.base, other.access[2], &cc));
    rpc_ccall_free(&cc);
    expect_refused(s.access, 3, t0, "RevokeSession");
    expect_accepted(other.access, 3, "RevokeSession: the other session");
    session_free(&s);
    session_free(&other);
}

static void test_refresh_token_reuse_kills_every_token_of_the_session(void **state)
{
    (void)state;
    session s;
    login(&s);
    expect_accepted(s.access, 3, "reuse");
    Auth__V1__RefreshRequest r = AUTH__V1__REFRESH_REQUEST__INIT;
    r.refresh_token = s.refresh[0]; /* two rotations old: reuse, whatever the grace */
    rpc_ccall cc;
    int64_t t0 = cf_mono_ns();
    assert_code(CF_UNAUTHENTICATED, auth_call("Refresh", &r.base, NULL, &cc));
    rpc_ccall_free(&cc);
    expect_refused(s.access, 3, t0, "refresh-token reuse");
    session_free(&s);
}

static void test_revoke_all_sessions(void **state)
{
    (void)state;
    session a, b, c;
    login(&a);
    login(&b);
    login(&c);
    /* keep_current: every session but the caller's */
    Auth__V1__RevokeAllSessionsRequest q = AUTH__V1__REVOKE_ALL_SESSIONS_REQUEST__INIT;
    q.keep_current = true;
    rpc_ccall cc;
    int64_t t0 = cf_mono_ns();
    assert_code(CF_OK, auth_call("RevokeAllSessions", &q.base, c.access[2], &cc));
    assert_true(((const Auth__V1__RevokeAllSessionsResponse *)cc.response)->revoked >= 2);
    rpc_ccall_free(&cc);
    char *ab[] = {a.access[0], a.access[1], a.access[2], b.access[0], b.access[1], b.access[2]};
    expect_refused(ab, 6, t0, "RevokeAllSessions keep_current");
    expect_accepted(c.access, 3, "RevokeAllSessions: the current session");
    /* over HTTP, every session: DELETE /v1/auth/sessions */
    char url[128];
    snprintf(url, sizeof url, "%s/v1/auth/sessions", base);
    t0 = cf_mono_ns();
    th_http_resp r = th_http(&(th_http_req){.method = "DELETE", .url = url, .bearer = c.access[0]});
    if (r.status != 200)
        fail_msg("DELETE /v1/auth/sessions: %ld %s", r.status, r.body);
    assert_non_null(strstr(r.body, "\"revoked\":1"));
    th_http_free(&r);
    expect_refused(c.access, 3, t0, "DELETE /v1/auth/sessions");
    session_free(&a);
    session_free(&b);
    session_free(&c);
}

/* A verifier that starts after the revocations, without events, loads auth's list before it
 * accepts any token; one that cannot reach auth answers UNAVAILABLE to calls with a token.
 * Last: the late rooms instances share the process's one rooms configuration (a static of the
 * service), so the first rooms is stopped before they start. */
static void test_a_late_verifier_catches_up_before_accepting(void **state)
{
    (void)state;
    th_service_halt(rooms);
    session dead, live;
    login(&dead);
    login(&live);
    Auth__V1__RevokeSessionRequest q = AUTH__V1__REVOKE_SESSION_REQUEST__INIT;
    q.session_id = dead.sid;
    rpc_ccall cc;
    assert_code(CF_OK, auth_call("RevokeSession", &q.base, live.access[2], &cc));
    rpc_ccall_free(&cc);

    char *env[] = {xasprintf("CONFETTI_AUTH_JWKS_URLS=%s", auth->url),
                   xasprintf("CONFETTI_AUTH_REVOKED_REFRESH=0"),
                   xasprintf("CONFETTI_EVENTS_BUS=%s", bus_pub), NULL};
    th_service *late = th_service_start(
        rooms_service_def(), &(th_service_opts){.keys = keys, .env = (const char *const *)env});
    Rooms__V1__ListRoomsRequest lr = ROOMS__V1__LIST_ROOMS_REQUEST__INIT;
    cf_code c = CF_UNAVAILABLE;
    for (int i = 0; i < 200 && c == CF_UNAVAILABLE; i++) {
        c = call_on(late, &rooms__v1__rooms__descriptor, "ListRooms", &lr.base, live.access[2],
                    &cc);
        rpc_ccall_free(&cc);
        if (c == CF_UNAVAILABLE)
            usleep(50000);
    }
    assert_code(CF_OK, c);
    /* loaded before it accepted: the session revoked earlier is refused, every token of it */
    for (int i = 0; i < 3; i++) {
        assert_code(CF_UNAUTHENTICATED, call_on(late, &rooms__v1__rooms__descriptor, "ListRooms",
                                                &lr.base, dead.access[i], &cc));
        rpc_ccall_free(&cc);
    }
    th_service_stop(late);
    free(env[0]);

    /* auth unreachable: never loaded, so never accepting (anonymous calls still served) */
    env[0] = xasprintf("CONFETTI_AUTH_JWKS_URLS=ipc:///tmp/confetti-no-auth-%d", (int)getpid());
    th_service *cut = th_service_start(
        rooms_service_def(), &(th_service_opts){.keys = keys, .env = (const char *const *)env});
    usleep(300000);
    assert_code(CF_UNAVAILABLE, call_on(cut, &rooms__v1__rooms__descriptor, "ListRooms", &lr.base,
                                        live.access[2], &cc));
    assert_non_null(strstr(cc.message, "retry"));
    rpc_ccall_free(&cc);
    assert_code(CF_OK,
                call_on(cut, &rooms__v1__rooms__descriptor, "ListRooms", &lr.base, NULL, &cc));
    rpc_ccall_free(&cc);
    th_service_stop(cut);
    for (int i = 0; env[i]; i++)
        free(env[i]);
    session_free(&dead);
    session_free(&live);
}

/* ---- app tokens ---- */

typedef struct app {
    char id[64], secret[128];
} app;

static app register_app(const char *owner)
{
    const char *mj = "{\"name\":\"Wheel\",\"version\":\"1.0.0\",\"permissions\":[\"rooms:read\"],"
                     "\"settingsSchema\":{\"type\":\"object\"}}";
    Catalog__V1__RegisterAppRequest req = CATALOG__V1__REGISTER_APP_REQUEST__INIT;
    req.name = "Wheel of Fortune";
    ProtobufCMessage *m = NULL;
    pbjson_error err;
    assert_code(CF_OK, pbjson_from_string(&google__protobuf__struct__descriptor, mj, strlen(mj),
                                          NULL, &m, &err));
    req.manifest = (Google__Protobuf__Struct *)m;
    rpc_ccall cc;
    if (call_on(catalog, &catalog__v1__catalog__descriptor, "RegisterApp", &req.base, owner, &cc) !=
        CF_OK)
        fail_msg("RegisterApp: %s %s", cf_code_name(cc.code), cc.message);
    Catalog__V1__RegisterAppResponse *r = (void *)cc.response;
    app a;
    snprintf(a.id, sizeof a.id, "%s", r->app->app_id);
    snprintf(a.secret, sizeof a.secret, "%s", r->app_secret);
    rpc_ccall_free(&cc);
    protobuf_c_message_free_unpacked(m, NULL);
    return a;
}

static char *issue(const app *a)
{
    Auth__V1__IssueAppTokenRequest req = AUTH__V1__ISSUE_APP_TOKEN_REQUEST__INIT;
    req.app_id = (char *)a->id;
    req.app_secret = (char *)a->secret;
    rpc_ccall cc;
    if (auth_call("IssueAppToken", &req.base, NULL, &cc) != CF_OK)
        fail_msg("IssueAppToken: %s %s", cf_code_name(cc.code), cc.message);
    char *t = xstrdup(((Auth__V1__AppTokenResponse *)cc.response)->access_token);
    rpc_ccall_free(&cc);
    return t;
}

/* One catalog method on the app ({app_id} requests all look alike), as its owner. */
static void app_method(const char *method, app *a, const char *owner)
{
    Catalog__V1__DeactivateAppRequest q = CATALOG__V1__DEACTIVATE_APP_REQUEST__INIT;
    q.app_id = a->id;
    const ProtobufCMethodDescriptor *m =
        protobuf_c_service_descriptor_get_method_by_name(&catalog__v1__catalog__descriptor, method);
    q.base.descriptor = m->input; /* every one of these requests is {string app_id = 1;} */
    rpc_ccall cc;
    if (call_on(catalog, &catalog__v1__catalog__descriptor, method, &q.base, owner, &cc) != CF_OK)
        fail_msg("%s: %s %s", method, cf_code_name(cc.code), cc.message);
    if (strcmp(method, "RegenerateSecret") == 0)
        snprintf(a->secret, sizeof a->secret, "%s",
                 ((Catalog__V1__RegenerateSecretResponse *)cc.response)->app_secret);
    rpc_ccall_free(&cc);
}

static void test_app_tokens_die_with_their_credentials(void **state)
{
    (void)state;
    session owner;
    login(&owner);
    const char *me = owner.access[2];
    app a = register_app(me);

    char *t1 = issue(&a);
    expect_accepted(&t1, 1, "app token");
    int64_t t0 = cf_mono_ns();
    app_method("DeactivateApp", &a, me);
    expect_refused(&t1, 1, t0, "app deactivated");

    app_method("ActivateApp", &a, me);
    char *t2 = issue(&a); /* a new credential generation: alive */
    expect_accepted(&t2, 1, "app token after reactivation");
    t0 = cf_mono_ns();
    app_method("RegenerateSecret", &a, me);
    expect_refused(&t2, 1, t0, "app secret regenerated");

    char *t3 = issue(&a); /* issued after the regeneration, with the new secret */
    expect_accepted(&t3, 1, "app token after regeneration");
    t0 = cf_mono_ns();
    app_method("DeleteApp", &a, me);
    expect_refused(&t3, 1, t0, "app deleted");
    free(t1);
    free(t2);
    free(t3);
    session_free(&owner);
}

/* It deletes the user the tests log in as (the next login makes a new one). */
static void test_delete_me_kills_every_token_of_every_session(void **state)
{
    (void)state;
    session s, other;
    login(&s);
    login(&other);
    expect_accepted(s.access, 3, "DeleteMe");
    Auth__V1__DeleteMeRequest q = AUTH__V1__DELETE_ME_REQUEST__INIT;
    rpc_ccall cc;
    int64_t t0 = cf_mono_ns();
    assert_code(CF_OK, auth_call("DeleteMe", &q.base, s.access[0], &cc)); /* with A1 */
    rpc_ccall_free(&cc);
    char *all[] = {s.access[0],     s.access[1],     s.access[2],
                   other.access[0], other.access[1], other.access[2]};
    expect_refused(all, 6, t0, "DeleteMe (both sessions)");
    session_free(&s);
    session_free(&other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logout_kills_every_token_of_the_session),
        cmocka_unit_test(test_revoke_session_kills_every_token_of_the_session),
        cmocka_unit_test(test_refresh_token_reuse_kills_every_token_of_the_session),
        cmocka_unit_test(test_revoke_all_sessions),
        cmocka_unit_test(test_app_tokens_die_with_their_credentials),
        cmocka_unit_test(test_delete_me_kills_every_token_of_every_session),
        cmocka_unit_test(test_a_late_verifier_catches_up_before_accepting),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
