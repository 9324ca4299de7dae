/* store.c — the SQL of confetti-auth (see store.h). */
#include "store.h"
#include "auth.h"
#include "base/cuid.h"
#include "base/log.h"
#include "base/xmalloc.h"
#include "db/tx.h"
#include "emit.h"
#include "store_password.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TS_US(col) "(extract(epoch FROM " col ") * 1000000)::bigint"

#define USER_COLS                                                                                  \
    "id, email, name, avatar_url, provider, is_admin, " TS_US("created_at") ", " TS_US(            \
        "updated_at") ", coalesce(" TS_US("last_login_at") ", 0)"

const db_stmt auth_stmts[] = {
    /* users and identities */
    {"identity_user", "SELECT u.id, u.is_admin FROM identities i JOIN users u ON u.id = i.user_id "
                      "WHERE i.provider = $1 AND i.provider_id = $2 AND u.deleted_at IS NULL"},
    {"user_by_email",
     "SELECT id, is_admin FROM users WHERE lower(email) = lower($1) AND email <> '' "
     "AND deleted_at IS NULL"},
    {"user_insert",
     "INSERT INTO users (id, email, name, avatar_url, provider, provider_id, is_admin, "
     "last_login_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, to_timestamp($8), "
     "to_timestamp($8), to_timestamp($8))"},
    {"identity_insert",
     "INSERT INTO identities (provider, provider_id, user_id) VALUES ($1, $2, $3)"},
    {"user_login", "UPDATE users SET last_login_at = to_timestamp($2), is_admin = is_admin OR $3, "
                   "updated_at = now() WHERE id = $1 RETURNING is_admin"},
    {"user_get", "SELECT " USER_COLS " FROM users WHERE id = $1 AND deleted_at IS NULL"},
    {"user_update",
     "UPDATE users SET name = coalesce($2, name), avatar_url = coalesce($3, avatar_url), "
     "updated_at = to_timestamp($4) WHERE id = $1 AND deleted_at IS NULL"},
    {"user_delete", "UPDATE users SET deleted_at = to_timestamp($2), updated_at = now() "
                    "WHERE id = $1 AND deleted_at IS NULL"},
    {"identities_delete", "DELETE FROM identities WHERE user_id = $1"},
    {"user_sessions_revoke",
     "UPDATE sessions SET revoked_at = to_timestamp($2), revoked_reason = $3, updated_at = now() "
     "WHERE user_id = $1 AND revoked_at IS NULL AND id <> $4 RETURNING id, access_jti, access_iat"},

    /* sessions */
    {"session_insert",
     "INSERT INTO sessions (id, user_id, refresh_token_hash, generation, rotated_at, access_jti, "
     "access_iat, user_agent, device_info, ip_address, last_activity_at, expires_at, created_at) "
     "VALUES ($1, $2, $3, 0, to_timestamp($7), $4, $7, $5, $6, $8, to_timestamp($7), "
     "to_timestamp($9), to_timestamp($7))"},
    /* The rotation: one conditional statement. The WHERE on the current hash makes two
     * concurrent rotations of one token serialize on the row; the loser re-reads it, no longer
     * matches and falls to the grace/reuse path. The superseded hash joins the history in the
     * same statement. */
    {"refresh_rotate",
     "WITH r AS (UPDATE sessions s SET refresh_token_hash = $2, generation = s.generation + 1, "
     "rotated_at = to_timestamp($8::float8 / 1000), access_jti = $4, access_iat = $3, "
     "last_activity_at = to_timestamp($3), expires_at = to_timestamp($3 + $5), "
     "ip_address = CASE WHEN $6 = '' THEN s.ip_address ELSE $6 END, "
     "user_agent = CASE WHEN $7 = '' THEN s.user_agent ELSE $7 END, updated_at = now() "
     "FROM users u WHERE s.refresh_token_hash = $1 AND s.revoked_at IS NULL "
     "AND s.expires_at > to_timestamp($3) AND u.id = s.user_id AND u.deleted_at IS NULL "
     "RETURNING s.id, s.user_id, s.generation, u.is_admin), "
     "h AS (INSERT INTO refresh_history (token_hash, session_id, generation, superseded_at) "
     "SELECT $1, id, generation - 1, to_timestamp($3) FROM r) "
     "SELECT id, user_id, is_admin FROM r"},
    {"refresh_superseded",
     "SELECT s.id, s.user_id, h.generation, s.generation, s.revoked_at IS NOT NULL, "
     "(extract(epoch FROM s.rotated_at) * 1000)::bigint, s.access_jti, s.access_iat, u.is_admin, "
     "s.refresh_token_hash, u.deleted_at IS NOT NULL, s.expires_at <= to_timestamp($2) "
     "FROM refresh_history h JOIN sessions s ON s.id = h.session_id "
     "JOIN users u ON u.id = s.user_id WHERE h.token_hash = $1"},
    {"session_revoke",
     "UPDATE sessions SET revoked_at = to_timestamp($2), revoked_reason = $3, updated_at = now() "
     "WHERE id = $1 AND revoked_at IS NULL RETURNING user_id, access_jti, access_iat"},
    {"session_owner", "SELECT user_id FROM sessions WHERE id = $1"},
    {"sessions_list",
     "SELECT id, user_agent, device_info, ip_address, " TS_US("created_at") ", " TS_US(
         "last_activity_at") ", " TS_US("expires_at") " FROM sessions "
                                                      "WHERE user_id = $1 AND revoked_at IS NULL "
                                                      "AND expires_at > to_timestamp($2) "
                                                      "AND ($3 = '' OR (" TS_US(
                                                          "created_at") ", id) > "
                                                                        "(nullif($3, '')::bigint, "
                                                                        "$4)) "
                                                                        "ORDER BY created_at, id "
                                                                        "LIMIT $5"},

    /* blacklist */
    {"blacklist_add",
     "INSERT INTO token_blacklist (id, token_hash, jti, user_id, session_id, reason, expires_at) "
     "VALUES ($1, $2, $3, $4, $5, $6, to_timestamp($7)) ON CONFLICT (token_hash) DO NOTHING"},
    /* jti '' = a whole session (session_id): its row's token_hash is SHA-256 of "sid:" || id */
    {"revoked_list",
     "SELECT id, jti, extract(epoch FROM expires_at)::bigint, coalesce(session_id, '') "
     "FROM token_blacklist "
     "WHERE expires_at > to_timestamp($1) AND ($2 = '' OR (expires_at, id) > "
     "(to_timestamp(nullif($2, '')::bigint), $3)) ORDER BY expires_at, id LIMIT $4"},

    /* catalog's events (consumer.c) */
    {"event_position", "SELECT seq FROM event_positions WHERE source = $1"},
    {"event_position_set", "INSERT INTO event_positions (source, seq) VALUES ($1, $2::bigint) "
                           "ON CONFLICT (source) DO UPDATE SET seq = excluded.seq"},

    /* OAuth states */
    /* issue 24 item 1: at most $6 logins not yet expired (a row each), and each insert frees up
     * to 16 expired rows, so expired ones never pile up between cleanups; nothing inserted =
     * the bound is reached */
    {"state_insert",
     "WITH purged AS (DELETE FROM login_states WHERE state_hash IN (SELECT state_hash FROM "
     "login_states WHERE expires_at <= to_timestamp($4) ORDER BY expires_at LIMIT 16 FOR UPDATE "
     "SKIP LOCKED)) "
     "INSERT INTO login_states (state_hash, provider, redirect_uri, expires_at, created_at, "
     "binding_hash) "
     "SELECT $1, $2, $3, to_timestamp($5), to_timestamp($4), $7 WHERE (SELECT count(*) FROM "
     "(SELECT 1 FROM login_states WHERE expires_at > to_timestamp($4) LIMIT $6::bigint) live) "
     "< $6::bigint"},
    {"state_take", "UPDATE login_states SET used_at = to_timestamp($2), updated_at = now() "
                   "WHERE state_hash = $1 AND used_at IS NULL AND expires_at > to_timestamp($2) "
                   "RETURNING provider, redirect_uri, binding_hash"},

    /* e-mail and password (store_password.c) */
    AUTH_PASSWORD_STMTS,
};
const size_t auth_nstmts = sizeof auth_stmts / sizeof *auth_stmts;

