/* test_bus_replicas.c — issue 16 item 1, the bus without a single point of failure: two
 * confetti-bus processes (127.0.0.2 and 127.0.0.3, one port pair) behind one name, the way a
 * headless Service gives them. Both publishers' relays dial the name and so reach every broker;
 * the subscriber dials the name, hears every broker, and drops the second copy of each event by
 * source and sequence. The brokers are SIGKILLed in turn under full traffic (one restarted
 * before the other dies): the consumer gets every event exactly once, in order per source.
 *
 * The name resolves through a hosts file (rpc.hosts_file, common/rpc/resolve.h). Event count:
 * CONFETTI_TEST_EVENTS, default 20000. */
#include "th.h"
#include "th_ident.h"
#include "th_proc.h"
#include "service.h"
#include "pubsvc.h"

#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/clock.h"
#include "events/subscriber.h"
#include "rpc/resolve.h"

enum { PER_TX = 100, NBUS = 2 };

typedef struct consumer {
    _Atomic int64_t last[2]; /* alpha, beta */
    _Atomic int64_t total;
    atomic_bool broken;
    char why[256];
} consumer;

static cf_code consume(void *arg, const Events__V1__Event *ev)
{
    consumer *c = arg;
    int i = strcmp(ev->source, "alpha") == 0 ? 0 : 1;
    int64_t want = atomic_load(&c->last[i]) + 1;
    if (ev->seq != want && !atomic_exchange(&c->broken, true))
        snprintf(c->why, sizeof c->why, "%s: got seq %" PRId64 ", wanted %" PRId64, ev->source,
                 ev->seq, want);
    atomic_store(&c->last[i], ev->seq);
    atomic_fetch_add(&c->total, 1);
    return CF_OK;
}

typedef struct producer {
    const char *dsn, *source;
    int64_t n;
    _Atomic int64_t written;
    atomic_bool failed;
} producer;

static void *produce(void *arg)
{
    producer *p = arg;
    db_conn *c = pubsvc_conn(p->dsn);
    for (int64_t i = 1; i <= p->n; i += PER_TX) {
        int count = (int)(p->n - i + 1 < PER_TX ? p->n - i + 1 : PER_TX);
        if (pubsvc_write(c, p->source, p->source, i, count, -1) != CF_OK)
            atomic_store(&p->failed, true);
        atomic_fetch_add(&p->written, count);
        usleep(2000); /* a steady stream rather than one burst: the kills land mid-stream */
    }
    db_conn_free(c);
    return NULL;
}

static int pubp, subp;

static pid_t bus_start(int i)
{
    char a[64], b[64], r[96];
    snprintf(a, sizeof a, "tcp://127.0.0.%d:%d", 2 + i, pubp);
    snprintf(b, sizeof b, "tcp://127.0.0.%d:%d", 2 + i, subp);
    snprintf(r, sizeof r, "ipc:///tmp/confetti-busrep-%d-%d.sock", (int)getpid(), i);
    return th_bus_spawn(BUS_BIN, a, b, r);
}

