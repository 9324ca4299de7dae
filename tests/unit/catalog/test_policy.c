/* test_policy.c — the catalog's rules: who may do what (a table of callers × actions), what a
 * sound manifest is (every problem with its path), names, scopes and idempotency keys. */
#include "th.h"
#include "policy.h"

#include <stdio.h>
#include <string.h>

static authn_identity who(const char *sub, bool admin)
{
    authn_identity id = {0};
    snprintf(id.sub, sizeof id.sub, "%s", sub);
    id.is_admin = admin;
    id.is_app = strncmp(sub, "app:", 4) == 0;
    return id;
}

static void test_rights_table(void **state)
{
    (void)state;
    authn_identity owner = who("u-owner", false), other = who("u-other", false),
                   admin = who("u-admin", true), app = who("app:c123", false),
                   app_admin = who("app:c999", true);
    static const char *const owner_id = "u-owner";
    static const struct {
        int caller; /* 0 none, 1 owner, 2 other, 3 admin, 4 app, 5 app token claiming admin */
        bool reg, change, see_active, see_inactive;
    } table[] = {
        {0, false, false, false, false}, {1, true, true, true, true},
        {2, true, false, true, false},   {3, true, true, true, true},
        {4, false, false, true, false},  {5, false, false, true, false},
    };
    const authn_identity *ids[] = {NULL, &owner, &other, &admin, &app, &app_admin};
    for (size_t i = 0; i < sizeof table / sizeof *table; i++) {
        const authn_identity *c = ids[table[i].caller];
        if (catalog_can_register(c) != table[i].reg ||
            catalog_can_change(c, owner_id) != table[i].change ||
            catalog_can_see(c, owner_id, true) != table[i].see_active ||
            catalog_can_see(c, owner_id, false) != table[i].see_inactive)
            fail_msg("row %zu (caller %d): rights differ from the table", i, table[i].caller);
    }
}

static void test_names_scopes_keys(void **state)
{
    (void)state;
    char long_name[CATALOG_NAME_MAX * 2 + 3];
    memset(long_name, 0, sizeof long_name);
    for (int i = 0; i < CATALOG_NAME_MAX; i++)
        strcat(long_name, "\xc3\xa9"); /* 100 characters, 200 bytes: fine */
    static const struct {
        const char *name;
        bool ok;
    } names[] = {
        {"Wheel of Fortune", true}, {"x", true},         {"", false},
        {"tab\there", false},       {"bell\x07", false}, {"c1\xc2\x85", false},
        {"bad\xff utf8", false},    {"\xc3", false},     {"\xc0\xaf", false},
        {"Конфетти 🎉", true},
    };
    const char *why;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (catalog_name_ok(names[i].name, &why) != names[i].ok)
            fail_msg("name row %zu: expected %s", i, names[i].ok ? "ok" : "refused");
    assert_true(catalog_name_ok(long_name, &why));
    strcat(long_name, "e");
    assert_false(catalog_name_ok(long_name, &why));
    assert_string_equal(why, "must be at most 100 characters long");

    static const struct {
        const char *scope;
        bool ok;
    } scopes[] = {
        {"rooms:read", true}, {"winners.draw", true}, {"a", true},   {"a-b_c.d:e9", true},
        {"", false},          {"Rooms", false},       {"9a", false}, {"rooms read", false},
        {":x", false},        {"rooms/read", false},
    };
    for (size_t i = 0; i < sizeof scopes / sizeof *scopes; i++)
        if (catalog_scope_ok(scopes[i].scope) != scopes[i].ok)
            fail_msg("scope \"%s\": expected %s", scopes[i].scope, scopes[i].ok ? "ok" : "refused");
    char scope[CATALOG_SCOPE_MAX + 2];
    memset(scope, 'a', sizeof scope);
    scope[CATALOG_SCOPE_MAX] = '\0';
    assert_true(catalog_scope_ok(scope));
    scope[CATALOG_SCOPE_MAX] = 'a';
    scope[CATALOG_SCOPE_MAX + 1] = '\0';
    assert_false(catalog_scope_ok(scope));

    assert_true(catalog_idempotency_key_ok("a"));
    assert_true(catalog_idempotency_key_ok("3f2a-9c~!"));
    assert_false(catalog_idempotency_key_ok(""));
    assert_false(catalog_idempotency_key_ok("has space"));
    assert_false(catalog_idempotency_key_ok("caf\xc3\xa9"));
    char key[CATALOG_IDEMPOTENCY_MAX + 2];
    memset(key, 'k', sizeof key);
    key[CATALOG_IDEMPOTENCY_MAX] = '\0';
    assert_true(catalog_idempotency_key_ok(key));
    key[CATALOG_IDEMPOTENCY_MAX] = 'k';
    key[CATALOG_IDEMPOTENCY_MAX + 1] = '\0';
    assert_false(catalog_idempotency_key_ok(key));
}

