/* bench_draw.c — confetti-draw's DrawWinners, end to end over RPC on the private PostgreSQL:
 * p50/p99 of one winner among 10,000 and among 1,000,000 eligible participants, and the
 * throughput of 32 concurrent callers drawing from one hot prize. Baselines in the same run:
 * GetPrize (RPC + rooms permission check + point SELECT) and the bare allocation transaction
 * through libpq (guarded UPDATE + INSERT + COMMIT, STACK.md's "draw transaction" floor).
 * rooms.v1 is fake_rooms (tests/integration/draw): a real nng server answering from a table,
 * because confetti_rooms_lib was still in progress — the numbers include real RPC round trips
 * to it (ListEligibleParticipants pages of 10,000) but not rooms' own SQL.
 * Usage: bench_draw [seconds-per-cell]   (default 2; needs CONFETTI_TEST_PG, see run.sh) */
#include "th.h"
#include "pg.h"
#include "service.h"
#include "tokens.h"
#include "fake_rooms.h"
#include "draw.h"
#include "base/clock.h"
#include "base/log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static th_service *svc;
static ProtobufCService *draw;
static char *tok;

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static char *create_prize(const char *room, int quantity)
{
    Draw__V1__CreatePrizeRequest req = DRAW__V1__CREATE_PRIZE_REQUEST__INIT;
    req.room_id = (char *)room;
    req.name = "bench";
    req.quantity = quantity;
    rpc_ccall cc;
    rpc_ccall_init(&cc, NULL);
    rpc_ccall_md(&cc, "authorization", tok);
    draw__v1__draw__create_prize(draw, &req, NULL, &cc);
    if (cc.code != CF_OK) {
        fprintf(stderr, "CreatePrize: %s %s\n", cf_code_name(cc.code), cc.message);
        exit(1);
    }
    char *id = strdup(((const Draw__V1__Prize *)cc.response)->prize_id);
    rpc_ccall_free(&cc);
    return id;
}

static cf_code draw_one(const char *room, const char *prize)
{
    Draw__V1__DrawWinnersRequest req = DRAW__V1__DRAW_WINNERS_REQUEST__INIT;
    req.room_id = (char *)room;
    req.prize_id = (char *)prize;
    req.count = 1;
    rpc_ccall cc;
    rpc_ccall_init(&cc, NULL);
    cc.timeout_ms = 60000;
    rpc_ccall_md(&cc, "authorization", tok);
    draw__v1__draw__draw_winners(draw, &req, NULL, &cc);
    cf_code code = cc.code;
    if (code != CF_OK)
        fprintf(stderr, "DrawWinners: %s %s\n", cf_code_name(code), cc.message);
    rpc_ccall_free(&cc);
    return code;
}

static cf_code get_prize(const char *room, const char *prize)
{
    Draw__V1__GetPrizeRequest req = DRAW__V1__GET_PRIZE_REQUEST__INIT;
    req.room_id = (char *)room;
    req.prize_id = (char *)prize;
    rpc_ccall cc;
    rpc_ccall_init(&cc, NULL);
    rpc_ccall_md(&cc, "authorization", tok);
    draw__v1__draw__get_prize(draw, &req, NULL, &cc);
    cf_code code = cc.code;
    rpc_ccall_free(&cc);
    return code;
}

typedef cf_code (*op_fn)(const char *room, const char *prize);

/* Runs op serially for secs (at least min_n times, at most max_n) and prints a table row. */
static void latency_row(const char *what, op_fn op, const char *room, const char *prize,
                        double secs, int min_n, int max_n)
{
    int64_t *lat = malloc((size_t)max_n * sizeof *lat);
    int n = 0, errors = 0;
    int64_t start = cf_mono_ns(), end = start + (int64_t)(secs * 1e9);
    while (n < max_n && (n < min_n || cf_mono_ns() < end)) {
        int64_t t0 = cf_mono_ns();
        if (op(room, prize) != CF_OK)
            errors++;
        lat[n++] = cf_mono_ns() - t0;
    }
    qsort(lat, (size_t)n, sizeof *lat, cmp_i64);
    printf("| %s | 1 | %d | %.3f | %.3f | %.0f | %d |\n", what, n, lat[n / 2] / 1e6,
           lat[(size_t)(n * 0.99) < (size_t)n ? (size_t)(n * 0.99) : (size_t)n - 1] / 1e6,
           n / ((cf_mono_ns() - start) / 1e9), errors);
    free(lat);
}

typedef struct hot {
    const char *room, *prize;
    int64_t end;
    atomic_int done, errors;
    int64_t lat[32][20000];
    int nlat[32];
    atomic_int next;
} hot;

static void *hot_worker(void *arg)
{
    hot *h = arg;
    int me = atomic_fetch_add(&h->next, 1);
    while (cf_mono_ns() < h->end && h->nlat[me] < 20000) {
        int64_t t0 = cf_mono_ns();
        if (draw_one(h->room, h->prize) == CF_OK)
            atomic_fetch_add(&h->done, 1);
        else
            atomic_fetch_add(&h->errors, 1);
        h->lat[me][h->nlat[me]++] = cf_mono_ns() - t0;
    }
    return NULL;
}

