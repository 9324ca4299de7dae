/* test_draw.c — confetti-draw through real RPC on the private PostgreSQL (issue 6): prizes and
 * rights, bad input for every method, 32 concurrent draws on one prize, draws mixed with
 * revokes under a continuously checked invariant, idempotent replay, the draw rules, the audit
 * record checked by `confetti draw verify`, and rooms or PostgreSQL failing mid-draw.
 * rooms.v1 is fake_rooms (a real nng server; only the rooms logic comes from a table). */
#include "th.h"
#include "th_phase.h"
#include "th_proc.h"
#include "pg.h"
#include "service.h"
#include "tokens.h"
#include "fake_rooms.h"
#include "draw.h"
#include "algorithm.h"
#include "pbjson/pbjson.h"
#include "base/clock.h"
#include "th_http.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static struct {
    th_keys *keys;
    authn_verifier *verifier;
    fake_rooms *rooms;
    th_service *svc;
    ProtobufCService *draw;
    char *org, *mod, *part, *viewer, *stranger; /* "Bearer …" */
    int nroom;
} G;

static char *bearer(const char *sub)
{
    char *t = th_token(G.keys, sub, 3600, false), *b = malloc(strlen(t) + 8);
    sprintf(b, "Bearer %s", t);
    free(t);
    return b;
}

static int setup(void **state)
{
    (void)state;
    G.keys = th_keys_new("RS256");
    G.verifier = th_verifier_new(G.keys, NULL);
    G.rooms = fake_rooms_start(G.verifier);
    static char addr[160];
    snprintf(addr, sizeof addr, "CONFETTI_ROOMS_URLS=%s", fake_rooms_url(G.rooms));
    /* max_eligible just above the largest room the other tests draw in (25,000) */
    const char *env[] = {addr, "CONFETTI_ROOMS_TIMEOUT=2s", "CONFETTI_DRAW_MAX_ELIGIBLE=30000",
                         NULL};
    G.svc = th_service_start(draw_service_def(), &(th_service_opts){.keys = G.keys, .env = env});
    G.draw = rpc_client_service(G.svc->client, &draw__v1__draw__descriptor);
    G.org = bearer("org-1");
    G.mod = bearer("mod-1");
    G.part = bearer("u000000001"); /* participant number 1 of every room */
    G.viewer = bearer("viewer-1");
    G.stranger = bearer("stranger-1");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    th_service_stop(G.svc);
    fake_rooms_stop(G.rooms);
    authn_verifier_free(G.verifier);
    th_keys_free(G.keys);
    free(G.org), free(G.mod), free(G.part), free(G.viewer), free(G.stranger);
    return 0;
}

/* A new room with org-1 ORGANIZER, mod-1 MODERATOR, viewer-1 VIEWER and n participants. */
static const char *room(Rooms__V1__RoomStatus status, bool is_public, Rooms__V1__DrawPolicy policy,
                        size_t n)
{
    static char ids[64][32];
    char *id = ids[G.nroom % 64];
    snprintf(id, 32, "room-%d", G.nroom++);
    fake_rooms_add(G.rooms, id, status, is_public, policy, n);
    fake_rooms_member(G.rooms, id, "org-1", ROOMS__V1__ROLE__ORGANIZER);
    fake_rooms_member(G.rooms, id, "mod-1", ROOMS__V1__ROLE__MODERATOR);
    fake_rooms_member(G.rooms, id, "viewer-1", ROOMS__V1__ROLE__VIEWER);
    return id;
}

static const char *active_room(size_t n)
{
    return room(ROOMS__V1__ROOM_STATUS__ACTIVE, false, ROOMS__V1__DRAW_POLICY__ONE_WIN_PER_PRIZE,
                n);
}

static void cc_start(rpc_ccall *cc, const char *tok)
{
    rpc_ccall_init(cc, NULL);
    cc->timeout_ms = 30000;
    if (tok)
        rpc_ccall_md(cc, "authorization", tok);
}

/* CreatePrize as tok; returns the prize id (malloc'ed) or NULL, asserting the code. */
static char *create_prize(const char *room_id, int quantity, const char *tok, cf_code want)
{
    Draw__V1__CreatePrizeRequest req = DRAW__V1__CREATE_PRIZE_REQUEST__INIT;
    req.room_id = (char *)room_id;
    req.name = "T-shirt";
    req.quantity = quantity;
    rpc_ccall cc;
    cc_start(&cc, tok);
    draw__v1__draw__create_prize(G.draw, &req, NULL, &cc);
    assert_refusal(&cc, want, want == CF_FAILED_PRECONDITION ? "room.status" : NULL);
    char *id = NULL;
    if (cc.code == CF_OK) {
        const Draw__V1__Prize *p = (const void *)cc.response;
        assert_int_equal(p->quantity, quantity);
        assert_int_equal(p->quantity_remaining, quantity);
        id = strdup(p->prize_id);
    }
    rpc_ccall_free(&cc);
    return id;
}

/* DrawWinners; returns the code, and the number of winners in *nw (if nw). */
static cf_code draw_winners(const char *room_id, const char *prize, int count, const char *key,
                            const char *tok, rpc_ccall *cc)
{
    Draw__V1__DrawWinnersRequest req = DRAW__V1__DRAW_WINNERS_REQUEST__INIT;
    req.room_id = (char *)room_id;
    req.prize_id = (char *)prize;
    req.count = count;
    req.idempotency_key = (char *)(key ? key : "");
    cc_start(cc, tok);
    draw__v1__draw__draw_winners(G.draw, &req, NULL, cc);
    return cc->code;
}

static int remaining(const char *room_id, const char *prize)
{
    Draw__V1__GetPrizeRequest req = DRAW__V1__GET_PRIZE_REQUEST__INIT;
    req.room_id = (char *)room_id;
    req.prize_id = (char *)prize;
    rpc_ccall cc;
    cc_start(&cc, G.org);
    draw__v1__draw__get_prize(G.draw, &req, NULL, &cc);
    assert_code(CF_OK, cc.code);
    int r = ((const Draw__V1__Prize *)cc.response)->quantity_remaining;
    rpc_ccall_free(&cc);
    return r;
}

