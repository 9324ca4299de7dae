/* rpc_apps.c — catalog.v1.Catalog app methods: RegisterApp, GetApp, ListApps, DeleteApp,
 * ActivateApp, DeactivateApp. */
#include "base/name.h"
#include "catalog.h"
#include "policy.h"
#include "confetti_proto_handlers.h"
#include "svc/idem.h"
#include "base/cuid.h"
#include "base/random.h"
#include "base/b64url.h"
#include "base/log.h"
#include "page/page.h"

#include <stdlib.h>
#include <string.h>

#define SECRET_TEXT_LEN 43 /* base64url of CATALOG_SECRET_BYTES, unpadded */

/* Reads and checks the optional idempotency-key metadata into idem (key NULL if absent). */
static cf_code read_idempotency_key(rpc_call *call, const char *method, store_idem *idem)
{
    idem->caller = rpc_caller(call)->sub;
    idem->method = method;
    const catalog_ctx *ctx = rpc_service_ctx(call);
    idem->now_s = catalog_now(ctx);
    idem->expired_before = idem->now_s - ctx->idempotency_ttl_s;
    return rpc_idempotency_key(call, &idem->key);
}

/* A new secret: 256 CSPRNG bits as base64url text (what the app presents) and its SHA-256. */
static char *new_secret(rpc_call *call, unsigned char hash[STORE_HASH_LEN])
{
    char *text = rpc_alloc(call, SECRET_TEXT_LEN + 2);
    cf_random_token(text, CATALOG_SECRET_BYTES);
    catalog_sha256(text, strlen(text), hash);
    return text;
}

RPC_HANDLER(rpc_catalog_register_app)
{
    cf_code code = rpc_require_caller(call);
    if (code != CF_OK)
        return code;
    if (!catalog_can_register(rpc_caller(call)))
        return rpc_error(call, CF_PERMISSION_DENIED, "apps are registered by users, not by apps");
    const char *why;
    char *name; /* the one rule for names (base/name.h): trimmed, NFC */
    if (!cf_name_check(rpc_arena(call), req->name, CATALOG_NAME_MAX, &name, &why))
        return rpc_violation(call, "name", "%s", why);
    store_new_app in = {.owner = rpc_caller(call)->sub, .name = name};
    code = read_idempotency_key(call, "RegisterApp", &in.idem);
    if (code != CF_OK)
        return code;
    json_t *manifest;
    catalog_manifest cm;
    code = catalog_checked_manifest(call, req->manifest, &manifest, &cm);
    if (code != CF_OK)
        return code;
    char *text = json_dumps(manifest, JSON_COMPACT | JSON_SORT_KEYS);
    in.manifest_json = rpc_strdup(call, text);
    in.version = rpc_strdup(call, cm.version);
    json_decref(manifest);
    /* the request's fingerprint: a key replayed with another request is refused */
    size_t namelen = strlen(name);
    char *buf = rpc_alloc(call, namelen + 1 + strlen(text) + 1);
    memcpy(buf, name, namelen + 1);
    memcpy(buf + namelen + 1, text, strlen(text) + 1);
    catalog_sha256(buf, namelen + 1 + strlen(text), in.idem.request_hash);
    free(text);

    char pk[CUID_LEN + 1], app_id[CUID_LEN + 1];
    cuid_new(pk);
    cuid_new(app_id);
    in.pk = pk;
    in.app_id = app_id;
    char *secret = new_secret(call, in.secret_hash);

    store_app row;
    bool replayed = false, mismatch = false;
    /* per caller; claimed for the call (docs/rpc.md, "Idempotency"). Catalog's fingerprint is
     * its digest of the name and the canonical manifest (keys sorted), stored as bytes */
    svc_idem claim;
    if ((code = svc_idem_claim(call, rpc_worker(call), in.owner, in.idem.key, NULL, &claim)) !=
        CF_OK)
        return code;
    audit_ctx au = audit_ctx_of(call);
    code =
        store_app_register(rpc_worker(call), rpc_arena(call), &in, &row, &replayed, &mismatch, &au);
    svc_idem_end(rpc_worker(call), &claim);
    if (mismatch)
        return rpc_idempotency_reused(call);
    if (code == CF_ALREADY_EXISTS) /* a secret hash collision: 2^-256; a retry is enough */
        return rpc_error(call, CF_ABORTED, "registration collided; retry");
    if (code != CF_OK)
        return catalog_store_error(call, code, "registering the app");
    resp->app = rpc_alloc(call, sizeof *resp->app);
    catalog__v1__app__init(resp->app);
    /* A replay cannot show the secret again (only its hash is stored): it answers the same app
     * with an empty secret; a client that lost the first answer calls RegenerateSecret. */
    resp->app_secret = replayed ? "" : secret;
    return catalog_fill_app(call, &row, resp->app);
}

RPC_HANDLER(rpc_catalog_get_app)
{
    store_app row;
    cf_code code = catalog_load_visible(call, req->app_id, &row);
    if (code != CF_OK)
        return code;
    return catalog_fill_app(call, &row, resp);
}

