/* test_algorithm.c — the draw algorithm "confetti-fy-hmac-sha256/1" (services/draw/algorithm.h):
 * vectors from the independent Python reference in docs/draw.md, rejection sampling, fairness
 * (chi-square over seeded draws, so it cannot flake) and verification. */
#include "th.h"
#include "algorithm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ids p0000 … p(n-1), in an array the test frees */
static char **make_ids(size_t n)
{
    char **ids = malloc(n * sizeof *ids);
    for (size_t i = 0; i < n; i++) {
        ids[i] = malloc(24);
        snprintf(ids[i], 24, "p%04zu", i);
    }
    return ids;
}

static void free_ids(char **ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
}

/* Deterministic seeds for statistical tests: the stream of a fixed master seed. */
static void seed_from(draw_stream *master, uint8_t seed[DRAW_SEED_LEN])
{
    for (int i = 0; i < DRAW_SEED_LEN; i += 8) {
        uint64_t x = draw_stream_next(master);
        memcpy(seed + i, &x, 8);
    }
}

static void test_reference_vectors(void **state)
{
    (void)state;
    /* produced by the Python reference implementation in docs/draw.md */
    char **ids = make_ids(1000);
    uint8_t d[DRAW_DIGEST_LEN];
    char hex[2 * DRAW_DIGEST_LEN + 1];
    draw_digest_list((const char *const *)ids, 1000, d);
    draw_hex(d, sizeof d, hex);
    assert_string_equal(hex, "74caa0d02a62822a9cb2470d3207a626acc07dd03963f2d3f01ad4788b2756f6");

    uint8_t seed[DRAW_SEED_LEN];
    for (int i = 0; i < DRAW_SEED_LEN; i++)
        seed[i] = (uint8_t)i;
    uint64_t pos[5];
    assert_true(draw_select(seed, 1000, 5, pos));
    static const char *const want[] = {"p0705", "p0629", "p0841", "p0051", "p0667"};
    for (int i = 0; i < 5; i++)
        assert_string_equal(ids[pos[i]], want[i]);

    memset(seed, 0xff, sizeof seed);
    uint64_t all[3];
    assert_true(draw_select(seed, 3, 3, all));
    assert_int_equal(all[0], 1); /* "b", "c", "a" */
    assert_int_equal(all[1], 2);
    assert_int_equal(all[2], 0);
    free_ids(ids, 1000);
}

static void test_select_bounds_and_distinct(void **state)
{
    (void)state;
    uint8_t seed[DRAW_SEED_LEN] = {1};
    uint64_t out[64];
    assert_false(draw_select(seed, 10, 0, out));
    assert_false(draw_select(seed, 10, 11, out));
    assert_false(draw_select(seed, 0, 1, out));
    /* k = n is a permutation */
    assert_true(draw_select(seed, 64, 64, out));
    uint8_t seen[64] = {0};
    for (int i = 0; i < 64; i++) {
        assert_true(out[i] < 64);
        assert_int_equal(seen[out[i]], 0);
        seen[out[i]] = 1;
    }
    /* a huge list costs nothing more: positions stay in range */
    assert_true(draw_select(seed, 1000000000000ull, 3, out));
    for (int i = 0; i < 3; i++)
        assert_true(out[i] < 1000000000000ull);
    /* same seed, same result */
    uint64_t again[3];
    assert_true(draw_select(seed, 1000000000000ull, 3, again));
    assert_memory_equal(out, again, sizeof again);
}

static void test_below_rejects_biased_values(void **state)
{
    (void)state;
    uint8_t seed[DRAW_SEED_LEN] = {7};
    draw_stream a, b;
    /* bound 2^63 + 1: 2^64 mod b = 2^63 - 1, so about half the stream is rejected; the value
     * returned must be the first stream integer below the limit, reduced */
    uint64_t bound = (1ull << 63) + 1, limit = 0 - ((0 - bound) % bound);
    draw_stream_init(&a, seed);
    draw_stream_init(&b, seed);
    for (int i = 0; i < 200; i++) {
        uint64_t got = draw_below(&a, bound), x;
        while ((x = draw_stream_next(&b)) >= limit)
            ;
        assert_true(got == x % bound);
    }
    /* powers of two reject nothing */
    draw_stream_init(&a, seed);
    draw_stream_init(&b, seed);
    for (int i = 0; i < 50; i++)
        assert_true(draw_below(&a, 1024) == draw_stream_next(&b) % 1024);
    draw_stream_init(&a, seed);
    for (int i = 0; i < 10; i++)
        assert_true(draw_below(&a, 1) == 0);
}

/* Pearson's chi-square statistic of observed counts against a uniform expectation. */
static double chi_square(const unsigned *obs, int cells, unsigned total)
{
    double e = (double)total / cells, x = 0;
    for (int i = 0; i < cells; i++)
        x += ((double)obs[i] - e) * ((double)obs[i] - e) / e;
    return x;
}

static void test_fairness_one_among_ten(void **state)
{
    (void)state;
    enum { DRAWS = 20000, N = 10 };
    uint8_t master[DRAW_SEED_LEN] = {'f', 'a', 'i', 'r'};
    draw_stream ms;
    draw_stream_init(&ms, master);
    unsigned counts[N] = {0};
    for (int i = 0; i < DRAWS; i++) {
        uint8_t seed[DRAW_SEED_LEN];
        uint64_t w;
        seed_from(&ms, seed);
        assert_true(draw_select(seed, N, 1, &w));
        counts[w]++;
    }
    /* 9 degrees of freedom, significance 0.001: critical value 27.877 */
    double x = chi_square(counts, N, DRAWS);
    print_message("chi-square 1 among 10 over %d draws: %.3f (critical 27.877)\n", DRAWS, x);
    assert_true(x < 27.877);
}

