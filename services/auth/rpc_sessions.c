/* rpc_sessions.c — ListSessions (the caller's live sessions, the current one marked),
 * RevokeSession (one's own; admins any) and RevokeAllSessions ("sign out everywhere"). */
#include "auth.h"
#include "store.h"
#include "confetti_proto_handlers.h"
#include "page/page.h"
#include "rpc/rpc.h"

#include <string.h>

RPC_HANDLER(rpc_auth_list_sessions)
{
    cf_code code = rpc_require_caller(call);
    if (code != CF_OK)
        return code;
    const authn_identity *me = rpc_caller(call);
    if (me->is_app)
        return rpc_error(call, CF_PERMISSION_DENIED, "not for app tokens");
    auth_ctx *ctx = rpc_service_ctx(call);
    int size = 0;
    if (page_size(req->page_size, &size) != CF_OK)
        return rpc_violation(call, "pageSize", "must not be negative");
    char *parts[2] = {"", ""};
    code = page_token_decode(rpc_arena(call), req->page_token, me->sub, parts, 2);
    if (code == CF_INVALID_ARGUMENT)
        return rpc_violation(call, "pageToken", "is not valid for this list");
    Auth__V1__Session **rows;
    char **keys;
    size_t n = 0;
    code = store_sessions_list(rpc_worker(call), rpc_arena(call), me->sub, auth_now(ctx), parts[0],
                               parts[1], size, &rows, &keys, &n);
    if (code != CF_OK)
        return rpc_error(call, code, "cannot list sessions");
    if (n > (size_t)size) {
        n = (size_t)size;
        const char *key[] = {keys[n - 1], rows[n - 1]->id};
        resp->next_page_token = page_token_encode(rpc_arena(call), me->sub, key, 2);
    }
    for (size_t i = 0; i < n; i++)
        rows[i]->current = strcmp(rows[i]->id, me->sid) == 0;
    resp->sessions = rows;
    resp->n_sessions = n;
    return CF_OK;
}

RPC_HANDLER(rpc_auth_revoke_session)
{
    (void)resp;
    cf_code code = rpc_require_caller(call);
    if (code != CF_OK)
        return code;
    const authn_identity *me = rpc_caller(call);
    if (me->is_app)
        return rpc_error(call, CF_PERMISSION_DENIED, "not for app tokens");
    if (!*req->session_id || strlen(req->session_id) > 64)
        return rpc_violation(call, "sessionId", "must be 1-64 characters");
    auth_ctx *ctx = rpc_service_ctx(call);
    /* Revoking an already revoked session succeeds (safe to repeat). */
    audit_ctx au = audit_ctx_of(call);
    code = store_session_revoke(rpc_worker(call), req->session_id, me->is_admin ? NULL : me->sub,
                                "revoked_by_user", auth_now(ctx), ctx->cfg->access_ttl / 1000, &au);
    if (code == CF_NOT_FOUND)
        return rpc_error(call, code, "session not found");
    if (code != CF_OK)
        return rpc_error(call, code, "cannot revoke the session");
    auth_revoke_session_here(ctx, req->session_id, auth_now(ctx));
    return CF_OK;
}

RPC_HANDLER(rpc_auth_revoke_all_sessions)
{
    cf_code code = rpc_require_caller(call);
    if (code != CF_OK)
        return code;
    const authn_identity *me = rpc_caller(call);
    if (me->is_app)
        return rpc_error(call, CF_PERMISSION_DENIED, "not for app tokens");
    auth_ctx *ctx = rpc_service_ctx(call);
    int revoked = 0;
    audit_ctx au = audit_ctx_of(call);
    code = store_sessions_revoke_all(rpc_worker(call), me->sub, req->keep_current ? me->sid : "",
                                     auth_now(ctx), ctx->cfg->access_ttl / 1000, &revoked, &au);
    if (code != CF_OK)
        return rpc_error(call, code, "cannot revoke the sessions");
    auth_sync_revocations(ctx, rpc_worker(call), auth_now(ctx));
    resp->revoked = revoked;
    return CF_OK;
}
