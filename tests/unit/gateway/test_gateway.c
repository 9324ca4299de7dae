/* test_gateway.c — the gateway's pure parts, table-driven: the real route table resolves and
 * matches (every SPEC §6 route), the transcoder builds requests from path, query and body, the
 * error shape and status mapping, the token bucket. */
#include "th.h"
#include "gateway.h"
#include "testsvc/v1/echo.pb-c.h"
#include "rooms/v1/rooms.pb-c.h"
#include "draw/v1/draw.pb-c.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *xasprintf_test(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        abort();
    va_end(ap);
    return s;
}

extern const ProtobufCServiceDescriptor *const confetti_services[];
static const ProtobufCServiceDescriptor *const *const registries[] = {confetti_services, NULL};

static size_t backend_of(const char *service, void *arg)
{
    (void)arg;
    static const char *const pk[] = {"catalog.v1.", "auth.v1.", "rooms.v1.", "draw.v1."};
    for (size_t i = 0; i < 4; i++)
        if (strncmp(service, pk[i], strlen(pk[i])) == 0)
            return i;
    return (size_t)-1;
}

static gw_router router;

static int setup(void **state)
{
    (void)state;
    char err[256];
    size_t n = 0; /* what the gateway serves: routes.c's and the feature tables (routes_all.c) */
    const gw_route *all = gw_all_routes(&n);
    cf_code c = gw_router_build(&router, all, n, registries, backend_of, NULL, err, sizeof err);
    if (c != CF_OK)
        fail_msg("%s", err);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    gw_router_free(&router);
    return 0;
}

static void every_route_resolves_to_a_backend(void **state)
{
    (void)state;
    size_t n = 0;
    gw_all_routes(&n);
    assert_int_equal(router.n, n);
    assert_true(n > gw_nroutes);
    for (size_t i = 0; i < router.n; i++)
        assert_true(router.routes[i].backend < 4);
}

typedef struct match_case {
    const char *method, *path;
    gw_match_result want;
    const char *rpc;   /* expected method when OK */
    const char *param; /* "name=value" of the first parameter, or NULL */
} match_case;

