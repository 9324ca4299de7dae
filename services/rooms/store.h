/* store.h — the rooms schema: every SQL statement of the service and the functions that run
 * them. Rows come back as plain structs whose strings live in the caller's arena; no PGresult
 * leaves store.c. Every function blocks (libpq) and runs on the worker's own connection. */
#ifndef CONFETTI_ROOMS_STORE_H
#define CONFETTI_ROOMS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "audit/audit.h"
#include "db/db.h"
#include "rooms/v1/rooms.pb-c.h"

/* The statement table (svc_def.stmts): prepared on every worker connection. */
extern const db_stmt rooms_stmts[];
extern const size_t rooms_nstmts;

#define STORE_NO_TIME INT64_MIN /* a NULL timestamp column */

typedef struct store_room {
    char *id, *name, *description;
    Rooms__V1__RoomStatus status;
    bool is_public;
    char *app_id;       /* NULL = no app */
    char *app_version;  /* locked at creation; NULL without an app */
    char *app_settings; /* JSON object text, NULL = none */
    Rooms__V1__DrawPolicy draw_policy;
    char *created_by;
    int64_t starts_at_us, ends_at_us; /* epoch µs or STORE_NO_TIME */
    int64_t created_at_us, updated_at_us;
    Rooms__V1__Role role;     /* the asked user's live role; ROLE_UNSPECIFIED = not a member */
    int64_t archived_at_us;   /* epoch µs, or STORE_NO_TIME: not archived */
    int64_t visible_since_us; /* single-room reads: Room.visible_since for the asked user;
                                 STORE_NO_TIME in lists or when the user cannot see it */
    char *rank;               /* store_rooms_search: ts_rank as exact float4 text; else NULL */
} store_room;

typedef struct store_participant {
    char *id, *room_id, *user_id;
    Rooms__V1__Role role;
    char *metadata; /* JSON object text */
    int64_t joined_at_us;
} store_participant;

/* A live room and `user_id`'s live role in it ("" = nobody). NOT_FOUND if missing or deleted. */
cf_code store_room_get(db_conn *db, arena *a, const char *room_id, const char *user_id,
                       store_room *out);

/* store_room_get, plus the room's eligible-list stamp into *version (in a; "" when the room
 * has none yet: "unknown, do not cache"), read by the SAME statement, so in the same snapshot
 * as the room row and the caller's role (docs/draw.md, "The eligible list cache"). Blocks (one
 * round trip). */
cf_code store_room_get_stamped(db_conn *db, arena *a, const char *room_id, const char *user_id,
                               store_room *out, char **version);

typedef struct store_new_room {
    const char *name, *description;
    bool is_public;
    const char *app_id, *app_version, *app_settings; /* NULL = none */
    Rooms__V1__DrawPolicy draw_policy;
    const char *created_by;
    const char *idempotency_key; /* NULL = none */
    const char *fingerprint;     /* the request's rpc_idempotency_fingerprint(); NULL = none */
    int64_t starts_at_us, ends_at_us;
} store_new_room;

/* Creates the room (DRAFT) and its creator's ORGANIZER row in one transaction. A key already
 * used by the same creator for the same request (fingerprint) returns the room that key made
 * (a replay); for another request, CF_INVALID_ARGUMENT with *key_reused set (may be NULL).
 * Out: the room as its creator sees it. */
cf_code store_room_create(db_conn *db, arena *a, const store_new_room *in, store_room *out,
                          bool *key_reused);

typedef struct store_room_query {
    const char *user_id; /* the caller: their private rooms join the public ones */
    bool all;            /* platform admin: every live room */
    const char *status;  /* NULL = any */
    const char *app_id;  /* NULL = any */
    int is_public;       /* -1 any, 0 private only, 1 public only */
    bool archived;       /* only archived rooms the caller is a member of (all: every one) */
    int64_t after_us;    /* keyset (created_at, id) of the last row seen; STORE_NO_TIME = start */
    const char *after_id;
    const char *after_rank; /* store_rooms_search's keyset (rank, after_id); NULL = start */
    int limit;
} store_room_query;

/* Rooms newest first (created_at DESC, id DESC), at most q->limit. */
cf_code store_rooms_list(db_conn *db, arena *a, const store_room_query *q, store_room **rows,
                         size_t *n);

/* ListRooms?q=: the rooms matching `text` (websearch syntax, 'simple' configuration) that
 * store_rooms_list would show the same caller with the same filters, best rank first then id
 * descending, after the keyset (q->after_rank, q->after_id), at most q->limit; each row's
 * rank in rows[i].rank. q->after_us is not used. Only the first max_ranked (>= 1) visible
 * matches the scan yields are ranked; *truncated says more matched. A transaction of its own,
 * bounded by timeout_ms and the connection's deadline (CF_DEADLINE_EXCEEDED past them). Blocks
 * (one round trip). */
