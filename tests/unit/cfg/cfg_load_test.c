/* cfg_load_test.c — the loading rules: precedence default < file < env, unknown and duplicate
 * keys, shapes, syntax, required keys, *_file secrets, lists, and which CONFETTI_ vars count. */
#include "cfg_fixture.h"

#define DSN "host=/run/pg password=s3cr3t-Value"

static void test_defaults_apply_without_file(void **state)
{
    (void)state;
    fx f;
    char err[256], *env[] = {"CONFETTI_DB_DSN=" DSN, NULL};
    assert_code(CF_OK, fx_load(&f, NULL, env, err, sizeof err, NULL, 0));
    assert_string_equal(f.rpc.listen, "tcp://127.0.0.1:7001");
    assert_int_equal(f.rpc.workers, 4);
    assert_int_equal(f.rpc.deadline_ms, 5000);
    assert_int_equal(f.rpc.max_message, 4 << 20);
    assert_false(f.rpc.tls);
    assert_int_equal(f.svc.queue, 128);
    assert_int_equal(f.svc.pool, 8);
    assert_string_equal(f.svc.mode, "prod");
    assert_int_equal(f.svc.origins.n, 2);
    assert_string_equal(f.svc.origins.items[1], "https://b.example");
    assert_null(f.svc.name); /* no default, not required: stays unset */
    assert_null(f.svc.api_key);
    cfg_free(f.schemas, 2);
    assert_null(f.rpc.listen);
    assert_null(f.svc.origins.items);
    cfg_free(f.schemas, 2); /* twice is harmless */
}

static void test_file_overrides_defaults(void **state)
{
    (void)state;
    fx f;
    char err[256];
    fx_init(&f);
    assert_code(CF_OK, cfg_load(f.schemas, 2, CFG_FIXTURES "/good.yaml", NULL, err, sizeof err));
    assert_string_equal(f.rpc.listen, "tcp://0.0.0.0:7101");
    assert_int_equal(f.rpc.workers, 16);
    assert_int_equal(f.rpc.deadline_ms, 2000);
    assert_int_equal(f.rpc.max_message, 4 << 20); /* not in the file: default */
    assert_int_equal(f.svc.queue, 64);            /* second schema, same section */
    assert_string_equal(f.svc.dsn, "host=/run/pg dbname=rooms");
    assert_int_equal(f.svc.pool, 20);
    assert_string_equal(f.svc.mode, "dev");
    assert_int_equal(f.svc.origins.n, 2);
    assert_string_equal(f.svc.origins.items[0], "https://confetti.example");
    assert_string_equal(f.svc.origins.items[1], "http://localhost:5173");
    assert_string_equal(f.svc.name, "rooms");
    cfg_free(f.schemas, 2);
}

static void test_env_overrides_file(void **state)
{
    (void)state;
    fx f;
    char err[256], *env[] = {"PATH=/bin",
                             "CONFETTI_RPC_WORKERS=32",
                             "CONFETTI_APP_MODE=prod",
                             "CONFETTI_RPC_QUEUE=7",
                             "CONFETTI_APP_ORIGINS= a , b,,c,",
                             NULL};
    fx_init(&f);
    assert_code(CF_OK, cfg_load(f.schemas, 2, CFG_FIXTURES "/good.yaml", env, err, sizeof err));
    assert_int_equal(f.rpc.workers, 32);
    assert_int_equal(f.svc.queue, 7);
    assert_string_equal(f.svc.mode, "prod");
    assert_string_equal(f.rpc.listen, "tcp://0.0.0.0:7101"); /* file value kept */
    assert_int_equal(f.svc.origins.n, 3);
    assert_string_equal(f.svc.origins.items[0], "a");
    assert_string_equal(f.svc.origins.items[2], "c");
    cfg_free(f.schemas, 2);
}

static void test_strlist_from_yaml_flow_and_empty(void **state)
{
    (void)state;
    fx f;
    char err[256], *env[] = {"CONFETTI_DB_DSN=x", NULL},
                   *env_empty[] = {"CONFETTI_DB_DSN=x", "CONFETTI_APP_ORIGINS=", NULL};
    assert_code(CF_OK, fx_load(&f, "app:\n  origins: [x, \"y,z\"]\n", env, err, sizeof err, 0, 0));
    assert_int_equal(f.svc.origins.n, 2);
    assert_string_equal(f.svc.origins.items[1], "y,z"); /* YAML items are not split */
    cfg_free(f.schemas, 2);
    assert_code(CF_OK, fx_load(&f, "app:\n  origins: []\n", env, err, sizeof err, 0, 0));
    assert_int_equal(f.svc.origins.n, 0);
    cfg_free(f.schemas, 2);
    assert_code(CF_OK, fx_load(&f, NULL, env_empty, err, sizeof err, 0, 0));
    assert_int_equal(f.svc.origins.n, 0);
    cfg_free(f.schemas, 2);
}