static const match_case match_cases[] = {
    {"GET", "/v1/rooms", GW_MATCH_OK, "rooms.v1.Rooms/ListRooms", NULL},
    {"POST", "/v1/rooms", GW_MATCH_OK, "rooms.v1.Rooms/CreateRoom", NULL},
    {"GET", "/v1/rooms/r1", GW_MATCH_OK, "rooms.v1.Rooms/GetRoom", "roomId=r1"},
    {"HEAD", "/v1/rooms/r1", GW_MATCH_OK, "rooms.v1.Rooms/GetRoom", "roomId=r1"},
    {"PATCH", "/v1/rooms/r1", GW_MATCH_OK, "rooms.v1.Rooms/UpdateRoom", "room.roomId=r1"},
    {"POST", "/v1/rooms/r1:activate", GW_MATCH_OK, "rooms.v1.Rooms/ActivateRoom", "roomId=r1"},
    {"POST", "/v1/rooms/r1:complete", GW_MATCH_OK, "rooms.v1.Rooms/CompleteRoom", "roomId=r1"},
    {"POST", "/v1/rooms/r1:cancel", GW_MATCH_OK, "rooms.v1.Rooms/CancelRoom", "roomId=r1"},
    {"POST", "/v1/rooms/r1:explode", GW_MATCH_NOT_FOUND, NULL, NULL},
    {"GET", "/v1/rooms/r1:activate", GW_MATCH_BAD_METHOD, NULL, NULL},
    {"GET", "/v1/rooms/a%20b", GW_MATCH_OK, "rooms.v1.Rooms/GetRoom", "roomId=a b"},
    {"GET", "/v1/rooms/a%2Fb", GW_MATCH_NOT_FOUND, NULL, NULL},
    {"GET", "/v1/rooms/a%zz", GW_MATCH_NOT_FOUND, NULL, NULL},
    {"GET", "/v1/rooms/", GW_MATCH_NOT_FOUND, NULL, NULL},
    {"PUT", "/v1/rooms/r1", GW_MATCH_BAD_METHOD, NULL, NULL},
    {"DELETE", "/v1/rooms/r1/participants/u1", GW_MATCH_OK, "rooms.v1.Rooms/RemoveParticipant",
     "roomId=r1"},
    {"PATCH", "/v1/rooms/r1/prizes/p1", GW_MATCH_OK, "draw.v1.Draw/UpdatePrize", "prize.roomId=r1"},
    {"POST", "/v1/rooms/r1/draws", GW_MATCH_OK, "draw.v1.Draw/DrawWinners", "roomId=r1"},
    {"GET", "/v1/rooms/r1/draws/d1", GW_MATCH_OK, "draw.v1.Draw/GetDraw", "roomId=r1"},
    {"DELETE", "/v1/rooms/r1/winners/w1", GW_MATCH_OK, "draw.v1.Draw/RevokeWinner", "roomId=r1"},
    {"POST", "/v1/apps/a1:validateSettings", GW_MATCH_OK, "catalog.v1.Catalog/ValidateSettings",
     "appId=a1"},
    {"PUT", "/v1/apps/a1/manifest", GW_MATCH_OK, "catalog.v1.Catalog/PublishManifest", "appId=a1"},
    {"GET", "/v1/apps/a1/manifests/1.2.3", GW_MATCH_OK, "catalog.v1.Catalog/GetManifest",
     "appId=a1"},
    {"GET", "/v1/auth/google/login", GW_MATCH_OK, "auth.v1.Auth/BeginLogin", "provider=google"},
    {"GET", "/v1/auth/google/callback", GW_MATCH_OK, "auth.v1.Auth/FinishLogin", "provider=google"},
    {"POST", "/v1/auth/refresh", GW_MATCH_OK, "auth.v1.Auth/Refresh", NULL},
    {"GET", "/v1/auth/providers", GW_MATCH_OK, "auth.v1.Auth/ListProviders", NULL},
    {"POST", "/v1/auth/phone/start", GW_MATCH_OK, "auth.v1.Auth/StartPhoneLogin", NULL},
    {"POST", "/v1/auth/phone/verify", GW_MATCH_OK, "auth.v1.Auth/FinishPhoneLogin", NULL},
    {"GET", "/v1/auth/phone/login", GW_MATCH_OK, "auth.v1.Auth/BeginLogin", "provider=phone"},
    {"GET", "/.well-known/jwks.json", GW_MATCH_OK, "auth.v1.Auth/GetJwks", NULL},
    {"DELETE", "/v1/users/me", GW_MATCH_OK, "auth.v1.Auth/DeleteMe", NULL},
    {"GET", "/v1/nothing", GW_MATCH_NOT_FOUND, NULL, NULL},
    {"GET", "v1/rooms", GW_MATCH_NOT_FOUND, NULL, NULL},
    {"GET", "/v1/rooms/r1/prizes/p1/x/y/z/a/b/c/d/e/f/g", GW_MATCH_NOT_FOUND, NULL, NULL},
};

static void route_matching_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof match_cases / sizeof *match_cases; i++) {
        const match_case *c = &match_cases[i];
        char buf[256], allow[128];
        const gw_rroute *rt = NULL;
        gw_param params[GW_MAX_PARAMS];
        size_t np = 0;
        gw_match_result m =
            gw_route_match(&router, c->method, c->path, buf, &rt, params, &np, allow, sizeof allow);
        if (m != c->want)
            fail_msg("%s %s: match %d, want %d", c->method, c->path, m, c->want);
        if (m == GW_MATCH_BAD_METHOD)
            assert_true(allow[0] != '\0');
        if (m != GW_MATCH_OK)
            continue;
        if (strcmp(rt->def->rpc, c->rpc) != 0)
            fail_msg("%s %s: got %s, want %s", c->method, c->path, rt->def->rpc, c->rpc);
        if (c->param) {
            char got[256];
            assert_true(np >= 1);
            snprintf(got, sizeof got, "%.*s=%s", (int)params[0].namelen, params[0].name,
                     params[0].value);
            assert_string_equal(got, c->param);
        }
    }
}

