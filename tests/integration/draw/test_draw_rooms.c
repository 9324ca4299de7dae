/* test_draw_rooms.c — confetti-draw against the real confetti-rooms (both in-process, fresh
 * databases, real RPC and tokens): the eligible list cache (docs/draw.md) never lets a user who
 * left or was demoted to VIEWER win, follows joins and rejoins, records the exact list in the
 * audit digest, also under membership changes concurrent with draws; and rooms' side of it —
 * the eligible-list stamp (changes with the list and only with it, told only to allowed
 * callers) and the compact listing (same list as the submessage listing). */
#include "th.h"
#include "pg.h"
#include "service.h"
#include "tokens.h"
#include "testsvc.h"
#include "draw.h"
#include "rooms.h"
#include "algorithm.h"
#include "base/clock.h"
#include "base/xmalloc.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct {
    th_keys *keys;
    th_service *rooms, *draw;
    ProtobufCService *rs, *ds;
    char *org; /* "Bearer …" of the organizer of every room here */
    char *stranger;
} G;

static char *bearer(const char *sub)
{
    char *t = th_token(G.keys, sub, 3600, false);
    char *b = xasprintf("Bearer %s", t);
    free(t);
    return b;
}

static int setup(void **state)
{
    (void)state;
    G.keys = th_keys_new("RS256");
    char cat[128];
    th_ipc_url(cat, sizeof cat, "nocatalog"); /* rooms without apps never call catalog */
    char *caddr = xasprintf("CONFETTI_CATALOG_URLS=%s", cat);
    const char *renv[] = {caddr, NULL};
    G.rooms =
        th_service_start(rooms_service_def(), &(th_service_opts){.keys = G.keys, .env = renv});
    char *raddr = xasprintf("CONFETTI_ROOMS_URLS=%s", G.rooms->url);
    const char *denv[] = {raddr, "CONFETTI_ROOMS_TIMEOUT=5s", NULL};
    G.draw = th_service_start(draw_service_def(), &(th_service_opts){.keys = G.keys, .env = denv});
    free(caddr), free(raddr);
    G.rs = rpc_client_service(G.rooms->client, &rooms__v1__rooms__descriptor);
    G.ds = rpc_client_service(G.draw->client, &draw__v1__draw__descriptor);
    G.org = bearer("org");
    G.stranger = bearer("stranger");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    th_service_stop(G.draw);
    th_service_stop(G.rooms);
    th_keys_free(G.keys);
    free(G.org), free(G.stranger);
    return 0;
}

static void cc_start(rpc_ccall *cc, const char *auth)
{
    rpc_ccall_init(cc, NULL);
    cc->timeout_ms = 20000;
    rpc_ccall_md(cc, "authorization", auth);
}

#define expect_ok(cc_)                                                                             \
    do {                                                                                           \
        if ((cc_)->code != CF_OK)                                                                  \
            fail_msg("line %d: %s: %s", __LINE__, cf_code_name((cc_)->code), (cc_)->message);      \
    } while (0)

/* A new ACTIVE public room organized by "org"; its id (malloc). */
static char *room_with(const char *tag)
{
    Rooms__V1__CreateRoomRequest c = ROOMS__V1__CREATE_ROOM_REQUEST__INIT;
    c.name = (char *)tag;
    c.is_public = true;
    rpc_ccall cc;
    cc_start(&cc, G.org);
    rooms__v1__rooms__create_room(G.rs, &c, NULL, &cc);
    expect_ok(&cc);
    char *id = xstrdup(((const Rooms__V1__Room *)cc.response)->room_id);
    rpc_ccall_free(&cc);
    Rooms__V1__ActivateRoomRequest act = ROOMS__V1__ACTIVATE_ROOM_REQUEST__INIT;
    act.room_id = id;
    cc_start(&cc, G.org);
    rooms__v1__rooms__activate_room(G.rs, &act, NULL, &cc);
    expect_ok(&cc);
    rpc_ccall_free(&cc);
    return id;
}

