/* jsonschema.c — the manifest JSON Schema subset: schema check and value validation (see
 * jsonschema.h). One walk per job over jansson trees; the JSON path of the node being looked at
 * is kept in a stack buffer, extended on the way down and cut back on the way up. */
#include "jsonschema.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct walk {
    jsonschema_report *r;
    pattern_run *pr;
    char path[JSONSCHEMA_PATH_MAX];
    size_t len;
} walk;

static void walk_init(walk *w, jsonschema_report *r, pattern_run *pr, const char *root)
{
    w->r = r;
    w->pr = pr;
    w->len = (size_t)snprintf(w->path, sizeof w->path, "%s", root ? root : "");
    if (w->len >= sizeof w->path)
        w->len = sizeof w->path - 1;
}

/* Appends printf text to the path; returns the length to restore with walk_pop. A path that no
 * longer fits is cut (the message still says what is wrong). */
__attribute__((format(printf, 2, 3))) static size_t walk_push(walk *w, const char *fmt, ...)
{
    size_t old = w->len;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(w->path + w->len, sizeof w->path - w->len, fmt, ap);
    va_end(ap);
    w->len += n < 0 ? 0 : (size_t)n;
    if (w->len >= sizeof w->path)
        w->len = sizeof w->path - 1;
    return old;
}

static void walk_pop(walk *w, size_t old)
{
    w->len = old;
    w->path[old] = '\0';
}

static bool is_identifier(const char *k)
{
    if (!((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') || *k == '_' || *k == '$'))
        return false;
    for (k++; *k; k++)
        if (!((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') || (*k >= '0' && *k <= '9') ||
              *k == '_' || *k == '$'))
            return false;
    return true;
}

/* .key for identifiers (no dot at the root), ["key"] with " and \ escaped otherwise. */
static size_t walk_push_key(walk *w, const char *key)
{
    if (is_identifier(key))
        return walk_push(w, "%s%s", w->len ? "." : "", key);
    size_t old = walk_push(w, "[\"");
    for (const char *k = key; *k; k++)
        walk_push(w, (*k == '"' || *k == '\\') ? "\\%c" : "%c", *k);
    walk_push(w, "\"]");
    return old;
}

__attribute__((format(printf, 2, 3))) static void problem(walk *w, const char *fmt, ...)
{
    if (++w->r->count > JSONSCHEMA_MAX_ERRORS)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    w->r->emit(w->r->ud, w->path, msg);
}

/* --- JSON values --- */

static const char *const type_names[] = {"object",  "array",   "string", "number",
                                         "integer", "boolean", "null"};

static bool known_type(const char *t)
{
    for (size_t i = 0; i < sizeof type_names / sizeof *type_names; i++)
        if (strcmp(t, type_names[i]) == 0)
            return true;
    return false;
}

static bool is_integral(const json_t *v)
{
    if (json_is_integer(v))
        return true;
    double d = json_real_value(v);
    return json_is_real(v) && isfinite(d) && floor(d) == d;
}

/* The JSON Schema type name of a value ("integer" for integral numbers). */
static const char *type_of(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "integer";
    case JSON_REAL:
        return is_integral(v) ? "integer" : "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    case JSON_NULL:
        break;
    }
    return "null";
}

static bool has_type(const json_t *v, const char *t)
{
    const char *actual = type_of(v);
    return strcmp(actual, t) == 0 || (strcmp(t, "number") == 0 && strcmp(actual, "integer") == 0);
}

/* Equality where numbers compare by value (1 == 1.0), recursively. */
static bool json_eq(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b))
        return json_number_value(a) == json_number_value(b);
    if (json_typeof(a) != json_typeof(b))
        return false;
    if (json_is_array(a)) {
        if (json_array_size(a) != json_array_size(b))
            return false;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!json_eq(json_array_get(a, i), json_array_get(b, i)))
                return false;
        return true;
    }
    if (json_is_object(a)) {
        if (json_object_size(a) != json_object_size(b))
            return false;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)a, k, v)
        {
            const json_t *o = json_object_get(b, k);
            if (!o || !json_eq(v, o))
                return false;
        }
        return true;
    }
    return json_equal((json_t *)a, (json_t *)b);
}

