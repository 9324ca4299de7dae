/* store_eligible.h — the SQL behind the draw's list question: a room's eligible list in the
 * compact form with its stamp (schema/005_eligible_versions.sql, docs/draw.md). The stamp alone
 * comes with the room row: store_room_get_stamped (store.h). */
#ifndef CONFETTI_ROOMS_STORE_ELIGIBLE_H
#define CONFETTI_ROOMS_STORE_ELIGIBLE_H

#include <stddef.h>

#include "base/arena.h"
#include "base/status.h"
#include "db/db.h"

/* One page of the room's live PARTICIPANTs ordered by id (after_id NULL = from the start), at
 * most `limit`, as parallel arrays of ids and user ids, and the stamp read in the SAME
 * statement (one snapshot: the page is exactly the list as of that stamp). All in a. Blocks. */
cf_code store_eligible_page(db_conn *db, arena *a, const char *room_id, const char *after_id,
                            int limit, char ***ids, char ***user_ids, size_t *n, char **version);

#endif
