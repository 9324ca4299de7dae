/* scopes.c — what app tokens may call on auth.v1.Auth (docs/auth.md, "App scopes"): only the
 * methods that act for no one (login steps, refresh, JWKS, app tokens, the revocation list); the
 * user methods (profile, sessions, logout) are not listed, so an app token is refused there. */
#include "auth.h"
#include "auth/v1/auth.pb-c.h"

static const rpc_scope_rule rules[] = {
    {"ListProviders", RPC_SCOPE_OPEN},
    {"BeginLogin", RPC_SCOPE_OPEN},
    {"FinishLogin", RPC_SCOPE_OPEN},
    {"Refresh", RPC_SCOPE_OPEN},
    {"IssueAppToken", RPC_SCOPE_OPEN},
    {"GetJwks", RPC_SCOPE_OPEN},
    {"ListRevokedTokens", RPC_SCOPE_OPEN},
    /* e-mail and password (rpc_password.c): login steps too */
    {"PasswordSignUp", RPC_SCOPE_OPEN},
    {"PasswordVerify", RPC_SCOPE_OPEN},
    {"PasswordLogin", RPC_SCOPE_OPEN},
    {"PasswordResetStart", RPC_SCOPE_OPEN},
    {"PasswordResetFinish", RPC_SCOPE_OPEN},
    /* phone sign-in (phone.c) */
    {"StartPhoneLogin", RPC_SCOPE_OPEN},
    {"FinishPhoneLogin", RPC_SCOPE_OPEN},
};

const rpc_scope_table auth_scopes = {&auth__v1__auth__descriptor, rules,
                                     sizeof rules / sizeof *rules};

cf_code auth_require_user(rpc_call *call)
{
    cf_code code = rpc_require_caller(call);
    if (code != CF_OK)
        return code;
    if (rpc_caller(call)->is_app)
        return rpc_error(call, CF_PERMISSION_DENIED, "not for app tokens");
    return CF_OK;
}
