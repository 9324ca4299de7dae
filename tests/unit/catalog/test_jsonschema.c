/* test_jsonschema.c — the manifest JSON Schema subset: every keyword, alone and nested in
 * objects and arrays, with the exact path and the gist of each message; then the schema check
 * (what a publishable settingsSchema is). Table-driven: each row lists every problem expected,
 * so an extra or a missing report fails. */
#include "th.h"
#include "jsonschema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SEEN 200

/* The service's defaults (deploy/config/catalog.yaml): patterns compile into one cache. */
static const pattern_limits limits = {.steps = 1000000, .cpu_ms = 50, .cache_bytes = 8 << 20};
static pattern_cache *cache;

typedef struct seen {
    char path[MAX_SEEN][JSONSCHEMA_PATH_MAX];
    char msg[MAX_SEEN][512];
    size_t n;
} seen;

static void record(void *ud, const char *path, const char *message)
{
    seen *s = ud;
    assert_true(s->n < MAX_SEEN);
    snprintf(s->path[s->n], sizeof s->path[0], "%s", path);
    snprintf(s->msg[s->n], sizeof s->msg[0], "%s", message);
    s->n++;
}

static json_t *parse(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &e);
    if (!j)
        fail_msg("test bug: %s does not parse: %s", text, e.text);
    return j;
}

/* An expected problem: its path and a piece of its message. */
typedef struct want {
    const char *path, *gist;
} want;

#define MAX_WANT 10

/* Every want must be reported exactly once and nothing else (order does not matter). */
static void expect(const char *what, const seen *s, const want *w)
{
    size_t nw = 0;
    while (nw < MAX_WANT && w[nw].path)
        nw++;
    bool used[MAX_SEEN] = {false};
    for (size_t i = 0; i < nw; i++) {
        size_t j = 0;
        while (j < s->n &&
               (used[j] || strcmp(s->path[j], w[i].path) != 0 || !strstr(s->msg[j], w[i].gist)))
            j++;
        if (j == s->n) {
            char all[4096] = "";
            for (size_t k = 0; k < s->n; k++)
                snprintf(all + strlen(all), sizeof all - strlen(all), "\n  %s: %s", s->path[k],
                         s->msg[k]);
            fail_msg("%s: expected \"%s: …%s…\"; got:%s", what, w[i].path, w[i].gist, all);
        }
        used[j] = true;
    }
    if (s->n != nw)
        fail_msg("%s: %zu problems reported, %zu expected (first: %s: %s)", what, s->n, nw,
                 s->n ? s->path[0] : "", s->n ? s->msg[0] : "");
}

static const char nested_schema[] =
    "{\"type\":\"object\",\"required\":[\"name\",\"tiers\"],"
    "\"additionalProperties\":false,"
    "\"properties\":{"
    " \"name\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":5},"
    " \"limits\":{\"type\":\"object\",\"required\":[\"max\"],\"properties\":{"
    "   \"max\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":100},"
    "   \"inner\":{\"type\":\"object\",\"properties\":{\"deep\":{\"enum\":[\"a\",\"b\"]}}}}},"
    " \"tiers\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"required\":[\"label\"],"
    "   \"properties\":{\"label\":{\"type\":\"string\",\"pattern\":\"^[a-z]+$\"},"
    "                  \"weights\":{\"type\":\"array\",\"items\":{\"type\":\"number\"}}}}},"
    " \"grid\":{\"type\":\"array\",\"items\":{\"type\":\"array\",\"items\":{\"type\":\"boolean\"}}}"
    "}}";

