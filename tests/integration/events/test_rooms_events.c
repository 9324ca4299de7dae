/* test_rooms_events.c — confetti-rooms' store writes its events in the same transactions as
 * its changes: the sequence Replay returns after a room's whole life, and nothing for a change
 * that did not happen. Store calls run on a connection of the running service's database. */
#include "th.h"
#include "service.h"
#include "th_http.h"
#include "rooms.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "db/tx.h"
#include "events/events.h"
#include "pubsvc.h"

/* GET /metrics on the admin port: the whole answer (th_http_free it). */
static th_http_resp admin_metrics(int port)
{
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", port);
    return th_http(&(th_http_req){.method = "GET", .url = url, .timeout_s = 5});
}

/* The value of the first series starting with prefix ("name{"), -1 if absent. */
static double metric_value(const char *text, const char *prefix)
{
    const char *p = strstr(text, prefix);
    if (!p)
        return -1;
    p = strchr(p, '}');
    return p ? strtod(p + 1, NULL) : -1;
}

static void expect_events(th_service *s, const char *const *types, size_t n)
{
    Events__V1__ReplayResponse *r = NULL;
    rpc_ccall cc;
    for (int tries = 0; tries < 3000; tries++) {
        Events__V1__ReplayRequest req = EVENTS__V1__REPLAY_REQUEST__INIT;
        req.limit = 100;
        rpc_ccall_init(&cc, NULL);
        events__v1__events__replay(rpc_client_service(s->client, &events__v1__events__descriptor),
                                   &req, NULL, &cc);
        assert_code(CF_OK, cc.code);
        r = (Events__V1__ReplayResponse *)cc.response;
        if (r->n_events >= n)
            break;
        rpc_ccall_free(&cc);
        r = NULL;
        usleep(10000);
    }
    assert_non_null(r);
    assert_int_equal(n, r->n_events);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal((int64_t)i + 1, r->events[i]->seq);
        assert_string_equal("rooms", r->events[i]->source);
        if (strcmp(types[i], events_type_name(r->events[i])) != 0)
            fail_msg("event %zu: %s expected, got %s", i + 1, types[i],
                     events_type_name(r->events[i]));
        assert_true(*r->events[i]->room_id);
    }
    rpc_ccall_free(&cc);
}

static void test_room_life(void **state)
{
    (void)state;
    char bus[64];
    snprintf(bus, sizeof bus, "CONFETTI_EVENTS_BUS=tcp://127.0.0.1:%d", th_free_port());
    const char *env[] = {bus, "CONFETTI_EVENTS_POLL=20ms", NULL};
    th_service *s = th_service_start(rooms_service_def(), &(th_service_opts){.env = env});
    db_conn *db = db_conn_new(s->dsn, "rooms", rooms_stmts, rooms_nstmts);
    arena a;
    arena_init(&a, 0);

    store_new_room in = {.name = "launch",
                         .description = "",
                         .created_by = "u-org",
                         .starts_at_us = STORE_NO_TIME,
                         .ends_at_us = STORE_NO_TIME,
                         .draw_policy = ROOMS__V1__DRAW_POLICY__ONE_WIN_PER_PRIZE};
    store_room room;
    assert_code(CF_OK, store_room_create(db, &a, &in, &room, NULL));
    store_room_patch patch = {.set_name = true, .name = "launch party"};
    assert_code(CF_OK, store_room_update(db, &a, room.id, "u-org", &patch, &room));
    assert_code(CF_OK, store_room_set_status(db, room.id, ROOMS__V1__ROOM_STATUS__DRAFT,
                                             ROOMS__V1__ROOM_STATUS__ACTIVE));
    /* a change that does not happen writes no event */
    assert_code(CF_ABORTED, store_room_set_status(db, room.id, ROOMS__V1__ROOM_STATUS__DRAFT,
                                                  ROOMS__V1__ROOM_STATUS__ACTIVE));
    store_participant p;
    bool existed;
    assert_code(CF_OK, store_participant_join(db, &a, room.id, "u-1", ROOMS__V1__ROLE__PARTICIPANT,
                                              NULL, &p, &existed));
    assert_code(CF_OK, store_participant_join(db, &a, room.id, "u-1", ROOMS__V1__ROLE__PARTICIPANT,
                                              NULL, &p, &existed));
    assert_true(existed); /* a replayed join: no second event */
    assert_code(CF_OK,
                store_participant_update(db, &a, room.id, "u-1", ROOMS__V1__ROLE__PARTICIPANT, true,
                                         ROOMS__V1__ROLE__MODERATOR, NULL, &p));
    assert_code(CF_OK,
                store_participant_remove(db, room.id, "u-1", ROOMS__V1__ROLE__MODERATOR, "left"));
    assert_code(CF_OK, store_participant_join(db, &a, room.id, "u-2", ROOMS__V1__ROLE__VIEWER, NULL,
                                              &p, &existed));
    long n = 0;
    assert_code(CF_OK, store_user_deleted(db, "u-2", &n));
    assert_int_equal(1, n);
    assert_code(CF_OK, store_room_delete(db, room.id));
    assert_code(CF_NOT_FOUND, store_room_delete(db, room.id));

    static const char *const want[] = {"room.created",       "participant.joined",
                                       "room.updated",       "room.status_changed",
                                       "participant.joined", "participant.role_changed",
                                       "participant.left",   "participant.joined",
                                       "participant.left",   "room.deleted"};
    expect_events(s, want, sizeof want / sizeof *want);
    /* the relay's progress is on the admin port: all 10 published, a recent successful pass */
    double seq = 0, last = 0, failed = -1;
    for (int tries = 0; tries < 1500 && seq < 10; tries++) {
        th_http_resp m = admin_metrics(s->admin_port);
        seq = metric_value(m.body, "confetti_events_published_seq{");
        last = metric_value(m.body, "confetti_events_relay_last_pass_timestamp_seconds{");
        failed = metric_value(m.body, "confetti_events_relay_failed_passes_total{");
        th_http_free(&m);
        if (seq < 10)
            usleep(20000);
    }
    assert_true(seq == 10);
    assert_true(last > (double)(time(NULL) - 60) && last <= (double)time(NULL) + 1);
    assert_true(failed == 0);

    arena_release(&a);
    db_conn_free(db);
    th_service_stop(s);
}

