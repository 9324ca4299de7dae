/* store.h — the catalog's SQL (schema `catalog`): the prepared-statement table and one function
 * per operation. All strings handed out are allocated in the caller's arena; no PGresult leaves
 * store.c. Every function blocks on the database and returns a status code: CF_NOT_FOUND for an
 * app that does not exist or is soft-deleted, the mapped SQLSTATE code otherwise. */
#ifndef CONFETTI_CATALOG_STORE_H
#define CONFETTI_CATALOG_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "audit/audit.h"
#include "db/db.h"

#define STORE_HASH_LEN 32 /* SHA-256 */

extern const db_stmt catalog_stmts[];
extern const size_t catalog_nstmts;

/* One live app row (strings in the arena). */
typedef struct store_app {
    char *pk, *app_id, *name, *owner, *manifest_json, *manifest_version;
    int manifest_seq;
    bool is_active;
    int64_t created_us, updated_us; /* microseconds since the epoch */
    bool deleting;                  /* a DeleteApp holds its lease (003_deleting.sql) */
} store_app;

/* One published manifest. */
typedef struct store_manifest {
    char *version, *manifest_json, *published_by;
    int seq;
    int64_t published_us;
} store_manifest;

/* An idempotency key presented with a create (NULL key = none). */
typedef struct store_idem {
    const char *caller, *method, *key;
    unsigned char request_hash[STORE_HASH_LEN];
    int64_t now_s;          /* epoch s by the service clock: the key's created_at */
    int64_t expired_before; /* epoch s: a key recorded before this is forgotten (now - TTL) */
} store_idem;

/* What RegisterApp writes. */
typedef struct store_new_app {
    const char *pk, *app_id, *owner, *name, *manifest_json, *version;
    unsigned char secret_hash[STORE_HASH_LEN];
    store_idem idem; /* idem.key NULL = no key */
} store_new_app;

/* Live app by public id. */
cf_code store_app_get(db_conn *db, arena *a, const char *app_id, store_app *out);

/* Creates the app and its first manifest in one transaction. With an idempotency key already
 * used by this caller for RegisterApp: *replayed = true and out is the app it created (nothing
 * written), or CF_INVALID_ARGUMENT with *key_mismatch when the key came with another request. */
cf_code store_app_register(db_conn *db, arena *a, const store_new_app *in, store_app *out,
                           bool *replayed, bool *key_mismatch, const audit_ctx *au);

/* Live apps in (created_at, id) order after the keyset position (after_us < 0: from the start),
 * filtered by owner ("" = any) and visibility: active ones, plus inactive ones when
 * include_inactive and (admin or owned by viewer). At most limit rows into *rows. */
typedef struct store_app_filter {
    const char *owner, *viewer;
    bool include_inactive, viewer_is_admin;
    int64_t after_us;
    const char *after_id;
    int limit;
} store_app_filter;
cf_code store_app_list(db_conn *db, arena *a, const store_app_filter *f, store_app **rows,
                       size_t *n);

/* Sets is_active if it differs (updated_at moves only then); out is the row afterwards.
 * Audited changes (this, register, delete, publish, rotate) write their audit row (au: the
 * caller's side, audit.h) in the same transaction; a change that does not happen writes none. */
cf_code store_app_set_active(db_conn *db, arena *a, const char *pk, bool active, store_app *out,
                             const audit_ctx *au);

/* DeleteApp's three steps (docs/catalog.md, "Rooms check"): mark takes a 60 s lease during
 * which GetApp reports the app `deleting` (CF_NOT_FOUND if the app is not live); delete
 * soft-deletes it only while the lease has 30 s left (CF_NOT_FOUND if not live, or the lease
 * ran short or was cleared: the caller unmarks and the client retries); unmark clears the
 * lease (the app stays). */
cf_code store_app_mark_deleting(db_conn *db, const char *pk);
cf_code store_app_delete(db_conn *db, const char *pk, const char *app_id, const audit_ctx *au);
cf_code store_app_unmark_deleting(db_conn *db, const char *pk);

/* Makes manifest_json (version) the current manifest if the app's publication count is still
 * expected_seq, and records it as publication expected_seq + 1 by `by`, in one transaction.
 * CF_ABORTED if another publication came first (the guard failed); CF_ALREADY_EXISTS if the
 * version was already published. out is the updated app. */
cf_code store_manifest_publish(db_conn *db, arena *a, const char *pk, int expected_seq,
                               const char *version, const char *manifest_json, const char *by,
                               store_app *out, const audit_ctx *au);

/* One published version of an app. */
cf_code store_manifest_get(db_conn *db, arena *a, const char *pk, const char *version,
                           store_manifest *out);

/* Published versions newest first, those with seq < before_seq (before_seq <= 0: from the
 * newest). */
cf_code store_manifest_list(db_conn *db, arena *a, const char *pk, int before_seq, int limit,
                            store_manifest **rows, size_t *n);

/* Replaces the secret hash, keeping the old one valid until valid_until_s (epoch seconds).
 * With an idempotency key this caller already used on this app: *replayed, nothing changes,
 * and *prev_until_s is the app's current grace end. */
cf_code store_secret_rotate(db_conn *db, const char *pk, const unsigned char *hash,
                            int64_t valid_until_s, const store_idem *idem, bool *replayed,
                            bool *key_mismatch, int64_t *prev_until_s, const char *app_id,
                            const audit_ctx *au);

/* What VerifyAppCredentials compares: the live app, its secret hash and the previous one with
 * its grace end (has_prev false when there is none). */
typedef struct store_credentials {
    store_app app;
    unsigned char hash[STORE_HASH_LEN], prev_hash[STORE_HASH_LEN];
    bool has_prev;
    int64_t prev_until_s;
    int64_t token_generation; /* app tokens carry sid app:<app_id>:<token_generation> */
} store_credentials;
cf_code store_credentials_get(db_conn *db, arena *a, const char *app_id, store_credentials *out);

#endif
