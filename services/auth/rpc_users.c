/* rpc_users.c — GetMe, UpdateMe (FieldMask: name, avatar_url), DeleteMe (soft delete, every
 * session revoked and its access token blacklisted), GetUser (admins, or oneself). */
#include "base/name.h"
#include "auth.h"
#include "store.h"
#include "confetti_proto_handlers.h"
#include "rpc/rpc.h"

#include <string.h>

#define PROFILE_FIELD_MAX 1024
#define USER_NAME_MAX     200 /* characters */

static cf_code get_user(rpc_call *call, const char *id, Auth__V1__User *resp)
{
    cf_code code = store_user_get(rpc_worker(call), rpc_arena(call), id, resp);
    if (code == CF_NOT_FOUND)
        return rpc_error(call, code, "user not found");
    return code == CF_OK ? CF_OK : rpc_error(call, code, "cannot read the user");
}

RPC_HANDLER(rpc_auth_get_me)
{
    (void)req;
    cf_code code = auth_require_user(call);
    return code != CF_OK ? code : get_user(call, rpc_caller(call)->sub, resp);
}

RPC_HANDLER(rpc_auth_update_me)
{
    cf_code code = auth_require_user(call);
    if (code != CF_OK)
        return code;
    if (!req->update_mask || req->update_mask->n_paths == 0)
        return rpc_violation(call, "updateMask", "must name at least one field");
    const char *name = NULL, *avatar = NULL;
    const Auth__V1__User *u = req->user;
    for (size_t i = 0; i < req->update_mask->n_paths; i++) {
        const char *p = req->update_mask->paths[i];
        if (strcmp(p, "name") == 0)
            name = u && u->name ? u->name : "";
        else if (strcmp(p, "avatar_url") == 0 || strcmp(p, "avatarUrl") == 0)
            avatar = u && u->avatar_url ? u->avatar_url : "";
        else
            return rpc_violation(call, "updateMask", "unknown or read-only field \"%.64s\"", p);
    }
    const char *why;
    char *canon = NULL; /* the one rule for names (base/name.h): not blank, trimmed, NFC */
    if (name && !cf_name_check(rpc_arena(call), name, USER_NAME_MAX, &canon, &why))
        return rpc_violation(call, "user.name", "%s", why);
    name = canon;
    if (avatar && strlen(avatar) > PROFILE_FIELD_MAX)
        return rpc_violation(call, "user.avatarUrl", "at most %d bytes", PROFILE_FIELD_MAX);
    if (avatar && *avatar && strncmp(avatar, "https://", 8) != 0)
        return rpc_violation(call, "user.avatarUrl", "must be an https:// URL");
    auth_ctx *ctx = rpc_service_ctx(call);
    const char *me = rpc_caller(call)->sub;
    code = store_user_update(rpc_worker(call), me, name, avatar, auth_now(ctx));
    if (code == CF_NOT_FOUND)
        return rpc_error(call, code, "user not found");
    if (code != CF_OK)
        return rpc_error(call, code, "cannot update the user");
    return get_user(call, me, resp);
}

RPC_HANDLER(rpc_auth_delete_me)
{
    (void)req;
    (void)resp;
    cf_code code = auth_require_user(call);
    if (code != CF_OK)
        return code;
    auth_ctx *ctx = rpc_service_ctx(call);
    const authn_identity *me = rpc_caller(call);
    audit_ctx au = audit_ctx_of(call);
    code = store_user_delete(rpc_worker(call), me->sub, auth_now(ctx), ctx->cfg->access_ttl / 1000,
                             &au);
    if (code != CF_OK)
        return rpc_error(call, code, "cannot delete the user");
    /* The calling token too (its session's token is blacklisted already, unless it is an older
     * one still within its lifetime). */
    if (*me->jti) {
        store_blacklist_add(rpc_worker(call), me->jti, me->sub, NULL, "user_deleted", me->exp);
        if (svc_verifier(ctx->rt))
            authn_verifier_revoke(svc_verifier(ctx->rt), me->jti, me->exp);
    }
    auth_sync_revocations(ctx, rpc_worker(call), auth_now(ctx));
    return CF_OK;
}

RPC_HANDLER(rpc_auth_get_user)
{
    cf_code code = rpc_require_caller(call);
    if (code != CF_OK)
        return code;
    const authn_identity *me = rpc_caller(call);
    if (!*req->user_id || strlen(req->user_id) > 64)
        return rpc_violation(call, "userId", "must be 1-64 characters");
    if (!me->is_admin && strcmp(me->sub, req->user_id) != 0)
        return rpc_error(call, CF_PERMISSION_DENIED, "admins only");
    return get_user(call, req->user_id, resp);
}
