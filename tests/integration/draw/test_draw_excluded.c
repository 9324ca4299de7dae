/* test_draw_excluded.c — the per-prize exclusion cache (services/draw/excluded.h, issue 6/7):
 * every draw's record (eligible_digest, eligible_count) must be "the room's list minus the
 * prize's winners of a snapshot taken at draw start", recomputed here from the database after
 * the fact. Since a room's draws commit in draw-number order, such a snapshot holds exactly the
 * winners of the draws numbered <= j for some j below the draw's own number; sequential draws
 * must see j = their number - 1. Three draw services share one database: A and B with the cache
 * (B plays a second process), C with draw.excluded_cache_ids = 0. rooms.v1 is fake_rooms.
 * The snapshot and cache themselves are checked without a database first. */
#include "th.h"
#include "pg.h"
#include "service.h"
#include "tokens.h"
#include "fake_rooms.h"
#include "draw.h"
#include "algorithm.h"
#include "excluded.h"
#include "base/clock.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

static struct {
    th_keys *keys;
    authn_verifier *verifier;
    fake_rooms *rooms;
    th_service *a, *b, *c;
    ProtobufCService *da, *db, *dc;
    char *org, *mod;
    int nroom;
} G;

static char *bearer(const char *sub)
{
    char *t = th_token(G.keys, sub, 3600, false), *b = malloc(strlen(t) + 8);
    sprintf(b, "Bearer %s", t);
    free(t);
    return b;
}

static th_service *start(const char *dsn, const char *excl_ids)
{
    char addr[160], cache[80];
    snprintf(addr, sizeof addr, "CONFETTI_ROOMS_URLS=%s", fake_rooms_url(G.rooms));
    snprintf(cache, sizeof cache, "CONFETTI_DRAW_EXCLUDED_CACHE_IDS=%s", excl_ids);
    const char *env[] = {addr, "CONFETTI_ROOMS_TIMEOUT=5s", cache, NULL};
    return th_service_start(draw_service_def(),
                            &(th_service_opts){.keys = G.keys, .env = env, .dsn = dsn});
}

static int setup(void **state)
{
    (void)state;
    G.keys = th_keys_new("RS256");
    G.verifier = th_verifier_new(G.keys, NULL);
    G.rooms = fake_rooms_start(G.verifier);
    /* draw's config is one static struct (service.c): a second instance running at the same
     * time in one process overwrites it and the earlier ones' list values are never freed. A
     * limit of running one service three times in a test process, not of the draw. */
#if defined(__SANITIZE_ADDRESS__)
    __lsan_disable();
#endif
    G.a = start(NULL, "2000000");
    G.b = start(G.a->dsn, "2000000");
    G.c = start(G.a->dsn, "0");
#if defined(__SANITIZE_ADDRESS__)
    __lsan_enable();
#endif
    G.da = rpc_client_service(G.a->client, &draw__v1__draw__descriptor);
    G.db = rpc_client_service(G.b->client, &draw__v1__draw__descriptor);
    G.dc = rpc_client_service(G.c->client, &draw__v1__draw__descriptor);
    G.org = bearer("org-1");
    G.mod = bearer("mod-1");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    th_service_stop(G.c);
    th_service_stop(G.b);
    th_service_stop(G.a); /* owns the database: last */
    fake_rooms_stop(G.rooms);
    authn_verifier_free(G.verifier);
    th_keys_free(G.keys);
    free(G.org), free(G.mod);
    return 0;
}

/* A new ACTIVE ONE_WIN_PER_PRIZE room with n participants "p%09zu", organized by org-1. */
static const char *new_room(size_t n)
{
    static char ids[16][32];
    char *id = ids[G.nroom % 16];
    snprintf(id, 32, "xroom-%d", G.nroom++);
    fake_rooms_add(G.rooms, id, ROOMS__V1__ROOM_STATUS__ACTIVE, false,
                   ROOMS__V1__DRAW_POLICY__ONE_WIN_PER_PRIZE, n);
    fake_rooms_member(G.rooms, id, "org-1", ROOMS__V1__ROLE__ORGANIZER);
    fake_rooms_member(G.rooms, id, "mod-1", ROOMS__V1__ROLE__MODERATOR);
    return id;
}

