/* test_search.c — ListRooms?q= (issue 18 item 4; docs/rooms.md, "Search") through real RPC on
 * a fresh database: websearch syntax and ranking (name above description), visibility exactly
 * the listing's (every caller and filter shape: the search for a word every room has returns
 * the listing's rooms), (rank, id) pages that neither repeat nor skip a room when rooms are
 * created, changed or deleted between pages, and q's bounds. */
#include "th.h"
#include "pg.h"
#include "service.h"
#include "testsvc.h"
#include "rooms.h"
#include "rooms_calls.h"
#include "base/xmalloc.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S(x) ROOMS__V1__ROOM_STATUS__##x

static th_keys *keys;
static th_service *rooms;

static user u_org = {.sub = "se-org"}, u_mem = {.sub = "se-member"},
            u_none = {.sub = "se-stranger"}, u_admin = {.sub = "se-admin", .admin = true},
            u_anon = {.sub = NULL};
static user *all_users[] = {&u_org, &u_mem, &u_none, &u_admin};

static char *create_room(user *u, const char *name, const char *description, bool pub)
{
    Rooms__V1__CreateRoomRequest req = ROOMS__V1__CREATE_ROOM_REQUEST__INIT;
    req.name = (char *)name;
    req.description = (char *)description;
    req.is_public = pub;
    rpc_ccall *cc = rc("CreateRoom", u, &req);
    if (cc->code != CF_OK)
        fail_msg("CreateRoom: %s", cc->message);
    char *id = xstrdup(((Rooms__V1__Room *)cc->response)->room_id);
    done(cc);
    return id;
}

static void set_text(user *u, const char *room_id, const char *name, const char *description)
{
    Rooms__V1__Room room = ROOMS__V1__ROOM__INIT;
    room.room_id = (char *)room_id;
    room.name = (char *)name;
    room.description = (char *)description;
    char *paths[] = {"name", "description"};
    Google__Protobuf__FieldMask mask = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
    mask.paths = paths;
    mask.n_paths = 2;
    Rooms__V1__UpdateRoomRequest req = ROOMS__V1__UPDATE_ROOM_REQUEST__INIT;
    req.room = &room;
    req.update_mask = &mask;
    ok(rc("UpdateRoom", u, &req));
}

static void add_member(user *by, const char *room_id, user *who)
{
    Rooms__V1__AddParticipantRequest req = ROOMS__V1__ADD_PARTICIPANT_REQUEST__INIT;
    req.room_id = (char *)room_id;
    req.user_id = (char *)who->sub;
    req.role = ROOMS__V1__ROLE__PARTICIPANT;
    ok(rc("AddParticipant", by, &req));
}

static void remove_member(user *by, const char *room_id, user *who)
{
    Rooms__V1__RemoveParticipantRequest req = ROOMS__V1__REMOVE_PARTICIPANT_REQUEST__INIT;
    req.room_id = (char *)room_id;
    req.user_id = (char *)who->sub;
    ok(rc("RemoveParticipant", by, &req));
}

static void status_op(const char *method, user *u, const char *room_id)
{
    Rooms__V1__ActivateRoomRequest req = ROOMS__V1__ACTIVATE_ROOM_REQUEST__INIT;
    req.room_id = (char *)room_id;
    ok(rc(method, u, &req));
}

static void delete_room(user *u, const char *room_id)
{
    Rooms__V1__DeleteRoomRequest req = ROOMS__V1__DELETE_ROOM_REQUEST__INIT;
    req.room_id = (char *)room_id;
    ok(rc("DeleteRoom", u, &req));
}

/* One ListRooms call (the caller frees). */
static rpc_ccall *list(user *u, const char *q, Rooms__V1__RoomStatus status, const char *pub,
                       int size, const char *token)
{
    Rooms__V1__ListRoomsRequest req = ROOMS__V1__LIST_ROOMS_REQUEST__INIT;
    req.q = (char *)(q ? q : "");
    req.status = status;
    req.is_public = (char *)(pub ? pub : "");
    req.page_size = size;
    req.page_token = (char *)(token ? token : "");
    return rc("ListRooms", u, &req);
}