static size_t utf8_length(const json_t *s)
{
    const unsigned char *p = (const unsigned char *)json_string_value(s);
    size_t n = json_string_length(s), count = 0;
    for (size_t i = 0; i < n; i++)
        count += (p[i] & 0xC0) != 0x80;
    return count;
}

/* A short human rendering of a JSON value for messages ("\"red\"", "3", "{…}"). */
static void render(const json_t *v, char *out, size_t cap)
{
    if (json_is_number(v)) {
        snprintf(out, cap, "%.15g", json_number_value(v));
        return;
    }
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!s) {
        snprintf(out, cap, "?");
        return;
    }
    if (strlen(s) >= cap && cap > 4)
        snprintf(out, cap, "%.*s...", (int)(cap - 4), s);
    else
        snprintf(out, cap, "%s", s);
    free(s);
}

static bool is_count(const json_t *v)
{
    return json_is_number(v) && is_integral(v) && json_number_value(v) >= 0;
}

/* --- validation --- */

static void validate(walk *w, const json_t *schema, const json_t *value);

static bool type_ok(walk *w, const json_t *type, const json_t *value)
{
    if (json_is_string(type)) {
        if (has_type(value, json_string_value(type)))
            return true;
        problem(w, "must be %s %s, not %s",
                strchr("aeiou", json_string_value(type)[0]) ? "an" : "a", json_string_value(type),
                type_of(value));
        return false;
    }
    if (!json_is_array(type))
        return true;
    char names[256] = "";
    size_t i;
    json_t *t;
    json_array_foreach(type, i, t)
    {
        if (json_is_string(t) && has_type(value, json_string_value(t)))
            return true;
        size_t used = strlen(names);
        snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "",
                 json_is_string(t) ? json_string_value(t) : "?");
    }
    problem(w, "must be one of the types %s, not %s", names, type_of(value));
    return false;
}

static void validate_enum(walk *w, const json_t *en, const json_t *value)
{
    size_t i;
    json_t *e;
    json_array_foreach(en, i, e) if (json_eq(e, value)) return;
    char list[384] = "";
    json_array_foreach(en, i, e)
    {
        size_t used = strlen(list);
        if (used > sizeof list - 64) {
            snprintf(list + used, sizeof list - used, ", ...");
            break;
        }
        char one[64];
        render(e, one, sizeof one);
        snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", one);
    }
    problem(w, "must be one of: %s", list);
}

static void validate_string(walk *w, const json_t *schema, const json_t *value)
{
    size_t n = utf8_length(value);
    const json_t *min = json_object_get(schema, "minLength");
    const json_t *max = json_object_get(schema, "maxLength");
    if (is_count(min) && (double)n < json_number_value(min))
        problem(w, "must be at least %.0f characters long (it has %zu)", json_number_value(min), n);
    if (is_count(max) && (double)n > json_number_value(max))
        problem(w, "must be at most %.0f characters long (it has %zu)", json_number_value(max), n);
    const json_t *pat = json_object_get(schema, "pattern");
    if (!json_is_string(pat))
        return;
    switch (pattern_search(w->pr, json_string_value(pat), json_string_length(pat),
                           json_string_value(value), json_string_length(value))) {
    case PATTERN_MATCH:
        break;
    case PATTERN_NO_MATCH:
        problem(w, "must match the pattern %s", json_string_value(pat));
        break;
    case PATTERN_BUDGET:
        problem(w, "cannot be checked: matching the pattern on this value needs more work than "
                   "the service allows (simplify the pattern or shorten the value)");
        break;
    case PATTERN_MEMORY:
        problem(w, "cannot be checked: matching the pattern on this value needs more memory "
                   "than the service allows (simplify the pattern or shorten the value)");
        break;
    case PATTERN_INVALID:
        problem(w, "cannot be checked: the schema's pattern is not a valid regular expression");
        break;
    }
}

