/* test_cache.c — the gateway's response cache (services/gateway/cache.h): hits, invalidation by
 * room and of listings, the ticket taken at the miss (an answer overtaken by a change is never
 * stored), expiry, eviction under the entry and byte budgets, the sweep and the body limit. */
#include "th.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"

enum { MS = 1000000 };

static void put_after_miss(gw_cache *c, const char *key, const char *room, const char *body,
                           int64_t now)
{
    gw_cache_ticket t;
    assert_null(gw_cache_get(c, key, room, now, &t));
    gw_cache_put(c, key, &t, body, strlen(body), now);
}

/* The body under key, or NULL: a hit must return exactly what was stored. */
static bool hit(gw_cache *c, const char *key, const char *room, const char *want, int64_t now)
{
    gw_cache_ticket t;
    gw_cache_body *b = gw_cache_get(c, key, room, now, &t);
    if (!b)
        return false;
    assert_int_equal(gw_cache_body_len(b), strlen(want));
    assert_memory_equal(gw_cache_body_data(b), want, strlen(want));
    gw_cache_body_release(b);
    return true;
}

static void test_a_stored_answer_is_served_until_its_room_changes(void **state)
{
    (void)state;
    gw_cache *c = gw_cache_new(100, 1 << 20, 1024, 1000);
    put_after_miss(c, "R\nu1\n/v1/rooms/a", "room-a", "{\"roomId\":\"a\"}", 0);
    put_after_miss(c, "R\nu1\n/v1/rooms/b", "room-b", "{\"roomId\":\"b\"}", 0);
    put_after_miss(c, "L\n\n/v1/rooms?status=ACTIVE", NULL, "{\"rooms\":[]}", 0);
    assert_true(hit(c, "R\nu1\n/v1/rooms/a", "room-a", "{\"roomId\":\"a\"}", 10 * MS));
    gw_cache_invalidate_room(c, "room-a");
    assert_false(hit(c, "R\nu1\n/v1/rooms/a", "room-a", "", 10 * MS));
    /* another room's answer and the listings are not affected by a's change... */
    assert_true(hit(c, "R\nu1\n/v1/rooms/b", "room-b", "{\"roomId\":\"b\"}", 10 * MS));
    assert_true(hit(c, "L\n\n/v1/rooms?status=ACTIVE", NULL, "{\"rooms\":[]}", 10 * MS));
    /* ...and a listing change does not touch rooms' answers */
    gw_cache_invalidate_listings(c);
    assert_false(hit(c, "L\n\n/v1/rooms?status=ACTIVE", NULL, "", 10 * MS));
    assert_true(hit(c, "R\nu1\n/v1/rooms/b", "room-b", "{\"roomId\":\"b\"}", 10 * MS));
    gw_cache_stats s = gw_cache_stats_get(c);
    assert_int_equal(s.hits, 4);
    assert_int_equal(s.misses, 5);
    gw_cache_free(c);
}

/* The race the ticket closes: the request misses, the room changes while the RPC is in flight
 * (its answer may predate the change), the answer comes back: it must not be stored. */
static void test_an_answer_overtaken_by_a_change_is_not_stored(void **state)
{
    (void)state;
    gw_cache *c = gw_cache_new(100, 1 << 20, 1024, 1000);
    gw_cache_ticket t;
    assert_null(gw_cache_get(c, "R\n\n/v1/rooms/a", "room-a", 0, &t));
    gw_cache_invalidate_room(c, "room-a");
    gw_cache_put(c, "R\n\n/v1/rooms/a", &t, "old", 3, 0);
    assert_false(hit(c, "R\n\n/v1/rooms/a", "room-a", "", 0));
    /* the same for a listing */
    assert_null(gw_cache_get(c, "L\n\n/v1/rooms", NULL, 0, &t));
    gw_cache_invalidate_listings(c);
    gw_cache_put(c, "L\n\n/v1/rooms", &t, "old", 3, 0);
    assert_false(hit(c, "L\n\n/v1/rooms", NULL, "", 0));
    /* a miss after the change stores normally */
    put_after_miss(c, "L\n\n/v1/rooms", NULL, "new", 0);
    assert_true(hit(c, "L\n\n/v1/rooms", NULL, "new", 0));
    gw_cache_free(c);
}

static void test_answers_expire_after_the_ttl(void **state)
{
    (void)state;
    gw_cache *c = gw_cache_new(100, 1 << 20, 1024, 1000);
    put_after_miss(c, "L\n\n/v1/rooms", NULL, "x", 5 * MS);
    assert_true(hit(c, "L\n\n/v1/rooms", NULL, "x", 1004 * MS));
    assert_false(hit(c, "L\n\n/v1/rooms", NULL, "", 1005 * MS));
    gw_cache_free(c);
}

