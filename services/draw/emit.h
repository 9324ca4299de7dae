/* emit.h — the events confetti-draw publishes (SPEC §5), written to its outbox by the store
 * inside the transaction of the change they report (common/events). Each call blocks (libpq)
 * and must run inside that db_tx. */
#ifndef CONFETTI_DRAW_EMIT_H
#define CONFETTI_DRAW_EMIT_H

#include <stddef.h>

#include "db/db.h"
#include "events/events.h"
#include "store.h"

cf_code emit_prize_created(db_conn *db, const store_prize *p);
cf_code emit_prize_updated(db_conn *db, const store_prize *p);
cf_code emit_prize_deleted(db_conn *db, const char *room_id, const char *prize_id);
/* The k winners of one draw: winner_ids[i] and user_ids[i]. */
cf_code emit_winner_drawn(db_conn *db, const char *room_id, const char *prize_id,
                          const char *draw_id, const char *const *winner_ids,
                          const char *const *user_ids, size_t k);
/* The same event made into an outbox row, for the one-statement allocation (store.c), which
 * writes it itself; needs no transaction and does no I/O. row is the caller's to free. */
void emit_winner_drawn_row(const char *room_id, const char *prize_id, const char *draw_id,
                           const char *const *winner_ids, const char *const *user_ids, size_t k,
                           events_outbox_row *row);
cf_code emit_winner_revoked(db_conn *db, const char *room_id, const char *prize_id,
                            const char *winner_id, const char *user_id, const char *reason);

#endif
