/* test_archive.c — issue 18 item 7: rooms COMPLETED or CANCELLED for longer than
 * rooms.archive_after are archived by the maintenance job `archive` (docs/rooms.md, "Archive"):
 * gone from every listing, listed with archived=true to their members (and platform admins)
 * only, readable by GetRoom for them only, read-only; rooms finished more recently, or still
 * running, are left alone. Real rooms service in-process, real RPC, a fresh database; the job
 * is run on the test's own connection through the runtime's svc_maint_run (the schedule itself
 * is covered by integration_maintenance). */
#include "th.h"
#include "pg.h"
#include "service.h"
#include "testsvc.h"
#include "rooms.h"
#include "rooms_calls.h"
#include "svc/maint.h"
#include "base/xmalloc.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define R(x) ROOMS__V1__ROLE__##x

static th_keys *keys;
static th_service *rooms;
static PGconn *pg;

static user u_org = {.sub = "ar-org"}, u_mem = {.sub = "ar-member"},
            u_none = {.sub = "ar-stranger"}, u_admin = {.sub = "ar-admin", .admin = true},
            u_anon = {.sub = NULL};
static user *all_users[] = {&u_org, &u_mem, &u_none, &u_admin};

#define expect(code_, line_call)                                                                   \
    do {                                                                                           \
        rpc_ccall *cc_ = (line_call);                                                              \
        if (cc_->code != (code_))                                                                  \
            fail_msg("line %d: want %s, got %s: %s", __LINE__, cf_code_name(code_),                \
                     cf_code_name(cc_->code), cc_->message);                                       \
        done(cc_);                                                                                 \
    } while (0)

static void sql_ok(const char *sql)
{
    PGresult *r = PQexec(pg, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(pg));
    PQclear(r);
}

static long count(const char *sql)
{
    PGresult *r = PQexec(pg, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(pg));
    long n = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return n;
}

static char *create_room(user *u, const char *name, bool pub)
{
    Rooms__V1__CreateRoomRequest req = ROOMS__V1__CREATE_ROOM_REQUEST__INIT;
    req.name = (char *)name;
    req.is_public = pub;
    rpc_ccall *cc = rc("CreateRoom", u, &req);
    assert_int_equal(cc->code, CF_OK);
    char *id = xstrdup(((Rooms__V1__Room *)cc->response)->room_id);
    done(cc);
    return id;
}