/* How many pages the last all_pages read, and how many of them said searchTruncated. */
static int pages_read, pages_truncated;

/* Every page of a listing or search, room ids joined by ',' in the order returned (caller
 * frees). Fails on any error or a repeated id. */
static char *all_pages(user *u, const char *q, Rooms__V1__RoomStatus status, const char *pub,
                       int size)
{
    char *out = xstrdup(""), *token = NULL;
    pages_read = pages_truncated = 0;
    for (int pages = 0; pages < 1000; pages++) {
        rpc_ccall *cc = list(u, q, status, pub, size, token);
        if (cc->code != CF_OK)
            fail_msg("ListRooms q=%s: %s: %s", q ? q : "", cf_code_name(cc->code), cc->message);
        Rooms__V1__ListRoomsResponse *r = (Rooms__V1__ListRoomsResponse *)cc->response;
        pages_read++;
        pages_truncated += r->search_truncated;
        for (size_t i = 0; i < r->n_rooms; i++) {
            char *needle = xasprintf(",%s,", r->rooms[i]->room_id), *hay = xasprintf(",%s,", out);
            if (strstr(hay, needle))
                fail_msg("room %s listed twice (q=%s)", r->rooms[i]->room_id, q ? q : "");
            free(needle);
            free(hay);
            char *next = xasprintf("%s%s%s", out, *out ? "," : "", r->rooms[i]->room_id);
            free(out);
            out = next;
        }
        free(token);
        token = *r->next_page_token ? xstrdup(r->next_page_token) : NULL;
        done(cc);
        if (!token)
            return out;
    }
    fail_msg("more than 1000 pages");
    return out;
}

/* The ids of a comma list, sorted (to compare sets). */
static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *sorted(const char *csv)
{
    char *copy = xstrdup(csv), *v[512];
    size_t n = 0;
    for (char *save, *t = strtok_r(copy, ",", &save); t && n < 512; t = strtok_r(NULL, ",", &save))
        v[n++] = t;
    qsort(v, n, sizeof *v, cmp_str);
    char *out = xstrdup("");
    for (size_t i = 0; i < n; i++) {
        char *next = xasprintf("%s%s%s", out, i ? "," : "", v[i]);
        free(out);
        out = next;
    }
    free(copy);
    return out;
}

/* The rooms of one search page, in order (caller frees). */
static char *page_ids(rpc_ccall *cc)
{
    if (cc->code != CF_OK)
        fail_msg("ListRooms: %s: %s", cf_code_name(cc->code), cc->message);
    Rooms__V1__ListRoomsResponse *r = (Rooms__V1__ListRoomsResponse *)cc->response;
    char *out = xstrdup("");
    for (size_t i = 0; i < r->n_rooms; i++) {
        char *next = xasprintf("%s%s%s", out, i ? "," : "", r->rooms[i]->room_id);
        free(out);
        out = next;
    }
    return out;
}

static void expect_violation(rpc_ccall *cc, const char *field)
{
    assert_int_equal(cc->code, CF_INVALID_ARGUMENT);
    assert_true(cc->ndetails >= 1);
    assert_string_equal(cc->details[0]->field, field);
    done(cc);
}

/* Websearch syntax and ranking: a room named with the words ranks above one whose description
 * has them; OR, -word and "phrase" work; matching is case-insensitive, words unstemmed. */
