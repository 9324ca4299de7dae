/* test_rooms.c — confetti-rooms as its binary runs it (svc_def in-process, fresh database),
 * called through real RPC with real tokens, next to a real confetti-catalog: the role table
 * (every action × role × visibility), the lifecycle table, settings locked to a manifest
 * version, catalog going away mid-test, keyset pages under concurrent inserts, rejoining,
 * the last ORGANIZER, private rooms hidden in every method, bad input for every method. */
#include "th.h"
#include "pg.h"
#include "service.h"
#include "rooms.h"
#include "catalog/v1/catalog.pb-c.h"
#include "pbjson/pbjson.h"
#include "base/xmalloc.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const svc_def *catalog_service_def(void); /* confetti_catalog_lib */

#define A(x) ROOMS__V1__ACTION__##x
#define R(x) ROOMS__V1__ROLE__##x
#define S(x) ROOMS__V1__ROOM_STATUS__##x

static th_keys *keys;
static th_service *catalog, *rooms;
static arena test_arena; /* request pieces built by the tests */

/* ---- callers ---- */

typedef struct user {
    const char *sub;
    bool admin;
    char *bearer;
} user;

static user u_org = {.sub = "u-org"}, u_adm = {.sub = "u-roomadmin"}, u_mod = {.sub = "u-mod"},
            u_part = {.sub = "u-part"}, u_view = {.sub = "u-view"}, u_none = {.sub = "u-stranger"},
            u_platform = {.sub = "u-platform", .admin = true}, u_other = {.sub = "u-other"};
static user *all_users[] = {&u_org,  &u_adm,  &u_mod,      &u_part,
                            &u_view, &u_none, &u_platform, &u_other};

/* Made on first use; threads of one test may ask for the same user at once. */
static const char *bearer(user *u)
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&mu);
    if (!u->bearer) {
        char *t = th_token(keys, u->sub, 3600, u->admin);
        u->bearer = xasprintf("Bearer %s", t);
        free(t);
    }
    pthread_mutex_unlock(&mu);
    return u->bearer;
}

/* ---- calls: every reply stays alive until the test's teardown ---- */

#define MAX_CALLS 20000
static rpc_ccall *calls[MAX_CALLS];
static int ncalls;
static pthread_mutex_t calls_mu = PTHREAD_MUTEX_INITIALIZER;

static rpc_ccall *invoke(th_service *svc, const ProtobufCServiceDescriptor *d, const char *method,
                         user *u, const void *in, const char *idem)
{
    const ProtobufCMethodDescriptor *m =
        protobuf_c_service_descriptor_get_method_by_name(d, method);
    assert_non_null(m);
    rpc_ccall *cc = xcalloc(1, sizeof *cc);
    rpc_ccall_init(cc, NULL);
    if (u)
        rpc_ccall_md(cc, "authorization", bearer(u));
    if (idem)
        rpc_ccall_md(cc, "idempotency-key", idem);
    rpc_client_invoke(svc->client, d, (unsigned)(m - d->methods), in, cc);
    pthread_mutex_lock(&calls_mu);
    assert_true(ncalls < MAX_CALLS);
    calls[ncalls++] = cc;
    pthread_mutex_unlock(&calls_mu);
    return cc;
}

static rpc_ccall *rc(const char *method, user *u, const void *in)
{
    return invoke(rooms, &rooms__v1__rooms__descriptor, method, u, in, NULL);
}

static void free_calls(void)
{
    for (int i = 0; i < ncalls; i++) {
        rpc_ccall_free(calls[i]);
        free(calls[i]);
    }
    ncalls = 0;
    arena_reset(&test_arena);
}

/* Every refusal (FAILED_PRECONDITION, INVALID_ARGUMENT) must also name its field or rule. */
#define expect(want_, call_) assert_refusal((call_), (want_), NULL)
/* …and this field or rule. */
#define expect_field(want_, field_, call_) assert_refusal((call_), (want_), (field_))

static Google__Protobuf__Struct *js(const char *text)
{
    json_t *j = json_loads(text, 0, NULL);
    assert_non_null(j);
    Google__Protobuf__Struct *s;
    assert_code(CF_OK, pbjson_struct_from_json(j, arena_allocator(&test_arena), &s, NULL));
    json_decref(j);
    return s;
}

/* ---- room helpers ---- */

static Rooms__V1__Room *create_room(user *u, const char *name, bool pub)
{
    Rooms__V1__CreateRoomRequest req = ROOMS__V1__CREATE_ROOM_REQUEST__INIT;
    req.name = (char *)name;
    req.is_public = pub;
    rpc_ccall *cc = rc("CreateRoom", u, &req);
    expect(CF_OK, cc);
    return (Rooms__V1__Room *)cc->response;
}

static rpc_ccall *add(user *by, const char *room_id, user *who, Rooms__V1__Role role)
{
    Rooms__V1__AddParticipantRequest req = ROOMS__V1__ADD_PARTICIPANT_REQUEST__INIT;
    req.room_id = (char *)room_id;
    req.user_id = who ? (char *)who->sub : "";
    req.role = role;
    return rc("AddParticipant", by, &req);
}

static rpc_ccall *leave(user *by, const char *room_id, const char *user_id)
{
    Rooms__V1__RemoveParticipantRequest req = ROOMS__V1__REMOVE_PARTICIPANT_REQUEST__INIT;
    req.room_id = (char *)room_id;
    req.user_id = (char *)user_id;
    return rc("RemoveParticipant", by, &req);
}

static rpc_ccall *status_op(const char *method, user *u, const char *room_id)
{
    Rooms__V1__ActivateRoomRequest req = ROOMS__V1__ACTIVATE_ROOM_REQUEST__INIT;
    req.room_id = (char *)room_id; /* the three requests have the same shape */
    return rc(method, u, &req);
}

static rpc_ccall *get_room(user *u, const char *room_id)
{
    Rooms__V1__GetRoomRequest req = ROOMS__V1__GET_ROOM_REQUEST__INIT;
    req.room_id = (char *)room_id;
    return rc("GetRoom", u, &req);
}

static rpc_ccall *check(user *u, const char *room_id, const char *user_id, Rooms__V1__Action a)
{
    Rooms__V1__CheckPermissionRequest req = ROOMS__V1__CHECK_PERMISSION_REQUEST__INIT;
    req.room_id = (char *)room_id;
    req.user_id = (char *)(user_id ? user_id : "");
    req.action = a;
    return rc("CheckPermission", u, &req);
}

static rpc_ccall *rename_room(user *u, const char *room_id, const char *name)
{
    Rooms__V1__Room room = ROOMS__V1__ROOM__INIT;
    room.room_id = (char *)room_id;
    room.name = (char *)name;
    char *paths[] = {"name"};
    Google__Protobuf__FieldMask mask = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
    mask.paths = paths;
    mask.n_paths = 1;
    Rooms__V1__UpdateRoomRequest req = ROOMS__V1__UPDATE_ROOM_REQUEST__INIT;
    req.room = &room;
    req.update_mask = &mask;
    return rc("UpdateRoom", u, &req);
}