/* Integers as statement parameters. */
typedef struct num {
    char s[24];
} num;
static num N(int64_t v)
{
    num n;
    snprintf(n.s, sizeof n.s, "%" PRId64, v);
    return n;
}

static int64_t col_i64(PGresult *r, int row, int col)
{
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static bool col_bool(PGresult *r, int row, int col)
{
    return PQgetvalue(r, row, col)[0] == 't';
}

static void copy_col(char *dst, size_t cap, PGresult *r, int row, int col)
{
    snprintf(dst, cap, "%s", PQgetvalue(r, row, col));
}

static Google__Protobuf__Timestamp *ts_us(arena *a, int64_t us)
{
    if (us == 0)
        return NULL;
    Google__Protobuf__Timestamp *t = arena_alloc(a, sizeof *t);
    google__protobuf__timestamp__init(t);
    t->seconds = us / 1000000;
    t->nanos = (int32_t)(us % 1000000) * 1000;
    return t;
}

/* ---- users ---- */

typedef struct login_tx {
    const store_login *in;
    char *user_id;
    bool is_admin;
} login_tx;

static cf_code login_body(db_conn *db, void *arg)
{
    login_tx *t = arg;
    const store_login *in = t->in;
    PGresult *r = NULL;
    num now = N(in->now);
    const char *adm = in->bootstrap_admin ? "true" : "false";
    const char *q[] = {in->provider, in->provider_id};
    cf_code code = db_exec(db, "identity_user", 2, q, &r);
    if (code != CF_OK)
        return code;
    bool found = PQntuples(r) == 1;
    if (found)
        copy_col(t->user_id, CUID_LEN + 1, r, 0, 0);
    PQclear(r);
    if (!found && in->email_verified && *in->email) {
        const char *e[] = {in->email};
        if ((code = db_exec(db, "user_by_email", 1, e, &r)) != CF_OK)
            return code;
        found = PQntuples(r) == 1;
        if (found)
            copy_col(t->user_id, CUID_LEN + 1, r, 0, 0);
        PQclear(r);
        if (found) {
            const char *p[] = {in->provider, in->provider_id, t->user_id};
            if ((code = db_exec(db, "identity_insert", 3, p, NULL)) != CF_OK)
                return code;
        }
    }
    if (!found) {
        cuid_new(t->user_id);
        /* An unverified e-mail is not recorded: it could collide with (or squat) a live user's. */
        const char *email = in->email_verified ? in->email : "";
        const char *p[] = {t->user_id,   email,           in->name, in->picture,
                           in->provider, in->provider_id, adm,      now.s};
        if ((code = db_exec(db, "user_insert", 8, p, NULL)) != CF_OK)
            return code;
        const char *i[] = {in->provider, in->provider_id, t->user_id};
        if ((code = db_exec(db, "identity_insert", 3, i, NULL)) != CF_OK)
            return code;
    }
    const char *u[] = {t->user_id, now.s, adm};
    if ((code = db_exec(db, "user_login", 3, u, &r)) != CF_OK)
        return code;
    t->is_admin = PQntuples(r) == 1 && col_bool(r, 0, 0);
    PQclear(r);
    return audit_write(db, in->au,
                       &(audit_row){.action = "user.login",
                                    .actor_id = t->user_id,
                                    .target_type = "user",
                                    .target_id = t->user_id,
                                    .detail = in->provider});
}

cf_code store_login_user(db_conn *db, const store_login *in, char *user_id, bool *is_admin)
{
    login_tx t = {.in = in, .user_id = user_id};
    cf_code code = db_tx(db, login_body, &t);
    /* Two first logins of one person at once: the loser's insert hits a unique index; the
     * winner's rows are committed now, so a second run finds them. */
    if (code == CF_ALREADY_EXISTS)
        code = db_tx(db, login_body, &t);
    if (code == CF_OK)
        *is_admin = t.is_admin;
    return code;
}

cf_code store_login_user_tx(db_conn *db, const store_login *in, char *user_id, bool *is_admin)
{
    login_tx t = {.in = in, .user_id = user_id};
    cf_code code = login_body(db, &t);
    if (code == CF_OK)
        *is_admin = t.is_admin;
    return code;
}

cf_code store_user_get(db_conn *db, arena *a, const char *id, Auth__V1__User *out)
{
    PGresult *r = NULL;
    const char *p[] = {id};
    cf_code code = db_exec(db, "user_get", 1, p, &r);
    if (code != CF_OK)
        return code;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return CF_NOT_FOUND;
    }
    out->id = arena_strdup(a, PQgetvalue(r, 0, 0));
    out->email = arena_strdup(a, PQgetvalue(r, 0, 1));
    out->name = arena_strdup(a, PQgetvalue(r, 0, 2));
    out->avatar_url = arena_strdup(a, PQgetvalue(r, 0, 3));
    out->provider = arena_strdup(a, PQgetvalue(r, 0, 4));
    out->is_admin = col_bool(r, 0, 5);
    out->created_at = ts_us(a, col_i64(r, 0, 6));
    out->updated_at = ts_us(a, col_i64(r, 0, 7));
    out->last_login_at = ts_us(a, col_i64(r, 0, 8));
    PQclear(r);
    return CF_OK;
}