static long long sql_int(PGconn *pg, const char *sql, const char *param)
{
    const char *p[] = {param};
    PGresult *r = PQexecParams(pg, sql, param ? 1 : 0, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    long long v = atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

static cf_code revoke_w(const char *room_id, const char *winner, const char *reason, rpc_ccall *cc)
{
    Draw__V1__RevokeWinnerRequest req = DRAW__V1__REVOKE_WINNER_REQUEST__INIT;
    req.room_id = (char *)room_id;
    req.winner_id = (char *)winner;
    req.reason = (char *)reason;
    cc_start(cc, G.mod);
    draw__v1__draw__revoke_winner(G.draw, &req, NULL, cc);
    return cc->code;
}

/* --- prizes and rights --- */

static void test_prizes_and_rights(void **state)
{
    (void)state;
    const char *priv =
        room(ROOMS__V1__ROOM_STATUS__DRAFT, false, ROOMS__V1__DRAW_POLICY__ONE_WIN_PER_PRIZE, 3);
    const char *pub =
        room(ROOMS__V1__ROOM_STATUS__ACTIVE, true, ROOMS__V1__DRAW_POLICY__ONE_WIN_PER_PRIZE, 3);
    create_prize(priv, 1, G.part, CF_PERMISSION_DENIED);
    create_prize(priv, 1, G.viewer, CF_PERMISSION_DENIED);
    create_prize(priv, 1, G.stranger, CF_NOT_FOUND);
    create_prize("no-such-room", 1, G.org, CF_NOT_FOUND);
    create_prize(priv, 1, NULL, CF_UNAUTHENTICATED);
    char *a = create_prize(priv, 2, G.org, CF_OK), *b = create_prize(priv, 1, G.mod, CF_OK);
    char *c = create_prize(priv, 1, G.org, CF_OK), *pp = create_prize(pub, 1, G.org, CF_OK);

    /* private prizes are NOT_FOUND to non-members; public ones visible to anyone */
    Draw__V1__GetPrizeRequest g = DRAW__V1__GET_PRIZE_REQUEST__INIT;
    rpc_ccall cc;
    g.room_id = (char *)priv, g.prize_id = a;
    cc_start(&cc, G.stranger);
    draw__v1__draw__get_prize(G.draw, &g, NULL, &cc);
    assert_code(CF_NOT_FOUND, cc.code);
    rpc_ccall_free(&cc);
    cc_start(&cc, G.viewer);
    draw__v1__draw__get_prize(G.draw, &g, NULL, &cc);
    assert_code(CF_OK, cc.code);
    rpc_ccall_free(&cc);
    g.room_id = (char *)pub, g.prize_id = pp;
    cc_start(&cc, G.stranger);
    draw__v1__draw__get_prize(G.draw, &g, NULL, &cc);
    assert_code(CF_OK, cc.code);
    rpc_ccall_free(&cc);
    g.prize_id = a; /* a prize of another room */
    cc_start(&cc, G.org);
    draw__v1__draw__get_prize(G.draw, &g, NULL, &cc);
    assert_code(CF_NOT_FOUND, cc.code);
    rpc_ccall_free(&cc);

    /* pages of 2: a, b then c */
    Draw__V1__ListPrizesRequest l = DRAW__V1__LIST_PRIZES_REQUEST__INIT;
    l.room_id = (char *)priv;
    l.page_size = 2;
    cc_start(&cc, G.viewer);
    draw__v1__draw__list_prizes(G.draw, &l, NULL, &cc);
    assert_code(CF_OK, cc.code);
    const Draw__V1__ListPrizesResponse *lr = (const void *)cc.response;
    assert_int_equal(lr->n_prizes, 2);
    assert_string_equal(lr->prizes[0]->prize_id, a);
    assert_string_equal(lr->prizes[1]->prize_id, b);
    char *tok = strdup(lr->next_page_token);
    rpc_ccall_free(&cc);
    l.page_token = tok;
    cc_start(&cc, G.viewer);
    draw__v1__draw__list_prizes(G.draw, &l, NULL, &cc);
    assert_code(CF_OK, cc.code);
    lr = (const void *)cc.response;
    assert_int_equal(lr->n_prizes, 1);
    assert_string_equal(lr->prizes[0]->prize_id, c);
    assert_string_equal(lr->next_page_token, "");
    rpc_ccall_free(&cc);
    l.room_id = (char *)pub; /* a token for another room's list */
    cc_start(&cc, G.org);
    draw__v1__draw__list_prizes(G.draw, &l, NULL, &cc);
    assert_refusal(&cc, CF_INVALID_ARGUMENT, "pageToken");
    rpc_ccall_free(&cc);
    free(tok);

    /* update: name and quantity; delete */
    Draw__V1__Prize np = DRAW__V1__PRIZE__INIT;
    np.room_id = (char *)priv, np.prize_id = a, np.name = "Hoodie", np.quantity = 5;
    char *paths[] = {"name", "quantity"};
    Google__Protobuf__FieldMask mask = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
    mask.paths = paths, mask.n_paths = 2;
    Draw__V1__UpdatePrizeRequest u = DRAW__V1__UPDATE_PRIZE_REQUEST__INIT;
    u.prize = &np, u.update_mask = &mask;
    cc_start(&cc, G.part);
    draw__v1__draw__update_prize(G.draw, &u, NULL, &cc);
    assert_code(CF_PERMISSION_DENIED, cc.code);
    rpc_ccall_free(&cc);
    cc_start(&cc, G.mod);
    draw__v1__draw__update_prize(G.draw, &u, NULL, &cc);
    assert_code(CF_OK, cc.code);
    const Draw__V1__Prize *up = (const void *)cc.response;
    assert_string_equal(up->name, "Hoodie");
    assert_int_equal(up->quantity, 5);
    assert_int_equal(up->quantity_remaining, 5);
    rpc_ccall_free(&cc);

    Draw__V1__DeletePrizeRequest d = DRAW__V1__DELETE_PRIZE_REQUEST__INIT;
    d.room_id = (char *)priv, d.prize_id = c;
    cc_start(&cc, G.org);
    draw__v1__draw__delete_prize(G.draw, &d, NULL, &cc);
    assert_code(CF_OK, cc.code);
    rpc_ccall_free(&cc);
    cc_start(&cc, G.org);
    draw__v1__draw__delete_prize(G.draw, &d, NULL, &cc);
    assert_code(CF_NOT_FOUND, cc.code);
    rpc_ccall_free(&cc);

    /* a completed room's prizes no longer change */
    fake_rooms_set_status(G.rooms, priv, ROOMS__V1__ROOM_STATUS__COMPLETED);
    create_prize(priv, 1, G.org, CF_FAILED_PRECONDITION);
    free(a), free(b), free(c), free(pp);
}

static void test_quantity_and_delete_guards(void **state)
{
    (void)state;
    const char *r = active_room(10);
    char *p = create_prize(r, 5, G.org, CF_OK);
    rpc_ccall cc;
    assert_code(CF_OK, draw_winners(r, p, 3, NULL, G.org, &cc));
    char *w0 = strdup(((const Draw__V1__DrawWinnersResponse *)cc.response)->winners[0]->winner_id);
    rpc_ccall_free(&cc);
    /* 3 allocated: quantity 2 is refused, 3 accepted (remaining 0), back to 4 */
    Draw__V1__Prize np = DRAW__V1__PRIZE__INIT;
    np.room_id = (char *)r, np.prize_id = p;
    char *paths[] = {"quantity"};
    Google__Protobuf__FieldMask mask = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
    mask.paths = paths, mask.n_paths = 1;
    Draw__V1__UpdatePrizeRequest u = DRAW__V1__UPDATE_PRIZE_REQUEST__INIT;
    u.prize = &np, u.update_mask = &mask;
    static const struct {
        int q;
        cf_code code;
        int rem;
    } steps[] = {{2, CF_FAILED_PRECONDITION, 0}, {3, CF_OK, 0}, {4, CF_OK, 1}};
    for (size_t i = 0; i < 3; i++) {
        np.quantity = steps[i].q;
        cc_start(&cc, G.org);
        draw__v1__draw__update_prize(G.draw, &u, NULL, &cc);
        assert_refusal(&cc, steps[i].code, steps[i].code == CF_OK ? NULL : "quantity");
        if (cc.code == CF_OK)
            assert_int_equal(((const Draw__V1__Prize *)cc.response)->quantity_remaining,
                             steps[i].rem);
        rpc_ccall_free(&cc);
    }
    /* live winners: delete refused */
    Draw__V1__DeletePrizeRequest d = DRAW__V1__DELETE_PRIZE_REQUEST__INIT;
    d.room_id = (char *)r, d.prize_id = p;
    cc_start(&cc, G.org);
    draw__v1__draw__delete_prize(G.draw, &d, NULL, &cc);
    assert_refusal(&cc, CF_FAILED_PRECONDITION, "prize.winners");
    rpc_ccall_free(&cc);
    /* revoke: one unit back; twice: the same answer, no second unit */
    for (int i = 0; i < 2; i++) {
        assert_code(CF_OK, revoke_w(r, w0, "no-show", &cc));
        const Draw__V1__Winner *w = (const void *)cc.response;
        assert_string_equal(w->revoked_reason, "no-show");
        assert_non_null(w->revoked_at);
        rpc_ccall_free(&cc);
        assert_int_equal(remaining(r, p), 2);
    }
    assert_code(CF_NOT_FOUND, revoke_w(r, "cnosuchwinner", "x", &cc));
    rpc_ccall_free(&cc);
    free(w0), free(p);
}

/* --- bad input, every method --- */

static void test_bad_input_every_method(void **state)
{
    (void)state;
    const char *r = active_room(5);
    char *p = create_prize(r, 1, G.org, CF_OK);
    char long_id[200];
    memset(long_id, 'x', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    rpc_ccall cc;
#define EXPECT(code_, method, reqp, tok)                                                           \
    do {                                                                                           \
        cc_start(&cc, tok);                                                                        \
        draw__v1__draw__##method(G.draw, reqp, NULL, &cc);                                         \
        assert_refusal(&cc, code_, NULL);                                                          \
        rpc_ccall_free(&cc);                                                                       \
    } while (0)
    {
        Draw__V1__CreatePrizeRequest q = DRAW__V1__CREATE_PRIZE_REQUEST__INIT;
        q.room_id = (char *)r, q.name = "x", q.quantity = 0;
        EXPECT(CF_INVALID_ARGUMENT, create_prize, &q, G.org);
        q.quantity = -5;
        EXPECT(CF_INVALID_ARGUMENT, create_prize, &q, G.org);
        q.quantity = 1, q.name = "";
        EXPECT(CF_INVALID_ARGUMENT, create_prize, &q, G.org);
        q.name = long_id, q.room_id = "";
        EXPECT(CF_INVALID_ARGUMENT, create_prize, &q, G.org);
        q.room_id = long_id, q.name = "x";
        EXPECT(CF_INVALID_ARGUMENT, create_prize, &q, G.org);
    }
    {
        Draw__V1__GetPrizeRequest q = DRAW__V1__GET_PRIZE_REQUEST__INIT;
        q.room_id = (char *)r;
        EXPECT(CF_INVALID_ARGUMENT, get_prize, &q, G.org);
        q.prize_id = "cnothere";
        EXPECT(CF_NOT_FOUND, get_prize, &q, G.org);
    }
    {
        Draw__V1__ListPrizesRequest q = DRAW__V1__LIST_PRIZES_REQUEST__INIT;
        q.room_id = (char *)r, q.page_size = -1;
        EXPECT(CF_INVALID_ARGUMENT, list_prizes, &q, G.org);
        q.page_size = 0, q.page_token = "garbage";
        EXPECT(CF_INVALID_ARGUMENT, list_prizes, &q, G.org);
        q.room_id = "", q.page_token = "";
        EXPECT(CF_INVALID_ARGUMENT, list_prizes, &q, G.org);
    }
    {
        Draw__V1__UpdatePrizeRequest q = DRAW__V1__UPDATE_PRIZE_REQUEST__INIT;
        EXPECT(CF_INVALID_ARGUMENT, update_prize, &q, G.org);
        Draw__V1__Prize np = DRAW__V1__PRIZE__INIT;
        np.room_id = (char *)r, np.prize_id = p;
        q.prize = &np;
        EXPECT(CF_INVALID_ARGUMENT, update_prize, &q, G.org); /* no mask */
        char *bad[] = {"quantity_remaining"}, *zero[] = {"quantity"}, *noname[] = {"name"};
        Google__Protobuf__FieldMask m = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
        m.paths = bad, m.n_paths = 1, q.update_mask = &m;
        EXPECT(CF_INVALID_ARGUMENT, update_prize, &q, G.org);
        m.paths = zero;
        EXPECT(CF_INVALID_ARGUMENT, update_prize, &q, G.org);
        m.paths = noname;
        EXPECT(CF_INVALID_ARGUMENT, update_prize, &q, G.org);
        EXPECT(CF_UNAUTHENTICATED, update_prize, &q, NULL);
    }
    {
        Draw__V1__DeletePrizeRequest q = DRAW__V1__DELETE_PRIZE_REQUEST__INIT;
        q.room_id = (char *)r;
        EXPECT(CF_INVALID_ARGUMENT, delete_prize, &q, G.org);
        q.prize_id = p;
        EXPECT(CF_UNAUTHENTICATED, delete_prize, &q, NULL);
        EXPECT(CF_PERMISSION_DENIED, delete_prize, &q, G.part);
    }
    {
        Draw__V1__DrawWinnersRequest q = DRAW__V1__DRAW_WINNERS_REQUEST__INIT;
        q.room_id = (char *)r, q.prize_id = p, q.count = 0;
        EXPECT(CF_INVALID_ARGUMENT, draw_winners, &q, G.org);
        q.count = 1000000;
        EXPECT(CF_INVALID_ARGUMENT, draw_winners, &q, G.org);
        q.count = 1, q.idempotency_key = long_id;
        EXPECT(CF_INVALID_ARGUMENT, draw_winners, &q, G.org);
        q.idempotency_key = "bad\nkey";
        EXPECT(CF_INVALID_ARGUMENT, draw_winners, &q, G.org);
        q.idempotency_key = "", q.prize_id = "";
        EXPECT(CF_INVALID_ARGUMENT, draw_winners, &q, G.org);
        q.prize_id = "cnothere";
        EXPECT(CF_NOT_FOUND, draw_winners, &q, G.org);
        q.prize_id = p;
        EXPECT(CF_UNAUTHENTICATED, draw_winners, &q, NULL);
        EXPECT(CF_PERMISSION_DENIED, draw_winners, &q, G.part);
        EXPECT(CF_NOT_FOUND, draw_winners, &q, G.stranger);
    }
    {
        Draw__V1__GetDrawRequest q = DRAW__V1__GET_DRAW_REQUEST__INIT;
        q.room_id = (char *)r;
        EXPECT(CF_INVALID_ARGUMENT, get_draw, &q, G.org);
        q.draw_id = "cnothere";
        EXPECT(CF_NOT_FOUND, get_draw, &q, G.org);
    }
    {
        Draw__V1__ListWinnersRequest q = DRAW__V1__LIST_WINNERS_REQUEST__INIT;
        q.room_id = (char *)r, q.page_size = -3;
        EXPECT(CF_INVALID_ARGUMENT, list_winners, &q, G.org);
        q.page_size = 1, q.page_token = "AAAA";
        EXPECT(CF_INVALID_ARGUMENT, list_winners, &q, G.org);
        q.page_token = "", q.prize_id = long_id;
        EXPECT(CF_INVALID_ARGUMENT, list_winners, &q, G.org);
        q.prize_id = "", q.room_id = "";
        EXPECT(CF_INVALID_ARGUMENT, list_winners, &q, G.org);
    }
    {
        Draw__V1__RevokeWinnerRequest q = DRAW__V1__REVOKE_WINNER_REQUEST__INIT;
        q.room_id = (char *)r, q.winner_id = "cx";
        EXPECT(CF_INVALID_ARGUMENT, revoke_winner, &q, G.org); /* no reason */
        q.reason = "x", q.winner_id = "";
        EXPECT(CF_INVALID_ARGUMENT, revoke_winner, &q, G.org);
        q.winner_id = "cx";
        EXPECT(CF_UNAUTHENTICATED, revoke_winner, &q, NULL);
        EXPECT(CF_PERMISSION_DENIED, revoke_winner, &q, G.part);
    }
#undef EXPECT
    free(p);
}

/* --- concurrency --- */

typedef struct worker {
    const char *room, *prize;
    int count, ok, precondition, other, nwinners;
    char (*winners)[64];
} worker;

static void *draw_worker(void *arg)
{
    worker *w = arg;
    rpc_ccall cc;
    cf_code code = draw_winners(w->room, w->prize, w->count, NULL, G.org, &cc);
    if (code == CF_OK) {
        const Draw__V1__DrawWinnersResponse *r = (const void *)cc.response;
        w->ok++;
        for (size_t i = 0; i < r->n_winners; i++)
            snprintf(w->winners[w->nwinners++], 64, "%s", r->winners[i]->participant_id);
    } else if (code == CF_FAILED_PRECONDITION) {
        w->precondition++;
    } else {
        fprintf(stderr, "draw: %s %s\n", cf_code_name(code), cc.message);
        w->other++;
    }
    rpc_ccall_free(&cc);
    return NULL;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void test_32_concurrent_draws_one_prize(void **state)
{
    (void)state;
    enum { THREADS = 32, COUNT = 5 };
    const char *r = active_room(1000);
    char *p = create_prize(r, 100, G.org, CF_OK);
    pthread_t t[THREADS];
    worker w[THREADS];
    char(*all)[64] = calloc(THREADS * COUNT, 64);
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker){.room = r, .prize = p, .count = COUNT, .winners = all + i * COUNT};
        pthread_create(&t[i], NULL, draw_worker, &w[i]);
    }
    int ok = 0, pre = 0, other = 0, n = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        ok += w[i].ok, pre += w[i].precondition, other += w[i].other;
    }
    /* compact the winners and look for a participant twice */
    for (int i = 0; i < THREADS; i++)
        for (int j = 0; j < w[i].nwinners; j++)
            memmove(all[n++], w[i].winners[j], 64);
    assert_int_equal(other, 0);
    assert_int_equal(ok, 100 / COUNT);
    assert_int_equal(pre, THREADS - 100 / COUNT);
    assert_int_equal(n, 100);
    qsort(all, (size_t)n, 64, cmp_str);
    for (int i = 1; i < n; i++)
        assert_true(strcmp(all[i - 1], all[i]) != 0);
    assert_int_equal(remaining(r, p), 0);
    PGconn *pg = th_pg_connect(G.svc->dsn);
    assert_int_equal(sql_int(pg,
                             "SELECT count(*) FROM draw.winners WHERE prize_id = $1 "
                             "AND deleted_at IS NULL",
                             p),
                     100);
    assert_int_equal(sql_int(pg,
                             "SELECT count(DISTINCT participant_id) FROM draw.winners "
                             "WHERE prize_id = $1",
                             p),
                     100);
    assert_int_equal(sql_int(pg, "SELECT count(*) FROM draw.draws WHERE prize_id = $1", p),
                     100 / COUNT);
    PQfinish(pg);
    free(all), free(p);
}

/* SPEC §3 "Prizes and winners", without replacement under any concurrency: 24 callers race for
 * a prize of 12 in a room of 12, so picks collide all the time; a pick that won meanwhile
 * fails the allocation whole (winners' unique index) and the draw is made again on a fresh
 * list. Every unit goes to a different participant, exactly once. */
static void test_colliding_picks_are_drawn_again(void **state)
{
    (void)state;
    enum { THREADS = 24, N = 12 };
    const char *r = active_room(N);
    char *p = create_prize(r, N, G.org, CF_OK);
    PGconn *pg0 = th_pg_connect(G.svc->dsn);
    int events0 = sql_int(pg0, "SELECT count(*) FROM draw.outbox WHERE $1 <> ''", p);
    PQfinish(pg0);
    pthread_t t[THREADS];
    worker w[THREADS];
    char(*all)[64] = calloc(THREADS, 64);
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker){.room = r, .prize = p, .count = 1, .winners = all + i};
        pthread_create(&t[i], NULL, draw_worker, &w[i]);
    }
    int ok = 0, pre = 0, other = 0, n = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        ok += w[i].ok, pre += w[i].precondition, other += w[i].other;
        if (w[i].nwinners)
            memmove(all[n++], w[i].winners[0], 64);
    }
    assert_int_equal(other, 0);
    assert_int_equal(ok, N);
    assert_int_equal(pre, THREADS - N);
    qsort(all, (size_t)n, 64, cmp_str);
    for (int i = 1; i < n; i++)
        assert_true(strcmp(all[i - 1], all[i]) != 0);
    assert_int_equal(remaining(r, p), 0);
    PGconn *pg = th_pg_connect(G.svc->dsn);
    assert_int_equal(sql_int(pg, "SELECT count(*) FROM draw.draws WHERE prize_id = $1", p), N);
    /* each draw's winner.drawn event committed with it, and no refused draw left one */
    assert_int_equal(sql_int(pg, "SELECT count(*) FROM draw.outbox WHERE $1 <> ''", p) - events0,
                     N);
    PQfinish(pg);
    free(all), free(p);
}

