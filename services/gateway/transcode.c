/* transcode.c — the pure half of the one generic transcoder: an HTTP request (path parameters,
 * query string, body) becomes the JSON form of the route's request message, then the message
 * (pbjson, the proto3 JSON mapping). gateway.c runs the other half (the call and the answer). */
#include "gateway.h"
#include "pbjson/pbjson.h"
#include "base/xmalloc.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool gw_pct_decode(const char *src, size_t n, char *dst, bool plus_is_space);

/* Does the JSON name json[0..len) designate the proto field `snake` (its lowerCamelCase form or
 * the original name)? */
static bool name_matches(const char *snake, const char *json, size_t len)
{
    if (strlen(snake) == len && memcmp(snake, json, len) == 0)
        return true;
    size_t j = 0;
    for (const char *s = snake; *s; s++) {
        char c = *s;
        if (c == '_' && s[1]) {
            s++;
            c = (char)(s[0] >= 'a' && s[0] <= 'z' ? s[0] - 32 : s[0]);
        }
        if (j >= len || json[j] != c)
            return false;
        j++;
    }
    return j == len;
}

const ProtobufCFieldDescriptor *gw_field_by_json(const ProtobufCMessageDescriptor *d,
                                                 const char *name, size_t len)
{
    for (unsigned i = 0; i < d->n_fields; i++)
        if (name_matches(d->fields[i].name, name, len))
            return &d->fields[i];
    return NULL;
}

static void violation(gw_violation *v, const char *field, size_t flen, const char *fmt,
                      const char *arg)
{
    snprintf(v->field, sizeof v->field, "%.*s", (int)(flen > 255 ? 255 : flen), field);
    snprintf(v->description, sizeof v->description, fmt, arg);
}

/* The JSON value of a text parameter for field f, or NULL if it does not convert. */
static json_t *convert(const ProtobufCFieldDescriptor *f, const char *text)
{
    char *end;
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_BYTES:
    case PROTOBUF_C_TYPE_ENUM:
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        /* 64-bit integers travel as strings in proto3 JSON; pbjson checks them */
        return json_string(text);
    case PROTOBUF_C_TYPE_BOOL:
        if (strcmp(text, "true") == 0)
            return json_true();
        if (strcmp(text, "false") == 0)
            return json_false();
        return NULL;
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32: {
        if (!*text)
            return NULL;
        errno = 0;
        long long n = strtoll(text, &end, 10);
        if (*end || errno)
            return NULL;
        return json_integer(n); /* the range is pbjson's to check */
    }
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE: {
        if (!*text)
            return NULL;
        double d = strtod(text, &end);
        if (*end || !isfinite(d))
            return NULL;
        return json_real(d);
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        /* well-known types with a string JSON form */
        const char *n = ((const ProtobufCMessageDescriptor *)f->descriptor)->name;
        if (strcmp(n, "google.protobuf.Timestamp") == 0 ||
            strcmp(n, "google.protobuf.FieldMask") == 0)
            return json_string(text);
        return NULL;
    }
    }
    return NULL;
}

/* Sets name (a dotted JSON path) = text in obj, converted by the field type it designates.
 * Repeated fields append when `append`, others are overwritten only when `override`. */
static bool set_param(const ProtobufCMessageDescriptor *d, json_t *obj, const char *name,
                      size_t len, const char *text, bool is_path, gw_violation *v)
{
    const char *full = name;
    size_t fulllen = len;
    for (;;) {
        const char *dot = memchr(name, '.', len);
        size_t n = dot ? (size_t)(dot - name) : len;
        const ProtobufCFieldDescriptor *f = gw_field_by_json(d, name, n);
        if (!f) {
            violation(v, full, fulllen, "%s", "unknown field");
            return false;
        }
        char key[128];
        snprintf(key, sizeof key, "%.*s", (int)(n < 127 ? n : 127), name);
        if (dot) {
            if (f->type != PROTOBUF_C_TYPE_MESSAGE || f->label == PROTOBUF_C_LABEL_REPEATED) {
                violation(v, full, fulllen, "%s", "not a message field");
                return false;
            }
            json_t *sub = json_object_get(obj, key);
            if (!json_is_object(sub)) {
                if (sub && !json_is_null(sub)) {
                    violation(v, full, fulllen, "%s", "conflicts with the body");
                    return false;
                }
                sub = json_object();
                json_object_set_new(obj, key, sub);
            }
            obj = sub;
            d = f->descriptor;
            name = dot + 1;
            len -= n + 1;
            continue;
        }
        json_t *val = convert(f, text);
        if (!val) {
            violation(v, full, fulllen, "invalid value for this field: \"%.200s\"", text);
            return false;
        }
        if (f->label == PROTOBUF_C_LABEL_REPEATED && !is_path) {
            json_t *arr = json_object_get(obj, key);
            if (!json_is_array(arr)) {
                arr = json_array();
                json_object_set_new(obj, key, arr);
            }
            json_array_append_new(arr, val);
            return true;
        }
        if (!is_path && json_object_get(obj, key)) {
            json_decref(val);
            violation(v, full, fulllen, "%s", "given more than once");
            return false;
        }
        json_object_set_new(obj, key, val);
        return true;
    }
}