static rpc_ccall *eligible(user *u, const char *room_id, int size, const char *token)
{
    Rooms__V1__ListEligibleParticipantsRequest req =
        ROOMS__V1__LIST_ELIGIBLE_PARTICIPANTS_REQUEST__INIT;
    req.room_id = (char *)room_id;
    req.page_size = size;
    req.page_token = (char *)(token ? token : "");
    return rc("ListEligibleParticipants", u, &req);
}

/* A room with one member of each role: org created it, then ADMIN, MODERATOR (by org) and
 * PARTICIPANT, VIEWER (by the moderator). */
static const char *staffed_room(bool pub)
{
    Rooms__V1__Room *r = create_room(&u_org, pub ? "public room" : "private room", pub);
    expect(CF_OK, add(&u_org, r->room_id, &u_adm, R(ADMIN)));
    expect(CF_OK, add(&u_org, r->room_id, &u_mod, R(MODERATOR)));
    expect(CF_OK, add(&u_mod, r->room_id, &u_part, R(PARTICIPANT)));
    expect(CF_OK, add(&u_mod, r->room_id, &u_view, R(VIEWER)));
    return r->room_id;
}

/* ---- fixtures ---- */

static int setup_all(void **state)
{
    (void)state;
    arena_init(&test_arena, 4096);
    keys = th_keys_new("RS256");
    catalog = th_service_start(catalog_service_def(), &(th_service_opts){.keys = keys});
    char *addr = xasprintf("CONFETTI_CATALOG_URLS=%s", catalog->url);
    const char *env[] = {addr, "CONFETTI_CATALOG_TIMEOUT=700ms", NULL};
    rooms = th_service_start(rooms_service_def(), &(th_service_opts){.keys = keys, .env = env});
    free(addr);
    return 0;
}

static int teardown_all(void **state)
{
    (void)state;
    th_service_stop(rooms);
    th_service_stop(catalog);
    for (size_t i = 0; i < sizeof all_users / sizeof *all_users; i++) {
        free(all_users[i]->bearer);
        all_users[i]->bearer = NULL;
    }
    th_keys_free(keys);
    arena_release(&test_arena);
    return 0;
}

static int teardown_one(void **state)
{
    (void)state;
    free_calls();
    return 0;
}

/* ---- the role table ---- */

/* SPEC §3, written again here from the spec, columns ADMIN ORGANIZER MODERATOR PARTICIPANT
 * VIEWER none platform-admin. */
static const struct {
    Rooms__V1__Action action;
    const char *cols;
} spec_roles[] = {
    {A(VIEW), "yyyyyyy"},          {A(EDIT), "yy----y"}, {A(MANAGE_MEMBERS), "yyy---y"},
    {A(MANAGE_PRIZES), "yyy---y"}, {A(JOIN), "-----yy"}, {A(LEAVE), "yyyyy-y"},
};

static void test_role_table(void **state)
{
    (void)state;
    user *subjects[] = {&u_adm, &u_org, &u_mod, &u_part, &u_view, &u_none, &u_platform};
    static const Rooms__V1__Role roles[] = {R(ADMIN),           R(ORGANIZER), R(MODERATOR),
                                            R(PARTICIPANT),     R(VIEWER),    R(ROLE_UNSPECIFIED),
                                            R(ROLE_UNSPECIFIED)};
    int checked = 0;
    for (int pub = 0; pub < 2; pub++) {
        const char *room = staffed_room(pub);
        for (size_t a = 0; a < sizeof spec_roles / sizeof *spec_roles; a++) {
            for (size_t s = 0; s < 7; s++) {
                user *u = subjects[s];
                bool member = roles[s] != R(ROLE_UNSPECIFIED);
                bool hidden = !pub && !member && !u->admin;
                bool yes = spec_roles[a].cols[s] == 'y';
                Rooms__V1__Action act = spec_roles[a].action;
                /* what the room says when asked */
                rpc_ccall *cc = check(u, room, NULL, act);
                if (hidden) {
                    expect(CF_NOT_FOUND, cc);
                } else {
                    expect(CF_OK, cc);
                    const Rooms__V1__CheckPermissionResponse *r = (const void *)cc->response;
                    if (r->allowed != yes)
                        fail_msg("%s public=%d action %d: allowed=%d, SPEC says %d", u->sub, pub,
                                 act, r->allowed, yes);
                    assert_int_equal(r->role, roles[s]);
                    assert_string_equal(r->room->room_id, room);
                }
                /* and what the method does */
                cf_code want = hidden ? CF_NOT_FOUND : yes ? CF_OK : CF_PERMISSION_DENIED;
                switch (act) {
                case A(VIEW):
                    expect(want, get_room(u, room));
                    break;
                case A(EDIT):
                    expect(want, rename_room(u, room, "renamed"));
                    break;
                case A(MANAGE_MEMBERS):
                    expect(want, add(u, room, &u_other, R(VIEWER)));
                    if (want == CF_OK)
                        expect(CF_OK, leave(u, room, u_other.sub));
                    break;
                case A(MANAGE_PRIZES):
                    expect(want, eligible(u, room, 0, NULL));
                    break;
                case A(JOIN):
                    if (member)
                        break; /* members are in already (JOIN is "no" for them) */
                    expect(want == CF_PERMISSION_DENIED ? CF_NOT_FOUND : want,
                           add(u, room, NULL, R(PARTICIPANT)));
                    if (want == CF_OK)
                        expect(CF_OK, leave(u, room, ""));
                    break;
                case A(LEAVE):
                    if (!member)
                        break;
                    if (roles[s] == R(ORGANIZER)) { /* the * of the table: the last one stays */
                        expect_field(CF_FAILED_PRECONDITION, "userId", leave(u, room, ""));
                        break;
                    }
                    expect(CF_OK, leave(u, room, ""));
                    expect(CF_OK, add(&u_org, room, u, roles[s])); /* back for the next rows */
                    break;
                default:
                    fail();
                }
                checked++;
            }
        }
        free_calls();
    }
    assert_int_equal(checked, 2 * 6 * 7);
}

/* A JOIN into a public room that is not DRAFT/ACTIVE is refused even though the table says y. */
static void test_join_needs_open_room(void **state)
{
    (void)state;
    Rooms__V1__Room *r = create_room(&u_org, "closing", true);
    expect(CF_OK, add(&u_none, r->room_id, NULL, R(VIEWER)));
    expect(CF_OK, leave(&u_none, r->room_id, ""));
    expect(CF_OK, status_op("CancelRoom", &u_org, r->room_id));
    expect_field(CF_FAILED_PRECONDITION, "room.status",
                 add(&u_none, r->room_id, NULL, R(PARTICIPANT)));
    const Rooms__V1__CheckPermissionResponse *cp =
        (const void *)check(&u_none, r->room_id, NULL, A(JOIN))->response;
    assert_false(cp->allowed);
    /* joining oneself as MODERATOR is not a thing */
    Rooms__V1__Room *open = create_room(&u_org, "open", true);
    expect(CF_PERMISSION_DENIED, add(&u_none, open->room_id, NULL, R(MODERATOR)));
    /* a moderator cannot touch ORGANIZERs; an organizer can */
    expect(CF_OK, add(&u_org, open->room_id, &u_mod, R(MODERATOR)));
    expect(CF_PERMISSION_DENIED, add(&u_mod, open->room_id, &u_other, R(ORGANIZER)));
    expect(CF_PERMISSION_DENIED, leave(&u_mod, open->room_id, u_org.sub));
    expect(CF_OK, add(&u_org, open->room_id, &u_other, R(ORGANIZER)));
    /* CheckPermission about someone else: platform admins only */
    expect(CF_PERMISSION_DENIED, check(&u_mod, open->room_id, u_org.sub, A(EDIT)));
    rpc_ccall *cc = check(&u_platform, open->room_id, u_mod.sub, A(EDIT));
    expect(CF_OK, cc);
    assert_false(((const Rooms__V1__CheckPermissionResponse *)cc->response)->allowed);
    assert_int_equal(((const Rooms__V1__CheckPermissionResponse *)cc->response)->role,
                     R(MODERATOR));
}

