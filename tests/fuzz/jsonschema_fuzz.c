/* jsonschema_fuzz.c — libFuzzer target for the JSON Schema subset of app manifests
 * (services/catalog/jsonschema.c): a schema is checked as a publish does, then a value is
 * validated against it as :validateSettings does — also when the check failed, since the
 * validator promises a best-effort walk of any schema that never crashes.
 *
 * Input: one JSON document, [schema, value] (anything else is taken as a schema to validate
 * null against). The catalog receives both as google.protobuf.Struct, whose JSON nesting is bound
 * at PBJSON_MAX_DEPTH; jansson's own bound (2048) is looser, so this is stricter than the service.
 * Checked: no crash, leak or UB; every reported problem has a path and a message within their
 * documented bounds; a report is emitted for no more than JSONSCHEMA_MAX_ERRORS problems; a
 * schema that passes the check reports "valid" or problems consistently with its return value. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jsonschema.h"
#include "pattern.h"

/* The patterns of every input share one cache, as a catalog process's workers do; each input is
 * one validation with its own budget (the service's defaults: catalog.yaml). */
static pattern_cache *patterns;

typedef struct seen {
    size_t emitted;
} seen;

static void emit(void *ud, const char *path, const char *message)
{
    seen *s = ud;
    if (!path || !message || strlen(path) >= JSONSCHEMA_PATH_MAX || !*message)
        abort();
    s->emitted++;
}

static void run(bool (*fn)(jsonschema_report *, pattern_run *, const json_t *, const json_t *),
                const json_t *schema, const json_t *value)
{
    seen s = {0};
    jsonschema_report r = {emit, &s, 0};
    pattern_run *pr = pattern_run_new(patterns);
    bool ok = fn(&r, pr, schema, value);
    pattern_run_free(pr);
    if (ok != (r.count == 0) || s.emitted > JSONSCHEMA_MAX_ERRORS ||
        s.emitted != (r.count < JSONSCHEMA_MAX_ERRORS ? r.count : JSONSCHEMA_MAX_ERRORS))
        abort();
}

static bool check(jsonschema_report *r, pattern_run *pr, const json_t *schema, const json_t *value)
{
    (void)value;
    return jsonschema_check(schema, "settingsSchema", pr, r);
}

static bool validate(jsonschema_report *r, pattern_run *pr, const json_t *schema,
                     const json_t *value)
{
    return jsonschema_validate(schema, value, "settings", pr, r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!patterns)
        patterns = pattern_cache_new(
            &(pattern_limits){.steps = 1000000, .cpu_ms = 50, .cache_bytes = 4 << 20});
    json_t *doc = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (!doc)
        return 0;
    json_t *schema = doc, *value = json_null();
    if (json_is_array(doc) && json_array_size(doc) == 2) {
        schema = json_array_get(doc, 0);
        value = json_array_get(doc, 1);
    }
    run(check, schema, value);
    run(validate, schema, value);
    json_decref(doc);
    return 0;
}
