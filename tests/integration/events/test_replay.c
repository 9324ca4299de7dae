/* test_replay.c — events.v1.Events/Replay served by the svc runtime for a publishing service:
 * paging, bounds, contents, and what retention removes; and how soon an event gets through:
 * the relay publishes right after a commit that lands during its pass, and a subscriber finds
 * a loss at the end of a burst within its tail check, not its 1 s silence check. */
#include "th.h"
#include "th_ident.h"
#include "service.h"
#include "pubsvc.h"
#include "testsvc.h"

#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/pubsub0/sub.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "events/subscriber.h"

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

/* Pipes added to a socket: a test waits for its peer to connect instead of sleeping. */
static void on_pipe_added(nng_pipe p, nng_pipe_ev ev, void *arg)
{
    (void)p, (void)ev;
    atomic_fetch_add((atomic_int *)arg, 1);
}

static void wait_pipe(atomic_int *pipes, const char *what)
{
    int64_t end = cf_mono_ns() + 30 * 1000000000LL;
    while (atomic_load(pipes) == 0) {
        if (cf_mono_ns() > end)
            fail_msg("%s did not connect within 30 s", what);
        usleep(5000);
    }
}

static void wait_numbered(th_service *s, int64_t n)
{
    for (int i = 0; i < 3000; i++) {
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

    /* retention: published rows older than it are gone; Replay starts at the oldest kept. The
     * old rows are made an hour old (not waited for), so how long the next steps take on a busy
     * machine does not matter against the one-minute retention below. */
    PGresult *up = PQexec(db_conn_pg(c), "UPDATE evtest.outbox SET created_at = created_at - "
                                         "interval '1 hour'");
    assert_int_equal(PGRES_COMMAND_OK, PQresultStatus(up));
    PQclear(up);
    assert_code(CF_OK, pubsvc_write(c, "alpha", "p", 251, 1, -1));
    wait_numbered(s, 251);
    for (int i = 0; i < 3000; i++) { /* the relay marks it published right after numbering */
        db_conn_ensure(c);
        PGresult *pr = PQexec(db_conn_pg(c), "SELECT published_seq FROM evtest.outbox_state");
        long long p = atoll(PQgetvalue(pr, 0, 0));
        PQclear(pr);
        if (p == 251)
            break;
        usleep(10000);
    }
    assert_code(CF_OK, events_prune(c, 60000)); /* keeps only the last, written just now */
    r = replay(s, &cc, 1, 10);
    assert_code(CF_OK, cc.code);
    assert_int_equal(1, r->n_events);
    assert_int_equal(251, r->events[0]->seq);
    rpc_ccall_free(&cc);

    db_conn_free(c);
    th_service_stop(s);
}

/* A change committed while the relay is inside a pass is published at once. Its NOTIFY arrives
 * during the pass's queries, so libpq reads it into its queue and the socket shows nothing: a
 * relay that only poll()s the socket sleeps a whole events.poll over the row (the 1 s p99 of
 * the WebSocket fan-out bench). Each event here is written the moment the previous one is
 * received — while the relay is still committing the pass that published it — with
 * events.poll = 10s, so a missed notification shows as a 5 s receive timeout (generous for a
 * busy machine, still half the poll). */
static void test_relay_wakes_at_commit(void **state)
{
    (void)state;
    char url[128], bus[160];
    th_ipc_url(url, sizeof url, "ev-wake");
    nng_socket sub;
    assert_int_equal(0, nng_sub0_open(&sub));
    assert_int_equal(0, nng_socket_set(sub, NNG_OPT_SUB_SUBSCRIBE, "", 0));
    assert_int_equal(0, nng_socket_set_ms(sub, NNG_OPT_RECVTIMEO, 5000));
    atomic_int pipes = 0;
    assert_int_equal(0, nng_pipe_notify(sub, NNG_PIPE_EV_ADD_POST, on_pipe_added, &pipes));
    assert_int_equal(0, nng_listen(sub, url, NULL, 0));
    snprintf(bus, sizeof bus, "CONFETTI_EVENTS_BUS=%s", url);
    const char *env[] = {bus, "CONFETTI_EVENTS_POLL=10s", NULL};
    th_service *s = th_service_start(pubsvc_def("alpha"), &(th_service_opts){.env = env});
    db_conn *c = pubsvc_conn(s->dsn);
    wait_pipe(&pipes, "the relay's pub socket");
    int64_t worst = 0;
    for (int i = 1; i <= 200; i++) {
        int64_t t0 = cf_mono_ns();
        assert_code(CF_OK, pubsvc_write(c, "alpha", "w", i, 1, -1));
        nng_msg *m;
        if (nng_recvmsg(sub, &m, 0) != 0)
            fail_msg("event %d not published within 5 s of its commit", i);
        nng_msg_free(m);
        int64_t dt = cf_mono_ns() - t0;
        worst = dt > worst ? dt : worst;
    }
    print_message("200 events, each written when the last arrived: worst %.1f ms\n",
                  (double)worst / 1e6);
    db_conn_free(c);
    th_service_stop(s);
    nng_close(sub);
}

static _Atomic int64_t tail_got;

static cf_code tail_consume(void *arg, const Events__V1__Event *ev)
{
    (void)arg;
    atomic_store(&tail_got, ev->seq);
    return CF_OK;
}

/* The bus loses the last event of a burst: of 4 and 5 only 4 arrives live. No later event
 * reveals the gap, and the silence check is a minute away here: the tail check (50 ms after
 * the live events stop) fetches 5 from Replay. */
static void test_tail_loss_found(void **state)
{
    (void)state;
    char url[128];
    th_ipc_url(url, sizeof url, "ev-tail");
    /* the publisher numbers but does not publish (events.bus empty): this test is the bus */
    const char *env[] = {"CONFETTI_EVENTS_BUS=", "CONFETTI_EVENTS_POLL=20ms", NULL};
    th_service *s = th_service_start(pubsvc_def("alpha"), &(th_service_opts){.env = env});
    db_conn *c = pubsvc_conn(s->dsn);
    assert_code(CF_OK, pubsvc_write(c, "alpha", "t", 1, 3, -1));
    wait_numbered(s, 3);
    nng_socket pub;
    assert_int_equal(0, nng_pub0_open(&pub));
    atomic_int pipes = 0;
    assert_int_equal(0, nng_pipe_notify(pub, NNG_PIPE_EV_ADD_POST, on_pipe_added, &pipes));
    assert_int_equal(0, nng_listen(pub, url, NULL, 0));
    const char *urls[] = {s->url};
    events_source src = {"alpha", urls, 1, 0};
    events_sub_config sc = {.bus = url,
                            .sources = &src,
                            .nsources = 1,
                            .consume = tail_consume,
                            .check_ms = 60000,
                            .ident = th_ident_test()};
    events_sub *sub;
    char err[256];
    atomic_store(&tail_got, 0);
    assert_code(CF_OK, events_sub_start(&sc, &sub, err, sizeof err));
    /* the start-up catch-up hands over 1-3; then 4 and 5 are written, and only 4 is sent */
    for (int i = 0; i < 3000 && atomic_load(&tail_got) < 3; i++)
        usleep(10000);
    assert_int_equal(3, atomic_load(&tail_got));
    assert_code(CF_OK, pubsvc_write(c, "alpha", "t", 4, 2, -1));
    wait_numbered(s, 5);
    rpc_ccall cc;
    Events__V1__ReplayResponse *r = replay(s, &cc, 4, 1);
    assert_code(CF_OK, cc.code);
    Events__V1__Event *ev = r->events[0];
    size_t plen = events__v1__event__get_packed_size(ev);
    uint8_t *packed = malloc(plen);
    events__v1__event__pack(ev, packed);
    nng_msg *m = th_event_frame(th_ident("alpha"), "alpha", packed, plen);
    free(packed);
    rpc_ccall_free(&cc);
    wait_pipe(&pipes, "the subscriber");
    int64_t t0 = cf_mono_ns();
    assert_int_equal(0, nng_sendmsg(pub, m, 0));
    /* the tail check runs 50 ms after the live events stop; the silence check is 60 s away, so
     * anything well under a minute proves the tail check found it (20 s: generous for load) */
    while (atomic_load(&tail_got) < 5 && cf_mono_ns() - t0 < 20 * 1000000000LL)
        usleep(5000);
    int64_t dt = cf_mono_ns() - t0;
    assert_int_equal(5, atomic_load(&tail_got)); /* 4 live, 5 from the tail check */
    print_message("5 found %.1f ms after 4 arrived\n", (double)dt / 1e6);
    events_sub_stats st;
    events_sub_stats_get(sub, &st);
    assert_true(st.replayed >= 4); /* 1-3 at start, 5 at the tail */
    events_sub_stop(sub);
    nng_close(pub);
    db_conn_free(c);
    th_service_stop(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paging),
        cmocka_unit_test(test_relay_wakes_at_commit),
        cmocka_unit_test(test_tail_loss_found),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
