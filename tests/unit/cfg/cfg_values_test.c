/* cfg_values_test.c — every option type's accepted and refused values, through both the YAML
 * file and the environment, with the exact error text users see. */
#include "cfg_fixture.h"

/* section, key, text as written, and the value it must load as (numbers/bools, or a string). */
typedef struct good {
    const char *section, *key, *text;
    int64_t want;
    const char *want_str;
} good;

static const good goods[] = {
    {"rpc", "workers", "1", 1, NULL},
    {"rpc", "workers", "64", 64, NULL},
    {"rpc", "workers", "+7", 7, NULL},
    {"app", "offset", "-5", -5, NULL},
    {"app", "offset", "9223372036854775807", INT64_MAX, NULL},
    {"rpc", "deadline", "250ms", 250, NULL},
    {"rpc", "deadline", "30s", 30000, NULL},
    {"rpc", "deadline", "5m", 300000, NULL},
    {"rpc", "deadline", "2h", 7200000, NULL},
    {"rpc", "deadline", "1d", 86400000, NULL},
    {"rpc", "deadline", "1500", 1500, NULL},
    {"rpc", "max_message", "4MiB", 4194304, NULL},
    {"rpc", "max_message", "512KiB", 524288, NULL},
    {"rpc", "max_message", "1GiB", 1073741824, NULL},
    {"rpc", "max_message", "100", 100, NULL},
    {"rpc", "max_message", "100B", 100, NULL},
    {"rpc", "max_message", "4MB", 4000000, NULL},
    {"rpc", "max_message", "2KB", 2000, NULL},
    {"rpc", "tls", "true", 1, NULL},
    {"rpc", "tls", "yes", 1, NULL},
    {"rpc", "tls", "on", 1, NULL},
    {"rpc", "tls", "1", 1, NULL},
    {"rpc", "tls", "TRUE", 1, NULL},
    {"app", "debug", "false", 0, NULL},
    {"app", "debug", "no", 0, NULL},
    {"app", "debug", "Off", 0, NULL},
    {"app", "debug", "0", 0, NULL},
    {"app", "mode", "dev", 0, "dev"},
    {"app", "name", "confetti rooms", 0, "confetti rooms"},
};

/* section, key, text, and the message after "section.key: ". */
typedef struct bad {
    const char *section, *key, *text, *msg;
} bad;

static const bad bads[] = {
    {"rpc", "workers", "abc", "not an integer: \"abc\""},
    {"rpc", "workers", "4.5", "not an integer: \"4.5\""},
    {"rpc", "workers", "0x10", "not an integer: \"0x10\""},
    {"rpc", "workers", "99999999999999999999", "not an integer: \"99999999999999999999\""},
    {"rpc", "workers", "0", "out of range: 0 (allowed 1..64)"},
    {"rpc", "workers", "65", "out of range: 65 (allowed 1..64)"},
    {"rpc", "deadline", "5x", "not a duration: \"5x\" (units ms, s, m, h, d)"},
    {"rpc", "deadline", "-5s", "not a duration: \"-5s\" (units ms, s, m, h, d)"},
    {"rpc", "deadline", "1.5s", "not a duration: \"1.5s\" (units ms, s, m, h, d)"},
    {"rpc", "deadline", "s", "not a duration: \"s\" (units ms, s, m, h, d)"},
    {"rpc", "deadline", "0", "out of range: 0 (allowed 1ms..1d)"},
    {"rpc", "deadline", "25h", "out of range: 25h (allowed 1ms..1d)"},
    {"rpc", "max_message", "4mb",
     "not a size: \"4mb\" (units B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)"},
    {"rpc", "max_message", "99999999999TiB",
     "not a size: \"99999999999TiB\" (units B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)"},
    {"rpc", "max_message", "2GiB", "out of range: 2GiB (allowed 1B..1GiB)"},
    {"rpc", "tls", "maybe", "not a boolean: \"maybe\" (true/false, yes/no, on/off, 1/0)"},
    {"rpc", "tls", "2", "not a boolean: \"2\" (true/false, yes/no, on/off, 1/0)"},
    {"app", "mode", "staging", "not one of dev, prod: \"staging\""},
};

static const cfg_field *find(fx *f, const char *section, const char *key, void **target)
{
    for (size_t s = 0; s < 2; s++) {
        for (size_t i = 0; i < f->schemas[s].nfields; i++) {
            const cfg_field *fl = &f->schemas[s].fields[i];
            if (!strcmp(fl->section, section) && !strcmp(fl->key, key)) {
                *target = f->schemas[s].target;
                return fl;
            }
        }
    }
    fail_msg("no field %s.%s", section, key);
    return NULL;
}

