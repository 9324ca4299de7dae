/* store.c — rooms' SQL: the statement table and the functions that run it (see store.h). */
#include "store.h"
#include "policy.h"
#include "emit.h"
#include "base/cuid.h"
#include "db/tx.h"
#include "rpc/rpc.h" /* rpc_idempotency_matches: the one rule */
#include "page/page.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Epoch microseconds of a timestamptz column (exact: extract returns numeric). */
#define US(col) "(extract(epoch FROM " col ") * 1000000)::int8"
/* A timestamptz from epoch microseconds ($n::int8; NULL stays NULL). */
#define TS(p) "('epoch'::timestamptz + " p "::int8 * interval '1 microsecond')"

/* A room's columns; then the caller's role (me: the ME_JOIN below, or NULL for nobody). */
#define ROOM_COLS_NO_ROLE                                                                          \
    "r.id, r.name, r.description, r.status, r.is_public, r.app_id, r.app_manifest_version, "       \
    "r.app_settings::text, r.draw_policy, r.created_by, " US("r.starts_at") ", " US(               \
        "r.ends_at") ", " US("r.created_at") ", " US("r.updated_at")
/* then Room.archived_at (column 15) */
#define ROOM_ARCHIVED ", " US("r.archived_at")
#define ROOM_COLS     ROOM_COLS_NO_ROLE ", me.role" ROOM_ARCHIVED
#define ME_JOIN                                                                                    \
    "LEFT JOIN participants me ON me.room_id = r.id AND me.user_id = $2 AND me.deleted_at IS "     \
    "NULL "
#define ME_JOIN_1                                                                                  \
    "LEFT JOIN participants me ON me.room_id = r.id AND me.user_id = $1 AND me.deleted_at IS "     \
    "NULL "
/* The caller's Room.visible_since (rooms.proto): the unbroken span up to now in which the room
 * was public or the caller a member (me: the ME_JOIN); NULL when neither holds. */
#define VISIBLE_SINCE                                                                              \
    US("CASE WHEN r.is_public AND me.joined_at IS NOT NULL THEN "                                  \
       "least(coalesce(r.public_since, r.updated_at), me.joined_at) "                              \
       "WHEN r.is_public THEN coalesce(r.public_since, r.updated_at) ELSE me.joined_at END")
#define PART_COLS "p.id, p.room_id, p.user_id, p.role, p.metadata::text, " US("p.joined_at")

/* ListRooms, prepared: one statement per filter shape, so each has a plan that fits (a
 * "$n IS NULL OR col = $n" form would leave a generic plan one scan for every combination).
 * The keyset always applies: the first page starts after ('infinity', '').
 * $1 caller, $2 status, $3 app, $4 is_public (NULL any), ($5 µs, $6 id) keyset, $7 limit.
 *
 * Two branches give the page's keys, each read in index order and stopping after the page:
 * public rooms (rooms_status_public_created_idx / rooms_public_created_idx, index-only) and the
 * private rooms the caller belongs to (private_members, 004_private_members.sql, index-only);
 * a Merge Append takes the newest keys of both, and only those rows are then read by primary
 * key with the caller's role. A private row is listed only if the caller is a live member
 * right now (the me join), whatever private_members says.
 *
 * Plans (docs/rooms.md): without an app filter the branches end in a constant LIMIT (the
 * largest page + 1), so PostgreSQL's generic plan costs what the custom ones do and is kept
 * after five executions: no planning per call (planning the UNION was ~0.4-1.1 ms of the
 * ~1 ms a listing cost). Its scans are index-only on the one index whose leading columns are
 * the filter, so no value of $2 can turn them into a filtered walk. With an app filter the
 * branches end in LIMIT $7 instead, which keeps custom plans: apps differ in size, and the
 * planner must see which one is asked to choose between the app and the status index. */
#define LIST_KEYSET(at, id) "(" at ", " id ") < (coalesce(" TS("$5") ", 'infinity'), $6::text) "
#define F_ANY_STATUS(t)     "AND $2::text IS NULL "
#define F_STATUS(t)         "AND " t ".status = $2 "
#define F_ANY_APP(t)        "AND $3::text IS NULL "
#define F_APP(t)            "AND " t ".app_id = $3 "
#define LIST_BRANCH_MAX     "101" /* PAGE_SIZE_MAX + 1 */
_Static_assert(PAGE_SIZE_MAX + 1 == 101, "LIST_BRANCH_MAX must be PAGE_SIZE_MAX + 1");
/* The keys of the public rooms of the page. */
#define LIST_PUBLIC(fs, fa, lim)                                                                   \
    "SELECT r.created_at AS k_at, r.id AS k_id FROM rooms r WHERE r.deleted_at IS NULL AND "       \
    "r.archived_at IS NULL AND r.is_public AND $4::bool IS DISTINCT FROM false AND " LIST_KEYSET(  \
        "r.created_at", "r.id") fs("r") fa("r") "ORDER BY r.created_at DESC, r.id DESC LIMIT " lim
/* The keys of the caller's private rooms of the page. */
#define LIST_MINE(fs, fa, lim)                                                                     \
    "SELECT pm.created_at, pm.room_id FROM private_members pm WHERE pm.user_id = $1 AND "          \
    "$4::bool IS DISTINCT FROM true AND " LIST_KEYSET("pm.created_at", "pm.room_id") fs("pm")      \
        fa("pm") "ORDER BY pm.created_at DESC, pm.room_id DESC LIMIT " lim
/* Who sees a room in ListRooms, with or without q (the search below uses the same three):
 * a signed-in caller its live public rooms and the live private ones they are a live member
 * of right now (me: ME_JOIN_1), whatever private_members says; a platform admin every live
 * room; an anonymous caller ($1 = '') the live public ones. Archived rooms are in none of them
 * (docs/rooms.md, "Archive": only ListRooms archived=true shows them). */
#define VISIBLE_MEMBER                                                                             \
    "r.deleted_at IS NULL AND r.archived_at IS NULL AND (r.is_public OR me.role IS NOT NULL) "