static void test_validate_table(void **state)
{
    (void)state;
    static const struct {
        const char *schema, *value;
        want w[MAX_WANT];
    } table[] = {
        /* type, one name */
        {"{\"type\":\"string\"}", "\"x\"", {{0}}},
        {"{\"type\":\"string\"}", "3", {{"settings", "must be a string, not integer"}}},
        {"{\"type\":\"integer\"}", "3", {{0}}},
        {"{\"type\":\"integer\"}", "3.0", {{0}}}, /* Struct numbers are doubles */
        {"{\"type\":\"integer\"}", "3.5", {{"settings", "must be an integer, not number"}}},
        {"{\"type\":\"number\"}", "3", {{0}}},
        {"{\"type\":\"number\"}", "3.5", {{0}}},
        {"{\"type\":\"number\"}", "\"3\"", {{"settings", "must be a number, not string"}}},
        {"{\"type\":\"boolean\"}", "false", {{0}}},
        {"{\"type\":\"boolean\"}", "0", {{"settings", "must be a boolean, not integer"}}},
        {"{\"type\":\"null\"}", "null", {{0}}},
        {"{\"type\":\"null\"}", "{}", {{"settings", "must be a null, not object"}}},
        {"{\"type\":\"object\"}", "[]", {{"settings", "must be an object, not array"}}},
        {"{\"type\":\"array\"}", "{}", {{"settings", "must be an array, not object"}}},
        /* type, a list of names */
        {"{\"type\":[\"string\",\"null\"]}", "null", {{0}}},
        {"{\"type\":[\"string\",\"null\"]}",
         "1",
         {{"settings", "must be one of the types string, null, not integer"}}},
        /* a type mismatch hides the other keywords' complaints */
        {"{\"type\":\"string\",\"minLength\":3}", "5", {{"settings", "must be a string"}}},
        /* enum: by value, numbers by value, structures deeply */
        {"{\"enum\":[\"red\",\"green\"]}", "\"red\"", {{0}}},
        {"{\"enum\":[\"red\",\"green\"]}",
         "\"blue\"",
         {{"settings", "must be one of: \"red\", \"green\""}}},
        {"{\"enum\":[1,2]}", "2.0", {{0}}},
        {"{\"enum\":[1,2]}", "3", {{"settings", "must be one of: 1, 2"}}},
        {"{\"enum\":[{\"a\":[1]}]}", "{\"a\":[1.0]}", {{0}}},
        {"{\"enum\":[{\"a\":[1]}]}", "{\"a\":[2]}", {{"settings", "must be one of: {\"a\":[1]}"}}},
        {"{\"enum\":[null]}", "null", {{0}}},
        /* minimum and maximum: inclusive; other types untouched */
        {"{\"minimum\":1,\"maximum\":10}", "1", {{0}}},
        {"{\"minimum\":1,\"maximum\":10}", "10", {{0}}},
        {"{\"minimum\":1,\"maximum\":10}", "0.5", {{"settings", "must be at least 1"}}},
        {"{\"minimum\":1,\"maximum\":10}", "10.01", {{"settings", "must be at most 10"}}},
        {"{\"minimum\":-2.5}", "-3", {{"settings", "must be at least -2.5"}}},
        {"{\"minimum\":1}", "\"0\"", {{0}}},
        /* minLength and maxLength: code points, not bytes */
        {"{\"minLength\":3}", "\"ab\"", {{"settings", "at least 3 characters long (it has 2)"}}},
        {"{\"minLength\":3}", "\"abc\"", {{0}}},
        {"{\"maxLength\":5}", "\"h\\u00e9llo\"", {{0}}},
        {"{\"maxLength\":5}",
         "\"h\\u00e9llo!\"",
         {{"settings", "at most 5 characters long (it has 6)"}}},
        {"{\"maxLength\":1}", "\"\\ud83c\\udf89\"", {{0}}}, /* one emoji, 4 bytes */
        {"{\"maxLength\":0}", "\"\"", {{0}}},
        {"{\"minLength\":2}", "12", {{0}}},
        /* pattern: POSIX ERE, searched anywhere */
        {"{\"pattern\":\"^[a-z]+$\"}", "\"abc\"", {{0}}},
        {"{\"pattern\":\"^[a-z]+$\"}",
         "\"aBc\"",
         {{"settings", "must match the pattern ^[a-z]+$"}}},
        {"{\"pattern\":\"b\"}", "\"abc\"", {{0}}},
        {"{\"pattern\":\"(x|y){2}\"}", "\"axyb\"", {{0}}},
        {"{\"pattern\":\"^[0-9]{3}$\"}", "\"12\"", {{"settings", "must match the pattern"}}},
        /* properties, required, additionalProperties */
        {"{\"properties\":{\"a\":{\"type\":\"string\"}}}",
         "{\"a\":1,\"b\":2}",
         {{"settings.a", "must be a string"}}},
        {"{\"required\":[\"a\",\"b\"]}", "{\"a\":1}", {{"settings.b", "is required"}}},
        {"{\"required\":[\"a\"]}", "[]", {{0}}}, /* only objects have required properties */
        {"{\"additionalProperties\":false,\"properties\":{\"a\":{}}}",
         "{\"a\":1,\"b\":2}",
         {{"settings.b", "is not an allowed property"}}},
        {"{\"additionalProperties\":{\"type\":\"string\"}}",
         "{\"x\":\"ok\",\"y\":2}",
         {{"settings.y", "must be a string"}}},
        {"{\"additionalProperties\":true}", "{\"y\":2}", {{0}}},
        {"{\"additionalProperties\":false}",
         "{\"a b\":1,\"q\\\"\":2,\"1x\":3}",
         {{"settings[\"a b\"]", "not an allowed"},
          {"settings[\"q\\\"\"]", "not an allowed"},
          {"settings[\"1x\"]", "not an allowed"}}},
        /* items, arrays in arrays */
        {"{\"items\":{\"type\":\"integer\"}}",
         "[1,2,\"x\",4.5]",
         {{"settings[2]", "must be an integer, not string"},
          {"settings[3]", "must be an integer, not number"}}},
        {"{\"items\":{\"items\":{\"minimum\":0}}}",
         "[[0,1],[2,-1]]",
         {{"settings[1][1]", "must be at least 0"}}},
        /* default is an annotation: not applied, not checked against the value */
        {"{\"type\":\"integer\",\"default\":3}", "4", {{0}}},
        /* the empty schema accepts anything */
        {"{}", "{\"anything\":[1,\"two\",null]}", {{0}}},
        /* nested objects and arrays together: every problem, each at its own path */
        {nested_schema,
         "{\"name\":\"toolong\",\"limits\":{\"inner\":{\"deep\":\"c\"}},"
         "\"tiers\":[{\"label\":\"ok\"},{\"label\":\"NO\",\"weights\":[1,\"x\"]},{}],"
         "\"grid\":[[true],[false,1]],\"extra\":1}",
         {{"settings.name", "at most 5 characters"},
          {"settings.limits.max", "is required"},
          {"settings.limits.inner.deep", "must be one of: \"a\", \"b\""},
          {"settings.tiers[1].label", "must match the pattern"},
          {"settings.tiers[1].weights[1]", "must be a number"},
          {"settings.tiers[2].label", "is required"},
          {"settings.grid[1][1]", "must be a boolean, not integer"},
          {"settings.extra", "is not an allowed property"}}},
        {nested_schema,
         "{\"name\":\"abc\",\"tiers\":[],\"grid\":[[false,1]],\"zzz\":0}",
         {{"settings.grid[0][1]", "must be a boolean, not integer"},
          {"settings.zzz", "is not an allowed property"}}},
        {nested_schema,
         "{\"name\":\"abc\",\"tiers\":[{\"label\":\"x\"}],\"limits\":{\"max\":7}}",
         {{0}}},
        {nested_schema,
         "{}",
         {{"settings.name", "is required"}, {"settings.tiers", "is required"}}},
    };
    for (size_t i = 0; i < sizeof table / sizeof *table; i++) {
        json_t *schema = parse(table[i].schema), *value = parse(table[i].value);
        seen s = {.n = 0};
        jsonschema_report r = {record, &s, 0};
        pattern_run *pr = pattern_run_new(cache);
        bool ok = jsonschema_validate(schema, value, "settings", pr, &r);
        pattern_run_free(pr);
        char what[64];
        snprintf(what, sizeof what, "validate row %zu", i);
        expect(what, &s, table[i].w);
        assert_int_equal(ok, s.n == 0);
        assert_int_equal(r.count, s.n);
        json_decref(schema);
        json_decref(value);
    }
}