static void bus_kill(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

static void wait_total(consumer *c, int64_t n, int seconds)
{
    for (int i = 0; i < seconds * 100 && atomic_load(&c->total) < n; i++)
        usleep(10000);
}

static void test_two_brokers_killed_in_turn_lose_nothing(void **state)
{
    (void)state;
    int64_t total = atoll(th_env("CONFETTI_TEST_EVENTS", "20000"));
    pubp = th_free_port();
    subp = th_free_port();
    char hosts[96];
    snprintf(hosts, sizeof hosts, "/tmp/confetti-busrep-%d.hosts", (int)getpid());
    FILE *f = fopen(hosts, "w");
    assert_non_null(f);
    fputs("127.0.0.2 bus.test\n127.0.0.3 bus.test\n", f);
    fclose(f);

    pid_t bus[NBUS];
    for (int i = 0; i < NBUS; i++)
        bus[i] = bus_start(i);
    char busenv[64], hostsenv[128];
    snprintf(busenv, sizeof busenv, "CONFETTI_EVENTS_BUS=tcp://bus.test:%d", pubp);
    snprintf(hostsenv, sizeof hostsenv, "CONFETTI_RPC_HOSTS_FILE=%s", hosts);
    const char *env[] = {busenv, hostsenv, "CONFETTI_EVENTS_POLL=50ms",
                         "CONFETTI_RPC_RESOLVE_INTERVAL=300ms", NULL};
    th_service *alpha = th_service_start(pubsvc_def("alpha"), &(th_service_opts){.env = env});
    th_service *beta = th_service_start(pubsvc_def("beta"), &(th_service_opts){.env = env});
    resolve_setup(300, hosts); /* the services set it too: one process */

    consumer c = {0};
    char subbus[64], err[256];
    snprintf(subbus, sizeof subbus, "tcp://bus.test:%d", subp);
    const char *ua[] = {alpha->url}, *ub[] = {beta->url};
    events_source src[2] = {{"alpha", ua, 1, 0}, {"beta", ub, 1, 0}};
    events_sub_config cfg = {.bus = subbus,
                             .sources = src,
                             .nsources = 2,
                             .consume = consume,
                             .arg = &c,
                             .check_ms = 200,
                             .ident = th_ident_test()};
    events_sub *sub = NULL;
    if (events_sub_start(&cfg, &sub, err, sizeof err) != CF_OK)
        fail_msg("subscriber: %s", err);

    int64_t t0 = cf_mono_ns();
    producer pa = {.dsn = alpha->dsn, .source = "alpha", .n = total / 2},
             pb = {.dsn = beta->dsn, .source = "beta", .n = total - total / 2};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, produce, &pa);
    pthread_create(&tb, NULL, produce, &pb);

    wait_total(&c, total / 4, 120);
    events_sub_stats before;
    events_sub_stats_get(sub, &before);
    bus_kill(bus[0]); /* one broker dies under traffic; the other carries on */
    wait_total(&c, total / 2, 120);
    events_sub_stats mid;
    events_sub_stats_get(sub, &mid);
    bus[0] = bus_start(0); /* it comes back … */
    sleep(2);              /* … and every relay and the subscriber reconnect (backoff ≤ 1 s) */
    wait_total(&c, 3 * total / 4, 120);
    bus_kill(bus[1]); /* then the other one dies */

    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    assert_false(atomic_load(&pa.failed) || atomic_load(&pb.failed));
    wait_total(&c, total, 600);
    double secs = (double)(cf_mono_ns() - t0) / 1e9;
    events_sub_stats st;
    events_sub_stats_get(sub, &st);
    print_message("%" PRId64 " events through 2 brokers in %.1f s, each killed once: duplicates "
                  "dropped %" PRIu64 ", gaps %" PRIu64 " (while one broker was down: %" PRIu64
                  "), replayed %" PRIu64 "\n",
                  total, secs, st.duplicates, st.gaps, mid.gaps - before.gaps, st.replayed);
    usleep(300000); /* nothing more may arrive */
    events_sub_stop(sub);
    if (atomic_load(&c.broken))
        fail_msg("%s", c.why);
    assert_int_equal(total, atomic_load(&c.total));
    assert_int_equal(pa.n, atomic_load(&c.last[0]));
    assert_int_equal(pb.n, atomic_load(&c.last[1]));
    /* both brokers carried the stream: the second copies were there, and dropped */
    assert_true(st.duplicates > 0);
    th_service_stop(alpha);
    th_service_stop(beta);
    bus_kill(bus[0]);
    for (int i = 0; i < NBUS; i++) {
        char sock[96];
        snprintf(sock, sizeof sock, "/tmp/confetti-busrep-%d-%d.sock", (int)getpid(), i);
        unlink(sock); /* a killed broker leaves its ipc socket file behind */
    }
    unlink(hosts);
    resolve_setup(0, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_brokers_killed_in_turn_lose_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
