/* cfg_dump_test.c — the effective configuration as YAML: every type's text, sections merged
 * across schemas, secrets redacted, and the dump loads back to the same values. */
#include "cfg_fixture.h"

static const char expected[] =
    "rpc:\n"
    "  # address to listen on\n"
    "  listen: \"tcp://0.0.0.0:7101\"\n"
    "  # worker threads\n"
    "  workers: 16\n"
    "  # default deadline\n"
    "  deadline: 2s\n"
    "  # largest message\n"
    "  max_message: 4MiB\n"
    "  tls: false\n"
    "  # requests waiting for a worker\n"
    "  queue: 64\n"
    "db:\n"
    "  # PostgreSQL conninfo\n"
    "  dsn: \"<redacted>\"\n"
    "  pool: 20\n"
    "app:\n"
    "  mode: \"dev\"\n"
    "  origins: [\"https://confetti.example\", \"http://localhost:5173\"]\n"
    "  debug: false\n"
    "  name: \"rooms \\\"r\\\"\\x09\"\n"
    "  # api_key: (not set)\n"
    "  offset: 0\n";

static char *dump(fx *f)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    cfg_dump(f->schemas, 2, out);
    fclose(out);
    return text;
}

static void test_dump_shows_effective_config_with_secrets_redacted(void **state)
{
    (void)state;
    fx f;
    char err[256], *env[] = {"CONFETTI_APP_NAME=rooms \"r\"\t", NULL};
    fx_init(&f);
    assert_code(CF_OK, cfg_load(f.schemas, 2, CFG_FIXTURES "/good.yaml", env, err, sizeof err));
    char *text = dump(&f);
    assert_string_equal(text, expected);
    assert_null(strstr(text, "dbname=rooms"));
    free(text);
    cfg_free(f.schemas, 2);
}

static void test_dump_loads_back_to_the_same_values(void **state)
{
    (void)state;
    fx f, g;
    char err[256], path[] = "/tmp/cfg_dump_XXXXXX.yaml";
    char *env[] = {"CONFETTI_DB_DSN=x", "CONFETTI_RPC_DEADLINE=90s", "CONFETTI_RPC_TLS=on", NULL};
    fx_init(&f);
    assert_code(CF_OK, cfg_load(f.schemas, 2, CFG_FIXTURES "/good.yaml", env, err, sizeof err));
    char *text = dump(&f);
    int fd = mkstemps(path, 5);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    fx_init(&g);
    assert_code(CF_OK, cfg_load(g.schemas, 2, path, NULL, err, sizeof err));
    assert_int_equal(g.rpc.deadline_ms, 90000);
    assert_true(g.rpc.tls);
    assert_int_equal(g.rpc.max_message, f.rpc.max_message);
    assert_int_equal(g.svc.origins.n, 2);
    assert_string_equal(g.svc.origins.items[1], f.svc.origins.items[1]);
    assert_string_equal(g.svc.dsn, "<redacted>"); /* secrets do not round-trip, by design */
    unlink(path);
    free(text);
    cfg_free(f.schemas, 2);
    cfg_free(g.schemas, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dump_shows_effective_config_with_secrets_redacted),
        cmocka_unit_test(test_dump_loads_back_to_the_same_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
