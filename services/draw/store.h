/* store.h — the draw service's SQL (schema `draw`): prizes, the draw transaction, winners.
 * Every function blocks on PostgreSQL; results are copied into the caller's arena, so no
 * PGresult leaves store.c. Errors are status codes (db_code_from_sqlstate) unless said. */
#ifndef CONFETTI_DRAW_STORE_H
#define CONFETTI_DRAW_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "audit/audit.h"
#include "db/db.h"

extern const db_stmt draw_stmts[];
extern const size_t draw_nstmts;

typedef struct store_prize {
    char *id, *room_id, *name, *description, *metadata_json;
    int32_t quantity, remaining;
    int64_t created_us, updated_us;
} store_prize;

typedef struct store_winner {
    char *id, *room_id, *prize_id, *participant_id, *user_id, *draw_id, *metadata_json;
    char *revoked_reason;           /* NULL while live */
    int64_t created_us, revoked_us; /* revoked_us 0 while live */
} store_winner;

typedef struct store_draw {
    char *id, *room_id, *prize_id, *algorithm, *seed_hex, *digest_hex, *idem_key, *drawn_by;
    int64_t number, eligible_count, created_us;
    int32_t count;
    char **winners; /* participant ids in draw order */
    size_t nwinners;
} store_draw;

/* --- prizes --- */
/* Inserts in->…; with an idempotency key (may be NULL or ""), a key already used in the room
 * for the same request (fingerprint, rpc_idempotency_fingerprint()) returns the prize it made
 * first instead (even if since deleted); for another request, CF_INVALID_ARGUMENT with
 * *key_reused set. */
cf_code store_prize_create(db_conn *db, arena *a, const store_prize *in, const char *idem_key,
                           const char *fingerprint, store_prize *out, bool *key_reused);
/* A live prize of the room; CF_NOT_FOUND otherwise. */
cf_code store_prize_get(db_conn *db, arena *a, const char *room_id, const char *id,
                        store_prize *out);
/* Live prizes of the room after the keyset position (after_us < 0: from the start). */
cf_code store_prize_list(db_conn *db, arena *a, const char *room_id, int64_t after_us,
                         const char *after_id, int limit, store_prize **rows, size_t *n);

/* Which fields UpdatePrize changes. */
enum {
    STORE_SET_NAME = 1,
    STORE_SET_DESCRIPTION = 2,
    STORE_SET_QUANTITY = 4,
    STORE_SET_METADATA = 8
};
/* One guarded UPDATE: a new quantity must stay >= what is allocated (quantity - remaining),
 * checked on the locked row, so a concurrent draw cannot slip between check and write;
 * remaining moves by the same delta. CF_NOT_FOUND, or CF_FAILED_PRECONDITION when the
 * quantity would fall below the allocation. */
cf_code store_prize_update(db_conn *db, arena *a, const char *room_id, const store_prize *in,
                           unsigned set, store_prize *out);
/* Soft delete, refused (CF_FAILED_PRECONDITION) while live winners exist: by the invariant,
 * "no live winner" is exactly remaining = quantity, checked on the locked row. */
cf_code store_prize_delete(db_conn *db, const char *room_id, const char *id);

/* --- draws --- */
/* Participant ids that may not win this prize: every winner row of the prize (revoked or
 * not), plus, when room_policy, every live winner in the room. Sorted bytewise. */
cf_code store_excluded(db_conn *db, arena *a, const char *room_id, const char *prize_id,
                       bool room_policy, char ***ids, size_t *n);
/* The winners (revoked or not) of the prize's draws numbered above `after`, in one statement
 * (one snapshot), in no particular order, and in *mark the highest such draw number (`after`
 * when there is none). Every committed draw of the room numbered <= *mark is in that snapshot
 * (docs/draw.md, "The exclusion cache"). */
cf_code store_excluded_since(db_conn *db, arena *a, const char *prize_id, int64_t after,
                             char ***ids, size_t *n, int64_t *mark);
/* store_prize_get and store_excluded_since(id, after) in ONE statement (one round trip, one
 * snapshot: the delta is exactly what store_excluded_since would read at that moment, and its
 * *mark carries the same promise). CF_NOT_FOUND, with nothing in *ids, when the room has no
 * such live prize. */
