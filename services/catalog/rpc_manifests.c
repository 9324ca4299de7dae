/* rpc_manifests.c — catalog.v1.Catalog manifest methods: PublishManifest, ListManifests,
 * GetManifest, ValidateSettings. */
#include "catalog.h"
#include "policy.h"
#include "confetti_proto_handlers.h"
#include "page/page.h"

#include <stdlib.h>
#include <string.h>

/* How often PublishManifest re-reads and retries when another publication of the same app
 * slipped in between its read and its guarded update with a version still lower than ours. */
#define PUBLISH_ATTEMPTS 3

/* The order rule: CF_OK if next is strictly greater than the app's current version. */
static cf_code version_order(rpc_call *call, const store_app *app, const catalog_manifest *cm)
{
    semver cur;
    if (!semver_parse(app->manifest_version, &cur))
        return rpc_error(call, CF_INTERNAL, "stored version %s is not semver", app->pk);
    int c = semver_cmp(&cm->sv, &cur);
    if (c == 0 && strcmp(cm->version, app->manifest_version) == 0)
        return rpc_refuse(call, CF_ALREADY_EXISTS, "version",
                          "version %s is already published (the current version is %s)",
                          cm->version, app->manifest_version);
    if (c == 0)
        return rpc_refuse(call, CF_ALREADY_EXISTS, "version",
                          "version %s has the precedence of the current version %s (build "
                          "metadata does not count)",
                          cm->version, app->manifest_version);
    if (c < 0)
        return rpc_refuse(call, CF_FAILED_PRECONDITION, "version",
                          "version %s is not above the current version %s; publish a greater one",
                          cm->version, app->manifest_version);
    return CF_OK;
}

RPC_HANDLER(rpc_catalog_publish_manifest)
{
    store_app app;
    cf_code code = catalog_load_changeable(call, req->app_id, &app);
    if (code != CF_OK)
        return code;
    json_t *manifest;
    catalog_manifest cm;
    code = catalog_checked_manifest(call, req->manifest, &manifest, &cm);
    if (code != CF_OK)
        return code;
    char *text = json_dumps(manifest, JSON_COMPACT | JSON_SORT_KEYS);
    const char *json = rpc_strdup(call, text);
    free(text);
    /* cm.version and cm.sv point into the tree: keep copies that outlive it */
    const char *version = rpc_strdup(call, cm.version);
    json_decref(manifest);
    cm.version = version;
    semver_parse(version, &cm.sv);

    for (int attempt = 0;; attempt++) {
        code = version_order(call, &app, &cm);
        if (code != CF_OK)
            return code;
        audit_ctx au = audit_ctx_of(call);
        code = store_manifest_publish(rpc_worker(call), rpc_arena(call), app.pk, app.manifest_seq,
                                      version, json, rpc_caller(call)->sub, &app, &au);
        if (code == CF_ALREADY_EXISTS)
            return rpc_refuse(call, code, "version", "version %s is already published", version);
        if (code != CF_ABORTED)
            break;
        /* Another publication won the guard: judge ours again against what it left. */
        if (attempt + 1 == PUBLISH_ATTEMPTS)
            return rpc_error(call, CF_ABORTED, "the app changed while publishing; retry");
        code = store_app_get(rpc_worker(call), rpc_arena(call), req->app_id, &app);
        if (code != CF_OK)
            return catalog_store_error(call, code, "reloading the app");
    }
    if (code != CF_OK)
        return catalog_store_error(call, code, "publishing the manifest");
    return catalog_fill_app(call, &app, resp);
}

static cf_code fill_version(rpc_call *call, const store_app *app, const store_manifest *m,
                            Catalog__V1__ManifestVersion *out)
{
    out->version = rpc_strdup(call, m->version);
    out->published_at = catalog_ts_us(call, m->published_us);
    out->published_by = rpc_strdup(call, m->published_by);
    out->current = strcmp(m->version, app->manifest_version) == 0;
    return catalog_struct_from_text(call, m->manifest_json, &out->manifest);
}