static void test_empty_file_and_empty_section_are_fine(void **state)
{
    (void)state;
    fx f;
    char err[256], *env[] = {"CONFETTI_DB_DSN=x", NULL};
    const char *texts[] = {"", "# only a comment\n", "---\n", "rpc:\ndb:\n  dsn: y\n"};
    for (size_t i = 0; i < 4; i++) {
        if (fx_load(&f, texts[i], env, err, sizeof err, 0, 0) != CF_OK)
            fail_msg("%zu: %s", i, err);
        assert_int_equal(f.rpc.workers, 4);
        cfg_free(f.schemas, 2);
    }
}

/* YAML text and the error after "PATH:". */
typedef struct file_error {
    const char *yaml, *msg;
} file_error;

static const file_error file_errors[] = {
    {"db:\n  dsn: x\nnosuch:\n  a: 1\n", ":3:1: nosuch: unknown section (known: rpc, db, app)"},
    {"rpc:\n  wrokers: 2\n",
     ":2:3: rpc.wrokers: unknown key (known: listen, workers, deadline, max_message, tls, queue)"},
    {"db:\n  dsn: x\n  dsn: y\n", ":3:3: db.dsn: duplicate key"},
    {"db:\n  dsn: x\ndb:\n  pool: 2\n", ":3:1: db: duplicate section"},
    {"rpc:\n  workers:\n    a: 1\n", ":3:5: rpc.workers: expected a scalar, got a mapping"},
    {"rpc:\n  workers: [1, 2]\n", ":2:12: rpc.workers: expected a scalar, got a sequence"},
    {"app:\n  origins: https://x\n", ":2:12: app.origins: expected a sequence, e.g. [a, b]"},
    {"app:\n  origins: [[a]]\n", ":2:13: app.origins: sequence items must be strings"},
    {"app:\n  origins: {a: 1}\n", ":2:12: app.origins: expected a sequence, got a mapping"},
    {"rpc:\n  workers: ~\n", ":2:12: rpc.workers: no value (remove the key for the default)"},
    {"rpc: 5\n", ":1:6: rpc: expected a mapping of keys"},
    {"- rpc\n", ":1:1: expected a mapping of sections"},
    {"rpc:\n  [a]: 1\n", ":2:3: rpc: keys must be scalars"},
    {"rpc:\n  workers: 2\n bad\n",
     ":3:2: YAML syntax error: did not find expected key while parsing a block mapping"},
    {"rpc:\n  listen: \"open\n", ":3:1: YAML syntax error: found unexpected end of stream while "
                                 "scanning a quoted scalar"},
    {"rpc:\n  listen: &a x\napp:\n  name: *a\n", ":4:9: YAML aliases are not supported"},
    {"rpc: {}\n---\nrpc: {}\n", ":2:1: only one YAML document is allowed"},
    {"db:\n  dsn: x\n  dsn_file: /etc/hostname\n", ":3:3: db.dsn_file: dsn and dsn_file are both "
                                                   "set; use one"},
    {"db:\n  dsn_file: /nonexistent/dsn\n",
     ":2:13: db.dsn_file: secret file /nonexistent/dsn: cannot open: No such file or directory"},
    {"app:\n  name_file: /etc/hostname\n", ":2:3: app.name_file: unknown key (known: mode, "
                                           "origins, debug, name, api_key, offset)"},
    {"app:\n  name: \"a\\0b\"\n", ":2:9: app.name: contains a NUL byte"},
};

static void test_file_errors_name_line_col_and_key(void **state)
{
    (void)state;
    char *env[] = {"CONFETTI_DB_DSN=x", NULL}, err[512], path[64], want[512];
    for (size_t i = 0; i < sizeof file_errors / sizeof *file_errors; i++) {
        fx f;
        if (fx_load(&f, file_errors[i].yaml, env, err, sizeof err, path, sizeof path) == CF_OK)
            fail_msg("case %zu loaded", i);
        snprintf(want, sizeof want, "%s%s", path, file_errors[i].msg);
        assert_string_equal(err, want);
        assert_null(f.svc.dsn); /* a failed load leaves nothing owned */
        assert_null(f.rpc.listen);
        cfg_free(f.schemas, 2);
    }
}

