/* store.c — the catalog's SQL: the statement table (prepared on every worker connection) and
 * the functions that run it. Parameters only; PGresult never leaves this file. */
#include "store.h"
#include "db/tx.h"
#include "emit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The columns every app read returns, in store_app order (times as epoch microseconds). */
#define APP_COLS                                                                                   \
    "id, app_id, name, owner_user_id, manifest::text, manifest_version, manifest_seq, "            \
    "is_active, floor(extract(epoch FROM created_at) * 1000000)::bigint, "                         \
    "floor(extract(epoch FROM updated_at) * 1000000)::bigint, "                                    \
    "coalesce(deleting_until > clock_timestamp(), false)"
#define APP_NCOLS 11

#define MANIFEST_COLS                                                                              \
    "version, manifest::text, published_by, seq, "                                                 \
    "floor(extract(epoch FROM published_at) * 1000000)::bigint"

const db_stmt catalog_stmts[] = {
    {"app_get", "SELECT " APP_COLS " FROM apps WHERE app_id = $1 AND deleted_at IS NULL"},
    {"app_get_pk", "SELECT " APP_COLS " FROM apps WHERE id = $1 AND deleted_at IS NULL"},
    {"app_insert",
     "INSERT INTO apps (id, app_id, app_secret_hash, owner_user_id, name, manifest, "
     "manifest_version) VALUES ($1, $2, $3::bytea, $4, $5, $6::jsonb, $7) RETURNING " APP_COLS},
    {"app_set_active",
     "UPDATE apps SET is_active = $2::bool, updated_at = clock_timestamp() "
     "WHERE id = $1 AND deleted_at IS NULL AND is_active <> $2::bool RETURNING " APP_COLS},
    /* DeleteApp: the lease first, the delete only while the lease has 30 s left (003_deleting) */
    {"app_mark_deleting",
     "UPDATE apps SET deleting_until = clock_timestamp() + interval '60 seconds' "
     "WHERE id = $1 AND deleted_at IS NULL"},
    {"app_unmark_deleting", "UPDATE apps SET deleting_until = NULL WHERE id = $1"},
    /* the end of a credential generation: its app tokens (sid app:<app_id>:<gen>) are void */
    {"app_tokens_bump", "UPDATE apps SET token_generation = token_generation + 1 WHERE id = $1 "
                        "RETURNING app_id, token_generation - 1"},
    {"app_delete", "UPDATE apps SET deleted_at = clock_timestamp(), updated_at = clock_timestamp() "
                   "WHERE id = $1 AND deleted_at IS NULL "
                   "AND deleting_until > clock_timestamp() + interval '30 seconds'"},
    /* the guard: only if no other publication happened since the caller read manifest_seq */
    {"app_publish",
     "UPDATE apps SET manifest = $3::jsonb, manifest_version = $4, manifest_seq = manifest_seq + "
     "1, "
     "updated_at = clock_timestamp() "
     "WHERE id = $1 AND deleted_at IS NULL AND manifest_seq = $2::int RETURNING " APP_COLS},
    {"manifest_insert", "INSERT INTO manifests (app_pk, version, seq, manifest, published_by) "
                        "VALUES ($1, $2, $3::int, $4::jsonb, $5)"},
    {"manifest_get", "SELECT " MANIFEST_COLS " FROM manifests WHERE app_pk = $1 AND version = $2"},
    {"manifest_list", "SELECT " MANIFEST_COLS " FROM manifests WHERE app_pk = $1 "
                      "AND ($2::int <= 0 OR seq < $2::int) ORDER BY seq DESC LIMIT $3::int"},
    {"secret_rotate",
     "UPDATE apps SET prev_secret_hash = app_secret_hash, "
     "prev_secret_valid_until = to_timestamp($3::bigint), app_secret_hash = $2::bytea, "
     "updated_at = clock_timestamp() WHERE id = $1 AND deleted_at IS NULL"},
    {"secret_prev_until", "SELECT coalesce(extract(epoch FROM prev_secret_valid_until)::bigint, 0) "
                          "FROM apps WHERE id = $1 AND deleted_at IS NULL"},
    {"credentials_get", "SELECT " APP_COLS ", encode(app_secret_hash, 'hex'), "
                        "encode(prev_secret_hash, 'hex'), "
                        "extract(epoch FROM prev_secret_valid_until)::bigint, token_generation "
                        "FROM apps WHERE app_id = $1 AND deleted_at IS NULL"},
    /* issue 24 item 1: keys live catalog.idempotency_ttl; each claim first forgets this key if
     * it expired and the 16 oldest expired keys, so they never pile up (rows another claim is
     * freeing are skipped: no waiting, no deadlock) */
    {"idem_purge", "DELETE FROM idempotency_keys WHERE created_at < to_timestamp($4) AND "
                   "((caller = $1 AND method = $2 AND key = $3) OR (caller, method, key) IN "
                   "(SELECT caller, method, key FROM idempotency_keys WHERE created_at < "
                   "to_timestamp($4) ORDER BY created_at LIMIT 16 FOR UPDATE SKIP LOCKED))"},
    {"idem_claim", "INSERT INTO idempotency_keys (caller, method, key, request_hash, app_pk, "
                   "created_at, updated_at) VALUES ($1, $2, $3, $4::bytea, $5, to_timestamp($6), "
                   "to_timestamp($6)) ON CONFLICT DO NOTHING RETURNING app_pk"},
    {"idem_get", "SELECT encode(request_hash, 'hex'), app_pk FROM idempotency_keys "
                 "WHERE caller = $1 AND method = $2 AND key = $3"},
};
const size_t catalog_nstmts = sizeof catalog_stmts / sizeof *catalog_stmts;