static void test_validate_caps_reports(void **state)
{
    (void)state;
    json_t *schema = parse("{\"items\":{\"type\":\"string\"}}");
    json_t *value = json_array();
    for (int i = 0; i < 150; i++)
        json_array_append_new(value, json_integer(i));
    seen s = {.n = 0};
    jsonschema_report r = {record, &s, 0};
    pattern_run *pr = pattern_run_new(cache);
    assert_false(jsonschema_validate(schema, value, "settings", pr, &r));
    pattern_run_free(pr);
    assert_int_equal(s.n, JSONSCHEMA_MAX_ERRORS); /* emitted */
    assert_int_equal(r.count, 150);               /* counted */
    assert_string_equal(s.path[99], "settings[99]");
    json_decref(schema);
    json_decref(value);
}

static void test_validate_deep_path_is_cut_not_overflowed(void **state)
{
    (void)state;
    /* a path longer than JSONSCHEMA_PATH_MAX: 60 levels of a 20-character key */
    json_t *schema = parse("{\"type\":\"integer\"}"), *value = json_integer(1);
    for (int i = 0; i < 60; i++) {
        json_t *s = json_object(), *p = json_object(), *v = json_object();
        json_object_set_new(p, "aaaaaaaaaaaaaaaaaaaa", schema);
        json_object_set_new(s, "properties", p);
        json_object_set_new(v, "aaaaaaaaaaaaaaaaaaaa", value);
        schema = s;
        value = v;
    }
    /* the innermost value 1 is fine; make it wrong */
    json_t *inner = value;
    for (int i = 0; i < 59; i++)
        inner = json_object_get(inner, "aaaaaaaaaaaaaaaaaaaa");
    json_object_set_new(inner, "aaaaaaaaaaaaaaaaaaaa", json_string("x"));
    seen s = {.n = 0};
    jsonschema_report r = {record, &s, 0};
    pattern_run *pr = pattern_run_new(cache);
    assert_false(jsonschema_validate(schema, value, "settings", pr, &r));
    pattern_run_free(pr);
    assert_int_equal(s.n, 1);
    assert_true(strlen(s.path[0]) < JSONSCHEMA_PATH_MAX);
    assert_true(strncmp(s.path[0], "settings.aaaa", 13) == 0);
    json_decref(schema);
    json_decref(value);
}

