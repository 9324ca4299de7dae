/* test_scopes.c — issue 14 item 2, "scopes enforced": an app token may do exactly what its
 * manifest's permissions grant (its `scope` claim), checked by the service that owns the data.
 * docs/auth.md "App scopes" is the table; `granted` below is the same table written out
 * independently of the services' scopes.c, and the test holds the two together:
 *   - every method of catalog, rooms and draw × every scope (and none): refused by the scope
 *     check exactly when the table does not grant it, on the service's own RPC port;
 *   - each scope doing its real work (an app runs a whole giveaway with one token per scope),
 *     directly and through the gateway, and each refused one step outside its grant. */
#include "th.h"
#include "th_http.h"
#include "service.h"
#include "catalog.h"
#include "rooms.h"
#include "draw.h"
#include "gateway.h"
#include "base/xmalloc.h"
#include "pbjson/pbjson.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define APP "app:scope-test-app"

static th_keys *keys;
static th_service *catalog, *rooms, *draw, *gwsvc;
static int http_port;

/* The table of docs/auth.md: scope → the methods it grants. */
typedef struct grant {
    const char *scope;
    const char *methods; /* "Service/Method" separated by spaces */
} grant;

static const grant granted[] = {
    {"rooms:read", "Rooms/GetRoom Rooms/ListRooms Rooms/ListParticipants Rooms/CheckPermission"},
    {"rooms:write", "Rooms/CreateRoom Rooms/UpdateRoom Rooms/DeleteRoom Rooms/ActivateRoom "
                    "Rooms/CompleteRoom Rooms/CancelRoom Catalog/GetApp Catalog/ValidateSettings"},
    {"participants:write", "Rooms/AddParticipant Rooms/UpdateParticipant Rooms/RemoveParticipant"},
    {"prizes:read", "Draw/GetPrize Draw/ListPrizes Rooms/CheckPermission"},
    {"prizes:write", "Draw/CreatePrize Draw/UpdatePrize Draw/DeletePrize Rooms/CheckPermission"},
    {"winners:read", "Draw/GetDraw Draw/ListWinners Rooms/CheckPermission"},
    {"winners:draw", "Draw/DrawWinners Draw/RevokeWinner Rooms/CheckPermission "
                     "Rooms/ListEligibleParticipants"},
    {"apps:read", "Catalog/GetApp Catalog/ListApps Catalog/ListManifests Catalog/GetManifest "
                  "Catalog/ValidateSettings"},
};
#define NGRANTED (sizeof granted / sizeof *granted)
/* Methods any token may call: they act for no one. */
static const char open_methods[] = "Catalog/VerifyAppCredentials";

static bool listed(const char *list, const char *sm)
{
    size_t n = strlen(sm);
    for (const char *p = list; (p = strstr(p, sm)); p += n)
        if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
            return true;
    return false;
}

static bool expect_allowed(const char *scope, const char *short_service, const char *method)
{
    char sm[128];
    snprintf(sm, sizeof sm, "%s/%s", short_service, method);
    if (listed(open_methods, sm))
        return true;
    for (size_t i = 0; i < NGRANTED; i++)
        if (scope && strcmp(granted[i].scope, scope) == 0 && listed(granted[i].methods, sm))
            return true;
    return false;
}

static char *app_token(const char *scope)
{
    authn_claims c = {.sub = APP, .ttl_seconds = 600, .scope = scope};
    return th_token_claims(keys, &c);
}

/* The refusal the scope check gives (common/rpc/dispatch.c): PERMISSION_DENIED, saying so. */
static bool refused_by_scope(const rpc_ccall *cc)
{
    return cc->code == CF_PERMISSION_DENIED && (strstr(cc->message, "scopes do not grant") ||
                                                strstr(cc->message, "app tokens may not"));
}

static void call(th_service *s, const ProtobufCServiceDescriptor *d, const char *method,
                 const char *json, const char *token, rpc_ccall *cc)
{
    const ProtobufCMethodDescriptor *md =
        protobuf_c_service_descriptor_get_method_by_name(d, method);
    assert_non_null(md);
    ProtobufCMessage *in = NULL;
    pbjson_error err;
    if (pbjson_from_string(md->input, json, strlen(json), NULL, &in, &err) != CF_OK)
        fail_msg("%s: bad test JSON %s", method, json);
    rpc_ccall_init(cc, NULL);
    char *bearer = token ? xasprintf("Bearer %s", token) : NULL;
    if (bearer)
        rpc_ccall_md(cc, "authorization", bearer);
    rpc_client_invoke(s->client, d, (unsigned)(md - d->methods), in, cc);
    free(bearer);
    protobuf_c_message_free_unpacked(in, NULL);
}