cf_code store_user_update(db_conn *db, const char *id, const char *name, const char *avatar_url,
                          int64_t now)
{
    PGresult *r = NULL;
    num t = N(now);
    const char *p[] = {id, name, avatar_url, t.s};
    cf_code code = db_exec(db, "user_update", 4, p, &r);
    if (code != CF_OK)
        return code;
    bool hit = strcmp(PQcmdTuples(r), "1") == 0;
    PQclear(r);
    return hit ? CF_OK : CF_NOT_FOUND;
}

/* Inside a transaction: blacklists one access token and, the first time, publishes
 * token.revoked. */
static cf_code blacklist_insert(db_conn *db, const char *jti, const char *user_id,
                                const char *session_id, const char *reason, int64_t exp)
{
    char id[CUID_LEN + 1], hash[65];
    cuid_new(id);
    auth_sha256_hex(jti, hash);
    num e = N(exp);
    const char *p[] = {id, hash, jti, user_id, session_id, reason, e.s};
    PGresult *r;
    cf_code code = db_exec(db, "blacklist_add", 7, p, &r);
    if (code != CF_OK)
        return code;
    bool added = strcmp(PQcmdTuples(r), "1") == 0;
    PQclear(r);
    return added ? emit_token_revoked(db, jti, user_id, exp) : CF_OK;
}

