/* store.c — the draw service's SQL: the statement table (prepared on every worker connection)
 * and the functions that run it. Parameters only; PGresult never leaves this file. */
#include "store.h"
#include "base/cuid.h"
#include "db/tx.h"
#include "rpc/rpc.h" /* rpc_idempotency_matches: the one rule */
#include "emit.h"
#include "events/events.h"

#include <assert.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The audit row's detail of a draw, in SQL (both allocation forms write it the same way). */
#define DRAW_AUDIT_DETAIL(prize, count, number)                                                    \
    "'prize=' || " prize " || ' count=' || " count " || ' number=' || " number

#define US(col)   "floor(extract(epoch FROM " col ") * 1000000)::bigint"
#define TS(param) "(timestamptz 'epoch' + " param "::bigint * interval '1 microsecond')"

#define PRIZE_COLS                                                                                 \
    "id, room_id, name, description, quantity, quantity_remaining, metadata::text, " US(           \
        "created_at") ", " US("updated_at")
#define WINNER_COLS                                                                                \
    "id, room_id, prize_id, participant_id, user_id, draw_id, metadata::text, "                    \
    "revoked_reason, " US("created_at") ", coalesce(" US("deleted_at") ", 0)"
#define DRAW_COLS                                                                                  \
    "id, room_id, prize_id, draw_number, algorithm, seed, eligible_digest, eligible_count, "       \
    "count, array_to_json(winner_participant_ids)::text, coalesce(idempotency_key, ''), "          \
    "drawn_by, " US("created_at")

