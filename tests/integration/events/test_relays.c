/* test_relays.c — issue 16 item 2, several relays on one outbox, proved: three replicas of a
 * publishing service (confetti-pubsvc processes, one database, so one outbox) relay
 * concurrently while three writers commit events; the relays are SIGKILLed and restarted one
 * after another mid-stream. A subscriber (live events from the real broker, gaps filled by
 * Replay from any of the replicas) feeds the checker (seqcheck.h): the source's sequence must
 * be 1, 2, 3 … each once, no event may come under two numbers, and every event written must
 * arrive.
 *
 * Event count: CONFETTI_TEST_EVENTS, default 15000. */
#include "th.h"
#include "th_ident.h"
#include "th_proc.h"
#include "pg.h"
#include "pubsvc.h"
#include "seqcheck.h"

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
#include "base/xmalloc.h"
#include "events/subscriber.h"
#include "service.h"

enum { NRELAY = 3, NWRITER = 3, PER_TX = 50, KILLS = 6 };

typedef struct relay {
    pid_t pid;
    char cfg[128], log[128], url[128];
} relay;

static char *dsn;
static int pubp, subp;
static relay rel[NRELAY];

static void relay_start(int i)
{
    relay *r = &rel[i];
    snprintf(r->cfg, sizeof r->cfg, "/tmp/confetti-relays-%d-%d.yaml", (int)getpid(), i);
    snprintf(r->log, sizeof r->log, "/tmp/confetti-relays-%d-%d.log", (int)getpid(), i);
    snprintf(r->url, sizeof r->url, "ipc:///tmp/confetti-relays-%d-%d.sock", (int)getpid(), i);
    char *yaml = xasprintf("rpc:\n  listen: [\"%s\"]\n  workers: 2\n"
                           "admin:\n  listen: http://127.0.0.1:%d\n"
                           "log:\n  level: info\n"
                           "events:\n  bus: tcp://127.0.0.1:%d\n  poll: 50ms\n",
                           r->url, th_free_port(), pubp);
    FILE *f = fopen(r->cfg, "w");
    assert_non_null(f);
    fputs(yaml, f);
    fclose(f);
    free(yaml);
    const char *argv[] = {PUBSVC_BIN, "--config", r->cfg, NULL};
    r->pid = th_spawn_logged_as(argv, dsn, r->log, "alpha"); /* it publishes as alpha */
}

static void reap(pid_t pid, int sig)
{
    kill(pid, sig);
    waitpid(pid, NULL, 0);
}

static pid_t bus_start(void)
{
    char a[64], b[64], r[96];
    snprintf(a, sizeof a, "tcp://127.0.0.1:%d", pubp);
    snprintf(b, sizeof b, "tcp://127.0.0.1:%d", subp);
    snprintf(r, sizeof r, "ipc:///tmp/confetti-relays-bus-%d.sock", (int)getpid());
    return th_bus_spawn(BUS_BIN, a, b, r);
}

typedef struct writer {
    int index;
    int64_t n;
    _Atomic int64_t written;
    atomic_bool failed;
} writer;

static void *write_main(void *arg)
{
    writer *w = arg;
    db_conn *c = pubsvc_conn(dsn);
    char tag[16];
    snprintf(tag, sizeof tag, "w%d", w->index);
    for (int64_t i = 1; i <= w->n; i += PER_TX) {
        int count = (int)(w->n - i + 1 < PER_TX ? w->n - i + 1 : PER_TX);
        if (pubsvc_write(c, "alpha", tag, i, count, -1) != CF_OK)
            atomic_store(&w->failed, true);
        atomic_fetch_add(&w->written, count);
        usleep(1000);
    }
    db_conn_free(c);
    return NULL;
}