/* Inside a transaction: every token carrying `sid` is refused until `until` (when the last of
 * them expires). The row (jti '') is what ListRevokedTokens gives verifiers that start late; the
 * session.revoked event is what live verifiers follow. */
static cf_code store_sid_revoked(db_conn *db, const char *sid, const char *user_id,
                                 const char *reason, int64_t until, const char *jti)
{
    char id[CUID_LEN + 1], hash[65];
    cuid_new(id);
    char *key = xasprintf("sid:%s", sid);
    auth_sha256_hex(key, hash);
    free(key);
    num u = N(until);
    const char *p[] = {id, hash, "", user_id, sid, reason, u.s};
    cf_code code = db_exec(db, "blacklist_add", 7, p, NULL);
    if (code != CF_OK)
        return code;
    return emit_session_revoked(db, sid, user_id, jti, until);
}

/* Inside a transaction: a session row just revoked (sid, its user, its access token's jti and
 * iat): every token of the session is refused (all were issued by now, so all have expired by
 * now + access_ttl), its live access token's jti too (for verifiers that predate session
 * revocation), and session.revoked is published. */
static cf_code session_revoked(db_conn *db, const char *sid, const char *user_id, const char *jti,
                               int64_t iat, const char *reason, int64_t now, int64_t access_ttl,
                               const audit_ctx *au)
{
    int64_t exp = iat + access_ttl;
    bool live = exp > now && *jti;
    cf_code code = live ? blacklist_insert(db, jti, user_id, sid, reason, exp) : CF_OK;
    if (code != CF_OK)
        return code;
    code = store_sid_revoked(db, sid, user_id, reason, now + access_ttl, live ? jti : NULL);
    if (code != CF_OK)
        return code;
    /* one audit row per session revoked, whichever path revoked it (docs/audit.md) */
    return audit_write(db, au,
                       &(audit_row){.action = "session.revoked",
                                    .target_type = "session",
                                    .target_id = sid,
                                    .detail = reason});
}