#define VISIBLE_ALL "r.deleted_at IS NULL AND r.archived_at IS NULL "
#define VISIBLE_ANON                                                                               \
    "$1::text = '' AND r.deleted_at IS NULL AND r.archived_at IS NULL AND r.is_public "
#define LIST_VISIBLE "WHERE " VISIBLE_MEMBER "ORDER BY k.k_at DESC, k.k_id DESC LIMIT $7"
#define LIST_SQL(fs, fa, lim)                                                                      \
    "SELECT " ROOM_COLS " FROM ((" LIST_PUBLIC(fs, fa, lim) ") UNION ALL (" LIST_MINE(             \
        fs, fa, lim) ")) k JOIN rooms r ON r.id = k.k_id " ME_JOIN_1 LIST_VISIBLE
/* Anonymous callers ($1 = ''): public rooms only, read straight from the status/public index in
 * order, no private branch, no role join (PostgreSQL's point: ~4x cheaper than LIST_SQL for the
 * most frequent listing, the public one). Constant inner LIMIT as above, so the generic plan is
 * kept; with an app filter LIMIT $7 (custom plans, as LIST_SQL). */
// clang-format off
#define LIST_ANON_SQL(fs, fa, lim)                                                                 \
    "SELECT * FROM (SELECT " ROOM_COLS_NO_ROLE ", NULL::text AS role" ROOM_ARCHIVED " FROM rooms r " \
    "WHERE " VISIBLE_ANON                                                                          \
    "AND $4::bool IS DISTINCT FROM false AND " LIST_KEYSET("r.created_at", "r.id") fs("r") fa("r") \
    "ORDER BY r.created_at DESC, r.id DESC LIMIT " lim ") pub LIMIT $7"
// clang-format on
/* Platform admins: every live room. */
#define LIST_ALL_KEYSET(fs, fa) LIST_KEYSET("r.created_at", "r.id") fs("r") fa("r")
#define LIST_ALL_SQL(fs, fa)                                                                       \
    "SELECT " ROOM_COLS " FROM rooms r " ME_JOIN_1 "WHERE " VISIBLE_ALL                            \
    "AND ($4::bool IS NULL OR r.is_public = $4) AND " LIST_ALL_KEYSET(                             \
        fs, fa) "ORDER BY r.created_at DESC, r.id DESC LIMIT $7"

/* ListRooms archived=true (docs/rooms.md, "Archive"), sent unprepared (rare; custom plans): the
 * archived rooms the caller is a live member of ($8 false), or every one (platform admins, $8
 * true), same parameters and keyset as above. */
#define LIST_ARCHIVED_SQL                                                                          \
    "SELECT " ROOM_COLS " FROM rooms r " ME_JOIN_1                                                 \
    "WHERE r.archived_at IS NOT NULL AND r.deleted_at IS NULL AND ($8::bool OR me.role IS NOT "    \
    "NULL) AND ($2::text IS NULL OR r.status = $2) AND ($3::text IS NULL OR r.app_id = $3) AND "   \
    "($4::bool IS NULL OR r.is_public = $4) AND " LIST_KEYSET(                                     \
        "r.created_at", "r.id") "ORDER BY r.created_at DESC, r.id DESC LIMIT $7"

/* ListRooms?q= (docs/rooms.md, "Search"): the rooms whose `search` column (schema/009) matches
 * websearch_to_tsquery('simple', $8) through rooms_search_idx, visible to the caller by the
 * listing's own rule (VISIBLE_*, chosen by list_shape as for the listing), the listing's
 * filters applied to the rows found, ranked by ts_rank best first, ties by id descending.
 * ts_rank depends on the room's text and the query only (no corpus statistics), so a room's
 * rank changes only when its own text does: the keyset (rank, id) of the last row seen ($5
 * float4 as text, $6) is a stable position in the ranking.
 * $1 caller, $2 status, $3 app, $4 is_public, ($5, $6) keyset, $7 limit, $8 q, $9 max_ranked.
 *
 * The cost is bounded (decisions.md, "Search cost is bounded"): `c` takes the first
 * max_ranked + 1 visible matches in the order the scan yields them (for the GIN bitmap: table
 * order) and stops there, ranking each (ts_rank once per row: the LIMIT fences the projection);
 * `m` keeps the first max_ranked of them, the candidates, which the keyset and the page then
 * select from. One more than max_ranked tells whether more rooms match: `truncated`. c is
 * MATERIALIZED, read twice (the count, the page), and the candidate set does not depend on the
 * keyset: every page of an unchanged table picks from the same candidates. The outer LEFT JOIN
 * from the one-row count gives one row even for an empty page (its room columns NULL), so the
 * answer says truncated on every page. Only the page's rows are then read whole, with the
 * caller's role. Sent unprepared: the planner sees the query's words each time.
 *
 * SEARCH_PLAN runs first, in the same transaction (one round trip, db_pipeline_tx): the scan
 * that feeds the LIMIT must be the GIN bitmap, in table order, one process. A sequential scan
 * (the planner's choice for a common word and a member of many rooms on 100,000 rooms) reads
 * max_ranked / selectivity rows, all of them when the word is rarer than the statistics say,
 * and on a large table a synchronized scan starts wherever another one is; a parallel plan's
 * Gather hands the LIMIT whichever rows its workers find first (chosen there too without this).
 * Both would make another candidate set on each call, so the pages of an unchanged table would
 * not pick from the same candidates. Plans: docs/rooms.md, "Search", "Cost". */
#define SEARCH_PLAN                                                                                \
    "SELECT set_config('enable_seqscan', 'off', true), "                                           \
    "set_config('max_parallel_workers_per_gather', '0', true)"