static int setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_ALL);
    keys = th_keys_new("ES256");
    catalog = th_service_start(catalog_service_def(), &(th_service_opts){.keys = keys});
    char *a1 = xasprintf("CONFETTI_CATALOG_URLS=%s", catalog->url);
    const char *renv[] = {a1, NULL};
    rooms = th_service_start(rooms_service_def(), &(th_service_opts){.keys = keys, .env = renv});
    char *a2 = xasprintf("CONFETTI_ROOMS_URLS=%s", rooms->url);
    const char *denv[] = {a2, NULL};
    draw = th_service_start(draw_service_def(), &(th_service_opts){.keys = keys, .env = denv});
    http_port = th_free_port();
    char *genv[] = {xasprintf("CONFETTI_HTTP_LISTEN=http://127.0.0.1:%d", http_port),
                    xasprintf("CONFETTI_SERVICES_CATALOG=%s", catalog->url),
                    xasprintf("CONFETTI_SERVICES_ROOMS=%s", rooms->url),
                    xasprintf("CONFETTI_SERVICES_DRAW=%s", draw->url),
                    xasprintf("CONFETTI_RATELIMIT_RATE=0"),
                    NULL};
    gwsvc = th_service_start(
        gateway_service_def(),
        &(th_service_opts){.dsn = "n/a", .keys = keys, .env = (const char *const *)genv});
    for (int i = 0; genv[i]; i++)
        free(genv[i]);
    free(a1);
    free(a2);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    th_service_stop(gwsvc);
    th_service_stop(draw);
    th_service_stop(rooms);
    th_service_stop(catalog);
    th_keys_free(keys);
    curl_global_cleanup();
    return 0;
}

/* Every method × every scope, on each service's own port. The request is empty: what matters
 * is whether the scope check let it through to the handler, whatever the handler then says. */
static void test_every_method_under_every_scope(void **state)
{
    (void)state;
    struct {
        th_service *s;
        const ProtobufCServiceDescriptor *d;
        const char *short_name;
    } svcs[] = {{catalog, &catalog__v1__catalog__descriptor, "Catalog"},
                {rooms, &rooms__v1__rooms__descriptor, "Rooms"},
                {draw, &draw__v1__draw__descriptor, "Draw"}};
    int checked = 0;
    for (size_t k = 0; k <= NGRANTED; k++) {
        const char *scope = k < NGRANTED ? granted[k].scope : NULL; /* NULL: a token with none */
        char *tok = app_token(scope);
        for (size_t s = 0; s < sizeof svcs / sizeof *svcs; s++) {
            for (unsigned m = 0; m < svcs[s].d->n_methods; m++) {
                const char *method = svcs[s].d->methods[m].name;
                rpc_ccall cc;
                call(svcs[s].s, svcs[s].d, method, "{}", tok, &cc);
                bool allowed = expect_allowed(scope, svcs[s].short_name, method);
                if (allowed == refused_by_scope(&cc))
                    fail_msg("scope %s, %s/%s: expected %s, got %s: %s", scope ? scope : "(none)",
                             svcs[s].short_name, method, allowed ? "through" : "refused",
                             cf_code_name(cc.code), cc.message);
                rpc_ccall_free(&cc);
                checked++;
            }
        }
        free(tok);
    }
    /* user tokens carry no scope and are never limited by it */
    char *user = th_token(keys, "user-scopes", 600, false);
    for (unsigned m = 0; m < rooms__v1__rooms__descriptor.n_methods; m++) {
        rpc_ccall cc;
        call(rooms, &rooms__v1__rooms__descriptor, rooms__v1__rooms__descriptor.methods[m].name,
             "{}", user, &cc);
        assert_false(refused_by_scope(&cc));
        rpc_ccall_free(&cc);
    }
    free(user);
    assert_true(checked > 200);
}

/* ---- a whole giveaway run by an app, one token per step's scope ---- */

static char *ok_field(rpc_ccall *cc, const char *field)
{
    if (cc->code != CF_OK)
        fail_msg("expected OK, got %s: %s", cf_code_name(cc->code), cc->message);
    json_t *j = pbjson_to_json(cc->response);
    const char *v = json_string_value(json_object_get(j, field));
    char *out = xstrdup(v ? v : "");
    json_decref(j);
    return out;
}

static void expect_scope_refusal(rpc_ccall *cc)
{
    if (!refused_by_scope(cc))
        fail_msg("expected the scope refusal, got %s: %s", cf_code_name(cc->code), cc->message);
}