static void test_three_relays_killed_in_turn_stay_gap_and_duplicate_free(void **state)
{
    (void)state;
    int64_t total = atoll(th_env("CONFETTI_TEST_EVENTS", "15000"));
    dsn = th_pg_fresh_db("relays");
    pubsvc_migrate(dsn);
    pubp = th_free_port();
    subp = th_free_port();
    pid_t bus = bus_start();
    for (int i = 0; i < NRELAY; i++)
        relay_start(i);

    seqcheck *k = seqcheck_new();
    const char *urls[NRELAY];
    for (int i = 0; i < NRELAY; i++)
        urls[i] = rel[i].url;
    char subbus[64], err[256];
    snprintf(subbus, sizeof subbus, "tcp://127.0.0.1:%d", subp);
    events_source src[1] = {{"alpha", urls, NRELAY, 0}};
    events_sub_config cfg = {.bus = subbus,
                             .sources = src,
                             .nsources = 1,
                             .consume = seqcheck_consume,
                             .arg = k,
                             .check_ms = 200,
                             .ident = th_ident_test()};
    events_sub *sub = NULL;
    if (events_sub_start(&cfg, &sub, err, sizeof err) != CF_OK)
        fail_msg("subscriber: %s", err);

    int64_t t0 = cf_mono_ns();
    writer w[NWRITER];
    pthread_t th[NWRITER];
    for (int i = 0; i < NWRITER; i++) {
        w[i] = (writer){.index = i, .n = total / NWRITER + (i < total % NWRITER)};
        pthread_create(&th[i], NULL, write_main, &w[i]);
    }
    /* the kills, spread over the stream: relay i % 3 dies (SIGKILL: mid-pass, its transaction
     * rolled back by the server, its socket gone) and a new one starts in its place */
    for (int kill_no = 0; kill_no < KILLS; kill_no++) {
        int64_t want = total * (kill_no + 1) / (KILLS + 2);
        for (int64_t end = cf_mono_ns() + 120 * 1000000000LL;
             seqcheck_total(k) < want && cf_mono_ns() < end;)
            usleep(5000);
        int i = kill_no % NRELAY;
        reap(rel[i].pid, SIGKILL);
        unlink(rel[i].url + strlen("ipc://"));
        relay_start(i);
    }
    for (int i = 0; i < NWRITER; i++) {
        pthread_join(th[i], NULL);
        assert_false(atomic_load(&w[i].failed));
    }
    for (int64_t end = cf_mono_ns() + 600 * 1000000000LL;
         seqcheck_total(k) < total && cf_mono_ns() < end;)
        usleep(10000);
    double secs = (double)(cf_mono_ns() - t0) / 1e9;
    usleep(300000); /* nothing more may arrive */
    events_sub_stats st;
    events_sub_stats_get(sub, &st);
    events_sub_stop(sub);
    print_message("%" PRId64 " events from %d writers through %d relays on one outbox, %d relay "
                  "kills, in %.1f s: duplicates dropped %" PRIu64 ", gaps %" PRIu64
                  ", replayed %" PRIu64 "\n",
                  total, NWRITER, NRELAY, KILLS, secs, st.duplicates, st.gaps, st.replayed);

    char why[256];
    if (!seqcheck_verify(k, why, sizeof why))
        fail_msg("%s", why);
    assert_int_equal(seqcheck_total(k), total);
    assert_int_equal(seqcheck_last(k, "alpha"), total);
    for (int i = 0; i < NWRITER; i++)
        for (int64_t j = 1; j <= w[i].n; j++) {
            char name[48];
            snprintf(name, sizeof name, "alpha/w%d-%" PRId64, i, j);
            if (!seqcheck_has(k, name))
                fail_msg("event %s was written but never delivered", name);
        }
    seqcheck_free(k);
    for (int i = 0; i < NRELAY; i++) {
        reap(rel[i].pid, SIGTERM);
        unlink(rel[i].cfg), unlink(rel[i].log);
    }
    reap(bus, SIGKILL);
    char sock[96];
    snprintf(sock, sizeof sock, "/tmp/confetti-relays-bus-%d.sock", (int)getpid());
    unlink(sock);
    th_pg_drop_db(dsn);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_three_relays_killed_in_turn_stay_gap_and_duplicate_free),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