#define SEARCH_TSQ "websearch_to_tsquery('simple', $8::text)"
#define SEARCH_SQL(cols, join, visible)                                                            \
    "WITH c AS MATERIALIZED (SELECT r.id AS k_id, ts_rank(r.search, " SEARCH_TSQ ") AS rank "      \
    "FROM rooms r " join "WHERE r.search @@ " SEARCH_TSQ " AND " visible                           \
    "AND ($2::text IS NULL OR r.status = $2) AND ($3::text IS NULL OR r.app_id = $3) AND "         \
    "($4::bool IS NULL OR r.is_public = $4) LIMIT $9::int4 + 1) "                                  \
    "SELECT " cols ", k.rank::text, t.truncated FROM (SELECT count(*) > $9::int4 AS truncated "    \
    "FROM c) t LEFT JOIN (SELECT m.k_id, m.rank FROM (SELECT c.k_id, c.rank FROM c LIMIT "         \
    "$9::int4) m WHERE (m.rank, m.k_id) < (coalesce($5::float4, 'infinity'), $6::text) "           \
    "ORDER BY m.rank DESC, m.k_id DESC LIMIT $7) k ON true LEFT JOIN rooms r ON r.id = "           \
    "k.k_id " join "ORDER BY k.rank DESC, k.k_id DESC"
/* Indexed by list_shape: the caller's, a platform admin's, an anonymous caller's. */
static const char *const search_sql[] = {
    SEARCH_SQL(ROOM_COLS, ME_JOIN_1, VISIBLE_MEMBER),
    SEARCH_SQL(ROOM_COLS, ME_JOIN_1, VISIBLE_ALL),
    SEARCH_SQL(ROOM_COLS_NO_ROLE ", NULL::text" ROOM_ARCHIVED, "", VISIBLE_ANON),
};

const db_stmt rooms_stmts[] = {
    /* ListAudit and CheckPermission(EDIT): when the user's live role in the room began
     * (schema/011_audit.sql); no row = not a live member */
    {"role_since", "SELECT " US("role_since") " FROM participants WHERE room_id = $1 AND "
                                              "user_id = $2 AND deleted_at IS NULL"},
    /* point reads: primary key + the (user_id, room_id) unique index; no skew can hurt them */
    {"room_get", "SELECT " ROOM_COLS ", " VISIBLE_SINCE " FROM rooms r " ME_JOIN
                 "WHERE r.id = $1 AND r.deleted_at IS NULL"},
    /* room_get and the room's eligible-list stamp (schema/005) in one statement: one snapshot,
     * one round trip (CheckPermission with_eligible_version, the draw's every call) */
    {"room_get_stamped",
     "SELECT " ROOM_COLS
     ", (SELECT v.version FROM eligible_versions v WHERE v.room_id = r.id), " VISIBLE_SINCE
     " FROM rooms r " ME_JOIN "WHERE r.id = $1 AND r.deleted_at IS NULL"},
    {"room_insert",
     "INSERT INTO rooms (id, name, description, is_public, app_id, app_manifest_version, "
     "app_settings, draw_policy, created_by, idempotency_key, starts_at, ends_at, "
     "idempotency_fingerprint, public_since) "
     "VALUES ($1, $2, $3, $4::bool, $5, $6, $7::jsonb, $8, $9, $10, " TS("$11") ", " TS(
         "$12") ", $13, CASE WHEN $4::bool THEN clock_timestamp() END) "
                "ON CONFLICT (created_by, idempotency_key) WHERE idempotency_key IS NOT NULL DO "
                "NOTHING "
                "RETURNING id"},
    {"room_by_key", "SELECT id, coalesce(idempotency_fingerprint, '') FROM rooms "
                    "WHERE created_by = $1 AND idempotency_key = $2"},
    {"room_update",
     "UPDATE rooms SET name = CASE WHEN $2 THEN $3 ELSE name END, "
     "description = CASE WHEN $4 THEN $5 ELSE description END, "
     "is_public = CASE WHEN $6 THEN $7::bool ELSE is_public END, "
     "public_since = CASE WHEN $6 AND $7::bool AND NOT is_public THEN clock_timestamp() "
     "WHEN $6 AND NOT $7::bool THEN NULL ELSE public_since END, "
     "app_settings = CASE WHEN $8 THEN $9::jsonb ELSE app_settings END, "
     "starts_at = CASE WHEN $10 THEN " TS(
         "$11") " ELSE starts_at END, "
                "ends_at = CASE WHEN $12 THEN " TS(
                    "$13") " ELSE ends_at END, "
                           "draw_policy = CASE WHEN $14 THEN $15 ELSE draw_policy END, "
                           "updated_at = clock_timestamp() WHERE id = $1 AND deleted_at IS NULL "
                           "RETURNING id, name, is_public"},
    {"room_delete", "UPDATE rooms SET deleted_at = clock_timestamp(), updated_at = "
                    "clock_timestamp() WHERE id = $1 AND deleted_at IS NULL"},
    {"room_set_status", "UPDATE rooms SET status = $3, updated_at = clock_timestamp() "
                        "WHERE id = $1 AND deleted_at IS NULL AND status = $2"},
    /* serializes changes to a room's ORGANIZERs (the last one must stay) */
    {"room_lock", "SELECT 1 FROM rooms WHERE id = $1 FOR NO KEY UPDATE"},
    {"organizer_count", "SELECT count(*) FROM participants WHERE room_id = $1 AND "
                        "role = 'ORGANIZER' AND deleted_at IS NULL"},
    {"participant_get",
     "SELECT " PART_COLS " FROM participants p WHERE p.user_id = $2 AND p.room_id = $1 "
     "AND p.deleted_at IS NULL"},
    {"participant_get_any", "SELECT 1 FROM participants p WHERE p.user_id = $2 AND p.room_id = $1"},
    {"participant_insert", "INSERT INTO participants (id, room_id, user_id, role) "
                           "VALUES ($1, $2, $3, 'ORGANIZER')"},
    /* join or rejoin: the (user_id, room_id) row comes back with its id (SPEC §2) */
    {"participant_join",
     "INSERT INTO participants AS p (id, room_id, user_id, role, metadata) "
     "VALUES ($1, $2, $3, $4, coalesce($5::jsonb, '{}')) "
     "ON CONFLICT (user_id, room_id) DO UPDATE SET role = excluded.role, "
     "metadata = excluded.metadata, deleted_at = NULL, joined_at = clock_timestamp(), "
     "updated_at = clock_timestamp() WHERE p.deleted_at IS NOT NULL RETURNING " PART_COLS},
    {"participant_update",
     "UPDATE participants p SET role = CASE WHEN $4 THEN $5 ELSE role END, "
     "metadata = coalesce($6::jsonb, metadata), updated_at = clock_timestamp() "
     "WHERE p.user_id = $2 AND p.room_id = $1 AND p.deleted_at IS NULL AND p.role = $3 "
     "RETURNING " PART_COLS},
    {"participant_leave",
     "UPDATE participants SET deleted_at = clock_timestamp(), updated_at = clock_timestamp() "
     "WHERE user_id = $2 AND room_id = $1 AND deleted_at IS NULL AND role = $3"},
    /* (app_id, created_at, id) index: one probe */
    {"app_in_use", "SELECT EXISTS (SELECT 1 FROM rooms WHERE app_id = $1 AND deleted_at IS NULL)"},
    /* The app fence (docs/rooms.md, "Creating"): creations with an app hold it shared from
     * their GetApp to their commit; AppInUse takes it exclusively before counting. Advisory
     * keys: (hashtext('confetti.app'), hashtext(app id)); a hash collision only makes one wait
     * for the other. */
    {"app_fence_share", "SELECT pg_advisory_lock_shared(hashtext('confetti.app'), hashtext($1))"},
    {"app_fence_unshare",
     "SELECT pg_advisory_unlock_shared(hashtext('confetti.app'), hashtext($1))"},
    {"app_fence_held",
     "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND "
     "pid = pg_backend_pid() AND granted AND mode = 'ShareLock' AND "
     "classid = hashtext('confetti.app')::oid AND objid = hashtext($1)::oid AND objsubid = 2)"},
    {"app_fence_close", "SELECT pg_advisory_xact_lock(hashtext('confetti.app'), hashtext($1))"},
    {"user_deleted",
     "UPDATE participants SET deleted_at = clock_timestamp(), updated_at = clock_timestamp() "
     "WHERE user_id = $1 AND deleted_at IS NULL RETURNING room_id"},
    {"event_position", "SELECT seq FROM event_positions WHERE source = $1"},
    {"event_position_set", "INSERT INTO event_positions (source, seq) VALUES ($1, $2::bigint) "
                           "ON CONFLICT (source) DO UPDATE SET seq = excluded.seq"},
    {"rooms_list", LIST_SQL(F_ANY_STATUS, F_ANY_APP, LIST_BRANCH_MAX)},
    {"rooms_list_a", LIST_SQL(F_ANY_STATUS, F_APP, "$7")},
    {"rooms_list_s", LIST_SQL(F_STATUS, F_ANY_APP, LIST_BRANCH_MAX)},
    {"rooms_list_sa", LIST_SQL(F_STATUS, F_APP, "$7")},
    {"rooms_list_all", LIST_ALL_SQL(F_ANY_STATUS, F_ANY_APP)},
    {"rooms_list_all_a", LIST_ALL_SQL(F_ANY_STATUS, F_APP)},
    {"rooms_list_all_s", LIST_ALL_SQL(F_STATUS, F_ANY_APP)},
    {"rooms_list_all_sa", LIST_ALL_SQL(F_STATUS, F_APP)},
    {"rooms_list_anon", LIST_ANON_SQL(F_ANY_STATUS, F_ANY_APP, LIST_BRANCH_MAX)},
    {"rooms_list_anon_a", LIST_ANON_SQL(F_ANY_STATUS, F_APP, "$7")},
    {"rooms_list_anon_s", LIST_ANON_SQL(F_STATUS, F_ANY_APP, LIST_BRANCH_MAX)},
    {"rooms_list_anon_sa", LIST_ANON_SQL(F_STATUS, F_APP, "$7")},
};
const size_t rooms_nstmts = sizeof rooms_stmts / sizeof *rooms_stmts;