static void test_check_table(void **state)
{
    (void)state;
    static const struct {
        const char *schema;
        want w[MAX_WANT];
    } table[] = {
        {"{}", {{0}}},
        {nested_schema, {{0}}},
        {"{\"title\":\"T\",\"description\":\"D\",\"$schema\":\"x\",\"$comment\":\"c\"}", {{0}}},
        {"\"string\"", {{"settingsSchema", "must be a schema (an object), not string"}}},
        {"[]", {{"settingsSchema", "must be a schema"}}},
        {"{\"minLenght\":3}", {{"settingsSchema.minLenght", "is not a supported keyword"}}},
        {"{\"$ref\":\"#/x\"}", {{"settingsSchema.$ref", "is not a supported keyword"}}},
        {"{\"type\":\"text\"}", {{"settingsSchema.type", "\"text\" is not a type"}}},
        {"{\"type\":3}", {{"settingsSchema.type", "must be a type name or a non-empty list"}}},
        {"{\"type\":[]}", {{"settingsSchema.type", "non-empty list"}}},
        {"{\"type\":[\"string\",\"string\"]}", {{"settingsSchema.type[1]", "repeats"}}},
        {"{\"type\":[\"string\",\"txt\"]}", {{"settingsSchema.type[1]", "must be one of object"}}},
        {"{\"properties\":[]}", {{"settingsSchema.properties", "must be an object mapping"}}},
        {"{\"properties\":{\"a\":{\"type\":\"str\"}}}",
         {{"settingsSchema.properties.a.type", "is not a type"}}},
        {"{\"properties\":{\"a\":5}}", {{"settingsSchema.properties.a", "must be a schema"}}},
        {"{\"properties\":{\"a\":{\"properties\":{\"b c\":{\"items\":{\"maximum\":\"9\"}}}}}}",
         {{"settingsSchema.properties.a.properties[\"b c\"].items.maximum", "must be a number"}}},
        {"{\"required\":\"a\"}", {{"settingsSchema.required", "must be a list"}}},
        {"{\"required\":[\"a\",1,\"a\"]}",
         {{"settingsSchema.required[1]", "must be a property name"},
          {"settingsSchema.required[2]", "repeats"}}},
        {"{\"enum\":[]}", {{"settingsSchema.enum", "non-empty list"}}},
        {"{\"enum\":\"a\"}", {{"settingsSchema.enum", "non-empty list"}}},
        {"{\"minimum\":\"1\"}", {{"settingsSchema.minimum", "must be a number"}}},
        {"{\"maximum\":null}", {{"settingsSchema.maximum", "must be a number"}}},
        {"{\"minimum\":5,\"maximum\":4}", {{"settingsSchema.minimum", "greater than maximum"}}},
        {"{\"minLength\":-1}", {{"settingsSchema.minLength", "non-negative integer"}}},
        {"{\"maxLength\":1.5}", {{"settingsSchema.maxLength", "non-negative integer"}}},
        {"{\"maxLength\":2.0}", {{0}}},
        {"{\"minLength\":3,\"maxLength\":2}",
         {{"settingsSchema.minLength", "greater than maxLength"}}},
        {"{\"pattern\":\"([a-z\"}",
         {{"settingsSchema.pattern", "is not a valid regular expression: missing terminating ] "
                                     "for character class at character 5"}}},
        {"{\"pattern\":5}", {{"settingsSchema.pattern", "must be a regular expression"}}},
        {"{\"items\":true}", {{"settingsSchema.items", "must be a schema"}}},
        {"{\"items\":{\"type\":\"nope\"}}", {{"settingsSchema.items.type", "is not a type"}}},
        {"{\"additionalProperties\":\"no\"}",
         {{"settingsSchema.additionalProperties", "must be a schema"}}},
        {"{\"additionalProperties\":{\"minimum\":\"x\"}}",
         {{"settingsSchema.additionalProperties.minimum", "must be a number"}}},
        {"{\"title\":1}", {{"settingsSchema.title", "must be a string"}}},
        /* default: must satisfy its own schema, checked once the schema is sound */
        {"{\"type\":\"integer\",\"minimum\":1,\"default\":1}", {{0}}},
        {"{\"type\":\"integer\",\"default\":\"x\"}",
         {{"settingsSchema.default", "must be an integer, not string"}}},
        {"{\"properties\":{\"n\":{\"maximum\":3,\"default\":4}}}",
         {{"settingsSchema.properties.n.default", "must be at most 3"}}},
        {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}},\"default\":{\"a\":1}}",
         {{"settingsSchema.default.a", "must be a string"}}},
        /* several problems at once, all reported */
        {"{\"type\":\"objekt\",\"minimum\":\"0\",\"properties\":{\"x\":{\"enum\":[]}},\"foo\":1}",
         {{"settingsSchema.type", "is not a type"},
          {"settingsSchema.minimum", "must be a number"},
          {"settingsSchema.properties.x.enum", "non-empty"},
          {"settingsSchema.foo", "not a supported keyword"}}},
    };
    for (size_t i = 0; i < sizeof table / sizeof *table; i++) {
        json_t *schema = parse(table[i].schema);
        seen s = {.n = 0};
        jsonschema_report r = {record, &s, 0};
        pattern_run *pr = pattern_run_new(cache);
        bool ok = jsonschema_check(schema, "settingsSchema", pr, &r);
        pattern_run_free(pr);
        char what[64];
        snprintf(what, sizeof what, "check row %zu", i);
        expect(what, &s, table[i].w);
        assert_int_equal(ok, s.n == 0);
        json_decref(schema);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validate_table),
        cmocka_unit_test(test_validate_caps_reports),
        cmocka_unit_test(test_validate_deep_path_is_cut_not_overflowed),
        cmocka_unit_test(test_check_table),
    };
    cache = pattern_cache_new(&limits);
    int failed = cmocka_run_group_tests_name("catalog_jsonschema", tests, NULL, NULL);
    pattern_cache_free(cache);
    return failed;
}
