/* maint.c — confetti-rooms' maintenance job `archive` (common/svc/maint.h; docs/rooms.md,
 * "Archive"). */
#include "rooms.h"

/* Archives up to `batch` rooms COMPLETED or CANCELLED whose last change (updated_at: the status
 * change, or a later edit) is older than *arg milliseconds, and drops their rows of
 * private_members in the same statement, so the private branch of the listing never meets them
 * (an archived room is read-only: rooms_gate refuses every change, so no trigger brings them
 * back). SKIP LOCKED: a room being changed right now is left for the next run. */
cf_code rooms_archive_batch(db_conn *db, const void *arg, int64_t now, int batch, int64_t *n)
{
    const int64_t *after_ms = arg;
    return svc_maint_exec(db,
                          "WITH a AS (UPDATE rooms SET archived_at = clock_timestamp() WHERE id IN "
                          "(SELECT id FROM rooms WHERE archived_at IS NULL AND deleted_at IS NULL "
                          "AND status IN ('COMPLETED', 'CANCELLED') AND updated_at < "
                          "to_timestamp($1::bigint) ORDER BY updated_at LIMIT $2::int FOR UPDATE "
                          "SKIP LOCKED) RETURNING id), "
                          "m AS (DELETE FROM private_members WHERE room_id IN (SELECT id FROM a)) "
                          "SELECT id FROM a",
                          now - *after_ms / 1000, batch, n);
}