/* ---- lifecycle ---- */

static long count_rows(const char *sql);

/* The room's updated_at (µs) and the rooms outbox size: what a write or an event would move. */
static void room_marks(const char *room_id, long *updated_us, long *events)
{
    char *sql = xasprintf("SELECT (extract(epoch FROM updated_at) * 1000000)::bigint "
                          "FROM rooms.rooms WHERE id = '%s'",
                          room_id);
    *updated_us = count_rows(sql);
    free(sql);
    *events = count_rows("SELECT count(*) FROM rooms.outbox");
}

/* SPEC §3 (retries are safe): asking for the status the room is already in succeeds with no
 * write and no event, and answers exactly what GetRoom answers. */
static void expect_idempotent(const char *method, const char *room_id, Rooms__V1__RoomStatus st)
{
    long upd0, ev0, upd1, ev1;
    room_marks(room_id, &upd0, &ev0);
    rpc_ccall *cc = status_op(method, &u_org, room_id);
    expect(CF_OK, cc);
    room_marks(room_id, &upd1, &ev1);
    if (upd1 != upd0 || ev1 != ev0)
        fail_msg("%s on a %d room wrote (updated_at %ld -> %ld) or emitted (%ld -> %ld events)",
                 method, st, upd0, upd1, ev0, ev1);
    rpc_ccall *got = get_room(&u_org, room_id);
    expect(CF_OK, got);
    const ProtobufCMessage *a = cc->response, *b = got->response;
    size_t la = protobuf_c_message_get_packed_size(a), lb = protobuf_c_message_get_packed_size(b);
    uint8_t *pa = xmalloc(la + 1), *pb = xmalloc(lb + 1);
    protobuf_c_message_pack(a, pa);
    protobuf_c_message_pack(b, pb);
    if (la != lb || memcmp(pa, pb, la) != 0)
        fail_msg("%s on a %d room: the answer differs from GetRoom's", method, st);
    free(pa);
    free(pb);
    assert_int_equal(((Rooms__V1__Room *)cc->response)->status, st);
}

static void test_lifecycle_table(void **state)
{
    (void)state;
    static const char *ops[] = {"ActivateRoom", "CompleteRoom", "CancelRoom"};
    static const char *names[] = {"", "DRAFT", "ACTIVE", "COMPLETED", "CANCELLED"};
    /* SPEC §3: rows = operation, columns = starting status DRAFT ACTIVE COMPLETED CANCELLED */
    static const struct {
        const char *allowed;
        Rooms__V1__RoomStatus to;
    } table[] = {{"y---", S(ACTIVE)}, {"-y--", S(COMPLETED)}, {"yy--", S(CANCELLED)}};
    for (int op = 0; op < 3; op++) {
        for (int from = S(DRAFT); from <= S(CANCELLED); from++) {
            Rooms__V1__Room *r = create_room(&u_org, "lifecycle", true);
            if (from == S(ACTIVE) || from == S(COMPLETED))
                expect(CF_OK, status_op("ActivateRoom", &u_org, r->room_id));
            if (from == S(COMPLETED))
                expect(CF_OK, status_op("CompleteRoom", &u_org, r->room_id));
            if (from == S(CANCELLED))
                expect(CF_OK, status_op("CancelRoom", &u_org, r->room_id));
            rpc_ccall *cc = status_op(ops[op], &u_org, r->room_id);
            if (table[op].allowed[from - 1] == 'y') {
                expect(CF_OK, cc);
                assert_int_equal(((Rooms__V1__Room *)cc->response)->status, table[op].to);
                /* a resend of the same request answers the same, changing nothing */
                expect_idempotent(ops[op], r->room_id, table[op].to);
            } else if ((Rooms__V1__RoomStatus)from == table[op].to) {
                /* already there: the idempotent answer */
                expect(CF_OK, cc);
                expect_idempotent(ops[op], r->room_id, table[op].to);
            } else {
                long upd0, ev0, upd1, ev1;
                room_marks(r->room_id, &upd0, &ev0);
                cc = status_op(ops[op], &u_org, r->room_id);
                room_marks(r->room_id, &upd1, &ev1);
                assert_true(upd0 == upd1 && ev0 == ev1);
                expect_field(CF_FAILED_PRECONDITION, "status", cc);
                if (!strstr(cc->message, names[from]))
                    fail_msg("%s from %s: message does not name the status: %s", ops[op],
                             names[from], cc->message);
                const char *next = from == S(DRAFT)    ? "ACTIVE, CANCELLED"
                                   : from == S(ACTIVE) ? "COMPLETED, CANCELLED"
                                                       : "none";
                if (!strstr(cc->message, next))
                    fail_msg("%s from %s: message does not name %s: %s", ops[op], names[from], next,
                             cc->message);
            }
            /* only EDIT-capable callers change status */
            expect(CF_PERMISSION_DENIED, status_op(ops[op], &u_none, r->room_id));
        }
    }
}

/* ---- catalog: locked versions, and catalog going away ---- */

static Catalog__V1__App *register_app(const char *manifest)
{
    Catalog__V1__RegisterAppRequest req = CATALOG__V1__REGISTER_APP_REQUEST__INIT;
    req.name = "Lucky wheel";
    req.manifest = js(manifest);
    rpc_ccall *cc =
        invoke(catalog, &catalog__v1__catalog__descriptor, "RegisterApp", &u_org, &req, NULL);
    expect(CF_OK, cc);
    return ((Catalog__V1__RegisterAppResponse *)cc->response)->app;
}

static rpc_ccall *create_app_room(user *u, const char *app_id, const char *settings)
{
    Rooms__V1__CreateRoomRequest req = ROOMS__V1__CREATE_ROOM_REQUEST__INIT;
    req.name = "app room";
    req.is_public = true;
    req.app_id = (char *)app_id;
    req.app_settings = settings ? js(settings) : NULL;
    return rc("CreateRoom", u, &req);
}

