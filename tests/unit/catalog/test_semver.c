/* test_semver.c — semver 2.0: what parses, and precedence (§11) including pre-release rules,
 * build metadata and numbers beyond 64 bits. */
#include "th.h"
#include "semver.h"

#include <string.h>

static void test_parse_accepts_and_refuses(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        bool ok;
    } table[] = {
        {"0.0.0", true},
        {"1.2.3", true},
        {"10.20.30", true},
        {"1.0.0-alpha", true},
        {"1.0.0-alpha.1", true},
        {"1.0.0-0.3.7", true},
        {"1.0.0-x.7.z.92", true},
        {"1.0.0-x-y-z.--", true},
        {"1.0.0-alpha+001", true},
        {"1.0.0+20130313144700", true},
        {"1.0.0-beta+exp.sha.5114f85", true},
        {"1.0.0+21AF26D3----117B344092BD", true},
        {"1.0.0+0.build.01", true}, /* leading zeros are fine in build metadata */
        {"99999999999999999999999.999999999999999999.99999999999999999", true},
        {"", false},
        {"1", false},
        {"1.2", false},
        {"1.2.3.4", false},
        {"v1.2.3", false},
        {" 1.2.3", false},
        {"1.2.3 ", false},
        {"01.2.3", false},
        {"1.02.3", false},
        {"1.2.03", false},
        {"1.2.3-", false},
        {"1.2.3-01", false}, /* numeric pre-release identifier with a leading zero */
        {"1.2.3-alpha..1", false},
        {"1.2.3-alpha.", false},
        {"1.2.3+", false},
        {"1.2.3+a..b", false},
        {"1.2.3-al_pha", false},
        {"1.2.3+build+more", false},
        {"-1.2.3", false},
        {"1.-2.3", false},
        {"a.b.c", false},
        {"1.2.3-ü", false},
    };
    for (size_t i = 0; i < sizeof table / sizeof *table; i++)
        if (semver_valid(table[i].s) != table[i].ok)
            fail_msg("\"%s\": expected %s", table[i].s, table[i].ok ? "valid" : "invalid");
}

static void test_parse_parts_and_length_limit(void **state)
{
    (void)state;
    semver v;
    assert_true(semver_parse("12.0.345-rc.1+sha.9", &v));
    assert_int_equal(v.major_len, 2);
    assert_memory_equal(v.major, "12", 2);
    assert_int_equal(v.minor_len, 1);
    assert_memory_equal(v.patch, "345", 3);
    assert_int_equal(v.pre_len, 4);
    assert_memory_equal(v.pre, "rc.1", 4);
    assert_int_equal(v.build_len, 5);
    assert_memory_equal(v.build, "sha.9", 5);

    char s[SEMVER_MAX_LEN + 2];
    memset(s, 'a', sizeof s);
    memcpy(s, "1.0.0-", 6);
    s[SEMVER_MAX_LEN] = '\0'; /* exactly the limit */
    assert_true(semver_valid(s));
    s[SEMVER_MAX_LEN] = 'a';
    s[SEMVER_MAX_LEN + 1] = '\0'; /* one over */
    assert_false(semver_valid(s));
    assert_false(semver_valid(NULL));
}

static int cmp(const char *a, const char *b)
{
    semver x, y;
    if (!semver_parse(a, &x) || !semver_parse(b, &y))
        fail_msg("test bug: %s or %s does not parse", a, b);
    return semver_cmp(&x, &y);
}

/* Each row is strictly lower than the next (semver.org §11 examples and more). */
static void test_precedence_chain(void **state)
{
    (void)state;
    static const char *const chain[] = {
        "0.0.0",
        "0.0.1",
        "0.1.0",
        "0.9.9",
        "0.10.0",
        "1.0.0-0",
        "1.0.0-1",
        "1.0.0-2",
        "1.0.0-10",
        "1.0.0-A",
        "1.0.0-Z",
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "1.0.1-alpha",
        "1.0.1",
        "1.2.0",
        "1.10.0",
        "2.0.0",
        "10.0.0",
        "18446744073709551616.0.0", /* 2^64: compared as digits, no overflow */
        "99999999999999999999999.0.0",
    };
    size_t n = sizeof chain / sizeof *chain;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            int c = cmp(chain[i], chain[j]);
            int want = (i > j) - (i < j);
            if ((c > 0) - (c < 0) != want)
                fail_msg("cmp(%s, %s) = %d, want %d", chain[i], chain[j], c, want);
        }
}

static void test_equal_precedence(void **state)
{
    (void)state;
    static const struct {
        const char *a, *b;
    } table[] = {
        {"1.0.0", "1.0.0"},
        {"1.0.0+a", "1.0.0+b"}, /* build metadata does not count */
        {"1.0.0-rc.1+x", "1.0.0-rc.1"},
        {"1.0.0-alpha.1", "1.0.0-alpha.1+build.5"},
    };
    for (size_t i = 0; i < sizeof table / sizeof *table; i++)
        if (cmp(table[i].a, table[i].b) != 0 || cmp(table[i].b, table[i].a) != 0)
            fail_msg("%s and %s should have equal precedence", table[i].a, table[i].b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_accepts_and_refuses),
        cmocka_unit_test(test_parse_parts_and_length_limit),
        cmocka_unit_test(test_precedence_chain),
        cmocka_unit_test(test_equal_precedence),
    };
    return cmocka_run_group_tests_name("catalog_semver", tests, NULL, NULL);
}