cf_code store_rooms_search(db_conn *db, arena *a, const store_room_query *q, const char *text,
                           int max_ranked, int64_t timeout_ms, store_room **rows, size_t *n,
                           bool *truncated);

/* Fields of UpdateRoom; set_* says which are changed. */
typedef struct store_room_patch {
    bool set_name, set_description, set_public, set_settings, set_starts, set_ends, set_policy;
    const char *name, *description, *app_settings;
    bool is_public;
    int64_t starts_at_us, ends_at_us; /* STORE_NO_TIME clears */
    Rooms__V1__DrawPolicy draw_policy;
} store_room_patch;

cf_code store_room_update(db_conn *db, arena *a, const char *room_id, const char *user_id,
                          const store_room_patch *p, store_room *out);

/* Soft delete. NOT_FOUND if already gone. */
/* Audited operations take au, the caller's side of the audit row (audit.h), written in the same
 * transaction; NULL = an action with no caller. */
cf_code store_room_delete(db_conn *db, const char *room_id, const audit_ctx *au);

/* Conditional status change: from `from` to `to`. CF_ABORTED when the room was not in `from`
 * any more (someone else changed it: re-read and decide again). */
cf_code store_room_set_status(db_conn *db, const char *room_id, Rooms__V1__RoomStatus from,
                              Rooms__V1__RoomStatus to, const audit_ctx *au);

/* A live participant row. NOT_FOUND if none. */
cf_code store_participant_get(db_conn *db, arena *a, const char *room_id, const char *user_id,
                              store_participant *out);

/* Adds a user, or revives their row if they left (same id, new role and metadata, joined_at
 * now). When they are a live member already, *existed is set and out is their current row. */
cf_code store_participant_join(db_conn *db, arena *a, const char *room_id, const char *user_id,
                               Rooms__V1__Role role, const char *metadata, store_participant *out,
                               bool *existed, const audit_ctx *au);

/* Members by id (role 0 = any); after_id NULL = from the start. */
cf_code store_participants_list(db_conn *db, arena *a, const char *room_id, Rooms__V1__Role role,
                                const char *after_id, int limit, store_participant **rows,
                                size_t *n);

/* Changes a live member whose role is still `expected_role` (ABORTED otherwise). Demoting the
 * room's last ORGANIZER is FAILED_PRECONDITION. set_role/set_meta pick the fields. */
cf_code store_participant_update(db_conn *db, arena *a, const char *room_id, const char *user_id,
                                 Rooms__V1__Role expected_role, bool set_role, Rooms__V1__Role role,
                                 const char *metadata, store_participant *out, const audit_ctx *au);

/* Marks a live member left. Leaving (or removing) the last ORGANIZER is FAILED_PRECONDITION;
 * a member who already left is CF_OK (a replay); never a member is NOT_FOUND. reason goes into
 * the participant.left event: "left" (themselves) or "removed". */
cf_code store_participant_remove(db_conn *db, const char *room_id, const char *user_id,
                                 Rooms__V1__Role expected_role, const char *reason);

/* *ever = user_id has a participant row in the room, live or left. */
cf_code store_participant_ever(db_conn *db, const char *room_id, const char *user_id, bool *ever);

/* *in_use = some live (not deleted) room uses app_id. */
cf_code store_app_in_use(db_conn *db, const char *app_id, bool *in_use);

/* The app fence that makes DeleteApp's check exact (docs/rooms.md, "Creating"): a CreateRoom
 * with an app shares it on its worker connection (session-level) from before it asks catalog
 * about the app until its transaction committed; store_app_in_use takes it exclusively, so it
 * counts every creation that read the app before catalog's deletion lease. store_room_create
 * with an app_id checks the fence is still held by its session (CF_ABORTED if the connection
 * was replaced meanwhile). Every share must be unshared, on every path. Block. */
cf_code store_app_fence_share(db_conn *db, const char *app_id);
void store_app_fence_unshare(db_conn *db, const char *app_id);

/* The `user.deleted` reaction (SPEC §1): every live participation of user_id is marked left,
 * each with its participant.left event, in one transaction. *n = how many. */
cf_code store_user_deleted(db_conn *db, const char *user_id, long *n);

/* ---- consumed events (consumer.c) ---- */

/* The last seq of `source` handled (0 if none). */
cf_code store_event_position(db_conn *db, const char *source, int64_t *seq);
/* Handles one event of `source` numbered seq in one transaction: when user_deleted is not NULL,
 * that user's participations are marked left (each with its participant.left event); and the
 * position moves to seq. */
cf_code store_event_consume(db_conn *db, const char *source, int64_t seq, const char *user_deleted);

/* When user_id's live role in the room began (epoch µs): the floor of what they read of the
 * room's audit log (docs/audit.md). NOT_FOUND when they are not a live member. */
cf_code store_role_since(db_conn *db, const char *room_id, const char *user_id, int64_t *us);

#endif