const db_stmt draw_stmts[] = {
    /* a replayed idempotency key inserts nothing: the caller then reads the first prize */
    {"prize_insert",
     "INSERT INTO prizes (id, room_id, name, description, quantity, quantity_remaining, "
     "metadata, idempotency_key, idempotency_fingerprint) "
     "VALUES ($1, $2, $3, $4, $5::int, $5::int, $6::jsonb, nullif($7, ''), nullif($8, '')) "
     "ON CONFLICT (room_id, idempotency_key) DO NOTHING RETURNING " PRIZE_COLS},
    {"prize_by_key",
     "SELECT " PRIZE_COLS " FROM prizes WHERE room_id = $1 AND idempotency_key = $2"},
    {"prize_key_fingerprint", "SELECT coalesce(idempotency_fingerprint, '') FROM prizes "
                              "WHERE room_id = $1 AND idempotency_key = $2"},
    {"prize_get", "SELECT " PRIZE_COLS " FROM prizes "
                  "WHERE id = $1 AND room_id = $2 AND deleted_at IS NULL"},
    {"prize_list", "SELECT " PRIZE_COLS " FROM prizes WHERE room_id = $1 AND deleted_at IS NULL "
                   "AND ($2::bigint < 0 OR (created_at, id) > (" TS(
                       "$2") ", $3)) "
                             "ORDER BY created_at, id LIMIT $4::int"},
    /* $3..$6 say which fields change ($3 name, $4 description, $5 quantity, $6 metadata);
     * the quantity guard is evaluated on the locked row (see store.h) */
    {"prize_update",
     "UPDATE prizes SET name = CASE WHEN $3::bool THEN $7 ELSE name END, "
     "description = CASE WHEN $4::bool THEN $8 ELSE description END, "
     "quantity = CASE WHEN $5::bool THEN $9::int ELSE quantity END, "
     "quantity_remaining = CASE WHEN $5::bool THEN quantity_remaining + ($9::int - quantity) "
     "                          ELSE quantity_remaining END, "
     "metadata = CASE WHEN $6::bool THEN $10::jsonb ELSE metadata END, "
     "updated_at = clock_timestamp() "
     "WHERE id = $1 AND room_id = $2 AND deleted_at IS NULL "
     "AND (NOT $5::bool OR quantity - quantity_remaining <= $9::int) RETURNING " PRIZE_COLS},
    {"prize_delete",
     "UPDATE prizes SET deleted_at = clock_timestamp(), updated_at = clock_timestamp() "
     "WHERE id = $1 AND room_id = $2 AND deleted_at IS NULL "
     "AND quantity_remaining = quantity"},
    /* the draw transaction: the guard first (it takes the prize row lock) */
    {"draw_guard", "UPDATE prizes SET quantity_remaining = quantity_remaining - $3::int, "
                   "updated_at = clock_timestamp() "
                   "WHERE id = $1 AND room_id = $2 AND deleted_at IS NULL "
                   "AND quantity_remaining >= $3::int RETURNING quantity_remaining"},
    {"draw_number", "INSERT INTO room_draw_counters AS c (room_id, last_number) VALUES ($1, 1) "
                    "ON CONFLICT (room_id) DO UPDATE SET last_number = c.last_number + 1 "
                    "RETURNING last_number"},
    {"draw_room_conflict", "SELECT 1 FROM winners WHERE room_id = $1 AND deleted_at IS NULL "
                           "AND participant_id = ANY ($2::text[]) LIMIT 1"},
    {"draw_insert",
     "INSERT INTO draws (id, room_id, prize_id, draw_number, algorithm, seed, eligible_digest, "
     "eligible_count, count, winner_participant_ids, idempotency_key, drawn_by) "
     "VALUES ($1, $2, $3, $4::bigint, $5, $6, $7, $8::bigint, $9::int, $10::text[], "
     "nullif($11, ''), $12) RETURNING " US("created_at")},
    {"winners_insert",
     "INSERT INTO winners (id, room_id, prize_id, participant_id, user_id, draw_id, metadata, "
     "created_at, updated_at) "
     "SELECT w.id, $1, $2, w.pid, w.uid, $3, jsonb_build_object('algorithm', $4::text, "
     "'drawNumber', $5::bigint, 'timestamp', to_char(" TS(
         "$9") " AT TIME ZONE 'UTC', "
               "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')), " TS("$9") ", " TS(
                   "$9") " "
                         "FROM unnest($6::text[], $7::text[], $8::text[]) WITH ORDINALITY AS "
                         "w(id, "
                         "pid, uid, ord) "
                         "ORDER BY w.ord"},
    /* The allocation of n ONE_WIN_PER_PRIZE draws of one prize (one alone, or a group:
     * group.c) as ONE statement, run by db_exec_tx as its own transaction in one round trip,
     * so the prize row lock (g) and the room counter lock (n, taken after it: the same order
     * as the transaction form) are held only while the server executes it (docs/draw.md,
     * "The allocation"). Each step selects FROM the one before, so a guard that refuses (no
     * row) makes every step write nothing and the statement return no row; a pick that won
     * meanwhile is a unique violation of the winners insert, which fails the statement whole.
     * The guard takes all the units, the counter n numbers (last − n + ord, in array order).
     * $1 prize, $2 room, $3 units, $4 n; per draw: $5 ids, $6 seeds, $7 digests, $8 eligible
     * counts, $9 drawn by, $10 counts, $11 idempotency keys ('' = none), $12/$13 outbox rows;
     * per winner: $14 ids, $15 picks, $16 user ids, $17 their draw's ordinal; $18 algorithm. */
    {"draw_alloc",
     "WITH g AS (UPDATE prizes SET quantity_remaining = quantity_remaining - $3::int, "
     "  updated_at = clock_timestamp() WHERE id = $1 AND room_id = $2 AND deleted_at IS NULL "
     "  AND quantity_remaining >= $3::int RETURNING 1), "
     "n AS (INSERT INTO room_draw_counters AS c (room_id, last_number) SELECT $2, $4::bigint "
     "  FROM g ON CONFLICT (room_id) DO UPDATE SET last_number = c.last_number + $4::bigint "
     "  RETURNING last_number), "
     "x AS (SELECT * FROM unnest($5::text[], $6::text[], $7::text[], $8::bigint[], $9::text[], "
     "  $10::int[], $11::text[], $12::text[], $13::text[]) WITH ORDINALITY "
     "  AS x(id, seed, digest, ecount, drawn_by, cnt, idem, ev_id, ev_body, ord)), "
     "y AS (SELECT * FROM unnest($14::text[], $15::text[], $16::text[], $17::bigint[]) "
     "  WITH ORDINALITY AS y(wid, pid, uid, dord, ord)), "
     "d AS (INSERT INTO draws (id, room_id, prize_id, draw_number, algorithm, seed, "
     "  eligible_digest, eligible_count, count, winner_participant_ids, idempotency_key, "
     "  drawn_by) SELECT x.id, $2, $1, n.last_number - $4::bigint + x.ord, $18, x.seed, "
     "  x.digest, x.ecount, x.cnt, ARRAY(SELECT y.pid FROM y WHERE y.dord = x.ord "
     "  ORDER BY y.ord), nullif(x.idem, ''), x.drawn_by FROM n, x ORDER BY x.ord "
     "  RETURNING id, draw_number, created_at), "
     "w AS (INSERT INTO winners (id, room_id, prize_id, participant_id, user_id, draw_id, "
     "  metadata, created_at, updated_at) SELECT y.wid, $2, $1, y.pid, y.uid, x.id, "
     "  jsonb_build_object('algorithm', $18::text, 'drawNumber', d.draw_number, 'timestamp', "
     "  to_char(d.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')), "
     "  d.created_at, d.created_at FROM y JOIN x ON x.ord = y.dord JOIN d ON d.id = x.id "
     "  ORDER BY y.ord RETURNING 1), "
     "o AS (INSERT INTO outbox (event_id, body) SELECT x.ev_id, x.ev_body::bytea "
     "  FROM d JOIN x ON x.id = d.id ORDER BY x.ord RETURNING 1), "
     /* the audit log's row of each draw (common/audit, docs/audit.md): $19..$22 per draw */
     "a AS (INSERT INTO audit_log (" AUDIT_INSERT_COLUMNS ") SELECT au.aid, 'draw.performed', "
     "  x.drawn_by, $2, 'draw', x.id, " DRAW_AUDIT_DETAIL(
         "$1", "x.cnt", "d.draw_number") ", "
                                         "  au.peer, au.via, au.rid FROM d JOIN x ON x.id = d.id "
                                         "JOIN unnest($19::text[], "
                                         "  $20::text[], $21::text[], $22::text[]) WITH ORDINALITY "
                                         "AS au(aid, peer, via, rid, ord) "
                                         "  ON au.ord = x.ord RETURNING 1) "
                                         "SELECT d.draw_number, " US(
                                             "d.created_at") ", " EVENTS_OUTBOX_NOTIFY ", "
                                                             "  (SELECT count(*) FROM o) FROM d "
                                                             "ORDER BY d.draw_number"},
    {"draw_get", "SELECT " DRAW_COLS " FROM draws WHERE id = $1 AND room_id = $2"},
    {"draw_by_key", "SELECT " DRAW_COLS " FROM draws WHERE room_id = $1 AND idempotency_key = $2"},
    {"winners_of_draw", "SELECT " WINNER_COLS " FROM winners w WHERE draw_id = $1 "
                        "ORDER BY array_position((SELECT winner_participant_ids FROM draws "
                        "WHERE id = $1), participant_id)"},
    {"winner_list_room",
     "SELECT " WINNER_COLS " FROM winners WHERE room_id = $1 AND deleted_at IS NULL "
     "AND ($2::bigint < 0 OR (created_at, id) > (" TS(
         "$2") ", $3)) "
               "ORDER BY created_at, id LIMIT $4::int"},
    {"winner_list_prize",
     "SELECT " WINNER_COLS " FROM winners WHERE prize_id = $5 AND room_id = $1 "
     "AND deleted_at IS NULL AND ($2::bigint < 0 OR (created_at, id) > (" TS(
         "$2") ", $3)) "
               "ORDER BY created_at, id LIMIT $4::int"},
    {"winner_revoke",
     "UPDATE winners SET deleted_at = clock_timestamp(), updated_at = clock_timestamp(), "
     "revoked_reason = $3 WHERE id = $1 AND room_id = $2 AND deleted_at IS NULL "
     "RETURNING prize_id, user_id"},
    {"prize_restock", "UPDATE prizes SET quantity_remaining = quantity_remaining + 1, "
                      "updated_at = clock_timestamp() WHERE id = $1"},
    {"winner_get_any", "SELECT " WINNER_COLS " FROM winners WHERE id = $1 AND room_id = $2"},
    /* the exclusion cache's delta (excluded.h): the winners of the prize's draws numbered
     * past the cache's mark, with the number. A draw's winner_participant_ids are exactly
     * the winner rows it inserted (same array, same transaction; winner rows are never
     * deleted), so one index range of draws_prize_number (003) suffices: a join to
     * winners got a generic plan with a sequential scan of winners */
    {"excluded_since", "SELECT unnest(winner_participant_ids), draw_number FROM draws "
                       "WHERE prize_id = $1 AND draw_number > $2::bigint"},
    /* prize_get and excluded_since ($3 = the mark) in one statement: one round trip, one
     * snapshot. The prize row (id never NULL) and the delta rows (id NULL) in any order;
     * no prize row = NOT_FOUND, and then no delta is read (the EXISTS) */
    {"prize_get_since",
     "WITH p AS (SELECT " PRIZE_COLS " FROM prizes "
     "WHERE id = $1 AND room_id = $2 AND deleted_at IS NULL) "
     "SELECT p.*, NULL::text, NULL::bigint FROM p UNION ALL "
     "SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
     "unnest(d.winner_participant_ids), d.draw_number FROM draws d "
     "WHERE d.prize_id = $1 AND d.draw_number > $3::bigint AND EXISTS (SELECT 1 FROM p)"},
};
const size_t draw_nstmts = sizeof draw_stmts / sizeof *draw_stmts;