/* ListApps: run unprepared (db_exec_sql) so the planner sees whether there is an owner filter
 * and a keyset position, and picks apps_owner_created or apps_live_created accordingly. */
static const char app_list_sql[] =
    "SELECT " APP_COLS " FROM apps WHERE deleted_at IS NULL "
    "AND ($1 = '' OR owner_user_id = $1) "
    "AND (is_active OR ($2::bool AND ($3::bool OR owner_user_id = $4))) "
    "AND ($5::bigint < 0 OR (created_at, id) > "
    "     (timestamptz 'epoch' + $5::bigint * interval '1 microsecond', $6)) "
    "ORDER BY created_at, id LIMIT $7::int";

/* --- helpers --- */

/* "\x<hex>" for a bytea parameter. */
static void hex_param(char out[2 + 2 * STORE_HASH_LEN + 1], const unsigned char *h)
{
    out[0] = '\\';
    out[1] = 'x';
    for (size_t i = 0; i < STORE_HASH_LEN; i++)
        snprintf(out + 2 + 2 * i, 3, "%02x", h[i]);
}

static bool hex_decode(const char *s, unsigned char *out)
{
    if (strlen(s) != 2 * STORE_HASH_LEN)
        return false;
    for (size_t i = 0; i < STORE_HASH_LEN; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1)
            return false;
        out[i] = (unsigned char)v;
    }
    return true;
}

static void read_app(arena *a, const PGresult *r, int row, store_app *out)
{
    out->pk = arena_strdup(a, PQgetvalue(r, row, 0));
    out->app_id = arena_strdup(a, PQgetvalue(r, row, 1));
    out->name = arena_strdup(a, PQgetvalue(r, row, 2));
    out->owner = arena_strdup(a, PQgetvalue(r, row, 3));
    out->manifest_json = arena_strdup(a, PQgetvalue(r, row, 4));
    out->manifest_version = arena_strdup(a, PQgetvalue(r, row, 5));
    out->manifest_seq = atoi(PQgetvalue(r, row, 6));
    out->is_active = PQgetvalue(r, row, 7)[0] == 't';
    out->created_us = strtoll(PQgetvalue(r, row, 8), NULL, 10);
    out->updated_us = strtoll(PQgetvalue(r, row, 9), NULL, 10);
    out->deleting = PQgetvalue(r, row, 10)[0] == 't';
}

