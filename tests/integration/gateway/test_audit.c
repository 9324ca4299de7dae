/* test_audit.c — the audit log (issue 18 item 5; docs/audit.md) against the real catalog,
 * rooms, draw and auth services (in-process, private PostgreSQL) and the gateway over HTTP.
 *
 *  - every audited action of catalog, rooms and draw writes exactly one row, with who, from where
 *    (x-peer-address) and the request id; an action refused, or repeated so that nothing changes,
 *    writes none (a table over the actions);
 *  - the row is written in the change's transaction: when the row cannot be written (a CHECK
 *    the test adds), the change does not happen either — for the transaction form (rooms) and
 *    for draw's one-statement allocation;
 *  - audit_log is append-only in every schema: UPDATE, DELETE and TRUNCATE fail;
 *  - GET /v1/audit: platform admins read every service's rows merged newest first, paged with
 *    keyset tokens, filtered; other users are refused;
 *  - GET /v1/rooms/{roomId}/audit (issue 24 item 3's rule): a room's organizers read their room's
 *    rows only, and only from when they became organizers; a member below organizer is refused
 *    (403), a stranger to a private room gets 404, to a public one 403;
 *  - through the gateway a row names the client's address and the X-Request-Id. */
#include "th.h"
#include "service.h"
#include "pg.h"
#include "th_http.h"
#include "tokens.h"
#include "gateway.h"
#include "gw_start.h"
#include "auth.h"
#include "catalog.h"
#include "rooms.h"
#include "draw.h"
#include "base/xmalloc.h"
#include "pbjson/pbjson.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static th_keys *keys;
static authn_verifier *verifier;
static th_service *auth, *catalog, *rooms, *draw;
static metrics *mx;
static gw_config cfg;
static cfg_schema schema;
static gw *g;
static int port;
static char keyfile[128];
static char *org, *admin, *member, *stranger;
static char room[64], private_room[64], prize[64], app[64];

#define MANIFEST(v)                                                                                \
    "{\"name\":\"Wheel\",\"version\":\"" v "\",\"settingsSchema\":{\"type\":\"object\"}}"

/* ---- calls ---- */

/* An RPC with JSON in; the code, and the response as JSON into *out when asked. rid and peer go
 * as x-request-id and x-peer-address when not NULL. */
static cf_code rpc(th_service *s, const ProtobufCServiceDescriptor *d, const char *name,
                   const char *json, const char *token, const char *rid, const char *peer,
                   json_t **out)
{
    const ProtobufCMethodDescriptor *md = protobuf_c_service_descriptor_get_method_by_name(d, name);
    assert_non_null(md);
    ProtobufCMessage *req;
    if (pbjson_from_string(md->input, json, strlen(json), NULL, &req, NULL) != CF_OK)
        fail_msg("test bug: %s", json);
    rpc_ccall cc;
    rpc_ccall_init(&cc, NULL);
    cc.timeout_ms = 20000;
    char *bearer = xasprintf("Bearer %s", token);
    rpc_ccall_md(&cc, "authorization", bearer);
    if (rid)
        rpc_ccall_md(&cc, "x-request-id", rid);
    if (peer)
        rpc_ccall_md(&cc, "x-peer-address", peer);
    rpc_client_invoke(s->client, d, (unsigned)(md - d->methods), req, &cc);
    protobuf_c_message_free_unpacked(req, NULL);
    free(bearer);
    cf_code code = cc.code;
    if (out)
        *out = code == CF_OK ? pbjson_to_json(cc.response) : NULL;
    rpc_ccall_free(&cc);
    return code;
}

static void rpc_ok(th_service *s, const ProtobufCServiceDescriptor *d, const char *name,
                   const char *json, const char *token, const char *path, char *out, size_t cap)
{
    json_t *j = NULL;
    cf_code code = rpc(s, d, name, json, token, NULL, NULL, path ? &j : NULL);
    if (code != CF_OK)
        fail_msg("%s %s: %s", name, json, cf_code_name(code));
    if (path) {
        json_t *v = j;
        char buf[64];
        snprintf(buf, sizeof buf, "%s", path);
        for (char *t = strtok(buf, "."); t && v; t = strtok(NULL, "."))
            v = json_object_get(v, t);
        snprintf(out, cap, "%s", json_is_string(v) ? json_string_value(v) : "");
        json_decref(j);
    }
}