static void test_file_missing_or_too_big(void **state)
{
    (void)state;
    fx f;
    char err[512], want[512];
    fx_init(&f);
    assert_code(CF_INVALID_ARGUMENT,
                cfg_load(f.schemas, 2, "/nonexistent/x.yaml", NULL, err, sizeof err));
    assert_string_equal(err, "/nonexistent/x.yaml: cannot open: No such file or directory");

    size_t n = CFG_MAX_FILE_BYTES + 1;
    char *big = xmalloc(n + 1), path[64];
    memset(big, '#', n);
    big[n] = '\0';
    assert_code(CF_INVALID_ARGUMENT, fx_load(&f, big, NULL, err, sizeof err, path, sizeof path));
    snprintf(want, sizeof want, "%s: larger than 1048576 bytes", path);
    assert_string_equal(err, want);
    free(big);
}

static void test_required_key_missing(void **state)
{
    (void)state;
    fx f;
    char err[256], want[256], path[64];
    assert_code(CF_INVALID_ARGUMENT, fx_load(&f, NULL, NULL, err, sizeof err, 0, 0));
    assert_string_equal(err, "config: db.dsn: required but not set (in the file or "
                             "CONFETTI_DB_DSN)");
    assert_code(CF_INVALID_ARGUMENT,
                fx_load(&f, "db:\n  pool: 3\n", NULL, err, sizeof err, path, sizeof path));
    snprintf(want, sizeof want,
             "%s: db.dsn: required but not set (in the file or "
             "CONFETTI_DB_DSN)",
             path);
    assert_string_equal(err, want);
}

static void test_env_typo_in_known_section_is_an_error(void **state)
{
    (void)state;
    fx f;
    char err[256], *env[] = {"CONFETTI_DB_DSN=x", "CONFETTI_RPC_WORKER=3", NULL};
    assert_code(CF_INVALID_ARGUMENT, fx_load(&f, NULL, env, err, sizeof err, 0, 0));
    assert_non_null(strstr(err, "env CONFETTI_RPC_WORKER: rpc: unknown key WORKER (known: listen, "
                                "workers, deadline, max_message, tls, queue); another process's "
                                "key takes its scope: CONFETTI_<SERVICE>__RPC_WORKER"));
}

/* One environment for every process: CONFETTI_<SCOPE>__<SECTION>_<KEY> is read by the process of
 * that scope only, wins over the unscoped name, and is refused there if it names nothing. */
static const char *const fx_scopes[] = {"rooms", "catalog", NULL};

static cf_code fx_load_scoped(fx *f, const char *scope, char *const *env, char *err, size_t len)
{
    fx_init(f);
    return cfg_load_scoped(scope, fx_scopes, f->schemas, 2, NULL, env, err, len);
}

static void test_env_scoped_reaches_its_process_only(void **state)
{
    (void)state;
    fx f;
    char err[256], *env[] = {"CONFETTI_DB_DSN=x",
                             "CONFETTI_RPC_WORKERS=5",
                             "CONFETTI_ROOMS__RPC_WORKERS=7", /* beats the unscoped 5 */
                             "CONFETTI_ROOMS__APP_MODE=dev",
                             "CONFETTI_CATALOG__APP_NAME=cat",   /* another process's */
                             "CONFETTI_CATALOG__CATALOG_X=1",    /* a section only it knows */
                             "CONFETTI_CATALOG__APP_NAMEE=typo", /* its typo, not ours */
                             NULL};
    assert_code(CF_OK, fx_load_scoped(&f, "rooms", env, err, sizeof err));
    assert_int_equal(f.rpc.workers, 7);
    assert_string_equal(f.svc.mode, "dev");
    assert_null(f.svc.name);
    cfg_free(f.schemas, 2);
    /* without a scope (tools, tests) scoped variables are ignored */
    fx_init(&f);
    assert_code(CF_OK, cfg_load(f.schemas, 2, NULL, env, err, sizeof err));
    assert_int_equal(f.rpc.workers, 5);
    assert_string_equal(f.svc.mode, "prod");
    cfg_free(f.schemas, 2);
    /* the other process: its own values, and its typo refused naming the variable */
    char *cat[] = {"CONFETTI_DB_DSN=x", "CONFETTI_ROOMS__RPC_WORKERS=7",
                   "CONFETTI_CATALOG__APP_NAME=cat", NULL};
    assert_code(CF_OK, fx_load_scoped(&f, "catalog", cat, err, sizeof err));
    assert_string_equal(f.svc.name, "cat");
    assert_int_equal(f.rpc.workers, 4);
    cfg_free(f.schemas, 2);
    assert_code(CF_INVALID_ARGUMENT, fx_load_scoped(&f, "catalog", env, err, sizeof err));
    assert_string_equal(err, "env CONFETTI_CATALOG__CATALOG_X: names no section of catalog "
                             "(sections: rpc, db, app)");
}