static cf_code user_deleted_body(db_conn *c, void *arg)
{
    Events__V1__UserDeleted b = EVENTS__V1__USER_DELETED__INIT;
    b.user_id = arg;
    Events__V1__Event ev = EVENTS__V1__EVENT__INIT;
    ev.source = "auth";
    ev.body_case = EVENTS__V1__EVENT__BODY_USER_DELETED;
    ev.user_deleted = &b;
    return events_outbox_add(c, &ev);
}

/* rooms consumes auth's user.deleted: the user's participations are left, with their
 * participant.left events, and the position is saved. Here "auth" is a stand-in publisher and
 * there is no broker: the subscriber finds the event through Replay alone. */
static void test_user_deleted_consumed(void **state)
{
    (void)state;
    char bus[64], sub[64], authurl[160];
    snprintf(bus, sizeof bus, "CONFETTI_EVENTS_BUS=tcp://127.0.0.1:%d", th_free_port());
    snprintf(sub, sizeof sub, "CONFETTI_EVENTS_SUBSCRIBE=tcp://127.0.0.1:%d", th_free_port());
    const char *aenv[] = {bus, "CONFETTI_EVENTS_POLL=20ms", NULL};
    th_service *auth = th_service_start(pubsvc_def("auth"), &(th_service_opts){.env = aenv});
    snprintf(authurl, sizeof authurl, "CONFETTI_AUTH_URLS=%s", auth->url);
    const char *renv[] = {bus, sub, authurl, "CONFETTI_EVENTS_POLL=20ms", NULL};
    th_service *rooms = th_service_start(rooms_service_def(), &(th_service_opts){.env = renv});
    db_conn *db = db_conn_new(rooms->dsn, "rooms", rooms_stmts, rooms_nstmts);
    arena a;
    arena_init(&a, 0);
    store_new_room in = {.name = "r",
                         .description = "",
                         .created_by = "u-org",
                         .starts_at_us = STORE_NO_TIME,
                         .ends_at_us = STORE_NO_TIME,
                         .draw_policy = ROOMS__V1__DRAW_POLICY__ONE_WIN_PER_PRIZE};
    store_room room;
    assert_code(CF_OK, store_room_create(db, &a, &in, &room, NULL));
    store_participant p;
    bool existed;
    assert_code(CF_OK, store_participant_join(db, &a, room.id, "u-9", ROOMS__V1__ROLE__PARTICIPANT,
                                              NULL, &p, &existed));

    db_conn *ac = pubsvc_conn(auth->dsn);
    assert_code(CF_OK, db_tx(ac, user_deleted_body, "u-9"));
    cf_code code = CF_OK;
    for (int i = 0; i < 3000 && code == CF_OK; i++) {
        code = store_participant_get(db, &a, room.id, "u-9", &p);
        usleep(10000);
    }
    assert_code(CF_NOT_FOUND, code);
    int64_t pos = 0;
    for (int i = 0; i < 3000 && pos != 1; i++) {
        assert_code(CF_OK, store_event_position(db, "auth", &pos));
        usleep(10000);
    }
    assert_int_equal(1, pos);
    static const char *const want[] = {"room.created", "participant.joined", "participant.joined",
                                       "participant.left"};
    expect_events(rooms, want, sizeof want / sizeof *want);

    db_conn_free(ac);
    arena_release(&a);
    db_conn_free(db);
    th_service_stop(rooms);
    th_service_stop(auth);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_room_life),
        cmocka_unit_test(test_user_deleted_consumed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