/* Exclusion lists run unprepared (custom plan): a hot prize can have very many winners and a
 * generic plan would not know (STACK.md, the generic-plan trap). Sorted bytewise (COLLATE "C")
 * so the service can binary-search them with strcmp. */
static const char excluded_prize_sql[] =
    "SELECT participant_id FROM winners WHERE prize_id = $1 ORDER BY participant_id COLLATE \"C\"";
static const char excluded_room_sql[] =
    "SELECT participant_id FROM (SELECT participant_id FROM winners WHERE prize_id = $1 "
    "UNION SELECT participant_id FROM winners WHERE room_id = $2 AND deleted_at IS NULL) u "
    "ORDER BY participant_id COLLATE \"C\"";

/* --- helpers --- */

static char *dup(arena *a, const PGresult *r, int row, int col)
{
    return arena_strdup(a, PQgetvalue(r, row, col));
}

static int64_t i64(const PGresult *r, int row, int col)
{
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static void read_prize(arena *a, const PGresult *r, int row, store_prize *o)
{
    o->id = dup(a, r, row, 0);
    o->room_id = dup(a, r, row, 1);
    o->name = dup(a, r, row, 2);
    o->description = dup(a, r, row, 3);
    o->quantity = (int32_t)i64(r, row, 4);
    o->remaining = (int32_t)i64(r, row, 5);
    o->metadata_json = dup(a, r, row, 6);
    o->created_us = i64(r, row, 7);
    o->updated_us = i64(r, row, 8);
}

static void read_winner(arena *a, const PGresult *r, int row, store_winner *o)
{
    o->id = dup(a, r, row, 0);
    o->room_id = dup(a, r, row, 1);
    o->prize_id = dup(a, r, row, 2);
    o->participant_id = dup(a, r, row, 3);
    o->user_id = dup(a, r, row, 4);
    o->draw_id = dup(a, r, row, 5);
    o->metadata_json = dup(a, r, row, 6);
    o->revoked_reason = PQgetisnull(r, row, 7) ? NULL : dup(a, r, row, 7);
    o->created_us = i64(r, row, 8);
    o->revoked_us = i64(r, row, 9);
}

static cf_code read_draw(arena *a, const PGresult *r, int row, store_draw *o)
{
    o->id = dup(a, r, row, 0);
    o->room_id = dup(a, r, row, 1);
    o->prize_id = dup(a, r, row, 2);
    o->number = i64(r, row, 3);
    o->algorithm = dup(a, r, row, 4);
    o->seed_hex = dup(a, r, row, 5);
    o->digest_hex = dup(a, r, row, 6);
    o->eligible_count = i64(r, row, 7);
    o->count = (int32_t)i64(r, row, 8);
    o->idem_key = dup(a, r, row, 10);
    o->drawn_by = dup(a, r, row, 11);
    o->created_us = i64(r, row, 12);
    json_t *arr = json_loads(PQgetvalue(r, row, 9), 0, NULL);
    if (!json_is_array(arr)) {
        json_decref(arr);
        return CF_INTERNAL;
    }
    o->nwinners = json_array_size(arr);
    o->winners = arena_alloc(a, (o->nwinners + 1) * sizeof *o->winners);
    for (size_t i = 0; i < o->nwinners; i++) {
        const char *s = json_string_value(json_array_get(arr, i));
        o->winners[i] = arena_strdup(a, s ? s : "");
    }
    json_decref(arr);
    return CF_OK;
}

/* A text[] literal {"a","b"} with quotes and backslashes escaped. */
static char *array_literal(arena *a, const char *const *v, size_t n)
{
    size_t len = 3;
    for (size_t i = 0; i < n; i++)
        len += 2 * strlen(v[i]) + 3;
    char *out = arena_alloc(a, len), *p = out;
    *p++ = '{';
    for (size_t i = 0; i < n; i++) {
        if (i)
            *p++ = ',';
        *p++ = '"';
        for (const char *s = v[i]; *s; s++) {
            if (*s == '"' || *s == '\\')
                *p++ = '\\';
            *p++ = *s;
        }
        *p++ = '"';
    }
    *p++ = '}';
    *p = '\0';
    return out;
}

static cf_code one_prize(db_conn *db, arena *a, const char *stmt, int n, const char *const *p,
                         store_prize *out)
{
    PGresult *r;
    cf_code code = db_exec_row(db, stmt, n, p, &r);
    if (code != CF_OK)
        return code;
    read_prize(a, r, 0, out);
    PQclear(r);
    return CF_OK;
}

/* --- prizes --- */

/* A prize change and its event, in one transaction: `stmt` returns the changed prize row, or
 * none when nothing changed (then no event). */
typedef struct prize_tx {
    arena *a;
    const char *stmt;
    int n;
    const char *const *p;
    bool created;
    store_prize *out;
} prize_tx;

static cf_code prize_body(db_conn *db, void *arg)
{
    prize_tx *t = arg;
    cf_code code = one_prize(db, t->a, t->stmt, t->n, t->p, t->out);
    if (code != CF_OK)
        return code;
    return t->created ? emit_prize_created(db, t->out) : emit_prize_updated(db, t->out);
}

cf_code store_prize_create(db_conn *db, arena *a, const store_prize *in, const char *idem_key,
                           const char *fingerprint, store_prize *out, bool *key_reused)
{
    *key_reused = false;
    char q[16];
    snprintf(q, sizeof q, "%" PRId32, in->quantity);
    const char *p[] = {in->id,
                       in->room_id,
                       in->name,
                       in->description,
                       q,
                       in->metadata_json,
                       idem_key ? idem_key : "",
                       idem_key && fingerprint ? fingerprint : ""};
    prize_tx t = {a, "prize_insert", 8, p, true, out};
    cf_code code = db_tx(db, prize_body, &t);
    if (code != CF_NOT_FOUND || !idem_key || !*idem_key)
        return code;
    const char *k[] = {in->room_id, idem_key};
    PGresult *r;
    if ((code = db_exec(db, "prize_key_fingerprint", 2, k, &r)) != CF_OK)
        return code;
    /* '' = made before fingerprints were kept: replayed as before */
    bool other = PQntuples(r) == 1 && !rpc_idempotency_matches(PQgetvalue(r, 0, 0), fingerprint);
    PQclear(r);
    if (other) {
        *key_reused = true;
        return CF_INVALID_ARGUMENT;
    }
    code = one_prize(db, a, "prize_by_key", 2, k, out);
    return code == CF_NOT_FOUND ? CF_ABORTED : code; /* the first one vanished: retry */
}

cf_code store_prize_get(db_conn *db, arena *a, const char *room_id, const char *id,
                        store_prize *out)
{
    const char *p[] = {id, room_id};
    return one_prize(db, a, "prize_get", 2, p, out);
}

cf_code store_prize_list(db_conn *db, arena *a, const char *room_id, int64_t after_us,
                         const char *after_id, int limit, store_prize **rows, size_t *n)
{
    char us[24], lim[16];
    snprintf(us, sizeof us, "%" PRId64, after_us);
    snprintf(lim, sizeof lim, "%d", limit);
    const char *p[] = {room_id, us, after_id ? after_id : "", lim};
    PGresult *r;
    cf_code code = db_exec(db, "prize_list", 4, p, &r);
    if (code != CF_OK)
        return code;
    *n = (size_t)PQntuples(r);
    *rows = arena_zalloc(a, (*n + 1) * sizeof **rows);
    for (size_t i = 0; i < *n; i++)
        read_prize(a, r, (int)i, &(*rows)[i]);
    PQclear(r);
    return CF_OK;
}

cf_code store_prize_update(db_conn *db, arena *a, const char *room_id, const store_prize *in,
                           unsigned set, store_prize *out)
{
    char q[16];
    snprintf(q, sizeof q, "%" PRId32, in->quantity);
#define FLAG(bit) ((set & (bit)) ? "true" : "false")
    const char *p[] = {in->id,
                       room_id,
                       FLAG(STORE_SET_NAME),
                       FLAG(STORE_SET_DESCRIPTION),
                       FLAG(STORE_SET_QUANTITY),
                       FLAG(STORE_SET_METADATA),
                       in->name ? in->name : "",
                       in->description ? in->description : "",
                       q,
                       in->metadata_json ? in->metadata_json : "{}"};
#undef FLAG
    prize_tx t = {a, "prize_update", 10, p, false, out};
    cf_code code = db_tx(db, prize_body, &t);
    if (code != CF_NOT_FOUND)
        return code;
    /* no row: either there is no such prize, or the quantity guard refused */
    store_prize cur;
    code = store_prize_get(db, a, room_id, in->id, &cur);
    return code == CF_OK ? CF_FAILED_PRECONDITION : code;
}

typedef struct delete_tx {
    const char *room_id, *id;
    bool done;
} delete_tx;

static cf_code delete_body(db_conn *db, void *arg)
{
    delete_tx *t = arg;
    const char *p[] = {t->id, t->room_id};
    PGresult *r;
    cf_code code = db_exec(db, "prize_delete", 2, p, &r);
    if (code != CF_OK)
        return code;
    t->done = strcmp(PQcmdTuples(r), "1") == 0;
    PQclear(r);
    return t->done ? emit_prize_deleted(db, t->room_id, t->id) : CF_OK;
}

cf_code store_prize_delete(db_conn *db, const char *room_id, const char *id)
{
    delete_tx t = {room_id, id, false};
    cf_code code = db_tx(db, delete_body, &t);
    if (code != CF_OK)
        return code;
    if (t.done)
        return CF_OK;
    arena a;
    arena_init(&a, 1024);
    store_prize cur;
    code = store_prize_get(db, &a, room_id, id, &cur);
    arena_release(&a);
    return code == CF_OK ? CF_FAILED_PRECONDITION : code;
}

/* --- draws --- */

cf_code store_excluded(db_conn *db, arena *a, const char *room_id, const char *prize_id,
                       bool room_policy, char ***ids, size_t *n)
{
    const char *p[] = {prize_id, room_id};
    PGresult *r;
    cf_code code = room_policy ? db_exec_sql(db, excluded_room_sql, 2, p, &r)
                               : db_exec_sql(db, excluded_prize_sql, 1, p, &r);
    if (code != CF_OK)
        return code;
    *n = (size_t)PQntuples(r);
    *ids = arena_alloc(a, (*n + 1) * sizeof **ids);
    for (size_t i = 0; i < *n; i++)
        (*ids)[i] = dup(a, r, (int)i, 0);
    PQclear(r);
    return CF_OK;
}

cf_code store_excluded_since(db_conn *db, arena *a, const char *prize_id, int64_t after,
                             char ***ids, size_t *n, int64_t *mark)
{
    char num[24];
    snprintf(num, sizeof num, "%" PRId64, after);
    const char *p[] = {prize_id, num};
    PGresult *r;
    cf_code code = db_exec(db, "excluded_since", 2, p, &r);
    if (code != CF_OK)
        return code;
    *n = (size_t)PQntuples(r);
    *ids = arena_alloc(a, (*n + 1) * sizeof **ids);
    *mark = after;
    for (size_t i = 0; i < *n; i++) {
        (*ids)[i] = dup(a, r, (int)i, 0);
        int64_t num_i = i64(r, (int)i, 1);
        if (num_i > *mark)
            *mark = num_i;
    }
    PQclear(r);
    return CF_OK;
}

cf_code store_prize_get_since(db_conn *db, arena *a, const char *room_id, const char *id,
                              int64_t after, store_prize *out, char ***ids, size_t *n,
                              int64_t *mark)
{
    char num[24];
    snprintf(num, sizeof num, "%" PRId64, after);
    const char *p[] = {id, room_id, num};
    PGresult *r;
    cf_code code = db_exec(db, "prize_get_since", 3, p, &r);
    if (code != CF_OK)
        return code;
    int rows = PQntuples(r);
    bool found = false;
    *ids = arena_alloc(a, (size_t)(rows ? rows : 1) * sizeof **ids);
    *n = 0;
    *mark = after;
    for (int i = 0; i < rows; i++) {
        if (!PQgetisnull(r, i, 0)) { /* the prize row */
            read_prize(a, r, i, out);
            found = true;
            continue;
        }
        (*ids)[(*n)++] = dup(a, r, i, 9);
        int64_t num_i = i64(r, i, 10);
        if (num_i > *mark)
            *mark = num_i;
    }
    PQclear(r);
    if (found)
        return CF_OK;
    *n = 0;
    *mark = after;
    return CF_NOT_FOUND;
}

static cf_code one_draw(db_conn *db, arena *a, const char *stmt, const char *const *p,
                        store_draw *out)
{
    PGresult *r;
    cf_code code = db_exec(db, stmt, 2, p, &r);
    if (code != CF_OK)
        return code;
    code = PQntuples(r) == 1 ? read_draw(a, r, 0, out) : CF_NOT_FOUND;
    PQclear(r);
    return code;
}

cf_code store_draw_get(db_conn *db, arena *a, const char *room_id, const char *id, store_draw *out)
{
    const char *p[] = {id, room_id};
    return one_draw(db, a, "draw_get", p, out);
}

cf_code store_draw_by_key(db_conn *db, arena *a, const char *room_id, const char *key,
                          store_draw *out)
{
    const char *p[] = {room_id, key};
    return one_draw(db, a, "draw_by_key", p, out);
}

typedef struct commit_arg {
    const store_new_draw *in;
    arena *a;
    const char *pids, *uids, *wids; /* array literals */
    int64_t number, created_us;     /* what the allocation returned */
} commit_arg;

/* Runs a statement that must return one row and reads column 0 as an integer. */
static cf_code one_int(db_conn *db, const char *stmt, int n, const char *const *p, int64_t *v)
{
    PGresult *r;
    cf_code code = db_exec(db, stmt, n, p, &r);
    if (code != CF_OK)
        return code;
    if (PQntuples(r) == 1)
        *v = i64(r, 0, 0);
    else
        code = CF_NOT_FOUND;
    PQclear(r);
    return code;
}

static cf_code commit_body(db_conn *db, void *p)
{
    commit_arg *c = p;
    const store_new_draw *in = c->in;
    cf_code code = db_set_local_timeout(db, in->timeout_ms);
    if (code != CF_OK)
        return code;
    char count[16], number[24], ecount[24], created[24];
    snprintf(count, sizeof count, "%" PRId32, in->count);
    snprintf(ecount, sizeof ecount, "%" PRId64, in->eligible_count);

    /* 1. the guard: over-allocation is impossible because the decrement and its condition
     *    are one statement on the locked row (the CHECK constraint backs it up) */
    int64_t left;
    const char *g[] = {in->prize_id, in->room_id, count};
    code = one_int(db, "draw_guard", 3, g, &left);
    if (code == CF_NOT_FOUND)
        return CF_FAILED_PRECONDITION;
    if (code != CF_OK)
        return code;

    /* 2. the room's next draw number (row lock on the room's counter until commit) */
    int64_t num;
    const char *rn[] = {in->room_id};
    if ((code = one_int(db, "draw_number", 1, rn, &num)) != CF_OK)
        return code == CF_NOT_FOUND ? CF_INTERNAL : code;
    snprintf(number, sizeof number, "%" PRId64, num);

    /* 3. ONE_WIN_PER_ROOM: draws in a room are serialized by the counter lock above, so what
     *    this statement sees is every committed winner of the room */
    if (in->room_policy) {
        const char *rc[] = {in->room_id, c->pids};
        PGresult *r;
        if ((code = db_exec(db, "draw_room_conflict", 2, rc, &r)) != CF_OK)
            return code;
        bool clash = PQntuples(r) > 0;
        PQclear(r);
        if (clash)
            return CF_ABORTED;
    }

    /* 4. the audit record; a unique violation here is the idempotency key */
    const char *d[] = {in->id,
                       in->room_id,
                       in->prize_id,
                       number,
                       in->algorithm,
                       in->seed_hex,
                       in->digest_hex,
                       ecount,
                       count,
                       c->pids,
                       in->idem_key ? in->idem_key : "",
                       in->drawn_by};
    int64_t created_us;
    code = one_int(db, "draw_insert", 12, d, &created_us);
    if (code != CF_OK)
        return code == CF_NOT_FOUND ? CF_INTERNAL : code;
    snprintf(created, sizeof created, "%" PRId64, created_us);

    /* 5. the winners; a unique violation means a pick won this prize meanwhile */
    const char *w[] = {in->room_id, in->prize_id, in->id,  in->algorithm, number,
                       c->wids,     c->pids,      c->uids, created};
    code = db_exec(db, "winners_insert", 9, w, NULL);
    if (code == CF_ALREADY_EXISTS)
        return CF_ABORTED;
    if (code != CF_OK)
        return code;
    code = emit_winner_drawn(db, in->room_id, in->prize_id, in->id, in->winner_ids, in->user_ids,
                             (size_t)in->count);
    if (code != CF_OK)
        return code;
    char detail[256];
    snprintf(detail, sizeof detail, "prize=%s count=%s number=%s", in->prize_id, count, number);
    audit_ctx au = in->au ? *in->au : (audit_ctx){0};
    au.actor_id = in->drawn_by;
    code = audit_write(db, &au,
                       &(audit_row){.action = "draw.performed",
                                    .room_id = in->room_id,
                                    .target_type = "draw",
                                    .target_id = in->id,
                                    .detail = detail});
    if (code != CF_OK)
        return code;

    c->number = num;
    c->created_us = created_us;
    return CF_OK;
}

/* ONE_WIN_PER_PRIZE: draws in[0..n) of one prize allocated by one statement (draw_alloc) in
 * one round trip; numbers[i], created_us[i] on CF_OK. */
static cf_code alloc(db_conn *db, arena *a, const store_new_draw *const *in, size_t n,
                     int64_t timeout_ms, int64_t *numbers, int64_t *created_us)
{
    assert(n >= 1 && n <= STORE_GROUP_MAX);
    const char *ids[STORE_GROUP_MAX], *seeds[STORE_GROUP_MAX], *digests[STORE_GROUP_MAX];
    const char *by[STORE_GROUP_MAX], *keys[STORE_GROUP_MAX], *ev_ids[STORE_GROUP_MAX];
    const char *ev_bodies[STORE_GROUP_MAX];
    char *ecounts[STORE_GROUP_MAX], *counts[STORE_GROUP_MAX];
    events_outbox_row ev[STORE_GROUP_MAX];
    const char *aids[STORE_GROUP_MAX], *peers[STORE_GROUP_MAX], *vias[STORE_GROUP_MAX];
    const char *rids[STORE_GROUP_MAX];
    size_t nw = 0, units = 0;
    for (size_t i = 0; i < n; i++)
        nw += (size_t)in[i]->count;
    const char **wids = arena_alloc(a, (nw + 1) * sizeof *wids);
    const char **pids = arena_alloc(a, (nw + 1) * sizeof *pids);
    const char **uids = arena_alloc(a, (nw + 1) * sizeof *uids);
    const char **words = arena_alloc(a, (nw + 1) * sizeof *words);
    for (size_t i = 0; i < n; i++) {
        const store_new_draw *d = in[i];
        ids[i] = d->id, seeds[i] = d->seed_hex, digests[i] = d->digest_hex, by[i] = d->drawn_by;
        keys[i] = d->idem_key ? d->idem_key : "";
        ecounts[i] = arena_printf(a, "%" PRId64, d->eligible_count);
        counts[i] = arena_printf(a, "%" PRId32, d->count);
        char *ord = arena_printf(a, "%zu", i + 1);
        for (size_t j = 0; j < (size_t)d->count; j++, units++) {
            wids[units] = d->winner_ids[j], pids[units] = d->participant_ids[j];
            uids[units] = d->user_ids[j], words[units] = ord;
        }
        char *aid = arena_alloc(a, CUID_LEN + 1);
        cuid_new(aid);
        aids[i] = aid;
        peers[i] = d->au && d->au->peer ? d->au->peer : "";
        vias[i] = d->au && d->au->via ? d->au->via : "";
        rids[i] = d->au && d->au->request_id ? d->au->request_id : "";
        emit_winner_drawn_row(d->room_id, d->prize_id, d->id, d->winner_ids, d->user_ids,
                              (size_t)d->count, &ev[i]);
        ev_ids[i] = ev[i].id, ev_bodies[i] = ev[i].body_hex;
    }
    char total[24], ndraws[24];
    snprintf(total, sizeof total, "%zu", units);
    snprintf(ndraws, sizeof ndraws, "%zu", n);
    const char *p[] = {in[0]->prize_id,
                       in[0]->room_id,
                       total,
                       ndraws,
                       array_literal(a, ids, n),
                       array_literal(a, seeds, n),
                       array_literal(a, digests, n),
                       array_literal(a, (const char *const *)ecounts, n),
                       array_literal(a, by, n),
                       array_literal(a, (const char *const *)counts, n),
                       array_literal(a, keys, n),
                       array_literal(a, ev_ids, n),
                       array_literal(a, ev_bodies, n),
                       array_literal(a, wids, nw),
                       array_literal(a, pids, nw),
                       array_literal(a, uids, nw),
                       array_literal(a, words, nw),
                       in[0]->algorithm,
                       array_literal(a, aids, n),
                       array_literal(a, peers, n),
                       array_literal(a, vias, n),
                       array_literal(a, rids, n)};
    PGresult *r;
    cf_code code = db_exec_tx(db, timeout_ms, "draw_alloc", 22, p, &r);
    for (size_t i = 0; i < n; i++)
        events_outbox_row_free(&ev[i]);
    if (code == CF_ALREADY_EXISTS) {
        /* the idempotency key (draws) or a pick that won meanwhile (winners): a draw under the
         * key tells which, without reading constraint names (a group holds no keys) */
        store_draw first;
        if (n > 1 || !*keys[0])
            return CF_ABORTED;
        cf_code k = store_draw_by_key(db, a, in[0]->room_id, keys[0], &first);
        return k == CF_OK ? CF_ALREADY_EXISTS : k == CF_NOT_FOUND ? CF_ABORTED : k;
    }
    if (code != CF_OK)
        return code;
    if ((size_t)PQntuples(r) != n) { /* the guard refused: nothing was written */
        PQclear(r);
        return CF_FAILED_PRECONDITION;
    }
    for (size_t i = 0; i < n; i++) { /* in draw number order = array order */
        numbers[i] = i64(r, (int)i, 0);
        created_us[i] = i64(r, (int)i, 1);
    }
    PQclear(r);
    return CF_OK;
}

void store_draw_committed(arena *a, const store_new_draw *in, int64_t number, int64_t created_us,
                          store_draw *out, store_winner *winners)
{
    size_t k = (size_t)in->count;
    out->id = arena_strdup(a, in->id);
    out->room_id = arena_strdup(a, in->room_id);
    out->prize_id = arena_strdup(a, in->prize_id);
    out->algorithm = arena_strdup(a, in->algorithm);
    out->seed_hex = arena_strdup(a, in->seed_hex);
    out->digest_hex = arena_strdup(a, in->digest_hex);
    out->idem_key = arena_strdup(a, in->idem_key ? in->idem_key : "");
    out->drawn_by = arena_strdup(a, in->drawn_by);
    out->number = number;
    out->eligible_count = in->eligible_count;
    out->count = in->count;
    out->created_us = created_us;
    out->nwinners = k;
    out->winners = arena_alloc(a, (k + 1) * sizeof *out->winners);
    for (size_t i = 0; i < k; i++) {
        out->winners[i] = arena_strdup(a, in->participant_ids[i]);
        winners[i] = (store_winner){
            .id = arena_strdup(a, in->winner_ids[i]),
            .room_id = out->room_id,
            .prize_id = out->prize_id,
            .participant_id = out->winners[i],
            .user_id = arena_strdup(a, in->user_ids[i]),
            .draw_id = out->id,
            .metadata_json = arena_printf(a, "{\"algorithm\":\"%s\",\"drawNumber\":%" PRId64 "}",
                                          in->algorithm, out->number),
            .created_us = out->created_us,
        };
    }
}

cf_code store_draw_commit(db_conn *db, arena *a, const store_new_draw *in, store_draw *out,
                          store_winner *winners)
{
    int64_t number = 0, created_us = 0;
    cf_code code;
    if (in->room_policy) {
        /* ONE_WIN_PER_ROOM must see every winner committed in the room before it, which a
         * single statement's snapshot (taken before it waits for the counter lock) would not:
         * that policy keeps the transaction form, whose conflict check runs after the lock */
        size_t k = (size_t)in->count;
        commit_arg c = {in,
                        a,
                        array_literal(a, in->participant_ids, k),
                        array_literal(a, in->user_ids, k),
                        array_literal(a, in->winner_ids, k),
                        0,
                        0};
        code = db_tx(db, commit_body, &c);
        number = c.number, created_us = c.created_us;
    } else {
        code = alloc(db, a, &in, 1, in->timeout_ms, &number, &created_us);
    }
    if (code == CF_OK)
        store_draw_committed(a, in, number, created_us, out, winners);
    return code;
}

cf_code store_draw_commit_group(db_conn *db, arena *a, const store_new_draw *const *in, size_t n,
                                int64_t timeout_ms, int64_t *numbers, int64_t *created_us)
{
    for (size_t i = 0; i < n; i++)
        assert(in[i]->count == 1 && !in[i]->room_policy && !(in[i]->idem_key && *in[i]->idem_key));
    return alloc(db, a, in, n, timeout_ms, numbers, created_us);
}

/* --- winners --- */

static cf_code winner_rows(db_conn *db, arena *a, const char *stmt, int n, const char *const *p,
                           store_winner **rows, size_t *nrows)
{
    PGresult *r;
    cf_code code = db_exec(db, stmt, n, p, &r);
    if (code != CF_OK)
        return code;
    *nrows = (size_t)PQntuples(r);
    *rows = arena_zalloc(a, (*nrows + 1) * sizeof **rows);
    for (size_t i = 0; i < *nrows; i++)
        read_winner(a, r, (int)i, &(*rows)[i]);
    PQclear(r);
    return CF_OK;
}

cf_code store_winners_of_draw(db_conn *db, arena *a, const char *draw_id, store_winner **rows,
                              size_t *n)
{
    const char *p[] = {draw_id};
    return winner_rows(db, a, "winners_of_draw", 1, p, rows, n);
}

cf_code store_winner_list(db_conn *db, arena *a, const char *room_id, const char *prize_id,
                          int64_t after_us, const char *after_id, int limit, store_winner **rows,
                          size_t *n)
{
    char us[24], lim[16];
    snprintf(us, sizeof us, "%" PRId64, after_us);
    snprintf(lim, sizeof lim, "%d", limit);
    const char *p[] = {room_id, us, after_id ? after_id : "", lim, prize_id};
    if (*prize_id)
        return winner_rows(db, a, "winner_list_prize", 5, p, rows, n);
    return winner_rows(db, a, "winner_list_room", 4, p, rows, n);
}

typedef struct revoke_arg {
    const char *room_id, *id, *reason;
    const audit_ctx *au;
} revoke_arg;

static cf_code revoke_body(db_conn *db, void *p)
{
    revoke_arg *r = p;
    const char *v[] = {r->id, r->room_id, r->reason};
    PGresult *res;
    cf_code code = db_exec(db, "winner_revoke", 3, v, &res);
    if (code != CF_OK)
        return code;
    if (PQntuples(res) == 0) { /* absent, or already revoked: nothing to give back */
        PQclear(res);
        return CF_OK;
    }
    const char *prize[] = {PQgetvalue(res, 0, 0)};
    PGresult *up;
    code = db_exec(db, "prize_restock", 1, prize, &up);
    if (code == CF_OK)
        code =
            emit_winner_revoked(db, r->room_id, prize[0], r->id, PQgetvalue(res, 0, 1), r->reason);
    if (code == CF_OK)
        code = audit_write(db, r->au,
                           &(audit_row){.action = "winner.revoked",
                                        .room_id = r->room_id,
                                        .target_type = "winner",
                                        .target_id = r->id,
                                        .detail = r->reason});
    PQclear(res);
    if (code != CF_OK) {
        PQclear(up);
        return code;
    }
    /* the invariant guarantees the row exists (a prize with live winners is never deleted) */
    bool one = strcmp(PQcmdTuples(up), "1") == 0;
    PQclear(up);
    return one ? CF_OK : CF_INTERNAL;
}

cf_code store_winner_revoke(db_conn *db, arena *a, const char *room_id, const char *id,
                            const char *reason, store_winner *out, const audit_ctx *au)
{
    revoke_arg r = {room_id, id, reason, au};
    cf_code code = db_tx(db, revoke_body, &r);
    if (code != CF_OK)
        return code;
    const char *p[] = {id, room_id};
    store_winner *rows;
    size_t n;
    if ((code = winner_rows(db, a, "winner_get_any", 2, p, &rows, &n)) != CF_OK)
        return code;
    if (n != 1)
        return CF_NOT_FOUND;
    *out = rows[0];
    return CF_OK;
}
