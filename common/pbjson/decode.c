/* decode.c — JSON → message: one walk over the descriptor that builds exactly the layout
 * protobuf_c_message_unpack makes, every block from the caller's allocator. The message is
 * consistent after every step (counts follow filled elements, oneof cases follow values), so on
 * any error protobuf_c_message_free_unpacked releases whatever was built. */
#include "internal.h"
#include "pbjson.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xmalloc.h"
#include "google/protobuf/field_mask.pb-c.h"
#include "google/protobuf/timestamp.pb-c.h"

typedef struct dec {
    ProtobufCAllocator a;
    pbjson_error *err;
} dec;

static cf_code dec_message(dec *d, const ProtobufCMessageDescriptor *desc, const json_t *j,
                           int depth, ProtobufCMessage **out);

static cf_code fail(dec *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static cf_code fail(dec *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->err->message, sizeof d->err->message, fmt, ap);
    va_end(ap);
    return CF_INVALID_ARGUMENT;
}

/* Appends a segment (".key" or "[i]") to the error path; returns the length to restore. */
static size_t path_push(dec *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static size_t path_push(dec *d, const char *fmt, ...)
{
    size_t len = strlen(d->err->path);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->err->path + len, sizeof d->err->path - len, fmt, ap);
    va_end(ap);
    return len;
}

static void path_pop(dec *d, size_t len)
{
    d->err->path[len] = '\0';
}

static void *pb_alloc(dec *d, size_t n)
{
    void *p = d->a.alloc(d->a.allocator_data, n ? n : 1);
    if (!p)
        abort(); /* allocators abort on OOM (STYLE §6); a NULL here is the same event */
    return p;
}

static ProtobufCMessage *new_message(dec *d, const ProtobufCMessageDescriptor *desc)
{
    ProtobufCMessage *m = pb_alloc(d, desc->sizeof_message);
    protobuf_c_message_init(desc, m);
    return m;
}

