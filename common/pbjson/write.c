/* write.c — message → compact JSON text directly, without building a jansson tree.
 *
 * The gateway answers every request with pbjson_to_string; building a json_t per field (an
 * allocation each, a hash insert per key) and then dumping it cost more CPU than the rest of the
 * request (profiled: a 20-room listing spent ~40 % of the machine in jansson and malloc). This
 * writer walks the descriptor as encode.c does and appends to one growing buffer. Its output is
 * byte for byte what json_dumps(pbjson_to_json(m), JSON_COMPACT | JSON_ENCODE_ANY) gives — the
 * unit tests compare the two on every message they have — so encode.c stays the specification:
 * the rare cases that are not worth a second implementation (floating-point numbers, maps with a
 * repeated key) are handed to it. */
#include "internal.h"
#include "pbjson.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/strbuf.h"
#include "base/xmalloc.h"
#include "google/protobuf/field_mask.pb-c.h"
#include "google/protobuf/timestamp.pb-c.h"

/* A jansson value, dumped as jansson would inside the tree (the reference path). */
static void w_json(strbuf *b, json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(j);
    if (!s)
        abort(); /* out of memory: every string pbjson builds is valid UTF-8 */
    strbuf_puts(b, s);
    free(s);
}

/* A JSON string literal of s[0..n): invalid UTF-8 bytes become U+FFFD (as pbj_string), escapes
 * as jansson's dump writes them ("\uXXXX" in upper-case hex for other control characters). */
static void w_quoted(strbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    strbuf_reserve(b, n + 2);
    strbuf_putc(b, '"');
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            size_t run = i + 1;
            while (run < n) {
                unsigned char d = (unsigned char)s[run];
                if (d < 0x20 || d >= 0x80 || d == '"' || d == '\\')
                    break;
                run++;
            }
            strbuf_putn(b, s + i, run - i);
            i = run;
            continue;
        }
        if (c >= 0x80) {
            size_t len = pbj_utf8_seq((const unsigned char *)s + i, n - i);
            if (len == 0) {
                strbuf_putn(b, "\xEF\xBF\xBD", 3);
                i++;
            } else {
                strbuf_putn(b, s + i, len);
                i += len;
            }
            continue;
        }
        switch (c) {
        case '"':
            strbuf_putn(b, "\\\"", 2);
            break;
        case '\\':
            strbuf_putn(b, "\\\\", 2);
            break;
        case '\b':
            strbuf_putn(b, "\\b", 2);
            break;
        case '\f':
            strbuf_putn(b, "\\f", 2);
            break;
        case '\n':
            strbuf_putn(b, "\\n", 2);
            break;
        case '\r':
            strbuf_putn(b, "\\r", 2);
            break;
        case '\t':
            strbuf_putn(b, "\\t", 2);
            break;
        default: {
            char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            strbuf_putn(b, u, 6);
        }
        }
        i++;
    }
    strbuf_putc(b, '"');
}

static void w_int(strbuf *b, long long v)
{
    char buf[24];
    int n = snprintf(buf, sizeof buf, "%lld", v);
    strbuf_putn(b, buf, (size_t)n);
}

static void w_message(strbuf *b, const ProtobufCMessage *m, int depth);

/* Same rules as encode.c's enc_double: NaN and infinities as strings, integral values below
 * 2^53 as integers; other reals through jansson, for its exact formatting. */