/* Indexed by list_shape(q) * 4 + (status ? 2 : 0) + (app ? 1 : 0). */
static const char *const list_stmt[] = {
    "rooms_list",      "rooms_list_a",      "rooms_list_s",      "rooms_list_sa",
    "rooms_list_all",  "rooms_list_all_a",  "rooms_list_all_s",  "rooms_list_all_sa",
    "rooms_list_anon", "rooms_list_anon_a", "rooms_list_anon_s", "rooms_list_anon_sa",
};

/* Live members by id: $1 room, $2 role (NULL any), $3 after id (NULL start), $4 limit.
 * Sent unprepared (db_exec_sql): the planner sees the room each time, so a generic plan made
 * for an average room never serves the hot one (STACK.md: 20-30x slower in the peer), and the
 * optional filters fold away. Planning costs ~50 µs here, small next to a page of members. */
static const char sql_participants_list[] =
    "SELECT " PART_COLS " FROM participants p WHERE p.room_id = $1 AND p.deleted_at IS NULL AND "
    "($2::text IS NULL OR p.role = $2) AND ($3::text IS NULL OR p.id > $3) "
    "ORDER BY p.id LIMIT $4";

static char *col(arena *a, PGresult *r, int row, int c)
{
    return PQgetisnull(r, row, c) ? NULL : arena_strdup(a, PQgetvalue(r, row, c));
}

static int64_t col_us(PGresult *r, int row, int c)
{
    return PQgetisnull(r, row, c) ? STORE_NO_TIME : strtoll(PQgetvalue(r, row, c), NULL, 10);
}

static void room_read(arena *a, PGresult *r, int row, store_room *out)
{
    memset(out, 0, sizeof *out);
    out->id = col(a, r, row, 0);
    out->name = col(a, r, row, 1);
    out->description = col(a, r, row, 2);
    policy_status_parse(PQgetvalue(r, row, 3), &out->status);
    out->is_public = PQgetvalue(r, row, 4)[0] == 't';
    out->app_id = col(a, r, row, 5);
    out->app_version = col(a, r, row, 6);
    out->app_settings = col(a, r, row, 7);
    policy_draw_policy_parse(PQgetvalue(r, row, 8), &out->draw_policy);
    out->created_by = col(a, r, row, 9);
    out->starts_at_us = col_us(r, row, 10);
    out->ends_at_us = col_us(r, row, 11);
    out->created_at_us = col_us(r, row, 12);
    out->updated_at_us = col_us(r, row, 13);
    if (!PQgetisnull(r, row, 14))
        policy_role_parse(PQgetvalue(r, row, 14), &out->role);
    out->archived_at_us = col_us(r, row, 15);
    out->visible_since_us = STORE_NO_TIME; /* room_get_by reads it */
}