/* Transcodes method+path?query with body into the request JSON (compact text) or the
 * violation's field. */
static char *transcode(const char *method, const char *target, const char *body)
{
    char path[256], buf[256], allow[128];
    const char *q = strchr(target, '?');
    snprintf(path, sizeof path, "%.*s", (int)(q ? q - target : (long)strlen(target)), target);
    const gw_rroute *rt = NULL;
    gw_param params[GW_MAX_PARAMS];
    size_t np = 0;
    assert_int_equal(
        gw_route_match(&router, method, path, buf, &rt, params, &np, allow, sizeof allow),
        GW_MATCH_OK);
    gw_violation v;
    json_t *j =
        gw_request_json(rt, body, body ? strlen(body) : 0, q ? q + 1 : NULL, params, np, &v);
    if (!j)
        return xasprintf_test("!%s: %s", v.field, v.description);
    ProtobufCMessage *msg = NULL;
    if (gw_request_message(rt, j, &msg, &v) != CF_OK) {
        json_decref(j);
        return xasprintf_test("!%s: %s", v.field, v.description);
    }
    protobuf_c_message_free_unpacked(msg, NULL);
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    return s;
}

typedef struct tc_case {
    const char *method, *target, *body;
    const char *want; /* compact JSON with sorted keys, or "!field: ..." prefix for an error */
} tc_case;

