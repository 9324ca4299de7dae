/* test_idempotency.c — one idempotency rule for every creating method (issue 25 item 1;
 * docs/rpc.md, "Idempotency"), by RPC and by HTTP through the gateway, against the real
 * catalog, rooms and draw services (in-process, private PostgreSQL).
 *
 * For every creating method, as a table: the same key and the same request answers the first
 * result; the same key with another request is INVALID_ARGUMENT naming `idempotency-key` (HTTP
 * 422, the IETF httpapi Idempotency-Key draft); another key creates anew; a malformed key is
 * refused (HTTP 400 naming the header); and a call made while the first with its key is still
 * running is ABORTED naming `idempotency-key` (HTTP 409). The in-flight window is made on
 * purpose, not raced: the test holds a SHARE lock on the table the first call writes, waits
 * until PostgreSQL shows that call waiting for it, makes the second call, then lets the first
 * finish and checks that a retry gets its result. */
#include "th.h"
#include "service.h"
#include "pg.h"
#include "th_http.h"
#include "tokens.h"
#include "gateway.h"
#include "gw_start.h"
#include "catalog.h"
#include "rooms.h"
#include "draw.h"
#include "base/xmalloc.h"
#include "pbjson/pbjson.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static th_keys *keys;
static authn_verifier *verifier;
static th_service *catalog, *rooms, *draw;
static metrics *mx;
static gw_config cfg;
static cfg_schema schema;
static gw *g;
static int port;
static char *org;                                    /* the organizer's token */
static char room[64], prize[64], app1[64], app2[64]; /* what the methods work on */

/* ---- one creating method, called by RPC or HTTP with a variant of its request ---- */

typedef struct method {
    const char *name; /* full method name */
    th_service **svc;
    const ProtobufCServiceDescriptor *desc;
    const char *table; /* "schema.table" its first write goes to: locked to hold it in flight */
    const char *id;    /* JSON path of what tells two results apart ("roomId", "draw.drawId") */
    bool distinct;     /* two creations always differ in id (false: a timestamp in seconds) */
    /* the request as JSON (path fields included, for RPC) and its HTTP form */
    void (*json)(int variant, char *out, size_t cap);
    const char *verb;
    void (*http)(int variant, char *path, size_t pcap, char *body, size_t bcap);
} method;

static void room_json(int v, char *o, size_t n)
{
    snprintf(o, n, "{\"name\":\"%s\",\"isPublic\":true}", v ? "Another room" : "Idempotent room");
}
static void room_http(int v, char *p, size_t pn, char *b, size_t bn)
{
    snprintf(p, pn, "/v1/rooms");
    room_json(v, b, bn);
}
static void prize_json(int v, char *o, size_t n)
{
    /* Pen/1 then Pencil/7: the case issue 25 reports */
    snprintf(o, n, "{\"roomId\":\"%s\",\"name\":\"%s\",\"quantity\":%d}", room,
             v ? "Pencil" : "Pen", v ? 7 : 1);
}
static void prize_http(int v, char *p, size_t pn, char *b, size_t bn)
{
    snprintf(p, pn, "/v1/rooms/%s/prizes", room);
    snprintf(b, bn, "{\"name\":\"%s\",\"quantity\":%d}", v ? "Pencil" : "Pen", v ? 7 : 1);
}
static void draw_json(int v, char *o, size_t n)
{
    snprintf(o, n, "{\"roomId\":\"%s\",\"prizeId\":\"%s\",\"count\":%d}", room, prize, v + 1);
}
static void draw_http(int v, char *p, size_t pn, char *b, size_t bn)
{
    snprintf(p, pn, "/v1/rooms/%s/draws", room);
    snprintf(b, bn, "{\"prizeId\":\"%s\",\"count\":%d}", prize, v + 1);
}
#define MANIFEST                                                                                   \
    "{\"name\":\"Wheel\",\"version\":\"1.0.0\",\"settingsSchema\":{\"type\":\"object\"}}"
static void app_json(int v, char *o, size_t n)
{
    snprintf(o, n, "{\"name\":\"%s\",\"manifest\":" MANIFEST "}", v ? "Other app" : "Idem app");
}
static void app_http(int v, char *p, size_t pn, char *b, size_t bn)
{
    snprintf(p, pn, "/v1/apps");
    app_json(v, b, bn);
}
static void secret_json(int v, char *o, size_t n)
{
    snprintf(o, n, "{\"appId\":\"%s\"}", v ? app2 : app1);
}
static void secret_http(int v, char *p, size_t pn, char *b, size_t bn)
{
    snprintf(p, pn, "/v1/apps/%s:regenerateSecret", v ? app2 : app1);
    b[0] = '\0';
    (void)bn;
}

