/* rpc_tokens.c — Refresh (rotation, grace, reuse detection), Logout, IssueAppToken, GetJwks,
 * ListRevokedTokens, and the signing of access tokens. */
#include "auth.h"
#include "store.h"
#include "base/cuid.h"
#include "base/log.h"
#include "catalog/v1/catalog.pb-c.h"
#include "confetti_proto_handlers.h"
#include "page/page.h"
#include "rpc/client.h"
#include "rpc/rpc.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest refresh token / app credential looked at. */
#define SECRET_PARAM_MAX 256

cf_code auth_sign_access(auth_ctx *ctx, const char *sub, const char *sid, const char *jti,
                         int64_t iat, bool admin, char **token)
{
    static const char *const admin_role[] = {"admin"};
    const svc_common_config *sc = svc_config(ctx->rt);
    authn_claims c = {.iss = sc->auth_issuer,
                      .aud = sc->auth_audience,
                      .sub = sub,
                      .sid = sid,
                      .jti = jti,
                      .iat = iat,
                      .ttl_seconds = ctx->cfg->access_ttl / 1000,
                      .roles = admin ? admin_role : NULL,
                      .nroles = admin ? 1 : 0};
    return auth_keys_sign(ctx->keys, &c, token);
}

static const char *client_ip(const Auth__V1__ClientInfo *c)
{
    return c && c->ip_address ? c->ip_address : "";
}

RPC_HANDLER(rpc_auth_refresh)
{
    auth_ctx *ctx = rpc_service_ctx(call);
    int64_t now = auth_now(ctx);
    /* the refresh token is itself the secret: its source alone is counted (throttle.h) */
    char src[64];
    throttle_source(client_ip(req->client), src);
    throttle_key tk = {.kind = "refresh", .source = src, .credential = ""};
    cf_code gate = auth_throttle_gate(call, ctx, &tk);
    if (gate != CF_OK)
        return gate;
    size_t len = strlen(req->refresh_token);
    if (len == 0 || len > SECRET_PARAM_MAX)
        return rpc_violation(call, "refreshToken", "must be 1-%d characters", SECRET_PARAM_MAX);

    char next[44], old_hash[65], new_hash[65], jti[64];
    auth_derive(ctx->secret, "refresh", req->refresh_token, next);
    auth_sha256_hex(req->refresh_token, old_hash);
    auth_sha256_hex(next, new_hash);
    cuid_new(jti);
    const Auth__V1__ClientInfo *cl = req->client;
    store_rotate r = {.old_hash = old_hash,
                      .new_hash = new_hash,
                      .new_jti = jti,
                      .ip_address = client_ip(cl),
                      .user_agent = cl && cl->user_agent ? cl->user_agent : "",
                      .now = now,
                      .refresh_ttl = ctx->cfg->refresh_ttl / 1000,
                      .now_ms = auth_now_ms(ctx),
                      .grace_ms = ctx->cfg->refresh_grace,
                      .access_ttl = ctx->cfg->access_ttl / 1000};
    audit_ctx au = audit_ctx_of(call);
    r.au = &au;
    cf_code code = store_refresh(rpc_worker(call), &r);
    if (code != CF_OK)
        return rpc_error(call, code, "refresh failed");
    int64_t iat = now;
    switch (r.result) {
    case ROTATE_OK:
        break;
    case ROTATE_GRACE:
        /* The same pair as the rotation answered: the successor token (derived again) and the
         * access token with the same jti and iat (RS256 signatures are deterministic). */
        if (strcmp(new_hash, r.current_hash) != 0) {
            throttle_failed(ctx->throttle, &tk, now);
            return rpc_error(call, CF_UNAUTHENTICATED, "refresh token not valid");
        }
        snprintf(jti, sizeof jti, "%s", r.access_jti);
        iat = r.access_iat;
        break;
    case ROTATE_REUSED:
        auth_revoke_session_here(ctx, r.session_id, now);
        log_rid(LOG_WARN, rpc_request_id(call), "refresh token reuse: session %s revoked",
                r.session_id);
        throttle_failed(ctx->throttle, &tk, now);
        return rpc_error(call, CF_UNAUTHENTICATED, "refresh token reused; session revoked");
    case ROTATE_UNKNOWN:
    default:
        throttle_failed(ctx->throttle, &tk, now);
        return rpc_error(call, CF_UNAUTHENTICATED, "refresh token not valid");
    }
    char *tok = NULL;
    if (auth_sign_access(ctx, r.user_id, r.session_id, jti, iat, r.is_admin, &tok) != CF_OK)
        return rpc_error(call, CF_INTERNAL, "signing failed");
    resp->access_token = rpc_strdup(call, tok);
    free(tok);
    resp->refresh_token = rpc_strdup(call, next);
    resp->expires_in = iat + ctx->cfg->access_ttl / 1000 - now;
    resp->token_type = "Bearer";
    resp->session_id = rpc_strdup(call, r.session_id);
    return CF_OK;
}