static void test_syntax_and_ranking(void **state)
{
    (void)state;
    char *named = create_room(&u_org, "Walrus Festival", "", true);
    char *described = create_room(&u_org, "Autumn fair", "with a walrus festival stage", true);
    char *other = create_room(&u_org, "Penguin parade", "no walruses here", true);
    rpc_ccall *cc = list(&u_anon, "walrus festival", 0, NULL, 10, NULL);
    char *ids = page_ids(cc);
    char *want = xasprintf("%s,%s", named, described);
    assert_string_equal(ids, want); /* name (weight A) above description (weight B) */
    free(ids);
    free(want);
    done(cc);

    cc = list(&u_anon, "WALRUS or penguin", 0, NULL, 10, NULL);
    char *raw = page_ids(cc);
    ids = sorted(raw);
    free(raw);
    done(cc);
    char *w = xasprintf("%s,%s,%s", named, described, other), *ws = sorted(w);
    assert_string_equal(ids, ws);
    free(ids);
    free(w);
    free(ws);

    cc = list(&u_anon, "walrus -autumn", 0, NULL, 10, NULL);
    ids = page_ids(cc);
    assert_string_equal(ids, named);
    free(ids);
    done(cc);

    cc = list(&u_anon, "\"festival stage\"", 0, NULL, 10, NULL);
    ids = page_ids(cc);
    assert_string_equal(ids, described);
    free(ids);
    done(cc);

    /* 'simple': no stemming, "walruses" is its own word */
    cc = list(&u_anon, "walruses", 0, NULL, 10, NULL);
    ids = page_ids(cc);
    assert_string_equal(ids, other);
    free(ids);
    done(cc);

    /* nothing searchable in q (punctuation only): no rooms, not an error */
    cc = list(&u_anon, "!!! ---", 0, NULL, 10, NULL);
    ids = page_ids(cc);
    assert_string_equal(ids, "");
    free(ids);
    done(cc);
    delete_room(&u_org, named);
    delete_room(&u_org, described);
    delete_room(&u_org, other);
    free(named);
    free(described);
    free(other);
}

/* SPEC §6 / docs/rooms.md: search shows exactly what the listing shows each caller. Every room
 * of this test has the word "okapi"; a search for it must page through the same rooms as the
 * listing (restricted to this test's rooms) for every caller and filter shape. */
static void test_visibility_is_the_listings(void **state)
{
    (void)state;
    char *pub = create_room(&u_org, "okapi public", "", true);
    char *priv = create_room(&u_org, "okapi private", "", false);
    char *priv_member = create_room(&u_org, "okapi members", "", false);
    char *priv_left = create_room(&u_org, "okapi left", "", false);
    char *gone = create_room(&u_org, "okapi deleted", "", true);
    char *active = create_room(&u_org, "okapi active", "", false);
    add_member(&u_org, priv_member, &u_mem);
    add_member(&u_org, priv_left, &u_mem);
    remove_member(&u_org, priv_left, &u_mem);
    add_member(&u_org, active, &u_mem);
    status_op("ActivateRoom", &u_org, active);
    delete_room(&u_org, gone);
    const char *mine[] = {pub, priv, priv_member, priv_left, gone, active};

    user *callers[] = {&u_org, &u_mem, &u_none, &u_admin, &u_anon};
    Rooms__V1__RoomStatus statuses[] = {0, S(ACTIVE), S(DRAFT)};
    const char *pubs[] = {NULL, "true", "false"};
    for (size_t c = 0; c < sizeof callers / sizeof *callers; c++)
        for (size_t s = 0; s < 3; s++)
            for (size_t p = 0; p < 3; p++) {
                char *listed = all_pages(callers[c], NULL, statuses[s], pubs[p], 3);
                /* the listing, limited to this test's rooms */
                char *expect = xstrdup("");
                for (size_t i = 0; i < sizeof mine / sizeof *mine; i++) {
                    char *needle = xasprintf(",%s,", mine[i]), *hay = xasprintf(",%s,", listed);
                    if (strstr(hay, needle)) {
                        char *next = xasprintf("%s%s%s", expect, *expect ? "," : "", mine[i]);
                        free(expect);
                        expect = next;
                    }
                    free(needle);
                    free(hay);
                }
                char *found = all_pages(callers[c], "okapi", statuses[s], pubs[p], 2);
                assert_int_equal(pages_truncated, 0); /* 6 matches, search.max_ranked 1000 */
                char *a = sorted(expect), *b = sorted(found);
                if (strcmp(a, b) != 0)
                    fail_msg("caller %s status %d public %s: listing {%s} search {%s}",
                             callers[c]->sub ? callers[c]->sub : "(anonymous)", (int)statuses[s],
                             pubs[p] ? pubs[p] : "any", a, b);
                free(a);
                free(b);
                free(listed);
                free(expect);
                free(found);
            }
    /* spot checks of the rule itself */
    char *m_raw = all_pages(&u_mem, "okapi", 0, NULL, 10), *m = sorted(m_raw);
    free(m_raw);
    char *w = xasprintf("%s,%s,%s", pub, priv_member, active), *ws = sorted(w);
    assert_string_equal(m, ws);
    free(m);
    free(w);
    free(ws);
    char *s = all_pages(&u_none, "okapi", 0, NULL, 10);
    assert_string_equal(s, pub);
    free(s);
    for (size_t i = 0; i < sizeof mine / sizeof *mine; i++)
        free((char *)mine[i]);
}

