/* store_eligible.h — the SQL behind the draw's questions: a room's eligible-list stamp and its
 * eligible list in the compact form (schema/005_eligible_versions.sql, docs/draw.md). */
#ifndef CONFETTI_ROOMS_STORE_ELIGIBLE_H
#define CONFETTI_ROOMS_STORE_ELIGIBLE_H

#include <stddef.h>

#include "base/arena.h"
#include "base/status.h"
#include "db/db.h"

/* The room's eligible-list stamp into *version (in a; "" when the room has none yet, which
 * callers must treat as "unknown, do not cache"). Blocks (one point read). */
cf_code store_eligible_version(db_conn *db, arena *a, const char *room_id, char **version);

/* One page of the room's live PARTICIPANTs ordered by id (after_id NULL = from the start), at
 * most `limit`, as parallel arrays of ids and user ids, and the stamp read in the SAME
 * statement (one snapshot: the page is exactly the list as of that stamp). All in a. Blocks. */
cf_code store_eligible_page(db_conn *db, arena *a, const char *room_id, const char *after_id,
                            int limit, char ***ids, char ***user_ids, size_t *n, char **version);

#endif
