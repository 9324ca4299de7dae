/* bench_draw.c — confetti-draw's DrawWinners, end to end over RPC on the private PostgreSQL,
 * against the real confetti-rooms (both in-process; rooms' tables seeded with SQL): p50/p99 of
 * one winner among 10,000 and among 1,000,000 eligible participants, with the eligible list
 * cache (draws after the first reuse the list while rooms' stamp is unchanged) and without it
 * (a second draw service with draw.eligible_cache_ids = 0: every draw reads the whole list from
 * rooms), and the throughput of 32 concurrent callers drawing from one hot prize; the same on a
 * prize with 5,000 past draws (seeded), where the prize's exclusion list matters. Baselines in
 * the same run: GetPrize (RPC + rooms permission check + point SELECT) and the bare allocation
 * transaction through libpq (guarded UPDATE + upsert, STACK.md's "draw transaction" floor).
 * Built with -DBENCH_DRAW_OLD it skips the cache-off rows (to measure a tree without the cache).
 * Usage: bench_draw [seconds-per-cell]   (default 2; needs CONFETTI_TEST_PG, see run.sh) */
#include "th.h"
#include "pg.h"
#include "bench.h"
#include "service.h"
#include "tokens.h"
#include "testsvc.h"
#include "draw.h"
#include "rooms.h"
#include "base/clock.h"
#include "base/log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static th_service *svc;
static ProtobufCService *draw;
#ifndef BENCH_DRAW_OLD
static ProtobufCService *draw_nocache;
#endif
static char *tok;

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

static cf_code draw_with(ProtobufCService *d, const char *room, const char *prize)
{
    Draw__V1__DrawWinnersRequest req = DRAW__V1__DRAW_WINNERS_REQUEST__INIT;
    req.room_id = (char *)room;
    req.prize_id = (char *)prize;
    req.count = 1;
    rpc_ccall cc;
    rpc_ccall_init(&cc, NULL);
    cc.timeout_ms = 60000;
    rpc_ccall_md(&cc, "authorization", tok);
    draw__v1__draw__draw_winners(d, &req, NULL, &cc);
    cf_code code = cc.code;
    if (code != CF_OK)
        fprintf(stderr, "DrawWinners: %s %s\n", cf_code_name(code), cc.message);
    rpc_ccall_free(&cc);
    return code;
}

static cf_code draw_one(const char *room, const char *prize)
{
    return draw_with(draw, room, prize);
}

#ifndef BENCH_DRAW_OLD
static cf_code draw_one_nocache(const char *room, const char *prize)
{
    return draw_with(draw_nocache, room, prize);
}
#endif

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
    double p50, p99;
    th_percentiles(lat, (size_t)n, &p50, &p99);
    printf("| %s | 1 | %d | %.3f | %.3f | %.0f | %d |\n", what, n, p50 / 1e3, p99 / 1e3,
           n / ((cf_mono_ns() - start) / 1e9), errors);
    free(lat);
}

typedef struct hot {
    const char *room, *prize;
    int64_t end;
    int budget; /* most draws in all (the room has only so many possible winners per prize) */
    atomic_int done, errors;
    int64_t lat[32][20000];
    int nlat[32];
    atomic_int next;
} hot;

static void *hot_worker(void *arg)
{
    hot *h = arg;
    int me = atomic_fetch_add(&h->next, 1);
    while (cf_mono_ns() < h->end && h->nlat[me] < 20000 &&
           atomic_load(&h->done) + atomic_load(&h->errors) < h->budget) {
        int64_t t0 = cf_mono_ns();
        if (draw_one(h->room, h->prize) == CF_OK)
            atomic_fetch_add(&h->done, 1);
        else
            atomic_fetch_add(&h->errors, 1);
        h->lat[me][h->nlat[me]++] = cf_mono_ns() - t0;
    }
    return NULL;
}

static void hot_row(const char *what, const char *room, const char *prize, double secs, int budget)
{
    enum { CALLERS = 32 };
    hot *h = calloc(1, sizeof *h);
    h->room = room, h->prize = prize, h->budget = budget;
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
    double p50, p99;
    th_percentiles(all, n, &p50, &p99);
    printf("| %s | %d | %zu | %.3f | %.3f | %.0f | %d |\n", what, CALLERS, n, p50 / 1e3, p99 / 1e3,
           atomic_load(&h->done) / el, atomic_load(&h->errors));
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
    double p50, p99;
    th_percentiles(lat, (size_t)n, &p50, &p99);
    printf(
        "| baseline: guarded UPDATE + upsert, libpq, no RPC | 1 | %d | %.3f | %.3f | %.0f | 0 |\n",
        n, p50 / 1e3, p99 / 1e3, n / ((cf_mono_ns() - start) / 1e9));
    PQfinish(pg);
}