static const tc_case tc_cases[] = {
    /* path parameters, query parameters by type */
    {"GET", "/v1/rooms/r1", NULL, "{\"roomId\":\"r1\"}"},
    {"GET", "/v1/rooms?status=ACTIVE&pageSize=20", NULL, "{\"pageSize\":20,\"status\":\"ACTIVE\"}"},
    {"GET", "/v1/rooms?isPublic=true&appId=a%2Bb+c", NULL,
     "{\"appId\":\"a+b c\",\"isPublic\":\"true\"}"},
    {"GET", "/v1/rooms?page_size=5", NULL, "{\"page_size\":5}"},
    /* issue 18 item 7: the archived rooms of the caller (docs/rooms.md, "Archive") */
    {"GET", "/v1/rooms?archived=true", NULL, "{\"archived\":true}"},
    {"GET", "/v1/rooms?archived=yes", NULL, "!archived"},

    {"GET", "/v1/rooms?q=summer+prize%20%22big+draw%22", NULL,
     "{\"q\":\"summer prize \\\"big draw\\\"\"}"},
    {"GET", "/v1/rooms?pageSize=abc", NULL, "!pageSize"},
    {"GET", "/v1/rooms?pageSize=1&pageSize=2", NULL, "!pageSize"},
    {"GET", "/v1/rooms?bogus=1", NULL, "!bogus"},
    {"GET", "/v1/rooms?status=SOMETHING", NULL, "!status"},
    {"GET", "/v1/rooms?pageSize=99999999999", NULL, "!pageSize"},
    {"GET", "/v1/rooms/r1/winners?prizeId=p1", NULL, "{\"prizeId\":\"p1\",\"roomId\":\"r1\"}"},
    /* bodies */
    {"POST", "/v1/rooms", "{\"name\":\"Gala\",\"isPublic\":true,\"appSettings\":{\"a\":1}}",
     "{\"appSettings\":{\"a\":1},\"isPublic\":true,\"name\":\"Gala\"}"},
    {"POST", "/v1/rooms", "", "{}"},
    {"POST", "/v1/rooms", "  \n", "{}"},
    {"POST", "/v1/rooms", "{\"name\":", "!: malformed JSON"},
    {"POST", "/v1/rooms", "[1,2]", "!: the body must be a JSON object"},
    {"POST", "/v1/rooms", "{\"name\":1}", "!name"},
    {"POST", "/v1/rooms", "{\"nope\":1}", "!nope"},
    {"POST", "/v1/rooms", "{\"name\":\"a\",\"name\":\"b\"}", "!: malformed JSON"},
    {"POST", "/v1/rooms/r1/draws", "{\"prizeId\":\"p1\",\"count\":2,\"roomId\":\"other\"}",
     "{\"count\":2,\"prizeId\":\"p1\",\"roomId\":\"r1\"}"},
    {"DELETE", "/v1/rooms/r1/winners/w1", "{\"reason\":\"fraud\"}",
     "{\"reason\":\"fraud\",\"roomId\":\"r1\",\"winnerId\":\"w1\"}"},
    /* PATCH: the body fills one field, the mask is what the body holds */
    {"PATCH", "/v1/rooms/r1", "{\"name\":\"N\",\"isPublic\":false}",
     "{\"room\":{\"isPublic\":false,\"name\":\"N\",\"roomId\":\"r1\"},\"updateMask\":\"name,"
     "isPublic\"}"},
    {"PATCH", "/v1/rooms/r1?updateMask=name", "{\"name\":\"N\"}",
     "{\"room\":{\"name\":\"N\",\"roomId\":\"r1\"},\"updateMask\":\"name\"}"},
    {"PATCH", "/v1/rooms/r1/prizes/p1", "{\"quantity\":3}",
     "{\"prize\":{\"prizeId\":\"p1\",\"quantity\":3,\"roomId\":\"r1\"},\"updateMask\":"
     "\"quantity\"}"},
    {"PATCH", "/v1/rooms/r1/participants/u1", "{\"role\":\"MODERATOR\"}",
     "{\"role\":\"MODERATOR\",\"roomId\":\"r1\",\"updateMask\":\"role\",\"userId\":\"u1\"}"},
    {"PUT", "/v1/apps/a1/manifest", "{\"name\":\"x\",\"version\":\"1.0.0\"}",
     "{\"appId\":\"a1\",\"manifest\":{\"name\":\"x\",\"version\":\"1.0.0\"}}"},
    /* no body: ignored */
    {"POST", "/v1/rooms/r1:activate", "{\"whatever\":1}", "{\"roomId\":\"r1\"}"},
};

static void transcoding_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof tc_cases / sizeof *tc_cases; i++) {
        const tc_case *c = &tc_cases[i];
        char *got = transcode(c->method, c->target, c->body);
        bool ok = c->want[0] == '!' ? strncmp(got, c->want, strlen(c->want)) == 0
                                    : strcmp(got, c->want) == 0;
        if (!ok)
            fail_msg("%s %s %s:\n got  %s\n want %s", c->method, c->target, c->body ? c->body : "",
                     got, c->want);
        free(got);
    }
}

static void error_shape(void **state)
{
    (void)state;
    gw_violation v = {"name", "must not be empty"};
    char *s = gw_error_json(404, CF_NOT_FOUND, "room not found", &v, 1);
    assert_string_equal(s, "{\"error\":{\"code\":404,\"status\":\"NOT_FOUND\",\"message\":"
                           "\"room not found\",\"details\":[{\"field\":\"name\","
                           "\"description\":\"must not be empty\"}]}}");
    free(s);
    s = gw_error_json(500, CF_INTERNAL, "\xff\xfe", NULL, 0);
    assert_non_null(strstr(s, "\"details\":[]"));
    free(s);
}