typedef struct delete_tx {
    const char *id;
    int64_t now, access_ttl;
    const audit_ctx *au;
} delete_tx;

static cf_code delete_body(db_conn *db, void *arg)
{
    delete_tx *t = arg;
    num now = N(t->now);
    const char *p[] = {t->id, now.s};
    PGresult *d = NULL;
    cf_code code = db_exec(db, "user_delete", 2, p, &d);
    bool first = code == CF_OK && strcmp(PQcmdTuples(d), "1") == 0;
    PQclear(d);
    if (code == CF_OK && first)
        code = emit_user_deleted(db, t->id);
    if (code == CF_OK && first)
        code = audit_write(
            db, t->au,
            &(audit_row){.action = "user.deleted", .target_type = "user", .target_id = t->id});
    if (code == CF_OK)
        code = db_exec(db, "identities_delete", 1, p, NULL);
    if (code == CF_OK)
        code = store_pw_forget(db, t->id);
    PGresult *r = NULL;
    const char *s[] = {t->id, now.s, "user_deleted", ""};
    if (code == CF_OK)
        code = db_exec(db, "user_sessions_revoke", 4, s, &r);
    for (int i = 0; code == CF_OK && r && i < PQntuples(r); i++)
        code = session_revoked(db, PQgetvalue(r, i, 0), t->id, PQgetvalue(r, i, 1),
                               col_i64(r, i, 2), "user_deleted", t->now, t->access_ttl, t->au);
    PQclear(r);
    return code;
}

cf_code store_user_delete(db_conn *db, const char *id, int64_t now, int64_t access_ttl,
                          const audit_ctx *au)
{
    delete_tx t = {id, now, access_ttl, au};
    return db_tx(db, delete_body, &t);
}

typedef struct revoke_all_tx {
    const char *user_id, *keep;
    int64_t now, access_ttl;
    int revoked;
    const audit_ctx *au;
} revoke_all_tx;

static cf_code revoke_all_body(db_conn *db, void *arg)
{
    revoke_all_tx *t = arg;
    num now = N(t->now);
    const char *s[] = {t->user_id, now.s, "revoked_all_by_user", t->keep};
    PGresult *r = NULL;
    cf_code code = db_exec(db, "user_sessions_revoke", 4, s, &r);
    t->revoked = code == CF_OK ? PQntuples(r) : 0;
    for (int i = 0; code == CF_OK && i < PQntuples(r); i++)
        code =
            session_revoked(db, PQgetvalue(r, i, 0), t->user_id, PQgetvalue(r, i, 1),
                            col_i64(r, i, 2), "revoked_all_by_user", t->now, t->access_ttl, t->au);
    PQclear(r);
    return code;
}