static void read_manifest(arena *a, const PGresult *r, int row, store_manifest *out)
{
    out->version = arena_strdup(a, PQgetvalue(r, row, 0));
    out->manifest_json = arena_strdup(a, PQgetvalue(r, row, 1));
    out->published_by = arena_strdup(a, PQgetvalue(r, row, 2));
    out->seq = atoi(PQgetvalue(r, row, 3));
    out->published_us = strtoll(PQgetvalue(r, row, 4), NULL, 10);
}

/* Runs a statement expected to return at most one app row. */
static cf_code one_app(db_conn *db, arena *a, const char *stmt, int n, const char *const *p,
                       store_app *out)
{
    PGresult *r;
    cf_code code = db_exec_row(db, stmt, n, p, &r);
    if (code != CF_OK)
        return code;
    read_app(a, r, 0, out);
    PQclear(r);
    return CF_OK;
}

/* Claims (caller, method, key) for pk. *claimed = true if this call now owns the key; else
 * *first_pk is the app the earlier call recorded and *mismatch says whether its request
 * differed. A concurrent claimant's insert is waited for (unique index), so a replay racing
 * the original sees the committed first result. */
static cf_code idem_claim(db_conn *db, arena *a, const store_idem *idem, const char *pk,
                          bool *claimed, char **first_pk, bool *mismatch)
{
    char hash[2 + 2 * STORE_HASH_LEN + 1];
    hex_param(hash, idem->request_hash);
    char before[24], now[24];
    snprintf(before, sizeof before, "%lld", (long long)idem->expired_before);
    snprintf(now, sizeof now, "%lld", (long long)idem->now_s);
    const char *purge[] = {idem->caller, idem->method, idem->key, before};
    cf_code code = db_exec(db, "idem_purge", 4, purge, NULL);
    if (code != CF_OK)
        return code;
    const char *p[] = {idem->caller, idem->method, idem->key, hash, pk, now};
    PGresult *r;
    code = db_exec(db, "idem_claim", 6, p, &r);
    if (code != CF_OK)
        return code;
    *claimed = PQntuples(r) == 1;
    PQclear(r);
    if (*claimed)
        return CF_OK;
    code = db_exec(db, "idem_get", 3, p, &r);
    if (code != CF_OK)
        return code;
    if (PQntuples(r) != 1) { /* claimed and gone again: cannot happen while keys are kept */
        PQclear(r);
        return CF_ABORTED;
    }
    unsigned char stored[STORE_HASH_LEN];
    *mismatch = !hex_decode(PQgetvalue(r, 0, 0), stored) ||
                memcmp(stored, idem->request_hash, STORE_HASH_LEN) != 0;
    *first_pk = arena_strdup(a, PQgetvalue(r, 0, 1));
    PQclear(r);
    return CF_OK;
}

/* --- apps --- */

cf_code store_app_get(db_conn *db, arena *a, const char *app_id, store_app *out)
{
    const char *p[] = {app_id};
    return one_app(db, a, "app_get", 1, p, out);
}

typedef struct register_tx {
    arena *a;
    const store_new_app *in;
    store_app *out;
    const audit_ctx *au;
    bool replayed, mismatch;
} register_tx;

static cf_code register_body(db_conn *db, void *arg)
{
    register_tx *t = arg;
    const store_new_app *in = t->in;
    t->replayed = t->mismatch = false;
    if (in->idem.key) {
        bool claimed = false;
        char *first = NULL;
        cf_code code = idem_claim(db, t->a, &in->idem, in->pk, &claimed, &first, &t->mismatch);
        if (code != CF_OK)
            return code;
        if (!claimed) {
            if (t->mismatch)
                return CF_INVALID_ARGUMENT;
            t->replayed = true;
            const char *p[] = {first};
            return one_app(db, t->a, "app_get_pk", 1, p, t->out);
        }
    }
    char hash[2 + 2 * STORE_HASH_LEN + 1];
    hex_param(hash, in->secret_hash);
    const char *p[] = {in->pk,   in->app_id,        hash,       in->owner,
                       in->name, in->manifest_json, in->version};
    cf_code code = one_app(db, t->a, "app_insert", 7, p, t->out);
    if (code != CF_OK)
        return code;
    const char *m[] = {in->pk, in->version, "1", in->manifest_json, in->owner};
    if ((code = db_exec(db, "manifest_insert", 5, m, NULL)) != CF_OK)
        return code;
    if ((code = emit_app_manifest_published(db, in->app_id, in->version)) != CF_OK)
        return code;
    return audit_write(db, t->au,
                       &(audit_row){.action = "app.registered",
                                    .target_type = "app",
                                    .target_id = in->app_id,
                                    .detail = in->version});
}

