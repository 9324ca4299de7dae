/* encode.c — message → JSON tree: one walk over the descriptor, with the well-known types' own
 * forms. Unpopulated fields are emitted as grpc-gateway v2's default marshaler does. This is the
 * reference; write.c produces the same text without the tree (pbjson_to_string). */
#include "internal.h"
#include "pbjson.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xmalloc.h"
#include "google/protobuf/field_mask.pb-c.h"
#include "google/protobuf/timestamp.pb-c.h"

static json_t *enc_message(const ProtobufCMessage *m, int depth);

/* Integral values print as integers (3, not 3.0), as protojson does; exactly representable only
 * below 2^53. */
static json_t *enc_double(double v)
{
    if (isnan(v))
        return json_string("NaN");
    if (isinf(v))
        return json_string(v > 0 ? "Infinity" : "-Infinity");
    if (v == trunc(v) && fabs(v) < 9007199254740992.0)
        return json_integer((json_int_t)v);
    return json_real(v);
}

static json_t *enc_single(const ProtobufCFieldDescriptor *f, const void *slot, int depth)
{
    char buf[32];
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return json_integer(*(const int32_t *)slot);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return json_integer(*(const uint32_t *)slot);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        snprintf(buf, sizeof buf, "%" PRId64, *(const int64_t *)slot);
        return json_string(buf);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        snprintf(buf, sizeof buf, "%" PRIu64, *(const uint64_t *)slot);
        return json_string(buf);
    case PROTOBUF_C_TYPE_FLOAT:
        return enc_double(*(const float *)slot);
    case PROTOBUF_C_TYPE_DOUBLE:
        return enc_double(*(const double *)slot);
    case PROTOBUF_C_TYPE_BOOL:
        return json_boolean(*(const protobuf_c_boolean *)slot);
    case PROTOBUF_C_TYPE_ENUM: {
        if (pbj_null_is_value(f))
            return json_null();
        const ProtobufCEnumValue *ev =
            protobuf_c_enum_descriptor_get_value(f->descriptor, *(const int *)slot);
        return ev ? json_string(ev->name) : json_integer(*(const int *)slot);
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)slot;
        return pbj_string(s ? s : "", s ? strlen(s) : 0);
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *bd = slot;
        char *b64 = pbj_base64_encode(bd->data, bd->data ? bd->len : 0);
        json_t *j = json_string(b64);
        free(b64);
        return j;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *sm = *(ProtobufCMessage *const *)slot;
        return sm ? enc_message(sm, depth) : json_null();
    }
    }
    return json_null();
}

/* A map key is always a JSON string: integers in decimal, bools as "true"/"false". */
static char *map_key(const ProtobufCFieldDescriptor *kf, const void *slot)
{
    json_t *k = enc_single(kf, slot, 0);
    char *s = json_is_string(k)    ? xstrdup(json_string_value(k))
              : json_is_integer(k) ? xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(k))
                                   : xstrdup(json_is_true(k) ? "true" : "false");
    json_decref(k);
    return s;
}

static json_t *enc_field(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, int depth)
{
    if (f->label != PROTOBUF_C_LABEL_REPEATED)
        return enc_single(f, (const char *)m + f->offset, depth);
    size_t n = PBJ_MEMBER(size_t, m, f->quantifier_offset);
    const char *arr = PBJ_MEMBER(const char *, m, f->offset);
    if (pbj_is_map(m->descriptor, f)) {
        json_t *obj = json_object();
        for (size_t i = 0; i < n; i++) {
            const ProtobufCMessage *e = ((ProtobufCMessage *const *)arr)[i];
            const ProtobufCFieldDescriptor *kf = &e->descriptor->fields[0];
            char *key = map_key(kf, (const char *)e + kf->offset);
            json_object_set_new(obj, key, enc_field(e, &e->descriptor->fields[1], depth));
            free(key);
        }
        return obj;
    }
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, enc_single(f, arr + i * pbj_elem_size(f->type), depth));
    return a;
}

static json_t *enc_timestamp(const Google__Protobuf__Timestamp *ts)
{
    char buf[PBJSON_TIMESTAMP_MAX];
    return pbjson_timestamp_format(ts->seconds, ts->nanos, buf) ? json_string(buf) : json_null();
}

static json_t *enc_field_mask(const Google__Protobuf__FieldMask *fm)
{
    size_t len = 0, o = 0;
    for (size_t i = 0; i < fm->n_paths; i++) {
        if (!pbj_mask_path_ok(fm->paths[i]))
            return json_null(); /* no JSON form reads back as this mask */
        len += strlen(fm->paths[i]) + 1;
    }
    char *buf = xmalloc(len + 1);
    for (size_t i = 0; i < fm->n_paths; i++) {
        char *camel = pbj_snake_to_camel(fm->paths[i], strlen(fm->paths[i]));
        o += (size_t)sprintf(buf + o, "%s%s", i ? "," : "", camel);
        free(camel);
    }
    buf[o] = '\0';
    json_t *j = pbj_string(buf, o);
    free(buf);
    return j;
}

/* depth counts JSON containers: a Value is the JSON of its kind, so it adds no level. */
static json_t *enc_message(const ProtobufCMessage *m, int depth)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    pbj_kind kind = pbj_kind_of(d);
    if ((kind == PBJ_PLAIN || kind == PBJ_STRUCT || kind == PBJ_LIST) && ++depth > PBJSON_MAX_DEPTH)
        return json_null();
    switch (kind) {
    case PBJ_STRUCT:
    case PBJ_LIST:
        return enc_field(m, &d->fields[0], depth);
    case PBJ_VALUE: {
        const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(
            d, PBJ_MEMBER(uint32_t, m, d->fields[0].quantifier_offset));
        json_t *j = f ? enc_single(f, (const char *)m + f->offset, depth) : json_null();
        if (json_is_string(j) && f->type == PROTOBUF_C_TYPE_DOUBLE) {
            json_decref(j); /* NaN and infinities have no JSON number */
            j = json_null();
        }
        return j;
    }
    case PBJ_TIMESTAMP:
        return enc_timestamp((const Google__Protobuf__Timestamp *)m);
    case PBJ_FIELD_MASK:
        return enc_field_mask((const Google__Protobuf__FieldMask *)m);
    case PBJ_PLAIN:
        break;
    }
    json_t *obj = json_object();
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            PBJ_MEMBER(uint32_t, m, f->quantifier_offset) != f->id)
            continue;
        char name[256];
        pbj_json_name(f->name, name, sizeof name);
        json_object_set_new(obj, name, enc_field(m, f, depth));
    }
    return obj;
}

json_t *pbjson_to_json(const ProtobufCMessage *msg)
{
    return msg ? enc_message(msg, 0) : json_null();
}

json_t *pbj_encode_field(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, int depth)
{
    return enc_field(m, f, depth);
}

json_t *pbjson_struct_to_json(const Google__Protobuf__Struct *s)
{
    return s ? pbjson_to_json(&s->base) : json_object();
}