RPC_HANDLER(rpc_catalog_list_apps)
{
    cf_code code = rpc_require_caller(call);
    if (code != CF_OK)
        return code;
    const authn_identity *me = rpc_caller(call);
    int size;
    if (page_size(req->page_size, &size) != CF_OK)
        return rpc_violation(call, "pageSize", "must not be negative");
    if (strlen(req->owner_user_id) > 128)
        return rpc_violation(call, "ownerUserId", "must be at most 128 characters");
    store_app_filter f = {.owner = req->owner_user_id,
                          .viewer = me->sub,
                          .include_inactive = req->include_inactive,
                          .viewer_is_admin = me->is_admin && !me->is_app,
                          .after_us = -1,
                          .limit = size + 1};
    /* the token is bound to the filters and to the caller (what they may see differs) */
    const char *filters =
        rpc_printf(call, "apps|%s|%d|%s", req->owner_user_id, req->include_inactive, me->sub);
    int64_t after_us;
    char *after_id;
    code = page_keyset_decode(rpc_arena(call), req->page_token, filters, &after_us, &after_id);
    if (code == CF_OK) {
        f.after_us = after_us;
        f.after_id = after_id;
    } else if (code != CF_NOT_FOUND) {
        return rpc_violation(call, "pageToken", "is not a token of this list");
    }
    store_app *rows;
    size_t n;
    code = store_app_list(rpc_worker(call), rpc_arena(call), &f, &rows, &n);
    if (code != CF_OK)
        return catalog_store_error(call, code, "listing apps");
    size_t shown = n > (size_t)size ? (size_t)size : n;
    resp->apps = rpc_alloc(call, (shown ? shown : 1) * sizeof *resp->apps);
    resp->n_apps = shown;
    for (size_t i = 0; i < shown; i++) {
        resp->apps[i] = rpc_alloc(call, sizeof **resp->apps);
        catalog__v1__app__init(resp->apps[i]);
        code = catalog_fill_app(call, &rows[i], resp->apps[i]);
        if (code != CF_OK)
            return code;
    }
    if (n > shown) {
        resp->next_page_token = page_keyset_encode(rpc_arena(call), filters,
                                                   rows[shown - 1].created_us, rows[shown - 1].pk);
    }
    return CF_OK;
}

RPC_HANDLER(rpc_catalog_delete_app)
{
    (void)resp;
    store_app row;
    cf_code code = catalog_load_changeable(call, req->app_id, &row);
    if (code != CF_OK)
        return code;
    /* No room may be created with the app between rooms' answer and the delete: the lease
     * makes GetApp say `deleting` (rooms refuses to attach it) before rooms is asked, and rooms
     * answers AppInUse only after every creation that read the app before the lease has
     * committed (docs/catalog.md, "Rooms check"). */
    catalog_ctx *ctx = rpc_service_ctx(call);
    db_conn *db = rpc_worker(call);
    if ((code = store_app_mark_deleting(db, row.pk)) != CF_OK)
        return catalog_store_error(call, code, "marking the app for deletion");
    bool in_use = false;
    code = ctx->rooms->app_in_use(ctx->rooms, call, row.app_id, &in_use);
    if (code == CF_OK && !in_use) {
        audit_ctx au = audit_ctx_of(call);
        code = store_app_delete(db, row.pk, row.app_id, &au);
        if (code == CF_OK)
            return CF_OK;
    }
    cf_code restored = store_app_unmark_deleting(db, row.pk);
    if (restored != CF_OK)
        log_rid(LOG_WARN, rpc_request_id(call),
                "app %s: the deletion lease stays until it runs "
                "out: %s",
                row.app_id, cf_code_name(restored));
    if (in_use)
        return rpc_refuse(call, CF_FAILED_PRECONDITION, "appId",
                          "the app is used by live rooms: delete or cancel them first");
    if (code == CF_NOT_FOUND) /* deleted meanwhile, or the lease ran short: judge again */
        return rpc_error(call, CF_ABORTED, "the app changed while being deleted; retry");
    if (code == CF_UNAVAILABLE || code == CF_DEADLINE_EXCEEDED)
        return rpc_error(call, code, "cannot ask rooms whether the app is in use");
    return catalog_store_error(call, code, "deleting the app");
}

static cf_code set_active(rpc_call *call, const char *app_id, bool active, Catalog__V1__App *resp)
{
    store_app row;
    cf_code code = catalog_load_changeable(call, app_id, &row);
    if (code != CF_OK)
        return code;
    audit_ctx au = audit_ctx_of(call);
    code = store_app_set_active(rpc_worker(call), rpc_arena(call), row.pk, active, &row, &au);
    if (code != CF_OK)
        return catalog_store_error(call, code, "changing the app's status");
    return catalog_fill_app(call, &row, resp);
}

RPC_HANDLER(rpc_catalog_activate_app)
{
    return set_active(call, req->app_id, true, resp);
}

RPC_HANDLER(rpc_catalog_deactivate_app)
{
    return set_active(call, req->app_id, false, resp);
}