#define MAX_SEEN 16
typedef struct seen {
    char path[MAX_SEEN][256];
    size_t n;
} seen;

static void record(void *ud, const char *path, const char *message)
{
    seen *s = ud;
    assert_non_null(message);
    assert_true(*message);
    if (s->n < MAX_SEEN)
        snprintf(s->path[s->n++], sizeof s->path[0], "%s", path);
}

static void test_manifest_table(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        const char *paths; /* every problem's path, in report order, '|' separated */
    } table[] = {
        {"{\"name\":\"A\",\"version\":\"1.0.0\",\"settingsSchema\":{}}", ""},
        {"{\"name\":\"A\",\"version\":\"1.0.0-rc.1+b\",\"permissions\":[\"rooms:read\"],"
         "\"settingsSchema\":{\"type\":\"object\"},\"description\":\"extra keys are kept\"}",
         ""},
        {"{\"name\":\"A\",\"version\":\"1.0.0\",\"settingsSchema\":{\"type\":[\"object\",\"null\"]}"
         "}",
         ""},
        {"[]", "manifest"},
        {"{}", "manifest.name|manifest.version|manifest.settingsSchema"},
        {"{\"name\":1,\"version\":1.0,\"settingsSchema\":[]}",
         "manifest.name|manifest.version|manifest.settingsSchema"},
        {"{\"name\":\"\",\"version\":\"v1\",\"settingsSchema\":{}}",
         "manifest.name|manifest.version"},
        {"{\"name\":\"A\",\"version\":\"1.0\",\"settingsSchema\":{}}", "manifest.version"},
        {"{\"name\":\"A\",\"version\":\"1.0.0\",\"permissions\":\"all\",\"settingsSchema\":{}}",
         "manifest.permissions"},
        {"{\"name\":\"A\",\"version\":\"1.0.0\",\"permissions\":[\"ok\",\"Bad\",3,\"ok\"],"
         "\"settingsSchema\":{}}",
         "manifest.permissions[1]|manifest.permissions[2]|manifest.permissions[3]"},
        {"{\"name\":\"A\",\"version\":\"1.0.0\",\"settingsSchema\":{\"type\":\"string\"}}",
         "manifest.settingsSchema.type"},
        {"{\"name\":\"A\",\"version\":\"1.0.0\",\"settingsSchema\":"
         "{\"properties\":{\"n\":{\"type\":\"int\"}}}}",
         "manifest.settingsSchema.properties.n.type"},
    };
    for (size_t i = 0; i < sizeof table / sizeof *table; i++) {
        json_error_t e;
        json_t *m = json_loads(table[i].json, JSON_DECODE_ANY, &e);
        assert_non_null(m);
        seen s = {.n = 0};
        jsonschema_report r = {record, &s, 0};
        catalog_manifest cm = {0};
        pattern_cache *cache = pattern_cache_new(
            &(pattern_limits){.steps = 1000000, .cpu_ms = 50, .cache_bytes = 1 << 20});
        pattern_run *pr = pattern_run_new(cache);
        bool ok = catalog_manifest_check(m, "manifest", &cm, pr, &r);
        pattern_run_free(pr);
        pattern_cache_free(cache);
        char got[1024] = "";
        for (size_t k = 0; k < s.n; k++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s", k ? "|" : "", s.path[k]);
        if (strcmp(got, table[i].paths) != 0)
            fail_msg("row %zu: problems at \"%s\", expected \"%s\"", i, got, table[i].paths);
        assert_int_equal(ok, !*table[i].paths);
        if (ok) {
            assert_string_equal(cm.name, "A");
            assert_non_null(cm.settings_schema);
            assert_true(semver_valid(cm.version));
        }
        json_decref(m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rights_table),
        cmocka_unit_test(test_names_scopes_keys),
        cmocka_unit_test(test_manifest_table),
    };
    return cmocka_run_group_tests_name("catalog_policy", tests, NULL, NULL);
}
