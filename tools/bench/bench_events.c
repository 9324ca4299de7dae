/* bench_events.c — events end to end: a store-like writer puts events into a publisher's outbox
 * (10 per transaction), the runtime's relay numbers and publishes them through a real
 * confetti-bus process, a subscriber hands them to a consumer. Prints events/s and the latency
 * from the writer's commit to the consumer's callback (p50, p99).
 * Usage: bench_events [seconds]   (default 2; the event count is 5,000 × seconds) */
#include "bench.h"
#include "service.h"
#include "th_ident.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/xmalloc.h"
#include "db/tx.h"
#include "events/events.h"
#include "events/subscriber.h"

#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

enum { PER_TX = 10 };

/* The outbox migration itself, read from the source tree (no second copy of its text). */
static char *outbox_sql(void)
{
    char path[PATH_MAX], here[PATH_MAX];
    snprintf(here, sizeof here, "%s", __FILE__);
    snprintf(path, sizeof path, "%s/../../common/events/outbox.sql", dirname(here));
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "bench_events: %s not found\n", path);
        exit(1);
    }
    char *buf = xcalloc(1, 1 << 16);
    size_t n = fread(buf, 1, (1 << 16) - 1, f);
    fclose(f);
    buf[n] = 0;
    return buf;
}

static int64_t *commit_ns, *deliver_ns;
static int64_t total;
static _Atomic int64_t delivered;

static cf_code consume(void *arg, const Events__V1__Event *ev)
{
    (void)arg;
    int64_t i = ev->body_case == EVENTS__V1__EVENT__BODY_PRIZE_DELETED
                    ? atoll(ev->prize_deleted->prize_id)
                    : -1;
    if (i >= 0 && i < total)
        deliver_ns[i] = cf_mono_ns();
    atomic_fetch_add(&delivered, 1);
    return CF_OK;
}

typedef struct batch {
    int64_t first;
    char ids[PER_TX][24];
} batch;

static cf_code write_body(db_conn *c, void *arg)
{
    batch *b = arg;
    for (int k = 0; k < PER_TX; k++) {
        snprintf(b->ids[k], sizeof b->ids[k], "%lld", (long long)(b->first + k));
        Events__V1__PrizeDeleted body = EVENTS__V1__PRIZE_DELETED__INIT;
        body.prize_id = b->ids[k];
        Events__V1__Event ev = EVENTS__V1__EVENT__INIT;
        ev.source = "benchev";
        ev.body_case = EVENTS__V1__EVENT__BODY_PRIZE_DELETED;
        ev.prize_deleted = &body;
        cf_code code = events_outbox_add(c, &ev);
        if (code != CF_OK)
            return code;
    }
    return CF_OK;
}