cf_code store_app_register(db_conn *db, arena *a, const store_new_app *in, store_app *out,
                           bool *replayed, bool *key_mismatch, const audit_ctx *au)
{
    register_tx t = {.a = a, .in = in, .out = out, .au = au};
    cf_code code = db_tx(db, register_body, &t);
    *replayed = t.replayed;
    *key_mismatch = t.mismatch;
    return code;
}

cf_code store_app_list(db_conn *db, arena *a, const store_app_filter *f, store_app **rows,
                       size_t *n)
{
    char after[24], limit[16];
    snprintf(after, sizeof after, "%lld", (long long)f->after_us);
    snprintf(limit, sizeof limit, "%d", f->limit);
    const char *p[] = {f->owner,
                       f->include_inactive ? "true" : "false",
                       f->viewer_is_admin ? "true" : "false",
                       f->viewer,
                       after,
                       f->after_id ? f->after_id : "",
                       limit};
    PGresult *r;
    cf_code code = db_exec_sql(db, app_list_sql, 7, p, &r);
    if (code != CF_OK)
        return code;
    *n = (size_t)PQntuples(r);
    *rows = arena_zalloc(a, (*n ? *n : 1) * sizeof **rows);
    for (size_t i = 0; i < *n; i++)
        read_app(a, r, (int)i, &(*rows)[i]);
    PQclear(r);
    return CF_OK;
}

/* Inside a transaction: ends the app's current credential generation and publishes
 * app.tokens_revoked for it (every app token issued so far is void). */
static cf_code tokens_revoked(db_conn *db, const char *pk, const char *reason)
{
    const char *p[] = {pk};
    PGresult *r;
    cf_code code = db_exec(db, "app_tokens_bump", 1, p, &r);
    if (code != CF_OK)
        return code;
    if (PQntuples(r) == 1) {
        char sid[160];
        snprintf(sid, sizeof sid, "app:%s:%s", PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1));
        code = emit_app_tokens_revoked(db, PQgetvalue(r, 0, 0), sid, reason);
    }
    PQclear(r);
    return code;
}

typedef struct active_tx {
    arena *a;
    const char *const *p;
    bool active;
    store_app *out;
    const audit_ctx *au;
} active_tx;

static cf_code active_body(db_conn *db, void *arg)
{
    active_tx *t = arg;
    cf_code code = one_app(db, t->a, "app_set_active", 2, t->p, t->out);
    if (code != CF_OK)
        return code;
    if (!t->active) {
        code = emit_app_deactivated(db, t->out->app_id);
        if (code == CF_OK)
            code = tokens_revoked(db, t->p[0], "deactivated");
    }
    if (code != CF_OK)
        return code;
    return audit_write(db, t->au,
                       &(audit_row){.action = t->active ? "app.activated" : "app.deactivated",
                                    .target_type = "app",
                                    .target_id = t->out->app_id});
}

cf_code store_app_set_active(db_conn *db, arena *a, const char *pk, bool active, store_app *out,
                             const audit_ctx *au)
{
    const char *p[] = {pk, active ? "true" : "false"};
    active_tx t = {a, p, active, out, au};
    cf_code code = db_tx(db, active_body, &t);
    if (code == CF_NOT_FOUND) /* already in that state (or deleted meanwhile) */
        code = one_app(db, a, "app_get_pk", 1, p, out);
    return code;
}