/* SPEC §3 "Prizes and winners" (no unit twice, under any concurrency) and "Auditable draws"
 * (each draw its own number and record), through docs/draw.md "Group allocation": concurrent
 * count-1 draws of one prize are committed several per statement; each still gets its own
 * consecutive number, record, winner row and event, and the invariants hold. That groups did form
 * is seen in the database: draws sharing a transaction (xmin). The grouping is made to happen,
 * not left to the scheduler: the prize row is held locked until the first allocation waits on it
 * and at least two more draws are queued behind it (confetti_draw_group_waiting); released,
 * they are allocated together. */
static double draw_metric(const char *name)
{
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", G.svc->admin_port);
    th_http_resp m = th_http(&(th_http_req){.method = "GET", .url = url, .timeout_s = 10});
    char prefix[96];
    snprintf(prefix, sizeof prefix, "\n%s{", name);
    const char *at = m.status == 200 && m.body ? strstr(m.body, prefix) : NULL;
    const char *v = at ? strchr(at + 1, '}') : NULL;
    double x = v ? strtod(v + 1, NULL) : -1;
    th_http_free(&m);
    return x;
}

static void *draw_four(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < 4; i++)
        draw_worker(w);
    return NULL;
}

static void test_concurrent_draws_are_allocated_in_groups(void **state)
{
    (void)state;
    enum { THREADS = 32, DRAWS = THREADS * 4 };
    const char *r = active_room(1000);
    char *p = create_prize(r, 1000, G.org, CF_OK);
    PGconn *pg = th_pg_connect(G.svc->dsn);
    int events0 = sql_int(pg, "SELECT count(*) FROM draw.outbox WHERE $1 <> ''", p);
    double groups0 = draw_metric("confetti_draw_groups_total");
    assert_true(groups0 >= 0);
    PGconn *lock = th_pg_connect(G.svc->dsn);
    PQclear(PQexec(lock, "BEGIN"));
    const char *pp[] = {p};
    PGresult *res = PQexecParams(lock, "SELECT 1 FROM draw.prizes WHERE id = $1 FOR UPDATE", 1,
                                 NULL, pp, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    PQclear(res);
    pthread_t t[THREADS];
    worker w[THREADS];
    char(*all)[64] = calloc(DRAWS, 64);
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker){.room = r, .prize = p, .count = 1, .winners = all + i * 4};
        pthread_create(&t[i], NULL, draw_four, &w[i]);
    }
    /* the first allocation waits on the lock, two draws or more queue behind it: then release */
    bool blocked = false, queued = false;
    for (int64_t end = cf_mono_ns() + 20 * 1000000000LL; !(blocked && queued) && cf_mono_ns() < end;
         usleep(5000)) {
        blocked = blocked || sql_int(pg,
                                     "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                                     "current_database() AND wait_event_type = 'Lock' AND $1 <> ''",
                                     p) > 0;
        queued = draw_metric("confetti_draw_group_waiting") >= 2;
    }
    PQclear(PQexec(lock, "ROLLBACK"));
    PQfinish(lock);
    assert_true(blocked);
    assert_true(queued);
    int ok = 0, other = 0, n = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        ok += w[i].ok, other += w[i].other + w[i].precondition;
        for (int j = 0; j < w[i].nwinners; j++)
            memmove(all[n++], w[i].winners[j], 64);
    }
    assert_int_equal(other, 0);
    assert_int_equal(ok, DRAWS);
    qsort(all, (size_t)n, 64, cmp_str);
    for (int i = 1; i < n; i++)
        assert_true(strcmp(all[i - 1], all[i]) != 0);
    assert_int_equal(remaining(r, p), 1000 - DRAWS);
    /* numbers 1..DRAWS of this room, each once; every draw's winner row is its own pick */
    assert_int_equal(sql_int(pg,
                             "SELECT count(DISTINCT draw_number) FILTER (WHERE draw_number "
                             "BETWEEN 1 AND 128) FROM draw.draws WHERE prize_id = $1",
                             p),
                     DRAWS);
    assert_int_equal(sql_int(pg,
                             "SELECT count(*) FROM draw.draws d JOIN draw.winners w "
                             "ON w.draw_id = d.id AND w.participant_id = "
                             "d.winner_participant_ids[1] WHERE d.prize_id = $1",
                             p),
                     DRAWS);
    assert_int_equal(sql_int(pg, "SELECT count(*) FROM draw.outbox WHERE $1 <> ''", p) - events0,
                     DRAWS);
    assert_true(sql_int(pg, "SELECT count(DISTINCT xmin::text) FROM draw.draws WHERE prize_id = $1",
                        p) < DRAWS);
    assert_true(draw_metric("confetti_draw_groups_total") > groups0);
    PQfinish(pg);
    free(all), free(p);
}