static rpc_ccall *set_settings(user *u, const char *room_id, const char *settings)
{
    Rooms__V1__Room room = ROOMS__V1__ROOM__INIT;
    room.room_id = (char *)room_id;
    room.app_settings = js(settings);
    char *paths[] = {"app_settings"};
    Google__Protobuf__FieldMask mask = {
        PROTOBUF_C_MESSAGE_INIT(&google__protobuf__field_mask__descriptor), 1, paths};
    Rooms__V1__UpdateRoomRequest req = ROOMS__V1__UPDATE_ROOM_REQUEST__INIT;
    req.room = &room;
    req.update_mask = &mask;
    return rc("UpdateRoom", u, &req);
}

static void test_settings_stay_locked_to_their_version(void **state)
{
    (void)state;
    Catalog__V1__App *app = register_app(
        "{\"name\":\"wheel\",\"version\":\"1.0.0\",\"settingsSchema\":{\"type\":\"object\","
        "\"properties\":{\"maxWinners\":{\"type\":\"integer\",\"maximum\":10}}}}");
    rpc_ccall *cc = create_app_room(&u_org, app->app_id, "{\"maxWinners\":8}");
    expect(CF_OK, cc);
    Rooms__V1__Room *room = (Rooms__V1__Room *)cc->response;
    assert_string_equal(room->app_manifest_version, "1.0.0");
    assert_string_equal(room->app_id, app->app_id);
    /* invalid for v1: the violation names the JSON path */
    cc = create_app_room(&u_org, app->app_id, "{\"maxWinners\":11}");
    expect(CF_INVALID_ARGUMENT, cc);
    assert_true(cc->ndetails >= 1);
    assert_non_null(strstr(cc->details[0]->field, "appSettings.maxWinners"));

    /* v2: maxWinners ≤ 5 and a required theme */
    Catalog__V1__PublishManifestRequest pub = CATALOG__V1__PUBLISH_MANIFEST_REQUEST__INIT;
    pub.app_id = app->app_id;
    pub.manifest = js("{\"name\":\"wheel\",\"version\":\"2.0.0\",\"settingsSchema\":{\"type\":"
                      "\"object\",\"required\":[\"theme\"],\"properties\":{\"maxWinners\":{"
                      "\"type\":\"integer\",\"maximum\":5},\"theme\":{\"type\":\"string\"}}}}");
    expect(CF_OK, invoke(catalog, &catalog__v1__catalog__descriptor, "PublishManifest", &u_org,
                         &pub, NULL));
    /* the v1 room keeps validating against v1 */
    cc = set_settings(&u_org, room->room_id, "{\"maxWinners\":9}");
    expect(CF_OK, cc);
    assert_string_equal(((Rooms__V1__Room *)cc->response)->app_manifest_version, "1.0.0");
    expect(CF_INVALID_ARGUMENT, set_settings(&u_org, room->room_id, "{\"maxWinners\":12}"));
    /* a new room locks v2 */
    expect(CF_INVALID_ARGUMENT, create_app_room(&u_org, app->app_id, "{\"maxWinners\":9}"));
    cc = create_app_room(&u_org, app->app_id, "{\"maxWinners\":4,\"theme\":\"gold\"}");
    expect(CF_OK, cc);
    assert_string_equal(((Rooms__V1__Room *)cc->response)->app_manifest_version, "2.0.0");
    /* settings without an app, and an unknown app */
    Rooms__V1__CreateRoomRequest req = ROOMS__V1__CREATE_ROOM_REQUEST__INIT;
    req.name = "no app";
    req.app_settings = js("{\"a\":1}");
    expect(CF_INVALID_ARGUMENT, rc("CreateRoom", &u_org, &req));
    expect(CF_INVALID_ARGUMENT, create_app_room(&u_org, "cnotanappatallxxxxxxxxxxx", NULL));
    /* an inactive app cannot be attached to new rooms; its rooms keep working */
    Catalog__V1__DeactivateAppRequest de = CATALOG__V1__DEACTIVATE_APP_REQUEST__INIT;
    de.app_id = app->app_id;
    expect(CF_OK,
           invoke(catalog, &catalog__v1__catalog__descriptor, "DeactivateApp", &u_org, &de, NULL));
    expect_field(CF_FAILED_PRECONDITION, "appId", create_app_room(&u_org, app->app_id, NULL));
    expect(CF_OK, get_room(&u_org, room->room_id));
    /* …including edits, still validated against the locked v1 */
    expect(CF_OK, set_settings(&u_org, room->room_id, "{\"maxWinners\":7}"));
    expect(CF_INVALID_ARGUMENT, set_settings(&u_org, room->room_id, "{\"maxWinners\":11}"));
}

static long count_rows(const char *sql)
{
    PGconn *pg = th_pg_connect(rooms->dsn);
    PGresult *r = PQexec(pg, sql);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    long n = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    PQfinish(pg);
    return n;
}

/* Runs last: it stops the catalog. */
static void test_catalog_unavailable_creates_nothing(void **state)
{
    (void)state;
    Catalog__V1__App *app = register_app(
        "{\"name\":\"x\",\"version\":\"1.0.0\",\"settingsSchema\":{\"type\":\"object\"}}");
    expect(CF_OK, create_app_room(&u_org, app->app_id, "{}"));
    long rooms_before = count_rows("SELECT count(*) FROM rooms.rooms");
    long parts_before = count_rows("SELECT count(*) FROM rooms.participants");
    th_service_halt(catalog);
    rpc_ccall *cc = create_app_room(&u_org, app->app_id, "{}");
    expect(CF_UNAVAILABLE, cc);
    assert_int_equal(count_rows("SELECT count(*) FROM rooms.rooms"), rooms_before);
    assert_int_equal(count_rows("SELECT count(*) FROM rooms.participants"), parts_before);
    /* rooms without an app do not need the catalog */
    create_room(&u_org, "no app needed", true);
}

/* ---- listing ---- */

typedef struct inserter {
    atomic_int stop;
    int made;
} inserter;

static void *insert_rooms(void *arg)
{
    inserter *in = arg;
    while (!atomic_load(&in->stop)) {
        Rooms__V1__CreateRoomRequest req = ROOMS__V1__CREATE_ROOM_REQUEST__INIT;
        req.name = "inserted meanwhile";
        req.is_public = true;
        rpc_ccall *cc = rc("CreateRoom", &u_other, &req);
        if (cc->code == CF_OK)
            in->made++;
    }
    return NULL;
}