static void w_double(strbuf *b, double v, bool in_value)
{
    if (isnan(v) || isinf(v)) {
        if (in_value)
            strbuf_puts(b, "null"); /* a Value has no JSON form for them */
        else
            strbuf_puts(b, isnan(v) ? "\"NaN\"" : v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
        return;
    }
    if (v == trunc(v) && fabs(v) < 9007199254740992.0) {
        w_int(b, (long long)v);
        return;
    }
    w_json(b, json_real(v));
}

static void w_single(strbuf *b, const ProtobufCFieldDescriptor *f, const void *slot, int depth,
                     bool in_value)
{
    char buf[32];
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        w_int(b, *(const int32_t *)slot);
        return;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        w_int(b, *(const uint32_t *)slot);
        return;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64: {
        int n = snprintf(buf, sizeof buf, "\"%" PRId64 "\"", *(const int64_t *)slot);
        strbuf_putn(b, buf, (size_t)n);
        return;
    }
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: {
        int n = snprintf(buf, sizeof buf, "\"%" PRIu64 "\"", *(const uint64_t *)slot);
        strbuf_putn(b, buf, (size_t)n);
        return;
    }
    case PROTOBUF_C_TYPE_FLOAT:
        w_double(b, *(const float *)slot, in_value);
        return;
    case PROTOBUF_C_TYPE_DOUBLE:
        w_double(b, *(const double *)slot, in_value);
        return;
    case PROTOBUF_C_TYPE_BOOL:
        strbuf_puts(b, *(const protobuf_c_boolean *)slot ? "true" : "false");
        return;
    case PROTOBUF_C_TYPE_ENUM: {
        if (pbj_null_is_value(f)) {
            strbuf_puts(b, "null");
            return;
        }
        const ProtobufCEnumValue *ev =
            protobuf_c_enum_descriptor_get_value(f->descriptor, *(const int *)slot);
        if (ev)
            w_quoted(b, ev->name, strlen(ev->name));
        else
            w_int(b, *(const int *)slot);
        return;
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)slot;
        w_quoted(b, s ? s : "", s ? strlen(s) : 0);
        return;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *bd = slot;
        char *b64 = pbj_base64_encode(bd->data, bd->data ? bd->len : 0);
        w_quoted(b, b64, strlen(b64));
        free(b64);
        return;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *sm = *(ProtobufCMessage *const *)slot;
        if (sm)
            w_message(b, sm, depth);
        else
            strbuf_puts(b, "null");
        return;
    }
    }
    strbuf_puts(b, "null");
}

/* The key of map entry e as its JSON string (what encode.c's map_key gives). */
static void w_map_key(strbuf *b, const ProtobufCMessage *e)
{
    const ProtobufCFieldDescriptor *kf = &e->descriptor->fields[0];
    const void *slot = (const char *)e + kf->offset;
    switch (kf->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)slot;
        w_quoted(b, s ? s : "", s ? strlen(s) : 0);
        return;
    }
    case PROTOBUF_C_TYPE_BOOL:
        strbuf_puts(b, *(const protobuf_c_boolean *)slot ? "\"true\"" : "\"false\"");
        return;
    default:
        if (kf->type == PROTOBUF_C_TYPE_INT64 || kf->type == PROTOBUF_C_TYPE_SINT64 ||
            kf->type == PROTOBUF_C_TYPE_SFIXED64 || kf->type == PROTOBUF_C_TYPE_UINT64 ||
            kf->type == PROTOBUF_C_TYPE_FIXED64) {
            w_single(b, kf, slot, 0, false); /* already a quoted decimal */
            return;
        }
        strbuf_putc(b, '"');
        w_single(b, kf, slot, 0, false);
        strbuf_putc(b, '"');
    }
}

/* True if two entries of the map have the same key: a JSON object keeps one of them (the tree
 * path decides which), so such a map is written by encode.c. Keys compare as their JSON text. */
static bool map_has_repeated_key(const ProtobufCMessage *const *entries, size_t n)
{
    if (n < 2)
        return false;
    if (n > 256)
        return true; /* not worth a quadratic scan here: the tree path handles it */
    strbuf keys = {0};
    size_t *off = xmalloc((n + 1) * sizeof *off);
    for (size_t i = 0; i < n; i++) {
        off[i] = keys.len;
        w_map_key(&keys, entries[i]);
    }
    off[n] = keys.len;
    bool dup = false;
    for (size_t i = 0; i < n && !dup; i++)
        for (size_t j = i + 1; j < n && !dup; j++)
            dup = off[i + 1] - off[i] == off[j + 1] - off[j] &&
                  memcmp(keys.p + off[i], keys.p + off[j], off[i + 1] - off[i]) == 0;
    free(off);
    free(keys.p);
    return dup;
}

