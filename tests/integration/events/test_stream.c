/* test_stream.c — a stream of events from two publishers through the real broker to a
 * subscriber, while the broker (the confetti-bus binary, SIGKILLed) and then the subscriber
 * are killed and restarted: the consumer gets every event exactly once, in order per source
 * (the 100,000-event test; the count comes from CONFETTI_TEST_EVENTS, default 100000).
 *
 * The subscriber is stopped in-process while the bus is quiet (the producers pause): nng
 * 1.5.2's nng_close sometimes hangs on a socket whose pipe is busy (docs/events.md), and a
 * real subscriber that dies does not close anything. */
#include "th.h"
#include "th_ident.h"
#include "th_phase.h"
#include "th_proc.h"
#include "service.h"
#include "pubsvc.h"

#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "events/subscriber.h"

enum { PER_TX = 100 };

typedef struct consumer {
    _Atomic int64_t last[2]; /* alpha, beta: the "persisted" position */
    _Atomic int64_t total;
    atomic_bool broken;
    char why[256];
} consumer;

static cf_code consume(void *arg, const Events__V1__Event *ev)
{
    consumer *c = arg;
    int i = strcmp(ev->source, "alpha") == 0 ? 0 : 1;
    int64_t want = atomic_load(&c->last[i]) + 1;
    char name[48];
    snprintf(name, sizeof name, "%s-%" PRId64, ev->source, ev->seq);
    if (ev->seq != want || ev->body_case != EVENTS__V1__EVENT__BODY_ROOM_CREATED ||
        strcmp(ev->room_created->name, name) != 0) {
        if (!atomic_exchange(&c->broken, true))
            snprintf(c->why, sizeof c->why, "%s: got seq %" PRId64 ", wanted %" PRId64, ev->source,
                     ev->seq, want);
    }
    atomic_store(&c->last[i], ev->seq);
    atomic_fetch_add(&c->total, 1);
    return CF_OK;
}

typedef struct producer {
    const char *dsn, *source;
    int64_t n;
    atomic_bool *pause;
    _Atomic int64_t written;
    atomic_bool idle;   /* paused (or finished): it writes nothing until pause is cleared */
    atomic_bool failed; /* a write failed (fail_msg belongs to the test's thread) */
} producer;

/* One writer per source, so commit order = the n in the names = the expected seq. */
static void *produce(void *arg)
{
    producer *p = arg;
    db_conn *c = pubsvc_conn(p->dsn);
    for (int64_t i = 1; i <= p->n; i += PER_TX) {
        int count = (int)(p->n - i + 1 < PER_TX ? p->n - i + 1 : PER_TX);
        if (atomic_load(p->pause)) {
            atomic_store(&p->idle, true);
            while (atomic_load(p->pause))
                usleep(1000);
            atomic_store(&p->idle, false);
        }
        if (pubsvc_write(c, p->source, p->source, i, count, -1) != CF_OK)
            atomic_store(&p->failed, true);
        atomic_fetch_add(&p->written, count);
    }
    db_conn_free(c);
    atomic_store(&p->idle, true);
    return NULL;
}

static pid_t bus_start(int pubp, int subp)
{
    char a[64], b[64], r[96];
    snprintf(a, sizeof a, "tcp://127.0.0.1:%d", pubp);
    snprintf(b, sizeof b, "tcp://127.0.0.1:%d", subp);
    snprintf(r, sizeof r, "ipc:///tmp/confetti-bus-test-%d.sock", (int)getpid());
    return th_bus_spawn(BUS_BIN, a, b, r);
}