/* Pages are a (rank, id) keyset: rooms created, changed or deleted between two pages never make
 * a room that matched throughout appear twice or not at all; a new room ranked before the
 * position is not shown (it was not there when those pages were read), one after it is. */
static void test_pages_stable_under_writes(void **state)
{
    (void)state;
    enum { N = 9 };
    char *ids[N];
    /* three rank levels: the word in the name twice, once, or only in the description */
    for (int i = 0; i < N; i++) {
        char name[64];
        snprintf(name, sizeof name,
                 i % 3 == 0   ? "gnu gnu %d"
                 : i % 3 == 1 ? "gnu %d"
                              : "hall %d",
                 i);
        ids[i] = create_room(&u_org, name, i % 3 == 2 ? "a gnu inside" : "", true);
    }
    char *before = all_pages(&u_anon, "gnu", 0, NULL, 100);

    /* page 1 of size 3, then writes, then the rest */
    rpc_ccall *cc = list(&u_anon, "gnu", 0, NULL, 3, NULL);
    char *seen = page_ids(cc);
    char *token = xstrdup(((Rooms__V1__ListRoomsResponse *)cc->response)->next_page_token);
    assert_true(*token);
    done(cc);
    char *top = create_room(&u_org, "gnu gnu gnu gnu", "", true); /* ranks before the position */
    char *bottom = create_room(&u_org, "hall late", "gnu", true); /* ranks after it */
    /* the last room of `before` is deleted; a room not seen yet stays where it was */
    char *last = strrchr(before, ',') + 1;
    delete_room(&u_org, last);
    char *rest = xstrdup("");
    while (token) {
        cc = list(&u_anon, "gnu", 0, NULL, 3, token);
        char *p = page_ids(cc);
        char *next = xasprintf("%s%s%s", rest, *rest && *p ? "," : "", p);
        free(rest);
        rest = next;
        free(p);
        free(token);
        const char *t = ((Rooms__V1__ListRoomsResponse *)cc->response)->next_page_token;
        token = *t ? xstrdup(t) : NULL;
        done(cc);
    }
    char *got = xasprintf("%s,%s", seen, rest);
    /* expected: `before` without the deleted room, with `bottom` among the description-only
     * rank (which comes last), and without `top` */
    assert_null(strstr(got, top));
    assert_non_null(strstr(rest, bottom));
    assert_null(strstr(got, last));
    char *b = sorted(before), *g0 = xasprintf("%s,%s", got, last), *g1 = xstrdup(g0);
    /* got + the deleted one = before + bottom */
    char *exp = xasprintf("%s,%s", before, bottom);
    char *es = sorted(exp), *gs = sorted(g1);
    assert_string_equal(es, gs);
    /* order: everything returned, best first, is the order of a fresh full search */
    char *fresh = all_pages(&u_anon, "gnu", 0, NULL, 100);
    assert_non_null(strstr(fresh, top));
    free(b);
    free(g0);
    free(g1);
    free(exp);
    free(es);
    free(gs);
    free(fresh);
    free(got);
    free(rest);
    free(seen);

    /* a room seen on page 1 whose text changes so it ranks after the position is met again
     * (it moved); one not seen yet that moves before the position is not (docs/rooms.md) */
    cc = list(&u_anon, "gnu", 0, NULL, 2, NULL);
    Rooms__V1__ListRoomsResponse *r = (Rooms__V1__ListRoomsResponse *)cc->response;
    char *first = xstrdup(r->rooms[0]->room_id);
    token = xstrdup(r->next_page_token);
    done(cc);
    set_text(&u_org, first, "moved", "gnu at the end");
    char *after = xstrdup("");
    while (token) {
        cc = list(&u_anon, "gnu", 0, NULL, 2, token);
        char *p = page_ids(cc);
        char *next = xasprintf("%s%s%s", after, *after && *p ? "," : "", p);
        free(after);
        after = next;
        free(p);
        free(token);
        const char *t = ((Rooms__V1__ListRoomsResponse *)cc->response)->next_page_token;
        token = *t ? xstrdup(t) : NULL;
        done(cc);
    }
    assert_non_null(strstr(after, first));
    free(after);
    free(first);
    free(before);
    free(top);
    free(bottom);
    for (int i = 0; i < N; i++) { /* one of them is gone already */
        Rooms__V1__DeleteRoomRequest req = ROOMS__V1__DELETE_ROOM_REQUEST__INIT;
        req.room_id = ids[i];
        done(rc("DeleteRoom", &u_org, &req));
        free(ids[i]);
    }
}