static void test_env_scoped_typos_are_refused(void **state)
{
    (void)state;
    fx f;
    char err[256], *key[] = {"CONFETTI_DB_DSN=x", "CONFETTI_ROOMS__APP_MODES=dev", NULL},
                   *scope[] = {"CONFETTI_DB_DSN=x", "CONFETTI_ROMS__APP_MODE=dev", NULL},
                   *bad[] = {"CONFETTI_DB_DSN=x", "CONFETTI_ROOMS__APP_MODE=test", NULL},
                   *twice[] = {"CONFETTI_DB_DSN=x", "CONFETTI_ROOMS__RPC_WORKERS=1",
                               "CONFETTI_ROOMS__RPC_WORKERS=2", NULL};
    assert_code(CF_INVALID_ARGUMENT, fx_load_scoped(&f, "rooms", key, err, sizeof err));
    assert_string_equal(err, "env CONFETTI_ROOMS__APP_MODES: app: unknown key MODES (known: mode, "
                             "origins, debug, name, api_key, offset)");
    /* a scope no process has: every process refuses it */
    assert_code(CF_INVALID_ARGUMENT, fx_load_scoped(&f, "catalog", scope, err, sizeof err));
    assert_string_equal(err, "env CONFETTI_ROMS__APP_MODE: unknown scope ROMS (known: ROOMS, "
                             "CATALOG)");
    assert_code(CF_INVALID_ARGUMENT, fx_load_scoped(&f, "rooms", bad, err, sizeof err));
    assert_non_null(strstr(err, "env CONFETTI_ROOMS__APP_MODE: app.mode: "));
    assert_code(CF_INVALID_ARGUMENT, fx_load_scoped(&f, "rooms", twice, err, sizeof err));
    assert_non_null(strstr(err, "duplicate key"));
}

static void test_env_of_other_sections_is_ignored(void **state)
{
    (void)state;
    fx f;
    char err[256], *env[] = {"CONFETTI_TEST_PG=/tmp/pg/env",
                             "CONFETTI_LOG_LEVEL=debug",
                             "CONFETTI=1",
                             "CONFETTI_=1",
                             "CONFETTI_DB_DSN=x",
                             "RPC_WORKERS=9",
                             "CONFETTI_RPC_WORKERS",
                             NULL};
    assert_code(CF_OK, fx_load(&f, NULL, env, err, sizeof err, 0, 0));
    assert_int_equal(f.rpc.workers, 4);
    cfg_free(f.schemas, 2);
}

static void test_secret_from_file_in_yaml_and_env(void **state)
{
    (void)state;
    fx f;
    char *secret = fx_tmpfile(DSN "\n\n"), yaml[256], var[256], err[256];
    char *env[] = {var, NULL};
    snprintf(yaml, sizeof yaml, "db:\n  dsn_file: %s\n", secret);
    assert_code(CF_OK, fx_load(&f, yaml, NULL, err, sizeof err, 0, 0));
    assert_string_equal(f.svc.dsn, DSN); /* trailing newlines stripped */
    cfg_free(f.schemas, 2);

    snprintf(var, sizeof var, "CONFETTI_DB_DSN_FILE=%s", secret);
    assert_code(CF_OK, fx_load(&f, "db:\n  dsn: from-yaml\n", env, err, sizeof err, 0, 0));
    assert_string_equal(f.svc.dsn, DSN); /* env _FILE beats the file's plain value */
    cfg_free(f.schemas, 2);
    unlink(secret);
    free(secret);
}

/* Secret files are read whole at every size up to the bound: around each step where the read
 * buffer grows (4 KiB doubling) and at CFG_MAX_FILE_BYTES itself, one byte more is refused. */
