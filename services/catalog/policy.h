/* policy.h — the catalog's domain rules as pure functions (no I/O; patterns aside, no allocation):
 * who may do what with an app, what a sound manifest is, which names and keys are acceptable.
 * Handlers call these; unit tests cover them table by table. */
#ifndef CONFETTI_CATALOG_POLICY_H
#define CONFETTI_CATALOG_POLICY_H

#include <stdbool.h>
#include <jansson.h>

#include "authn/authn.h"
#include "rpc/rpc.h"
#include "jsonschema.h"
#include "semver.h"

#define CATALOG_NAME_MAX        100                     /* app and manifest names, in characters */
#define CATALOG_SCOPE_MAX       64                      /* one permission scope, in bytes */
#define CATALOG_PERMISSIONS_MAX 64                      /* scopes per manifest */
#define CATALOG_IDEMPOTENCY_MAX RPC_IDEMPOTENCY_KEY_MAX /* an idempotency-key, in bytes */
#define CATALOG_SECRET_BYTES    32                      /* 256-bit app secrets */

/* The parts of a sound manifest the service uses; pointers borrow from the checked tree. */
typedef struct catalog_manifest {
    const char *name;
    const char *version;
    semver sv;                     /* version, parsed (points into the tree's string) */
    const json_t *permissions;     /* array of scope strings, or NULL when absent */
    const json_t *settings_schema; /* object */
} catalog_manifest;

/* Checks a manifest (SPEC §3): an object with `name` (1..CATALOG_NAME_MAX characters, no
 * control characters), `version` (semver 2.0), optional `permissions` (at most
 * CATALOG_PERMISSIONS_MAX distinct scopes, see catalog_scope_ok) and `settingsSchema` (a schema
 * of the jsonschema subset describing an object). Other top-level keys are kept as they are.
 * Every problem is reported through r with its path under root ("manifest.version"). The
 * schema's patterns are compiled into pr's cache (jsonschema_check). On success fills out and
 * returns true. */
bool catalog_manifest_check(const json_t *manifest, const char *root, catalog_manifest *out,
                            pattern_run *pr, jsonschema_report *r);

/* App names: 1..CATALOG_NAME_MAX characters of valid UTF-8 without control characters. On
 * false, *why (static text) says what is wrong. */
bool catalog_name_ok(const char *name, const char **why);

/* A permission scope: a lower-case letter, then lower-case letters, digits and . _ : -,
 * at most CATALOG_SCOPE_MAX bytes ("rooms:read", "winners.draw"). */
bool catalog_scope_ok(const char *scope);

/* An idempotency-key: 1..CATALOG_IDEMPOTENCY_MAX printable ASCII characters. */
bool catalog_idempotency_key_ok(const char *key);

/* Rights (SPEC §3 and docs/catalog.md). caller NULL = not signed in. */
/* Registering an app: any signed-in user; not an app token (apps do not own apps). */
bool catalog_can_register(const authn_identity *caller);
/* Changing an app (publish, activate, deactivate, regenerate, delete): its owner or a
 * platform admin; never an app token. */
bool catalog_can_change(const authn_identity *caller, const char *owner_user_id);
/* Seeing an app: active ones to every signed-in caller, inactive ones to its owner and
 * admins only (others are told NOT_FOUND). */
bool catalog_can_see(const authn_identity *caller, const char *owner_user_id, bool is_active);

#endif