static void member(const char *room, const char *user, Rooms__V1__Role role)
{
    Rooms__V1__AddParticipantRequest r = ROOMS__V1__ADD_PARTICIPANT_REQUEST__INIT;
    r.room_id = (char *)room;
    r.user_id = (char *)user;
    r.role = role;
    rpc_ccall cc;
    cc_start(&cc, G.org);
    rooms__v1__rooms__add_participant(G.rs, &r, NULL, &cc);
    expect_ok(&cc);
    rpc_ccall_free(&cc);
}

static void leave(const char *room, const char *user)
{
    Rooms__V1__RemoveParticipantRequest r = ROOMS__V1__REMOVE_PARTICIPANT_REQUEST__INIT;
    r.room_id = (char *)room;
    r.user_id = (char *)user;
    rpc_ccall cc;
    cc_start(&cc, G.org);
    rooms__v1__rooms__remove_participant(G.rs, &r, NULL, &cc);
    expect_ok(&cc);
    rpc_ccall_free(&cc);
}

/* UpdateParticipant of `user`: the role (role != 0) or else the metadata only. */
static void update(const char *room, const char *user, Rooms__V1__Role role)
{
    Rooms__V1__UpdateParticipantRequest r = ROOMS__V1__UPDATE_PARTICIPANT_REQUEST__INIT;
    r.room_id = (char *)room;
    r.user_id = (char *)user;
    Google__Protobuf__FieldMask mask = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
    char *paths[] = {role ? "role" : "metadata"};
    mask.paths = paths;
    mask.n_paths = 1;
    r.update_mask = &mask;
    r.role = role;
    Google__Protobuf__Struct meta = GOOGLE__PROTOBUF__STRUCT__INIT;
    r.metadata = &meta;
    rpc_ccall cc;
    cc_start(&cc, G.org);
    rooms__v1__rooms__update_participant(G.rs, &r, NULL, &cc);
    expect_ok(&cc);
    rpc_ccall_free(&cc);
}

static char *create_prize(const char *room, int quantity)
{
    Draw__V1__CreatePrizeRequest req = DRAW__V1__CREATE_PRIZE_REQUEST__INIT;
    req.room_id = (char *)room;
    req.name = "prize";
    req.quantity = quantity;
    rpc_ccall cc;
    cc_start(&cc, G.org);
    draw__v1__draw__create_prize(G.ds, &req, NULL, &cc);
    expect_ok(&cc);
    char *id = xstrdup(((const Draw__V1__Prize *)cc.response)->prize_id);
    rpc_ccall_free(&cc);
    return id;
}

/* DrawWinners of count; the caller frees cc (the response stays readable until then). */
static void draw(rpc_ccall *cc, const char *room, const char *prize, int count)
{
    Draw__V1__DrawWinnersRequest req = DRAW__V1__DRAW_WINNERS_REQUEST__INIT;
    req.room_id = (char *)room;
    req.prize_id = (char *)prize;
    req.count = count;
    cc_start(cc, G.org);
    draw__v1__draw__draw_winners(G.ds, &req, NULL, cc);
}

static char *stamp_as(const char *room, const char *auth)
{
    Rooms__V1__CheckPermissionRequest r = ROOMS__V1__CHECK_PERMISSION_REQUEST__INIT;
    r.room_id = (char *)room;
    r.action = ROOMS__V1__ACTION__MANAGE_PRIZES;
    r.with_eligible_version = true;
    rpc_ccall cc;
    cc_start(&cc, auth);
    rooms__v1__rooms__check_permission(G.rs, &r, NULL, &cc);
    expect_ok(&cc);
    char *v = xstrdup(((const Rooms__V1__CheckPermissionResponse *)cc.response)->eligible_version);
    rpc_ccall_free(&cc);
    return v;
}

static char *stamp(const char *room)
{
    return stamp_as(room, G.org);
}

/* The eligible list read from rooms in pages of `page`, compact or not (malloc'd ids). Checks
 * that the compact pages all carry `want_stamp` (when given). */