/* One UPDATE by pk: CF_OK if it changed a row, CF_NOT_FOUND if none. */
static cf_code update_one(db_conn *db, const char *stmt, const char *pk)
{
    const char *p[] = {pk};
    PGresult *r;
    cf_code code = db_exec(db, stmt, 1, p, &r);
    if (code != CF_OK)
        return code;
    code = strcmp(PQcmdTuples(r), "1") == 0 ? CF_OK : CF_NOT_FOUND;
    PQclear(r);
    return code;
}

cf_code store_app_mark_deleting(db_conn *db, const char *pk)
{
    return update_one(db, "app_mark_deleting", pk);
}

cf_code store_app_unmark_deleting(db_conn *db, const char *pk)
{
    cf_code code = update_one(db, "app_unmark_deleting", pk);
    return code == CF_NOT_FOUND ? CF_OK : code;
}

typedef struct delete_tx {
    const char *pk, *app_id;
    const audit_ctx *au;
} delete_tx;

static cf_code delete_body(db_conn *db, void *arg)
{
    delete_tx *t = arg;
    cf_code code = update_one(db, "app_delete", t->pk);
    if (code == CF_OK)
        code = tokens_revoked(db, t->pk, "deleted");
    if (code != CF_OK)
        return code;
    return audit_write(
        db, t->au,
        &(audit_row){.action = "app.deleted", .target_type = "app", .target_id = t->app_id});
}

cf_code store_app_delete(db_conn *db, const char *pk, const char *app_id, const audit_ctx *au)
{
    delete_tx t = {pk, app_id, au};
    return db_tx(db, delete_body, &t);
}

/* --- manifests --- */

typedef struct publish_tx {
    arena *a;
    const char *pk, *version, *json, *by;
    int expected;
    store_app *out;
    const audit_ctx *au;
} publish_tx;

static cf_code publish_body(db_conn *db, void *arg)
{
    publish_tx *t = arg;
    char expected[16], seq[16];
    snprintf(expected, sizeof expected, "%d", t->expected);
    snprintf(seq, sizeof seq, "%d", t->expected + 1);
    const char *p[] = {t->pk, expected, t->json, t->version};
    cf_code code = one_app(db, t->a, "app_publish", 4, p, t->out);
    if (code == CF_NOT_FOUND)
        return CF_ABORTED; /* the guard failed: another publication (or a delete) came first */
    if (code != CF_OK)
        return code;
    const char *m[] = {t->pk, t->version, seq, t->json, t->by};
    if ((code = db_exec(db, "manifest_insert", 5, m, NULL)) != CF_OK)
        return code;
    if ((code = emit_app_manifest_published(db, t->out->app_id, t->version)) != CF_OK)
        return code;
    return audit_write(db, t->au,
                       &(audit_row){.action = "manifest.published",
                                    .target_type = "app",
                                    .target_id = t->out->app_id,
                                    .detail = t->version});
}

cf_code store_manifest_publish(db_conn *db, arena *a, const char *pk, int expected_seq,
                               const char *version, const char *manifest_json, const char *by,
                               store_app *out, const audit_ctx *au)
{
    publish_tx t = {.a = a,
                    .au = au,
                    .pk = pk,
                    .version = version,
                    .json = manifest_json,
                    .by = by,
                    .expected = expected_seq,
                    .out = out};
    return db_tx(db, publish_body, &t);
}

cf_code store_manifest_get(db_conn *db, arena *a, const char *pk, const char *version,
                           store_manifest *out)
{
    const char *p[] = {pk, version};
    PGresult *r;
    cf_code code = db_exec_row(db, "manifest_get", 2, p, &r);
    if (code != CF_OK)
        return code;
    read_manifest(a, r, 0, out);
    PQclear(r);
    return CF_OK;
}

cf_code store_manifest_list(db_conn *db, arena *a, const char *pk, int before_seq, int limit,
                            store_manifest **rows, size_t *n)
{
    char before[16], lim[16];
    snprintf(before, sizeof before, "%d", before_seq);
    snprintf(lim, sizeof lim, "%d", limit);
    const char *p[] = {pk, before, lim};
    PGresult *r;
    cf_code code = db_exec(db, "manifest_list", 3, p, &r);
    if (code != CF_OK)
        return code;
    *n = (size_t)PQntuples(r);
    *rows = arena_zalloc(a, (*n ? *n : 1) * sizeof **rows);
    for (size_t i = 0; i < *n; i++)
        read_manifest(a, r, (int)i, &(*rows)[i]);
    PQclear(r);
    return CF_OK;
}