static void check_good(fx *f, const good *g, const char *via)
{
    void *t;
    const cfg_field *fl = find(f, g->section, g->key, &t);
    const char *p = (const char *)t + fl->offset;
    if (g->want_str) {
        if (strcmp(*(char *const *)p, g->want_str) != 0)
            fail_msg("%s %s.%s=%s: got \"%s\"", via, g->section, g->key, g->text,
                     *(char *const *)p);
        return;
    }
    int64_t got = fl->type == CFG_BOOL ? *(const bool *)p : *(const int64_t *)p;
    if (got != g->want)
        fail_msg("%s %s.%s=%s: want %lld got %lld", via, g->section, g->key, g->text,
                 (long long)g->want, (long long)got);
}

static void env_var(char *buf, size_t len, const char *section, const char *key, const char *v)
{
    snprintf(buf, len, "CONFETTI_%s_%s=%s", section, key, v);
    for (char *c = buf + 9; *c != '='; c++)
        *c = (char)(*c >= 'a' && *c <= 'z' ? *c - 32 : *c);
}

static void test_good_values_load_from_yaml_and_env(void **state)
{
    (void)state;
    char yaml[256], var[256], err[512], *env[] = {var, "CONFETTI_DB_DSN=x", NULL};
    for (size_t i = 0; i < sizeof goods / sizeof *goods; i++) {
        const good *g = &goods[i];
        fx f;
        snprintf(yaml, sizeof yaml, "db:\n  dsn: x\n%s:\n  %s: %s\n", g->section, g->key, g->text);
        if (fx_load(&f, yaml, NULL, err, sizeof err, NULL, 0) != CF_OK)
            fail_msg("yaml %s.%s=%s: %s", g->section, g->key, g->text, err);
        check_good(&f, g, "yaml");
        cfg_free(f.schemas, 2);

        env_var(var, sizeof var, g->section, g->key, g->text);
        if (fx_load(&f, NULL, env, err, sizeof err, NULL, 0) != CF_OK)
            fail_msg("env %s: %s", var, err);
        check_good(&f, g, "env");
        cfg_free(f.schemas, 2);
    }
}

static void test_bad_values_name_file_line_col_and_key(void **state)
{
    (void)state;
    char yaml[256], path[64], want[512], err[512];
    for (size_t i = 0; i < sizeof bads / sizeof *bads; i++) {
        const bad *b = &bads[i];
        fx f;
        snprintf(yaml, sizeof yaml, "db:\n  dsn: x\n%s:\n  %s: %s\n", b->section, b->key, b->text);
        assert_code(CF_INVALID_ARGUMENT,
                    fx_load(&f, yaml, NULL, err, sizeof err, path, sizeof path));
        /* the value starts after "  key: " on line 4 */
        snprintf(want, sizeof want, "%s:4:%zu: %s.%s: %s", path, strlen(b->key) + 5, b->section,
                 b->key, b->msg);
        assert_string_equal(err, want);
    }
}

static void test_bad_values_from_env_name_the_variable(void **state)
{
    (void)state;
    char var[256], want[512], err[512], *env[] = {"CONFETTI_DB_DSN=x", var, NULL};
    for (size_t i = 0; i < sizeof bads / sizeof *bads; i++) {
        const bad *b = &bads[i];
        fx f;
        env_var(var, sizeof var, b->section, b->key, b->text);
        assert_code(CF_INVALID_ARGUMENT, fx_load(&f, NULL, env, err, sizeof err, NULL, 0));
        snprintf(want, sizeof want, "env %.*s: %s.%s: %s", (int)(strchr(var, '=') - var), var,
                 b->section, b->key, b->msg);
        assert_string_equal(err, want);
    }
}

static void test_bad_default_is_reported_as_default(void **state)
{
    (void)state;
    static const cfg_field fields[] = {
        {.section = "x", .key = "n", .type = CFG_INT, .def = "lots"}};
    int64_t n;
    cfg_schema s = {fields, 1, &n};
    char err[256];
    assert_code(CF_INVALID_ARGUMENT, cfg_load(&s, 1, NULL, NULL, err, sizeof err));
    assert_string_equal(err, "default: x.n: not an integer: \"lots\"");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_values_load_from_yaml_and_env),
        cmocka_unit_test(test_bad_values_name_file_line_col_and_key),
        cmocka_unit_test(test_bad_values_from_env_name_the_variable),
        cmocka_unit_test(test_bad_default_is_reported_as_default),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
