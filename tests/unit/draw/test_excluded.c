/* test_excluded.c — exclusion snapshots (services/draw/excluded.h) without a database: a chain
 * of merges gives exactly the sorted union of its deltas, and the places each snapshot keeps in
 * a list (carried from its parent with the delta) are exactly what draw_filter_positions finds
 * from scratch; a second list is answered right and not kept. Fixed generator seed. */
#include "th.h"
#include "excluded.h"
#include "filter.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 0x2545f4914f6cdd1du;

static uint64_t next(void)
{
    return th_xorshift(&rng);
}

static int by_strcmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

enum { UNIVERSE = 3000, LIST = 2000, STEPS = 300 };

static char *universe[UNIVERSE]; /* sorted, unique: "p000…" ids with a long common prefix */
static bool in_list[UNIVERSE];
static const char *list[UNIVERSE];
static size_t nlist;

static void make_universe(void)
{
    for (size_t i = 0; i < UNIVERSE; i++) {
        universe[i] = malloc(32);
        snprintf(universe[i], 32, "p%024zu", i * 7 + 3);
    }
    qsort(universe, UNIVERSE, sizeof *universe, by_strcmp);
    nlist = 0;
    for (size_t i = 0; i < UNIVERSE; i++) { /* the list: a random two thirds */
        in_list[i] = next() % 3 != 0;
        if (in_list[i])
            list[nlist++] = universe[i];
    }
}

/* What the snapshot must hold, and where those ids stand in the list, from scratch. */
static void check(draw_excl *e, const bool *member, const char *version)
{
    size_t n = 0;
    for (size_t i = 0; i < UNIVERSE; i++)
        if (member[i]) {
            assert_true(n < e->n);
            assert_string_equal(e->ids[n], universe[i]);
            n++;
        }
    assert_int_equal(e->n, n);
    size_t *want = malloc((n + 1) * sizeof *want), *got = malloc((n + 1) * sizeof *got);
    size_t nw = draw_filter_positions(list, nlist, (const char *const *)e->ids, e->n, want);
    size_t ng = draw_excl_positions(e, list, nlist, version, got);
    assert_int_equal(ng, nw);
    assert_memory_equal(got, want, nw * sizeof *got);
    free(want), free(got);
}

static void test_merge_chain_keeps_exact_ids_and_places(void **state)
{
    (void)state;
    make_universe();
    bool member[UNIVERSE] = {0};
    draw_excl *e = draw_excl_merge(NULL, NULL, 0, 0);
    check(e, member, "v1");
    for (int step = 1; step <= STEPS; step++) {
        /* a delta: a few ids, some already excluded, some repeated, some not in the list */
        size_t nadd = (size_t)(next() % 6);
        const char *add[8];
        for (size_t k = 0; k < nadd; k++) {
            size_t u = (size_t)(next() % UNIVERSE);
            add[k] = universe[u];
            member[u] = true;
        }
        draw_excl *n2 = draw_excl_merge(e, add, nadd, step);
        draw_excl_release(e);
        e = n2;
        assert_int_equal(e->mark, step);
        /* mostly the list the places are kept for; now and then another list (stamp v2) */
        check(e, member, step % 50 == 0 ? "v2" : "v1");
        if (step % 50 == 0)
            check(e, member, "v1");
    }
    draw_excl_release(e);
    for (size_t i = 0; i < UNIVERSE; i++)
        free(universe[i]);
}

/* A snapshot whose places were never asked for is not a parent (chains stay one long), and an
 * unknown list (empty stamp) is answered without keeping anything. */
static void test_unkept_places_and_unknown_lists(void **state)
{
    (void)state;
    make_universe();
    const char *a[] = {universe[5], universe[9]}, *b[] = {universe[7]};
    draw_excl *e1 = draw_excl_merge(NULL, a, 2, 1);
    draw_excl *e2 = draw_excl_merge(e1, b, 1, 2);
    assert_null(e2->parent); /* e1 never knew its places */
    bool member[UNIVERSE] = {0};
    member[5] = member[7] = member[9] = true;
    check(e2, member, "");
    assert_null(e2->pos);
    check(e2, member, "v1");
    assert_non_null(e2->pos);
    draw_excl *e3 = draw_excl_merge(e2, a, 2, 3); /* nothing new: same ids, e2 as parent */
    assert_ptr_equal(e3->parent, e2);
    check(e3, member, "v1");
    assert_null(e3->parent); /* dropped once the places were found */
    draw_excl_release(e1), draw_excl_release(e2), draw_excl_release(e3);
    for (size_t i = 0; i < UNIVERSE; i++)
        free(universe[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge_chain_keeps_exact_ids_and_places),
        cmocka_unit_test(test_unkept_places_and_unknown_lists),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