static void test_pages_are_stable_under_inserts(void **state)
{
    (void)state;
    enum { N = 180 };
    char *ids[N];
    for (int i = 0; i < N; i++)
        ids[i] = ((Rooms__V1__Room *)create_room(&u_part, "paged", i % 3 != 0))->room_id;
    inserter ins = {0};
    pthread_t t;
    pthread_create(&t, NULL, insert_rooms, &ins);
    int seen[N] = {0};
    char **all = xcalloc(20000, sizeof *all);
    size_t nall = 0;
    const char *token = "";
    int pages = 0, between = 0;
    do {
        Rooms__V1__ListRoomsRequest req = ROOMS__V1__LIST_ROOMS_REQUEST__INIT;
        req.page_size = 7;
        req.page_token = (char *)token;
        rpc_ccall *cc = rc("ListRooms", &u_part, &req);
        expect(CF_OK, cc);
        const Rooms__V1__ListRoomsResponse *r = (const void *)cc->response;
        assert_true(r->n_rooms <= 7);
        for (size_t i = 0; i < r->n_rooms; i++) {
            for (size_t k = 0; k < nall; k++)
                if (strcmp(all[k], r->rooms[i]->room_id) == 0)
                    fail_msg("room %s listed twice", r->rooms[i]->room_id);
            all[nall++] = r->rooms[i]->room_id;
            for (int k = 0; k < N; k++)
                if (strcmp(ids[k], r->rooms[i]->room_id) == 0)
                    seen[k]++;
            /* never a private room of someone else's */
            assert_true(r->rooms[i]->is_public || r->rooms[i]->my_role != 0);
        }
        token = r->next_page_token;
        pages++;
        /* and one between pages for certain: the thread above may not get a turn on a busy
         * machine before the last page (it once made none) */
        if (pages % 3 == 1) {
            Rooms__V1__CreateRoomRequest mid = ROOMS__V1__CREATE_ROOM_REQUEST__INIT;
            mid.name = "inserted between pages";
            mid.is_public = true;
            expect(CF_OK, rc("CreateRoom", &u_other, &mid));
            between++;
        }
    } while (*token && pages < 3000);
    atomic_store(&ins.stop, 1);
    pthread_join(t, NULL);
    for (int k = 0; k < N; k++)
        if (seen[k] != 1)
            fail_msg("room %d seen %d times", k, seen[k]);
    assert_true(between > 0);
    free(all);

    /* filters: private only, for another user, shows none of these */
    Rooms__V1__ListRoomsRequest req = ROOMS__V1__LIST_ROOMS_REQUEST__INIT;
    req.is_public = "false";
    rpc_ccall *cc = rc("ListRooms", &u_none, &req);
    expect(CF_OK, cc);
    assert_int_equal(((Rooms__V1__ListRoomsResponse *)cc->response)->n_rooms, 0);
    /* platform admins see private ones too */
    cc = rc("ListRooms", &u_platform, &req);
    expect(CF_OK, cc);
    assert_true(((Rooms__V1__ListRoomsResponse *)cc->response)->n_rooms > 0);
    /* status filter */
    req.is_public = "";
    req.status = S(COMPLETED);
    cc = rc("ListRooms", &u_part, &req);
    expect(CF_OK, cc);
    const Rooms__V1__ListRoomsResponse *lr = (const void *)cc->response;
    for (size_t i = 0; i < lr->n_rooms; i++)
        assert_int_equal(lr->rooms[i]->status, S(COMPLETED));
    /* a token is bound to its filters */
    Rooms__V1__ListRoomsRequest first = ROOMS__V1__LIST_ROOMS_REQUEST__INIT;
    first.page_size = 2;
    cc = rc("ListRooms", &u_part, &first);
    expect(CF_OK, cc);
    Rooms__V1__ListRoomsRequest other = ROOMS__V1__LIST_ROOMS_REQUEST__INIT;
    other.page_token = ((Rooms__V1__ListRoomsResponse *)cc->response)->next_page_token;
    other.status = S(ACTIVE);
    expect(CF_INVALID_ARGUMENT, rc("ListRooms", &u_part, &other));
}

/* ---- membership ---- */

static void test_rejoin_revives_the_row(void **state)
{
    (void)state;
    Rooms__V1__Room *r = create_room(&u_org, "rejoin", true);
    rpc_ccall *cc = add(&u_part, r->room_id, NULL, R(PARTICIPANT));
    expect(CF_OK, cc);
    char *first = ((Rooms__V1__Participant *)cc->response)->participant_id;
    /* the same join again (a resend) answers the same row */
    cc = add(&u_part, r->room_id, NULL, R(PARTICIPANT));
    expect(CF_OK, cc);
    assert_string_equal(((Rooms__V1__Participant *)cc->response)->participant_id, first);
    expect(CF_ALREADY_EXISTS, add(&u_part, r->room_id, NULL, R(VIEWER)));
    expect(CF_OK, leave(&u_part, r->room_id, ""));
    expect(CF_OK, leave(&u_part, r->room_id, "")); /* a resend of the leave */
    const Rooms__V1__CheckPermissionResponse *cp =
        (const void *)check(&u_part, r->room_id, NULL, A(LEAVE))->response;
    assert_int_equal(cp->role, 0);
    cc = add(&u_part, r->room_id, NULL, R(VIEWER));
    expect(CF_OK, cc);
    assert_string_equal(((Rooms__V1__Participant *)cc->response)->participant_id, first);
    assert_int_equal(((Rooms__V1__Participant *)cc->response)->role, R(VIEWER));
    char *sql = xasprintf("SELECT count(*) FROM rooms.participants WHERE room_id = '%s' AND "
                          "user_id = 'u-part'",
                          r->room_id);
    assert_int_equal(count_rows(sql), 1);
    free(sql);
}

static rpc_ccall *set_public(user *u, const char *room_id, bool pub)
{
    Rooms__V1__Room room = ROOMS__V1__ROOM__INIT;
    room.room_id = (char *)room_id;
    room.is_public = pub;
    char *paths[] = {"isPublic"};
    Google__Protobuf__FieldMask mask = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
    mask.paths = paths;
    mask.n_paths = 1;
    Rooms__V1__UpdateRoomRequest req = ROOMS__V1__UPDATE_ROOM_REQUEST__INIT;
    req.room = &room;
    req.update_mask = &mask;
    return rc("UpdateRoom", u, &req);
}

/* u's Room.visibleSince in epoch µs (-1 when unset); fails unless GetRoom answers OK. */
static long long visible_since(user *u, const char *room_id)
{
    rpc_ccall *cc = get_room(u, room_id);
    expect(CF_OK, cc);
    const Google__Protobuf__Timestamp *t = ((Rooms__V1__Room *)cc->response)->visible_since;
    return t ? (long long)t->seconds * 1000000 + t->nanos / 1000 : -1;
}

/* Room.visibleSince (issue 24 item 3; docs/rooms.md): since when the caller has seen the room
 * without a break — the later of "made public" and "joined" that gives the longer span up to
 * now; a rejoin starts a new span; unset for platform admins. */
static void test_visible_since(void **state)
{
    (void)state;
    Rooms__V1__Room *r = create_room(&u_org, "visibility", false);
    long long org0 = visible_since(&u_org, r->room_id); /* the creator's join */
    assert_true(org0 > 0);
    expect(CF_NOT_FOUND, get_room(&u_none, r->room_id));
    assert_int_equal(visible_since(&u_platform, r->room_id), -1);
    expect(CF_OK, add(&u_org, r->room_id, &u_part, R(PARTICIPANT)));
    long long part0 = visible_since(&u_part, r->room_id);
    assert_true(part0 > org0);

    expect(CF_OK, set_public(&u_org, r->room_id, true));
    long long pub1 = visible_since(&u_none, r->room_id); /* made public just now */
    assert_true(pub1 > part0);
    assert_true(visible_since(&u_org, r->room_id) == org0); /* a member all along */
    assert_true(visible_since(&u_part, r->room_id) == part0);
    expect(CF_OK, set_public(&u_org, r->room_id, true)); /* already public: no new span */
    assert_true(visible_since(&u_none, r->room_id) == pub1);

    expect(CF_OK, leave(&u_part, r->room_id, "")); /* public: still visible since pub1 */
    assert_true(visible_since(&u_part, r->room_id) == pub1);
    expect(CF_OK, set_public(&u_org, r->room_id, false));
    expect(CF_NOT_FOUND, get_room(&u_part, r->room_id));
    expect(CF_OK, add(&u_org, r->room_id, &u_part, R(PARTICIPANT))); /* back: a new span */
    long long part1 = visible_since(&u_part, r->room_id);
    assert_true(part1 > pub1);
    expect(CF_OK, set_public(&u_org, r->room_id, true));
    long long pub2 = visible_since(&u_none, r->room_id);
    assert_true(pub2 > part1);
    assert_true(visible_since(&u_part, r->room_id) == part1);
}