/* --- secrets --- */

typedef struct rotate_tx {
    const char *pk, *app_id;
    const audit_ctx *au;
    const unsigned char *hash;
    int64_t until;
    const store_idem *idem;
    bool replayed, mismatch;
    int64_t prev_until;
} rotate_tx;

static cf_code rotate_body(db_conn *db, void *arg)
{
    rotate_tx *t = arg;
    t->replayed = t->mismatch = false;
    t->prev_until = t->until;
    const char *pp[] = {t->pk};
    if (t->idem && t->idem->key) {
        bool claimed = false;
        char *first = NULL;
        arena tmp;
        arena_init(&tmp, 256);
        cf_code code = idem_claim(db, &tmp, t->idem, t->pk, &claimed, &first, &t->mismatch);
        arena_release(&tmp);
        if (code != CF_OK)
            return code;
        if (!claimed) {
            if (t->mismatch)
                return CF_INVALID_ARGUMENT;
            t->replayed = true;
            PGresult *r;
            code = db_exec(db, "secret_prev_until", 1, pp, &r);
            if (code != CF_OK)
                return code;
            code = PQntuples(r) == 1 ? CF_OK : CF_NOT_FOUND;
            if (code == CF_OK)
                t->prev_until = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
            PQclear(r);
            return code;
        }
    }
    char hash[2 + 2 * STORE_HASH_LEN + 1], until[24];
    hex_param(hash, t->hash);
    snprintf(until, sizeof until, "%lld", (long long)t->until);
    const char *p[] = {t->pk, hash, until};
    PGresult *r;
    cf_code code = db_exec(db, "secret_rotate", 3, p, &r);
    if (code != CF_OK)
        return code;
    code = strcmp(PQcmdTuples(r), "1") == 0 ? CF_OK : CF_NOT_FOUND;
    PQclear(r);
    if (code == CF_OK)
        code = tokens_revoked(db, t->pk, "secret_regenerated");
    if (code != CF_OK)
        return code;
    return audit_write(db, t->au,
                       &(audit_row){.action = "app.secret_regenerated",
                                    .target_type = "app",
                                    .target_id = t->app_id});
}

cf_code store_secret_rotate(db_conn *db, const char *pk, const unsigned char *hash,
                            int64_t valid_until_s, const store_idem *idem, bool *replayed,
                            bool *key_mismatch, int64_t *prev_until_s, const char *app_id,
                            const audit_ctx *au)
{
    rotate_tx t = {
        .pk = pk, .app_id = app_id, .au = au, .hash = hash, .until = valid_until_s, .idem = idem};
    cf_code code = db_tx(db, rotate_body, &t);
    *replayed = t.replayed;
    *key_mismatch = t.mismatch;
    *prev_until_s = t.prev_until;
    return code;
}

cf_code store_credentials_get(db_conn *db, arena *a, const char *app_id, store_credentials *out)
{
    const char *p[] = {app_id};
    PGresult *r;
    cf_code code = db_exec(db, "credentials_get", 1, p, &r);
    if (code != CF_OK)
        return code;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return CF_NOT_FOUND;
    }
    read_app(a, r, 0, &out->app);
    bool ok = hex_decode(PQgetvalue(r, 0, APP_NCOLS), out->hash);
    out->has_prev = !PQgetisnull(r, 0, APP_NCOLS + 1) &&
                    hex_decode(PQgetvalue(r, 0, APP_NCOLS + 1), out->prev_hash);
    out->prev_until_s = out->has_prev ? strtoll(PQgetvalue(r, 0, APP_NCOLS + 2), NULL, 10) : 0;
    out->token_generation = strtoll(PQgetvalue(r, 0, APP_NCOLS + 3), NULL, 10);
    PQclear(r);
    return ok ? CF_OK : CF_INTERNAL;
}