static void test_fairness_ordered_pairs(void **state)
{
    (void)state;
    /* 2 among 4 without replacement: 12 ordered pairs, each 1/12; 11 degrees of freedom,
     * significance 0.001: critical value 31.264 */
    enum { DRAWS = 24000 };
    uint8_t master[DRAW_SEED_LEN] = {'p', 'a', 'i', 'r'};
    draw_stream ms;
    draw_stream_init(&ms, master);
    unsigned counts[16] = {0}, cells[12];
    for (int i = 0; i < DRAWS; i++) {
        uint8_t seed[DRAW_SEED_LEN];
        uint64_t w[2];
        seed_from(&ms, seed);
        assert_true(draw_select(seed, 4, 2, w));
        assert_true(w[0] != w[1]);
        counts[w[0] * 4 + w[1]]++;
    }
    int c = 0;
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 4; b++)
            if (a != b)
                cells[c++] = counts[a * 4 + b];
    double x = chi_square(cells, 12, DRAWS);
    print_message("chi-square ordered pairs 2 among 4: %.3f (critical 31.264)\n", x);
    assert_true(x < 31.264);
}

static void test_verify_accepts_truth_rejects_changes(void **state)
{
    (void)state;
    enum { N = 50, K = 3 };
    char **ids = make_ids(N);
    uint8_t seed[DRAW_SEED_LEN], d[DRAW_DIGEST_LEN];
    for (int i = 0; i < DRAW_SEED_LEN; i++)
        seed[i] = (uint8_t)(i * 7 + 3);
    char seed_hex[65], digest_hex[65];
    draw_hex(seed, sizeof seed, seed_hex);
    draw_digest_list((const char *const *)ids, N, d);
    draw_hex(d, sizeof d, digest_hex);
    uint64_t pos[K];
    assert_true(draw_select(seed, N, K, pos));
    const char *winners[K];
    for (int i = 0; i < K; i++)
        winners[i] = ids[pos[i]];
    const char *const *list = (const char *const *)ids;

    assert_int_equal(draw_verify(DRAW_ALGORITHM, seed_hex, digest_hex, N, K, list, N, winners, K),
                     DRAW_MATCH);
    /* a changed seed: the digest still matches, the winners do not */
    char bad_seed[65];
    strcpy(bad_seed, seed_hex);
    bad_seed[0] = bad_seed[0] == '0' ? '1' : '0';
    assert_int_equal(draw_verify(DRAW_ALGORITHM, bad_seed, digest_hex, N, K, list, N, winners, K),
                     DRAW_BAD_WINNERS);
    assert_int_equal(draw_verify(DRAW_ALGORITHM, "zz", digest_hex, N, K, list, N, winners, K),
                     DRAW_BAD_SEED);
    /* a changed list: one id altered, or two swapped, or one dropped */
    char saved[24];
    strcpy(saved, ids[10]);
    strcpy(ids[10], "intruder");
    assert_int_equal(draw_verify(DRAW_ALGORITHM, seed_hex, digest_hex, N, K, list, N, winners, K),
                     DRAW_BAD_DIGEST);
    strcpy(ids[10], saved);
    char *t = ids[1];
    ids[1] = ids[2];
    ids[2] = t;
    assert_int_equal(draw_verify(DRAW_ALGORITHM, seed_hex, digest_hex, N, K, list, N, winners, K),
                     DRAW_BAD_DIGEST);
    ids[2] = ids[1];
    ids[1] = t;
    assert_int_equal(
        draw_verify(DRAW_ALGORITHM, seed_hex, digest_hex, N, K, list, N - 1, winners, K),
        DRAW_BAD_COUNT);
    /* a changed winner, or their order */
    const char *other[K] = {winners[0], winners[1], "p9999"};
    assert_int_equal(draw_verify(DRAW_ALGORITHM, seed_hex, digest_hex, N, K, list, N, other, K),
                     DRAW_BAD_WINNERS);
    const char *swapped[K] = {winners[1], winners[0], winners[2]};
    assert_int_equal(draw_verify(DRAW_ALGORITHM, seed_hex, digest_hex, N, K, list, N, swapped, K),
                     DRAW_BAD_WINNERS);
    assert_int_equal(
        draw_verify(DRAW_ALGORITHM, seed_hex, digest_hex, N, K, list, N, winners, K - 1),
        DRAW_BAD_COUNT);
    assert_int_equal(draw_verify("other/1", seed_hex, digest_hex, N, K, list, N, winners, K),
                     DRAW_BAD_ALGORITHM);
    free_ids(ids, N);
}

static void test_hex_round_trip(void **state)
{
    (void)state;
    uint8_t in[4] = {0x00, 0xab, 0x7f, 0xff}, out[4];
    char hex[9];
    draw_hex(in, 4, hex);
    assert_string_equal(hex, "00ab7fff");
    assert_true(draw_unhex("00AB7FFF", out, 4));
    assert_memory_equal(in, out, 4);
    assert_false(draw_unhex("00ab7ff", out, 4));
    assert_false(draw_unhex("00ab7fgf", out, 4));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_vectors),
        cmocka_unit_test(test_select_bounds_and_distinct),
        cmocka_unit_test(test_below_rejects_biased_values),
        cmocka_unit_test(test_fairness_one_among_ten),
        cmocka_unit_test(test_fairness_ordered_pairs),
        cmocka_unit_test(test_verify_accepts_truth_rejects_changes),
        cmocka_unit_test(test_hex_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
