/* b64url_test.c — the base64url codec: round trips, and only canonical unpadded input decodes. */
#include "th.h"

#include <string.h>

#include "base/b64url.h"

static void round_trips_every_tail_length(void **state)
{
    (void)state;
    unsigned char src[16], back[32];
    for (size_t i = 0; i < sizeof src; i++)
        src[i] = (unsigned char)(0xF0 + i * 7);
    for (size_t n = 0; n <= sizeof src; n++) {
        char enc[32];
        size_t len = b64url_encode(enc, src, n), got;
        assert_int_equal(len, b64url_encoded_len(n));
        assert_null(strchr(enc, '='));
        assert_true(b64url_decode(enc, len, back, &got));
        assert_int_equal(got, n);
        assert_memory_equal(back, src, n);
    }
}

static void known_vectors_use_the_url_alphabet(void **state)
{
    (void)state;
    char enc[16];
    b64url_encode(enc, "\xfb\xff", 2);
    assert_string_equal(enc, "-_8");
    b64url_encode(enc, "{\"a\"", 4);
    assert_string_equal(enc, "eyJhIg");
}

static void rejects_non_canonical_or_foreign_input(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "A",    /* length 1 mod 4 */
        "AA==", /* padding */
        "+/8",  /* standard alphabet */
        "AB",   /* non-zero unused bits: "AA" is the canonical spelling of 0x00 */
        "AAB",  /* same, two bytes */
        "A A",  /* whitespace */
        "AA\n",
    };
    unsigned char out[8];
    size_t n;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (b64url_decode(bad[i], strlen(bad[i]), out, &n))
            fail_msg("accepted \"%s\"", bad[i]);
    assert_true(b64url_decode("AA", 2, out, &n));
    assert_true(n == 1 && out[0] == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trips_every_tail_length),
        cmocka_unit_test(known_vectors_use_the_url_alphabet),
        cmocka_unit_test(rejects_non_canonical_or_foreign_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