static void test_the_oldest_answer_goes_when_full_and_big_ones_are_not_kept(void **state)
{
    (void)state;
    gw_cache *c = gw_cache_new(3, 1 << 20, 8, 1000);
    put_after_miss(c, "k1", NULL, "1", 0);
    put_after_miss(c, "k2", NULL, "2", 0);
    put_after_miss(c, "k3", NULL, "3", 0);
    put_after_miss(c, "k4", NULL, "4", 0);
    assert_int_equal(gw_cache_stats_get(c).entries, 3);
    assert_false(hit(c, "k1", NULL, "", 0));
    assert_true(hit(c, "k4", NULL, "4", 0));
    assert_true(hit(c, "k2", NULL, "2", 0));
    put_after_miss(c, "big", NULL, "123456789", 0); /* 9 bytes > 8 */
    assert_false(hit(c, "big", NULL, "", 0));
    /* a body still held by a response outlives its entry's eviction */
    gw_cache_ticket t;
    gw_cache_body *b = gw_cache_get(c, "k3", NULL, 0, &t);
    assert_non_null(b);
    put_after_miss(c, "k5", NULL, "5", 0);
    put_after_miss(c, "k6", NULL, "6", 0);
    put_after_miss(c, "k7", NULL, "7", 0);
    assert_false(hit(c, "k3", NULL, "", 0));
    assert_memory_equal(gw_cache_body_data(b), "3", 1);
    gw_cache_body_release(b);
    gw_cache_free(c);
}

/* Issue 24 item 1: the cache holds at most max_bytes (key, body and bookkeeping as charged by
 * gw_cache_entry_cost) however many distinct keys come; past it the least recently used entry
 * goes, and each eviction is counted. */
static void test_the_byte_budget_holds_and_the_least_recently_used_goes(void **state)
{
    (void)state;
    char body[1000];
    memset(body, 'x', sizeof body - 1);
    body[sizeof body - 1] = '\0';
    size_t one = gw_cache_entry_cost(2, strlen(body)); /* keys "k0".."k9" */
    gw_cache *c = gw_cache_new(1000, 3 * one, 4096, 1000);
    for (int i = 0; i < 3; i++) {
        char k[8];
        snprintf(k, sizeof k, "k%d", i);
        put_after_miss(c, k, NULL, body, 0);
    }
    gw_cache_stats s = gw_cache_stats_get(c);
    assert_int_equal(s.entries, 3);
    assert_int_equal(s.bytes, 3 * one);
    assert_int_equal(s.evictions, 0);
    assert_true(hit(c, "k0", NULL, body, 0)); /* k0 used: k1 is now the least recently used */
    put_after_miss(c, "k3", NULL, body, 0);
    assert_true(hit(c, "k0", NULL, body, 0));
    assert_false(hit(c, "k1", NULL, "", 0));
    /* a flood of distinct keys: the bytes never pass the budget */
    for (int i = 0; i < 10000; i++) {
        char k[16];
        snprintf(k, sizeof k, "f%d", i % 10);
        put_after_miss(c, k, NULL, body, 0);
        assert_true(gw_cache_stats_get(c).bytes <= 3 * one);
    }
    s = gw_cache_stats_get(c);
    assert_true(s.evictions >= 10000 - 3);
    assert_int_equal(s.entries, 3);
    /* an entry that alone is over the budget is not kept (and evicts nothing) */
    gw_cache *tiny = gw_cache_new(10, one - 1, 4096, 1000);
    put_after_miss(tiny, "k0", NULL, body, 0);
    assert_int_equal(gw_cache_stats_get(tiny).entries, 0);
    assert_int_equal(gw_cache_stats_get(tiny).bytes, 0);
    gw_cache_free(tiny);
    gw_cache_free(c);
}

/* Issue 24 item 1: what expired or was invalidated is freed by the sweep, without anyone asking
 * for its key again. */
static void test_the_sweep_frees_expired_and_invalidated_entries(void **state)
{
    (void)state;
    gw_cache *c = gw_cache_new(100, 1 << 20, 1024, 1000);
    put_after_miss(c, "L\n\n/v1/rooms?a", NULL, "listing", 0);
    put_after_miss(c, "R\n\n/v1/rooms/a", "room-a", "room a", 0);
    put_after_miss(c, "R\n\n/v1/rooms/b", "room-b", "room b", 500 * MS);
    assert_int_equal(gw_cache_reap(c, 999 * MS), 0);
    assert_int_equal(gw_cache_stats_get(c).entries, 3);
    gw_cache_invalidate_room(c, "room-b");
    assert_int_equal(gw_cache_reap(c, 999 * MS), 1);  /* b: invalidated */
    assert_int_equal(gw_cache_reap(c, 1000 * MS), 2); /* the others: expired */
    gw_cache_stats s = gw_cache_stats_get(c);
    assert_int_equal(s.entries, 0);
    assert_int_equal(s.bytes, 0);
    assert_int_equal(s.expired, 3);
    gw_cache_free(c);
}

