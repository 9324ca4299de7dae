/* test_subscriber_hostile.c — the event subscriber against a hostile Replay source and hostile
 * bus frames (issue 13 items 1 and 5): a Replay answer with an event numbered INT64_MAX is a
 * failed Replay (taking it made the next Replay ask for INT64_MAX + 1: signed overflow), and
 * garbage frames, groups, frames whose unknown fields nest 10^5 deep and live events numbered 0
 * or INT64_MAX are dropped while the events around them are delivered in order. */
#include "th.h"
#include "th_ident.h"
#include "pbdeep.h"
#include "testsvc.h"
#include "base/xmalloc.h"
#include "events/events.h"
#include "events/subscriber.h"
#include "rpc/v1/envelope.pb-c.h"

#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/supplemental/util/platform.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A Replay source that answers every request with events numbered `seqs` (and last_seq the
 * largest of them), whatever was asked. */
typedef struct fake_source {
    nng_socket sock;
    pthread_t thread;
    const int64_t *seqs;
    size_t n;
    atomic_int answered;
} fake_source;

static void *source_main(void *arg)
{
    fake_source *f = arg;
    for (;;) {
        nng_msg *m;
        if (nng_recvmsg(f->sock, &m, 0) != 0)
            return NULL;
        nng_msg_free(m);
        Events__V1__Event evs[4], *evp[4];
        Events__V1__ReplayResponse resp = EVENTS__V1__REPLAY_RESPONSE__INIT;
        for (size_t i = 0; i < f->n; i++) {
            events__v1__event__init(&evs[i]);
            evs[i].source = "alpha";
            evs[i].seq = f->seqs[i];
            evp[i] = &evs[i];
            if (f->seqs[i] > resp.last_seq)
                resp.last_seq = f->seqs[i];
        }
        resp.events = evp;
        resp.n_events = f->n;
        uint8_t body[512];
        Rpc__V1__Reply r = RPC__V1__REPLY__INIT;
        r.payload.data = body;
        r.payload.len = events__v1__replay_response__pack(&resp, body);
        uint8_t out[1024];
        size_t len = rpc__v1__reply__pack(&r, out);
        if (nng_send(f->sock, out, len, 0) != 0)
            return NULL;
        atomic_fetch_add(&f->answered, 1);
    }
}

#define MAX_GOT 64
static _Atomic int64_t got[MAX_GOT];
static atomic_int ngot;

static cf_code consume(void *arg, const Events__V1__Event *ev)
{
    (void)arg;
    int i = atomic_fetch_add(&ngot, 1);
    if (i < MAX_GOT)
        atomic_store(&got[i], ev->seq);
    return CF_OK;
}

/* "alpha\0" + body, published. */
static void publish(nng_socket pub, const uint8_t *body, size_t len)
{
    static rpc_ident *alpha;
    if (!alpha)
        alpha = th_ident("alpha");
    nng_msg *m = th_event_frame(alpha, "alpha", body, len);
    assert_int_equal(nng_sendmsg(pub, m, 0), 0);
}

static void publish_seq(nng_socket pub, int64_t seq)
{
    Events__V1__Event ev = EVENTS__V1__EVENT__INIT;
    ev.source = "alpha";
    ev.seq = seq;
    uint8_t b[128];
    publish(pub, b, events__v1__event__pack(&ev, b));
}

/* Publishes seq until the consumer has been handed `want` events (the subscriber's pipe comes up
 * when it does: no sleep guesses). */
static void publish_until(nng_socket pub, int64_t seq, int want)
{
    for (int i = 0; i < 500 && atomic_load(&ngot) < want; i++) {
        publish_seq(pub, seq);
        nng_msleep(10);
    }
    assert_int_equal(atomic_load(&ngot), want);
}

static void hostile_sources_and_frames_are_refused(void **state)
{
    (void)state;
    char src_url[128], bus_url[128];
    th_ipc_url(src_url, sizeof src_url, "evsrc");
    th_ipc_url(bus_url, sizeof bus_url, "evbus");
    static const int64_t seqs[] = {1, INT64_MAX};
    fake_source f = {.seqs = seqs, .n = 2};
    assert_int_equal(nng_rep0_open(&f.sock), 0);
    assert_int_equal(nng_listen(f.sock, src_url, NULL, 0), 0);
    pthread_create(&f.thread, NULL, source_main, &f);
    nng_socket pub;
    assert_int_equal(nng_pub0_open(&pub), 0);
    assert_int_equal(nng_listen(pub, bus_url, NULL, 0), 0);

    const char *urls[] = {src_url};
    events_source src = {"alpha", urls, 1, 0};
    events_sub_config sc = {.bus = bus_url,
                            .sources = &src,
                            .nsources = 1,
                            .consume = consume,
                            .check_ms = 20,
                            .tail_ms = 20,
                            .ident = th_ident_test()};
    events_sub *sub;
    char err[256];
    atomic_store(&ngot, 0);
    assert_code(CF_OK, events_sub_start(&sc, &sub, err, sizeof err));

    /* Replay answers 1 and INT64_MAX, again and again: an answer with an impossible number is
     * a failed Replay, nothing of it is taken */
    for (int i = 0; i < 500 && atomic_load(&f.answered) < 5; i++)
        nng_msleep(10);
    assert_true(atomic_load(&f.answered) >= 5);
    assert_int_equal(atomic_load(&ngot), 0);
    assert_int_equal(events_sub_position(sub, "alpha"), 0);

    /* 1 live; then hostile live frames, then 2: only 1, 2 are handed over */
    publish_until(pub, 1, 1);
    assert_int_equal(atomic_load(&got[0]), 1);
    static const uint8_t garbage[] = {0xff, 0xff, 0xff};
    static const uint8_t group[] = {0x10, 0x02, 0x0b, 0x0c}; /* seq 2, then a group */
    publish(pub, garbage, sizeof garbage);
    publish(pub, group, sizeof group);
    publish_seq(pub, 0);
    publish_seq(pub, -5);
    publish_seq(pub, INT64_MAX);
    th_pbw w;
    th_pbw_init(&w, 8 * 100000 + 64);
    th_pbw_deep_value(&w, 100000);
    th_pbw_wrap(&w, 1000, 0); /* an unknown field: kept as bytes, never descended */
    th_pbw_varint(&w, 2);
    th_pbw_varint(&w, 2 << 3);     /* seq = 2 */
    th_pbw_string(&w, 1, "alpha"); /* the source, as a relay writes it */
    for (int i = 0; i < 500 && atomic_load(&ngot) < 2; i++) {
        publish(pub, th_pbw_data(&w), th_pbw_len(&w));
        nng_msleep(10);
    }
    th_pbw_free(&w);
    assert_int_equal(atomic_load(&ngot), 2);
    assert_int_equal(atomic_load(&got[1]), 2);
    publish_until(pub, 3, 3);
    assert_int_equal(atomic_load(&got[2]), 3);
    assert_int_equal(events_sub_position(sub, "alpha"), 3);

    events_sub_stop(sub);
    nng_close(pub);
    nng_close(f.sock);
    pthread_join(f.thread, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hostile_sources_and_frames_are_refused),
    };
    return cmocka_run_group_tests_name("subscriber_hostile", tests, NULL, NULL);
}
