/* test_page.c — SPEC §4 paging: page_size default 20, max 100; opaque keyset tokens that refuse
 * tampering and reuse with other filters. */
#include "th.h"
#include "page/page.h"

#include <string.h>

static void test_page_size_default_20_max_100(void **state)
{
    (void)state;
    static const struct {
        int32_t in;
        cf_code code;
        int out;
    } table[] = {{0, CF_OK, 20},
                 {1, CF_OK, 1},
                 {20, CF_OK, 20},
                 {100, CF_OK, 100},
                 {101, CF_OK, 100},
                 {1 << 30, CF_OK, 100},
                 {-1, CF_INVALID_ARGUMENT, 0}};
    for (size_t i = 0; i < sizeof table / sizeof *table; i++) {
        int out = 0;
        assert_code(table[i].code, page_size(table[i].in, &out));
        if (table[i].code == CF_OK)
            assert_int_equal(out, table[i].out);
    }
}

static void test_page_token_round_trip_and_refusals(void **state)
{
    (void)state;
    arena a;
    arena_init(&a, 4096);
    const char *parts[] = {"2026-11-27T09:51:11.123456Z", "cmwyso1c10004jenlxbqgh2te"};
    char *tok = page_token_encode(&a, "status=ACTIVE", parts, 2);
    for (const char *p = tok; *p; p++) /* URL-safe */
        assert_non_null(
            strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", *p));
    char *out[2];
    assert_code(CF_OK, page_token_decode(&a, tok, "status=ACTIVE", out, 2));
    assert_string_equal(out[0], parts[0]);
    assert_string_equal(out[1], parts[1]);

    assert_code(CF_NOT_FOUND, page_token_decode(&a, "", "status=ACTIVE", out, 2));
    assert_code(CF_INVALID_ARGUMENT, page_token_decode(&a, tok, "status=DRAFT", out, 2));
    assert_code(CF_INVALID_ARGUMENT, page_token_decode(&a, tok, "status=ACTIVE", out, 1));
    char *tampered = arena_strdup(&a, tok);
    tampered[3] = tampered[3] == 'A' ? 'B' : 'A';
    assert_code(CF_INVALID_ARGUMENT, page_token_decode(&a, tampered, "status=ACTIVE", out, 2));
    const char *junk[] = {"!!!", "'; DROP TABLE rooms; --", "AAAA", "x"};
    for (size_t i = 0; i < 4; i++)
        assert_code(CF_INVALID_ARGUMENT, page_token_decode(&a, junk[i], "status=ACTIVE", out, 2));
    char huge[4096];
    memset(huge, 'A', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    assert_code(CF_INVALID_ARGUMENT, page_token_decode(&a, huge, "", out, 2));
    arena_release(&a);
}

static void test_keyset_token_round_trip_and_refusals(void **state)
{
    (void)state;
    arena a;
    arena_init(&a, 4096);
    char *tok =
        page_keyset_encode(&a, "rooms|ACTIVE", 1795779098123456, "cmwyso1c10004jenlxbqgh2te");
    int64_t us = 0;
    char *id = NULL;
    assert_code(CF_OK, page_keyset_decode(&a, tok, "rooms|ACTIVE", &us, &id));
    assert_int_equal(us, 1795779098123456);
    assert_string_equal(id, "cmwyso1c10004jenlxbqgh2te");
    tok = page_keyset_encode(&a, "f", PAGE_KEYSET_MAX_US, "c1"); /* the last one that is */
    assert_code(CF_OK, page_keyset_decode(&a, tok, "f", &us, &id));
    tok = page_keyset_encode(&a, "rooms|ACTIVE", 1795779098123456, "cmwyso1c10004jenlxbqgh2te");
    assert_code(CF_NOT_FOUND, page_keyset_decode(&a, "", "rooms|ACTIVE", &us, &id));
    assert_code(CF_INVALID_ARGUMENT, page_keyset_decode(&a, tok, "rooms|DRAFT", &us, &id));
    /* well-formed tokens whose parts are not a keyset */
    /* ... and positions no store holds (issue 24 item 4: a forged one reached the database as
     * "a value is out of range"): past year 9999, past INT64_MAX */
    const char *bad[][2] = {{"-5", "c1"},
                            {"12x", "c1"},
                            {"", "c1"},
                            {"12", ""},
                            {"253402300800000000", "c1"},
                            {"9223372036854775807", "c1"},
                            {"99999999999999999999", "c1"}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *t = page_token_encode(&a, "f", bad[i], 2);
        assert_code(CF_INVALID_ARGUMENT, page_keyset_decode(&a, t, "f", &us, &id));
    }
    arena_release(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_page_size_default_20_max_100),
        cmocka_unit_test(test_page_token_round_trip_and_refusals),
        cmocka_unit_test(test_keyset_token_round_trip_and_refusals),
    };
    return cmocka_run_group_tests_name("page", tests, NULL, NULL);
}
