/* bench_rooms.c — confetti-rooms through real RPC on the private PostgreSQL, on data made by
 * tools/seed (confetti-seed-rooms, COPY): ListRooms (20 items) and CheckPermission p50/p99 and
 * calls/s at 1 and 32 callers, the hot room (10,000 participants) included, with
 * health.v1.Health/Check on the same server in the same run as the baseline.
 *
 * Each cell is measured twice: by the callers (the RPC round trip: client, nng ipc, server) and
 * at the service (its own confetti_rpc_request_duration_seconds histogram, from receiving the
 * request to its reply packed, read before and after the cell: p50/p99 interpolated inside the
 * buckets …100, 250, 500, 1000 µs…, and the share of calls within 250 µs and 1 ms).
 *
 * Seed size: 100,000 rooms / 1,000,000 participants by default (about 15 s of seeding);
 * BENCH_ROOMS_SCALE=full seeds issue 17's 1,000,000 rooms / 10,000,000 participants (minutes);
 * BENCH_ROOMS_ROOMS / BENCH_ROOMS_PARTICIPANTS set any other size (they win over the scale).
 * BENCH_ROOMS_N=<rooms> seeds that many rooms and ten times as many participants
 * (issue 18 item 4: the search rows at a size a loaded machine can seed). BENCH_ROOMS_ONLY=
 * search runs the baseline and the ListRooms?q= rows only, then says what each q= row ranked
 * (its matches, its first page, searchTruncated); BENCH_ROOMS_MAX_RANKED sets rooms'
 * search.max_ranked (default 1000). BENCH_ROOMS_KEEP=1 keeps the seed in a database named by
 * its size and uses it again next time (seed while the machine is busy, measure when it is
 * quiet); with BENCH_ROOMS_SEED_ONLY=1 as well it only seeds.
 * Usage: bench_rooms [seconds-per-cell]   (default 2) */
#include "th.h"
#include "th_histo.h"
#include "pg.h"
#include "service.h"
#include "testsvc.h"
#include "th_ident.h"
#include "bench.h"
#include "th_ident.h"
#include "rooms.h"
#include "health/v1/health.pb-c.h"
#include "base/clock.h"
#include "base/xmalloc.h"

#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

typedef struct cell {
    const ProtobufCServiceDescriptor *svc;
    const char *method;
    const char *label;
    const ProtobufCMessage *req;
    const char *bearer;
    bool as_draw;       /* called with the draw service's identity */
    const char *target; /* issue 17's bound on the p99 at the service, or "" */
} cell;

/* Calls that failed in any cell: a table of refusals is no measurement (the bench exits 1). */
static size_t failed_calls;

static void measure(rpc_client *client, metrics *mx, const cell *c, int callers, double secs)
{
    th_bench_call call = {.svc = c->svc, .method = c->method, .req = c->req, .bearer = c->bearer};
    char full[160];
    snprintf(full, sizeof full, "%s/%s", c->svc->name, c->method);
    th_histo before, after;
    th_histo_read(mx, full, &before);
    th_bench_result r = th_bench_rpc(client, &call, callers, secs);
    th_histo_read(mx, full, &after);
    double s50 = th_histo_quantile_us(&before, &after, 0.5),
           s99 = th_histo_quantile_us(&before, &after, 0.99),
           w250 = th_histo_share_within(&before, &after, 0.00025),
           w1000 = th_histo_share_within(&before, &after, 0.001);
    printf("| %-44s | %7d | %7.0f | %7.0f | %8.0f | %6zu | %7.0f | %7.0f | %6.2f %% | %6.2f %% | "
           "%-7s |\n",
           c->label, callers, r.p50_us, r.p99_us, r.per_s, r.errors, s50, s99, w250 * 100,
           w1000 * 100, callers == 1 ? c->target : "");
    fflush(stdout);
    failed_calls += r.errors;
}

/* What one search cell ranks, asked once before it is measured: the rooms whose text matches q
 * (every room, by SQL: visibility and the cap aside), what the first page holds, and whether the
 * answer says searchTruncated (more visible matches than search.max_ranked). */