static void test_last_organizer_stays(void **state)
{
    (void)state;
    Rooms__V1__Room *r = create_room(&u_org, "organizers", false);
    assert_int_equal(r->my_role, R(ORGANIZER));
    expect_field(CF_FAILED_PRECONDITION, "userId", leave(&u_org, r->room_id, ""));
    Rooms__V1__UpdateParticipantRequest up = ROOMS__V1__UPDATE_PARTICIPANT_REQUEST__INIT;
    char *paths[] = {"role"};
    Google__Protobuf__FieldMask mask = {
        PROTOBUF_C_MESSAGE_INIT(&google__protobuf__field_mask__descriptor), 1, paths};
    up.room_id = r->room_id;
    up.user_id = (char *)u_org.sub;
    up.role = R(PARTICIPANT);
    up.update_mask = &mask;
    expect_field(CF_FAILED_PRECONDITION, "role", rc("UpdateParticipant", &u_org, &up));
    expect_field(CF_FAILED_PRECONDITION, "role", rc("UpdateParticipant", &u_platform, &up));
    /* with a second organizer, the first may step down */
    expect(CF_OK, add(&u_org, r->room_id, &u_other, R(ORGANIZER)));
    rpc_ccall *cc = rc("UpdateParticipant", &u_org, &up);
    expect(CF_OK, cc);
    assert_int_equal(((Rooms__V1__Participant *)cc->response)->role, R(PARTICIPANT));
    /* now u_other is the last one */
    expect_field(CF_FAILED_PRECONDITION, "userId", leave(&u_other, r->room_id, ""));
    /* metadata, by someone allowed; the member lists and eligibility follow roles */
    Rooms__V1__UpdateParticipantRequest meta = ROOMS__V1__UPDATE_PARTICIPANT_REQUEST__INIT;
    char *mpaths[] = {"metadata"};
    Google__Protobuf__FieldMask mmask = {
        PROTOBUF_C_MESSAGE_INIT(&google__protobuf__field_mask__descriptor), 1, mpaths};
    meta.room_id = r->room_id;
    meta.user_id = (char *)u_org.sub;
    meta.metadata = js("{\"tickets\":3}");
    meta.update_mask = &mmask;
    expect(CF_PERMISSION_DENIED, rc("UpdateParticipant", &u_org, &meta)); /* now a PARTICIPANT */
    cc = rc("UpdateParticipant", &u_other, &meta);
    expect(CF_OK, cc);
    assert_non_null(((Rooms__V1__Participant *)cc->response)->metadata);
    cc = eligible(&u_other, r->room_id, 0, NULL);
    expect(CF_OK, cc);
    const Rooms__V1__ListEligibleParticipantsResponse *el = (const void *)cc->response;
    assert_int_equal(el->n_participants, 1);
    assert_string_equal(el->participants[0]->user_id, u_org.sub);
}

static void test_eligible_and_member_pages(void **state)
{
    (void)state;
    Rooms__V1__Room *r = create_room(&u_org, "crowd", true);
    enum { N = 45 };
    for (int i = 0; i < N; i++) {
        user u = {.sub = xasprintf("crowd-%02d", i)};
        expect(CF_OK, add(&u, r->room_id, NULL, i % 5 == 0 ? R(VIEWER) : R(PARTICIPANT)));
        free(u.bearer);
        free((char *)u.sub);
    }
    /* eligible: PARTICIPANTs only, ordered by id, every one exactly once */
    const char *token = NULL, *last = "";
    int n = 0;
    do {
        rpc_ccall *cc = eligible(&u_org, r->room_id, 10, token);
        expect(CF_OK, cc);
        const Rooms__V1__ListEligibleParticipantsResponse *e = (const void *)cc->response;
        for (size_t i = 0; i < e->n_participants; i++) {
            assert_int_equal(e->participants[i]->role, R(PARTICIPANT));
            assert_true(strcmp(e->participants[i]->participant_id, last) > 0);
            last = e->participants[i]->participant_id;
            n++;
        }
        token = e->next_page_token;
    } while (*token);
    assert_int_equal(n, N - N / 5);
    /* ListParticipants with a role filter */
    Rooms__V1__ListParticipantsRequest lp = ROOMS__V1__LIST_PARTICIPANTS_REQUEST__INIT;
    lp.room_id = r->room_id;
    lp.role = R(VIEWER);
    lp.page_size = 100;
    rpc_ccall *cc = rc("ListParticipants", &u_none, &lp);
    expect(CF_OK, cc);
    assert_int_equal(((Rooms__V1__ListParticipantsResponse *)cc->response)->n_participants, N / 5);
    /* the draw's question needs MANAGE_PRIZES */
    user p = {.sub = "crowd-01"};
    expect(CF_PERMISSION_DENIED, eligible(&p, r->room_id, 0, NULL));
    free(p.bearer);
}

/* ---- private rooms, every method ---- */

static void test_private_room_is_not_found_everywhere(void **state)
{
    (void)state;
    const char *room = staffed_room(false);
    user *u = &u_none;
    expect(CF_NOT_FOUND, get_room(u, room));
    expect(CF_NOT_FOUND, rename_room(u, room, "x"));
    Rooms__V1__DeleteRoomRequest del = ROOMS__V1__DELETE_ROOM_REQUEST__INIT;
    del.room_id = (char *)room;
    expect(CF_NOT_FOUND, rc("DeleteRoom", u, &del));
    expect(CF_NOT_FOUND, status_op("ActivateRoom", u, room));
    expect(CF_NOT_FOUND, status_op("CompleteRoom", u, room));
    expect(CF_NOT_FOUND, status_op("CancelRoom", u, room));
    expect(CF_NOT_FOUND, add(u, room, NULL, R(PARTICIPANT)));
    expect(CF_NOT_FOUND, add(u, room, &u_other, R(PARTICIPANT)));
    Rooms__V1__ListParticipantsRequest lp = ROOMS__V1__LIST_PARTICIPANTS_REQUEST__INIT;
    lp.room_id = (char *)room;
    expect(CF_NOT_FOUND, rc("ListParticipants", u, &lp));
    Rooms__V1__UpdateParticipantRequest up = ROOMS__V1__UPDATE_PARTICIPANT_REQUEST__INIT;
    char *paths[] = {"role"};
    Google__Protobuf__FieldMask mask = {
        PROTOBUF_C_MESSAGE_INIT(&google__protobuf__field_mask__descriptor), 1, paths};
    up.room_id = (char *)room;
    up.user_id = (char *)u_part.sub;
    up.role = R(VIEWER);
    up.update_mask = &mask;
    expect(CF_NOT_FOUND, rc("UpdateParticipant", u, &up));
    expect(CF_NOT_FOUND, leave(u, room, u_part.sub));
    expect(CF_NOT_FOUND, leave(u, room, ""));
    for (int a = A(VIEW); a <= A(LEAVE); a++)
        expect(CF_NOT_FOUND, check(u, room, NULL, (Rooms__V1__Action)a));
    expect(CF_NOT_FOUND, eligible(u, room, 0, NULL));
    /* the same answers as for a room that does not exist at all */
    rpc_ccall *a = get_room(u, room), *b = get_room(u, "cdoesnotexistxxxxxxxxxxxx");
    assert_string_equal(a->message, b->message);
    /* and a deleted room is gone for its organizer too */
    expect(CF_OK, rc("DeleteRoom", &u_org, &del));
    expect(CF_NOT_FOUND, get_room(&u_org, room));
    expect(CF_NOT_FOUND, rc("DeleteRoom", &u_org, &del));
}