cf_code store_sessions_revoke_all(db_conn *db, const char *user_id, const char *keep_sid,
                                  int64_t now, int64_t access_ttl, int *revoked,
                                  const audit_ctx *au)
{
    revoke_all_tx t = {user_id, keep_sid ? keep_sid : "", now, access_ttl, 0, au};
    cf_code code = db_tx(db, revoke_all_body, &t);
    if (code == CF_OK && revoked)
        *revoked = t.revoked;
    return code;
}

/* ---- sessions ---- */

cf_code store_session_create(db_conn *db, const store_session_new *s)
{
    num now = N(s->now), exp = N(s->expires_at);
    const char *p[] = {s->id,          s->user_id, s->refresh_hash, s->access_jti, s->user_agent,
                       s->device_info, now.s,      s->ip_address,   exp.s};
    return db_exec(db, "session_insert", 9, p, NULL);
}

typedef struct revoke_tx {
    const char *id, *owner, *reason;
    int64_t now, access_ttl;
    bool found;
    const audit_ctx *au;
} revoke_tx;

static cf_code revoke_body(db_conn *db, void *arg)
{
    revoke_tx *t = arg;
    t->found = false;
    PGresult *r = NULL;
    const char *o[] = {t->id};
    cf_code code = db_exec(db, "session_owner", 1, o, &r);
    if (code != CF_OK)
        return code;
    t->found = PQntuples(r) == 1 && (!t->owner || strcmp(PQgetvalue(r, 0, 0), t->owner) == 0);
    PQclear(r);
    if (!t->found)
        return CF_OK;
    num now = N(t->now);
    const char *p[] = {t->id, now.s, t->reason};
    if ((code = db_exec(db, "session_revoke", 3, p, &r)) != CF_OK)
        return code;
    if (PQntuples(r) == 1) /* else: revoked already, nothing more to do */
        code = session_revoked(db, t->id, PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1),
                               col_i64(r, 0, 2), t->reason, t->now, t->access_ttl, t->au);
    PQclear(r);
    return code;
}

cf_code store_session_revoke(db_conn *db, const char *id, const char *user_id, const char *reason,
                             int64_t now, int64_t access_ttl, const audit_ctx *au)
{
    revoke_tx t = {id, user_id, reason, now, access_ttl, false, au};
    cf_code code = db_tx(db, revoke_body, &t);
    if (code == CF_OK && !t.found)
        return CF_NOT_FOUND;
    return code;
}

typedef struct blacklist_tx {
    const char *jti, *user_id, *session_id, *reason;
    int64_t exp;
} blacklist_tx;

static cf_code blacklist_body(db_conn *db, void *arg)
{
    blacklist_tx *t = arg;
    return blacklist_insert(db, t->jti, t->user_id, t->session_id, t->reason, t->exp);
}

cf_code store_blacklist_add(db_conn *db, const char *jti, const char *user_id,
                            const char *session_id, const char *reason, int64_t exp)
{
    blacklist_tx t = {jti, user_id, session_id, reason, exp};
    return db_tx(db, blacklist_body, &t);
}