static void w_field(strbuf *b, const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
                    int depth)
{
    if (f->label != PROTOBUF_C_LABEL_REPEATED) {
        w_single(b, f, (const char *)m + f->offset, depth, false);
        return;
    }
    size_t n = PBJ_MEMBER(size_t, m, f->quantifier_offset);
    const char *arr = PBJ_MEMBER(const char *, m, f->offset);
    if (pbj_is_map(m->descriptor, f)) {
        const ProtobufCMessage *const *entries = (const ProtobufCMessage *const *)arr;
        if (map_has_repeated_key(entries, n)) {
            w_json(b, pbj_encode_field(m, f, depth));
            return;
        }
        strbuf_putc(b, '{');
        for (size_t i = 0; i < n; i++) {
            const ProtobufCMessage *e = entries[i];
            if (i)
                strbuf_putc(b, ',');
            w_map_key(b, e);
            strbuf_putc(b, ':');
            w_field(b, e, &e->descriptor->fields[1], depth);
        }
        strbuf_putc(b, '}');
        return;
    }
    strbuf_putc(b, '[');
    for (size_t i = 0; i < n; i++) {
        if (i)
            strbuf_putc(b, ',');
        w_single(b, f, arr + i * pbj_elem_size(f->type), depth, false);
    }
    strbuf_putc(b, ']');
}

static void w_field_mask(strbuf *b, const Google__Protobuf__FieldMask *fm)
{
    for (size_t i = 0; i < fm->n_paths; i++)
        if (!pbj_mask_path_ok(fm->paths[i])) {
            strbuf_puts(b, "null"); /* no JSON form reads back as this mask (encode.c) */
            return;
        }
    strbuf paths = {0};
    for (size_t i = 0; i < fm->n_paths; i++) {
        char *camel = pbj_snake_to_camel(fm->paths[i], strlen(fm->paths[i]));
        if (i)
            strbuf_putc(&paths, ',');
        strbuf_puts(&paths, camel);
        free(camel);
    }
    w_quoted(b, paths.p ? paths.p : "", paths.len);
    free(paths.p);
}

/* depth counts JSON containers, as in encode.c. */
static void w_message(strbuf *b, const ProtobufCMessage *m, int depth)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    pbj_kind kind = pbj_kind_of(d);
    if ((kind == PBJ_PLAIN || kind == PBJ_STRUCT || kind == PBJ_LIST) &&
        ++depth > PBJSON_MAX_DEPTH) {
        strbuf_puts(b, "null");
        return;
    }
    switch (kind) {
    case PBJ_STRUCT:
    case PBJ_LIST:
        w_field(b, m, &d->fields[0], depth);
        return;
    case PBJ_VALUE: {
        const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(
            d, PBJ_MEMBER(uint32_t, m, d->fields[0].quantifier_offset));
        if (f)
            w_single(b, f, (const char *)m + f->offset, depth, true);
        else
            strbuf_puts(b, "null");
        return;
    }
    case PBJ_TIMESTAMP: {
        const Google__Protobuf__Timestamp *ts = (const Google__Protobuf__Timestamp *)m;
        char buf[PBJSON_TIMESTAMP_MAX];
        if (pbjson_timestamp_format(ts->seconds, ts->nanos, buf))
            w_quoted(b, buf, strlen(buf));
        else
            strbuf_puts(b, "null");
        return;
    }
    case PBJ_FIELD_MASK:
        w_field_mask(b, (const Google__Protobuf__FieldMask *)m);
        return;
    case PBJ_PLAIN:
        break;
    }
    strbuf_putc(b, '{');
    bool first = true;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            PBJ_MEMBER(uint32_t, m, f->quantifier_offset) != f->id)
            continue;
        char name[256];
        pbj_json_name(f->name, name, sizeof name);
        if (!first)
            strbuf_putc(b, ',');
        first = false;
        w_quoted(b, name, strlen(name));
        strbuf_putc(b, ':');
        w_field(b, m, f, depth);
    }
    strbuf_putc(b, '}');
}

char *pbjson_to_string(const ProtobufCMessage *msg)
{
    strbuf b = {0};
    if (msg)
        w_message(&b, msg, 0);
    else
        strbuf_puts(&b, "null");
    strbuf_reserve(&b, 0);
    b.p[b.len] = '\0';
    return b.p;
}