static void cc_start(rpc_ccall *cc, const char *tok)
{
    rpc_ccall_init(cc, NULL);
    cc->timeout_ms = 30000;
    rpc_ccall_md(cc, "authorization", tok);
}

static char *create_prize(const char *room_id, int quantity)
{
    Draw__V1__CreatePrizeRequest req = DRAW__V1__CREATE_PRIZE_REQUEST__INIT;
    req.room_id = (char *)room_id;
    req.name = "hot";
    req.quantity = quantity;
    rpc_ccall cc;
    cc_start(&cc, G.org);
    draw__v1__draw__create_prize(G.da, &req, NULL, &cc);
    assert_code(CF_OK, cc.code);
    char *id = strdup(((const Draw__V1__Prize *)cc.response)->prize_id);
    rpc_ccall_free(&cc);
    return id;
}

/* DrawWinners through service d; the winner ids of the first winner in *first (if given). */
static cf_code draw_on(ProtobufCService *d, const char *room, const char *prize, int count,
                       char *first_winner_id)
{
    Draw__V1__DrawWinnersRequest req = DRAW__V1__DRAW_WINNERS_REQUEST__INIT;
    req.room_id = (char *)room;
    req.prize_id = (char *)prize;
    req.count = count;
    rpc_ccall cc;
    cc_start(&cc, G.org);
    draw__v1__draw__draw_winners(d, &req, NULL, &cc);
    cf_code code = cc.code;
    if (code == CF_OK && first_winner_id)
        snprintf(first_winner_id, 64, "%s",
                 ((const Draw__V1__DrawWinnersResponse *)cc.response)->winners[0]->winner_id);
    else if (code != CF_OK && code != CF_FAILED_PRECONDITION)
        fprintf(stderr, "draw: %s %s\n", cf_code_name(code), cc.message);
    rpc_ccall_free(&cc);
    return code;
}