static void validate_number(walk *w, const json_t *schema, const json_t *value)
{
    double d = json_number_value(value);
    const json_t *min = json_object_get(schema, "minimum");
    const json_t *max = json_object_get(schema, "maximum");
    if (json_is_number(min) && d < json_number_value(min))
        problem(w, "must be at least %.15g", json_number_value(min));
    if (json_is_number(max) && d > json_number_value(max))
        problem(w, "must be at most %.15g", json_number_value(max));
}

static void validate_object(walk *w, const json_t *schema, const json_t *value)
{
    const json_t *props = json_object_get(schema, "properties");
    const json_t *addl = json_object_get(schema, "additionalProperties");
    const json_t *req = json_object_get(schema, "required");
    size_t i;
    json_t *r;
    json_array_foreach(req, i, r)
    {
        if (json_is_string(r) && !json_object_get(value, json_string_value(r))) {
            size_t old = walk_push_key(w, json_string_value(r));
            problem(w, "is required");
            walk_pop(w, old);
        }
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)value, k, v)
    {
        const json_t *sub = json_is_object(props) ? json_object_get(props, k) : NULL;
        size_t old = walk_push_key(w, k);
        if (sub)
            validate(w, sub, v);
        else if (json_is_false(addl))
            problem(w, "is not an allowed property");
        else if (json_is_object(addl))
            validate(w, addl, v);
        walk_pop(w, old);
    }
}

static void validate(walk *w, const json_t *schema, const json_t *value)
{
    if (!json_is_object(schema))
        return;
    const json_t *type = json_object_get(schema, "type");
    if (type && !type_ok(w, type, value))
        return; /* the other keywords would only repeat the type mismatch */
    const json_t *en = json_object_get(schema, "enum");
    if (json_is_array(en))
        validate_enum(w, en, value);
    if (json_is_string(value)) {
        validate_string(w, schema, value);
    } else if (json_is_number(value)) {
        validate_number(w, schema, value);
    } else if (json_is_object(value)) {
        validate_object(w, schema, value);
    } else if (json_is_array(value)) {
        const json_t *items = json_object_get(schema, "items");
        size_t i;
        json_t *v;
        if (json_is_object(items))
            json_array_foreach(value, i, v)
            {
                size_t old = walk_push(w, "[%zu]", i);
                validate(w, items, v);
                walk_pop(w, old);
            }
    }
}

bool jsonschema_validate(const json_t *schema, const json_t *value, const char *root,
                         pattern_run *pr, jsonschema_report *r)
{
    size_t before = r->count;
    walk w;
    walk_init(&w, r, pr, root);
    validate(&w, schema, value);
    return r->count == before;
}

/* --- schema check --- */

static void check(walk *w, const json_t *schema);

static void check_type(walk *w, const json_t *t)
{
    if (json_is_string(t)) {
        if (!known_type(json_string_value(t)))
            problem(w,
                    "\"%s\" is not a type (use object, array, string, number, integer, "
                    "boolean or null)",
                    json_string_value(t));
        return;
    }
    if (!json_is_array(t) || json_array_size(t) == 0) {
        problem(w, "must be a type name or a non-empty list of type names");
        return;
    }
    size_t i;
    json_t *e;
    json_array_foreach(t, i, e)
    {
        size_t old = walk_push(w, "[%zu]", i);
        if (!json_is_string(e) || !known_type(json_string_value(e)))
            problem(w, "must be one of object, array, string, number, integer, boolean, null");
        for (size_t j = 0; j < i; j++)
            if (json_eq(json_array_get(t, j), e))
                problem(w, "repeats an earlier type");
        walk_pop(w, old);
    }
}

static void check_required(walk *w, const json_t *req)
{
    if (!json_is_array(req)) {
        problem(w, "must be a list of property names");
        return;
    }
    size_t i;
    json_t *e;
    json_array_foreach(req, i, e)
    {
        size_t old = walk_push(w, "[%zu]", i);
        if (!json_is_string(e))
            problem(w, "must be a property name (a string)");
        for (size_t j = 0; j < i; j++)
            if (json_eq(json_array_get(req, j), e))
                problem(w, "repeats an earlier name");
        walk_pop(w, old);
    }
}

