/* catalog.h — confetti-catalog's service definition and what its handlers share: the config,
 * the service context (made by init, read by every handler), the rooms hook, and small helpers
 * turning store rows into API messages. Internal to services/catalog and its tests. */
#ifndef CONFETTI_CATALOG_CATALOG_H
#define CONFETTI_CATALOG_CATALOG_H

#include <stdbool.h>
#include <stdint.h>

#include "svc/svc.h"
#include "rpc/rpc.h"
#include "base/clock.h"
#include <jansson.h>
#include "catalog/v1/catalog.pb-c.h"
#include "store.h"
#include "pattern.h"
#include "rpc/ident.h"

/* The service as svc_main and the tests run it (built on first call; thread-safe). */
const svc_def *catalog_service_def(void);

/* What app tokens may call on the service (scopes.c; docs/auth.md, "App scopes"). */
extern const rpc_scope_table catalog_scopes;

/* The catalog's own keys (deploy/config/catalog.yaml; env CONFETTI_CATALOG_*, CONFETTI_ROOMS_*). */
typedef struct catalog_config {
    int64_t secret_grace;    /* catalog.secret_grace (ms): old secret's validity after a rotation */
    int64_t idempotency_ttl; /* catalog.idempotency_ttl (ms): how long a key is remembered */
    int64_t max_document;    /* catalog.max_document (bytes): a manifest's or settings' JSON */
    int64_t pattern_steps;   /* catalog.pattern_steps: pattern matching steps per validation */
    int64_t pattern_cpu;     /* catalog.pattern_cpu (ms): pattern matching CPU per validation */
    int64_t pattern_cache;   /* catalog.pattern_cache (bytes): compiled patterns kept */
    cfg_strlist rooms_urls;  /* rooms.urls: where to ask whether rooms use an app; empty = don't */
} catalog_config;

/* DeleteApp's question to the rooms service: does any live room use this app?
 *
 * Contract for implementations: app_in_use runs on an RPC worker thread and may block (it is an
 * RPC to rooms); `call` is the DeleteApp call being served, so a client call made with
 * rpc_ccall_init(&cc, call) inherits its deadline and request id. It sets *in_use and returns
 * CF_OK, or returns the failure (CF_UNAVAILABLE / CF_DEADLINE_EXCEEDED when rooms cannot be
 * asked), in which case DeleteApp fails with that code and deletes nothing. It must be
 * thread-safe (workers call it concurrently). free releases the hook at service stop.
 * `none` (rooms.urls empty) answers "not in use" without asking anyone. */
typedef struct catalog_rooms {
    cf_code (*app_in_use)(struct catalog_rooms *self, rpc_call *call, const char *app_id,
                          bool *in_use);
    void (*free)(struct catalog_rooms *self);
} catalog_rooms;

/* The hook backed by rooms.v1.Rooms/AppInUse at urls (rooms_client.c). */
cf_code catalog_rooms_client_new(const cfg_strlist *urls, rpc_ident *ident, catalog_rooms **out,
                                 char *err, size_t errlen);

/* The handlers' shared state (rpc_service_ctx), immutable while serving. */
typedef struct catalog_ctx {
    const cf_clock *clock; /* svc_clock: every time rule reads it */
    int64_t secret_grace_s;
    int64_t idempotency_ttl_s; /* catalog.idempotency_ttl */
    int64_t max_document;
    catalog_rooms *rooms;
    pattern_cache *patterns; /* compiled `pattern`s of every schema, shared by the workers */
} catalog_ctx;

/* Time now by the service clock, epoch seconds. */
int64_t catalog_now(const catalog_ctx *ctx);

/* --- handler helpers (rpc_common.c) --- */

/* Checks app_id's shape (INVALID_ARGUMENT on "appId" if empty or too long). */
cf_code catalog_check_app_id(rpc_call *call, const char *app_id);
/* Loads an app the signed-in caller may see: UNAUTHENTICATED without a caller, NOT_FOUND when
 * missing, deleted, or inactive and not the caller's (nor the caller an admin). */
cf_code catalog_load_visible(rpc_call *call, const char *app_id, store_app *out);
/* Loads an app the caller may change: as above, then PERMISSION_DENIED unless owner or admin. */
cf_code catalog_load_changeable(rpc_call *call, const char *app_id, store_app *out);
/* Fills an App message from a row (arena allocations). */
cf_code catalog_fill_app(rpc_call *call, const store_app *row, Catalog__V1__App *out);
/* JSON text → Struct in the call's arena; CF_INTERNAL if the stored text is not an object. */
cf_code catalog_struct_from_text(rpc_call *call, const char *text, Google__Protobuf__Struct **out);
/* A Timestamp in the call's arena from epoch microseconds / seconds. */
Google__Protobuf__Timestamp *catalog_ts_us(rpc_call *call, int64_t us);
Google__Protobuf__Timestamp *catalog_ts_s(rpc_call *call, int64_t s);
/* A Struct as a JSON tree (new reference; NULL struct → {}), refusing documents over the
 * configured size: INVALID_ARGUMENT on field, with the size in the message. */
cf_code catalog_struct_json(rpc_call *call, const char *field, const Google__Protobuf__Struct *s,
                            json_t **out);
/* Loads a live app for a read of a pinned version (GetManifest/ValidateSettings naming a
 * version): any signed-in caller, active or not, so rooms locked to a version keep working after
 * the app is deactivated (docs/catalog.md). UNAUTHENTICATED / NOT_FOUND as above. */
cf_code catalog_load_pinned(rpc_call *call, const char *app_id, store_app *out);
/* The answer for a store failure: the code with a generic message (INTERNAL is logged). */
cf_code catalog_store_error(rpc_call *call, cf_code code, const char *what);
/* SHA-256 of n bytes. */
void catalog_sha256(const void *data, size_t n, unsigned char out[STORE_HASH_LEN]);
/* Checks a manifest Struct (size, then catalog_manifest_check under "manifest"), adding a
 * violation per problem. On CF_OK *json is a new reference the caller json_decref's and *cm
 * borrows from it. */
struct catalog_manifest;
cf_code catalog_checked_manifest(rpc_call *call, const Google__Protobuf__Struct *m, json_t **json,
                                 struct catalog_manifest *cm);
/* Collects jsonschema/policy problems as field violations of the call. */
void catalog_emit_violation(void *call, const char *path, const char *message);

#endif