static char *pb_strndup(dec *d, const char *s, size_t n)
{
    char *p = pb_alloc(d, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* Integers: JSON integers, integral reals, or decimal strings (how 64-bit ones are emitted),
 * exact and range-checked. Unsigned kinds go through the same path with min = 0. */
static cf_code dec_int(dec *d, const json_t *j, int64_t min, uint64_t max, const char *kind,
                       uint64_t *out)
{
    bool neg;
    uint64_t mag;
    if (json_is_integer(j)) {
        json_int_t v = json_integer_value(j);
        neg = v < 0;
        mag = neg ? (uint64_t)(-(v + 1)) + 1 : (uint64_t)v;
    } else if (json_is_real(j)) {
        double v = json_real_value(j);
        if (v != trunc(v) || fabs(v) >= 18446744073709551616.0)
            return fail(d, "expected an integer (%s), got %g", kind, v);
        neg = v < 0;
        mag = (uint64_t)fabs(v);
    } else if (json_is_string(j)) {
        const char *s = json_string_value(j), *digits = s + (s[0] == '-');
        char *end;
        if (*digits < '0' || *digits > '9')
            return fail(d, "expected an integer (%s), got \"%.64s\"", kind, s);
        errno = 0;
        mag = strtoull(digits, &end, 10);
        if (*end != '\0')
            return fail(d, "expected an integer (%s), got \"%.64s\"", kind, s);
        if (errno == ERANGE)
            return fail(d, "value out of range for %s", kind);
        neg = s[0] == '-' && mag != 0;
    } else
        return fail(d, "expected an integer (%s)", kind);
    uint64_t min_mag = min < 0 ? (uint64_t)(-(min + 1)) + 1 : 0; /* |INT64_MIN| overflows */
    if (neg ? mag > min_mag : mag > max)
        return fail(d, "value out of range for %s", kind);
    *out = neg ? (uint64_t)0 - mag : mag;
    return CF_OK;
}

static cf_code dec_double(dec *d, const json_t *j, bool is_float, double *out)
{
    const char *kind = is_float ? "float" : "double";
    if (json_is_number(j))
        *out = json_number_value(j);
    else if (json_is_string(j)) {
        const char *s = json_string_value(j);
        char *end;
        if (strcmp(s, "NaN") == 0 || strcmp(s, "Infinity") == 0 || strcmp(s, "-Infinity") == 0)
            *out = s[0] == 'N' ? NAN : s[0] == '-' ? -INFINITY : INFINITY;
        else if (s[0] == '\0' || strspn(s, "0123456789+-.eE") != strlen(s) ||
                 (*out = strtod(s, &end), *end != '\0') || !isfinite(*out))
            return fail(d, "expected a number (%s), got \"%.64s\"", kind, s);
    } else
        return fail(d, "expected a number (%s)", kind);
    if (is_float && isfinite(*out) && fabs(*out) > FLT_MAX)
        return fail(d, "value out of range for float");
    return CF_OK;
}

static cf_code dec_enum(dec *d, const ProtobufCFieldDescriptor *f, const json_t *j, int *out)
{
    const ProtobufCEnumDescriptor *ed = f->descriptor;
    uint64_t v;
    if (json_is_null(j) && pbj_null_is_value(f))
        *out = 0;
    else if (json_is_string(j)) {
        const ProtobufCEnumValue *ev =
            protobuf_c_enum_descriptor_get_value_by_name(ed, json_string_value(j));
        if (!ev)
            return fail(d, "unknown value \"%.64s\" for enum %s", json_string_value(j), ed->name);
        *out = ev->value;
    } else if (json_is_integer(j)) {
        if (dec_int(d, j, INT32_MIN, INT32_MAX, "enum number", &v))
            return CF_INVALID_ARGUMENT;
        *out = (int)(int32_t)v;
    } else
        return fail(d, "expected an enum name or number (%s)", ed->name);
    return CF_OK;
}

/* One value of f's type into slot; slot is written only on success. */
static cf_code dec_single(dec *d, const ProtobufCFieldDescriptor *f, const json_t *j, void *slot,
                          int depth)
{
    static const struct {
        int64_t min;
        uint64_t max;
        const char *name;
    } ints[] = {
        [PROTOBUF_C_TYPE_INT32] = {INT32_MIN, INT32_MAX, "int32"},
        [PROTOBUF_C_TYPE_SINT32] = {INT32_MIN, INT32_MAX, "sint32"},
        [PROTOBUF_C_TYPE_SFIXED32] = {INT32_MIN, INT32_MAX, "sfixed32"},
        [PROTOBUF_C_TYPE_INT64] = {INT64_MIN, INT64_MAX, "int64"},
        [PROTOBUF_C_TYPE_SINT64] = {INT64_MIN, INT64_MAX, "sint64"},
        [PROTOBUF_C_TYPE_SFIXED64] = {INT64_MIN, INT64_MAX, "sfixed64"},
        [PROTOBUF_C_TYPE_UINT32] = {0, UINT32_MAX, "uint32"},
        [PROTOBUF_C_TYPE_FIXED32] = {0, UINT32_MAX, "fixed32"},
        [PROTOBUF_C_TYPE_UINT64] = {0, UINT64_MAX, "uint64"},
        [PROTOBUF_C_TYPE_FIXED64] = {0, UINT64_MAX, "fixed64"},
    };
    uint64_t v;
    double x;
    if (f->type <= PROTOBUF_C_TYPE_FIXED64) { /* the ten integer kinds come first in the enum */
        if (dec_int(d, j, ints[f->type].min, ints[f->type].max, ints[f->type].name, &v))
            return CF_INVALID_ARGUMENT;
        if (pbj_elem_size(f->type) == 8)
            *(uint64_t *)slot = v;
        else
            *(uint32_t *)slot = (uint32_t)v; /* two's complement: the int32 bits too */
        return CF_OK;
    }
    switch (f->type) {
    case PROTOBUF_C_TYPE_FLOAT:
        if (dec_double(d, j, true, &x))
            return CF_INVALID_ARGUMENT;
        *(float *)slot = (float)x;
        return CF_OK;
    case PROTOBUF_C_TYPE_DOUBLE:
        if (dec_double(d, j, false, &x))
            return CF_INVALID_ARGUMENT;
        *(double *)slot = x;
        return CF_OK;
    case PROTOBUF_C_TYPE_BOOL:
        if (!json_is_boolean(j))
            return fail(d, "expected a boolean");
        *(protobuf_c_boolean *)slot = json_is_true(j);
        return CF_OK;
    case PROTOBUF_C_TYPE_ENUM:
        return dec_enum(d, f, j, slot);
    case PROTOBUF_C_TYPE_STRING:
        if (!json_is_string(j))
            return fail(d, "expected a string");
        if (strlen(json_string_value(j)) != json_string_length(j))
            return fail(d, "string contains a NUL character");
        *(char **)slot = pb_strndup(d, json_string_value(j), json_string_length(j));
        return CF_OK;
    case PROTOBUF_C_TYPE_BYTES: {
        ProtobufCBinaryData *bd = slot;
        if (!json_is_string(j))
            return fail(d, "expected a base64 string");
        size_t n = json_string_length(j), len;
        uint8_t *buf = pb_alloc(d, n / 4 * 3 + 3);
        if (!pbj_base64_decode(json_string_value(j), n, buf, &len)) {
            d->a.free(d->a.allocator_data, buf);
            return fail(d, "expected a base64 string");
        }
        if (len == 0) {
            d->a.free(d->a.allocator_data, buf);
            buf = NULL;
        }
        *bd = (ProtobufCBinaryData){len, buf};
        return CF_OK;
    }
    case PROTOBUF_C_TYPE_MESSAGE:
        return dec_message(d, f->descriptor, j, depth, slot);
    default: /* integers, above */
        break;
    }
    return fail(d, "unsupported field type");
}

/* A map<K,V> field from a JSON object: keys are strings whatever K is. */
static cf_code dec_map(dec *d, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
                       const json_t *j, int depth)
{
    if (!json_is_object(j))
        return fail(d, "expected an object");
    const ProtobufCMessageDescriptor *ed = f->descriptor;
    const ProtobufCFieldDescriptor *kf = &ed->fields[0], *vf = &ed->fields[1];
    size_t *n = &PBJ_MEMBER(size_t, m, f->quantifier_offset);
    ProtobufCMessage **arr = NULL;
    if (json_object_size(j))
        arr = pb_alloc(d, json_object_size(j) * sizeof *arr);
    PBJ_MEMBER(ProtobufCMessage **, m, f->offset) = arr;
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)j, key, val)
    {
        size_t mark = path_push(d, "%s%s", d->err->path[0] ? "." : "", key);
        ProtobufCMessage *e = arr[(*n)++] = new_message(d, ed);
        cf_code rc;
        if (kf->type == PROTOBUF_C_TYPE_BOOL) {
            if (strcmp(key, "true") != 0 && strcmp(key, "false") != 0)
                return fail(d, "expected a boolean map key");
            PBJ_MEMBER(protobuf_c_boolean, e, kf->offset) = key[0] == 't';
        } else {
            json_t *k = json_string(key);
            rc = dec_single(d, kf, k, (char *)e + kf->offset, depth);
            json_decref(k);
            if (rc)
                return rc;
        }
        if ((!json_is_null(val) || pbj_null_is_value(vf)) &&
            (rc = dec_single(d, vf, val, (char *)e + vf->offset, depth)))
            return rc;
        path_pop(d, mark);
    }
    return CF_OK;
}