static void probe_search(rpc_client *client, PGconn *pg, const cell *c)
{
    const Rooms__V1__ListRoomsRequest *req = (const Rooms__V1__ListRoomsRequest *)c->req;
    const char *pv[] = {req->q};
    PGresult *r = PQexecParams(pg,
                               "SELECT count(*) FROM rooms.rooms WHERE deleted_at IS NULL AND "
                               "search @@ websearch_to_tsquery('simple', $1)",
                               1, NULL, pv, NULL, NULL, 0);
    const char *matches = PQresultStatus(r) == PGRES_TUPLES_OK ? PQgetvalue(r, 0, 0) : "?";
    rpc_ccall cc;
    rpc_ccall_init(&cc, NULL);
    if (c->bearer)
        rpc_ccall_md(&cc, "authorization", c->bearer);
    const ProtobufCMethodDescriptor *m =
        protobuf_c_service_descriptor_get_method_by_name(c->svc, c->method);
    rpc_client_invoke(client, c->svc, (unsigned)(m - c->svc->methods), c->req, &cc);
    const Rooms__V1__ListRoomsResponse *resp = (const Rooms__V1__ListRoomsResponse *)cc.response;
    if (cc.code == CF_OK && resp)
        printf("| %-44s | %9s | %8zu | %-9s |\n", c->label, matches, resp->n_rooms,
               resp->search_truncated ? "true" : "false");
    else
        printf("| %-44s | %9s | %8s | %-9s |\n", c->label, matches, "error", cf_code_name(cc.code));
    failed_calls += cc.code != CF_OK;
    rpc_ccall_free(&cc);
    PQclear(r);
}

static int seed(const char *dsn, const char *rooms, const char *parts)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return -1;
    self[n] = '\0';
    char *tool = xasprintf("%s/../seed/confetti-seed-rooms", dirname(self));
    char *argv[] = {tool,          "--dsn", (char *)dsn, "--rooms", (char *)rooms, "--participants",
                    (char *)parts, "--hot", "10000",     NULL};
    pid_t pid;
    int st = -1;
    if (posix_spawn(&pid, tool, NULL, NULL, argv, environ) == 0)
        waitpid(pid, &st, 0);
    free(tool);
    return st == 0 ? 0 : -1;
}

/* The marker of a whole kept seed (BENCH_ROOMS_KEEP). */
static bool kept_seed_ok(const char *dsn)
{
    PGconn *pg = th_pg_connect(dsn);
    PGresult *r = PQexec(pg, "SELECT 1 FROM public.bench_rooms_seeded");
    bool ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
    PQclear(r);
    PQfinish(pg);
    return ok;
}

static void kept_seed_mark(const char *dsn)
{
    PGconn *pg = th_pg_connect(dsn);
    PGresult *r = PQexec(pg, "CREATE TABLE public.bench_rooms_seeded AS SELECT 1 AS done");
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fprintf(stderr, "bench_rooms: marking the kept seed: %s", PQerrorMessage(pg));
    PQclear(r);
    PQfinish(pg);
}