static size_t listing(const char *room, bool compact, int page, char ***out, const char *want)
{
    size_t n = 0, cap = 64;
    char **ids = xmalloc(cap * sizeof *ids);
    char *token = xstrdup("");
    for (;;) {
        Rooms__V1__ListEligibleParticipantsRequest r =
            ROOMS__V1__LIST_ELIGIBLE_PARTICIPANTS_REQUEST__INIT;
        r.room_id = (char *)room;
        r.page_size = page;
        r.ids_only = true;
        r.compact = compact;
        r.page_token = token;
        rpc_ccall cc;
        cc_start(&cc, G.org);
        rooms__v1__rooms__list_eligible_participants(G.rs, &r, NULL, &cc);
        expect_ok(&cc);
        const Rooms__V1__ListEligibleParticipantsResponse *p = (const void *)cc.response;
        if (compact) {
            assert_int_equal(p->n_participants, 0);
            assert_int_equal(p->n_participant_ids, p->n_user_ids);
            if (want)
                assert_string_equal(p->eligible_version, want);
        } else {
            assert_int_equal(p->n_participant_ids, 0);
        }
        size_t got = compact ? p->n_participant_ids : p->n_participants;
        assert_true(got <= (size_t)page);
        for (size_t i = 0; i < got; i++) {
            if (n == cap)
                ids = xrealloc(ids, (cap *= 2) * sizeof *ids);
            ids[n++] = xasprintf(
                "%s %s", compact ? p->participant_ids[i] : p->participants[i]->participant_id,
                compact ? p->user_ids[i] : p->participants[i]->user_id);
        }
        free(token);
        token = xstrdup(p->next_page_token);
        rpc_ccall_free(&cc);
        if (!*token)
            break;
    }
    free(token);
    *out = ids;
    return n;
}

static void free_ids(char **ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
}

/* rooms: the stamp changes with the eligible list, and only with it; strangers get none; the
 * compact listing is the submessage listing, in the same order, every page at the stamp. */
static void test_stamp_and_compact_listing(void **state)
{
    (void)state;
    char *room = room_with("stamp"), user[32];
    for (int i = 0; i < 23; i++) {
        snprintf(user, sizeof user, "us-%03d", (i * 7) % 23); /* not in id order */
        member(room, user, ROOMS__V1__ROLE__PARTICIPANT);
    }
    char *v0 = stamp(room);
    assert_true(strlen(v0) > 0);
    char *again = stamp(room);
    assert_string_equal(v0, again); /* reading does not change it */
    free(again);

    char **a, **b;
    size_t na = listing(room, true, 5, &a, v0), nb = listing(room, false, 5, &b, NULL);
    assert_int_equal(na, 23);
    assert_int_equal(nb, 23);
    for (size_t i = 0; i < na; i++) {
        assert_string_equal(a[i], b[i]);
        if (i > 0)
            assert_true(strcmp(a[i - 1], a[i]) < 0);
    }
    free_ids(a, na), free_ids(b, nb);

    /* not eligibility: staff joining, a metadata update → same stamp */
    member(room, "mod-x", ROOMS__V1__ROLE__MODERATOR);
    update(room, "us-001", 0);
    char *v1 = stamp(room);
    assert_string_equal(v0, v1);
    /* a stranger (not allowed to manage prizes) learns nothing about the list */
    char *vs = stamp_as(room, G.stranger);
    assert_string_equal(vs, "");
    free(vs);

    /* each change of the list → a new stamp, never an old one */
    char *seen[8] = {v0};
    int nseen = 1;
    for (int step = 0; step < 5; step++) {
        switch (step) {
        case 0:
            member(room, "us-new", ROOMS__V1__ROLE__PARTICIPANT);
            break; /* join */
        case 1:
            leave(room, "us-002");
            break; /* leave */
        case 2:
            update(room, "us-003", ROOMS__V1__ROLE__VIEWER);
            break; /* demote */
        case 3:
            update(room, "us-003", ROOMS__V1__ROLE__PARTICIPANT);
            break; /* promote back */
        case 4:
            member(room, "us-002", ROOMS__V1__ROLE__PARTICIPANT);
            break; /* rejoin */
        }
        char *v = stamp(room);
        for (int i = 0; i < nseen; i++)
            assert_string_not_equal(v, seen[i]);
        seen[nseen++] = v;
    }
    for (int i = 0; i < nseen; i++)
        free(seen[i]);
    free(v1);
    free(room);
}

