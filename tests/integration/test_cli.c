/* test_cli.c — `confetti call` and `confetti list` as a person runs them: a real process talking
 * to a real server over nng, JSON in and out, exit status = the gRPC code. */
#include "th.h"
#include "testsvc.h"
#include "th_proc.h"

#include <stdarg.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* Runs the CLI with the given arguments (NULL-ended), no shell in between. */
static int run(char *out, size_t cap, ...)
{
    const char *argv[16] = {CLI_BIN};
    size_t n = 1;
    va_list ap;
    va_start(ap, cap);
    while ((argv[n] = va_arg(ap, const char *)) != NULL)
        assert_true(++n < sizeof argv / sizeof *argv);
    va_end(ap);
    return th_run(argv, NULL, out, cap);
}

static void test_call_maps_json_both_ways_and_exit_codes(void **state)
{
    (void)state;
    char url[128], out[4096];
    int id = 1;
    rpc_server *s = th_echo_server(th_ipc_url(url, sizeof url, "cli"), 2, &id, NULL, NULL);

    assert_int_equal(run(out, sizeof out, "call", url, "health.v1.Health/Check", "{}", NULL), 0);
    assert_string_equal(out, "{\"status\":\"SERVING\"}\n");

    /* the proto field name is accepted as well as its JSON name */
    assert_int_equal(run(out, sizeof out, "call", url, "health.v1.Health/Check",
                         "{\"service\":\"health.v1.Health\"}", NULL),
                     0);

    /* wrong JSON type: INVALID_ARGUMENT (3), naming the field */
    assert_int_equal(
        run(out, sizeof out, "call", url, "health.v1.Health/Check", "{\"service\": 5}", NULL),
        CF_INVALID_ARGUMENT);
    assert_non_null(strstr(out, "service"));

    /* unknown field and malformed JSON */
    assert_int_equal(
        run(out, sizeof out, "call", url, "health.v1.Health/Check", "{\"nope\": 1}", NULL),
        CF_INVALID_ARGUMENT);
    assert_non_null(strstr(out, "nope"));
    assert_int_equal(run(out, sizeof out, "call", url, "health.v1.Health/Check", "{", NULL),
                     CF_INVALID_ARGUMENT);

    /* a method the client does not know: usage error (64) */
    assert_int_equal(run(out, sizeof out, "call", url, "health.v1.Health/Nope", "{}", NULL), 64);

    rpc_server_free(s);

    /* nobody listening: UNAVAILABLE (14) once the deadline passes */
    assert_int_equal(
        run(out, sizeof out, "call", url, "health.v1.Health/Check", "{}", "--timeout", "200", NULL),
        CF_UNAVAILABLE);
    assert_non_null(strstr(out, "UNAVAILABLE"));
}

static void test_list_shows_every_known_method(void **state)
{
    (void)state;
    char out[65536];
    assert_int_equal(run(out, sizeof out, "list", NULL), 0);
    assert_non_null(strstr(out, "health.v1.Health/Check(health.v1.CheckRequest) returns "
                                "(health.v1.CheckResponse)"));
    assert_int_equal(run(out, sizeof out, "frobnicate", NULL), 64);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_call_maps_json_both_ways_and_exit_codes),
        cmocka_unit_test(test_list_shows_every_known_method),
    };
    return cmocka_run_group_tests_name("cli", tests, NULL, NULL);
}