static void participant_read(arena *a, PGresult *r, int row, store_participant *out)
{
    memset(out, 0, sizeof *out);
    out->id = col(a, r, row, 0);
    out->room_id = col(a, r, row, 1);
    out->user_id = col(a, r, row, 2);
    policy_role_parse(PQgetvalue(r, row, 3), &out->role);
    out->metadata = col(a, r, row, 4);
    out->joined_at_us = col_us(r, row, 5);
}

/* int64 as text in a, or NULL for STORE_NO_TIME. */
static const char *us_param(arena *a, int64_t us)
{
    return us == STORE_NO_TIME ? NULL : arena_printf(a, "%" PRId64, us);
}

/* The room row as user_id sees it; with `version`, the statement that also reads the stamp
 * (column 16) in the same snapshot. */
static cf_code room_get_by(db_conn *db, arena *a, const char *stmt, const char *room_id,
                           const char *user_id, store_room *out, char **version)
{
    const char *p[] = {room_id, user_id ? user_id : ""};
    PGresult *r;
    cf_code code = db_exec_row(db, stmt, 2, p, &r);
    if (code != CF_OK)
        return code;
    room_read(a, r, 0, out);
    out->visible_since_us = col_us(r, 0, version ? 17 : 16);
    if (version)
        *version = arena_strdup(a, PQgetisnull(r, 0, 16) ? "" : PQgetvalue(r, 0, 16));
    PQclear(r);
    return CF_OK;
}

cf_code store_room_get(db_conn *db, arena *a, const char *room_id, const char *user_id,
                       store_room *out)
{
    return room_get_by(db, a, "room_get", room_id, user_id, out, NULL);
}

cf_code store_room_get_stamped(db_conn *db, arena *a, const char *room_id, const char *user_id,
                               store_room *out, char **version)
{
    return room_get_by(db, a, "room_get_stamped", room_id, user_id, out, version);
}

typedef struct create_tx {
    arena *a;
    const store_new_room *in;
    char id[CUID_LEN + 1];
    bool key_reused; /* the key made a room from another request */
} create_tx;

static cf_code create_body(db_conn *db, void *arg)
{
    create_tx *t = arg;
    const store_new_room *in = t->in;
    t->key_reused = false; /* db_tx may run this again */
    char room_id[CUID_LEN + 1], part_id[CUID_LEN + 1];
    cuid_new(room_id);
    cuid_new(part_id);
    const char *p[] = {room_id,
                       in->name,
                       in->description,
                       in->is_public ? "true" : "false",
                       in->app_id,
                       in->app_version,
                       in->app_settings,
                       policy_draw_policy_name(in->draw_policy),
                       in->created_by,
                       in->idempotency_key,
                       us_param(t->a, in->starts_at_us),
                       us_param(t->a, in->ends_at_us),
                       in->idempotency_key ? in->fingerprint : NULL};
    PGresult *r;
    cf_code code;
    if (in->app_id) { /* the fence taken before GetApp must still be ours (docs/rooms.md) */
        const char *f[] = {in->app_id};
        if ((code = db_exec(db, "app_fence_held", 1, f, &r)) != CF_OK)
            return code;
        bool held = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
        PQclear(r);
        if (!held)
            return CF_ABORTED; /* the connection was replaced since: read the app again */
    }
    code = db_exec(db, "room_insert", 13, p, &r);
    if (code != CF_OK)
        return code;
    bool inserted = PQntuples(r) == 1;
    PQclear(r);
    if (!inserted) { /* the key was used before: that room is the answer */
        const char *k[] = {in->created_by, in->idempotency_key};
        if ((code = db_exec(db, "room_by_key", 2, k, &r)) != CF_OK)
            return code;
        if (PQntuples(r) == 1) {
            snprintf(t->id, sizeof t->id, "%s", PQgetvalue(r, 0, 0));
            const char *first = PQgetvalue(r, 0, 1); /* '' = made before fingerprints */
            if (!rpc_idempotency_matches(first, in->fingerprint)) {
                t->key_reused = true;
                code = CF_INVALID_ARGUMENT;
            }
        } else
            code = CF_ABORTED; /* cannot happen under the unique index; retry is safe */
        PQclear(r);
        return code;
    }
    const char *q[] = {part_id, room_id, in->created_by};
    if ((code = db_exec(db, "participant_insert", 3, q, NULL)) != CF_OK ||
        (code = emit_room_created(db, room_id, in)) != CF_OK ||
        (code = emit_participant_joined(db, room_id, in->created_by, ROOMS__V1__ROLE__ORGANIZER)) !=
            CF_OK)
        return code;
    memcpy(t->id, room_id, sizeof t->id);
    return CF_OK;
}

cf_code store_room_create(db_conn *db, arena *a, const store_new_room *in, store_room *out,
                          bool *key_reused)
{
    create_tx t = {.a = a, .in = in};
    cf_code code = db_tx(db, create_body, &t);
    if (key_reused)
        *key_reused = t.key_reused;
    if (code != CF_OK)
        return code;
    return store_room_get(db, a, t.id, in->created_by, out);
}

static cf_code rooms_read(arena *a, PGresult *r, store_room **rows, size_t *n)
{
    *n = (size_t)PQntuples(r);
    *rows = arena_zalloc(a, (*n ? *n : 1) * sizeof **rows);
    for (size_t i = 0; i < *n; i++)
        room_read(a, r, (int)i, &(*rows)[i]);
    PQclear(r);
    return CF_OK;
}