static void bus_kill(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

static events_sub *sub_start(consumer *c, th_service *alpha, th_service *beta, int subp)
{
    char bus[64], err[256];
    snprintf(bus, sizeof bus, "tcp://127.0.0.1:%d", subp);
    const char *ua[] = {alpha->url}, *ub[] = {beta->url};
    events_source src[2] = {{"alpha", ua, 1, atomic_load(&c->last[0])},
                            {"beta", ub, 1, atomic_load(&c->last[1])}};
    events_sub_config cfg = {.bus = bus,
                             .sources = src,
                             .nsources = 2,
                             .consume = consume,
                             .arg = c,
                             .check_ms = 200,
                             .ident = th_ident_test()};
    events_sub *s = NULL;
    if (events_sub_start(&cfg, &s, err, sizeof err) != CF_OK)
        fail_msg("subscriber: %s", err);
    return s;
}

/* Waits until the consumer has n events, at most `seconds`; then, when `what` is not NULL
 * (a check, not pacing), fails the test naming it if they have not come. */
static void wait_total(consumer *c, int64_t n, int seconds, const char *what)
{
    seconds *= th_time_scale();
    for (int i = 0; i < seconds * 100 && atomic_load(&c->total) < n; i++)
        usleep(10000);
    if (what && atomic_load(&c->total) < n)
        fail_msg("%s: %" PRId64 " of %" PRId64 " events after %d s (alpha at %" PRId64
                 ", beta at %" PRId64 ")",
                 what, atomic_load(&c->total), n, seconds, atomic_load(&c->last[0]),
                 atomic_load(&c->last[1]));
}

static void test_stream_with_restarts(void **state)
{
    (void)state;
    int64_t total = atoll(th_env("CONFETTI_TEST_EVENTS", "100000"));
    int pubp = th_free_port(), subp = th_free_port();
    /* every phase bounded (th_phase.h): together under ctest's 1,500 s */
    th_phase("starting the bus, two publishers, the subscriber", 60);
    pid_t bus = bus_start(pubp, subp);
    char busenv[64];
    snprintf(busenv, sizeof busenv, "CONFETTI_EVENTS_BUS=tcp://127.0.0.1:%d", pubp);
    const char *env[] = {busenv, "CONFETTI_EVENTS_POLL=50ms", NULL};
    th_service *alpha = th_service_start(pubsvc_def("alpha"), &(th_service_opts){.env = env});
    th_service *beta = th_service_start(pubsvc_def("beta"), &(th_service_opts){.env = env});

    consumer c = {0};
    events_sub *sub = sub_start(&c, alpha, beta, subp);
    int64_t t0 = cf_mono_ns();
    atomic_bool pause = false;
    producer pa = {.dsn = alpha->dsn, .source = "alpha", .n = total / 2, .pause = &pause},
             pb = {.dsn = beta->dsn, .source = "beta", .n = total - total / 2, .pause = &pause};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, produce, &pa);
    pthread_create(&tb, NULL, produce, &pb);

    th_phase("the first quarter of the stream", 130);
    wait_total(&c, total / 4, 120, NULL); /* pacing: the kill comes then at the latest */
    th_phase("the broker SIGKILLed and restarted", 30);
    bus_kill(bus); /* the broker dies mid-stream, under full traffic … */
    usleep(300000);
    bus = bus_start(pubp, subp); /* … and comes back on the same addresses */

    th_phase("the stream to its half after the broker's restart", 130);
    wait_total(&c, total / 2, 120, NULL); /* pacing */
    th_phase("the producers pausing", 60);
    atomic_store(&pause, true); /* quiet bus: see the top of the file */
    /* both producers have seen the pause (a write in progress is finished and counted) */
    for (int64_t end = cf_mono_ns() + 50LL * th_time_scale() * 1000000000LL;
         !(atomic_load(&pa.idle) && atomic_load(&pb.idle));)
        if (cf_mono_ns() > end)
            fail_msg("the producers did not pause within its bound");
        else
            usleep(1000);
    th_phase("everything written so far consumed", 210);
    wait_total(&c, atomic_load(&pa.written) + atomic_load(&pb.written), 200,
               "what was written before the pause");
    th_phase("the subscriber stopped and restarted", 30);
    events_sub_stats st1;
    events_sub_stats_get(sub, &st1);
    events_sub_stop(sub); /* the subscriber dies mid-stream … */
    usleep(300000);
    sub = sub_start(&c, alpha, beta, subp); /* … and resumes from what the consumer kept */
    atomic_store(&pause, false);

    th_phase("the producers finishing", 200);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    assert_false(atomic_load(&pa.failed) || atomic_load(&pb.failed));
    th_phase("the whole stream consumed", 260);
    wait_total(&c, total, 250, "the whole stream"); /* ~10 s when idle */
    double secs = (double)(cf_mono_ns() - t0) / 1e9;
    events_sub_stats st2;
    events_sub_stats_get(sub, &st2);
    fprintf(stderr,
            "# %" PRId64 " events in %.1f s; before/after the subscriber restart: gaps %" PRIu64
            "/%" PRIu64 ", replayed %" PRIu64 "/%" PRIu64 ", duplicates dropped %" PRIu64
            "/%" PRIu64 "\n",
            total, secs, st1.gaps, st2.gaps, st1.replayed, st2.replayed, st1.duplicates,
            st2.duplicates);
    th_phase("stopping everything", 60);
    usleep(300000); /* nothing more may arrive */
    events_sub_stop(sub);
    if (atomic_load(&c.broken))
        fail_msg("%s", c.why);
    assert_int_equal(total, atomic_load(&c.total));
    assert_int_equal(pa.n, atomic_load(&c.last[0]));
    assert_int_equal(pb.n, atomic_load(&c.last[1]));
    th_service_stop(alpha);
    th_service_stop(beta);
    bus_kill(bus);
    char sock[96];
    snprintf(sock, sizeof sock, "/tmp/confetti-bus-test-%d.sock", (int)getpid());
    unlink(sock); /* a killed broker leaves its ipc socket file behind */
    th_phase_end();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_with_restarts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