static void hot_row(const char *room, const char *prize, double secs)
{
    enum { CALLERS = 32 };
    hot *h = calloc(1, sizeof *h);
    h->room = room, h->prize = prize;
    int64_t start = cf_mono_ns();
    h->end = start + (int64_t)(secs * 1e9);
    pthread_t t[CALLERS];
    for (int i = 0; i < CALLERS; i++)
        pthread_create(&t[i], NULL, hot_worker, h);
    for (int i = 0; i < CALLERS; i++)
        pthread_join(t[i], NULL);
    double el = (cf_mono_ns() - start) / 1e9;
    size_t n = 0;
    int64_t *all = malloc(sizeof h->lat);
    for (int i = 0; i < CALLERS; i++)
        for (int j = 0; j < h->nlat[i]; j++)
            all[n++] = h->lat[i][j];
    qsort(all, n, sizeof *all, cmp_i64);
    printf("| DrawWinners, 1 among 10,000, one hot prize | %d | %zu | %.3f | %.3f | %.0f | %d |\n",
           CALLERS, n, all[n / 2] / 1e6, all[n * 99 / 100] / 1e6, atomic_load(&h->done) / el,
           atomic_load(&h->errors));
    free(all);
    free(h);
}

/* The floor: the allocation transaction alone, through libpq on a unix socket or TCP as the
 * harness DSN says, with no RPC and no selection. */
static void floor_row(const char *dsn, const char *prize, double secs)
{
    PGconn *pg = PQconnectdb(dsn);
    PQexec(pg, "SET search_path = draw");
    PGresult *r =
        PQprepare(pg, "g",
                  "UPDATE prizes SET quantity_remaining = quantity_remaining - 1 "
                  "WHERE id = $1 AND quantity_remaining >= 1 RETURNING quantity_remaining",
                  1, NULL);
    PQclear(r);
    int64_t lat[200000];
    int n = 0;
    int64_t start = cf_mono_ns(), end = start + (int64_t)(secs * 1e9);
    const char *p[] = {prize};
    while (cf_mono_ns() < end && n < 200000) {
        int64_t t0 = cf_mono_ns();
        PQclear(PQexec(pg, "BEGIN"));
        PQclear(PQexecPrepared(pg, "g", 1, p, NULL, NULL, 0));
        PQclear(PQexec(pg,
                       "INSERT INTO room_draw_counters VALUES ('floor', 1) ON CONFLICT "
                       "(room_id) DO UPDATE SET last_number = room_draw_counters.last_number + 1"));
        PQclear(PQexec(pg, "ROLLBACK")); /* keep the prize stocked; commit costs are similar */
        lat[n++] = cf_mono_ns() - t0;
    }
    qsort(lat, (size_t)n, sizeof *lat, cmp_i64);
    printf(
        "| baseline: guarded UPDATE + upsert, libpq, no RPC | 1 | %d | %.3f | %.3f | %.0f | 0 |\n",
        n, lat[n / 2] / 1e6, lat[n * 99 / 100] / 1e6, n / ((cf_mono_ns() - start) / 1e9));
    PQfinish(pg);
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 2;
    if (secs <= 0)
        secs = 2;
    log_setup("bench", LOG_ERROR);
    setenv("CONFETTI_TEST_LOG", "error", 0); /* the service under test logs errors only */
    th_keys *keys = th_keys_new("RS256");
    authn_verifier *v = th_verifier_new(keys, NULL);
    fake_rooms *rooms = fake_rooms_start(v);
    char addr[160];
    snprintf(addr, sizeof addr, "CONFETTI_ROOMS_ADDRESS=%s", fake_rooms_url(rooms));
    const char *env[] = {addr, "CONFETTI_ROOMS_TIMEOUT=30s", NULL};
    svc = th_service_start(draw_service_def(), &(th_service_opts){.keys = keys, .env = env});
    draw = rpc_client_service(svc->client, &draw__v1__draw__descriptor);
    char *t = th_token(keys, "org-1", 3600, false);
    tok = malloc(strlen(t) + 8);
    sprintf(tok, "Bearer %s", t);
    free(t);
    fake_rooms_add(rooms, "r10k", ROOMS__V1__ROOM_STATUS__ACTIVE, true,
                   ROOMS__V1__DRAW_POLICY__ONE_WIN_PER_PRIZE, 10000);
    fake_rooms_add(rooms, "r1m", ROOMS__V1__ROOM_STATUS__ACTIVE, true,
                   ROOMS__V1__DRAW_POLICY__ONE_WIN_PER_PRIZE, 1000000);
    fake_rooms_member(rooms, "r10k", "org-1", ROOMS__V1__ROLE__ORGANIZER);
    fake_rooms_member(rooms, "r1m", "org-1", ROOMS__V1__ROLE__ORGANIZER);
    char *p10k = create_prize("r10k", 1000000), *p1m = create_prize("r1m", 1000000);
    char *hotp = create_prize("r10k", 1000000);

    char load[64] = "?";
    FILE *la = fopen("/proc/loadavg", "r");
    if (la) {
        if (!fgets(load, sizeof load, la))
            load[0] = '\0';
        fclose(la);
        load[strcspn(load, "\n")] = '\0';
    }
    printf("## draw: DrawWinners end to end (rooms = in-test fake over real nng; load %s)\n\n",
           load);
    printf("| what | callers | calls | p50 ms | p99 ms | calls/s | errors |\n");
    printf("|---|---:|---:|---:|---:|---:|---:|\n");
    floor_row(svc->dsn, p10k, secs / 2);
    latency_row("baseline: GetPrize (RPC + rooms check + SELECT)", get_prize, "r10k", p10k,
                secs / 2, 50, 100000);
    latency_row("DrawWinners, 1 among 10,000", draw_one, "r10k", p10k, secs, 30, 100000);
    latency_row("DrawWinners, 1 among 1,000,000", draw_one, "r1m", p1m, secs, 5, 1000);
    hot_row("r10k", hotp, secs);
    printf("\n");
    th_service_stop(svc);
    fake_rooms_stop(rooms);
    authn_verifier_free(v);
    th_keys_free(keys);
    free(tok), free(p10k), free(p1m), free(hotp);
    return 0;
}