RPC_HANDLER(rpc_auth_logout)
{
    (void)req;
    (void)resp;
    cf_code code = auth_require_user(call);
    if (code != CF_OK)
        return code;
    auth_ctx *ctx = rpc_service_ctx(call);
    const authn_identity *me = rpc_caller(call);
    int64_t now = auth_now(ctx);
    db_conn *db = rpc_worker(call);
    if (*me->sid) {
        audit_ctx au = audit_ctx_of(call);
        code = store_session_revoke(db, me->sid, me->sub, "logout", now,
                                    ctx->cfg->access_ttl / 1000, &au);
        if (code != CF_OK && code != CF_NOT_FOUND)
            return rpc_error(call, code, "cannot revoke the session");
    }
    if (*me->jti) {
        code =
            store_blacklist_add(db, me->jti, me->sub, *me->sid ? me->sid : NULL, "logout", me->exp);
        if (code != CF_OK)
            return rpc_error(call, code, "cannot revoke the token");
        if (svc_verifier(ctx->rt))
            authn_verifier_revoke(svc_verifier(ctx->rt), me->jti, me->exp);
    }
    auth_revoke_session_here(ctx, me->sid, now);
    return CF_OK;
}

RPC_HANDLER(rpc_auth_issue_app_token)
{
    auth_ctx *ctx = rpc_service_ctx(call);
    int64_t now = auth_now(ctx);
    if (!*req->app_id || strlen(req->app_id) > 128)
        return rpc_violation(call, "appId", "must be 1-128 characters");
    if (!*req->app_secret || strlen(req->app_secret) > SECRET_PARAM_MAX)
        return rpc_violation(call, "appSecret", "must be 1-%d characters", SECRET_PARAM_MAX);
    /* counted per source and per (source, app id): guesses from one address never slow the
     * owner at another (issue 24 item 2; throttle.h) */
    char src[64];
    throttle_source(client_ip(req->client), src);
    throttle_key tk = {.kind = "app", .source = src, .credential = req->app_id};
    cf_code gate = auth_throttle_gate(call, ctx, &tk);
    if (gate != CF_OK)
        return gate;
    if (!ctx->catalog)
        return rpc_error(call, CF_UNAVAILABLE, "catalog not configured");

    Catalog__V1__VerifyAppCredentialsRequest in = CATALOG__V1__VERIFY_APP_CREDENTIALS_REQUEST__INIT;
    in.app_id = req->app_id;
    in.app_secret = req->app_secret;
    rpc_ccall cc;
    rpc_ccall_init(&cc, call);
    catalog__v1__catalog__verify_app_credentials(
        rpc_client_service(ctx->catalog, &catalog__v1__catalog__descriptor), &in, NULL, &cc);
    cf_code code = cc.code;
    char *scope = NULL, *sid = NULL;
    if (code == CF_OK) {
        const Catalog__V1__VerifyAppCredentialsResponse *v = (const void *)cc.response;
        if (!v->app || !v->app->is_active) {
            code = CF_UNAUTHENTICATED;
        } else {
            /* the credential generation: catalog's app.tokens_revoked names it when it ends */
            sid = rpc_printf(call, "app:%s:%lld", req->app_id, (long long)v->token_generation);
            scope = rpc_strdup(call, "");
            for (size_t i = 0; i < v->n_permissions; i++)
                scope = rpc_printf(call, "%s%s%s", scope, i ? " " : "", v->permissions[i]);
        }
    }
    rpc_ccall_free(&cc);
    if (code == CF_UNAUTHENTICATED || code == CF_NOT_FOUND || code == CF_PERMISSION_DENIED) {
        throttle_failed(ctx->throttle, &tk, now);
        return rpc_error(call, CF_UNAUTHENTICATED, "app credentials not valid");
    }
    if (code != CF_OK)
        return rpc_error(call, CF_UNAVAILABLE, "catalog unavailable");
    throttle_succeeded(ctx->throttle, &tk, now);

    const svc_common_config *sc = svc_config(ctx->rt);
    char *sub = rpc_printf(call, "app:%s", req->app_id), *tok = NULL;
    authn_claims c = {.iss = sc->auth_issuer,
                      .aud = sc->auth_audience,
                      .sub = sub,
                      .sid = sid,
                      .iat = now,
                      .ttl_seconds = ctx->cfg->app_ttl / 1000,
                      .scope = scope};
    if (auth_keys_sign(ctx->keys, &c, &tok) != CF_OK)
        return rpc_error(call, CF_INTERNAL, "signing failed");
    resp->access_token = rpc_strdup(call, tok);
    free(tok);
    resp->expires_in = ctx->cfg->app_ttl / 1000;
    resp->token_type = "Bearer";
    resp->scope = scope;
    return CF_OK;
}