/* Every creating method of every service (docs/rpc.md, "Idempotency", has the same table). */
static const method methods[] = {
    {"rooms.v1.Rooms/CreateRoom", &rooms, &rooms__v1__rooms__descriptor, "rooms.rooms", "roomId",
     true, room_json, "POST", room_http},
    {"draw.v1.Draw/CreatePrize", &draw, &draw__v1__draw__descriptor, "draw.prizes", "prizeId", true,
     prize_json, "POST", prize_http},
    {"draw.v1.Draw/DrawWinners", &draw, &draw__v1__draw__descriptor, "draw.draws", "draw.drawId",
     true, draw_json, "POST", draw_http},
    {"catalog.v1.Catalog/RegisterApp", &catalog, &catalog__v1__catalog__descriptor, "catalog.apps",
     "app.appId", true, app_json, "POST", app_http},
    {"catalog.v1.Catalog/RegenerateSecret", &catalog, &catalog__v1__catalog__descriptor,
     "catalog.apps", "previousValidUntil", false, secret_json, "POST", secret_http},
};

/* What a call answered: the code (RPC) or HTTP status, the first detail's field, the id. */
typedef struct answer {
    int code;
    char field[64], id[128], status[32];
} answer;

static void id_of(json_t *j, const char *path, char *out, size_t cap)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *tok = strtok(buf, "."); tok && j; tok = strtok(NULL, "."))
        j = json_object_get(j, tok);
    snprintf(out, cap, "%s", json_is_string(j) ? json_string_value(j) : "");
}

static answer call_rpc(const method *m, const char *key, int variant)
{
    const char *slash = strchr(m->name, '/');
    const ProtobufCMethodDescriptor *md =
        protobuf_c_service_descriptor_get_method_by_name(m->desc, slash + 1);
    assert_non_null(md);
    char text[1024];
    m->json(variant, text, sizeof text);
    ProtobufCMessage *req;
    if (pbjson_from_string(md->input, text, strlen(text), NULL, &req, NULL) != CF_OK)
        fail_msg("test bug: %s", text);
    rpc_ccall cc;
    rpc_ccall_init(&cc, NULL);
    cc.timeout_ms = 60000; /* the blocked first call waits for the test's lock */
    char *bearer = xasprintf("Bearer %s", org);
    rpc_ccall_md(&cc, "authorization", bearer);
    if (key)
        rpc_ccall_md(&cc, "idempotency-key", key);
    rpc_client_invoke((*m->svc)->client, m->desc, (unsigned)(md - m->desc->methods), req, &cc);
    protobuf_c_message_free_unpacked(req, NULL);
    free(bearer);
    answer a = {.code = cc.code};
    if (cc.ndetails)
        snprintf(a.field, sizeof a.field, "%s", cc.details[0]->field);
    if (cc.code == CF_OK) {
        json_t *j = pbjson_to_json(cc.response);
        id_of(j, m->id, a.id, sizeof a.id);
        json_decref(j);
    }
    rpc_ccall_free(&cc);
    return a;
}

static answer call_http(const method *m, const char *key, int variant)
{
    char path[512], body[1024], url[600], hdr[300];
    m->http(variant, path, sizeof path, body, sizeof body);
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    snprintf(hdr, sizeof hdr, "Idempotency-Key: %s", key ? key : "");
    const char *headers[] = {hdr, NULL};
    th_http_resp t = th_http(&(th_http_req){.method = m->verb,
                                            .url = url,
                                            .bearer = org,
                                            .body = *body ? body : NULL,
                                            .headers = key ? headers : NULL,
                                            .timeout_s = 60});
    answer a = {.code = (int)t.status};
    json_t *j = json_loads(t.body, 0, NULL);
    if (t.status == 200)
        id_of(j, m->id, a.id, sizeof a.id);
    else {
        json_t *e = json_object_get(j, "error");
        snprintf(a.status, sizeof a.status, "%s",
                 json_string_value(json_object_get(e, "status")) ?: "");
        json_t *d = json_array_get(json_object_get(e, "details"), 0);
        snprintf(a.field, sizeof a.field, "%s",
                 json_string_value(json_object_get(d, "field")) ?: "");
    }
    json_decref(j);
    free(t.body);
    free(t.headers);
    return a;
}

static answer call_one(const method *m, bool http, const char *key, int variant)
{
    return http ? call_http(m, key, variant) : call_rpc(m, key, variant);
}