/* q's bounds: at most ROOMS_SEARCH_MAX code points, UTF-8, no control characters (INVALID_
 * ARGUMENT on "q"); empty or white space only is the plain listing; a page token is bound to
 * its q (and a listing's token is not a search's). */
static void test_bounds_and_tokens(void **state)
{
    (void)state;
    char long_q[ROOMS_SEARCH_MAX + 2];
    memset(long_q, 'a', ROOMS_SEARCH_MAX + 1);
    long_q[ROOMS_SEARCH_MAX + 1] = '\0';
    expect_violation(list(&u_anon, long_q, 0, NULL, 10, NULL), "q");
    long_q[ROOMS_SEARCH_MAX] = '\0'; /* exactly the bound: fine */
    ok(list(&u_anon, long_q, 0, NULL, 10, NULL));
    expect_violation(list(&u_anon, "bad\x01word", 0, NULL, 10, NULL), "q");
    expect_violation(list(&u_anon, "bad\xff", 0, NULL, 10, NULL), "q");

    char *a = create_room(&u_org, "yak one", "", true),
         *b = create_room(&u_org, "yak two", "", true);
    /* white space only: the listing, newest first */
    rpc_ccall *cc = list(&u_anon, "  \t ", 0, NULL, 1, NULL);
    char *ids = page_ids(cc);
    assert_string_equal(ids, b);
    free(ids);
    char *list_token = xstrdup(((Rooms__V1__ListRoomsResponse *)cc->response)->next_page_token);
    done(cc);
    expect_violation(list(&u_anon, "yak", 0, NULL, 1, list_token), "pageToken");
    cc = list(&u_anon, "yak", 0, NULL, 1, NULL);
    char *search_token = xstrdup(((Rooms__V1__ListRoomsResponse *)cc->response)->next_page_token);
    assert_true(*search_token);
    done(cc);
    expect_violation(list(&u_anon, "zebu", 0, NULL, 1, search_token), "pageToken");
    expect_violation(list(&u_anon, NULL, 0, NULL, 1, search_token), "pageToken");
    expect_violation(list(&u_org, "yak", 0, NULL, 1, search_token), "pageToken"); /* other caller */
    ok(list(&u_anon, "yak", 0, NULL, 1, search_token));
    ok(list(&u_anon, "  yak ", 0, NULL, 1, search_token)); /* the same q once trimmed */
    free(list_token);
    free(search_token);
    delete_room(&u_org, a);
    delete_room(&u_org, b);
    free(a);
    free(b);
}

/* ---------------------------------------------------------------- search.max_ranked = 5
 * (docs/rooms.md, "Search", "Cost"; decisions.md, "Search cost is bounded"): a search ranks at
 * most the first MAX_RANKED visible matches and says searchTruncated when more match. */
enum { MAX_RANKED = 5 };

static int count_ids(const char *csv)
{
    int n = *csv != '\0';
    for (const char *p = csv; *p; p++)
        n += *p == ',';
    return n;
}