RPC_HANDLER(rpc_catalog_list_manifests)
{
    store_app app;
    cf_code code = catalog_load_visible(call, req->app_id, &app);
    if (code != CF_OK)
        return code;
    int size;
    if (page_size(req->page_size, &size) != CF_OK)
        return rpc_violation(call, "pageSize", "must not be negative");
    const char *filters = rpc_printf(call, "manifests|%s", app.app_id);
    char *parts[1];
    int before = 0;
    code = page_token_decode(rpc_arena(call), req->page_token, filters, parts, 1);
    if (code == CF_OK) {
        char *end;
        long v = strtol(parts[0], &end, 10);
        if (*end || v < 1 || v > app.manifest_seq + 1)
            return rpc_violation(call, "pageToken", "is not a token of this list");
        before = (int)v;
    } else if (code != CF_NOT_FOUND) {
        return rpc_violation(call, "pageToken", "is not a token of this list");
    }
    store_manifest *rows;
    size_t n;
    code =
        store_manifest_list(rpc_worker(call), rpc_arena(call), app.pk, before, size + 1, &rows, &n);
    if (code != CF_OK)
        return catalog_store_error(call, code, "listing manifests");
    size_t shown = n > (size_t)size ? (size_t)size : n;
    resp->manifests = rpc_alloc(call, (shown ? shown : 1) * sizeof *resp->manifests);
    resp->n_manifests = shown;
    for (size_t i = 0; i < shown; i++) {
        resp->manifests[i] = rpc_alloc(call, sizeof **resp->manifests);
        catalog__v1__manifest_version__init(resp->manifests[i]);
        code = fill_version(call, &app, &rows[i], resp->manifests[i]);
        if (code != CF_OK)
            return code;
    }
    if (n > shown) {
        const char *key[] = {rpc_printf(call, "%d", rows[shown - 1].seq)};
        resp->next_page_token = page_token_encode(rpc_arena(call), filters, key, 1);
    }
    return CF_OK;
}

/* Loads the app and the manifest a request names: the current one for an empty version (the
 * app must be visible), else that published version (pinned reads: see catalog_load_pinned). */
static cf_code load_version(rpc_call *call, const char *app_id, const char *version, store_app *app,
                            store_manifest *m)
{
    cf_code code;
    if (!*version) {
        code = catalog_load_visible(call, app_id, app);
        version = app->manifest_version;
    } else {
        code = rpc_require_caller(call);
        if (code == CF_OK && !semver_valid(version))
            return rpc_violation(call, "version", "must be a semantic version such as 1.2.3");
        if (code == CF_OK)
            code = catalog_load_pinned(call, app_id, app);
    }
    if (code != CF_OK)
        return code;
    code = store_manifest_get(rpc_worker(call), rpc_arena(call), app->pk, version, m);
    if (code == CF_NOT_FOUND)
        return rpc_error(call, code, "version %s of the app not found", version);
    return code == CF_OK ? CF_OK : catalog_store_error(call, code, "loading the manifest");
}

RPC_HANDLER(rpc_catalog_get_manifest)
{
    store_app app;
    store_manifest m;
    cf_code code = load_version(call, req->app_id, req->version, &app, &m);
    if (code != CF_OK)
        return code;
    return fill_version(call, &app, &m, resp);
}

typedef struct collected {
    rpc_call *call;
    Catalog__V1__ValidationError **errors;
    size_t n;
} collected;

static void collect(void *ud, const char *path, const char *message)
{
    collected *c = ud;
    Catalog__V1__ValidationError *e = rpc_alloc(c->call, sizeof *e);
    catalog__v1__validation_error__init(e);
    e->path = rpc_strdup(c->call, path);
    e->message = rpc_strdup(c->call, message);
    c->errors[c->n++] = e;
}

RPC_HANDLER(rpc_catalog_validate_settings)
{
    store_app app;
    store_manifest m;
    cf_code code = load_version(call, req->app_id, req->version, &app, &m);
    if (code != CF_OK)
        return code;
    json_t *settings;
    code = catalog_struct_json(call, "settings", req->settings, &settings);
    if (code != CF_OK)
        return code;
    json_error_t jerr;
    json_t *manifest = json_loads(m.manifest_json, 0, &jerr);
    if (!manifest) {
        json_decref(settings);
        return rpc_error(call, CF_INTERNAL, "stored manifest does not parse: %s", jerr.text);
    }
    collected c = {call, rpc_alloc(call, JSONSCHEMA_MAX_ERRORS * sizeof *c.errors), 0};
    jsonschema_report r = {collect, &c, 0};
    const catalog_ctx *ctx = rpc_service_ctx(call);
    pattern_run *pr = pattern_run_new(ctx->patterns);
    resp->valid = jsonschema_validate(json_object_get(manifest, "settingsSchema"), settings,
                                      "settings", pr, &r);
    pattern_run_free(pr);
    json_decref(manifest);
    json_decref(settings);
    resp->errors = c.errors;
    resp->n_errors = c.n;
    resp->version = rpc_strdup(call, m.version);
    return CF_OK;
}
