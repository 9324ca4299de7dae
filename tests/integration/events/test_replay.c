/* test_replay.c — events.v1.Events/Replay served by the svc runtime for a publishing service:
 * paging, bounds, contents, and what retention removes. */
#include "th.h"
#include "service.h"
#include "pubsvc.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/cuid.h"
#include "events/events.h"
#include "events/relay.h"

static Events__V1__ReplayResponse *replay(th_service *s, rpc_ccall *cc, int64_t from, int limit)
{
    Events__V1__ReplayRequest req = EVENTS__V1__REPLAY_REQUEST__INIT;
    req.from_seq = from;
    req.limit = limit;
    rpc_ccall_init(cc, NULL);
    events__v1__events__replay(rpc_client_service(s->client, &events__v1__events__descriptor), &req,
                               NULL, cc);
    return (Events__V1__ReplayResponse *)cc->response;
}

static void wait_numbered(th_service *s, int64_t n)
{
    for (int i = 0; i < 500; i++) {
        rpc_ccall cc;
        Events__V1__ReplayResponse *r = replay(s, &cc, 1, 1);
        int64_t last = cc.code == CF_OK ? r->last_seq : -1;
        rpc_ccall_free(&cc);
        if (last == n)
            return;
        usleep(10000);
    }
    fail_msg("the relay did not number %lld events", (long long)n);
}

static void test_paging(void **state)
{
    (void)state;
    char bus[64];
    snprintf(bus, sizeof bus, "CONFETTI_EVENTS_BUS=tcp://127.0.0.1:%d", th_free_port());
    const char *env[] = {bus, "CONFETTI_EVENTS_POLL=20ms", NULL};
    th_service *s = th_service_start(pubsvc_def("alpha"), &(th_service_opts){.env = env});
    db_conn *c = pubsvc_conn(s->dsn);
    for (int i = 0; i < 5; i++)
        assert_code(CF_OK, pubsvc_write(c, "alpha", "p", 1 + i * 50, 50, -1));
    wait_numbered(s, 250);

    int64_t next = 1;
    int pages = 0;
    for (;;) {
        rpc_ccall cc;
        Events__V1__ReplayResponse *r = replay(s, &cc, next, 100);
        assert_code(CF_OK, cc.code);
        assert_int_equal(250, r->last_seq);
        for (size_t i = 0; i < r->n_events; i++) {
            Events__V1__Event *ev = r->events[i];
            assert_int_equal(next, ev->seq);
            assert_string_equal("alpha", ev->source);
            assert_true(cuid_valid(ev->id));
            assert_non_null(ev->time);
            assert_string_equal("room.created", events_type_name(ev));
            char want[32];
            snprintf(want, sizeof want, "p-%lld", (long long)next);
            assert_string_equal(want, ev->room_created->name);
            next++;
        }
        size_t n = r->n_events;
        rpc_ccall_free(&cc);
        if (n == 0)
            break;
        assert_true(n == 100 || (pages == 2 && n == 50));
        pages++;
    }
    assert_int_equal(3, pages);
    assert_int_equal(251, next);

    rpc_ccall cc;
    Events__V1__ReplayResponse *r = replay(s, &cc, 0, 0); /* defaults: from the oldest, 100 */
    assert_code(CF_OK, cc.code);
    assert_int_equal(100, r->n_events);
    assert_int_equal(1, r->events[0]->seq);
    rpc_ccall_free(&cc);
    r = replay(s, &cc, 1, 5000); /* clamped to 1000: all 250 */
    assert_int_equal(250, r->n_events);
    rpc_ccall_free(&cc);
    replay(s, &cc, 1, -1);
    assert_code(CF_INVALID_ARGUMENT, cc.code);
    rpc_ccall_free(&cc);

    /* retention: published rows older than it are gone; Replay starts at the oldest kept */
    usleep(600000);
    assert_code(CF_OK, pubsvc_write(c, "alpha", "p", 251, 1, -1));
    wait_numbered(s, 251);
    for (int i = 0; i < 200; i++) { /* the relay marks it published right after numbering */
        db_conn_ensure(c);
        PGresult *pr = PQexec(db_conn_pg(c), "SELECT published_seq FROM evtest.outbox_state");
        long long p = atoll(PQgetvalue(pr, 0, 0));
        PQclear(pr);
        if (p == 251)
            break;
        usleep(10000);
    }
    assert_code(CF_OK, events_prune(c, 500)); /* keeps only the last, written just now */
    r = replay(s, &cc, 1, 10);
    assert_code(CF_OK, cc.code);
    assert_int_equal(1, r->n_events);
    assert_int_equal(251, r->events[0]->seq);
    rpc_ccall_free(&cc);

    db_conn_free(c);
    th_service_stop(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paging),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
