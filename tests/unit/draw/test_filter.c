/* test_filter.c — the eligible list minus its exclusions without copying it
 * (services/draw/filter.h): the excluded positions, the digest of the filtered list and the
 * filtered index → list index mapping agree with the plain merge and draw_digest_list, on fixed
 * edge cases and on many random lists and exclusion sets (a fixed generator seed: no flakes). */
#include "th.h"
#include "algorithm.h"
#include "eligible.h"
#include "filter.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint64_t next(void)
{
    return th_xorshift(&rng);
}

static int by_strcmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A random id over a small alphabet, so that ids share long prefixes and some are prefixes of
 * others ("p", "pa", "pab", …). */
static char *random_id(void)
{
    static const char alphabet[] = "ab\x7f\xe9";
    size_t len = (size_t)(next() % 8);
    char *s = malloc(len + 8);
    memcpy(s, "seed-p", 6);
    for (size_t i = 0; i < len; i++)
        s[6 + i] = alphabet[next() % 4];
    s[6 + len] = '\0';
    return s;
}

/* Checks the module against the merge for list ids[0..n) (any order, duplicates allowed: the
 * builder makes the list) and exclusions ex[0..nex) (any order; sorted here). */
static void check(char **ids, size_t n, char **ex, size_t nex)
{
    draw_list_builder *b = draw_list_builder_new();
    for (size_t i = 0; i < n; i++)
        draw_list_builder_add(b, ids[i], "u");
    draw_list *l = draw_list_builder_finish(b, "v");
    if (nex > 0)
        qsort(ex, nex, sizeof *ex, by_strcmp);
    const char *const *pids = (const char *const *)l->pids;

    /* the reference: the merge draw_from used to do */
    const char **kept = malloc((l->n + 1) * sizeof *kept);
    size_t *kept_at = malloc((l->n + 1) * sizeof *kept_at);
    size_t *want_x = malloc((l->n + 1) * sizeof *want_x);
    size_t m = 0, nwant = 0;
    for (size_t i = 0, j = 0; i < l->n; i++) {
        int c = 1;
        while (j < nex && (c = strcmp(ex[j], pids[i])) < 0)
            j++;
        if (j < nex && c == 0) {
            want_x[nwant++] = i;
            continue;
        }
        kept_at[m] = i;
        kept[m++] = pids[i];
    }

    size_t *xpos = malloc(((nex < l->n ? nex : l->n) + 1) * sizeof *xpos);
    size_t nx = draw_filter_positions(pids, l->n, (const char *const *)ex, nex, xpos);
    assert_int_equal(nx, nwant);
    assert_int_equal(l->n - nx, m);
    for (size_t j = 0; j < nx; j++)
        assert_int_equal(xpos[j], want_x[j]);

    uint8_t want[DRAW_DIGEST_LEN], got[DRAW_DIGEST_LEN];
    draw_digest_list(kept, m, want);
    draw_filter_digest(l->lines, l->line_off, l->n, xpos, nx, got);
    assert_memory_equal(got, want, sizeof want);

    for (size_t i = 0; i < m; i++)
        assert_int_equal(draw_filter_index(xpos, nx, i), kept_at[i]);

    free(xpos);
    free(want_x);
    free(kept_at);
    free(kept);
    draw_list_release(l);
}

static void test_edge_cases(void **state)
{
    (void)state;
    char *abc[] = {"a", "ab", "abc", "b", "ba"};
    /* empty list, with and without exclusions */
    char *one_ex[] = {"a"};
    check(NULL, 0, NULL, 0);
    check(NULL, 0, one_ex, 1);
    /* one element: excluded, kept, excluded id absent */
    char *x[] = {"ab"};
    check(x, 1, NULL, 0);
    check(x, 1, (char *[]){"ab"}, 1);
    check(x, 1, (char *[]){"a"}, 1);
    check(x, 1, (char *[]){"abc"}, 1);
    /* none excluded, all excluded, prefixes of excluded ids, absent ids around each */
    check(abc, 5, NULL, 0);
    check(abc, 5, (char *[]){"a", "ab", "abc", "b", "ba"}, 5);
    check(abc, 5, (char *[]){"ab"}, 1);
    check(abc, 5, (char *[]){"0", "aa", "abb", "abcd", "bb", "z"}, 6);
    check(abc, 5, (char *[]){"a", "a", "ba", "ba", "c"}, 5); /* duplicates */
    check(abc, 5, (char *[]){"", "a", "b"}, 3);
    /* a long run: the digest's buffer fills and empties across runs */
    size_t n = 5000;
    char **ids = malloc(n * sizeof *ids), **ex = malloc(n * sizeof *ex);
    for (size_t i = 0; i < n; i++) {
        ids[i] = malloc(48);
        snprintf(ids[i], 48, "participant-seed-0000000000000000000-%06zu", i);
    }
    check(ids, n, NULL, 0);
    for (size_t i = 0; i < n; i++)
        ex[i] = ids[n - 1 - i];
    check(ids, n, ex, n);
    check(ids, n, ex, 1);
    check(ids, n, ex + n - 1, 1);
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
    free(ex);
}

static void test_random_lists_agree_with_the_merge(void **state)
{
    (void)state;
    for (int round = 0; round < 3000; round++) {
        size_t n = (size_t)(next() % (round % 10 == 0 ? 2000 : 60));
        size_t nex = (size_t)(next() % (n + 8));
        unsigned in_list = (unsigned)(next() % 101); /* % of exclusions taken from the list */
        char **ids = malloc((n + 1) * sizeof *ids), **ex = malloc((nex + 1) * sizeof *ex);
        char **extra = malloc((nex + 1) * sizeof *extra);
        size_t nextra = 0;
        for (size_t i = 0; i < n; i++)
            ids[i] = random_id();
        for (size_t j = 0; j < nex; j++) {
            if (n > 0 && next() % 100 < in_list)
                ex[j] = ids[next() % n];
            else
                ex[j] = extra[nextra++] = random_id();
        }
        check(ids, n, ex, nex);
        for (size_t i = 0; i < n; i++)
            free(ids[i]);
        for (size_t j = 0; j < nextra; j++)
            free(extra[j]);
        free(ids);
        free(ex);
        free(extra);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_edge_cases),
        cmocka_unit_test(test_random_lists_agree_with_the_merge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