static void status_mapping(void **state)
{
    (void)state;
    static const struct {
        cf_code code;
        unsigned flags;
        int http;
    } cases[] = {
        {CF_INVALID_ARGUMENT, 0, 400},    {CF_UNAUTHENTICATED, 0, 401},
        {CF_PERMISSION_DENIED, 0, 403},   {CF_NOT_FOUND, 0, 404},
        {CF_ALREADY_EXISTS, 0, 409},      {CF_ABORTED, 0, 409},
        {CF_FAILED_PRECONDITION, 0, 400}, {CF_FAILED_PRECONDITION, GW_CONFLICT, 409},
        {CF_RESOURCE_EXHAUSTED, 0, 429},  {CF_UNAVAILABLE, 0, 503},
        {CF_DEADLINE_EXCEEDED, 0, 504},   {CF_INTERNAL, 0, 500},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        assert_int_equal(gw_http_status(cases[i].code, cases[i].flags), cases[i].http);
}

static void token_bucket(void **state)
{
    (void)state;
    gw_ratelimit *rl = gw_ratelimit_new(10, 3, 64);
    int64_t t = 1000000000;
    int retry = 0;
    for (int i = 0; i < 3; i++)
        assert_true(gw_ratelimit_take(rl, "u:a", t, &retry));
    assert_false(gw_ratelimit_take(rl, "u:a", t, &retry));
    assert_int_equal(retry, 1);
    assert_true(gw_ratelimit_take(rl, "u:b", t, &retry)); /* another client is not affected */
    assert_true(gw_ratelimit_take(rl, "u:a", t + 100000000, &retry)); /* 0.1 s = 1 token */
    assert_false(gw_ratelimit_take(rl, "u:a", t + 100000000, &retry));
    /* many keys (issue 24 item 1): the table's bytes never change, it tracks at most its slots
     * and counts what it had to forget; a quiet key is forgotten at worst (full bucket) */
    gw_ratelimit_stats s0 = gw_ratelimit_stats_get(rl);
    assert_int_equal(s0.slots, 64);
    assert_int_equal(s0.clients, 2);
    assert_int_equal(s0.evictions, 0);
    char k[32];
    for (int i = 0; i < 10000; i++) {
        snprintf(k, sizeof k, "k%d", i);
        gw_ratelimit_take(rl, k, t, NULL);
    }
    gw_ratelimit_stats s1 = gw_ratelimit_stats_get(rl);
    assert_true(s1.clients <= 64);
    assert_int_equal(s1.bytes, s0.bytes);
    assert_true(s1.bytes < 16 << 10); /* 64 slots of a 96-byte key and its level */
    assert_true(s1.evictions >= 10000 - 64);
    gw_ratelimit_free(rl);
    gw_ratelimit *off = gw_ratelimit_new(0, 1, 64);
    for (int i = 0; i < 100; i++)
        assert_true(gw_ratelimit_take(off, "x", t, NULL));
    gw_ratelimit_free(off);
}

static void bad_tables_are_refused(void **state)
{
    (void)state;
    static const gw_route bad[][1] = {
        {{"GET", "/v1/x", "rooms.v1.Rooms/Nope", NULL, 0, 0}},
        {{"GET", "/v1/x/{nope}", "rooms.v1.Rooms/GetRoom", NULL, 0, 0}},
        {{"GET", "/v1/x/{roomId", "rooms.v1.Rooms/GetRoom", NULL, 0, 0}},
        {{"POST", "/v1/x", "rooms.v1.Rooms/UpdateRoom", "nope", 0, 0}},
        {{"GET", "v1/x", "rooms.v1.Rooms/GetRoom", NULL, 0, 0}},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        gw_router r;
        char err[256];
        assert_code(CF_INVALID_ARGUMENT,
                    gw_router_build(&r, bad[i], 1, registries, backend_of, NULL, err, sizeof err));
        assert_non_null(strstr(err, bad[i][0].path));
    }
}

/* Issue 21 item 2: the client's address is the peer, unless the peer is a trusted proxy; then
 * the rightmost forwarded address not in http.trusted_proxies (nginx real_ip_recursive, Envoy
 * trusted hops). A header from an untrusted peer is ignored. */
static void client_address_table(void **state)
{
    (void)state;
    char *nets[] = {"127.0.0.2/32", "10.0.0.0/8", "2001:db8:1::/48"};
    cfg_strlist l = {.items = nets, .n = 3};
    gw_proxies *p;
    char err[256];
    assert_code(CF_OK, gw_proxies_new(&l, &p, err, sizeof err));
    static const struct {
        const char *peer, *xff, *fwd, *want;
    } rows[] = {
        {"127.0.0.1", NULL, NULL, "127.0.0.1"},                        /* direct */
        {"127.0.0.1", "6.6.6.6", NULL, "127.0.0.1"},                   /* spoofed, untrusted peer */
        {"127.0.0.1", NULL, "for=6.6.6.6", "127.0.0.1"},               /* the same with Forwarded */
        {"127.0.0.2", "203.0.113.9", NULL, "203.0.113.9"},             /* one trusted proxy */
        {"127.0.0.2", "198.51.100.4, 10.1.2.3", NULL, "198.51.100.4"}, /* two */
        {"127.0.0.2", "6.6.6.6, 198.51.100.4, 10.1.2.3", NULL, "198.51.100.4"}, /* client lied */
        {"127.0.0.2", "10.9.9.9, 10.1.2.3", NULL, "10.9.9.9"}, /* all trusted: leftmost */
        {"127.0.0.2", "garbage, 10.1.2.3", NULL, "10.1.2.3"},  /* stops at what is known */
        {"127.0.0.2", "unknown", NULL, "127.0.0.2"},
        {"127.0.0.2", "203.0.113.9:4711", NULL, "203.0.113.9"}, /* with a port */
        {"127.0.0.2", "[2001:db8::7]:80", NULL, "2001:db8::7"},
        {"127.0.0.2", "::ffff:192.0.2.1", NULL, "192.0.2.1"}, /* IPv4-mapped */
        {"127.0.0.2", NULL, "for=192.0.2.60;proto=http;by=203.0.113.43", "192.0.2.60"},
        {"127.0.0.2", NULL, "for=\"[2001:db8:cafe::17]:4711\", for=10.0.0.1", "2001:db8:cafe::17"},
        {"127.0.0.2", NULL, "for=_hidden, for=10.0.0.1", "10.0.0.1"},
        {"2001:db8:1::5", "192.0.2.77", NULL, "192.0.2.77"},    /* an IPv6 proxy network */
        {"2001:db8:2::5", "192.0.2.77", NULL, "2001:db8:2::5"}, /* outside it */
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char out[64];
        gw_client_addr(p, rows[i].peer, rows[i].xff, rows[i].fwd, out, sizeof out);
        if (strcmp(out, rows[i].want) != 0)
            fail_msg("row %zu (%s | %s | %s): got %s, want %s", i, rows[i].peer,
                     rows[i].xff ? rows[i].xff : "-", rows[i].fwd ? rows[i].fwd : "-", out,
                     rows[i].want);
    }
    /* no trusted proxies at all: headers never count */
    gw_proxies_free(p);
    cfg_strlist none = {0};
    assert_code(CF_OK, gw_proxies_new(&none, &p, err, sizeof err));
    char out[64];
    gw_client_addr(p, "127.0.0.2", "203.0.113.9", NULL, out, sizeof out);
    assert_string_equal(out, "127.0.0.2");
    gw_proxies_free(p);
    /* a bad entry is refused, naming it */
    char *bad[] = {"10.0.0.0/33"};
    cfg_strlist b = {.items = bad, .n = 1};
    assert_code(CF_INVALID_ARGUMENT, gw_proxies_new(&b, &p, err, sizeof err));
    assert_non_null(strstr(err, "10.0.0.0/33"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_route_resolves_to_a_backend),
        cmocka_unit_test(route_matching_table),
        cmocka_unit_test(transcoding_table),
        cmocka_unit_test(error_shape),
        cmocka_unit_test(status_mapping),
        cmocka_unit_test(token_bucket),
        cmocka_unit_test(bad_tables_are_refused),
        cmocka_unit_test(client_address_table),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