/* ---- the in-flight window ---- */

typedef struct inflight {
    const method *m;
    bool http;
    const char *key;
    answer a;
} inflight;

static void *inflight_call(void *arg)
{
    inflight *f = arg;
    f->a = call_one(f->m, f->http, f->key, 0);
    return NULL;
}

/* Holds a SHARE lock on m's table (writes to it wait) on a connection of its own. Should the
 * test fail while holding it, the server ends the idle transaction after 30 s, so the services
 * are not left blocked and the teardown still runs. */
static PGconn *hold_table(const method *m)
{
    PGconn *pg = th_pg_connect((*m->svc)->dsn);
    char sql[160];
    snprintf(sql, sizeof sql,
             "SET idle_in_transaction_session_timeout = '30s'; BEGIN; LOCK TABLE %s IN SHARE MODE",
             m->table);
    PGresult *r = PQexec(pg, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(pg));
    PQclear(r);
    return pg;
}

/* Waits (up to 120 s) until a session waits for a lock on m's table: the first call has claimed
 * its key and is blocked on its write. */
static void wait_blocked(PGconn *pg, const method *m)
{
    const char *dot = strchr(m->table, '.');
    char nsp[32];
    snprintf(nsp, sizeof nsp, "%.*s", (int)(dot - m->table), m->table);
    const char *p[] = {nsp, dot + 1};
    for (int i = 0; i < 2400; i++) {
        PGresult *r = PQexecParams(
            pg,
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE NOT l.granted "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND n.nspname = $1 AND c.relname = $2",
            2, NULL, p, NULL, NULL, 0);
        bool waiting = PQresultStatus(r) == PGRES_TUPLES_OK && atoi(PQgetvalue(r, 0, 0)) > 0;
        PQclear(r);
        if (waiting)
            return;
        usleep(50000);
    }
    fail_msg("%s never waited for the lock on %s", m->name, m->table);
}

static void release_table(PGconn *pg)
{
    PQclear(PQexec(pg, "COMMIT"));
    PQfinish(pg);
}

/* ---- the table ---- */

enum expect { FIRST, SAME, OTHER, REUSED, MALFORMED, BUSY };

/* The answer each expectation has by RPC and by HTTP (IETF httpapi Idempotency-Key draft). */
static void check(const method *m, bool http, size_t step, const answer *a, enum expect e,
                  const char *first)
{
    static const struct {
        int code, http;
        const char *field, *http_field, *status;
    } want[] = {
        [FIRST] = {CF_OK, 200, NULL, NULL, NULL},
        [SAME] = {CF_OK, 200, NULL, NULL, NULL},
        [OTHER] = {CF_OK, 200, NULL, NULL, NULL},
        [REUSED] = {CF_INVALID_ARGUMENT, 422, "idempotency-key", "idempotency-key",
                    "INVALID_ARGUMENT"},
        [MALFORMED] = {CF_INVALID_ARGUMENT, 400, "idempotency-key", "Idempotency-Key",
                       "INVALID_ARGUMENT"},
        [BUSY] = {CF_ABORTED, 409, "idempotency-key", "idempotency-key", "ABORTED"},
    };
    int code = http ? want[e].http : want[e].code;
    const char *field = http ? want[e].http_field : want[e].field;
    if (a->code != code)
        fail_msg("%s by %s, step %zu: got %d (%s %s), want %d", m->name, http ? "HTTP" : "RPC",
                 step, a->code, a->status, a->field, code);
    if (field && strcmp(a->field, field) != 0)
        fail_msg("%s by %s, step %zu: detail names \"%s\", want %s", m->name, http ? "HTTP" : "RPC",
                 step, a->field, field);
    if (http && want[e].status)
        assert_string_equal(a->status, want[e].status);
    if (e == SAME)
        assert_string_equal(a->id, first);
    if (e == OTHER && m->distinct)
        assert_string_not_equal(a->id, first);
    if (e == FIRST || e == SAME || e == OTHER)
        assert_true(a->id[0] != '\0');
}