static PGresult *q(PGconn *pg, const char *sql, const char *param)
{
    const char *p[] = {param};
    PGresult *r = PQexecParams(pg, sql, 1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    return r;
}

/* The check of this file: every draw of the prize (the only prize of its room, so draw
 * numbers 1..T) recorded the list minus the winners (revoked included) of draws 1..j, for a
 * j below its own number; from draw strict_from on (negative: counted from the end), j must be
 * its number - 1 (nothing ran concurrently). Returns T. */
static int check_draws(const char *prize, size_t nparts, int strict_from)
{
    PGconn *pg = th_pg_connect(G.a->dsn);
    PGresult *d = q(pg,
                    "SELECT draw_number, eligible_count, eligible_digest FROM draw.draws "
                    "WHERE prize_id = $1 ORDER BY draw_number",
                    prize);
    PGresult *w = q(pg,
                    "SELECT d.draw_number, w.participant_id FROM draw.winners w "
                    "JOIN draw.draws d ON d.id = w.draw_id WHERE w.prize_id = $1",
                    prize);
    int t = PQntuples(d), nw = PQntuples(w);
    if (strict_from < 0)
        strict_from += t;
    for (int i = 0; i < t; i++) /* nothing lost: 1..T, as the counter promises */
        assert_int_equal(atoll(PQgetvalue(d, i, 0)), i + 1);
    /* the list minus the winners of draws 1..k, for every k */
    bool *out = calloc(nparts, sizeof *out);
    char(*hex)[65] = calloc((size_t)t + 1, 65);
    long long *count = calloc((size_t)t + 1, sizeof *count);
    for (int k = 0; k <= t; k++) {
        for (int i = 0; i < nw; i++)
            if (atoll(PQgetvalue(w, i, 0)) == k) {
                size_t p = (size_t)atoll(PQgetvalue(w, i, 1) + 1);
                assert_true(p < nparts && !out[p]); /* nobody wins twice */
                out[p] = true;
            }
        draw_digest *dg = draw_digest_new();
        char id[32];
        for (size_t p = 0; p < nparts; p++)
            if (!out[p]) {
                snprintf(id, sizeof id, "p%09zu", p);
                draw_digest_add(dg, id, strlen(id));
                count[k]++;
            }
        uint8_t bin[DRAW_DIGEST_LEN];
        draw_digest_finish(dg, bin);
        draw_hex(bin, sizeof bin, hex[k]);
    }
    for (int i = 0; i < t; i++) {
        int j = -1;
        for (int k = i; k >= 0 && j < 0; k--)
            if (strcmp(PQgetvalue(d, i, 2), hex[k]) == 0)
                j = k;
        if (j < 0 || (i >= strict_from && j != i))
            fail_msg("draw %d of %d: its list matches the winners of draws 1..%d", i + 1, t, j);
        assert_int_equal(atoll(PQgetvalue(d, i, 1)), count[j]);
    }
    free(out), free(hex), free(count);
    PQclear(d);
    PQclear(w);
    PQfinish(pg);
    return t;
}

/* --- the snapshot and the cache, without a database --- */

static void test_merge_and_cache(void **state)
{
    (void)state;
    const char *first[] = {"p3", "p1", "p2", "p1"};
    draw_excl *e1 = draw_excl_merge(NULL, first, 4, 5);
    assert_int_equal(e1->n, 3);
    assert_int_equal(e1->mark, 5);
    assert_string_equal(e1->ids[0], "p1");
    assert_string_equal(e1->ids[2], "p3");
    const char *more[] = {"p0", "p2", "p9"};
    draw_excl *e2 = draw_excl_merge(e1, more, 3, 7);
    assert_int_equal(e2->n, 5);
    assert_int_equal(e2->mark, 7);
    const char *want[] = {"p0", "p1", "p2", "p3", "p9"};
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(e2->ids[i], want[i]);
    assert_int_equal(e1->n, 3);                      /* the base is untouched */
    draw_excl *e0 = draw_excl_merge(e2, NULL, 0, 2); /* an older mark never lowers it */
    assert_int_equal(e0->mark, 7);
    assert_int_equal(e0->n, 5);

    draw_excl_cache *c = draw_excl_cache_new(8);
    draw_excl_cache_put(c, "prize-1", e2);
    draw_excl_cache_put(c, "prize-1", e1); /* older mark: the newer one stays */
    draw_excl *got = draw_excl_cache_get(c, "prize-1");
    assert_ptr_equal(got, e2);
    draw_excl_release(got);
    draw_excl_cache_put(c, "prize-2", e1); /* 5 + 3 = 8 ids: both fit */
    assert_non_null(got = draw_excl_cache_get(c, "prize-1"));
    draw_excl_release(got);
    draw_excl_cache_put(c, "prize-3", e1); /* past the budget: prize-2 (least recent) goes */
    assert_null(draw_excl_cache_get(c, "prize-2"));
    assert_non_null(got = draw_excl_cache_get(c, "prize-3"));
    draw_excl_release(got);
    assert_non_null(got = draw_excl_cache_get(c, "prize-1"));
    draw_excl_release(got);
    draw_excl_cache_free(c);

    c = draw_excl_cache_new(0); /* off: keeps nothing */
    draw_excl_cache_put(c, "prize-1", e1);
    assert_null(draw_excl_cache_get(c, "prize-1"));
    draw_excl_cache_free(c);
    draw_excl_release(e0);
    draw_excl_release(e2);
    draw_excl_release(e1);
}

/* --- through the service --- */

/* Many sequential draws on one prize: each record is the list minus every earlier winner
 * (a delta that missed rows breaks the digest of the next draw). */
static void run_sequential(ProtobufCService *d, int draws)
{
    enum { PARTS = 400 };
    const char *r = new_room(PARTS);
    char *p = create_prize(r, 1000);
    for (int i = 0; i < draws; i++)
        assert_code(CF_OK, draw_on(d, r, p, 1 + i % 3, NULL));
    assert_int_equal(check_draws(p, PARTS, 0), draws);
    free(p);
}

static void test_sequential_draws_cached(void **state)
{
    (void)state;
    run_sequential(G.da, 120);
}

static void test_sequential_draws_cache_off(void **state)
{
    (void)state;
    run_sequential(G.dc, 60);
}

/* Two processes with their own caches, and one without, take turns on one prize: each sees
 * the others' winners. */
static void test_services_take_turns(void **state)
{
    (void)state;
    enum { PARTS = 300 };
    const char *r = new_room(PARTS);
    char *p = create_prize(r, 1000);
    ProtobufCService *order[] = {G.da, G.da, G.db, G.da, G.dc, G.db, G.db, G.da};
    for (int round = 0; round < 8; round++)
        for (size_t i = 0; i < sizeof order / sizeof *order; i++)
            assert_code(CF_OK, draw_on(order[i], r, p, 1 + (int)i % 2, NULL));
    assert_int_equal(check_draws(p, PARTS, 0), 64);
    free(p);
}

/* The prize read carries the exclusion delta (one statement, prize_get_since): it still answers
 * exactly as the prize read alone. A prize of another room, a missing one and a deleted one are
 * NOT_FOUND on every service — cached (a mark) or not (mark 0: the prize's draws are still in
 * the database and would match the delta) — and a prize with fewer units left than asked is
 * FAILED_PRECONDITION with nothing drawn. The records stay exact (check_draws). */
static void test_prize_read_with_delta(void **state)
{
    (void)state;
    enum { PARTS = 40 };
    const char *ra = new_room(PARTS), *rb = new_room(PARTS);
    char *p = create_prize(ra, 10), *other = create_prize(rb, 10);
    ProtobufCService *all[] = {G.da, G.db, G.dc};
    char won[3][64];
    for (int i = 0; i < 3; i++)
        assert_code(CF_OK, draw_on(all[i], ra, p, 1, won[i]));
    for (int i = 0; i < 3; i++) {
        assert_code(CF_NOT_FOUND, draw_on(all[i], rb, p, 1, NULL)); /* another room's prize */
        assert_code(CF_NOT_FOUND, draw_on(all[i], ra, other, 1, NULL));
        assert_code(CF_NOT_FOUND, draw_on(all[i], ra, "cnosuchprize", 1, NULL));
        assert_code(CF_FAILED_PRECONDITION, draw_on(all[i], ra, p, 8, NULL)); /* 7 left */
    }
    assert_code(CF_OK, draw_on(G.dc, rb, other, 2, NULL)); /* the other prize is unharmed */
    for (int i = 0; i < 3; i++) { /* revoked winners restock: then the prize may be deleted */
        Draw__V1__RevokeWinnerRequest req = DRAW__V1__REVOKE_WINNER_REQUEST__INIT;
        req.room_id = (char *)ra;
        req.winner_id = won[i];
        req.reason = "test";
        rpc_ccall cc;
        cc_start(&cc, G.mod);
        draw__v1__draw__revoke_winner(G.da, &req, NULL, &cc);
        assert_code(CF_OK, cc.code);
        rpc_ccall_free(&cc);
    }
    Draw__V1__DeletePrizeRequest del = DRAW__V1__DELETE_PRIZE_REQUEST__INIT;
    del.room_id = (char *)ra;
    del.prize_id = p;
    rpc_ccall cc;
    cc_start(&cc, G.org);
    draw__v1__draw__delete_prize(G.da, &del, NULL, &cc);
    assert_code(CF_OK, cc.code);
    rpc_ccall_free(&cc);
    for (int i = 0; i < 3; i++)
        assert_code(CF_NOT_FOUND, draw_on(all[i], ra, p, 1, NULL)); /* deleted */
    assert_int_equal(check_draws(p, PARTS, 0), 3);
    free(p), free(other);
}

typedef struct conc {
    const char *room, *prize;
    ProtobufCService *svc;
    atomic_int *ok, *errors, *revoked;
    atomic_bool *stop;
} conc;

static void *drawer(void *arg)
{
    conc *c = arg;
    /* 30 draws, and on until a revocation has happened among them (not left to the scheduler;
     * 60 s is only a bound against a hang) */
    int64_t end = cf_mono_ns() + 60 * 1000000000LL;
    for (int i = 0; i < 30 || (atomic_load(c->revoked) == 0 && cf_mono_ns() < end); i++) {
        cf_code code = draw_on(c->svc, c->room, c->prize, 1 + i % 2, NULL);
        if (code == CF_OK)
            atomic_fetch_add(c->ok, 1);
        else if (code != CF_FAILED_PRECONDITION)
            atomic_fetch_add(c->errors, 1);
    }
    return NULL;
}

/* Draws one winner itself and revokes it, over and over, while the drawers run. */
static void *revoker(void *arg)
{
    conc *c = arg;
    while (!atomic_load(c->stop)) {
        char id[64];
        if (draw_on(c->svc, c->room, c->prize, 1, id) != CF_OK)
            continue;
        Draw__V1__RevokeWinnerRequest req = DRAW__V1__REVOKE_WINNER_REQUEST__INIT;
        req.room_id = (char *)c->room;
        req.winner_id = id;
        req.reason = "test";
        rpc_ccall cc;
        cc_start(&cc, G.mod);
        draw__v1__draw__revoke_winner(c->svc, &req, NULL, &cc);
        if (cc.code == CF_OK)
            atomic_fetch_add(c->revoked, 1);
        else
            atomic_fetch_add(c->errors, 1);
        rpc_ccall_free(&cc);
    }
    return NULL;
}

/* SPEC §3 "Prizes and winners" (only participants who have not already won that prize are
 * eligible) and "Auditable draws" (the digest of the ordered eligible list), under the cache:
 * 8 threads (on two cached services) drawing from one prize plus revocations: every record
 * is the list minus the winners of a prefix of the draws before it, revoked winners stay
 * excluded, and nobody wins twice (check_draws). */
static void test_concurrent_draws_and_revokes(void **state)
{
    (void)state;
    enum { PARTS = 1000, THREADS = 8 };
    const char *r = new_room(PARTS);
    char *p = create_prize(r, 600); /* never runs out */
    atomic_int ok = 0, errors = 0, revoked = 0;
    atomic_bool stop = false;
    conc c[THREADS + 1];
    pthread_t t[THREADS + 1];
    for (int i = 0; i <= THREADS; i++) {
        c[i] = (conc){r, p, i % 2 ? G.db : G.da, &ok, &errors, &revoked, &stop};
        pthread_create(&t[i], NULL, i < THREADS ? drawer : revoker, &c[i]);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    atomic_store(&stop, true);
    pthread_join(t[THREADS], NULL);
    print_message("draws %d, revoked %d\n", atomic_load(&ok), atomic_load(&revoked));
    assert_int_equal(atomic_load(&errors), 0);
    assert_true(atomic_load(&revoked) > 0);
    /* and a last draw on each service afterwards sees everything (strict) */
    assert_code(CF_OK, draw_on(G.da, r, p, 1, NULL));
    assert_code(CF_OK, draw_on(G.db, r, p, 1, NULL));
    assert_code(CF_OK, draw_on(G.dc, r, p, 1, NULL));
    int total = check_draws(p, PARTS, -3);
    assert_true(total >= atomic_load(&ok) + 3);
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge_and_cache),
        cmocka_unit_test(test_sequential_draws_cached),
        cmocka_unit_test(test_sequential_draws_cache_off),
        cmocka_unit_test(test_services_take_turns),
        cmocka_unit_test(test_prize_read_with_delta),
        cmocka_unit_test(test_concurrent_draws_and_revokes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