/* ---- bad input, method by method ---- */

static void test_bad_input(void **state)
{
    (void)state;
    Rooms__V1__Room *r = create_room(&u_org, "target", true);
    /* ids with spaces, control or non-ASCII bytes, or nothing at all are not ids */
    const char *evil[] = {"x' OR '1'='1", "'; DROP TABLE rooms.rooms; --", "a\tb", "ä", ""};
    for (size_t i = 0; i < sizeof evil / sizeof *evil; i++) {
        cf_code want = CF_INVALID_ARGUMENT;
        expect(want, get_room(&u_org, evil[i]));
        expect(want, status_op("ActivateRoom", &u_org, evil[i]));
        expect(want, check(&u_org, evil[i], NULL, A(VIEW)));
        expect(want, eligible(&u_org, evil[i], 0, NULL));
        if (*evil[i])
            expect(CF_INVALID_ARGUMENT,
                   add(&u_org, r->room_id, &(user){.sub = evil[i]}, R(VIEWER)));
    }
    /* SQL metacharacters that are printable and space-free reach the database as values */
    expect(CF_NOT_FOUND, get_room(&u_org, "c'||'1'='1'--"));
    expect(CF_NOT_FOUND, get_room(&u_org, "\\x00%_*"));
    expect(CF_NOT_FOUND, check(&u_org, "c');DELETE/**/FROM/**/rooms;--", NULL, A(EDIT)));
    expect(CF_NOT_FOUND, get_room(&u_org, "cunknownroomxxxxxxxxxxxxx"));
    expect(CF_NOT_FOUND, leave(&u_org, r->room_id, "nobody-here"));
    assert_int_equal(count_rows("SELECT count(*) FROM rooms.rooms WHERE deleted_at IS NULL") > 0,
                     1);
    /* no token: a public room is open to anyone (SPEC §6 lists GET /v1/rooms without auth), a
     * private one does not exist, and every change needs an account */
    expect(CF_OK, get_room(NULL, r->room_id));
    Rooms__V1__Room *hidden = create_room(&u_org, "hidden", false);
    expect(CF_NOT_FOUND, get_room(NULL, hidden->room_id));
    expect(CF_NOT_FOUND, check(NULL, hidden->room_id, NULL, A(VIEW)));
    expect(CF_OK, check(NULL, r->room_id, NULL, A(VIEW)));
    expect(CF_UNAUTHENTICATED, check(NULL, r->room_id, NULL, A(EDIT)));
    expect(CF_UNAUTHENTICATED, status_op("ActivateRoom", NULL, r->room_id));
    expect(CF_UNAUTHENTICATED, add(NULL, r->room_id, NULL, R(PARTICIPANT)));
    expect(CF_UNAUTHENTICATED, eligible(NULL, r->room_id, 0, NULL));
    Rooms__V1__CreateRoomRequest cr = ROOMS__V1__CREATE_ROOM_REQUEST__INIT;
    cr.name = "x";
    expect(CF_UNAUTHENTICATED, rc("CreateRoom", NULL, &cr));
    /* names: empty, blank, huge */
    cr.name = "";
    expect(CF_INVALID_ARGUMENT, rc("CreateRoom", &u_org, &cr));
    cr.name = "   \t";
    expect(CF_INVALID_ARGUMENT, rc("CreateRoom", &u_org, &cr));
    char *huge = xmalloc(1 << 20);
    memset(huge, 'n', (1 << 20) - 1);
    huge[(1 << 20) - 1] = '\0';
    cr.name = huge;
    expect(CF_INVALID_ARGUMENT, rc("CreateRoom", &u_org, &cr));
    cr.name = "ok";
    cr.description = huge;
    expect(CF_INVALID_ARGUMENT, rc("CreateRoom", &u_org, &cr));
    cr.description = "";
    expect(CF_INVALID_ARGUMENT, rename_room(&u_org, r->room_id, huge));
    expect(CF_INVALID_ARGUMENT, rename_room(&u_org, r->room_id, ""));
    expect(CF_INVALID_ARGUMENT, get_room(&u_org, huge));
    free(huge);
    /* bad enums */
    cr.draw_policy = (Rooms__V1__DrawPolicy)9;
    expect(CF_INVALID_ARGUMENT, rc("CreateRoom", &u_org, &cr));
    cr.draw_policy = 0;
    expect(CF_INVALID_ARGUMENT, add(&u_org, r->room_id, &u_other, (Rooms__V1__Role)99));
    expect(CF_INVALID_ARGUMENT, check(&u_org, r->room_id, NULL, (Rooms__V1__Action)99));
    expect(CF_INVALID_ARGUMENT, check(&u_org, r->room_id, NULL, A(ACTION_UNSPECIFIED)));
    Rooms__V1__ListRoomsRequest lr = ROOMS__V1__LIST_ROOMS_REQUEST__INIT;
    lr.status = (Rooms__V1__RoomStatus)42;
    expect(CF_INVALID_ARGUMENT, rc("ListRooms", &u_org, &lr));
    lr.status = 0;
    lr.is_public = "yes";
    expect(CF_INVALID_ARGUMENT, rc("ListRooms", &u_org, &lr));
    lr.is_public = "";
    lr.page_size = -1;
    expect(CF_INVALID_ARGUMENT, rc("ListRooms", &u_org, &lr));
    lr.page_size = 0;
    /* bad page tokens */
    const char *tokens[] = {"garbage", "AAAA", "!!!!", "eyJhIjoxfQ"};
    for (size_t i = 0; i < sizeof tokens / sizeof *tokens; i++) {
        lr.page_token = (char *)tokens[i];
        expect(CF_INVALID_ARGUMENT, rc("ListRooms", &u_org, &lr));
        expect(CF_INVALID_ARGUMENT, eligible(&u_org, r->room_id, 0, tokens[i]));
        Rooms__V1__ListParticipantsRequest lp = ROOMS__V1__LIST_PARTICIPANTS_REQUEST__INIT;
        lp.room_id = r->room_id;
        lp.page_token = (char *)tokens[i];
        expect(CF_INVALID_ARGUMENT, rc("ListParticipants", &u_org, &lp));
    }
    /* UpdateRoom: no room, no mask, unknown path, bad times */
    Rooms__V1__UpdateRoomRequest ur = ROOMS__V1__UPDATE_ROOM_REQUEST__INIT;
    expect(CF_INVALID_ARGUMENT, rc("UpdateRoom", &u_org, &ur));
    Rooms__V1__Room room = ROOMS__V1__ROOM__INIT;
    room.room_id = r->room_id;
    ur.room = &room;
    expect(CF_INVALID_ARGUMENT, rc("UpdateRoom", &u_org, &ur));
    char *bad_paths[] = {"status"};
    Google__Protobuf__FieldMask mask = {
        PROTOBUF_C_MESSAGE_INIT(&google__protobuf__field_mask__descriptor), 1, bad_paths};
    ur.update_mask = &mask;
    expect(CF_INVALID_ARGUMENT, rc("UpdateRoom", &u_org, &ur));
    char *time_paths[] = {"starts_at", "ends_at"};
    mask.paths = time_paths;
    mask.n_paths = 2;
    Google__Protobuf__Timestamp s = GOOGLE__PROTOBUF__TIMESTAMP__INIT,
                                e = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    s.seconds = 2000000000;
    e.seconds = 1000000000;
    room.starts_at = &s;
    room.ends_at = &e;
    expect(CF_INVALID_ARGUMENT, rc("UpdateRoom", &u_org, &ur));
    e.seconds = 400000000000LL; /* year 14645 */
    expect(CF_INVALID_ARGUMENT, rc("UpdateRoom", &u_org, &ur));
    e.seconds = 2000003600;
    expect(CF_OK, rc("UpdateRoom", &u_org, &ur));
    /* UpdateParticipant: no mask, unknown member */
    Rooms__V1__UpdateParticipantRequest up = ROOMS__V1__UPDATE_PARTICIPANT_REQUEST__INIT;
    up.room_id = r->room_id;
    up.user_id = "nobody";
    expect(CF_INVALID_ARGUMENT, rc("UpdateParticipant", &u_org, &up));
    char *role_path[] = {"role"};
    Google__Protobuf__FieldMask rm = {
        PROTOBUF_C_MESSAGE_INIT(&google__protobuf__field_mask__descriptor), 1, role_path};
    up.update_mask = &rm;
    up.role = R(VIEWER);
    expect(CF_NOT_FOUND, rc("UpdateParticipant", &u_org, &up));
    up.role = (Rooms__V1__Role)7;
    expect(CF_INVALID_ARGUMENT, rc("UpdateParticipant", &u_org, &up));
    /* metadata over the size limit */
    char *big = xmalloc(100000);
    snprintf(big, 16, "{\"k\":\"");
    memset(big + 6, 'x', 90000);
    strcpy(big + 90006, "\"}");
    Rooms__V1__AddParticipantRequest ap = ROOMS__V1__ADD_PARTICIPANT_REQUEST__INIT;
    ap.room_id = r->room_id;
    ap.user_id = "someone";
    ap.metadata = js(big);
    expect(CF_INVALID_ARGUMENT, rc("AddParticipant", &u_org, &ap));
    free(big);
    /* CheckPermission for someone else, user id shape */
    expect(CF_INVALID_ARGUMENT, check(&u_platform, r->room_id, "has space", A(VIEW)));
}