static void test_one_idempotency_rule_for_every_creating_method(void **state)
{
    (void)state;
    static const struct {
        const char *key; /* appended to the transport's prefix; NULL: the in-flight sequence */
        int variant;
        enum expect e;
    } steps[] = {
        {"k-1", 0, FIRST},
        {"k-1", 0, SAME},   /* a retry: the first result, nothing created */
        {"k-1", 1, REUSED}, /* the key with another request */
        {"k-2", 1, OTHER},  /* another key: created anew */
        {"k-1", 0, SAME},   /* the refusal changed nothing */
        {"has space", 0, MALFORMED},
        {NULL, 0, BUSY},
    };
    for (size_t mi = 0; mi < sizeof methods / sizeof *methods; mi++) {
        const method *m = &methods[mi];
        for (int http = 0; http <= 1; http++) {
            char first[128] = "";
            for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
                char key[64];
                if (steps[i].key) {
                    /* over HTTP the draft's quoted form ("…") is the same key as the bare one */
                    bool quoted = http && i == 4;
                    snprintf(key, sizeof key, "%s%s-%s%s", quoted ? "\"" : "", http ? "h" : "r",
                             steps[i].key, quoted ? "\"" : "");
                    answer a = call_one(m, http, key, steps[i].variant);
                    check(m, http, i, &a, steps[i].e, first);
                    if (steps[i].e == FIRST)
                        snprintf(first, sizeof first, "%s", a.id);
                    continue;
                }
                /* in flight: the first call holds its key, blocked on its write */
                snprintf(key, sizeof key, "%s-k-3", http ? "h" : "r");
                PGconn *pg = hold_table(m);
                inflight f = {.m = m, .http = http, .key = key};
                pthread_t t;
                pthread_create(&t, NULL, inflight_call, &f);
                wait_blocked(pg, m);
                answer busy = call_one(m, http, key, 0);
                check(m, http, i, &busy, BUSY, NULL);
                busy = call_one(m, http, key, 1); /* another request: still "in progress" */
                check(m, http, i, &busy, BUSY, NULL);
                release_table(pg);
                pthread_join(t, NULL);
                check(m, http, i, &f.a, FIRST, NULL);
                answer again = call_one(m, http, key, 0); /* now: its result */
                check(m, http, i, &again, SAME, f.a.id);
            }
        }
    }
}

/* Keys are scoped: the same key for CreateRoom from two creators makes two rooms. */
static void test_keys_are_scoped(void **state)
{
    (void)state;
    char *other = th_token(keys, "organizer-2", 600, false);
    char *mine = org;
    answer a = call_rpc(&methods[0], "scoped-1", 0);
    org = other;
    answer b = call_rpc(&methods[0], "scoped-1", 0);
    org = mine;
    assert_int_equal(a.code, CF_OK);
    assert_int_equal(b.code, CF_OK);
    assert_string_not_equal(a.id, b.id);
    free(other);
}

/* The Idempotency-Key header: bare token or RFC 8941 string; anything else is 400 at the
 * gateway, naming the header (pure: gw_idempotency_key). */