/* Which visibility rule a listing or search applies: 0 the caller's (public + their private
 * rooms), 1 a platform admin's (every live room), 2 an anonymous caller's (public only). */
static int list_shape(const store_room_query *q)
{
    if (q->all)
        return 1;
    return !q->user_id || !*q->user_id ? 2 : 0;
}

cf_code store_rooms_list(db_conn *db, arena *a, const store_room_query *q, store_room **rows,
                         size_t *n)
{
    const char *p[] = {q->user_id ? q->user_id : "",
                       q->status,
                       q->app_id,
                       q->is_public < 0 ? NULL
                       : q->is_public   ? "true"
                                        : "false",
                       us_param(a, q->after_us),
                       q->after_us == STORE_NO_TIME ? "" : q->after_id,
                       arena_printf(a, "%d", q->limit)};
    /* the branches of the shapes without an app stop at LIST_BRANCH_MAX rows */
    assert(q->limit >= 1 && q->limit <= PAGE_SIZE_MAX + 1);
    PGresult *r;
    bool anonymous = !q->user_id || !*q->user_id;
    cf_code code;
    if (q->archived) {
        if (anonymous && !q->all) { /* members only: an anonymous caller belongs to none */
            *n = 0;
            *rows = arena_zalloc(a, sizeof **rows);
            return CF_OK;
        }
        const char *pa[] = {p[0], p[1], p[2], p[3], p[4], p[5], p[6], q->all ? "true" : "false"};
        code = db_exec_sql(db, LIST_ARCHIVED_SQL, 8, pa, &r);
        if (code != CF_OK)
            return code;
        return rooms_read(a, r, rows, n);
    }
    const char *stmt = list_stmt[list_shape(q) * 4 + (q->status ? 2 : 0) + (q->app_id ? 1 : 0)];
    code = db_exec(db, stmt, 7, p, &r);
    if (code != CF_OK)
        return code;
    return rooms_read(a, r, rows, n);
}

cf_code store_rooms_search(db_conn *db, arena *a, const store_room_query *q, const char *text,
                           int max_ranked, int64_t timeout_ms, store_room **rows, size_t *n,
                           bool *truncated)
{
    assert(max_ranked >= 1);
    const char *p[] = {q->user_id ? q->user_id : "",
                       q->status,
                       q->app_id,
                       q->is_public < 0 ? NULL
                       : q->is_public   ? "true"
                                        : "false",
                       q->after_rank,
                       q->after_rank ? q->after_id : "",
                       arena_printf(a, "%d", q->limit),
                       text,
                       arena_printf(a, "%d", max_ranked)};
    PGresult *r;
    const db_step steps[] = {
        {.stmt = SEARCH_PLAN, .sql = true},
        {.stmt = search_sql[list_shape(q)], .sql = true, .nparams = 9, .values = p, .out = &r}};
    cf_code code = db_pipeline_tx(db, timeout_ms, steps, 2);
    if (code != CF_OK)
        return code;
    /* SEARCH_SQL's last two columns, after the room's own (however many those are): the rank,
     * then truncated; an empty page is one row without a room */
    int nf = PQnfields(r), nt = PQntuples(r);
    *truncated = nt > 0 && PQgetvalue(r, 0, nf - 1)[0] == 't';
    *n = nt == 1 && PQgetisnull(r, 0, 0) ? 0 : (size_t)nt;
    *rows = arena_zalloc(a, (*n ? *n : 1) * sizeof **rows);
    for (size_t i = 0; i < *n; i++) {
        room_read(a, r, (int)i, &(*rows)[i]);
        (*rows)[i].rank = col(a, r, (int)i, nf - 2);
    }
    PQclear(r);
    return CF_OK;
}

typedef struct update_tx {
    const char *room_id;
    const store_room_patch *u;
    const char *const *p;
    bool found;
} update_tx;

static cf_code update_body(db_conn *db, void *arg)
{
    update_tx *t = arg;
    PGresult *r;
    cf_code code = db_exec(db, "room_update", 15, t->p, &r);
    if (code != CF_OK)
        return code;
    t->found = PQntuples(r) == 1;
    if (t->found)
        code = emit_room_updated(db, t->room_id, t->u, PQgetvalue(r, 0, 1),
                                 PQgetvalue(r, 0, 2)[0] == 't');
    PQclear(r);
    return code;
}

cf_code store_room_update(db_conn *db, arena *a, const char *room_id, const char *user_id,
                          const store_room_patch *u, store_room *out)
{
#define B(x) ((x) ? "true" : "false")
    const char *p[] = {room_id,
                       B(u->set_name),
                       u->name,
                       B(u->set_description),
                       u->description,
                       B(u->set_public),
                       B(u->is_public),
                       B(u->set_settings),
                       u->app_settings,
                       B(u->set_starts),
                       us_param(a, u->starts_at_us),
                       B(u->set_ends),
                       us_param(a, u->ends_at_us),
                       B(u->set_policy),
                       policy_draw_policy_name(u->draw_policy)};
#undef B
    update_tx t = {.room_id = room_id, .u = u, .p = p};
    cf_code code = db_tx(db, update_body, &t);
    if (code != CF_OK)
        return code;
    if (!t.found)
        return CF_NOT_FOUND;
    return store_room_get(db, a, room_id, user_id, out);
}