cf_code store_refresh(db_conn *db, store_rotate *r)
{
    num now = N(r->now), ttl = N(r->refresh_ttl), now_ms = N(r->now_ms);
    const char *p[] = {r->old_hash, r->new_hash,   now.s,         r->new_jti,
                       ttl.s,       r->ip_address, r->user_agent, now_ms.s};
    PGresult *res = NULL;
    cf_code code = db_exec(db, "refresh_rotate", 8, p, &res);
    if (code != CF_OK)
        return code;
    if (PQntuples(res) == 1) {
        r->result = ROTATE_OK;
        copy_col(r->session_id, sizeof r->session_id, res, 0, 0);
        copy_col(r->user_id, sizeof r->user_id, res, 0, 1);
        r->is_admin = col_bool(res, 0, 2);
        PQclear(res);
        return CF_OK;
    }
    PQclear(res);

    /* Not the current token of a live session: superseded, or unknown. */
    const char *q[] = {r->old_hash, now.s};
    if ((code = db_exec(db, "refresh_superseded", 2, q, &res)) != CF_OK)
        return code;
    if (PQntuples(res) != 1) {
        PQclear(res);
        r->result = ROTATE_UNKNOWN;
        return CF_OK;
    }
    copy_col(r->session_id, sizeof r->session_id, res, 0, 0);
    copy_col(r->user_id, sizeof r->user_id, res, 0, 1);
    int64_t gen = col_i64(res, 0, 2), cur = col_i64(res, 0, 3);
    bool revoked = col_bool(res, 0, 4), gone = col_bool(res, 0, 10) || col_bool(res, 0, 11);
    int64_t rotated_ms = col_i64(res, 0, 5);
    copy_col(r->access_jti, sizeof r->access_jti, res, 0, 6);
    r->access_iat = col_i64(res, 0, 7);
    r->is_admin = col_bool(res, 0, 8);
    copy_col(r->current_hash, sizeof r->current_hash, res, 0, 9);
    PQclear(res);
    if (revoked || gone) {
        r->result = ROTATE_UNKNOWN;
        return CF_OK;
    }
    /* Milliseconds, strictly inside the window: whole seconds with <= granted up to a second
     * more than configured (an ~11 s window for 10 s). */
    if (gen == cur - 1 && r->now_ms - rotated_ms < r->grace_ms) {
        r->result = ROTATE_GRACE;
        return CF_OK;
    }
    r->result = ROTATE_REUSED;
    return store_session_revoke(db, r->session_id, NULL, "refresh_token_reuse", r->now,
                                r->access_ttl, r->au);
}

cf_code store_sessions_list(db_conn *db, arena *a, const char *user_id, int64_t now,
                            const char *after_us, const char *after_id, int limit,
                            Auth__V1__Session ***out, char ***keys_us, size_t *n)
{
    num t = N(now), l = N(limit + 1);
    const char *p[] = {user_id, t.s, after_us, after_id, l.s};
    PGresult *r = NULL;
    cf_code code = db_exec(db, "sessions_list", 5, p, &r);
    if (code != CF_OK)
        return code;
    size_t rows = (size_t)PQntuples(r);
    *out = arena_alloc(a, (rows + 1) * sizeof **out);
    *keys_us = arena_alloc(a, (rows + 1) * sizeof **keys_us);
    for (size_t i = 0; i < rows; i++) {
        Auth__V1__Session *s = arena_alloc(a, sizeof *s);
        auth__v1__session__init(s);
        int row = (int)i;
        s->id = arena_strdup(a, PQgetvalue(r, row, 0));
        s->user_agent = arena_strdup(a, PQgetvalue(r, row, 1));
        s->device_info = arena_strdup(a, PQgetvalue(r, row, 2));
        s->ip_address = arena_strdup(a, PQgetvalue(r, row, 3));
        s->created_at = ts_us(a, col_i64(r, row, 4));
        s->last_activity_at = ts_us(a, col_i64(r, row, 5));
        s->expires_at = ts_us(a, col_i64(r, row, 6));
        (*out)[i] = s;
        (*keys_us)[i] = arena_strdup(a, PQgetvalue(r, row, 4));
    }
    *n = rows;
    PQclear(r);
    return CF_OK;
}