typedef struct mixed {
    const char *room, *prize;
    atomic_bool stop;
    atomic_int draws_ok, revokes_ok, errors, checks, violations;
    const char *dsn;
} mixed;

static void *mixed_drawer(void *arg)
{
    mixed *m = arg;
    for (int i = 0; i < 25; i++) {
        rpc_ccall cc;
        cf_code code = draw_winners(m->room, m->prize, 1 + i % 3, NULL, G.mod, &cc);
        if (code == CF_OK)
            atomic_fetch_add(&m->draws_ok, 1);
        else if (code != CF_FAILED_PRECONDITION) {
            fprintf(stderr, "draw: %s %s\n", cf_code_name(code), cc.message);
            atomic_fetch_add(&m->errors, 1);
        }
        rpc_ccall_free(&cc);
    }
    return NULL;
}

static void *mixed_revoker(void *arg)
{
    mixed *m = arg;
    for (int i = 0; i < 30; i++) {
        Draw__V1__ListWinnersRequest l = DRAW__V1__LIST_WINNERS_REQUEST__INIT;
        l.room_id = (char *)m->room, l.prize_id = (char *)m->prize, l.page_size = 5;
        rpc_ccall cc;
        cc_start(&cc, G.mod);
        draw__v1__draw__list_winners(G.draw, &l, NULL, &cc);
        char id[64] = "";
        if (cc.code == CF_OK) {
            const Draw__V1__ListWinnersResponse *r = (const void *)cc.response;
            if (r->n_winners)
                snprintf(id, sizeof id, "%s", r->winners[(size_t)i % r->n_winners]->winner_id);
        } else {
            atomic_fetch_add(&m->errors, 1);
        }
        rpc_ccall_free(&cc);
        if (!*id)
            continue;
        cf_code code = revoke_w(m->room, id, "fraud", &cc);
        if (code == CF_OK)
            atomic_fetch_add(&m->revokes_ok, 1);
        else
            atomic_fetch_add(&m->errors, 1);
        rpc_ccall_free(&cc);
    }
    return NULL;
}