static void test_secret_file_read_whole_at_every_size(void **state)
{
    (void)state;
    static const size_t sizes[] = {1,
                                   4095,
                                   4096,
                                   4097,
                                   8191,
                                   8192,
                                   8193,
                                   65536,
                                   524288,
                                   524289,
                                   CFG_MAX_FILE_BYTES - 1,
                                   CFG_MAX_FILE_BYTES};
    char *text = xmalloc(CFG_MAX_FILE_BYTES + 2), yaml[256], err[256];
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        size_t n = sizes[i];
        for (size_t k = 0; k < n; k++)
            text[k] = (char)('a' + (k * 7 + k / 4096) % 26); /* no two blocks alike */
        text[n] = '\0';
        char *secret = fx_tmpfile(text);
        snprintf(yaml, sizeof yaml, "db:\n  dsn_file: %s\n", secret);
        fx f;
        assert_code(CF_OK, fx_load(&f, yaml, NULL, err, sizeof err, 0, 0));
        assert_int_equal(strlen(f.svc.dsn), n);
        assert_memory_equal(f.svc.dsn, text, n);
        cfg_free(f.schemas, 2);
        unlink(secret);
        free(secret);
    }
    memset(text, 'x', CFG_MAX_FILE_BYTES + 1);
    text[CFG_MAX_FILE_BYTES + 1] = '\0';
    char *secret = fx_tmpfile(text);
    snprintf(yaml, sizeof yaml, "db:\n  dsn_file: %s\n", secret);
    fx f;
    assert_code(CF_INVALID_ARGUMENT, fx_load(&f, yaml, NULL, err, sizeof err, 0, 0));
    assert_non_null(strstr(err, "larger than 1048576 bytes"));
    unlink(secret);
    free(secret);
    free(text);
}

static void test_secret_set_twice_or_unreadable_in_env(void **state)
{
    (void)state;
    fx f;
    char err[256];
    char *both[] = {"CONFETTI_DB_DSN=" DSN, "CONFETTI_DB_DSN_FILE=/etc/hostname", NULL};
    assert_code(CF_INVALID_ARGUMENT, fx_load(&f, NULL, both, err, sizeof err, 0, 0));
    assert_string_equal(err, "env CONFETTI_DB_DSN_FILE: db.dsn: dsn and dsn_file are both set; "
                             "use one");
    assert_null(strstr(err, "s3cr3t"));

    char *missing[] = {"CONFETTI_DB_DSN_FILE=/nonexistent/dsn", NULL};
    assert_code(CF_INVALID_ARGUMENT, fx_load(&f, NULL, missing, err, sizeof err, 0, 0));
    assert_string_equal(err, "env CONFETTI_DB_DSN_FILE: db.dsn: secret file /nonexistent/dsn: "
                             "cannot open: No such file or directory");
}

static void test_secret_never_appears_in_errors(void **state)
{
    (void)state;
    fx f;
    char err[512], *secret = fx_tmpfile(DSN), yaml[256], var[256];
    /* a secret where a mapping or a list is wrong, and errors after a secret loaded */
    const char *texts[] = {"db:\n  dsn: {k: " DSN "}\n", "db:\n  dsn: [" DSN "]\n",
                           "db:\n  dsn: " DSN "\n  dsn: " DSN "\n",
                           "db:\n  dsn: " DSN "\n  pool: lots\n"};
    for (size_t i = 0; i < 4; i++) {
        assert_code(CF_INVALID_ARGUMENT, fx_load(&f, texts[i], NULL, err, sizeof err, 0, 0));
        if (strstr(err, "s3cr3t"))
            fail_msg("secret leaked: %s", err);
    }
    snprintf(yaml, sizeof yaml, "db:\n  dsn_file: %s\n  dsn: other\n", secret);
    snprintf(var, sizeof var, "CONFETTI_RPC_WORKERS=%s", "many");
    char *env[] = {var, NULL};
    assert_code(CF_INVALID_ARGUMENT, fx_load(&f, yaml, env, err, sizeof err, 0, 0));
    assert_null(strstr(err, "s3cr3t"));
    unlink(secret);
    free(secret);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_apply_without_file),
        cmocka_unit_test(test_file_overrides_defaults),
        cmocka_unit_test(test_env_overrides_file),
        cmocka_unit_test(test_strlist_from_yaml_flow_and_empty),
        cmocka_unit_test(test_empty_file_and_empty_section_are_fine),
        cmocka_unit_test(test_file_errors_name_line_col_and_key),
        cmocka_unit_test(test_file_missing_or_too_big),
        cmocka_unit_test(test_required_key_missing),
        cmocka_unit_test(test_env_typo_in_known_section_is_an_error),
        cmocka_unit_test(test_env_of_other_sections_is_ignored),
        cmocka_unit_test(test_env_scoped_reaches_its_process_only),
        cmocka_unit_test(test_env_scoped_typos_are_refused),
        cmocka_unit_test(test_secret_from_file_in_yaml_and_env),
        cmocka_unit_test(test_secret_file_read_whole_at_every_size),
        cmocka_unit_test(test_secret_set_twice_or_unreadable_in_env),
        cmocka_unit_test(test_secret_never_appears_in_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