static char *bearer_for(th_keys *keys, const char *sub)
{
    char *tok = th_token(keys, sub, 3600, false);
    char *b = xasprintf("Bearer %s", tok);
    free(tok);
    return b;
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 2;
    if (secs <= 0)
        secs = 2;
    const char *scale = getenv("BENCH_ROOMS_SCALE");
    bool full = scale && strcmp(scale, "full") == 0;
    const char *nrooms = full ? "1000000" : "100000", *nparts = full ? "10000000" : "1000000";
    const char *n_env = getenv("BENCH_ROOMS_N");
    char n_buf[32], p_buf[32];
    if (n_env && atol(n_env) >= 100) {
        snprintf(n_buf, sizeof n_buf, "%ld", atol(n_env));
        snprintf(p_buf, sizeof p_buf, "%ld", atol(n_env) * 10);
        nrooms = n_buf;
        nparts = p_buf;
    }
    const char *only = getenv("BENCH_ROOMS_ONLY");
    /* rooms' search.max_ranked (docs/rooms.md, "Search"): the service's default unless set */
    const char *max_ranked = getenv("BENCH_ROOMS_MAX_RANKED");
    if (!max_ranked || !*max_ranked)
        max_ranked = "1000";
    bool only_search = only && strcmp(only, "search") == 0;
    if (getenv("BENCH_ROOMS_ROOMS") && *getenv("BENCH_ROOMS_ROOMS"))
        nrooms = getenv("BENCH_ROOMS_ROOMS");
    if (getenv("BENCH_ROOMS_PARTICIPANTS") && *getenv("BENCH_ROOMS_PARTICIPANTS"))
        nparts = getenv("BENCH_ROOMS_PARTICIPANTS");
    /* BENCH_ROOMS_KEEP=1: the seed stays in a database named by its size and is used again by
     * the next run of the same size (seed once while the machine is busy, measure later when it
     * is quiet); a marker table written after a whole seed tells a kept seed from a broken one.
     * The rows measured only read. */
    bool keep = getenv("BENCH_ROOMS_KEEP") && strcmp(getenv("BENCH_ROOMS_KEEP"), "1") == 0;
    char *dsn;
    bool seeded = false;
    if (keep) {
        char name[96];
        snprintf(name, sizeof name, "bench_rooms_keep_%.30s_%.30s", nrooms, nparts);
        bool created;
        dsn = th_pg_kept_db(name, &created);
        seeded = !created && kept_seed_ok(dsn);
        if (!created && !seeded) { /* a seed that did not finish: start again */
            th_pg_drop_db(dsn);
            free(dsn);
            dsn = th_pg_kept_db(name, &created);
        }
    } else {
        dsn = th_pg_fresh_db("bench_rooms");
    }
    int64_t t0 = cf_mono_ns();
    if (!seeded && seed(dsn, nrooms, nparts) != 0) {
        fprintf(stderr, "bench_rooms: seeding failed\n");
        return 1;
    }
    double seed_s = seeded ? 0 : (double)(cf_mono_ns() - t0) / 1e9;
    if (keep && !seeded)
        kept_seed_mark(dsn);
    if (keep && getenv("BENCH_ROOMS_SEED_ONLY")) {
        printf("bench_rooms: %s rooms / %s participants %s (BENCH_ROOMS_SEED_ONLY)\n", nrooms,
               nparts, seeded ? "were kept already" : "seeded and kept");
        free(dsn);
        return 0;
    }
    if (seeded)
        printf("bench_rooms: the kept seed of %s rooms / %s participants (BENCH_ROOMS_KEEP=1)\n",
               nrooms, nparts);

    th_keys *keys = th_keys_new("RS256");
    char url[128], jwks[128], cat[128];
    th_ipc_url(url, sizeof url, "benchrooms");
    th_ipc_url(cat, sizeof cat, "nocatalog"); /* no method measured here calls catalog */
    snprintf(jwks, sizeof jwks, "/tmp/confetti-bench-jwks-%d.json", (int)getpid());
    FILE *f = fopen(jwks, "w");
    fputs(th_keys_jwks(keys), f);
    fclose(f);
    char *env[] = {xasprintf("CONFETTI_DB_DSN=%s", dsn),
                   xasprintf("CONFETTI_RPC_LISTEN=%s", url),
                   xasprintf("CONFETTI_ADMIN_LISTEN=http://127.0.0.1:%d", th_free_port()),
                   xasprintf("CONFETTI_AUTH_JWKS_FILE=%s", jwks),
                   xasprintf("CONFETTI_AUTH_ISSUER=%s", TH_ISSUER),
                   xasprintf("CONFETTI_AUTH_AUDIENCE=%s", TH_AUDIENCE),
                   xasprintf("CONFETTI_CATALOG_URLS=%s", cat),
                   xasprintf("CONFETTI_LOG_LEVEL=warn"),
                   xasprintf("CONFETTI_EVENTS_SUBSCRIBE="), /* no auth events to follow here */
                   xasprintf("CONFETTI_SEARCH_MAX_RANKED=%s", max_ranked),
                   NULL,
                   NULL,
                   NULL,
                   NULL,
                   NULL};
    size_t nenv = 10;
    th_ident_env("rooms", env, &nenv); /* service identity: callers are checked (SPEC §9) */
    svc_runtime *rt;
    char err[512];
    if (svc_start(rooms_service_def(), &(svc_options){.env = env}, &rt, err, sizeof err) != CF_OK) {
        fprintf(stderr, "rooms did not start: %s\n", err);
        return 1;
    }
    for (char **e = env; *e; e++)
        free(*e);
    const char *u = url;
    rpc_client *client = th_client(&u, 1, 5000); /* as the operator "test" */
    /* ListEligibleParticipants answers the draw service only (docs/operations.md, "What each
     * service may call") */
    rpc_client *as_draw;
    rpc_client_config dcfg = {
        .urls = &u, .nurls = 1, .timeout_ms = 5000, .ident = th_ident("draw")};
    if (rpc_client_new(&dcfg, &as_draw, err, sizeof err) != CF_OK) {
        fprintf(stderr, "client: %s\n", err);
        return 1;
    }
    char *bench_user = bearer_for(keys, "bench-user"), *hot_member = bearer_for(keys, "hot-5"),
         *hot_org = bearer_for(keys, "hot-0"), *member = bearer_for(keys, "user-3");
    /* user-3 is a member of every seeded room but the hot one (the seed's round-robin): ~20 %
     * of them private, so ~200,000 private memberships at full scale */

    /* room 0 is the hot room; room 2 a public ACTIVE room where user-3 is a PARTICIPANT... the
     * seed's ids are deterministic (tools/seed/seed_rooms.c) */
    static const char hot_room[] = "c000000000000000000000000",
                      room2[] = "c000000000000000000000002";
    Health__V1__CheckRequest hreq = HEALTH__V1__CHECK_REQUEST__INIT;
    Rooms__V1__ListRoomsRequest lreq = ROOMS__V1__LIST_ROOMS_REQUEST__INIT;
    lreq.status = ROOMS__V1__ROOM_STATUS__ACTIVE;
    lreq.page_size = 20;
    Rooms__V1__ListRoomsRequest lall = ROOMS__V1__LIST_ROOMS_REQUEST__INIT;
    lall.page_size = 20;
    Rooms__V1__CheckPermissionRequest chot = ROOMS__V1__CHECK_PERMISSION_REQUEST__INIT;
    chot.room_id = (char *)hot_room;
    chot.action = ROOMS__V1__ACTION__MANAGE_PRIZES;
    Rooms__V1__CheckPermissionRequest cnorm = ROOMS__V1__CHECK_PERMISSION_REQUEST__INIT;
    cnorm.room_id = (char *)room2;
    cnorm.action = ROOMS__V1__ACTION__VIEW;
    Rooms__V1__GetRoomRequest ghot = ROOMS__V1__GET_ROOM_REQUEST__INIT;
    ghot.room_id = (char *)hot_room;
    Rooms__V1__ListEligibleParticipantsRequest ehot =
        ROOMS__V1__LIST_ELIGIBLE_PARTICIPANTS_REQUEST__INIT;
    ehot.room_id = (char *)hot_room;
    ehot.page_size = 100;
    /* ListRooms?q= over the seed's word lists (tools/seed/seed_rooms.c, room_text): from one
     * room to 1/16 of them, newest-first ties broken by id */
    Rooms__V1__ListRoomsRequest s_pair = ROOMS__V1__LIST_ROOMS_REQUEST__INIT;
    s_pair.page_size = 20;
    s_pair.q = "golden lantern";
    Rooms__V1__ListRoomsRequest s_one = s_pair;
    s_one.q = "4711"; /* a number: one room's name */
    Rooms__V1__ListRoomsRequest s_adj = s_pair;
    s_adj.q = "golden"; /* 1/64 of the rooms */
    Rooms__V1__ListRoomsRequest s_phrase = s_pair;
    s_phrase.q = "\"golden lantern\" -raffle";
    Rooms__V1__ListRoomsRequest s_kind = s_pair;
    s_kind.q = "raffle"; /* 1/16: more than max_ranked match */
    const ProtobufCServiceDescriptor *rooms_d = &rooms__v1__rooms__descriptor;
    const cell cells[] = {
        {&health__v1__health__descriptor, "Check", "Health/Check (baseline)", &hreq.base,
         bench_user, false, ""},
        {rooms_d, "ListRooms", "ListRooms status=ACTIVE, 20 (public+mine)", &lreq.base, bench_user,
         false, "<= 1000"},
        {rooms_d, "ListRooms", "ListRooms no filter, 20 (public+mine)", &lall.base, bench_user,
         false, "<= 1000"},
        {rooms_d, "ListRooms", "ListRooms status=ACTIVE, 20 (in every room)", &lreq.base, member,
         false, "<= 1000"},
        {rooms_d, "CheckPermission", "CheckPermission hot room, PARTICIPANT", &chot.base,
         hot_member, false, "<= 300"},
        {rooms_d, "CheckPermission", "CheckPermission hot room, ORGANIZER", &chot.base, hot_org,
         false, "<= 300"},
        {rooms_d, "CheckPermission", "CheckPermission ordinary room", &cnorm.base, member, false,
         "<= 300"},
        {rooms_d, "GetRoom", "GetRoom hot room", &ghot.base, hot_member, false, ""},
        {rooms_d, "ListEligibleParticipants", "ListEligibleParticipants hot, 100", &ehot.base,
         hot_org, true, ""},
    };
    const cell search_cells[] = {
        {&health__v1__health__descriptor, "Check", "Health/Check (baseline)", &hreq.base,
         bench_user, false, ""},
        {rooms_d, "ListRooms", "q=4711 (one room), 20", &s_one.base, bench_user, false, "<= 10000"},
        {rooms_d, "ListRooms", "q=golden lantern (1/4096), 20", &s_pair.base, bench_user, false,
         "<= 10000"},
        {rooms_d, "ListRooms", "q=golden lantern (1/4096), 20, anonymous", &s_pair.base, NULL,
         false, "<= 10000"},
        {rooms_d, "ListRooms", "q=\"golden lantern\" -raffle, 20", &s_phrase.base, bench_user,
         false, "<= 10000"},
        {rooms_d, "ListRooms", "q=golden lantern (1/4096), 20 (in every room)", &s_pair.base,
         member, false, "<= 10000"},
        {rooms_d, "ListRooms", "q=golden (1/64), 20", &s_adj.base, bench_user, false, "<= 10000"},
        {rooms_d, "ListRooms", "q=raffle (1/16: broad), 20", &s_kind.base, bench_user, false,
         "<= 10000"},
    };
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    double load[3] = {0};
    getloadavg(load, 3);
    printf("## rooms (real RPC over ipc, PostgreSQL, RS256 tokens; %s rooms, %s participants, hot "
           "room 10,000; seeded in %.0f s; %ld cores, load %.2f, %.0f s per cell)\n\n",
           nrooms, nparts, seed_s, cores, load[0], secs);
    printf(
        "| call                                         | callers | rt p50  | rt p99  | calls/s  "
        "| errors | svc p50 | svc p99 | svc<=250µs | svc<=1ms | target  |\n");
    printf("|----------------------------------------------|--------:|--------:|--------:|--------"
           "-:|-------:|--------:|--------:|---------:|---------:|---------|\n");
    int conc[] = {1, 32};
    metrics *mx = svc_metrics(rt);
    if (!only_search)
        for (size_t i = 0; i < sizeof cells / sizeof *cells; i++)
            for (size_t j = 0; j < 2; j++)
                measure(cells[i].as_draw ? as_draw : client, mx, &cells[i], conc[j], secs);
    for (size_t i = only_search ? 0 : 1; i < sizeof search_cells / sizeof *search_cells; i++)
        for (size_t j = 0; j < 2; j++)
            measure(client, mx, &search_cells[i], conc[j], secs);
    printf("\nWhat the q= rows ranked (search.max_ranked %s; one call each): matches = rooms whose "
           "text matches q (any visibility); page 1 = rooms in the first answer; truncated = its "
           "searchTruncated (more visible matches than max_ranked: the best of the first "
           "max_ranked were returned).\n\n",
           max_ranked);
    printf("| %-44s | %9s | %8s | %-9s |\n", "call", "matches", "page 1", "truncated");
    printf("|----------------------------------------------|----------:|---------:|-----------|\n");
    PGconn *pg = PQconnectdb(dsn);
    for (size_t i = 1; i < sizeof search_cells / sizeof *search_cells; i++)
        probe_search(client, pg, &search_cells[i]);
    PQfinish(pg);
    printf("\nµs throughout. rt: the caller's round trip (client, nng ipc, server, back). svc: at "
           "the service, its own request-duration histogram (receipt to reply packed), "
           "interpolated inside the buckets. Target: issue 17's bound on the p99 at the service, "
           "one caller. Check is the baseline: the same server, envelope, dispatch and token "
           "verification, no handler work. BENCH_ROOMS_SCALE=full seeds 1M rooms / 10M "
           "participants; BENCH_ROOMS_N any number of rooms. The q= rows: ListRooms?q= "
           "(docs/rooms.md, \"Search\").\n");
    rpc_client_free(client);
    rpc_client_free(as_draw);
    svc_stop(rt);
    unlink(jwks);
    free(bench_user);
    free(hot_member);
    free(hot_org);
    free(member);
    th_keys_free(keys);
    if (!keep)
        th_pg_drop_db(dsn);
    free(dsn);
    if (failed_calls) {
        fprintf(stderr, "%s: %zu calls failed: the table is not a measurement\n", argv[0],
                failed_calls);
        return 1;
    }
    return 0;
}