static rpc_ccall *add(user *by, const char *room_id, user *who)
{
    Rooms__V1__AddParticipantRequest req = ROOMS__V1__ADD_PARTICIPANT_REQUEST__INIT;
    req.room_id = (char *)room_id;
    req.user_id = (char *)who->sub;
    req.role = R(PARTICIPANT);
    return rc("AddParticipant", by, &req);
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

/* The names of the rooms u lists (all pages, newest first), joined by ','. Caller frees. */
static char *list_names(user *u, bool archived, int page_size)
{
    char buf[1024] = "";
    char *token = xstrdup("");
    for (int pages = 0; pages < 50; pages++) {
        Rooms__V1__ListRoomsRequest req = ROOMS__V1__LIST_ROOMS_REQUEST__INIT;
        req.archived = archived;
        req.page_size = page_size;
        req.page_token = token;
        rpc_ccall *cc = rc("ListRooms", u, &req);
        if (cc->code != CF_OK)
            fail_msg("ListRooms: %s: %s", cf_code_name(cc->code), cc->message);
        Rooms__V1__ListRoomsResponse *resp = (Rooms__V1__ListRoomsResponse *)cc->response;
        for (size_t i = 0; i < resp->n_rooms; i++) {
            if (*buf)
                strncat(buf, ",", sizeof buf - strlen(buf) - 1);
            strncat(buf, resp->rooms[i]->name, sizeof buf - strlen(buf) - 1);
            /* archived_at is set exactly on the archived listing's rooms */
            assert_true((resp->rooms[i]->archived_at != NULL) == archived);
        }
        free(token);
        token = xstrdup(resp->next_page_token);
        done(cc);
        if (!*token)
            break;
    }
    free(token);
    return xstrdup(buf);
}

static void assert_list(user *u, bool archived, const char *want)
{
    for (int size = 1; size <= 10; size += 9) { /* paged one by one, and in one page */
        char *got = list_names(u, archived, size);
        if (strcmp(got, want) != 0)
            fail_msg("%s archived=%d page %d: want \"%s\", got \"%s\"", u->sub ? u->sub : "anon",
                     archived, size, want, got);
        free(got);
    }
}

/* One run of the job on a connection of the test, as the runtime's thread makes it. */
static int64_t run_archive(db_conn *db, int64_t after_ms)
{
    svc_maint_job job = {.name = "archive", .run = rooms_archive_batch, .arg = &after_ms};
    svc_maint_result res;
    assert_int_equal(svc_maint_run(db, "rooms", &job, (int64_t)time(NULL), 2, 1000, NULL, &res),
                     CF_OK);
    assert_false(res.skipped);
    return res.rows;
}

static void archive_lifecycle(void **state)
{
    (void)state;
    /* created in this order: listings show them newest first */
    char *done_pub = create_room(&u_org, "done-pub", true);
    char *done_priv = create_room(&u_org, "done-priv", false);
    char *cancelled = create_room(&u_org, "cancelled-pub", true);
    char *recent = create_room(&u_org, "recent-done", true);
    char *running = create_room(&u_org, "running", true);
    expect(CF_OK, add(&u_org, done_priv, &u_mem));
    expect(CF_OK, status_op("ActivateRoom", &u_org, done_pub));
    expect(CF_OK, status_op("CompleteRoom", &u_org, done_pub));
    expect(CF_OK, status_op("ActivateRoom", &u_org, done_priv));
    expect(CF_OK, status_op("CompleteRoom", &u_org, done_priv));
    expect(CF_OK, status_op("CancelRoom", &u_org, cancelled));
    expect(CF_OK, status_op("ActivateRoom", &u_org, recent));
    expect(CF_OK, status_op("CompleteRoom", &u_org, recent));
    expect(CF_OK, status_op("ActivateRoom", &u_org, running));
    /* three finished two hours ago (the job's cut is rooms.archive_after = 1 h below), one
     * finished just now, one still running (and unchanged for two hours: status decides) */
    char sql[512];
    snprintf(sql, sizeof sql,
             "UPDATE rooms SET updated_at = now() - interval '2 hours' "
             "WHERE id IN ('%s', '%s', '%s', '%s')",
             done_pub, done_priv, cancelled, running);
    sql_ok(sql);
    long events_before = count("SELECT count(*) FROM outbox");

    db_conn *db = db_conn_new(rooms->dsn, "rooms", NULL, 0);
    assert_int_equal(db_conn_ensure(db), CF_OK);
    assert_int_equal(run_archive(db, 3600 * 1000), 3); /* batches of 2: the loop goes on */
    assert_int_equal(run_archive(db, 3600 * 1000), 0); /* idempotent: nothing left due */
    assert_int_equal(count("SELECT count(*) FROM rooms WHERE archived_at IS NOT NULL"), 3);
    /* one room.updated (fields archivedAt) per archived room, in the same transaction */
    assert_int_equal(count("SELECT count(*) FROM outbox") - events_before, 3);
    /* the private branch of the listing never meets an archived room */
    snprintf(sql, sizeof sql, "SELECT count(*) FROM private_members WHERE room_id = '%s'",
             done_priv);
    assert_int_equal(count(sql), 0);

    /* not shown otherwise: every caller's default listing */
    assert_list(&u_org, false, "running,recent-done");
    assert_list(&u_mem, false, "running,recent-done");
    assert_list(&u_none, false, "running,recent-done");
    assert_list(&u_anon, false, "running,recent-done");
    assert_list(&u_admin, false, "running,recent-done");
    /* archived=true: their members' archived rooms only (admins: all; anonymous: none) */
    assert_list(&u_org, true, "cancelled-pub,done-priv,done-pub");
    assert_list(&u_mem, true, "done-priv");
    assert_list(&u_none, true, "");
    assert_list(&u_anon, true, "");
    assert_list(&u_admin, true, "cancelled-pub,done-priv,done-pub");

    /* GetRoom: members read it (archivedAt set), others do not find it, public or not */
    rpc_ccall *cc = get_room(&u_mem, done_priv);
    assert_int_equal(cc->code, CF_OK);
    assert_non_null(((Rooms__V1__Room *)cc->response)->archived_at);
    done(cc);
    expect(CF_OK, get_room(&u_org, done_pub));
    expect(CF_OK, get_room(&u_admin, done_pub));
    expect(CF_NOT_FOUND, get_room(&u_none, done_pub));
    expect(CF_NOT_FOUND, get_room(&u_anon, done_pub));
    expect(CF_NOT_FOUND, get_room(&u_none, done_priv));
    cc = get_room(&u_org, recent);
    assert_int_equal(cc->code, CF_OK);
    assert_null(((Rooms__V1__Room *)cc->response)->archived_at);
    done(cc);

    /* read-only: no change of the room, its members or its status */
    Rooms__V1__Room patch = ROOMS__V1__ROOM__INIT;
    patch.room_id = done_pub;
    patch.name = "renamed";
    char *paths[] = {"name"};
    Google__Protobuf__FieldMask mask = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
    mask.paths = paths;
    mask.n_paths = 1;
    Rooms__V1__UpdateRoomRequest up = ROOMS__V1__UPDATE_ROOM_REQUEST__INIT;
    up.room = &patch;
    up.update_mask = &mask;
    expect(CF_FAILED_PRECONDITION, rc("UpdateRoom", &u_org, &up));
    expect(CF_FAILED_PRECONDITION, add(&u_org, done_pub, &u_none));
    expect(CF_FAILED_PRECONDITION, add(&u_org, done_priv, &u_none));
    Rooms__V1__RemoveParticipantRequest rm = ROOMS__V1__REMOVE_PARTICIPANT_REQUEST__INIT;
    rm.room_id = done_priv;
    rm.user_id = (char *)u_mem.sub;
    expect(CF_FAILED_PRECONDITION, rc("RemoveParticipant", &u_org, &rm));
    Rooms__V1__DeleteRoomRequest del = ROOMS__V1__DELETE_ROOM_REQUEST__INIT;
    del.room_id = done_pub;
    expect(CF_FAILED_PRECONDITION, rc("DeleteRoom", &u_org, &del));
    /* the member list of an archived room is still readable by its members */
    Rooms__V1__ListParticipantsRequest lp = ROOMS__V1__LIST_PARTICIPANTS_REQUEST__INIT;
    lp.room_id = done_priv;
    expect(CF_OK, rc("ListParticipants", &u_mem, &lp));
    expect(CF_NOT_FOUND, rc("ListParticipants", &u_none, &lp));

    /* the room finished just now stays as it is, whatever the runs */
    assert_int_equal(run_archive(db, 60000), 0);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM rooms WHERE id = '%s' AND archived_at IS NULL",
             recent);
    assert_int_equal(count(sql), 1);
    db_conn_free(db);
    free(done_pub);
    free(done_priv);
    free(cancelled);
    free(recent);
    free(running);
}

static int setup_all(void **state)
{
    (void)state;
    keys = th_keys_new("RS256");
    char cat[128];
    th_ipc_url(cat, sizeof cat, "ar-nocatalog"); /* no call here reaches catalog */
    char *addr = xasprintf("CONFETTI_CATALOG_URLS=%s", cat);
    /* the schedule off: the test runs the job itself */
    const char *env[] = {addr, "CONFETTI_MAINTENANCE_ARCHIVE_INTERVAL=0",
                         "CONFETTI_ROOMS_ARCHIVE_AFTER=1h", NULL};
    rooms = th_service_start(rooms_service_def(), &(th_service_opts){.keys = keys, .env = env});
    rooms_calls_use(keys, rooms);
    free(addr);
    pg = th_pg_connect(rooms->dsn);
    sql_ok("SET search_path = rooms, public");
    return 0;
}

static int teardown_all(void **state)
{
    (void)state;
    PQfinish(pg);
    th_service_stop(rooms);
    for (size_t i = 0; i < sizeof all_users / sizeof *all_users; i++) {
        free(all_users[i]->bearer);
        all_users[i]->bearer = NULL;
    }
    th_keys_free(keys);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(archive_lifecycle),
    };
    return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
