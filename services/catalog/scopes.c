/* scopes.c — what app tokens may call on catalog.v1.Catalog (docs/auth.md, "App scopes"); the
 * dispatcher checks it before any handler, and catalog's own rules (policy.c: an app changes
 * nothing, sees active apps) apply after. GetApp and ValidateSettings are also granted by
 * rooms:write: rooms asks them with the app's own token when the app creates or edits a room
 * with an app attached. VerifyAppCredentials acts for no one (it is itself a credential check). */
#include "catalog.h"
#include "catalog/v1/catalog.pb-c.h"

static const rpc_scope_rule rules[] = {
    {"GetApp", "apps:read rooms:write"},
    {"ListApps", "apps:read"},
    {"ListManifests", "apps:read"},
    {"GetManifest", "apps:read"},
    {"ValidateSettings", "apps:read rooms:write"},
    {"VerifyAppCredentials", RPC_SCOPE_OPEN},
};

const rpc_scope_table catalog_scopes = {&catalog__v1__catalog__descriptor, rules,
                                        sizeof rules / sizeof *rules};