static cf_code dec_field(dec *d, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
                         const json_t *j, int depth)
{
    if (pbj_is_map(m->descriptor, f))
        return dec_map(d, m, f, j, depth);
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        if (!json_is_array(j))
            return fail(d, "expected an array");
        size_t *n = &PBJ_MEMBER(size_t, m, f->quantifier_offset), size = pbj_elem_size(f->type);
        char *arr = NULL;
        if (json_array_size(j)) {
            arr = pb_alloc(d, json_array_size(j) * size);
            memset(arr, 0, json_array_size(j) * size);
        }
        PBJ_MEMBER(char *, m, f->offset) = arr;
        for (size_t i = 0; i < json_array_size(j); i++, (*n)++) {
            size_t mark = path_push(d, "[%zu]", i);
            if (dec_single(d, f, json_array_get(j, i), arr + i * size, depth))
                return CF_INVALID_ARGUMENT;
            path_pop(d, mark);
        }
        return CF_OK;
    }
    if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
        return dec_single(d, f, j, (char *)m + f->offset, depth);
    uint32_t *oneof_case = &PBJ_MEMBER(uint32_t, m, f->quantifier_offset);
    if (*oneof_case != 0)
        return fail(d, "another field of the same oneof is already set");
    if (dec_single(d, f, j, (char *)m + f->offset, depth))
        return CF_INVALID_ARGUMENT;
    *oneof_case = f->id;
    return CF_OK;
}

