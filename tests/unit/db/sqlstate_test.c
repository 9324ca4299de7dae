/* sqlstate_test.c — the SQLSTATE → status code table (db_code_from_sqlstate). */
#include "th.h"

#include "db/db.h"

static void test_sqlstates_map_to_their_codes(void **state)
{
    (void)state;
    static const struct {
        const char *sqlstate;
        cf_code want;
    } cases[] = {
        {"23505", CF_ALREADY_EXISTS},    {"23503", CF_FAILED_PRECONDITION},
        {"23514", CF_INVALID_ARGUMENT},  {"23502", CF_INVALID_ARGUMENT},
        {"22P02", CF_INVALID_ARGUMENT},  {"22003", CF_INVALID_ARGUMENT},
        {"22001", CF_INVALID_ARGUMENT},  {"22007", CF_INVALID_ARGUMENT},
        {"40001", CF_ABORTED},           {"40P01", CF_ABORTED},
        {"57014", CF_DEADLINE_EXCEEDED}, {"57P01", CF_UNAVAILABLE},
        {"57P02", CF_UNAVAILABLE},       {"57P03", CF_UNAVAILABLE},
        {"08006", CF_UNAVAILABLE},       {"08001", CF_UNAVAILABLE},
        {"08P01", CF_UNAVAILABLE},       {"53300", CF_UNAVAILABLE},
        {"42601", CF_INTERNAL}, /* syntax error: our bug, not the caller's */
        {"42P01", CF_INTERNAL},          {"23P01", CF_INTERNAL},
        {"40002", CF_INTERNAL},          {"XX000", CF_INTERNAL},
        {"25P02", CF_INTERNAL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cf_code got = db_code_from_sqlstate(cases[i].sqlstate);
        if (got != cases[i].want)
            fail_msg("SQLSTATE %s: want %s, got %s", cases[i].sqlstate, cf_code_name(cases[i].want),
                     cf_code_name(got));
    }
}

static void test_missing_or_malformed_sqlstate_is_internal(void **state)
{
    (void)state;
    assert_code(CF_INTERNAL, db_code_from_sqlstate(NULL));
    assert_code(CF_INTERNAL, db_code_from_sqlstate(""));
    assert_code(CF_INTERNAL, db_code_from_sqlstate("2350"));
    assert_code(CF_INTERNAL, db_code_from_sqlstate("235050"));
    assert_code(CF_INTERNAL, db_code_from_sqlstate("22"));
    assert_code(CF_INTERNAL, db_code_from_sqlstate("08"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sqlstates_map_to_their_codes),
        cmocka_unit_test(test_missing_or_malformed_sqlstate_is_internal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