/* rooms' data, written straight into its tables: two ACTIVE public rooms organized by org-1,
 * with n PARTICIPANTs "p%09d" / users "u%09d" (bytewise order = numeric order). */
static void seed_rooms(const char *dsn)
{
    static const char *const sql[] = {
        "SET search_path = rooms",
        "INSERT INTO rooms (id, name, status, is_public, created_by) VALUES "
        "('r10k', 'bench 10k', 'ACTIVE', true, 'org-1'), "
        "('r1m', 'bench 1m', 'ACTIVE', true, 'org-1')",
        "INSERT INTO participants (id, room_id, user_id, role) VALUES "
        "('org-r10k', 'r10k', 'org-1', 'ORGANIZER'), ('org-r1m', 'r1m', 'org-1', 'ORGANIZER')",
        "INSERT INTO participants (id, room_id, user_id, role) SELECT "
        "'p' || lpad(g::text, 9, '0'), 'r10k', 'u' || lpad(g::text, 9, '0'), 'PARTICIPANT' "
        "FROM generate_series(0, 9999) g",
        "INSERT INTO participants (id, room_id, user_id, role) SELECT "
        "'q' || lpad(g::text, 9, '0'), 'r1m', 'v' || lpad(g::text, 9, '0'), 'PARTICIPANT' "
        "FROM generate_series(0, 999999) g",
        "ANALYZE participants",
    };
    PGconn *pg = PQconnectdb(dsn);
    for (size_t i = 0; i < sizeof sql / sizeof *sql; i++) {
        PGresult *r = PQexec(pg, sql[i]);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            fprintf(stderr, "seeding rooms: %s", PQerrorMessage(pg));
            exit(1);
        }
        PQclear(r);
    }
    PQfinish(pg);
}

/* 5,000 past draws of one winner each on `prize` of r10k (participants 0, 2, 4, ...), written
 * straight into draw's tables before any other draw in r10k (numbers 1..5,000), as the draws
 * themselves would have left them. */
static void seed_past_draws(const char *dsn, const char *prize)
{
    static const char *const sql[] = {
        "SET search_path = draw",
        "INSERT INTO draws (id, room_id, prize_id, draw_number, algorithm, seed, eligible_digest, "
        "eligible_count, count, winner_participant_ids, drawn_by) SELECT 'seed-' || g, 'r10k', $1, "
        "g, 'seed', '', '', 10001 - g, 1, ARRAY['p' || lpad((2 * g - 2)::text, 9, '0')], 'org-1' "
        "FROM generate_series(1, 5000) g",
        "INSERT INTO winners (id, room_id, prize_id, participant_id, user_id, draw_id) SELECT "
        "'seedw-' || g, 'r10k', $1, 'p' || lpad((2 * g - 2)::text, 9, '0'), "
        "'u' || lpad((2 * g - 2)::text, 9, '0'), 'seed-' || g FROM generate_series(1, 5000) g",
        "INSERT INTO room_draw_counters VALUES ('r10k', 5000)",
        "UPDATE prizes SET quantity_remaining = quantity_remaining - 5000 WHERE id = $1",
        "ANALYZE draws, winners",
    };
    PGconn *pg = PQconnectdb(dsn);
    const char *p[] = {prize};
    for (size_t i = 0; i < sizeof sql / sizeof *sql; i++) {
        bool param = strstr(sql[i], "$1") != NULL;
        PGresult *r =
            PQexecParams(pg, sql[i], param ? 1 : 0, NULL, param ? p : NULL, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            fprintf(stderr, "seeding draws: %s", PQerrorMessage(pg));
            exit(1);
        }
        PQclear(r);
    }
    PQfinish(pg);
}