/* ---- idempotent create, and the user.deleted hook (store level) ---- */

static void test_create_with_idempotency_key(void **state)
{
    (void)state;
    Rooms__V1__CreateRoomRequest req = ROOMS__V1__CREATE_ROOM_REQUEST__INIT;
    req.name = "once";
    rpc_ccall *a = invoke(rooms, &rooms__v1__rooms__descriptor, "CreateRoom", &u_org, &req, "k-1");
    rpc_ccall *b = invoke(rooms, &rooms__v1__rooms__descriptor, "CreateRoom", &u_org, &req, "k-1");
    rpc_ccall *c = invoke(rooms, &rooms__v1__rooms__descriptor, "CreateRoom", &u_mod, &req, "k-1");
    expect(CF_OK, a);
    expect(CF_OK, b);
    expect(CF_OK, c);
    assert_string_equal(((Rooms__V1__Room *)a->response)->room_id,
                        ((Rooms__V1__Room *)b->response)->room_id);
    assert_string_not_equal(((Rooms__V1__Room *)a->response)->room_id,
                            ((Rooms__V1__Room *)c->response)->room_id);
}

static void test_user_deleted_marks_participations_left(void **state)
{
    (void)state;
    user gone = {.sub = "u-gone"};
    Rooms__V1__Room *r1 = create_room(&u_org, "one", true);
    Rooms__V1__Room *r2 = create_room(&u_org, "two", false);
    expect(CF_OK, add(&gone, r1->room_id, NULL, R(PARTICIPANT)));
    expect(CF_OK, add(&u_org, r2->room_id, &gone, R(MODERATOR)));
    db_conn *db = db_conn_new(rooms->dsn, "rooms", rooms_stmts, rooms_nstmts);
    assert_code(CF_OK, db_conn_ensure(db));
    long n = 0;
    assert_code(CF_OK, store_user_deleted(db, "u-gone", &n));
    assert_int_equal(n, 2);
    assert_code(CF_OK, store_user_deleted(db, "u-gone", &n)); /* again: nothing left to do */
    assert_int_equal(n, 0);
    db_conn_free(db);
    expect(CF_NOT_FOUND, get_room(&gone, r2->room_id));
    const Rooms__V1__CheckPermissionResponse *cp =
        (const void *)check(&gone, r1->room_id, NULL, A(VIEW))->response;
    assert_int_equal(cp->role, 0);
    free(gone.bearer);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_role_table, teardown_one),
        cmocka_unit_test_teardown(test_join_needs_open_room, teardown_one),
        cmocka_unit_test_teardown(test_lifecycle_table, teardown_one),
        cmocka_unit_test_teardown(test_settings_stay_locked_to_their_version, teardown_one),
        cmocka_unit_test_teardown(test_pages_are_stable_under_inserts, teardown_one),
        cmocka_unit_test_teardown(test_rejoin_revives_the_row, teardown_one),
        cmocka_unit_test_teardown(test_visible_since, teardown_one),
        cmocka_unit_test_teardown(test_last_organizer_stays, teardown_one),
        cmocka_unit_test_teardown(test_eligible_and_member_pages, teardown_one),
        cmocka_unit_test_teardown(test_private_room_is_not_found_everywhere, teardown_one),
        cmocka_unit_test_teardown(test_bad_input, teardown_one),
        cmocka_unit_test_teardown(test_create_with_idempotency_key, teardown_one),
        cmocka_unit_test_teardown(test_user_deleted_marks_participations_left, teardown_one),
        cmocka_unit_test_teardown(test_catalog_unavailable_creates_nothing, teardown_one),
    };
    return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