static void test_each_scope_does_its_work_on_the_service_port(void **state)
{
    (void)state;
    char *t_rw = app_token("rooms:write"), *t_rr = app_token("rooms:read"),
         *t_pw = app_token("participants:write"), *t_zr = app_token("prizes:read"),
         *t_zw = app_token("prizes:write"), *t_wr = app_token("winners:read"),
         *t_wd = app_token("winners:draw"), *t_ar = app_token("apps:read");
    const ProtobufCServiceDescriptor *R = &rooms__v1__rooms__descriptor,
                                     *D = &draw__v1__draw__descriptor,
                                     *C = &catalog__v1__catalog__descriptor;
    rpc_ccall cc;
    char json[512];

    call(rooms, R, "CreateRoom", "{\"name\":\"app giveaway\",\"isPublic\":true}", t_rr, &cc);
    expect_scope_refusal(&cc);
    rpc_ccall_free(&cc);
    call(rooms, R, "CreateRoom", "{\"name\":\"app giveaway\",\"isPublic\":true}", t_rw, &cc);
    char *room = ok_field(&cc, "roomId");
    rpc_ccall_free(&cc);

    snprintf(json, sizeof json, "{\"roomId\":\"%s\"}", room);
    call(rooms, R, "GetRoom", json, t_rr, &cc);
    free(ok_field(&cc, "roomId"));
    rpc_ccall_free(&cc);
    call(rooms, R, "GetRoom", json, t_zr, &cc);
    expect_scope_refusal(&cc);
    rpc_ccall_free(&cc);

    snprintf(json, sizeof json,
             "{\"roomId\":\"%s\",\"userId\":\"winner-1\",\"role\":\"PARTICIPANT\"}", room);
    call(rooms, R, "AddParticipant", json, t_rw, &cc);
    expect_scope_refusal(&cc);
    rpc_ccall_free(&cc);
    call(rooms, R, "AddParticipant", json, t_pw, &cc);
    assert_code(CF_OK, cc.code);
    rpc_ccall_free(&cc);

    snprintf(json, sizeof json, "{\"roomId\":\"%s\"}", room);
    call(rooms, R, "ActivateRoom", json, t_rw, &cc);
    assert_code(CF_OK, cc.code);
    rpc_ccall_free(&cc);

    snprintf(json, sizeof json, "{\"roomId\":\"%s\",\"name\":\"Bike\",\"quantity\":1}", room);
    call(draw, D, "CreatePrize", json, t_zr, &cc);
    expect_scope_refusal(&cc);
    rpc_ccall_free(&cc);
    call(draw, D, "CreatePrize", json, t_zw, &cc);
    char *prize = ok_field(&cc, "prizeId");
    rpc_ccall_free(&cc);

    snprintf(json, sizeof json, "{\"roomId\":\"%s\"}", room);
    call(draw, D, "ListPrizes", json, t_zr, &cc);
    assert_code(CF_OK, cc.code);
    rpc_ccall_free(&cc);
    call(draw, D, "ListPrizes", json, t_wr, &cc);
    expect_scope_refusal(&cc);
    rpc_ccall_free(&cc);

    snprintf(json, sizeof json, "{\"roomId\":\"%s\",\"prizeId\":\"%s\",\"count\":1}", room, prize);
    call(draw, D, "DrawWinners", json, t_wr, &cc);
    expect_scope_refusal(&cc);
    rpc_ccall_free(&cc);
    call(draw, D, "DrawWinners", json, t_wd, &cc);
    assert_code(CF_OK, cc.code);
    rpc_ccall_free(&cc);

    snprintf(json, sizeof json, "{\"roomId\":\"%s\"}", room);
    call(draw, D, "ListWinners", json, t_wr, &cc);
    assert_code(CF_OK, cc.code);
    rpc_ccall_free(&cc);
    call(draw, D, "ListWinners", json, t_wd, &cc);
    expect_scope_refusal(&cc);
    rpc_ccall_free(&cc);

    call(catalog, C, "ListApps", "{}", t_ar, &cc);
    assert_code(CF_OK, cc.code);
    rpc_ccall_free(&cc);
    call(catalog, C, "ListApps", "{}", t_rw, &cc);
    expect_scope_refusal(&cc);
    rpc_ccall_free(&cc);

    free(room);
    free(prize);
    free(t_rw), free(t_rr), free(t_pw), free(t_zr), free(t_zw), free(t_wr), free(t_wd), free(t_ar);
}

/* ---- the same through the gateway: the HTTP status of each step ---- */