static cf_code dec_fields(dec *d, ProtobufCMessage *m, const json_t *j, int depth)
{
    const ProtobufCMessageDescriptor *desc = m->descriptor;
    if (!json_is_object(j))
        return fail(d, "expected an object (%s)", desc->name);
    unsigned char *seen = xcalloc(desc->n_fields, 1);
    const char *key;
    const json_t *val;
    cf_code rc = CF_OK;
    json_object_foreach((json_t *)j, key, val)
    {
        size_t mark = path_push(d, "%s%s", d->err->path[0] ? "." : "", key);
        const ProtobufCFieldDescriptor *f = NULL;
        for (unsigned i = 0; i < desc->n_fields && !f; i++)
            if (pbj_field_matches(&desc->fields[i], key))
                f = &desc->fields[i];
        if (!f)
            rc = fail(d, "unknown field \"%.64s\"", key);
        else if (seen[f - desc->fields]++)
            rc = fail(d, "field given twice (by its proto name and its JSON name)");
        else if (!json_is_null(val) ||
                 (pbj_null_is_value(f) && f->label != PROTOBUF_C_LABEL_REPEATED))
            rc = dec_field(d, m, f, val, depth); /* null = unset, except for a Value */
        if (rc)
            break;
        path_pop(d, mark);
    }
    free(seen);
    return rc;
}

static cf_code dec_field_mask(dec *d, ProtobufCMessage *m, const json_t *j)
{
    if (!json_is_string(j))
        return fail(d, "expected a field mask string (\"a,b.c\")");
    Google__Protobuf__FieldMask *fm = (Google__Protobuf__FieldMask *)m;
    const char *s = json_string_value(j);
    if (*s == '\0')
        return CF_OK;
    size_t count = 1;
    for (const char *p = s; *p; p++)
        count += *p == ',';
    fm->paths = pb_alloc(d, count * sizeof *fm->paths);
    for (const char *p = s;; p++) {
        size_t len = strcspn(p, ",");
        if (len == 0)
            return fail(d, "empty path in field mask");
        char *snake = pbj_camel_to_snake(p, len);
        fm->paths[fm->n_paths++] = pb_strndup(d, snake, strlen(snake));
        free(snake);
        p += len;
        if (*p == '\0')
            return CF_OK;
    }
}

/* The member of Value's oneof that holds a JSON value of this type. */
static const char *value_member(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        return "struct_value";
    case JSON_ARRAY:
        return "list_value";
    case JSON_STRING:
        return "string_value";
    case JSON_INTEGER:
    case JSON_REAL:
        return "number_value";
    case JSON_TRUE:
    case JSON_FALSE:
        return "bool_value";
    default:
        return "null_value";
    }
}