static cf_code exec_count(db_conn *db, const char *stmt, int n, const char *const *p, long *out)
{
    PGresult *r;
    cf_code code = db_exec(db, stmt, n, p, &r);
    if (code != CF_OK)
        return code;
    *out = strtol(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return CF_OK;
}

/* A room's delete or status change and its event, in one transaction. */
typedef struct room_tx {
    const char *room_id;
    Rooms__V1__RoomStatus from, to; /* to == 0: delete */
    const audit_ctx *au;
    long n;
} room_tx;

static cf_code room_body(db_conn *db, void *arg)
{
    room_tx *t = arg;
    cf_code code;
    if (t->to == ROOMS__V1__ROOM_STATUS__ROOM_STATUS_UNSPECIFIED) {
        const char *p[] = {t->room_id};
        if ((code = exec_count(db, "room_delete", 1, p, &t->n)) != CF_OK || !t->n)
            return code;
        if ((code = emit_room_deleted(db, t->room_id)) != CF_OK)
            return code;
        return audit_write(db, t->au,
                           &(audit_row){.action = "room.deleted",
                                        .room_id = t->room_id,
                                        .target_type = "room",
                                        .target_id = t->room_id});
    }
    const char *p[] = {t->room_id, policy_status_name(t->from), policy_status_name(t->to)};
    if ((code = exec_count(db, "room_set_status", 3, p, &t->n)) != CF_OK || !t->n)
        return code;
    if ((code = emit_room_status_changed(db, t->room_id, t->from, t->to)) != CF_OK)
        return code;
    char detail[64];
    snprintf(detail, sizeof detail, "%s->%s", p[1], p[2]);
    return audit_write(db, t->au,
                       &(audit_row){.action = "room.status_changed",
                                    .room_id = t->room_id,
                                    .target_type = "room",
                                    .target_id = t->room_id,
                                    .detail = detail});
}

cf_code store_room_delete(db_conn *db, const char *room_id, const audit_ctx *au)
{
    room_tx t = {.room_id = room_id, .au = au};
    cf_code code = db_tx(db, room_body, &t);
    return code != CF_OK ? code : t.n ? CF_OK : CF_NOT_FOUND;
}

cf_code store_room_set_status(db_conn *db, const char *room_id, Rooms__V1__RoomStatus from,
                              Rooms__V1__RoomStatus to, const audit_ctx *au)
{
    room_tx t = {.room_id = room_id, .from = from, .to = to, .au = au};
    cf_code code = db_tx(db, room_body, &t);
    return code != CF_OK ? code : t.n ? CF_OK : CF_ABORTED;
}

cf_code store_participant_get(db_conn *db, arena *a, const char *room_id, const char *user_id,
                              store_participant *out)
{
    const char *p[] = {room_id, user_id};
    PGresult *r;
    cf_code code = db_exec_row(db, "participant_get", 2, p, &r);
    if (code != CF_OK)
        return code;
    participant_read(a, r, 0, out);
    PQclear(r);
    return CF_OK;
}

typedef struct join_tx {
    arena *a;
    const char *const *p;
    Rooms__V1__Role role;
    const audit_ctx *au; /* NULL: not audited (a user joining by themselves) */
    bool existed;
    store_participant *out;
} join_tx;

static cf_code join_body(db_conn *db, void *arg)
{
    join_tx *t = arg;
    PGresult *r;
    cf_code code = db_exec(db, "participant_join", 5, t->p, &r);
    if (code != CF_OK)
        return code;
    t->existed = PQntuples(r) == 0; /* the conflict's WHERE kept a live row untouched */
    if (!t->existed)
        participant_read(t->a, r, 0, t->out);
    PQclear(r);
    if (t->existed)
        return CF_OK;
    code = emit_participant_joined(db, t->out->room_id, t->out->user_id, t->role);
    if (code != CF_OK || !t->au)
        return code;
    return audit_write(db, t->au,
                       &(audit_row){.action = "participant.added",
                                    .room_id = t->out->room_id,
                                    .target_type = "user",
                                    .target_id = t->out->user_id,
                                    .detail = policy_role_name(t->role)});
}

cf_code store_participant_join(db_conn *db, arena *a, const char *room_id, const char *user_id,
                               Rooms__V1__Role role, const char *metadata, store_participant *out,
                               bool *existed, const audit_ctx *au)
{
    char id[CUID_LEN + 1];
    cuid_new(id);
    const char *p[] = {id, room_id, user_id, policy_role_name(role), metadata};
    join_tx t = {.a = a, .p = p, .role = role, .au = au, .out = out};
    cf_code code = db_tx(db, join_body, &t);
    if (code != CF_OK)
        return code;
    *existed = t.existed;
    if (*existed)
        return store_participant_get(db, a, room_id, user_id, out);
    return CF_OK;
}

cf_code store_participants_list(db_conn *db, arena *a, const char *room_id, Rooms__V1__Role role,
                                const char *after_id, int limit, store_participant **rows,
                                size_t *n)
{
    const char *p[] = {room_id, role ? policy_role_name(role) : NULL, after_id,
                       arena_printf(a, "%d", limit)};
    PGresult *r;
    cf_code code = db_exec_sql(db, sql_participants_list, 4, p, &r);
    if (code != CF_OK)
        return code;
    *n = (size_t)PQntuples(r);
    *rows = arena_zalloc(a, (*n ? *n : 1) * sizeof **rows);
    for (size_t i = 0; i < *n; i++)
        participant_read(a, r, (int)i, &(*rows)[i]);
    PQclear(r);
    return CF_OK;
}

/* Inside a transaction: refuses to take the room's last ORGANIZER away. The room row lock
 * makes concurrent demotions and departures of organizers wait for each other, so two
 * organizers leaving at once cannot both pass the count. */
static cf_code keep_an_organizer(db_conn *db, const char *room_id)
{
    const char *p[] = {room_id};
    cf_code code = db_exec(db, "room_lock", 1, p, NULL);
    if (code != CF_OK)
        return code;
    PGresult *r;
    if ((code = db_exec(db, "organizer_count", 1, p, &r)) != CF_OK)
        return code;
    long n = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return n > 1 ? CF_OK : CF_FAILED_PRECONDITION;
}

typedef struct member_tx {
    arena *a;
    const char *room_id, *user_id, *metadata, *reason;
    Rooms__V1__Role expected, role;
    bool set_role, remove;
    const audit_ctx *au;
    store_participant *out;
} member_tx;

static cf_code member_body(db_conn *db, void *arg)
{
    member_tx *t = arg;
    bool loses_organizer = t->expected == ROOMS__V1__ROLE__ORGANIZER &&
                           (t->remove || (t->set_role && t->role != ROOMS__V1__ROLE__ORGANIZER));
    cf_code code;
    if (loses_organizer && (code = keep_an_organizer(db, t->room_id)) != CF_OK)
        return code;
    const char *old = policy_role_name(t->expected);
    if (t->remove) {
        long n;
        const char *p[] = {t->room_id, t->user_id, old};
        if ((code = exec_count(db, "participant_leave", 3, p, &n)) != CF_OK)
            return code;
        return n ? emit_participant_left(db, t->room_id, t->user_id, t->reason) : CF_ABORTED;
    }
    const char *p[] = {t->room_id,
                       t->user_id,
                       old,
                       t->set_role ? "true" : "false",
                       policy_role_name(t->set_role ? t->role : t->expected),
                       t->metadata};
    PGresult *r;
    if ((code = db_exec(db, "participant_update", 6, p, &r)) != CF_OK)
        return code;
    if (PQntuples(r) == 1)
        participant_read(t->a, r, 0, t->out);
    else
        code = CF_ABORTED;
    PQclear(r);
    if (code == CF_OK && t->set_role && t->role != t->expected) {
        code = emit_participant_role_changed(db, t->room_id, t->user_id, t->expected, t->role);
        char detail[64];
        snprintf(detail, sizeof detail, "%s->%s", old, policy_role_name(t->role));
        if (code == CF_OK)
            code = audit_write(db, t->au,
                               &(audit_row){.action = "participant.role_changed",
                                            .room_id = t->room_id,
                                            .target_type = "user",
                                            .target_id = t->user_id,
                                            .detail = detail});
    }
    return code;
}

cf_code store_participant_update(db_conn *db, arena *a, const char *room_id, const char *user_id,
                                 Rooms__V1__Role expected_role, bool set_role, Rooms__V1__Role role,
                                 const char *metadata, store_participant *out, const audit_ctx *au)
{
    member_tx t = {.a = a,
                   .au = au,
                   .room_id = room_id,
                   .user_id = user_id,
                   .metadata = metadata,
                   .expected = expected_role,
                   .role = role,
                   .set_role = set_role,
                   .out = out};
    return db_tx(db, member_body, &t);
}

cf_code store_participant_remove(db_conn *db, const char *room_id, const char *user_id,
                                 Rooms__V1__Role expected_role, const char *reason)
{
    member_tx t = {.room_id = room_id,
                   .user_id = user_id,
                   .expected = expected_role,
                   .remove = true,
                   .reason = reason};
    return db_tx(db, member_body, &t);
}

cf_code store_participant_ever(db_conn *db, const char *room_id, const char *user_id, bool *ever)
{
    const char *p[] = {room_id, user_id};
    PGresult *r;
    cf_code code = db_exec(db, "participant_get_any", 2, p, &r);
    if (code != CF_OK)
        return code;
    *ever = PQntuples(r) == 1;
    PQclear(r);
    return CF_OK;
}

typedef struct in_use_tx {
    const char *app_id;
    bool *in_use;
} in_use_tx;

/* The exclusive fence first (it waits for creations in flight), then the count: READ COMMITTED
 * gives the count a snapshot taken after they committed. */
static cf_code in_use_body(db_conn *db, void *arg)
{
    in_use_tx *t = arg;
    const char *p[] = {t->app_id};
    PGresult *r;
    cf_code code = db_exec(db, "app_fence_close", 1, p, NULL);
    if (code != CF_OK || (code = db_exec(db, "app_in_use", 1, p, &r)) != CF_OK)
        return code;
    *t->in_use = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    return CF_OK;
}

cf_code store_app_in_use(db_conn *db, const char *app_id, bool *in_use)
{
    in_use_tx t = {app_id, in_use};
    return db_tx(db, in_use_body, &t);
}

cf_code store_app_fence_share(db_conn *db, const char *app_id)
{
    const char *p[] = {app_id};
    return db_exec(db, "app_fence_share", 1, p, NULL);
}

void store_app_fence_unshare(db_conn *db, const char *app_id)
{
    const char *p[] = {app_id};
    (void)db_exec(db, "app_fence_unshare", 1, p, NULL); /* a lost session released it anyway */
}

typedef struct user_deleted_tx {
    const char *user_id;
    long n;
} user_deleted_tx;

static cf_code user_deleted_body(db_conn *db, void *arg)
{
    user_deleted_tx *t = arg;
    const char *p[] = {t->user_id};
    PGresult *r;
    cf_code code = db_exec(db, "user_deleted", 1, p, &r);
    if (code != CF_OK)
        return code;
    t->n = PQntuples(r);
    for (long i = 0; i < t->n && code == CF_OK; i++)
        code = emit_participant_left(db, PQgetvalue(r, (int)i, 0), t->user_id, "user_deleted");
    PQclear(r);
    return code;
}

cf_code store_user_deleted(db_conn *db, const char *user_id, long *n)
{
    user_deleted_tx t = {.user_id = user_id};
    cf_code code = db_tx(db, user_deleted_body, &t);
    *n = code == CF_OK ? t.n : 0;
    return code;
}

cf_code store_event_position(db_conn *db, const char *source, int64_t *seq)
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
    const char *source, *user_deleted;
    int64_t seq;
} consume_tx;

static cf_code consume_body(db_conn *db, void *arg)
{
    consume_tx *t = arg;
    if (t->user_deleted) {
        user_deleted_tx u = {.user_id = t->user_deleted};
        cf_code code = user_deleted_body(db, &u);
        if (code != CF_OK)
            return code;
    }
    char seq[24];
    snprintf(seq, sizeof seq, "%" PRId64, t->seq);
    const char *p[] = {t->source, seq};
    return db_exec(db, "event_position_set", 2, p, NULL);
}

cf_code store_event_consume(db_conn *db, const char *source, int64_t seq, const char *user_deleted)
{
    consume_tx t = {source, user_deleted, seq};
    return db_tx(db, consume_body, &t);
}

cf_code store_role_since(db_conn *db, const char *room_id, const char *user_id, int64_t *us)
{
    const char *p[] = {room_id, user_id};
    PGresult *r;
    cf_code code = db_exec_row(db, "role_since", 2, p, &r);
    if (code != CF_OK)
        return code;
    *us = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return CF_OK;
}