cf_code store_revoked_list(db_conn *db, arena *a, int64_t now, const char *after_exp,
                           const char *after_id, int limit, Auth__V1__RevokedToken ***out,
                           char ***ids, size_t *n)
{
    num t = N(now), l = N(limit + 1);
    const char *p[] = {t.s, after_exp, after_id, l.s};
    PGresult *r = NULL;
    cf_code code = db_exec(db, "revoked_list", 4, p, &r);
    if (code != CF_OK)
        return code;
    size_t rows = (size_t)PQntuples(r);
    *out = arena_alloc(a, (rows + 1) * sizeof **out);
    *ids = arena_alloc(a, (rows + 1) * sizeof **ids);
    for (size_t i = 0; i < rows; i++) {
        int row = (int)i;
        Auth__V1__RevokedToken *t = arena_alloc(a, sizeof *t);
        auth__v1__revoked_token__init(t);
        t->jti = arena_strdup(a, PQgetvalue(r, row, 1));
        t->expires_at = ts_us(a, col_i64(r, row, 2) * 1000000);
        t->session_id = *t->jti ? "" : arena_strdup(a, PQgetvalue(r, row, 3));
        (*out)[i] = t;
        (*ids)[i] = arena_strdup(a, PQgetvalue(r, row, 0));
    }
    *n = rows;
    PQclear(r);
    return CF_OK;
}

/* ---- catalog's events ---- */

cf_code store_catalog_position(db_conn *db, const char *source, int64_t *seq)
{
    const char *p[] = {source};
    PGresult *r;
    cf_code code = db_exec(db, "event_position", 1, p, &r);
    if (code != CF_OK)
        return code;
    *seq = PQntuples(r) ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    PQclear(r);
    return CF_OK;
}

typedef struct consume_tx {
    const char *source, *sid, *sub, *reason;
    int64_t seq, until;
} consume_tx;

static cf_code consume_body(db_conn *db, void *arg)
{
    consume_tx *t = arg;
    if (t->sid) {
        cf_code code =
            store_sid_revoked(db, t->sid, t->sub, t->reason ? t->reason : "app", t->until, NULL);
        if (code != CF_OK)
            return code;
    }
    num s = N(t->seq);
    const char *p[] = {t->source, s.s};
    return db_exec(db, "event_position_set", 2, p, NULL);
}

cf_code store_catalog_event(db_conn *db, const char *source, int64_t seq, const char *sid,
                            const char *sub, const char *reason, int64_t until)
{
    consume_tx t = {source, sid, sub, reason, seq, until};
    return db_tx(db, consume_body, &t);
}

/* ---- OAuth states ---- */

cf_code store_state_create(db_conn *db, const char *state_hash, const char *provider,
                           const char *redirect_uri, int64_t now, int64_t expires_at,
                           const char *binding_hash, int64_t max_pending)
{
    num t = N(now), e = N(expires_at), m = N(max_pending);
    const char *p[] = {state_hash, provider, redirect_uri, t.s, e.s, m.s, binding_hash};
    PGresult *r = NULL;
    cf_code code = db_exec(db, "state_insert", 7, p, &r);
    if (code != CF_OK)
        return code;
    bool inserted = strtoll(PQcmdTuples(r), NULL, 10) == 1;
    PQclear(r);
    return inserted ? CF_OK : CF_RESOURCE_EXHAUSTED;
}

cf_code store_state_take(db_conn *db, arena *a, const char *state_hash, int64_t now,
                         char **provider, char **redirect_uri, char **binding_hash)
{
    num t = N(now);
    const char *p[] = {state_hash, t.s};
    PGresult *r = NULL;
    cf_code code = db_exec(db, "state_take", 2, p, &r);
    if (code != CF_OK)
        return code;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return CF_UNAUTHENTICATED;
    }
    *provider = arena_strdup(a, PQgetvalue(r, 0, 0));
    *redirect_uri = arena_strdup(a, PQgetvalue(r, 0, 1));
    *binding_hash = arena_strdup(a, PQgetvalue(r, 0, 2));
    PQclear(r);
    return CF_OK;
}