/* From its own connection, in one statement (one snapshot): remaining + live winners. */
static void *mixed_checker(void *arg)
{
    mixed *m = arg;
    PGconn *pg = th_pg_connect(m->dsn);
    const char *p[] = {m->prize};
    while (!atomic_load(&m->stop)) {
        PGresult *r = PQexecParams(pg,
                                   "SELECT quantity_remaining + (SELECT count(*) FROM draw.winners "
                                   "WHERE prize_id = $1 AND deleted_at IS NULL) - quantity, "
                                   "quantity_remaining FROM draw.prizes WHERE id = $1",
                                   1, NULL, p, NULL, NULL, 0);
        if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
            atomic_fetch_add(&m->checks, 1);
            int rem = atoi(PQgetvalue(r, 0, 1));
            if (atoi(PQgetvalue(r, 0, 0)) != 0 || rem < 0 || rem > 100)
                atomic_fetch_add(&m->violations, 1);
        }
        PQclear(r);
    }
    PQfinish(pg);
    return NULL;
}

static void test_concurrent_draws_and_revokes_keep_invariant(void **state)
{
    (void)state;
    enum { DRAWERS = 12, REVOKERS = 4 };
    const char *r = active_room(1000);
    char *p = create_prize(r, 100, G.org, CF_OK);
    mixed m = {.room = r, .prize = p, .dsn = G.svc->dsn};
    pthread_t chk, d[DRAWERS], v[REVOKERS];
    pthread_create(&chk, NULL, mixed_checker, &m);
    /* the checker runs before the first draw (its connection made, one snapshot read): under
     * load it once ran only a few checks in the whole run (CI, 2026-12-07) */
    for (int i = 0; i < 3000 * th_time_scale() && atomic_load(&m.checks) == 0; i++)
        usleep(1000);
    assert_true(atomic_load(&m.checks) > 0);
    for (int i = 0; i < DRAWERS; i++)
        pthread_create(&d[i], NULL, mixed_drawer, &m);
    for (int i = 0; i < REVOKERS; i++)
        pthread_create(&v[i], NULL, mixed_revoker, &m);
    for (int i = 0; i < DRAWERS; i++)
        pthread_join(d[i], NULL);
    for (int i = 0; i < REVOKERS; i++)
        pthread_join(v[i], NULL);
    atomic_store(&m.stop, true);
    pthread_join(chk, NULL);
    print_message("draws %d, revokes %d, invariant checked %d times\n", atomic_load(&m.draws_ok),
                  atomic_load(&m.revokes_ok), atomic_load(&m.checks));
    assert_int_equal(atomic_load(&m.errors), 0);
    assert_int_equal(atomic_load(&m.violations), 0);
    assert_true(atomic_load(&m.checks) > 1); /* at least one snapshot while they ran */
    assert_true(atomic_load(&m.revokes_ok) > 0);
    PGconn *pg = th_pg_connect(G.svc->dsn);
    /* nobody won twice, revoked or not; and the invariant at the end */
    assert_int_equal(sql_int(pg,
                             "SELECT count(*) - count(DISTINCT participant_id) "
                             "FROM draw.winners WHERE prize_id = $1",
                             p),
                     0);
    assert_int_equal(sql_int(pg,
                             "SELECT quantity_remaining + (SELECT count(*) FROM draw.winners "
                             "WHERE prize_id = $1 AND deleted_at IS NULL) FROM draw.prizes "
                             "WHERE id = $1",
                             p),
                     100);
    PQfinish(pg);
    free(p);
}