cf_code store_prize_get_since(db_conn *db, arena *a, const char *room_id, const char *id,
                              int64_t after, store_prize *out, char ***ids, size_t *n,
                              int64_t *mark);
cf_code store_draw_get(db_conn *db, arena *a, const char *room_id, const char *id, store_draw *out);
/* The draw recorded under (room, idempotency key); CF_NOT_FOUND if none. */
cf_code store_draw_by_key(db_conn *db, arena *a, const char *room_id, const char *key,
                          store_draw *out);

/* What DrawWinners allocates: the selection was computed before the transaction. */
typedef struct store_new_draw {
    const char *id, *room_id, *prize_id, *algorithm, *seed_hex, *digest_hex, *idem_key;
    const char *drawn_by;
    int64_t eligible_count;
    int32_t count;
    bool room_policy;              /* ONE_WIN_PER_ROOM: refuse live winners elsewhere in room */
    const char *const *winner_ids; /* new winner row ids, count of them */
    const char *const *participant_ids, *const *user_ids; /* the picks, in draw order */
    int64_t timeout_ms;  /* statement bound inside the transaction (the deadline) */
    const audit_ctx *au; /* the caller's side of the draw's audit row; NULL = none (audit.h) */
} store_new_draw;

/* The allocation, in one transaction: the guarded decrement of quantity_remaining (locks the
 * prize row), the room's next draw number, the draw record, the winner rows, the winner.drawn
 * event. Either all of it commits or nothing does. ONE_WIN_PER_PRIZE runs it as one statement
 * in one round trip (db_exec_tx: the locks are held only while the server executes it);
 * ONE_WIN_PER_ROOM as a transaction of several statements, because its conflict check must
 * see what committed while it waited for the room's counter lock. Errors besides the
 * database's:
 *   CF_FAILED_PRECONDITION  the prize has fewer than count units left (or was deleted)
 *   CF_ABORTED              a pick won this prize (or, room policy, another prize) since the
 *                           eligible list was read: draw again with a fresh list and seed
 *   CF_ALREADY_EXISTS       the idempotency key was used by a draw that committed first
 * On CF_OK fills *out and winners[0..count) (created times). */
cf_code store_draw_commit(db_conn *db, arena *a, const store_new_draw *in, store_draw *out,
                          store_winner *winners);

/* What store_draw_commit fills on CF_OK, for a draw committed as `number` at created_us. */
void store_draw_committed(arena *a, const store_new_draw *in, int64_t number, int64_t created_us,
                          store_draw *out, store_winner *winners);

#define STORE_GROUP_MAX 32

/* The allocation of n (1..STORE_GROUP_MAX) draws of the same prize at once, as ONE statement in
 * one round trip (group.c gathers them): each ONE_WIN_PER_PRIZE, count 1, no idempotency key.
 * They take consecutive draw numbers in array order (numbers[i], created_us[i]) and commit
 * together or not at all. CF_FAILED_PRECONDITION: fewer than n units left (nothing written;
 * each may still fit alone); CF_ABORTED: a pick won meanwhile, or two picks are the same
 * participant — which one is not known, so each draws again; else the database's code. */
cf_code store_draw_commit_group(db_conn *db, arena *a, const store_new_draw *const *in, size_t n,
                                int64_t timeout_ms, int64_t *numbers, int64_t *created_us);

/* --- winners --- */
cf_code store_winners_of_draw(db_conn *db, arena *a, const char *draw_id, store_winner **rows,
                              size_t *n);
/* Live winners of the room (prize_id "" = every prize) after the keyset position. */
cf_code store_winner_list(db_conn *db, arena *a, const char *room_id, const char *prize_id,
                          int64_t after_us, const char *after_id, int limit, store_winner **rows,
                          size_t *n);
/* Soft delete with reason and one unit back to the prize, in one transaction; a winner already
 * revoked is returned as it is and restocks nothing. CF_NOT_FOUND if no such winner. */
cf_code store_winner_revoke(db_conn *db, arena *a, const char *room_id, const char *id,
                            const char *reason, store_winner *out, const audit_ctx *au);

#endif
