/* rpc_common.c — what the catalog's handlers share: loading an app with the visibility and
 * change rules applied, and turning rows and JSON into API messages. */
#include "catalog.h"
#include "policy.h"
#include "pbjson/pbjson.h"

#include <openssl/evp.h>
#include <string.h>

#define APP_ID_MAX 128

cf_code catalog_check_app_id(rpc_call *call, const char *app_id)
{
    if (!*app_id)
        return rpc_violation(call, "appId", "must not be empty");
    if (strlen(app_id) > APP_ID_MAX)
        return rpc_violation(call, "appId", "must be at most %d characters", APP_ID_MAX);
    return CF_OK;
}

cf_code catalog_store_error(rpc_call *call, cf_code code, const char *what)
{
    if (code == CF_NOT_FOUND)
        return rpc_error(call, code, "app not found");
    if (code == CF_INVALID_ARGUMENT || code == CF_FAILED_PRECONDITION)
        return rpc_refuse(call, code, "app", "%s: refused by a database rule", what);
    return rpc_error(call, code, "%s failed", what);
}

static cf_code load(rpc_call *call, const char *app_id, store_app *out)
{
    cf_code code = rpc_require_caller(call);
    if (code != CF_OK)
        return code;
    code = catalog_check_app_id(call, app_id);
    if (code != CF_OK)
        return code;
    code = store_app_get(rpc_worker(call), rpc_arena(call), app_id, out);
    return code == CF_OK ? CF_OK : catalog_store_error(call, code, "loading the app");
}

cf_code catalog_load_pinned(rpc_call *call, const char *app_id, store_app *out)
{
    return load(call, app_id, out);
}

cf_code catalog_load_visible(rpc_call *call, const char *app_id, store_app *out)
{
    cf_code code = load(call, app_id, out);
    if (code != CF_OK)
        return code;
    if (!catalog_can_see(rpc_caller(call), out->owner, out->is_active))
        return rpc_error(call, CF_NOT_FOUND, "app not found"); /* never a hint it exists */
    return CF_OK;
}

cf_code catalog_load_changeable(rpc_call *call, const char *app_id, store_app *out)
{
    cf_code code = catalog_load_visible(call, app_id, out);
    if (code != CF_OK)
        return code;
    if (!catalog_can_change(rpc_caller(call), out->owner))
        return rpc_error(call, CF_PERMISSION_DENIED,
                         "only the app's owner or an admin may do this");
    return CF_OK;
}

Google__Protobuf__Timestamp *catalog_ts_us(rpc_call *call, int64_t us)
{
    Google__Protobuf__Timestamp *t = rpc_alloc(call, sizeof *t);
    google__protobuf__timestamp__init(t);
    int64_t s = us / 1000000, rem = us % 1000000;
    if (rem < 0) {
        s--;
        rem += 1000000;
    }
    t->seconds = s;
    t->nanos = (int32_t)(rem * 1000);
    return t;
}

Google__Protobuf__Timestamp *catalog_ts_s(rpc_call *call, int64_t s)
{
    return catalog_ts_us(call, s * 1000000);
}

cf_code catalog_struct_from_text(rpc_call *call, const char *text, Google__Protobuf__Struct **out)
{
    json_error_t jerr;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &jerr);
    if (!j)
        return rpc_error(call, CF_INTERNAL, "stored JSON does not parse: %s", jerr.text);
    pbjson_error perr;
    cf_code code = pbjson_struct_from_json(j, arena_allocator(rpc_arena(call)), out, &perr);
    json_decref(j);
    if (code != CF_OK)
        return rpc_error(call, CF_INTERNAL, "stored JSON is not a Struct: %s", perr.message);
    return CF_OK;
}

cf_code catalog_fill_app(rpc_call *call, const store_app *row, Catalog__V1__App *out)
{
    out->app_id = rpc_strdup(call, row->app_id);
    out->name = rpc_strdup(call, row->name);
    out->owner_user_id = rpc_strdup(call, row->owner);
    out->manifest_version = rpc_strdup(call, row->manifest_version);
    out->is_active = row->is_active;
    out->deleting = row->deleting;
    out->created_at = catalog_ts_us(call, row->created_us);
    out->updated_at = catalog_ts_us(call, row->updated_us);
    return catalog_struct_from_text(call, row->manifest_json, &out->manifest);
}

cf_code catalog_struct_json(rpc_call *call, const char *field, const Google__Protobuf__Struct *s,
                            json_t **out)
{
    const catalog_ctx *ctx = rpc_service_ctx(call);
    size_t size = s ? protobuf_c_message_get_packed_size(&s->base) : 0;
    if ((int64_t)size > ctx->max_document)
        return rpc_violation(call, field, "is %zu bytes; the limit is %lld", size,
                             (long long)ctx->max_document);
    *out = pbjson_struct_to_json(s);
    return CF_OK;
}

void catalog_sha256(const void *data, size_t n, unsigned char out[STORE_HASH_LEN])
{
    unsigned int len = 0;
    EVP_Digest(data, n, out, &len, EVP_sha256(), NULL);
}

void catalog_emit_violation(void *call, const char *path, const char *message)
{
    rpc_violation(call, path, "%s", message);
}

/* Checks a manifest Struct; on success *json (caller json_decref's) and *cm borrow from it. */
cf_code catalog_checked_manifest(rpc_call *call, const Google__Protobuf__Struct *m, json_t **json,
                                 catalog_manifest *cm)
{
    if (!m)
        return rpc_violation(call, "manifest", "is required");
    cf_code code = catalog_struct_json(call, "manifest", m, json);
    if (code != CF_OK)
        return code;
    jsonschema_report r = {catalog_emit_violation, call, 0};
    const catalog_ctx *ctx = rpc_service_ctx(call);
    pattern_run *pr = pattern_run_new(ctx->patterns);
    bool ok = catalog_manifest_check(*json, "manifest", cm, pr, &r);
    pattern_run_free(pr);
    if (!ok) {
        json_decref(*json);
        *json = NULL;
        return CF_INVALID_ARGUMENT;
    }
    return CF_OK;
}