/* --- idempotency --- */

typedef struct replay_arg {
    const char *room, *prize;
    char draw_id[64];
    cf_code code;
} replay_arg;

static void *replay_worker(void *arg)
{
    replay_arg *a = arg;
    rpc_ccall cc;
    /* a call while the first with the key runs is ABORTED (docs/rpc.md): retry, as a client
     * does, until the first result comes */
    for (int i = 0; i < 1000; i++) {
        a->code = draw_winners(a->room, a->prize, 2, "key-concurrent", G.org, &cc);
        if (a->code != CF_ABORTED)
            break;
        rpc_ccall_free(&cc);
        usleep(10000);
    }
    if (a->code == CF_OK)
        snprintf(a->draw_id, sizeof a->draw_id, "%s",
                 ((const Draw__V1__DrawWinnersResponse *)cc.response)->draw->draw_id);
    rpc_ccall_free(&cc);
    return NULL;
}

static void test_idempotent_replay(void **state)
{
    (void)state;
    const char *r = active_room(50);
    char *p = create_prize(r, 10, G.org, CF_OK);
    rpc_ccall a, b;
    assert_code(CF_OK, draw_winners(r, p, 3, "key-1", G.org, &a));
    assert_code(CF_OK, draw_winners(r, p, 3, "key-1", G.mod, &b));
    const Draw__V1__DrawWinnersResponse *ra = (const void *)a.response,
                                        *rb = (const void *)b.response;
    assert_string_equal(ra->draw->draw_id, rb->draw->draw_id);
    assert_int_equal(ra->draw->draw_number, 1);
    assert_string_equal(ra->draw->idempotency_key, "key-1");
    assert_int_equal(rb->n_winners, 3);
    for (int i = 0; i < 3; i++)
        assert_string_equal(ra->winners[i]->winner_id, rb->winners[i]->winner_id);
    rpc_ccall_free(&a), rpc_ccall_free(&b);
    assert_int_equal(remaining(r, p), 7);
    /* the key with another request */
    assert_code(CF_INVALID_ARGUMENT, draw_winners(r, p, 2, "key-1", G.org, &a));
    assert_refusal(&a, CF_INVALID_ARGUMENT, "idempotency-key"); /* the one rule, issue 25 */
    rpc_ccall_free(&a);
    /* the same key from 8 callers at once: one draw */
    pthread_t t[8];
    replay_arg ra8[8];
    for (int i = 0; i < 8; i++) {
        ra8[i] = (replay_arg){.room = r, .prize = p};
        pthread_create(&t[i], NULL, replay_worker, &ra8[i]);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        assert_code(CF_OK, ra8[i].code);
        assert_string_equal(ra8[i].draw_id, ra8[0].draw_id);
    }
    assert_int_equal(remaining(r, p), 5);
    free(p);
}

/* --- rules --- */