static void test_header_syntax(void **state)
{
    (void)state;
    static const struct {
        const char *header, *key;
    } cases[] = {
        {"abc", "abc"},
        {"  abc\t", "abc"},
        {"\"abc\"", "abc"},
        {"\"a\\\"b\\\\c\"", "a\"b\\c"},
        {"\"8e03978e-40d5-43e8-bc93-6894a57f9324\"", "8e03978e-40d5-43e8-bc93-6894a57f9324"},
        {"", NULL},
        {"\"\"", NULL},
        {"a b", NULL},
        {"\"a b\"", NULL},
        {"\"abc", NULL},
        {"\"abc\";p=1", NULL},
        {"\"a\\bc\"", NULL},
        {"caf\xc3\xa9", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *k = gw_idempotency_key(cases[i].header);
        if (cases[i].key == NULL) {
            if (k)
                fail_msg("header [%s] gave key [%s], want a refusal", cases[i].header, k);
        } else {
            if (!k)
                fail_msg("header [%s] refused, want [%s]", cases[i].header, cases[i].key);
            assert_string_equal(k, cases[i].key);
        }
        free(k);
    }
    char big[RPC_IDEMPOTENCY_KEY_MAX + 2];
    memset(big, 'k', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    char *k = gw_idempotency_key(big);
    assert_null(k); /* 129 characters: never cut, never silently dropped */
    big[RPC_IDEMPOTENCY_KEY_MAX] = '\0';
    k = gw_idempotency_key(big);
    assert_non_null(k);
    free(k);
}

/* ---- setup ---- */

static rpc_ccall *invoke(th_service *s, const ProtobufCServiceDescriptor *d, const char *name,
                         const char *json, const char *token)
{
    const ProtobufCMethodDescriptor *md = protobuf_c_service_descriptor_get_method_by_name(d, name);
    ProtobufCMessage *req;
    if (pbjson_from_string(md->input, json, strlen(json), NULL, &req, NULL) != CF_OK)
        fail_msg("test bug: %s", json);
    rpc_ccall *cc = xcalloc(1, sizeof *cc);
    rpc_ccall_init(cc, NULL);
    char *bearer = xasprintf("Bearer %s", token);
    rpc_ccall_md(cc, "authorization", bearer);
    rpc_client_invoke(s->client, d, (unsigned)(md - d->methods), req, cc);
    protobuf_c_message_free_unpacked(req, NULL);
    free(bearer);
    if (cc->code != CF_OK)
        fail_msg("%s: %s", name, cc->message);
    return cc;
}

static void invoke_id(th_service *s, const ProtobufCServiceDescriptor *d, const char *name,
                      const char *json, const char *token, const char *path, char *out, size_t cap)
{
    rpc_ccall *cc = invoke(s, d, name, json, token);
    if (path) {
        json_t *j = pbjson_to_json(cc->response);
        id_of(j, path, out, cap);
        json_decref(j);
    }
    rpc_ccall_free(cc);
    free(cc);
}

static int setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_ALL);
    keys = th_keys_new("ES256");
    verifier = th_verifier_new(keys, NULL);
    catalog = th_service_start(catalog_service_def(), &(th_service_opts){.keys = keys});
    char *a1 = xasprintf("CONFETTI_CATALOG_URLS=%s", catalog->url);
    const char *renv[] = {a1, NULL};
    rooms = th_service_start(rooms_service_def(), &(th_service_opts){.keys = keys, .env = renv});
    char *a2 = xasprintf("CONFETTI_ROOMS_URLS=%s", rooms->url);
    const char *denv[] = {a2, NULL};
    draw = th_service_start(draw_service_def(), &(th_service_opts){.keys = keys, .env = denv});
    free(a1);
    free(a2);
    mx = metrics_new("gateway");
    char env[6][256];
    snprintf(env[0], 256, "CONFETTI_HTTP_LISTEN=http://127.0.0.1:%d", th_free_port());
    snprintf(env[1], 256, "CONFETTI_SERVICES_CATALOG=%s", catalog->url);
    snprintf(env[2], 256, "CONFETTI_SERVICES_ROOMS=%s", rooms->url);
    snprintf(env[3], 256, "CONFETTI_SERVICES_DRAW=%s", draw->url);
    snprintf(env[4], 256, "CONFETTI_RATELIMIT_RATE=0");
    char *envp[] = {env[0], env[1], env[2], env[3], env[4], NULL};
    g = gw_test_start(envp, &cfg, &schema, verifier, mx);
    port = gw_port(g);

    /* what the methods work on: an ACTIVE room with 12 participants and a prize of 50, and two
     * apps whose secrets are regenerated */
    org = th_token(keys, "organizer-1", 3600, false);
    const ProtobufCServiceDescriptor *rd = &rooms__v1__rooms__descriptor,
                                     *dd = &draw__v1__draw__descriptor,
                                     *cd = &catalog__v1__catalog__descriptor;
    invoke_id(rooms, rd, "CreateRoom", "{\"name\":\"Draws\",\"isPublic\":true}", org, "roomId",
              room, sizeof room);
    char json[512];
    snprintf(json, sizeof json, "{\"roomId\":\"%s\"}", room);
    invoke_id(rooms, rd, "ActivateRoom", json, org, NULL, NULL, 0);
    for (int i = 0; i < 12; i++) {
        char sub[32];
        snprintf(sub, sizeof sub, "participant-%d", i);
        char *t = th_token(keys, sub, 600, false);
        invoke_id(rooms, rd, "AddParticipant", json, t, NULL, NULL, 0);
        free(t);
    }
    snprintf(json, sizeof json, "{\"roomId\":\"%s\",\"name\":\"Mug\",\"quantity\":50}", room);
    invoke_id(draw, dd, "CreatePrize", json, org, "prizeId", prize, sizeof prize);
    invoke_id(catalog, cd, "RegisterApp", "{\"name\":\"App one\",\"manifest\":" MANIFEST "}", org,
              "app.appId", app1, sizeof app1);
    invoke_id(catalog, cd, "RegisterApp", "{\"name\":\"App two\",\"manifest\":" MANIFEST "}", org,
              "app.appId", app2, sizeof app2);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(org);
    gw_free(g);
    cfg_free(&schema, 1);
    th_service_stop(draw);
    th_service_stop(rooms);
    th_service_stop(catalog);
    metrics_free(mx);
    authn_verifier_free(verifier);
    th_keys_free(keys);
    curl_global_cleanup();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_syntax),
        cmocka_unit_test(test_one_idempotency_rule_for_every_creating_method),
        cmocka_unit_test(test_keys_are_scoped),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