static json_t *http_get(const char *path, const char *token, long *status)
{
    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    th_http_resp r = th_http(&(th_http_req){.method = "GET", .url = url, .bearer = token});
    *status = r.status;
    json_t *j = json_loads(r.body, 0, NULL);
    if (!j)
        fail_msg("GET %s: %ld, not JSON: %s", path, r.status, r.body);
    th_http_free(&r);
    return j;
}

/* ---- the database ---- */

static PGresult *sql(th_service *s, const char *q, const char *const *p, int np)
{
    PGconn *c = th_pg_connect(s->dsn);
    PGresult *r = PQexecParams(c, q, np, NULL, p, NULL, NULL, 0);
    PQfinish(c);
    return r;
}

static long count_rows(th_service *s, const char *schema_name)
{
    char q[128];
    snprintf(q, sizeof q, "SELECT count(*) FROM %s.audit_log", schema_name);
    PGresult *r = sql(s, q, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", q, PQresultErrorMessage(r));
    long n = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return n;
}

static void exec_ok(th_service *s, const char *q)
{
    PGresult *r = sql(s, q, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("%s: %s", q, PQresultErrorMessage(r));
    PQclear(r);
}

/* ---- every audited action writes one row; a refused or empty one none ---- */

typedef struct action {
    const char *what; /* for messages */
    th_service **svc;
    const ProtobufCServiceDescriptor *desc;
    const char *schema;
    const char *method;
    void (*json)(char *out, size_t cap);
    cf_code code;        /* what the call answers */
    int rows;            /* rows it writes: 1 or 0 */
    const char *action;  /* the row's action when rows == 1 */
    const char *room_id; /* the row's room ("" none): pointer to a filled buffer */
} action;

static char winner[64];

static void j_activate(char *o, size_t n)
{
    snprintf(o, n, "{\"roomId\":\"%s\"}", room);
}
static void j_complete_private(char *o, size_t n) /* a DRAFT room cannot complete */
{
    snprintf(o, n, "{\"roomId\":\"%s\"}", private_room);
}
static void j_promote(char *o, size_t n)
{
    snprintf(o, n,
             "{\"roomId\":\"%s\",\"userId\":\"member-1\",\"role\":\"MODERATOR\",\"updateMask\":"
             "\"role\"}",
             room);
}
static void j_demote(char *o, size_t n)
{
    snprintf(o, n,
             "{\"roomId\":\"%s\",\"userId\":\"member-1\",\"role\":\"PARTICIPANT\",\"updateMask\":"
             "\"role\"}",
             room);
}
static void j_add(char *o, size_t n)
{
    snprintf(o, n, "{\"roomId\":\"%s\",\"userId\":\"added-1\",\"role\":\"VIEWER\"}", room);
}
static void j_draw(char *o, size_t n)
{
    snprintf(o, n, "{\"roomId\":\"%s\",\"prizeId\":\"%s\",\"count\":1}", room, prize);
}
static void j_draw_too_many(char *o, size_t n)
{
    snprintf(o, n, "{\"roomId\":\"%s\",\"prizeId\":\"%s\",\"count\":50}", room, prize);
}
static void j_revoke(char *o, size_t n)
{
    snprintf(o, n, "{\"roomId\":\"%s\",\"winnerId\":\"%s\",\"reason\":\"no show\"}", room, winner);
}
static void j_publish(char *o, size_t n)
{
    snprintf(o, n, "{\"appId\":\"%s\",\"manifest\":" MANIFEST("1.1.0") "}", app);
}
static void j_app(char *o, size_t n)
{
    snprintf(o, n, "{\"appId\":\"%s\"}", app);
}
static void j_register(char *o, size_t n)
{
    snprintf(o, n, "{\"name\":\"Audited app\",\"manifest\":" MANIFEST("1.0.0") "}");
}

static const char *const no_room = "";

static const action actions[] = {
    {"activate", &rooms, &rooms__v1__rooms__descriptor, "rooms", "ActivateRoom", j_activate, CF_OK,
     1, "room.status_changed", room},
    {"activate again (no change)", &rooms, &rooms__v1__rooms__descriptor, "rooms", "ActivateRoom",
     j_activate, CF_OK, 0, NULL, NULL},
    {"complete a DRAFT room (refused)", &rooms, &rooms__v1__rooms__descriptor, "rooms",
     "CompleteRoom", j_complete_private, CF_FAILED_PRECONDITION, 0, NULL, NULL},
    {"promote", &rooms, &rooms__v1__rooms__descriptor, "rooms", "UpdateParticipant", j_promote,
     CF_OK, 1, "participant.role_changed", room},
    {"promote again (no change)", &rooms, &rooms__v1__rooms__descriptor, "rooms",
     "UpdateParticipant", j_promote, CF_OK, 0, NULL, NULL},
    {"demote", &rooms, &rooms__v1__rooms__descriptor, "rooms", "UpdateParticipant", j_demote, CF_OK,
     1, "participant.role_changed", room},
    {"add someone", &rooms, &rooms__v1__rooms__descriptor, "rooms", "AddParticipant", j_add, CF_OK,
     1, "participant.added", room},
    {"draw", &draw, &draw__v1__draw__descriptor, "draw", "DrawWinners", j_draw, CF_OK, 1,
     "draw.performed", room},
    {"draw more than eligible (refused)", &draw, &draw__v1__draw__descriptor, "draw", "DrawWinners",
     j_draw_too_many, CF_FAILED_PRECONDITION, 0, NULL, NULL},
    {"revoke the winner", &draw, &draw__v1__draw__descriptor, "draw", "RevokeWinner", j_revoke,
     CF_OK, 1, "winner.revoked", room},
    {"revoke again (no change)", &draw, &draw__v1__draw__descriptor, "draw", "RevokeWinner",
     j_revoke, CF_OK, 0, NULL, NULL},
    {"register an app", &catalog, &catalog__v1__catalog__descriptor, "catalog", "RegisterApp",
     j_register, CF_OK, 1, "app.registered", no_room},
    {"publish", &catalog, &catalog__v1__catalog__descriptor, "catalog", "PublishManifest",
     j_publish, CF_OK, 1, "manifest.published", no_room},
    {"publish the same version (refused)", &catalog, &catalog__v1__catalog__descriptor, "catalog",
     "PublishManifest", j_publish, CF_ALREADY_EXISTS, 0, NULL, NULL},
    {"regenerate the secret", &catalog, &catalog__v1__catalog__descriptor, "catalog",
     "RegenerateSecret", j_app, CF_OK, 1, "app.secret_regenerated", no_room},
    {"deactivate", &catalog, &catalog__v1__catalog__descriptor, "catalog", "DeactivateApp", j_app,
     CF_OK, 1, "app.deactivated", no_room},
    {"deactivate again (no change)", &catalog, &catalog__v1__catalog__descriptor, "catalog",
     "DeactivateApp", j_app, CF_OK, 0, NULL, NULL},
    {"activate the app", &catalog, &catalog__v1__catalog__descriptor, "catalog", "ActivateApp",
     j_app, CF_OK, 1, "app.activated", no_room},
};

static void test_each_action_writes_one_row(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof actions / sizeof *actions; i++) {
        const action *a = &actions[i];
        char json[1024], rid[64], peer[32];
        a->json(json, sizeof json);
        snprintf(rid, sizeof rid, "audit-rid-%zu", i);
        snprintf(peer, sizeof peer, "198.51.100.%zu", i + 1);
        long before = count_rows(*a->svc, a->schema);
        json_t *out = NULL;
        cf_code code = rpc(*a->svc, a->desc, a->method, json, org, rid, peer, &out);
        if (code != a->code)
            fail_msg("%s: %s, want %s", a->what, cf_code_name(code), cf_code_name(a->code));
        if (code == CF_OK && strcmp(a->method, "DrawWinners") == 0) {
            json_t *w = json_array_get(json_object_get(out, "winners"), 0);
            snprintf(winner, sizeof winner, "%s",
                     json_string_value(json_object_get(w, "winnerId")) ?: "");
        }
        json_decref(out);
        long after = count_rows(*a->svc, a->schema);
        if (after - before != a->rows)
            fail_msg("%s: %ld audit rows written, want %d", a->what, after - before, a->rows);
        if (!a->rows)
            continue;
        /* the row: who, what, from where, which request */
        char q[256];
        snprintf(q, sizeof q,
                 "SELECT action, actor_id, peer, request_id, room_id FROM %s.audit_log "
                 "WHERE request_id = $1",
                 a->schema);
        const char *p[] = {rid};
        PGresult *r = sql(*a->svc, q, p, 1);
        assert_int_equal(PQntuples(r), 1);
        assert_string_equal(PQgetvalue(r, 0, 0), a->action);
        assert_string_equal(PQgetvalue(r, 0, 1), "organizer-1");
        assert_string_equal(PQgetvalue(r, 0, 2), peer);
        assert_string_equal(PQgetvalue(r, 0, 4), a->room_id);
        PQclear(r);
    }
}

/* A peer that is not an address (a control character, a space, too long) is not kept, and
 * does not make the change fail. */
static void test_bad_peer_is_dropped(void **state)
{
    (void)state;
    char r3[64], json[256];
    rpc_ok(rooms, &rooms__v1__rooms__descriptor, "CreateRoom", "{\"name\":\"Peer\"}", org, "roomId",
           r3, sizeof r3);
    snprintf(json, sizeof json, "{\"roomId\":\"%s\"}", r3);
    const char *bad[] = {"10.0.0.1 \x01x",
                         "0123456789012345678901234567890123456789012345678901234567890123456789"};
    const char *ops[] = {"ActivateRoom", "CompleteRoom", NULL};
    for (int i = 0; ops[i]; i++) {
        char rid[32];
        snprintf(rid, sizeof rid, "bad-peer-%d", i);
        assert_int_equal(
            rpc(rooms, &rooms__v1__rooms__descriptor, ops[i], json, org, rid, bad[i], NULL), CF_OK);
        const char *p[] = {rid};
        PGresult *r = sql(rooms, "SELECT peer FROM rooms.audit_log WHERE request_id = $1", p, 1);
        assert_int_equal(PQntuples(r), 1);
        assert_string_equal(PQgetvalue(r, 0, 0), "");
        PQclear(r);
    }
}

/* The row and the change commit together: a row that cannot be written undoes the change. */
static void test_row_and_change_are_one_transaction(void **state)
{
    (void)state;
    /* rooms (a db_tx): the status change does not happen */
    char r2[64], json[512];
    rpc_ok(rooms, &rooms__v1__rooms__descriptor, "CreateRoom",
           "{\"name\":\"Tx\",\"isPublic\":true}", org, "roomId", r2, sizeof r2);
    exec_ok(rooms, "ALTER TABLE rooms.audit_log ADD CONSTRAINT t_block "
                   "CHECK (action <> 'room.status_changed') NOT VALID");
    snprintf(json, sizeof json, "{\"roomId\":\"%s\"}", r2);
    long before = count_rows(rooms, "rooms");
    cf_code code =
        rpc(rooms, &rooms__v1__rooms__descriptor, "ActivateRoom", json, org, NULL, NULL, NULL);
    exec_ok(rooms, "ALTER TABLE rooms.audit_log DROP CONSTRAINT t_block");
    assert_int_not_equal(code, CF_OK);
    assert_int_equal(count_rows(rooms, "rooms"), before);
    const char *p[] = {r2};
    PGresult *r = sql(rooms, "SELECT status FROM rooms.rooms WHERE id = $1", p, 1);
    assert_string_equal(PQgetvalue(r, 0, 0), "DRAFT");
    PQclear(r);

    /* draw (one statement, db_exec_tx): no units taken, no winner, no draw */
    const char *pp[] = {prize};
    r = sql(draw, "SELECT quantity_remaining FROM draw.prizes WHERE id = $1", pp, 1);
    char *left = xstrdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    r = sql(draw, "SELECT count(*) FROM draw.winners", NULL, 0);
    char *winners = xstrdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    exec_ok(draw, "ALTER TABLE draw.audit_log ADD CONSTRAINT t_block "
                  "CHECK (action <> 'draw.performed') NOT VALID");
    j_draw(json, sizeof json);
    code = rpc(draw, &draw__v1__draw__descriptor, "DrawWinners", json, org, NULL, NULL, NULL);
    exec_ok(draw, "ALTER TABLE draw.audit_log DROP CONSTRAINT t_block");
    assert_int_not_equal(code, CF_OK);
    r = sql(draw, "SELECT quantity_remaining FROM draw.prizes WHERE id = $1", pp, 1);
    assert_string_equal(PQgetvalue(r, 0, 0), left);
    PQclear(r);
    r = sql(draw, "SELECT count(*) FROM draw.winners", NULL, 0);
    assert_string_equal(PQgetvalue(r, 0, 0), winners);
    PQclear(r);
    free(left);
    free(winners);
}

/* Append-only, enforced by the database whoever connects (the test connects as the owner). */
static void test_append_only(void **state)
{
    (void)state;
    struct {
        th_service **svc;
        const char *schema;
    } s[] = {{&auth, "auth"}, {&catalog, "catalog"}, {&rooms, "rooms"}, {&draw, "draw"}};
    for (size_t i = 0; i < sizeof s / sizeof *s; i++) {
        const char *verbs[] = {"UPDATE %s.audit_log SET detail = 'x'", "DELETE FROM %s.audit_log",
                               "TRUNCATE %s.audit_log"};
        /* a row of its own, so that row triggers have one to refuse */
        char ins[160];
        snprintf(ins, sizeof ins,
                 "INSERT INTO %s.audit_log (id, action) VALUES ('t-row-%zu', 'test.row')",
                 s[i].schema, i);
        exec_ok(*s[i].svc, ins);
        long n = count_rows(*s[i].svc, s[i].schema);
        for (size_t v = 0; v < 3; v++) {
            char q[128];
            snprintf(q, sizeof q, verbs[v], s[i].schema);
            PGresult *r = sql(*s[i].svc, q, NULL, 0);
            if (PQresultStatus(r) == PGRES_COMMAND_OK)
                fail_msg("%s succeeded", q);
            assert_string_equal(PQresultErrorField(r, PG_DIAG_SQLSTATE), "42501");
            PQclear(r);
        }
        assert_int_equal(count_rows(*s[i].svc, s[i].schema), n);
    }
}

/* ---- reading through the gateway ---- */

static int64_t entry_us(json_t *e)
{
    const char *t = json_string_value(json_object_get(e, "occurredAt"));
    int64_t s;
    int32_t ns;
    if (!t || !pbjson_timestamp_parse(t, strlen(t), &s, &ns))
        fail_msg("occurredAt: %s", t ? t : "(none)");
    return s * 1000000 + ns / 1000;
}

/* The entries of a page are newest first (occurredAt, then entryId, descending). */
static void check_order(json_t *entries)
{
    for (size_t i = 1; i < json_array_size(entries); i++) {
        json_t *a = json_array_get(entries, i - 1), *b = json_array_get(entries, i);
        int64_t ta = entry_us(a), tb = entry_us(b);
        if (ta < tb || (ta == tb && strcmp(json_string_value(json_object_get(a, "entryId")),
                                           json_string_value(json_object_get(b, "entryId"))) < 0))
            fail_msg("entries out of order at %zu", i);
    }
}

static void test_admin_reads_everything_merged_and_paged(void **state)
{
    (void)state;
    long st;
    json_t *all = http_get("/v1/audit?pageSize=100", admin, &st);
    assert_int_equal(st, 200);
    json_t *entries = json_object_get(all, "entries");
    size_t n = json_array_size(entries);
    assert_true(n >= 10);
    check_order(entries);
    bool seen[4] = {false};
    const char *names[] = {"auth", "catalog", "rooms", "draw"};
    for (size_t i = 0; i < n; i++) {
        const char *svc = json_string_value(json_object_get(json_array_get(entries, i), "service"));
        for (int k = 0; k < 4; k++)
            seen[k] |= strcmp(svc, names[k]) == 0;
    }
    assert_true(seen[0] && seen[1] && seen[2] && seen[3]); /* auth: test_append_only's row */

    /* pages of 3: the same entries, in the same order, none twice */
    char path[1024] = "/v1/audit?pageSize=3";
    size_t got = 0;
    for (int pages = 0; pages < 100; pages++) {
        json_t *pg = http_get(path, admin, &st);
        assert_int_equal(st, 200);
        json_t *e = json_object_get(pg, "entries");
        for (size_t i = 0; i < json_array_size(e); i++, got++) {
            assert_true(got < n);
            assert_string_equal(
                json_string_value(json_object_get(json_array_get(e, i), "entryId")),
                json_string_value(json_object_get(json_array_get(entries, got), "entryId")));
        }
        const char *next = json_string_value(json_object_get(pg, "nextPageToken"));
        if (!next || !*next) {
            json_decref(pg);
            break;
        }
        char *esc = curl_easy_escape(NULL, next, 0);
        snprintf(path, sizeof path, "/v1/audit?pageSize=3&pageToken=%s", esc);
        curl_free(esc);
        json_decref(pg);
    }
    assert_int_equal(got, n);

    /* a token is bound to its filters */
    json_t *p1 = http_get("/v1/audit?pageSize=1", admin, &st);
    char *esc = curl_easy_escape(NULL, json_string_value(json_object_get(p1, "nextPageToken")), 0);
    snprintf(path, sizeof path, "/v1/audit?pageSize=1&action=draw.performed&pageToken=%s", esc);
    curl_free(esc);
    json_decref(p1);
    json_t *bad = http_get(path, admin, &st);
    assert_int_equal(st, 400);
    assert_string_equal(
        json_string_value(json_object_get(
            json_array_get(json_object_get(json_object_get(bad, "error"), "details"), 0), "field")),
        "pageToken");
    json_decref(bad);

    /* filters: action, actor, room */
    json_t *f = http_get("/v1/audit?action=room.status_changed", admin, &st);
    assert_int_equal(st, 200);
    json_t *fe = json_object_get(f, "entries");
    assert_true(json_array_size(fe) >= 1);
    for (size_t i = 0; i < json_array_size(fe); i++)
        assert_string_equal(json_string_value(json_object_get(json_array_get(fe, i), "action")),
                            "room.status_changed");
    json_decref(f);
    snprintf(path, sizeof path, "/v1/audit?roomId=%s&actorId=organizer-1&pageSize=100", room);
    f = http_get(path, admin, &st);
    assert_int_equal(st, 200);
    fe = json_object_get(f, "entries");
    assert_true(json_array_size(fe) >= 5);
    for (size_t i = 0; i < json_array_size(fe); i++) {
        json_t *e = json_array_get(fe, i);
        assert_string_equal(json_string_value(json_object_get(e, "roomId")), room);
        assert_string_equal(json_string_value(json_object_get(e, "actorId")), "organizer-1");
    }
    json_decref(f);
    f = http_get("/v1/audit?until=2000-01-01T00:00:00Z", admin, &st);
    assert_int_equal(st, 200);
    assert_int_equal(json_array_size(json_object_get(f, "entries")), 0);
    json_decref(f);
    json_decref(all);
}

static void test_who_reads_what(void **state)
{
    (void)state;
    long st;
    char path[256];
    /* only admins read the whole log */
    json_t *j = http_get("/v1/audit", org, &st);
    assert_int_equal(st, 403);
    json_decref(j);
    j = http_get("/v1/audit", NULL, &st);
    assert_int_equal(st, 401);
    json_decref(j);

    /* the organizer reads their room's rows, and only those */
    snprintf(path, sizeof path, "/v1/rooms/%s/audit?pageSize=100", room);
    j = http_get(path, org, &st);
    assert_int_equal(st, 200);
    json_t *e = json_object_get(j, "entries");
    size_t n_org = json_array_size(e);
    assert_true(n_org >= 6); /* activate, 2 role changes, add, draw, revoke */
    for (size_t i = 0; i < n_org; i++)
        assert_string_equal(json_string_value(json_object_get(json_array_get(e, i), "roomId")),
                            room);
    json_decref(j);
    /* the same through /v1/audit?roomId= */
    snprintf(path, sizeof path, "/v1/audit?roomId=%s&pageSize=100", room);
    j = http_get(path, org, &st);
    assert_int_equal(st, 200);
    assert_int_equal(json_array_size(json_object_get(j, "entries")), n_org);
    json_decref(j);

    /* a member below organizer: 403; a stranger: 403 for a public room, 404 for a private one */
    snprintf(path, sizeof path, "/v1/rooms/%s/audit", room);
    j = http_get(path, member, &st);
    assert_int_equal(st, 403);
    json_decref(j);
    j = http_get(path, stranger, &st);
    assert_int_equal(st, 403);
    json_decref(j);
    snprintf(path, sizeof path, "/v1/rooms/%s/audit", private_room);
    j = http_get(path, stranger, &st);
    assert_int_equal(st, 404);
    json_decref(j);
    snprintf(path, sizeof path, "/v1/audit?roomId=%s", private_room);
    j = http_get(path, stranger, &st);
    assert_int_equal(st, 404);
    json_decref(j);

    /* issue 24 item 3: an organizer made now reads nothing from before */
    char json[256];
    snprintf(json, sizeof json,
             "{\"roomId\":\"%s\",\"userId\":\"member-1\",\"role\":\"ORGANIZER\",\"updateMask\":"
             "\"role\"}",
             room);
    rpc_ok(rooms, &rooms__v1__rooms__descriptor, "UpdateParticipant", json, org, NULL, NULL, 0);
    snprintf(path, sizeof path, "/v1/rooms/%s/audit?pageSize=100", room);
    j = http_get(path, member, &st);
    assert_int_equal(st, 200);
    e = json_object_get(j, "entries");
    assert_int_equal(json_array_size(e), 1); /* their own promotion, nothing earlier */
    assert_string_equal(json_string_value(json_object_get(json_array_get(e, 0), "action")),
                        "participant.role_changed");
    assert_string_equal(json_string_value(json_object_get(json_array_get(e, 0), "detail")),
                        "PARTICIPANT->ORGANIZER");
    json_decref(j);
    /* the first organizer still reads everything, the promotion included */
    j = http_get(path, org, &st);
    assert_int_equal(json_array_size(json_object_get(j, "entries")), n_org + 1);
    json_decref(j);
}

/* Through the gateway: the client's address and the request id reach the row. */
static void test_gateway_passes_peer_and_request_id(void **state)
{
    (void)state;
    char url[256], path[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/rooms/%s:cancel", port, private_room);
    const char *h[] = {"X-Request-Id: audit-through-gateway", NULL};
    th_http_resp r =
        th_http(&(th_http_req){.method = "POST", .url = url, .bearer = org, .headers = h});
    assert_int_equal(r.status, 200);
    th_http_free(&r);
    long st;
    snprintf(path, sizeof path, "/v1/rooms/%s/audit", private_room);
    json_t *j = http_get(path, org, &st);
    assert_int_equal(st, 200);
    json_t *e = json_array_get(json_object_get(j, "entries"), 0);
    assert_non_null(e);
    assert_string_equal(json_string_value(json_object_get(e, "action")), "room.status_changed");
    assert_string_equal(json_string_value(json_object_get(e, "detail")), "DRAFT->CANCELLED");
    assert_string_equal(json_string_value(json_object_get(e, "requestId")),
                        "audit-through-gateway");
    assert_string_equal(json_string_value(json_object_get(e, "peer")), "127.0.0.1");
    assert_string_equal(json_string_value(json_object_get(e, "actorId")), "organizer-1");
    assert_string_equal(json_string_value(json_object_get(e, "service")), "rooms");
    json_decref(j);
}

/* ---- setup ---- */

static int setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_ALL);
    keys = th_keys_new("RS256");
    verifier = th_verifier_new(keys, NULL);
    snprintf(keyfile, sizeof keyfile, "/tmp/confetti-audit-key-%d.pem", (int)getpid());
    FILE *f = fopen(keyfile, "w");
    fputs(th_keys_private_pem(keys), f);
    fclose(f);
    catalog = th_service_start(catalog_service_def(), &(th_service_opts){.keys = keys});
    char *a1 = xasprintf("CONFETTI_CATALOG_URLS=%s", catalog->url);
    const char *renv[] = {a1, NULL};
    rooms = th_service_start(rooms_service_def(), &(th_service_opts){.keys = keys, .env = renv});
    char *a2 = xasprintf("CONFETTI_ROOMS_URLS=%s", rooms->url);
    const char *denv[] = {a2, NULL};
    draw = th_service_start(draw_service_def(), &(th_service_opts){.keys = keys, .env = denv});
    char *a3 = xasprintf("CONFETTI_SIGNING_KEYS=%s=%s", th_keys_kid(keys), keyfile);
    const char *aenv[] = {a1, a3, NULL};
    auth = th_service_start(auth_service_def(), &(th_service_opts){.keys = keys, .env = aenv});
    free(a1);
    free(a2);
    free(a3);
    mx = metrics_new("gateway");
    char env[6][256];
    snprintf(env[0], 256, "CONFETTI_HTTP_LISTEN=http://127.0.0.1:%d", th_free_port());
    snprintf(env[1], 256, "CONFETTI_SERVICES_CATALOG=%s", catalog->url);
    snprintf(env[2], 256, "CONFETTI_SERVICES_ROOMS=%s", rooms->url);
    snprintf(env[3], 256, "CONFETTI_SERVICES_DRAW=%s", draw->url);
    snprintf(env[4], 256, "CONFETTI_SERVICES_AUTH=%s", auth->url);
    snprintf(env[5], 256, "CONFETTI_RATELIMIT_RATE=0");
    char *envp[] = {env[0], env[1], env[2], env[3], env[4], env[5], NULL};
    g = gw_test_start(envp, &cfg, &schema, verifier, mx);
    port = gw_port(g);

    org = th_token(keys, "organizer-1", 3600, false);
    admin = th_token(keys, "admin-1", 3600, true);
    member = th_token(keys, "member-1", 3600, false);
    stranger = th_token(keys, "stranger-1", 3600, false);
    const ProtobufCServiceDescriptor *rd = &rooms__v1__rooms__descriptor;
    rpc_ok(rooms, rd, "CreateRoom", "{\"name\":\"Audited\",\"isPublic\":true}", org, "roomId", room,
           sizeof room);
    rpc_ok(rooms, rd, "CreateRoom", "{\"name\":\"Secret\",\"isPublic\":false}", org, "roomId",
           private_room, sizeof private_room);
    char json[512];
    snprintf(json, sizeof json, "{\"roomId\":\"%s\"}", room);
    rpc_ok(rooms, rd, "AddParticipant", json, member, NULL, NULL, 0);
    for (int i = 0; i < 3; i++) {
        char sub[32];
        snprintf(sub, sizeof sub, "participant-%d", i);
        char *t = th_token(keys, sub, 600, false);
        rpc_ok(rooms, rd, "AddParticipant", json, t, NULL, NULL, 0);
        free(t);
    }
    snprintf(json, sizeof json, "{\"roomId\":\"%s\",\"name\":\"Mug\",\"quantity\":5}", room);
    rpc_ok(draw, &draw__v1__draw__descriptor, "CreatePrize", json, org, "prizeId", prize,
           sizeof prize);
    rpc_ok(catalog, &catalog__v1__catalog__descriptor, "RegisterApp",
           "{\"name\":\"Wheel\",\"manifest\":" MANIFEST("1.0.0") "}", org, "app.appId", app,
           sizeof app);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(org);
    free(admin);
    free(member);
    free(stranger);
    gw_free(g);
    cfg_free(&schema, 1);
    th_service_stop(auth);
    th_service_stop(draw);
    th_service_stop(rooms);
    th_service_stop(catalog);
    metrics_free(mx);
    authn_verifier_free(verifier);
    th_keys_free(keys);
    unlink(keyfile);
    curl_global_cleanup();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_action_writes_one_row),
        cmocka_unit_test(test_bad_peer_is_dropped),
        cmocka_unit_test(test_row_and_change_are_one_transaction),
        cmocka_unit_test(test_append_only),
        cmocka_unit_test(test_admin_reads_everything_merged_and_paged),
        cmocka_unit_test(test_who_reads_what),
        cmocka_unit_test(test_gateway_passes_peer_and_request_id),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