int main(int argc, char **argv)
{
    int secs = argc > 1 ? atoi(argv[1]) : 2;
    total = (int64_t)(secs > 0 ? secs : 2) * 5000 / PER_TX * PER_TX;
    log_setup("bench", LOG_WARN);
    char exe[PATH_MAX] = "", bus_bin[PATH_MAX + 64];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = 0;
    snprintf(bus_bin, sizeof bus_bin, "%s/../../services/bus/confetti-bus", dirname(exe));

    int pubp = th_free_port(), subp = th_free_port();
    char a[80], b[80], r[96], adm[80];
    snprintf(a, sizeof a, "CONFETTI_BUS_PUBLISHERS=tcp://127.0.0.1:%d", pubp);
    snprintf(b, sizeof b, "CONFETTI_BUS_SUBSCRIBERS=tcp://127.0.0.1:%d", subp);
    snprintf(r, sizeof r, "CONFETTI_RPC_LISTEN=ipc:///tmp/confetti-bench-bus-%d.sock",
             (int)getpid());
    snprintf(adm, sizeof adm, "CONFETTI_ADMIN_LISTEN=http://127.0.0.1:%d", th_free_port());
    char *benv[16] = {a, b, r, adm, "CONFETTI_LOG_LEVEL=warn"};
    size_t nb = 5;
    th_ident_env("bus", benv, &nb); /* the bus forwards only events signed by their source */
    pid_t bus = fork();
    if (bus == 0) {
        execle(bus_bin, bus_bin, (char *)NULL, benv);
        _exit(127);
    }
    for (size_t i = 5; i < nb; i++) /* th_ident_env's */
        free(benv[i]);

    db_migration m[] = {{1, "001_outbox.sql", outbox_sql()}};
    svc_def def = {.name = "benchev",
                   .schema = "benchev",
                   .migrations = m,
                   .nmigrations = 1,
                   .publishes = true};
    char ebus[64];
    snprintf(ebus, sizeof ebus, "CONFETTI_EVENTS_BUS=tcp://127.0.0.1:%d", pubp);
    const char *env[] = {ebus, NULL};
    th_service *pub = th_service_start(&def, &(th_service_opts){.env = env});

    commit_ns = xcalloc((size_t)total, sizeof *commit_ns);
    deliver_ns = xcalloc((size_t)total, sizeof *deliver_ns);
    char sbus[64], err[256];
    snprintf(sbus, sizeof sbus, "tcp://127.0.0.1:%d", subp);
    const char *urls[] = {pub->url};
    events_source src = {"benchev", urls, 1, 0};
    events_sub_config sc = {
        .bus = sbus, .sources = &src, .nsources = 1, .consume = consume, .ident = th_ident_test()};
    events_sub *sub = NULL;
    if (events_sub_start(&sc, &sub, err, sizeof err) != CF_OK) {
        fprintf(stderr, "subscriber: %s\n", err);
        return 1;
    }
    usleep(300000); /* connections up */

    db_conn *c = db_conn_new(pub->dsn, "benchev", NULL, 0);
    int64_t t0 = cf_mono_ns();
    batch bt;
    for (int64_t i = 0; i < total; i += PER_TX) {
        bt.first = i;
        if (db_tx(c, write_body, &bt) != CF_OK) {
            fprintf(stderr, "write failed\n");
            return 1;
        }
        int64_t now = cf_mono_ns();
        for (int k = 0; k < PER_TX; k++)
            commit_ns[i + k] = now;
    }
    for (int i = 0; i < 6000 && atomic_load(&delivered) < total; i++)
        usleep(10000);
    double elapsed = (double)(cf_mono_ns() - t0) / 1e9;
    int64_t got = atomic_load(&delivered);

    int64_t *lat = xcalloc((size_t)total, sizeof *lat);
    size_t nl = 0;
    for (int64_t i = 0; i < total; i++)
        if (deliver_ns[i])
            lat[nl++] = deliver_ns[i] > commit_ns[i] ? deliver_ns[i] - commit_ns[i] : 0;
    double p50_us, p99_us;
    th_percentiles(lat, nl, &p50_us, &p99_us);
    events_sub_stats st;
    events_sub_stats_get(sub, &st);
    printf("| events (write → outbox → relay → bus → subscriber) | events | events/s | "
           "commit→delivery p50 (ms) | p99 (ms) | via Replay |\n");
    printf("|---|---|---|---|---|---|\n");
    printf("| one publisher, %d per transaction | %lld | %.0f | %.2f | %.2f | %llu |\n", PER_TX,
           (long long)got, (double)got / elapsed, p50_us / 1e3, p99_us / 1e3,
           (unsigned long long)st.replayed);

    events_sub_stop(sub);
    db_conn_free(c);
    th_service_stop(pub);
    kill(bus, SIGKILL);
    waitpid(bus, NULL, 0);
    unlink(r + strlen("CONFETTI_RPC_LISTEN=ipc://"));
    free((char *)m[0].sql);
    free(lat);
    free(commit_ns);
    free(deliver_ns);
    return got == total ? 0 : 1;
}
