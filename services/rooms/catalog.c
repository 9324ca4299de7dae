/* catalog.c — rooms' two questions to catalog.v1: "what is this active app's current manifest
 * version?" (GetApp) and "are these settings valid for that version?" (ValidateSettings). The
 * caller's `authorization` is forwarded (catalog decides what the caller may see); the deadline
 * and request id propagate through rpc_ccall_init(&cc, call). */
#include "rooms.h"
#include "catalog/v1/catalog.pb-c.h"

#include <string.h>

/* A catalog failure as rooms' answer: no connection (UNAVAILABLE) and an expired deadline keep
 * their codes; NOT_FOUND and refusals name the app; anything else is INTERNAL. */
static cf_code catalog_failure(rpc_call *call, const rpc_ccall *cc)
{
    switch (cc->code) {
    case CF_UNAVAILABLE:
        return rpc_error(call, CF_UNAVAILABLE, "catalog unavailable: %s", cc->message);
    case CF_DEADLINE_EXCEEDED:
        return rpc_error(call, CF_DEADLINE_EXCEEDED, "catalog did not answer in time");
    case CF_NOT_FOUND:
        return rpc_violation(call, "appId", "app not found");
    case CF_INVALID_ARGUMENT:
        return rpc_violation(call, "appId", "%s", cc->message);
    case CF_FAILED_PRECONDITION: /* catalog's details come along */
        return rpc_relay(call, cc, "catalog", "appId");
    case CF_PERMISSION_DENIED:
    case CF_UNAUTHENTICATED:
        return rpc_error(call, cc->code, "catalog: %s", cc->message);
    default:
        return rpc_error(call, CF_INTERNAL, "catalog answered %s: %s", cf_code_name(cc->code),
                         cc->message);
    }
}

static void cc_start(rpc_call *call, rpc_ccall *cc)
{
    const rooms_ctx *ctx = rpc_service_ctx(call);
    rpc_ccall_init(cc, call);
    cc->timeout_ms = ctx->catalog_timeout_ms;
    const char *auth = rpc_md_get(call, "authorization");
    if (auth)
        rpc_ccall_md(cc, "authorization", auth);
}

cf_code rooms_catalog_current_version(rpc_call *call, const char *app_id, char **version)
{
    const rooms_ctx *ctx = rpc_service_ctx(call);
    Catalog__V1__GetAppRequest req = CATALOG__V1__GET_APP_REQUEST__INIT;
    req.app_id = (char *)app_id;
    rpc_ccall cc;
    cc_start(call, &cc);
    catalog__v1__catalog__get_app(
        rpc_client_service(ctx->catalog, &catalog__v1__catalog__descriptor), &req, NULL, &cc);
    cf_code code;
    if (cc.code != CF_OK) {
        code = catalog_failure(call, &cc);
    } else {
        const Catalog__V1__App *app = (const Catalog__V1__App *)cc.response;
        if (!app->is_active)
            code = rpc_refuse(call, CF_FAILED_PRECONDITION, "appId",
                              "app %s is not active: it cannot be attached to new rooms", app_id);
        else if (app->deleting)
            code =
                rpc_refuse(call, CF_FAILED_PRECONDITION, "appId",
                           "app %s is being deleted: it cannot be attached to new rooms", app_id);
        else if (!app->manifest_version || !*app->manifest_version)
            code = rpc_error(call, CF_INTERNAL, "catalog returned an app without a version");
        else {
            *version = rpc_strdup(call, app->manifest_version);
            code = CF_OK;
        }
    }
    rpc_ccall_free(&cc);
    return code;
}

cf_code rooms_catalog_validate(rpc_call *call, const char *app_id, const char *version,
                               const Google__Protobuf__Struct *settings)
{
    const rooms_ctx *ctx = rpc_service_ctx(call);
    Catalog__V1__ValidateSettingsRequest req = CATALOG__V1__VALIDATE_SETTINGS_REQUEST__INIT;
    Google__Protobuf__Struct empty = GOOGLE__PROTOBUF__STRUCT__INIT;
    req.app_id = (char *)app_id;
    req.version = (char *)version;
    req.settings = settings ? (Google__Protobuf__Struct *)settings : &empty;
    rpc_ccall cc;
    cc_start(call, &cc);
    catalog__v1__catalog__validate_settings(
        rpc_client_service(ctx->catalog, &catalog__v1__catalog__descriptor), &req, NULL, &cc);
    cf_code code = CF_OK;
    if (cc.code != CF_OK) {
        code = catalog_failure(call, &cc);
    } else {
        const Catalog__V1__ValidateSettingsResponse *v =
            (const Catalog__V1__ValidateSettingsResponse *)cc.response;
        if (!v->valid) {
            for (size_t i = 0; i < v->n_errors; i++) {
                /* catalog names paths from "settings"; ours start at the request field */
                const char *p = v->errors[i]->path;
                const char *rest = strncmp(p, "settings", 8) == 0 ? p + 8 : p;
                char *field = rpc_printf(call, "appSettings%s%s",
                                         *rest && *rest != '.' && *rest != '[' ? "." : "", rest);
                rpc_violation(call, field, "%s", v->errors[i]->message);
            }
            if (v->n_errors == 0)
                rpc_violation(call, "appSettings", "invalid for version %s", version);
            code = CF_INVALID_ARGUMENT;
        }
    }
    rpc_ccall_free(&cc);
    return code;
}