static bool has_id(const char *csv, const char *id)
{
    char *needle = xasprintf(",%s,", id), *hay = xasprintf(",%s,", csv);
    bool found = strstr(hay, needle) != NULL;
    free(needle);
    free(hay);
    return found;
}

/* n rooms whose rank for `word` has three levels (the word twice in the name, once, only in
 * the description): level[i] = 2, 1, 0. Made by u_org, public or not. */
static void make_ranked(const char *word, int n, bool pub, char **ids, int *level)
{
    for (int i = 0; i < n; i++) {
        level[i] = 2 - i % 3;
        char name[96];
        if (level[i] == 2)
            snprintf(name, sizeof name, "%s %s %d", word, word, i);
        else if (level[i] == 1)
            snprintf(name, sizeof name, "%s hall %d", word, i);
        else
            snprintf(name, sizeof name, "hall %d", i);
        ids[i] = create_room(&u_org, name, level[i] == 0 ? word : "nothing else", pub);
    }
}

/* The returned order is the ranking: levels never rise, equal levels by id descending; every
 * room returned is one of ids (matching and visible). */
static void expect_ranked(const char *csv, char **ids, const int *level, int n)
{
    char *copy = xstrdup(csv), *prev_id = NULL;
    int prev = 3;
    for (char *save, *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int l = -1;
        for (int i = 0; i < n; i++)
            if (strcmp(ids[i], t) == 0)
                l = level[i];
        if (l < 0)
            fail_msg("%s: not one of the matching rooms (%s)", t, csv);
        if (l > prev || (l == prev && strcmp(t, prev_id) >= 0))
            fail_msg("%s (level %d) after %s (level %d): not ranked (%s)", t, l, prev_id, prev,
                     csv);
        prev = l;
        prev_id = t;
    }
    free(copy);
}

static void delete_all(char **ids, int n)
{
    for (int i = 0; i < n; i++) {
        Rooms__V1__DeleteRoomRequest req = ROOMS__V1__DELETE_ROOM_REQUEST__INIT;
        req.room_id = ids[i];
        done(rc("DeleteRoom", &u_org, &req)); /* some may be gone already */
        free(ids[i]);
    }
}

/* 20 matches, max_ranked 5: every page says searchTruncated, at most 5 rooms come back over
 * all pages (page size 2 and 100), each matching and visible, in ranked order; at exactly 5
 * matches nothing is truncated and all 5 come back. */
static void test_cap_bounds_what_is_ranked(void **state)
{
    (void)state;
    enum { N = 20 };
    char *ids[N];
    int level[N];
    make_ranked("kudu", MAX_RANKED, true, ids, level);
    char *got = all_pages(&u_anon, "kudu", 0, NULL, 2);
    assert_int_equal(pages_truncated, 0); /* exactly max_ranked matches: all ranked */
    assert_int_equal(count_ids(got), MAX_RANKED);
    expect_ranked(got, ids, level, MAX_RANKED);
    free(got);

    make_ranked("kudu", N - MAX_RANKED, true, ids + MAX_RANKED, level + MAX_RANKED);
    for (int size = 2; size <= 100; size += 98) {
        got = all_pages(&u_anon, "kudu", 0, NULL, size);
        if (pages_truncated != pages_read || count_ids(got) != MAX_RANKED)
            fail_msg("page size %d: %d of %d pages truncated, %d rooms: %s", size, pages_truncated,
                     pages_read, count_ids(got), got);
        expect_ranked(got, ids, level, N);
        free(got);
    }
    /* a search with fewer matches on the same service: not truncated */
    rpc_ccall *cc = list(&u_anon, "hall 7", 0, NULL, 10, NULL); /* one room */
    Rooms__V1__ListRoomsResponse *r = (Rooms__V1__ListRoomsResponse *)cc->response;
    assert_int_equal(r->n_rooms, 1);
    assert_false(r->search_truncated);
    done(cc);
    /* the plain listing never says it */
    cc = list(&u_anon, NULL, 0, NULL, 2, NULL);
    assert_false(((Rooms__V1__ListRoomsResponse *)cc->response)->search_truncated);
    done(cc);
    delete_all(ids, N);
}