static long http(const char *method, const char *path, const char *token, const char *body,
                 char **json_out)
{
    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", http_port, path);
    th_http_resp r =
        th_http(&(th_http_req){.method = method, .url = url, .bearer = token, .body = body});
    long status = r.status;
    if (json_out)
        *json_out = xstrdup(r.body);
    else if (status == 403 && !strstr(r.body, "scope"))
        fail_msg("%s %s: 403 without the scope refusal: %s", method, path, r.body);
    th_http_free(&r);
    return status;
}

static char *id_of(const char *body, const char *field)
{
    json_t *j = json_loads(body, 0, NULL);
    assert_non_null(j);
    const char *v = json_string_value(json_object_get(j, field));
    char *out = xstrdup(v ? v : "");
    json_decref(j);
    return out;
}

static void test_each_scope_through_the_gateway(void **state)
{
    (void)state;
    char *t_rw = app_token("rooms:write"), *t_rr = app_token("rooms:read"),
         *t_pw = app_token("participants:write"), *t_zr = app_token("prizes:read"),
         *t_zw = app_token("prizes:write"), *t_wr = app_token("winners:read"),
         *t_wd = app_token("winners:draw"), *t_ar = app_token("apps:read");
    for (int i = 0; i < 600; i++) { /* like Kubernetes: traffic once /readyz is green */
        char *b = NULL;
        long st = http("GET", "/readyz", NULL, NULL, &b);
        free(b);
        if (st == 200)
            break;
        usleep(50000);
    }
    const char *room_body = "{\"name\":\"gateway giveaway\",\"isPublic\":true}";
    assert_int_equal(http("POST", "/v1/rooms", t_rr, room_body, NULL), 403);
    char *body = NULL;
    assert_int_equal(http("POST", "/v1/rooms", t_rw, room_body, &body), 200);
    char *room = id_of(body, "roomId");
    free(body);
    assert_true(*room);

    char path[256], b2[256];
    snprintf(path, sizeof path, "/v1/rooms/%s", room);
    assert_int_equal(http("GET", path, t_rr, NULL, NULL), 200);
    assert_int_equal(http("GET", path, t_wr, NULL, NULL), 403);

    snprintf(path, sizeof path, "/v1/rooms/%s/participants", room);
    const char *member = "{\"userId\":\"winner-2\",\"role\":\"PARTICIPANT\"}";
    assert_int_equal(http("POST", path, t_rr, member, NULL), 403);
    assert_int_equal(http("POST", path, t_pw, member, NULL), 200);
    assert_int_equal(http("GET", path, t_rr, NULL, NULL), 200);

    snprintf(path, sizeof path, "/v1/rooms/%s:activate", room);
    assert_int_equal(http("POST", path, t_pw, "{}", NULL), 403);
    assert_int_equal(http("POST", path, t_rw, "{}", NULL), 200);

    snprintf(path, sizeof path, "/v1/rooms/%s/prizes", room);
    const char *prize_body = "{\"name\":\"Kite\",\"quantity\":1}";
    assert_int_equal(http("POST", path, t_zr, prize_body, NULL), 403);
    assert_int_equal(http("POST", path, t_zw, prize_body, &body), 200);
    char *prize = id_of(body, "prizeId");
    free(body);
    assert_int_equal(http("GET", path, t_zr, NULL, NULL), 200);
    assert_int_equal(http("GET", path, t_rr, NULL, NULL), 403);

    snprintf(path, sizeof path, "/v1/rooms/%s/draws", room);
    snprintf(b2, sizeof b2, "{\"prizeId\":\"%s\",\"count\":1}", prize);
    assert_int_equal(http("POST", path, t_zw, b2, NULL), 403);
    assert_int_equal(http("POST", path, t_wd, b2, NULL), 200);
    snprintf(path, sizeof path, "/v1/rooms/%s/winners", room);
    assert_int_equal(http("GET", path, t_wr, NULL, NULL), 200);
    assert_int_equal(http("GET", path, t_wd, NULL, NULL), 403);

    assert_int_equal(http("GET", "/v1/apps", t_ar, NULL, NULL), 200);
    assert_int_equal(http("GET", "/v1/apps", t_wr, NULL, NULL), 403);

    free(room);
    free(prize);
    free(t_rw), free(t_rr), free(t_pw), free(t_zr), free(t_zw), free(t_wr), free(t_wd), free(t_ar);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_method_under_every_scope),
        cmocka_unit_test(test_each_scope_does_its_work_on_the_service_port),
        cmocka_unit_test(test_each_scope_through_the_gateway),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
