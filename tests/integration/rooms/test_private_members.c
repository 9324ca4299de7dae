/* test_private_members.c — ListRooms' "private rooms I belong to" (rooms.private_members,
 * services/rooms/schema/004_private_members.sql), through real RPC on a fresh database:
 * the table follows every change in the transaction that makes it (join, leave, rejoin,
 * remove, user deleted, status change, public <-> private, app, delete), and every listing
 * shape pages through exactly what the caller may see, in order, compared with the answer
 * computed from rooms and participants alone. */
#include "th.h"
#include "pg.h"
#include "service.h"
#include "testsvc.h"
#include "rooms.h"
#include "rooms_calls.h"
#include "base/clock.h"
#include "base/xmalloc.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define R(x) ROOMS__V1__ROLE__##x
#define S(x) ROOMS__V1__ROOM_STATUS__##x

static th_keys *keys;
static th_service *rooms;
static PGconn *pg;

static user u_org = {.sub = "pm-org"}, u_mem = {.sub = "pm-member"}, u_two = {.sub = "pm-second"},
            u_none = {.sub = "pm-stranger"}, u_anon = {.sub = NULL}; /* u_anon: no token */
static user *all_users[] = {&u_org, &u_mem, &u_two, &u_none};

/* A new room's id (caller frees). */
static char *create_room(user *u, bool pub)
{
    Rooms__V1__CreateRoomRequest req = ROOMS__V1__CREATE_ROOM_REQUEST__INIT;
    req.name = "room";
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

static rpc_ccall *remove_member(user *by, const char *room_id, user *who)
{
    Rooms__V1__RemoveParticipantRequest req = ROOMS__V1__REMOVE_PARTICIPANT_REQUEST__INIT;
    req.room_id = (char *)room_id;
    req.user_id = (char *)who->sub;
    return rc("RemoveParticipant", by, &req);
}

static rpc_ccall *status_op(const char *method, user *u, const char *room_id)
{
    Rooms__V1__ActivateRoomRequest req = ROOMS__V1__ACTIVATE_ROOM_REQUEST__INIT;
    req.room_id = (char *)room_id; /* the three requests have the same shape */
    return rc(method, u, &req);
}

static rpc_ccall *delete_room(user *u, const char *room_id)
{
    Rooms__V1__DeleteRoomRequest req = ROOMS__V1__DELETE_ROOM_REQUEST__INIT;
    req.room_id = (char *)room_id;
    return rc("DeleteRoom", u, &req);
}

static rpc_ccall *set_public(user *u, const char *room_id, bool pub)
{
    Rooms__V1__Room room = ROOMS__V1__ROOM__INIT;
    room.room_id = (char *)room_id;
    room.is_public = pub;
    char *paths[] = {"is_public"};
    Google__Protobuf__FieldMask mask = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
    mask.paths = paths;
    mask.n_paths = 1;
    Rooms__V1__UpdateRoomRequest req = ROOMS__V1__UPDATE_ROOM_REQUEST__INIT;
    req.room = &room;
    req.update_mask = &mask;
    return rc("UpdateRoom", u, &req);
}

/* ---- SQL ---- */

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

/* private_members is exactly what rooms and participants say it is: one row per live member of
 * a live private room, carrying the room's status, app and created_at. */
static const char derived[] =
    "SELECT p.user_id, r.id, r.status, r.app_id, r.created_at FROM rooms.participants p "
    "JOIN rooms.rooms r ON r.id = p.room_id "
    "WHERE p.deleted_at IS NULL AND NOT r.is_public AND r.deleted_at IS NULL";
static const char stored[] =
    "SELECT user_id, room_id, status, app_id, created_at FROM rooms.private_members";

#define assert_in_sync()                                                                           \
    do {                                                                                           \
        char *q_ = xasprintf("SELECT count(*) FROM ((%s EXCEPT %s) UNION ALL (%s EXCEPT %s)) d",   \
                             derived, stored, stored, derived);                                    \
        long n_ = count(q_);                                                                       \
        free(q_);                                                                                  \
        if (n_ != 0)                                                                               \
            fail_msg("line %d: private_members differs from rooms/participants in %ld rows",       \
                     __LINE__, n_);                                                                \
    } while (0)

/* The row of (user, room) in private_members: its status, or "" when there is none. */
static char *member_row(const char *user_id, const char *room_id)
{
    const char *p[] = {user_id, room_id};
    PGresult *r = PQexecParams(pg,
                               "SELECT status FROM rooms.private_members WHERE user_id = $1 AND "
                               "room_id = $2",
                               2, NULL, p, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    char *s = xstrdup(PQntuples(r) ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    return s;
}

#define assert_member_row(user_, room_, want_)                                                     \
    do {                                                                                           \
        char *got_ = member_row((user_)->sub, (room_));                                            \
        if (strcmp(got_, (want_)) != 0)                                                            \
            fail_msg("line %d: %s in %s: private_members says \"%s\", expected \"%s\"", __LINE__,  \
                     (user_)->sub, (room_), got_, (want_));                                        \
        free(got_);                                                                                \
    } while (0)

/* ---- the table follows every change ---- */

static void test_kept_in_sync_by_every_change(void **state)
{
    (void)state;
    char *room = create_room(&u_org, false);
    assert_member_row(&u_org, room, "DRAFT"); /* the creator, in CreateRoom's transaction */
    ok(add(&u_org, room, &u_mem));
    assert_member_row(&u_mem, room, "DRAFT");
    assert_in_sync();

    ok(status_op("ActivateRoom", &u_org, room));
    assert_member_row(&u_org, room, "ACTIVE");
    assert_member_row(&u_mem, room, "ACTIVE");

    ok(remove_member(&u_mem, room, &u_mem)); /* leave */
    assert_member_row(&u_mem, room, "");
    ok(add(&u_org, room, &u_mem)); /* rejoin: the same participant row comes back */
    assert_member_row(&u_mem, room, "ACTIVE");
    ok(remove_member(&u_org, room, &u_mem)); /* removed by the organizer */
    assert_member_row(&u_mem, room, "");
    ok(add(&u_org, room, &u_mem));
    assert_in_sync();

    /* public: nobody has a row (public rooms are listed from rooms); private again: the live
     * members only */
    ok(add(&u_org, room, &u_two));
    ok(remove_member(&u_two, room, &u_two));
    ok(set_public(&u_org, room, true));
    assert_member_row(&u_org, room, "");
    assert_member_row(&u_mem, room, "");
    ok(set_public(&u_org, room, false));
    assert_member_row(&u_org, room, "ACTIVE");
    assert_member_row(&u_mem, room, "ACTIVE");
    assert_member_row(&u_two, room, "");
    assert_in_sync();

    /* an app attached (CreateRoom does it through catalog; the column is what matters here) */
    char *sql = xasprintf("UPDATE rooms.rooms SET app_id = 'pm-app', app_manifest_version = "
                          "'1.0.0' WHERE id = '%s'",
                          room);
    sql_ok(sql);
    free(sql);
    assert_in_sync();

    /* the user.deleted reaction marks every participation left in one statement */
    long n = 0;
    db_conn *db = db_conn_new(rooms->dsn, "rooms", rooms_stmts, rooms_nstmts);
    assert_int_equal(store_user_deleted(db, u_mem.sub, &n), CF_OK);
    db_conn_free(db);
    assert_int_equal(n, 1);
    assert_member_row(&u_mem, room, "");
    ok(add(&u_org, room, &u_mem));
    assert_member_row(&u_mem, room, "ACTIVE");

    ok(status_op("CompleteRoom", &u_org, room));
    assert_member_row(&u_mem, room, "COMPLETED");
    assert_in_sync();

    ok(delete_room(&u_org, room));
    assert_member_row(&u_org, room, "");
    assert_member_row(&u_mem, room, "");
    assert_in_sync();

    /* a cancelled room, and a hard delete cascading through participants */
    char *other = create_room(&u_org, false);
    ok(add(&u_org, other, &u_mem));
    ok(status_op("CancelRoom", &u_org, other));
    assert_member_row(&u_mem, other, "CANCELLED");
    sql = xasprintf("DELETE FROM rooms.rooms WHERE id = '%s'", other);
    sql_ok(sql);
    free(sql);
    assert_int_equal(count("SELECT count(*) FROM rooms.private_members"), 0);
    assert_in_sync();
    free(room);
    free(other);
}

/* Two transactions racing on one room: `first` changes a membership and stays open while
 * `second` (another connection) changes the room; then `first` commits. Each trigger reads the
 * room FOR SHARE, so `second` waits for `first` and decides from its committed result; without
 * that lock `second` would act on a membership it cannot see yet and leave a wrong row. */
static void race(const char *room, const char *first, const char *second)
{
    PGconn *other = th_pg_connect(rooms->dsn);
    sql_ok("BEGIN");
    char *sql = xasprintf(first, room);
    sql_ok(sql);
    free(sql);
    sql = xasprintf(second, room);
    assert_int_equal(PQsendQuery(other, sql), 1);
    free(sql);
    /* `second` is waiting for `first`'s lock before `first` commits: seen in pg_stat_activity
     * (from a third connection: a transaction sees one snapshot of it), not assumed after a
     * sleep */
    PGconn *watch = th_pg_connect(rooms->dsn);
    char pid[16];
    snprintf(pid, sizeof pid, "%d", PQbackendPID(other));
    const char *pv[] = {pid};
    bool waiting = false;
    for (int64_t end = cf_mono_ns() + 30 * 1000000000LL; !waiting && cf_mono_ns() < end;) {
        PGresult *w = PQexecParams(watch,
                                   "SELECT count(*) FROM pg_stat_activity WHERE pid = $1::int "
                                   "AND wait_event_type = 'Lock'",
                                   1, NULL, pv, NULL, NULL, 0);
        waiting = PQresultStatus(w) == PGRES_TUPLES_OK && atoi(PQgetvalue(w, 0, 0)) == 1;
        PQclear(w);
        if (!waiting)
            usleep(10000);
    }
    PQfinish(watch);
    if (!waiting)
        fail_msg("the second transaction never waited for the first's lock on the room");
    sql_ok("COMMIT");
    PGresult *r;
    while ((r = PQgetResult(other))) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            fail_msg("%s", PQerrorMessage(other));
        PQclear(r);
    }
    PQfinish(other);
    assert_in_sync();
}

static void test_races_with_room_changes(void **state)
{
    (void)state;
    static const char set_private[] = "UPDATE rooms.rooms SET is_public = false WHERE id = '%s'",
                      set_public_sql[] = "UPDATE rooms.rooms SET is_public = true WHERE id = '%s'",
                      activate[] = "UPDATE rooms.rooms SET status = 'ACTIVE' WHERE id = '%s'",
                      leave_sql[] = "UPDATE rooms.participants SET deleted_at = now() WHERE "
                                    "room_id = '%s' AND user_id = 'pm-member'",
                      join_sql[] = "INSERT INTO rooms.participants (id, room_id, user_id, role) "
                                   "VALUES ('pm-race-' || md5(random()::text), '%s', "
                                   "'pm-second', 'PARTICIPANT')";
    /* a member leaves while the public room becomes private: no row for them */
    char *room = create_room(&u_org, true);
    ok(add(&u_org, room, &u_mem));
    race(room, leave_sql, set_private);
    assert_member_row(&u_mem, room, "");
    assert_member_row(&u_org, room, "DRAFT");
    /* someone joins while the private room becomes public: no row for them */
    race(room, join_sql, set_public_sql);
    assert_member_row(&u_two, room, "");
    free(room);
    /* someone joins the private room while it is activated: their row says ACTIVE */
    room = create_room(&u_org, false);
    race(room, join_sql, activate);
    assert_member_row(&u_two, room, "ACTIVE");
    free(room);
}

/* ---- every listing shape pages through exactly what the caller may see ---- */

/* The ids ListRooms must return to `u`, computed from rooms and participants (not from
 * private_members), newest first; NULL-terminated, caller frees. */
static char **expected_ids(user *u, const char *status, const char *app, const char *pub)
{
    const char *p[] = {u->sub, status, app, pub};
    PGresult *r = PQexecParams(
        pg,
        "SELECT r.id FROM rooms.rooms r WHERE r.deleted_at IS NULL "
        "AND (r.is_public OR EXISTS (SELECT 1 FROM rooms.participants p WHERE p.room_id = r.id "
        "AND p.user_id = $1 AND p.deleted_at IS NULL)) "
        "AND ($2::text IS NULL OR r.status = $2) AND ($3::text IS NULL OR r.app_id = $3) "
        "AND ($4::bool IS NULL OR r.is_public = $4) ORDER BY r.created_at DESC, r.id DESC",
        4, NULL, p, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    int n = PQntuples(r);
    char **ids = xcalloc((size_t)n + 1, sizeof *ids);
    for (int i = 0; i < n; i++)
        ids[i] = xstrdup(PQgetvalue(r, i, 0));
    PQclear(r);
    return ids;
}

static void free_ids(char **ids)
{
    for (char **i = ids; *i; i++)
        free(*i);
    free(ids);
}

static void check_listing(user *u, Rooms__V1__RoomStatus status, const char *app, const char *pub)
{
    char **want = expected_ids(u, status ? (status == S(ACTIVE) ? "ACTIVE" : "DRAFT") : NULL, app,
                               *pub ? pub : NULL);
    size_t got = 0;
    char *token = xstrdup("");
    do {
        Rooms__V1__ListRoomsRequest req = ROOMS__V1__LIST_ROOMS_REQUEST__INIT;
        req.page_size = 3;
        req.page_token = token;
        req.status = status;
        req.app_id = (char *)(app ? app : "");
        req.is_public = (char *)pub;
        rpc_ccall *cc = rc("ListRooms", u, &req);
        if (cc->code != CF_OK)
            fail_msg("ListRooms: %s", cc->message);
        const Rooms__V1__ListRoomsResponse *lr = (const void *)cc->response;
        for (size_t i = 0; i < lr->n_rooms; i++, got++) {
            if (!want[got] || strcmp(want[got], lr->rooms[i]->room_id) != 0)
                fail_msg("%s, status %d app %s public \"%s\": row %zu is %s, expected %s",
                         u->sub ? u->sub : "(anonymous)", (int)status, app ? app : "-", pub, got,
                         lr->rooms[i]->room_id, want[got] ? want[got] : "(end)");
            /* a private room is listed with the caller's role */
            if (!lr->rooms[i]->is_public)
                assert_int_not_equal(lr->rooms[i]->my_role, 0);
        }
        free(token);
        token = xstrdup(lr->next_page_token);
        done(cc);
    } while (*token);
    free(token);
    if (want[got])
        fail_msg("%s, status %d: listing ended at %zu, expected %s next",
                 u->sub ? u->sub : "(anonymous)", (int)status, got, want[got]);
    free_ids(want);
}

/* SPEC §3 role table, "see a private room": every listing shape shows public rooms and only the
 * private rooms the caller belongs to (anonymous callers: public ones only). */
static void test_every_shape_lists_what_the_caller_may_see(void **state)
{
    (void)state;
    /* rooms of two organizers, public and private, DRAFT and ACTIVE, some with an app; the
     * member joins some of the private ones, leaves one, is removed from none */
    char *ids[24];
    for (int i = 0; i < 24; i++) {
        user *org = i % 3 == 0 ? &u_two : &u_org;
        ids[i] = create_room(org, i % 4 == 0);
        if (i % 2 == 0)
            ok(status_op("ActivateRoom", org, ids[i]));
        if (i % 4 != 0 && i % 5 != 0)
            ok(add(org, ids[i], &u_mem));
        if (i % 7 == 0) {
            char *sql = xasprintf("UPDATE rooms.rooms SET app_id = 'pm-app', "
                                  "app_manifest_version = '1.0.0' WHERE id = '%s'",
                                  ids[i]);
            sql_ok(sql);
            free(sql);
        }
    }
    ok(remove_member(&u_mem, ids[2], &u_mem));
    ok(delete_room(&u_org, ids[5]));
    assert_in_sync();

    user *callers[] = {&u_mem, &u_org, &u_two, &u_none, &u_anon};
    const char *pubs[] = {"", "true", "false"};
    const Rooms__V1__RoomStatus statuses[] = {0, S(ACTIVE), S(DRAFT)};
    const char *apps[] = {NULL, "pm-app"};
    for (size_t c = 0; c < sizeof callers / sizeof *callers; c++)
        for (size_t s = 0; s < 3; s++)
            for (size_t a = 0; a < 2; a++)
                for (size_t p = 0; p < 3; p++)
                    check_listing(callers[c], statuses[s], apps[a], pubs[p]);
    for (int i = 0; i < 24; i++)
        free(ids[i]);
}

/* ---- fixtures ---- */

static int setup_all(void **state)
{
    (void)state;
    keys = th_keys_new("RS256");
    char cat[128];
    th_ipc_url(cat, sizeof cat, "pm-nocatalog"); /* no call here reaches catalog */
    char *addr = xasprintf("CONFETTI_CATALOG_URLS=%s", cat);
    const char *env[] = {addr, NULL};
    rooms = th_service_start(rooms_service_def(), &(th_service_opts){.keys = keys, .env = env});
    rooms_calls_use(keys, rooms);
    free(addr);
    pg = th_pg_connect(rooms->dsn);
    /* as the service's connections run (other triggers on these tables may need it) */
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

/* Every trigger on the schema's tables works whoever fires it: a session whose search_path does
 * not name the rooms schema (an operator's psql, a seed tool) writes participants and rooms
 * with schema-qualified names. Statement-level triggers fire even when no row matches. */
static void test_triggers_independent_of_search_path(void **state)
{
    (void)state;
    sql_ok("SET search_path = public");
    sql_ok("UPDATE rooms.participants SET role = role WHERE false");
    sql_ok("DELETE FROM rooms.participants WHERE false");
    sql_ok("INSERT INTO rooms.participants SELECT * FROM rooms.participants WHERE false");
    sql_ok("UPDATE rooms.rooms SET status = status WHERE false");
    sql_ok("SET search_path = rooms, public");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kept_in_sync_by_every_change),
        cmocka_unit_test(test_races_with_room_changes),
        cmocka_unit_test(test_every_shape_lists_what_the_caller_may_see),
        cmocka_unit_test(test_triggers_independent_of_search_path),
    };
    return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
