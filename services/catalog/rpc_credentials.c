/* rpc_credentials.c — catalog.v1.Catalog credential methods: RegenerateSecret and
 * VerifyAppCredentials (auth's client-credentials check). */
#include "catalog.h"
#include "policy.h"
#include "confetti_proto_handlers.h"
#include "svc/idem.h"
#include "base/random.h"

#include <openssl/crypto.h>
#include <string.h>

#define SECRET_TEXT_MAX 256 /* longer presented secrets are refused before hashing */

RPC_HANDLER(rpc_catalog_regenerate_secret)
{
    store_app app;
    cf_code code = catalog_load_changeable(call, req->app_id, &app);
    if (code != CF_OK)
        return code;
    const catalog_ctx *ctx = rpc_service_ctx(call);
    store_idem idem = {.caller = rpc_caller(call)->sub,
                       .method = "RegenerateSecret",
                       .now_s = catalog_now(ctx),
                       .expired_before = catalog_now(ctx) - ctx->idempotency_ttl_s};
    if ((code = rpc_idempotency_key(call, &idem.key)) != CF_OK)
        return code;
    catalog_sha256(app.app_id, strlen(app.app_id), idem.request_hash);

    char *secret = rpc_alloc(call, 64);
    cf_random_token(secret, CATALOG_SECRET_BYTES);
    unsigned char hash[STORE_HASH_LEN];
    catalog_sha256(secret, strlen(secret), hash);
    int64_t until = catalog_now(ctx) + ctx->secret_grace_s, prev_until = 0;
    bool replayed = false, mismatch = false;
    svc_idem claim; /* per caller, claimed for the call (docs/rpc.md, "Idempotency") */
    if ((code = svc_idem_claim(call, rpc_worker(call), idem.caller, idem.key, NULL, &claim)) !=
        CF_OK)
        return code;
    audit_ctx au = audit_ctx_of(call);
    code = store_secret_rotate(rpc_worker(call), app.pk, hash, until, &idem, &replayed, &mismatch,
                               &prev_until, app.app_id, &au);
    svc_idem_end(rpc_worker(call), &claim);
    if (mismatch)
        return rpc_idempotency_reused(call);
    if (code == CF_ALREADY_EXISTS) /* a secret hash collision: 2^-256; a retry is enough */
        return rpc_error(call, CF_ABORTED, "secret collided; retry");
    if (code != CF_OK)
        return catalog_store_error(call, code, "regenerating the secret");
    /* A replay cannot show the secret again (only its hash is stored). */
    resp->app_secret = replayed ? "" : secret;
    resp->previous_valid_until = catalog_ts_s(call, prev_until);
    return CF_OK;
}

RPC_HANDLER(rpc_catalog_verify_app_credentials)
{
    /* No user token: this is itself a credential check (auth calls it and throttles it). */
    if (!*req->app_id || strlen(req->app_id) > 128)
        return rpc_violation(call, "appId", "must be 1 to 128 characters");
    if (!*req->app_secret || strlen(req->app_secret) > SECRET_TEXT_MAX)
        return rpc_violation(call, "appSecret", "must be 1 to %d characters", SECRET_TEXT_MAX);
    const catalog_ctx *ctx = rpc_service_ctx(call);
    store_credentials cr;
    cf_code code = store_credentials_get(rpc_worker(call), rpc_arena(call), req->app_id, &cr);
    if (code != CF_OK && code != CF_NOT_FOUND)
        return catalog_store_error(call, code, "loading the app");
    bool found = code == CF_OK;
    if (!found) /* compare against something anyway: an unknown id costs what a wrong secret does */
        memset(&cr, 0, sizeof cr);
    unsigned char presented[STORE_HASH_LEN];
    catalog_sha256(req->app_secret, strlen(req->app_secret), presented);
    /* both comparisons always run, in constant time (the hash is public-length) */
    bool current = CRYPTO_memcmp(presented, cr.hash, STORE_HASH_LEN) == 0;
    bool previous = CRYPTO_memcmp(presented, cr.prev_hash, STORE_HASH_LEN) == 0;
    previous = previous && cr.has_prev && catalog_now(ctx) < cr.prev_until_s;
    if (!found || !(current || previous) || !cr.app.is_active)
        return rpc_error(call, CF_UNAUTHENTICATED, "invalid app credentials");

    resp->app = rpc_alloc(call, sizeof *resp->app);
    catalog__v1__app__init(resp->app);
    code = catalog_fill_app(call, &cr.app, resp->app);
    if (code != CF_OK)
        return code;
    resp->token_generation = cr.token_generation;
    /* the manifest was checked at publication: permissions is absent or a list of scopes */
    const Google__Protobuf__Struct *m = resp->app->manifest;
    for (size_t i = 0; i < m->n_fields; i++) {
        const Google__Protobuf__Value *v = m->fields[i]->value;
        if (strcmp(m->fields[i]->key, "permissions") != 0 || !v ||
            v->kind_case != GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE)
            continue;
        const Google__Protobuf__ListValue *l = v->list_value;
        resp->permissions = rpc_alloc(call, (l->n_values ? l->n_values : 1) * sizeof(char *));
        for (size_t j = 0; j < l->n_values; j++)
            if (l->values[j]->kind_case == GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE)
                resp->permissions[resp->n_permissions++] = l->values[j]->string_value;
    }
    return CF_OK;
}