static void test_draw_rules(void **state)
{
    (void)state;
    rpc_ccall cc;
    /* only in an ACTIVE room */
    const char *draft =
        room(ROOMS__V1__ROOM_STATUS__DRAFT, false, ROOMS__V1__DRAW_POLICY__ONE_WIN_PER_PRIZE, 5);
    char *dp = create_prize(draft, 1, G.org, CF_OK);
    assert_code(CF_FAILED_PRECONDITION, draw_winners(draft, dp, 1, NULL, G.org, &cc));
    assert_refusal(&cc, CF_FAILED_PRECONDITION, "room.status");
    rpc_ccall_free(&cc);

    /* fewer eligible than asked, or too little quantity: nothing allocated */
    const char *r = active_room(3);
    char *p = create_prize(r, 10, G.org, CF_OK), *small = create_prize(r, 1, G.org, CF_OK);
    assert_code(CF_FAILED_PRECONDITION, draw_winners(r, p, 4, NULL, G.org, &cc));
    assert_refusal(&cc, CF_FAILED_PRECONDITION, "count");
    rpc_ccall_free(&cc);
    assert_code(CF_FAILED_PRECONDITION, draw_winners(r, small, 2, NULL, G.org, &cc));
    assert_refusal(&cc, CF_FAILED_PRECONDITION, "count");
    rpc_ccall_free(&cc);
    assert_int_equal(remaining(r, p), 10);
    assert_int_equal(remaining(r, small), 1);

    /* a revoked winner is never drawn again for that prize */
    assert_code(CF_OK, draw_winners(r, p, 3, NULL, G.org, &cc));
    char *w0 = strdup(((const Draw__V1__DrawWinnersResponse *)cc.response)->winners[0]->winner_id);
    rpc_ccall_free(&cc);
    assert_code(CF_OK, revoke_w(r, w0, "duplicate account", &cc));
    rpc_ccall_free(&cc);
    assert_code(CF_FAILED_PRECONDITION, draw_winners(r, p, 1, NULL, G.org, &cc));
    assert_refusal(&cc, CF_FAILED_PRECONDITION, "count");
    rpc_ccall_free(&cc);
    assert_int_equal(remaining(r, p), 8);
    /* ONE_WIN_PER_PRIZE: the same people may win another prize */
    assert_code(CF_OK, draw_winners(r, small, 1, NULL, G.org, &cc));
    rpc_ccall_free(&cc);

    /* ONE_WIN_PER_ROOM: a live winner of any prize in the room is out */
    const char *one =
        room(ROOMS__V1__ROOM_STATUS__ACTIVE, false, ROOMS__V1__DRAW_POLICY__ONE_WIN_PER_ROOM, 4);
    char *a = create_prize(one, 3, G.org, CF_OK), *b = create_prize(one, 3, G.org, CF_OK);
    assert_code(CF_OK, draw_winners(one, a, 3, NULL, G.org, &cc));
    char *aw = strdup(((const Draw__V1__DrawWinnersResponse *)cc.response)->winners[0]->winner_id);
    rpc_ccall_free(&cc);
    assert_code(CF_FAILED_PRECONDITION, draw_winners(one, b, 2, NULL, G.org, &cc));
    assert_refusal(&cc, CF_FAILED_PRECONDITION, "count");
    rpc_ccall_free(&cc);
    assert_code(CF_OK, draw_winners(one, b, 1, NULL, G.org, &cc));
    assert_int_equal(((const Draw__V1__DrawWinnersResponse *)cc.response)->draw->draw_number, 2);
    rpc_ccall_free(&cc);
    /* revoking a's winner frees that person for b (not for a) */
    assert_code(CF_OK, revoke_w(one, aw, "moved", &cc));
    rpc_ccall_free(&cc);
    assert_code(CF_OK, draw_winners(one, b, 1, NULL, G.org, &cc));
    rpc_ccall_free(&cc);
    free(dp), free(p), free(small), free(w0), free(a), free(b), free(aw);
}

/* --- audit record and `confetti draw verify` --- */

static int run_verify(const char *record_json, const char *eligible)
{
    char rec[] = "/tmp/draw-record-XXXXXX", lst[] = "/tmp/draw-eligible-XXXXXX";
    int fr = mkstemp(rec), fl = mkstemp(lst);
    assert_true(fr >= 0 && fl >= 0);
    assert_true(write(fr, record_json, strlen(record_json)) == (ssize_t)strlen(record_json));
    assert_true(write(fl, eligible, strlen(eligible)) == (ssize_t)strlen(eligible));
    close(fr), close(fl);
    const char *argv[] = {CLI_BIN, "draw", "verify", rec, lst, NULL};
    int rc = th_run(argv, NULL, NULL, 0);
    unlink(rec), unlink(lst);
    return rc;
}

static void test_audit_record_verifies(void **state)
{
    (void)state;
    const char *r =
        room(ROOMS__V1__ROOM_STATUS__ACTIVE, true, ROOMS__V1__DRAW_POLICY__ONE_WIN_PER_PRIZE, 20);
    char *p = create_prize(r, 10, G.org, CF_OK);
    rpc_ccall cc;
    /* a first draw, so the second one's eligible list excludes its winners */
    assert_code(CF_OK, draw_winners(r, p, 2, NULL, G.org, &cc));
    const Draw__V1__DrawWinnersResponse *first = (const void *)cc.response;
    char ex[2][64];
    for (int i = 0; i < 2; i++)
        snprintf(ex[i], 64, "%s", first->winners[i]->participant_id);
    rpc_ccall_free(&cc);
    /* 8 winners among 18: a changed seed giving the same winners has odds ~1e-9 */
    assert_code(CF_OK, draw_winners(r, p, 8, NULL, G.org, &cc));
    char *draw_id = strdup(((const Draw__V1__DrawWinnersResponse *)cc.response)->draw->draw_id);
    rpc_ccall_free(&cc);

    /* GetDraw, as anyone who can see the (public) room */
    Draw__V1__GetDrawRequest g = DRAW__V1__GET_DRAW_REQUEST__INIT;
    g.room_id = (char *)r, g.draw_id = draw_id;
    cc_start(&cc, G.stranger);
    draw__v1__draw__get_draw(G.draw, &g, NULL, &cc);
    assert_code(CF_OK, cc.code);
    Draw__V1__DrawRecord *rec = (Draw__V1__DrawRecord *)cc.response;
    assert_string_equal(rec->algorithm, DRAW_ALGORITHM);
    assert_int_equal(rec->draw_number, 2);
    assert_int_equal(rec->eligible_count, 18);
    assert_int_equal(rec->count, 8);
    assert_int_equal(rec->n_winner_participant_ids, 8);
    assert_int_equal(strlen(rec->seed), 64);

    /* the eligible list: the room's participants in order, minus the first draw's winners */
    char eligible[20 * 16] = "", tampered[20 * 16] = "";
    bool lead = true;
    for (int i = 0; i < 20; i++) {
        char id[16];
        snprintf(id, sizeof id, "p%09d", i);
        if (strcmp(id, ex[0]) == 0 || strcmp(id, ex[1]) == 0)
            continue;
        strcat(eligible, id), strcat(eligible, "\n");
        strcat(tampered, lead ? "p000000099" : id), strcat(tampered, "\n");
        lead = false;
    }
    char *json = pbjson_to_string(&rec->base);
    assert_int_equal(run_verify(json, eligible), 0);
    assert_int_equal(run_verify(json, tampered), 1);
    free(json);
    /* a changed seed */
    char *seed = rec->seed, bad_seed[65];
    snprintf(bad_seed, sizeof bad_seed, "%s", seed);
    bad_seed[5] = bad_seed[5] == 'a' ? 'b' : 'a';
    rec->seed = bad_seed;
    json = pbjson_to_string(&rec->base);
    assert_int_equal(run_verify(json, eligible), 1);
    free(json);
    rec->seed = seed;
    /* a changed winner */
    char *w = rec->winner_participant_ids[1];
    rec->winner_participant_ids[1] = strcmp(w, ex[0]) == 0 ? ex[1] : ex[0];
    json = pbjson_to_string(&rec->base);
    assert_int_equal(run_verify(json, eligible), 1);
    free(json);
    rec->winner_participant_ids[1] = w;
    json = pbjson_to_string(&rec->base);
    assert_int_equal(run_verify(json, eligible), 0);
    free(json);
    rpc_ccall_free(&cc);
    free(draw_id), free(p);
}