static bool parse_query(const ProtobufCMessageDescriptor *d, json_t *obj, const char *query,
                        gw_violation *v)
{
    size_t qlen = strlen(query);
    char *buf = xmalloc(qlen + 1);
    char *kbuf = xmalloc(qlen + 1);
    bool ok = true;
    const char *p = query;
    while (ok && *p) {
        size_t n = strcspn(p, "&");
        if (n) {
            const char *eq = memchr(p, '=', n);
            size_t klen = eq ? (size_t)(eq - p) : n;
            const char *val = eq ? eq + 1 : p + n;
            size_t vlen = (size_t)(p + n - val);
            if (!gw_pct_decode(p, klen, kbuf, true) || !gw_pct_decode(val, vlen, buf, true)) {
                violation(v, "", 0, "%s", "malformed query string");
                ok = false;
            } else if (*kbuf) {
                ok = set_param(d, obj, kbuf, strlen(kbuf), buf, false, v);
            }
        }
        p += n;
        if (*p == '&')
            p++;
    }
    free(buf);
    free(kbuf);
    return ok;
}

static bool blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return false;
    return true;
}

/* Is a path parameter filling the top-level key `key`? */
static bool filled_by_path(const gw_param *params, size_t nparams, const char *key)
{
    size_t klen = strlen(key);
    for (size_t i = 0; i < nparams; i++) {
        size_t n = strcspn(params[i].name, ".}");
        if (n > params[i].namelen)
            n = params[i].namelen;
        if (n == klen && memcmp(params[i].name, key, n) == 0)
            return true;
    }
    return false;
}

json_t *gw_request_json(const gw_rroute *rt, const char *body, size_t len, const char *query,
                        const gw_param *params, size_t nparams, gw_violation *v)
{
    const ProtobufCMessageDescriptor *d = rt->method->input;
    const char *bodyfield = rt->def->body;
    json_t *obj = NULL, *bodyval = NULL;
    memset(v, 0, sizeof *v);
    if (bodyfield && len && !blank(body, len)) {
        json_error_t je;
        bodyval = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
        if (!bodyval) {
            snprintf(v->description, sizeof v->description,
                     "malformed JSON at line %d, column %d: %.150s", je.line, je.column, je.text);
            return NULL;
        }
    }
    if (bodyfield && strcmp(bodyfield, "*") == 0) {
        if (bodyval && !json_is_object(bodyval)) {
            json_decref(bodyval);
            violation(v, "", 0, "%s", "the body must be a JSON object");
            return NULL;
        }
        obj = bodyval ? bodyval : json_object();
        bodyval = obj;
    } else {
        obj = json_object();
        if (bodyval)
            json_object_set_new(obj, bodyfield, bodyval);
    }
    json_incref(bodyval);

    if (query && *query && !parse_query(d, obj, query, v))
        goto fail;

    /* AIP-134 over HTTP: PATCH changes exactly the fields present in the body. */
    if (strcmp(rt->def->method, "PATCH") == 0 && json_is_object(bodyval)) {
        const ProtobufCFieldDescriptor *mf = gw_field_by_json(d, "updateMask", 10);
        if (mf && !json_object_get(obj, "updateMask") && !json_object_get(obj, "update_mask")) {
            size_t cap = 64, n = 0;
            char *mask = xmalloc(cap);
            mask[0] = '\0';
            const char *key;
            json_t *val;
            json_object_foreach(bodyval, key, val)
            {
                if (bodyval == obj && filled_by_path(params, nparams, key))
                    continue;
                size_t kl = strlen(key);
                while (n + kl + 2 > cap)
                    mask = xrealloc(mask, cap *= 2);
                if (n)
                    mask[n++] = ',';
                memcpy(mask + n, key, kl + 1);
                n += kl;
            }
            json_object_set_new(obj, "updateMask", json_string(mask));
            free(mask);
        }
    }

    for (size_t i = 0; i < nparams; i++)
        if (!set_param(d, obj, params[i].name, params[i].namelen, params[i].value, true, v))
            goto fail;
    json_decref(bodyval);
    return obj;
fail:
    json_decref(bodyval);
    json_decref(obj);
    return NULL;
}

cf_code gw_request_message(const gw_rroute *rt, const json_t *json, ProtobufCMessage **out,
                           gw_violation *v)
{
    pbjson_error pe;
    cf_code code = pbjson_from_json(rt->method->input, json, NULL, out, &pe);
    if (code != CF_OK) {
        snprintf(v->field, sizeof v->field, "%s", pe.path);
        snprintf(v->description, sizeof v->description, "%s", pe.message);
    }
    return code;
}