/* depth counts JSON containers, as in encode.c. On error *out is untouched. */
static cf_code dec_message(dec *d, const ProtobufCMessageDescriptor *desc, const json_t *j,
                           int depth, ProtobufCMessage **out)
{
    pbj_kind kind = pbj_kind_of(desc);
    if (kind != PBJ_VALUE && (json_is_object(j) || json_is_array(j)) && ++depth > PBJSON_MAX_DEPTH)
        return fail(d, "nested deeper than %d levels", PBJSON_MAX_DEPTH);
    ProtobufCMessage *m = new_message(d, desc);
    cf_code rc = CF_OK;
    switch (kind) {
    case PBJ_STRUCT:
    case PBJ_LIST:
        rc = dec_field(d, m, &desc->fields[0], j, depth);
        break;
    case PBJ_VALUE:
        rc = dec_field(d, m, protobuf_c_message_descriptor_get_field_by_name(desc, value_member(j)),
                       j, depth);
        break;
    case PBJ_TIMESTAMP: {
        Google__Protobuf__Timestamp *ts = (Google__Protobuf__Timestamp *)m;
        if (!json_is_string(j) ||
            !pbjson_timestamp_parse(json_string_value(j), json_string_length(j), &ts->seconds,
                                    &ts->nanos))
            rc = fail(d, "expected an RFC 3339 timestamp (\"2026-11-27T09:31:27Z\")");
        break;
    }
    case PBJ_FIELD_MASK:
        rc = dec_field_mask(d, m, j);
        break;
    case PBJ_PLAIN:
        rc = dec_fields(d, m, j, depth);
        break;
    }
    if (rc) {
        protobuf_c_message_free_unpacked(m, &d->a);
        return rc;
    }
    *out = m;
    return CF_OK;
}

/* protobuf-c's own default allocator is not exported; this one is free()-compatible with it,
 * so protobuf_c_message_free_unpacked(msg, NULL) releases what it made. */
static void *default_alloc(void *data, size_t n)
{
    (void)data;
    return xmalloc(n);
}

static void default_free(void *data, void *p)
{
    (void)data;
    free(p);
}

cf_code pbjson_from_json(const ProtobufCMessageDescriptor *desc, const json_t *json,
                         ProtobufCAllocator *alloc, ProtobufCMessage **out, pbjson_error *err)
{
    pbjson_error scratch;
    dec d = {.a = alloc ? *alloc : (ProtobufCAllocator){default_alloc, default_free, NULL},
             .err = err ? err : &scratch};
    d.err->path[0] = d.err->message[0] = '\0';
    *out = NULL;
    if (!json)
        return fail(&d, "no JSON value");
    return dec_message(&d, desc, json, 0, out);
}

cf_code pbjson_from_string(const ProtobufCMessageDescriptor *desc, const char *text, size_t len,
                           ProtobufCAllocator *alloc, ProtobufCMessage **out, pbjson_error *err)
{
    pbjson_error scratch;
    err = err ? err : &scratch;
    *out = NULL;
    json_error_t jerr;
    json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j) {
        err->path[0] = '\0';
        snprintf(err->message, sizeof err->message, "invalid JSON at line %d, column %d: %s",
                 jerr.line, jerr.column, jerr.text);
        return CF_INVALID_ARGUMENT;
    }
    cf_code rc;
    if (!json_is_object(j)) {
        err->path[0] = '\0';
        snprintf(err->message, sizeof err->message, "the top level must be a JSON object");
        rc = CF_INVALID_ARGUMENT;
    } else
        rc = pbjson_from_json(desc, j, alloc, out, err);
    json_decref(j);
    return rc;
}

cf_code pbjson_struct_from_json(const json_t *object, ProtobufCAllocator *alloc,
                                Google__Protobuf__Struct **out, pbjson_error *err)
{
    return pbjson_from_json(&google__protobuf__struct__descriptor, object, alloc,
                            (ProtobufCMessage **)out, err);
}