static char *jstr(rpc_call *call, json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? rpc_strdup(call, v) : "";
}

RPC_HANDLER(rpc_auth_get_jwks)
{
    (void)req;
    auth_ctx *ctx = rpc_service_ctx(call);
    json_t *doc = json_loads(auth_keys_jwks(ctx->keys), 0, NULL);
    json_t *keys = json_object_get(doc, "keys");
    resp->keys = rpc_alloc(call, (json_array_size(keys) + 1) * sizeof *resp->keys);
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k)
    {
        Auth__V1__Jwk *j = rpc_alloc(call, sizeof *j);
        auth__v1__jwk__init(j);
        j->kty = jstr(call, k, "kty");
        j->kid = jstr(call, k, "kid");
        j->alg = jstr(call, k, "alg");
        j->use = jstr(call, k, "use");
        j->n = jstr(call, k, "n");
        j->e = jstr(call, k, "e");
        j->crv = jstr(call, k, "crv");
        j->x = jstr(call, k, "x");
        j->y = jstr(call, k, "y");
        resp->keys[resp->n_keys++] = j;
    }
    json_decref(doc);
    resp->max_age_seconds = (int32_t)(ctx->cfg->jwks_max_age / 1000);
    return CF_OK;
}

RPC_HANDLER(rpc_auth_list_revoked_tokens)
{
    auth_ctx *ctx = rpc_service_ctx(call);
    int size = 0;
    if (page_size(req->page_size, &size) != CF_OK)
        return rpc_violation(call, "pageSize", "must not be negative");
    char *parts[2] = {"", ""};
    cf_code code = page_token_decode(rpc_arena(call), req->page_token, "revoked", parts, 2);
    if (code == CF_INVALID_ARGUMENT)
        return rpc_violation(call, "pageToken", "is not valid for this list");
    Auth__V1__RevokedToken **rows;
    char **ids;
    size_t n = 0;
    code = store_revoked_list(rpc_worker(call), rpc_arena(call), auth_now(ctx), parts[0], parts[1],
                              size, &rows, &ids, &n);
    if (code != CF_OK)
        return rpc_error(call, code, "cannot list revoked tokens");
    if (n > (size_t)size) {
        n = (size_t)size;
        const char *key[] = {rpc_printf(call, "%lld", (long long)rows[n - 1]->expires_at->seconds),
                             ids[n - 1]};
        resp->next_page_token = page_token_encode(rpc_arena(call), "revoked", key, 2);
    }
    resp->tokens = rows;
    resp->n_tokens = n;
    return CF_OK;
}