/* The cap counts the matches the caller may see, after the listing's filters: private rooms a
 * caller cannot see are not ranked for them and do not make their search truncated. */
static void test_cap_counts_visible_matches(void **state)
{
    (void)state;
    enum { NPRIV = 10, NPUB = 3, N = NPRIV + NPUB };
    char *ids[N];
    int level[N];
    /* the private ones first: the first rows the index yields */
    make_ranked("ibex", NPRIV, false, ids, level);
    make_ranked("ibex", NPUB, true, ids + NPRIV, level + NPRIV);
    user *strangers[] = {&u_none, &u_anon};
    for (size_t i = 0; i < 2; i++) {
        char *got = all_pages(strangers[i], "ibex", 0, NULL, 2);
        assert_int_equal(pages_truncated, 0);
        assert_int_equal(count_ids(got), NPUB);
        for (int k = NPRIV; k < N; k++)
            assert_true(has_id(got, ids[k]));
        expect_ranked(got, ids + NPRIV, level + NPRIV, NPUB);
        free(got);
    }
    /* the organizer and a platform admin see all 13: the best of 5 */
    user *seers[] = {&u_org, &u_admin};
    for (size_t i = 0; i < 2; i++) {
        char *got = all_pages(seers[i], "ibex", 0, NULL, 2);
        assert_int_equal(pages_truncated, pages_read);
        assert_int_equal(count_ids(got), MAX_RANKED);
        expect_ranked(got, ids, level, N);
        /* a filter leaves 3: all ranked */
        char *pub = all_pages(seers[i], "ibex", 0, "true", 2);
        assert_int_equal(pages_truncated, 0);
        assert_int_equal(count_ids(pub), NPUB);
        free(pub);
        free(got);
    }
    /* a member of one private room sees 4: not truncated */
    add_member(&u_org, ids[0], &u_mem);
    char *got = all_pages(&u_mem, "ibex", 0, NULL, 3);
    assert_int_equal(pages_truncated, 0);
    assert_int_equal(count_ids(got), NPUB + 1);
    assert_true(has_id(got, ids[0]));
    free(got);
    delete_all(ids, N);
}

/* Writes between the pages of a truncated search (docs/rooms.md, "Writes between pages"): the
 * candidates may change (an updated row is a new row version elsewhere in the table), but a
 * room already shown is never shown again while its rank holds, and the pages stay in ranked
 * order; every page still says searchTruncated. */
