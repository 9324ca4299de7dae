/* test_cli.c — `confetti call` and `confetti list` as a person runs them: a real process talking
 * to a real server over nng, JSON in and out, exit status = the gRPC code. */
#include "th.h"
#include "testsvc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static int run(const char *args, char *out, size_t cap)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s %s 2>&1", CLI_BIN, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_call_maps_json_both_ways_and_exit_codes(void **state)
{
    (void)state;
    char url[128], args[512], out[4096];
    int id = 1;
    rpc_server *s = th_echo_server(th_ipc_url(url, sizeof url, "cli"), 2, &id, NULL, NULL);

    snprintf(args, sizeof args, "call %s health.v1.Health/Check '{}'", url);
    assert_int_equal(run(args, out, sizeof out), 0);
    assert_string_equal(out, "{\"status\":\"SERVING\"}\n");

    /* the proto field name is accepted as well as its JSON name */
    snprintf(args, sizeof args, "call %s health.v1.Health/Check '{\"service\":\"rooms\"}'", url);
    assert_int_equal(run(args, out, sizeof out), 0);

    /* wrong JSON type: INVALID_ARGUMENT (3), naming the field */
    snprintf(args, sizeof args, "call %s health.v1.Health/Check '{\"service\": 5}'", url);
    assert_int_equal(run(args, out, sizeof out), CF_INVALID_ARGUMENT);
    assert_non_null(strstr(out, "service"));

    /* unknown field and malformed JSON */
    snprintf(args, sizeof args, "call %s health.v1.Health/Check '{\"nope\": 1}'", url);
    assert_int_equal(run(args, out, sizeof out), CF_INVALID_ARGUMENT);
    assert_non_null(strstr(out, "nope"));
    snprintf(args, sizeof args, "call %s health.v1.Health/Check '{'", url);
    assert_int_equal(run(args, out, sizeof out), CF_INVALID_ARGUMENT);

    /* a method the client does not know: usage error (64) */
    snprintf(args, sizeof args, "call %s health.v1.Health/Nope '{}'", url);
    assert_int_equal(run(args, out, sizeof out), 64);

    rpc_server_free(s);

    /* nobody listening: UNAVAILABLE (14) once the deadline passes */
    snprintf(args, sizeof args, "call %s health.v1.Health/Check '{}' --timeout 200", url);
    assert_int_equal(run(args, out, sizeof out), CF_UNAVAILABLE);
    assert_non_null(strstr(out, "UNAVAILABLE"));
}

static void test_list_shows_every_known_method(void **state)
{
    (void)state;
    char out[65536];
    assert_int_equal(run("list", out, sizeof out), 0);
    assert_non_null(strstr(out, "health.v1.Health/Check(health.v1.CheckRequest) returns "
                                "(health.v1.CheckResponse)"));
    assert_int_equal(run("frobnicate", out, sizeof out), 64);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_call_maps_json_both_ways_and_exit_codes),
        cmocka_unit_test(test_list_shows_every_known_method),
    };
    return cmocka_run_group_tests_name("cli", tests, NULL, NULL);
}