/* A draw service using rooms_url; dsn NULL = a fresh database, else that one (shared). */
static th_service *start_draw(th_keys *keys, const char *rooms_url, const char *dsn,
                              const char *cache_ids)
{
    char addr[160], cache[80] = "";
    snprintf(addr, sizeof addr, "CONFETTI_ROOMS_URLS=%s", rooms_url);
    if (cache_ids)
        snprintf(cache, sizeof cache, "CONFETTI_DRAW_ELIGIBLE_CACHE_IDS=%s", cache_ids);
    const char *env[] = {addr, "CONFETTI_ROOMS_TIMEOUT=30s", cache_ids ? cache : NULL, NULL};
    return th_service_start(draw_service_def(),
                            &(th_service_opts){.keys = keys, .env = env, .dsn = dsn});
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 2;
    if (secs <= 0)
        secs = 2;
    log_setup("bench", LOG_ERROR);
    setenv("CONFETTI_TEST_LOG", "error", 0); /* the services under test log errors only */
    th_keys *keys = th_keys_new("RS256");
    char cat[128], caddr[160];
    th_ipc_url(cat, sizeof cat, "nocatalog"); /* rooms without apps never call catalog */
    snprintf(caddr, sizeof caddr, "CONFETTI_CATALOG_URLS=%s", cat);
    const char *renv[] = {caddr, NULL};
    th_service *rooms =
        th_service_start(rooms_service_def(), &(th_service_opts){.keys = keys, .env = renv});
    seed_rooms(rooms->dsn);
    svc = start_draw(keys, rooms->url, NULL, NULL);
    draw = rpc_client_service(svc->client, &draw__v1__draw__descriptor);
#ifndef BENCH_DRAW_OLD
    th_service *svc2 = start_draw(keys, rooms->url, svc->dsn, "0"); /* same prizes */
    draw_nocache = rpc_client_service(svc2->client, &draw__v1__draw__descriptor);
#endif
    char *t = th_token(keys, "org-1", 3600, false);
    tok = malloc(strlen(t) + 8);
    sprintf(tok, "Bearer %s", t);
    free(t);
    char *p10k = create_prize("r10k", 1000000), *p1m = create_prize("r1m", 1000000);
    char *hotp = create_prize("r10k", 1000000), *p5k = create_prize("r10k", 1000000);
    seed_past_draws(svc->dsn, p5k);

    char load[64] = "?";
    FILE *la = fopen("/proc/loadavg", "r");
    if (la) {
        if (!fgets(load, sizeof load, la))
            load[0] = '\0';
        fclose(la);
        load[strcspn(load, "\n")] = '\0';
    }
    printf("## draw: DrawWinners end to end (real rooms over nng ipc; load %s)\n\n", load);
    printf("| what | callers | calls | p50 ms | p99 ms | calls/s | errors |\n");
    printf("|---|---:|---:|---:|---:|---:|---:|\n");
    floor_row(svc->dsn, p10k, secs / 2);
    latency_row("baseline: GetPrize (RPC + rooms check + SELECT)", get_prize, "r10k", p10k,
                secs / 2, 50, 100000);
    latency_row("DrawWinners, 1 among 10,000", draw_one, "r10k", p10k, secs, 30, 100000);
#ifndef BENCH_DRAW_OLD
    latency_row("DrawWinners, 1 among 10,000, no cache", draw_one_nocache, "r10k", p10k, secs, 30,
                100000);
#endif
    latency_row("DrawWinners, 1 among 1,000,000", draw_one, "r1m", p1m, secs, 5, 1000);
#ifndef BENCH_DRAW_OLD
    latency_row("DrawWinners, 1 among 1,000,000, no cache", draw_one_nocache, "r1m", p1m, secs, 5,
                1000);
#endif
    /* p5k has 5,000 possible winners left: at most 2,000 here and 2,500 below, so that no call
     * fails for want of eligible participants (that would measure the refusal, not a draw) */
    latency_row("DrawWinners, 1 among 10,000 after 5,000 draws on the prize", draw_one, "r10k", p5k,
                secs, 30, 2000);
    hot_row("DrawWinners, 1 among 10,000, one hot prize", "r10k", hotp, secs, 9000);
    hot_row("DrawWinners, 1 among 10,000 after 5,000+ draws on the prize (at most 2,500)", "r10k",
            p5k, secs, 2500);
    printf("\n");
#ifndef BENCH_DRAW_OLD
    th_service_stop(svc2);
#endif
    th_service_stop(svc);
    th_service_stop(rooms);
    th_keys_free(keys);
    free(tok), free(p10k), free(p1m), free(hotp), free(p5k);
    return 0;
}
