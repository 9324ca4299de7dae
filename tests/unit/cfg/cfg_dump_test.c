/* cfg_dump_test.c — the effective configuration as YAML: every type's text, sections merged
 * across schemas, secrets redacted, and the dump loads back to the same values. */
#include "cfg_fixture.h"

static const char expected[] =
    "rpc:\n"
    "  # address to listen on\n"
    "  # default tcp://127.0.0.1:7001; env CONFETTI_RPC_LISTEN\n"
    "  listen: \"tcp://0.0.0.0:7101\"\n"
    "  # worker threads\n"
    "  # default 4; env CONFETTI_RPC_WORKERS\n"
    "  workers: 16\n"
    "  # default deadline\n"
    "  # default 5s; env CONFETTI_RPC_DEADLINE\n"
    "  deadline: 2s\n"
    "  # largest message\n"
    "  # default 4MiB; env CONFETTI_RPC_MAX_MESSAGE\n"
    "  max_message: 4MiB\n"
    "  # default false; env CONFETTI_RPC_TLS\n"
    "  tls: false\n"
    "  # requests waiting for a worker\n"
    "  # default 128; env CONFETTI_RPC_QUEUE\n"
    "  queue: 64\n"
    "db:\n"
    "  # PostgreSQL conninfo\n"
    "  # default none (required); env CONFETTI_DB_DSN[_FILE]\n"
    "  dsn: \"<redacted>\"\n"
    "  # default 8; env CONFETTI_DB_POOL\n"
    "  pool: 20\n"
    "app:\n"
    "  # default prod; env CONFETTI_APP_MODE\n"
    "  mode: \"dev\"\n"
    "  # default https://a.example, https://b.example; env CONFETTI_APP_ORIGINS\n"
    "  origins: [\"https://confetti.example\", \"http://localhost:5173\"]\n"
    "  # default no; env CONFETTI_APP_DEBUG\n"
    "  debug: false\n"
    "  # default none; env CONFETTI_APP_NAME\n"
    "  name: \"rooms \\\"r\\\"\\x09\"\n"
    "  # default none; env CONFETTI_APP_API_KEY[_FILE]\n"
    "  # api_key: (not set)\n"
    "  # default 0; env CONFETTI_APP_OFFSET\n"
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

/* Issue 21 item 8: with a scope, each key shows both environment names. */
static void test_dump_scoped_names_both_variables(void **state)
{
    (void)state;
    fx f;
    char err[256], *env[] = {"CONFETTI_DB_DSN=x", NULL};
    fx_init(&f);
    assert_code(CF_OK, cfg_load(f.schemas, 2, NULL, env, err, sizeof err));
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    cfg_dump_scoped("rooms", f.schemas, 2, out);
    fclose(out);
    assert_non_null(strstr(text, "  # default 4; env CONFETTI_RPC_WORKERS or "
                                 "CONFETTI_ROOMS__RPC_WORKERS\n  workers: 4\n"));
    assert_non_null(strstr(text, "  # default none (required); env CONFETTI_DB_DSN[_FILE] or "
                                 "CONFETTI_ROOMS__DB_DSN[_FILE]\n"));
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
        cmocka_unit_test(test_dump_scoped_names_both_variables),
        cmocka_unit_test(test_dump_loads_back_to_the_same_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