/* The gateway's HTTP workers and its event thread use one cache at once: gets, puts,
 * invalidations and evictions from several threads, bodies held across their eviction. Every
 * hit is the body stored under that key (never another's, never freed). Run under
 * ThreadSanitizer by `make test-tsan`. */
enum { CC_THREADS = 4, CC_ROUNDS = 20000, CC_ROOMS = 16 };

typedef struct cc_shared {
    gw_cache *c;
    atomic_int wrong, hits;
} cc_shared;

typedef struct cc_thread {
    cc_shared *sh;
    uint64_t seed;
} cc_thread;

static void *cache_user(void *arg)
{
    cc_thread *t = arg;
    gw_cache_body *held = NULL;
    char held_room[64] = "";
    for (int i = 0; i < CC_ROUNDS; i++) {
        uint64_t x = th_xorshift(&t->seed);
        int r = (int)(x % CC_ROOMS);
        char key[64], room[16], body[64];
        snprintf(room, sizeof room, "r%d", r);
        bool listing = (x >> 8) % 4 == 0;
        snprintf(key, sizeof key, listing ? "L\n\n/v1/rooms?r=%d" : "R\n\n/v1/rooms/r%d", r);
        switch ((x >> 16) % 16) {
        case 0:
            gw_cache_invalidate_room(t->sh->c, room);
            continue;
        case 1:
            gw_cache_invalidate_listings(t->sh->c);
            continue;
        default:
            break;
        }
        gw_cache_ticket tk;
        gw_cache_body *b = gw_cache_get(t->sh->c, key, listing ? NULL : room, 0, &tk);
        if (!b) {
            int n = snprintf(body, sizeof body, "%s|%d", key, i);
            gw_cache_put(t->sh->c, key, &tk, body, (size_t)n, 0);
            continue;
        }
        atomic_fetch_add(&t->sh->hits, 1);
        size_t kl = strlen(key);
        if (gw_cache_body_len(b) <= kl || memcmp(gw_cache_body_data(b), key, kl) != 0 ||
            gw_cache_body_data(b)[kl] != '|')
            atomic_fetch_add(&t->sh->wrong, 1);
        if (!held && (x >> 24) % 8 == 0) { /* keep one across later evictions */
            held = b;
            snprintf(held_room, sizeof held_room, "%s", key);
            continue;
        }
        gw_cache_body_release(b);
    }
    if (held) {
        size_t kl = strlen(held_room);
        if (memcmp(gw_cache_body_data(held), held_room, kl) != 0)
            atomic_fetch_add(&t->sh->wrong, 1);
        gw_cache_body_release(held);
    }
    return NULL;
}

static void test_concurrent_users_see_only_their_keys_bodies(void **state)
{
    (void)state;
    cc_shared sh = {.c = gw_cache_new(8, 1 << 20, 64, 1000)}; /* 8 entries for 32 keys: evictions */
    cc_thread ts[CC_THREADS];
    pthread_t t[CC_THREADS];
    for (int i = 0; i < CC_THREADS; i++) {
        ts[i] = (cc_thread){&sh, 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1)};
        assert_int_equal(0, pthread_create(&t[i], NULL, cache_user, &ts[i]));
    }
    for (int i = 0; i < CC_THREADS; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(atomic_load(&sh.wrong), 0);
    print_message("%d hits\n", atomic_load(&sh.hits));
    assert_true(gw_cache_stats_get(sh.c).entries <= 8);
    gw_cache_free(sh.c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_stored_answer_is_served_until_its_room_changes),
        cmocka_unit_test(test_an_answer_overtaken_by_a_change_is_not_stored),
        cmocka_unit_test(test_answers_expire_after_the_ttl),
        cmocka_unit_test(test_the_oldest_answer_goes_when_full_and_big_ones_are_not_kept),
        cmocka_unit_test(test_the_byte_budget_holds_and_the_least_recently_used_goes),
        cmocka_unit_test(test_the_sweep_frees_expired_and_invalidated_entries),
        cmocka_unit_test(test_concurrent_users_see_only_their_keys_bodies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