static void test_cap_pages_under_writes(void **state)
{
    (void)state;
    enum { N = 20 };
    char *ids[N];
    int level[N];
    make_ranked("oryx", N, true, ids, level);
    rpc_ccall *cc = list(&u_anon, "oryx", 0, NULL, 2, NULL);
    Rooms__V1__ListRoomsResponse *r = (Rooms__V1__ListRoomsResponse *)cc->response;
    assert_true(r->search_truncated);
    char *seen = page_ids(cc);
    char *token = xstrdup(r->next_page_token);
    assert_true(*token);
    done(cc);
    /* every room rewritten, its rank kept (the word's place and count unchanged) */
    for (int i = 0; i < N; i++) {
        char name[96];
        snprintf(name, sizeof name,
                 level[i] == 2   ? "oryx oryx %d"
                 : level[i] == 1 ? "oryx hall %d"
                                 : "hall %d",
                 i);
        set_text(&u_org, ids[i], name, level[i] == 0 ? "oryx" : "something else now");
    }
    char *all = xstrdup(seen);
    while (token) {
        cc = list(&u_anon, "oryx", 0, NULL, 2, token);
        r = (Rooms__V1__ListRoomsResponse *)cc->response;
        assert_true(r->search_truncated);
        char *p = page_ids(cc);
        if (*p) {
            char *copy = xstrdup(p);
            for (char *save, *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
                if (has_id(all, t))
                    fail_msg("%s shown again after writes (%s, then %s)", t, all, p);
            free(copy);
            char *next = xasprintf("%s,%s", all, p);
            free(all);
            all = next;
        }
        free(p);
        free(token);
        token = *r->next_page_token ? xstrdup(r->next_page_token) : NULL;
        done(cc);
    }
    expect_ranked(all, ids, level, N);
    free(all);
    free(seen);
    delete_all(ids, N);
}

/* An empty page of a truncated search still says searchTruncated (the count is not taken from
 * the page's rows): after page 1, every matching room that ranks after its position is deleted,
 * and more than MAX_RANKED rooms that rank before it remain. */
static void test_cap_empty_page_says_truncated(void **state)
{
    (void)state;
    enum { N = 40 };
    char *ids[N];
    int n = 0;
    for (; n < 10; n++) /* one rank for all: the position is the id */
        ids[n] = create_room(&u_org, "zorilla zorilla", "", true);
    rpc_ccall *cc = list(&u_anon, "zorilla", 0, NULL, 2, NULL);
    Rooms__V1__ListRoomsResponse *r = (Rooms__V1__ListRoomsResponse *)cc->response;
    assert_true(r->search_truncated);
    assert_int_equal(r->n_rooms, 2);
    char *token = xstrdup(r->next_page_token);
    char *pos = xstrdup(r->rooms[1]->room_id);
    done(cc);
    /* keep only rooms at or before the position (id >= pos), more than MAX_RANKED of them */
    int before = 0;
    for (int i = 0; i < n; i++)
        before += strcmp(ids[i], pos) >= 0;
    while (before <= MAX_RANKED && n < N) {
        ids[n] = create_room(&u_org, "zorilla zorilla", "", true);
        before += strcmp(ids[n], pos) >= 0;
        n++;
    }
    assert_true(before > MAX_RANKED);
    for (int i = 0; i < n; i++)
        if (strcmp(ids[i], pos) < 0)
            delete_room(&u_org, ids[i]);
    cc = list(&u_anon, "zorilla", 0, NULL, 2, token);
    r = (Rooms__V1__ListRoomsResponse *)cc->response;
    assert_int_equal(cc->code, CF_OK);
    assert_int_equal(r->n_rooms, 0);
    assert_true(r->search_truncated);
    assert_string_equal(r->next_page_token, "");
    done(cc);
    free(token);
    free(pos);
    delete_all(ids, n);
}

static int start_rooms(const char *max_ranked)
{
    keys = th_keys_new("RS256");
    char cat[128];
    th_ipc_url(cat, sizeof cat, "se-nocatalog"); /* no call here reaches catalog */
    char *addr = xasprintf("CONFETTI_CATALOG_URLS=%s", cat);
    char *cap = xasprintf("CONFETTI_SEARCH_MAX_RANKED=%s", max_ranked);
    const char *env[] = {addr, cap, NULL};
    rooms = th_service_start(rooms_service_def(), &(th_service_opts){.keys = keys, .env = env});
    rooms_calls_use(keys, rooms);
    free(addr);
    free(cap);
    return 0;
}

static int setup_all(void **state)
{
    (void)state;
    return start_rooms("1000"); /* the default */
}

static int setup_capped(void **state)
{
    (void)state;
    return start_rooms("5");
}

static int teardown_all(void **state)
{
    (void)state;
    th_service_stop(rooms);
    for (size_t i = 0; i < sizeof all_users / sizeof *all_users; i++) {
        free(all_users[i]->bearer);
        all_users[i]->bearer = NULL;
    }
    th_keys_free(keys);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_syntax_and_ranking),
        cmocka_unit_test(test_visibility_is_the_listings),
        cmocka_unit_test(test_pages_stable_under_writes),
        cmocka_unit_test(test_bounds_and_tokens),
    };
    const struct CMUnitTest capped[] = {
        cmocka_unit_test(test_cap_bounds_what_is_ranked),
        cmocka_unit_test(test_cap_counts_visible_matches),
        cmocka_unit_test(test_cap_pages_under_writes),
        cmocka_unit_test(test_cap_empty_page_says_truncated),
    };
    _Static_assert(MAX_RANKED == 5, "setup_capped starts rooms with search.max_ranked 5");
    int failed = cmocka_run_group_tests(tests, setup_all, teardown_all);
    return failed +
           cmocka_run_group_tests_name("search.max_ranked 5", capped, setup_capped, teardown_all);
}