/* CheckPermission(MANAGE_PRIZES) as org: its code, and the stamp (malloc) when asked for. */
static cf_code check_as_org(const char *room, bool with_version, char **version)
{
    Rooms__V1__CheckPermissionRequest r = ROOMS__V1__CHECK_PERMISSION_REQUEST__INIT;
    r.room_id = (char *)room;
    r.action = ROOMS__V1__ACTION__MANAGE_PRIZES;
    r.with_eligible_version = with_version;
    rpc_ccall cc;
    cc_start(&cc, G.org);
    rooms__v1__rooms__check_permission(G.rs, &r, NULL, &cc);
    cf_code code = cc.code;
    if (code == CF_OK) {
        const Rooms__V1__CheckPermissionResponse *p = (const void *)cc.response;
        assert_true(p->allowed);
        assert_string_equal(p->room->room_id, room);
        *version = xstrdup(p->eligible_version);
    }
    rpc_ccall_free(&cc);
    return code;
}

/* The room's stamp as the database has it now ("" = no row), malloc'd. */
static char *db_stamp(const char *room)
{
    PGconn *pg = th_pg_connect(G.rooms->dsn);
    const char *p[] = {room};
    PGresult *r = PQexecParams(pg, "SELECT version FROM rooms.eligible_versions WHERE room_id = $1",
                               1, NULL, p, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    char *v = xstrdup(PQntuples(r) == 1 ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    PQfinish(pg);
    return v;
}

/* The room's stamp through CheckPermission (one statement with the room row): it is the asked
 * room's own stamp as the database has it, the one its compact listing carries, new after each
 * join or leave of THAT room and unchanged by another room's; not asked, none is answered; a
 * deleted room is NOT_FOUND with or without it. */
static void test_stamp_is_the_rooms_own(void **state)
{
    (void)state;
    char *ra = room_with("own-a"), *rb = room_with("own-b"), *v;
    assert_int_equal(check_as_org(ra, true, &v), CF_OK); /* no PARTICIPANT ever: no stamp */
    char *d = db_stamp(ra);
    assert_string_equal(v, d);
    free(v), free(d);
    member(ra, "own-1", ROOMS__V1__ROLE__PARTICIPANT);
    member(ra, "own-2", ROOMS__V1__ROLE__PARTICIPANT);
    member(rb, "own-1", ROOMS__V1__ROLE__PARTICIPANT);
    char *sa = NULL, *sb = NULL;
    for (int step = 0; step < 4; step++) {
        switch (step) {
        case 1:
            member(ra, "own-3", ROOMS__V1__ROLE__PARTICIPANT);
            break;
        case 2:
            leave(rb, "own-1");
            break;
        case 3:
            leave(ra, "own-1");
            break;
        }
        char *na, *nb;
        assert_int_equal(check_as_org(ra, true, &na), CF_OK);
        assert_int_equal(check_as_org(rb, true, &nb), CF_OK);
        assert_true(*na && *nb);
        assert_string_not_equal(na, nb);
        char *da = db_stamp(ra), *dbs = db_stamp(rb);
        assert_string_equal(na, da);
        assert_string_equal(nb, dbs);
        free(da), free(dbs);
        char **ids;
        free_ids(ids, listing(ra, true, 2, &ids, na)); /* every page carries the same stamp */
        free_ids(ids, listing(rb, true, 2, &ids, nb));
        if (step > 0) { /* exactly the changed room's stamp moved */
            assert_true((strcmp(na, sa) != 0) == (step != 2));
            assert_true((strcmp(nb, sb) != 0) == (step == 2));
        }
        free(sa), free(sb);
        sa = na, sb = nb;
    }
    assert_int_equal(check_as_org(ra, false, &v), CF_OK);
    assert_string_equal(v, "");
    free(v);

    Rooms__V1__DeleteRoomRequest del = ROOMS__V1__DELETE_ROOM_REQUEST__INIT;
    del.room_id = rb;
    rpc_ccall cc;
    cc_start(&cc, G.org);
    rooms__v1__rooms__delete_room(G.rs, &del, NULL, &cc);
    expect_ok(&cc);
    rpc_ccall_free(&cc);
    assert_int_equal(check_as_org(rb, true, &v), CF_NOT_FOUND);
    assert_int_equal(check_as_org(rb, false, &v), CF_NOT_FOUND);
    assert_int_equal(check_as_org("no-such-room", true, &v), CF_NOT_FOUND);
    free(sa), free(sb), free(ra), free(rb);
}

/* the user ids of a draw's winners, and its record's digest against the list we expect */
static void check_record(const Draw__V1__DrawWinnersResponse *r, char **expect_pids, size_t n)
{
    uint8_t dg[DRAW_DIGEST_LEN];
    char hex[65];
    draw_digest_list((const char *const *)expect_pids, n, dg);
    draw_hex(dg, sizeof dg, hex);
    assert_int_equal(r->draw->eligible_count, (int64_t)n);
    assert_string_equal(r->draw->eligible_digest, hex);
}

/* The eligible participant ids of room now, as rooms lists them (malloc'd). */
static size_t eligible_pids(const char *room, char ***out)
{
    char **ids;
    size_t n = listing(room, false, 1000, &ids, NULL);
    for (size_t i = 0; i < n; i++)
        *strchr(ids[i], ' ') = '\0';
    *out = ids;
    return n;
}

/* SPEC §3 "Prizes and winners": only eligible participants win — also through the eligible
 * list cache (filled by the first draw), which never serves a stale list: after leave /
 * demotion / join / rejoin, the next draw sees exactly the new list (count, digest, who can
 * win). */
static void test_cache_follows_membership(void **state)
{
    (void)state;
    char *room = room_with("cache"), user[32];
    for (int i = 0; i < 20; i++) {
        snprintf(user, sizeof user, "uc-%03d", i);
        member(room, user, ROOMS__V1__ROLE__PARTICIPANT);
    }
    char *prize = create_prize(room, 1000);
    rpc_ccall cc;
    draw(&cc, room, prize, 1); /* fills the cache */
    expect_ok(&cc);
    char *won[2];
    won[0] = xstrdup(((const Draw__V1__DrawWinnersResponse *)cc.response)->winners[0]->user_id);
    rpc_ccall_free(&cc);
    draw(&cc, room, prize, 1); /* served from it: 19 left (the first winner is excluded) */
    expect_ok(&cc);
    const Draw__V1__DrawWinnersResponse *r = (const void *)cc.response;
    assert_int_equal(r->draw->eligible_count, 19);
    won[1] = xstrdup(r->winners[0]->user_id);
    rpc_ccall_free(&cc);

    /* change the membership: the two users who can no longer win are not past winners */
    char cand[2][32];
    for (int i = 10, c = 0; c < 2; i++) {
        snprintf(cand[c], sizeof cand[c], "uc-%03d", i);
        if (strcmp(cand[c], won[0]) != 0 && strcmp(cand[c], won[1]) != 0)
            c++;
    }
    const char *gone = cand[0], *demoted = cand[1];
    leave(room, gone);
    update(room, demoted, ROOMS__V1__ROLE__VIEWER);
    member(room, "uc-new", ROOMS__V1__ROLE__PARTICIPANT);
    leave(room, "uc-005");
    member(room, "uc-005", ROOMS__V1__ROLE__PARTICIPANT); /* rejoined: eligible again */

    /* everyone eligible now (all but past winners of this prize): exactly that many can win */
    char **pids;
    size_t n = eligible_pids(room, &pids);
    assert_int_equal(n, 19);    /* 20 - gone - demoted + new */
    draw(&cc, room, prize, 18); /* 19 minus the two past winners = 17 */
    assert_refusal(&cc, CF_FAILED_PRECONDITION, "count");
    rpc_ccall_free(&cc);
    draw(&cc, room, prize, 17);
    expect_ok(&cc);
    r = (const void *)cc.response;
    assert_int_equal(r->n_winners, 17);
    bool saw_new = false;
    for (size_t i = 0; i < r->n_winners; i++) {
        assert_string_not_equal(r->winners[i]->user_id, gone);
        assert_string_not_equal(r->winners[i]->user_id, demoted);
        saw_new = saw_new || strcmp(r->winners[i]->user_id, "uc-new") == 0;
    }
    assert_true(saw_new);
    /* the audit record names the exact list: rooms' list minus the two past winners */
    char **expect_list = xmalloc(n * sizeof *expect_list);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        bool won = false;
        for (size_t j = 0; j < r->n_winners; j++)
            won = won || strcmp(r->winners[j]->participant_id, pids[i]) == 0;
        if (won) /* the 17 winners of this draw were all in its list */
            expect_list[m++] = pids[i];
    }
    assert_int_equal(m, 17);
    check_record(r, expect_list, m);
    free(expect_list);
    rpc_ccall_free(&cc);
    free_ids(pids, n);
    free(won[0]), free(won[1]), free(prize), free(room);
}

/* Draws running while members leave or are demoted: a draw that starts after a leave or
 * demotion has been answered never picks that user (cached list or not). */
enum { USERS = 120, CHANGED = 60, DRAWERS = 4 };

static struct {
    const char *room, *prize;
    _Atomic int64_t gone_at[USERS]; /* monotonic ns when the change was answered; 0 = never */
    atomic_bool stop;
    atomic_int draws, answered, bad; /* answered: OK or FAILED_PRECONDITION (nobody left) */
} C;

static void *drawer(void *arg)
{
    (void)arg;
    while (!atomic_load(&C.stop)) {
        int64_t t0 = cf_mono_ns();
        rpc_ccall cc;
        draw(&cc, C.room, C.prize, 1);
        if (cc.code == CF_OK || cc.code == CF_FAILED_PRECONDITION)
            atomic_fetch_add(&C.answered, 1);
        if (cc.code == CF_OK) {
            atomic_fetch_add(&C.draws, 1);
            const Draw__V1__DrawWinnersResponse *r = (const void *)cc.response;
            int u = atoi(r->winners[0]->user_id + 3);
            int64_t g = atomic_load(&C.gone_at[u]);
            if (g && g < t0) {
                fprintf(stderr, "user %s won a draw started after they left\n",
                        r->winners[0]->user_id);
                atomic_fetch_add(&C.bad, 1);
            }
        } else if (cc.code != CF_FAILED_PRECONDITION) {
            fprintf(stderr, "draw: %s %s\n", cf_code_name(cc.code), cc.message);
            atomic_fetch_add(&C.bad, 1);
        }
        rpc_ccall_free(&cc);
    }
    return NULL;
}

static void test_concurrent_changes_never_win(void **state)
{
    (void)state;
    char *room = room_with("concurrent"), user[32];
    for (int i = 0; i < USERS; i++) {
        snprintf(user, sizeof user, "ux-%03d", i);
        member(room, user, ROOMS__V1__ROLE__PARTICIPANT);
    }
    char *prize = create_prize(room, 100000);
    memset(&C, 0, sizeof C);
    C.room = room, C.prize = prize;
    pthread_t t[DRAWERS];
    for (int i = 0; i < DRAWERS; i++)
        pthread_create(&t[i], NULL, drawer, NULL);
    /* the changes overlap the draws on purpose, not by luck of the scheduler: a draw has won
     * before the first change, and one is answered after the last (by then everybody may have
     * won: FAILED_PRECONDITION counts) (60 s: a bound, not a wait) */
    int64_t end = cf_mono_ns() + 60 * 1000000000LL;
    while (atomic_load(&C.draws) == 0 && cf_mono_ns() < end)
        usleep(1000);
    assert_true(atomic_load(&C.draws) > 0);
    for (int i = 0; i < CHANGED; i++) {
        int u = (i * 37) % USERS;
        snprintf(user, sizeof user, "ux-%03d", u);
        if (i % 2)
            leave(room, user);
        else
            update(room, user, ROOMS__V1__ROLE__VIEWER);
        atomic_store(&C.gone_at[u], cf_mono_ns());
    }
    int before = atomic_load(&C.answered);
    end = cf_mono_ns() + 60 * 1000000000LL;
    while (atomic_load(&C.answered) == before && cf_mono_ns() < end)
        usleep(1000);
    atomic_store(&C.stop, true);
    for (int i = 0; i < DRAWERS; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(atomic_load(&C.bad), 0);
    assert_true(atomic_load(&C.answered) > before);
    free(prize), free(room);
}

/* One idempotency rule over every creating method: tests/integration/gateway/test_idempotency.c
 * (by RPC and by HTTP, every service). */

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stamp_and_compact_listing),
        cmocka_unit_test(test_stamp_is_the_rooms_own),
        cmocka_unit_test(test_cache_follows_membership),
        cmocka_unit_test(test_concurrent_changes_never_win),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