static void check_pattern(walk *w, const json_t *p)
{
    if (!json_is_string(p)) {
        problem(w, "must be a regular expression (a string)");
        return;
    }
    char why[256];
    if (!pattern_check(pattern_run_cache(w->pr), json_string_value(p), json_string_length(p), why,
                       sizeof why))
        problem(w, "%s", why);
}

static void check_keyword(walk *w, const char *k, const json_t *v)
{
    if (strcmp(k, "type") == 0) {
        check_type(w, v);
    } else if (strcmp(k, "properties") == 0) {
        if (!json_is_object(v)) {
            problem(w, "must be an object mapping property names to schemas");
            return;
        }
        const char *name;
        json_t *sub;
        json_object_foreach((json_t *)v, name, sub)
        {
            size_t old = walk_push_key(w, name);
            check(w, sub);
            walk_pop(w, old);
        }
    } else if (strcmp(k, "required") == 0) {
        check_required(w, v);
    } else if (strcmp(k, "enum") == 0) {
        if (!json_is_array(v) || json_array_size(v) == 0)
            problem(w, "must be a non-empty list of allowed values");
    } else if (strcmp(k, "minimum") == 0 || strcmp(k, "maximum") == 0) {
        if (!json_is_number(v) || !isfinite(json_number_value(v)))
            problem(w, "must be a number");
    } else if (strcmp(k, "minLength") == 0 || strcmp(k, "maxLength") == 0) {
        if (!is_count(v))
            problem(w, "must be a non-negative integer");
    } else if (strcmp(k, "pattern") == 0) {
        check_pattern(w, v);
    } else if (strcmp(k, "items") == 0) {
        check(w, v);
    } else if (strcmp(k, "additionalProperties") == 0) {
        if (!json_is_boolean(v))
            check(w, v);
    } else if (strcmp(k, "default") == 0) {
        /* any value; checked against the schema once the schema itself is sound */
    } else if (strcmp(k, "title") == 0 || strcmp(k, "description") == 0 ||
               strcmp(k, "$schema") == 0 || strcmp(k, "$comment") == 0) {
        if (!json_is_string(v))
            problem(w, "must be a string");
    } else {
        problem(w, "is not a supported keyword (supported: type, properties, required, enum, "
                   "minimum, maximum, minLength, maxLength, pattern, items, default, "
                   "additionalProperties, title, description)");
    }
}

static void check(walk *w, const json_t *schema)
{
    if (!json_is_object(schema)) {
        problem(w, "must be a schema (an object), not %s", type_of(schema));
        return;
    }
    size_t before = w->r->count;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)schema, k, v)
    {
        size_t old = walk_push_key(w, k);
        check_keyword(w, k, v);
        walk_pop(w, old);
    }
    const json_t *min = json_object_get(schema, "minimum"),
                 *max = json_object_get(schema, "maximum");
    if (json_is_number(min) && json_is_number(max) &&
        json_number_value(min) > json_number_value(max)) {
        size_t old = walk_push_key(w, "minimum");
        problem(w, "is greater than maximum");
        walk_pop(w, old);
    }
    min = json_object_get(schema, "minLength");
    max = json_object_get(schema, "maxLength");
    if (is_count(min) && is_count(max) && json_number_value(min) > json_number_value(max)) {
        size_t old = walk_push_key(w, "minLength");
        problem(w, "is greater than maxLength");
        walk_pop(w, old);
    }
    const json_t *def = json_object_get(schema, "default");
    if (def && w->r->count == before) {
        size_t old = walk_push_key(w, "default");
        validate(w, schema, def);
        walk_pop(w, old);
    }
}

bool jsonschema_check(const json_t *schema, const char *root, pattern_run *pr, jsonschema_report *r)
{
    size_t before = r->count;
    walk w;
    walk_init(&w, r, pr, root);
    check(&w, schema);
    return r->count == before;
}