/* --- failures mid-draw --- */

static void assert_nothing_written(const char *r, const char *p, int quantity)
{
    PGconn *pg = th_pg_connect(G.svc->dsn);
    assert_int_equal(sql_int(pg, "SELECT quantity_remaining FROM draw.prizes WHERE id = $1", p),
                     quantity);
    assert_int_equal(sql_int(pg, "SELECT count(*) FROM draw.winners WHERE prize_id = $1", p), 0);
    assert_int_equal(sql_int(pg, "SELECT count(*) FROM draw.draws WHERE prize_id = $1", p), 0);
    assert_int_equal(sql_int(pg,
                             "SELECT count(*) FROM draw.room_draw_counters "
                             "WHERE room_id = $1",
                             r),
                     0);
    PQfinish(pg);
}

typedef struct bg_draw {
    const char *room, *prize;
    cf_code code;
} bg_draw;

static void *bg_draw_run(void *arg)
{
    bg_draw *b = arg;
    rpc_ccall cc;
    b->code = draw_winners(b->room, b->prize, 1, NULL, G.org, &cc);
    rpc_ccall_free(&cc);
    return NULL;
}

static void test_postgres_lost_mid_draw(void **state)
{
    (void)state;
    const char *r = active_room(30);
    char *p = create_prize(r, 5, G.org, CF_OK);
    /* hold the prize row so the draw's transaction stops inside its guard… */
    PGconn *lock = th_pg_connect(G.svc->dsn), *admin = th_pg_connect(G.svc->dsn);
    PQclear(PQexec(lock, "BEGIN"));
    const char *pp[] = {p};
    PGresult *res = PQexecParams(lock, "SELECT 1 FROM draw.prizes WHERE id = $1 FOR UPDATE", 1,
                                 NULL, pp, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    PQclear(res);
    bg_draw b = {r, p, CF_UNKNOWN};
    pthread_t t;
    pthread_create(&t, NULL, bg_draw_run, &b);
    /* …then kill its backend, as a crashed or restarted server would */
    long long killed = 0;
    for (int i = 0; i < 1500 && !killed; i++) { /* up to 30 s */
        usleep(20000);
        killed = sql_int(admin,
                         "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                         "WHERE datname = current_database() AND wait_event_type = 'Lock' "
                         "AND query LIKE '%quantity_remaining - $3%' AND pid <> pg_backend_pid()",
                         NULL);
    }
    assert_int_equal(killed, 1);
    pthread_join(t, NULL);
    PQclear(PQexec(lock, "ROLLBACK"));
    PQfinish(lock), PQfinish(admin);
    assert_code(CF_UNAVAILABLE, b.code);
    assert_nothing_written(r, p, 5);
    /* the worker reconnects: the next draw works */
    rpc_ccall cc;
    assert_code(CF_OK, draw_winners(r, p, 1, NULL, G.org, &cc));
    rpc_ccall_free(&cc);
    free(p);
}

/* A room over draw.max_eligible: refused, naming the rule, nothing allocated. */
static void test_too_many_eligible(void **state)
{
    (void)state;
    const char *r = active_room(30001);
    char *p = create_prize(r, 2, G.org, CF_OK);
    rpc_ccall cc;
    assert_code(CF_FAILED_PRECONDITION, draw_winners(r, p, 1, NULL, G.org, &cc));
    assert_refusal(&cc, CF_FAILED_PRECONDITION, "draw.max_eligible");
    assert_non_null(strstr(cc.message, "30000"));
    rpc_ccall_free(&cc);
    assert_nothing_written(r, p, 2);
    free(p);
}

static void test_rooms_lost_mid_draw(void **state)
{
    (void)state;
    /* 25,000 participants = 3 pages; rooms fails on the second */
    const char *r = active_room(25000);
    char *p = create_prize(r, 5, G.org, CF_OK);
    fake_rooms_fail_page(G.rooms, 2);
    rpc_ccall cc;
    assert_code(CF_UNAVAILABLE, draw_winners(r, p, 1, NULL, G.org, &cc));
    rpc_ccall_free(&cc);
    fake_rooms_fail_page(G.rooms, 0);
    assert_nothing_written(r, p, 5);
    /* rooms stopped altogether (last test: the fake is gone for good) */
    fake_rooms_stop(G.rooms);
    G.rooms = NULL;
    cf_code code = draw_winners(r, p, 1, NULL, G.org, &cc);
    rpc_ccall_free(&cc);
    assert_true(code == CF_UNAVAILABLE || code == CF_DEADLINE_EXCEEDED);
    assert_nothing_written(r, p, 5);
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prizes_and_rights),
        cmocka_unit_test(test_quantity_and_delete_guards),
        cmocka_unit_test(test_bad_input_every_method),
        cmocka_unit_test(test_32_concurrent_draws_one_prize),
        cmocka_unit_test(test_colliding_picks_are_drawn_again),
        cmocka_unit_test(test_concurrent_draws_are_allocated_in_groups),
        cmocka_unit_test(test_concurrent_draws_and_revokes_keep_invariant),
        cmocka_unit_test(test_idempotent_replay),
        cmocka_unit_test(test_draw_rules),
        cmocka_unit_test(test_audit_record_verifies),
        cmocka_unit_test(test_postgres_lost_mid_draw),
        cmocka_unit_test(test_too_many_eligible),
        cmocka_unit_test(test_rooms_lost_mid_draw), /* stops the fake rooms: keep last */
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
