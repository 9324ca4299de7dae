/* maint.c — confetti-rooms' maintenance job `archive` (common/svc/maint.h; docs/rooms.md,
 * "Archive"). */
#include "rooms.h"
#include "emit.h"
#include "db/tx.h"

#include <inttypes.h>
#include <stdio.h>

typedef struct archive_tx {
    const char *p[2];
    int64_t n;
} archive_tx;

/* One transaction: the rooms archived, their rows of private_members dropped (the private
 * branch of the listing never meets them; an archived room is read-only — rooms_gate and
 * rooms_writable refuse every change — so no trigger brings them back), and a room.updated
 * event (fields ["archivedAt"]) for each, so the gateway's cached listings and the rooms' feeds
 * learn it. */
static cf_code archive_body(db_conn *db, void *arg)
{
    archive_tx *t = arg;
    PGresult *r = NULL;
    cf_code code = db_exec_sql(
        db,
        "WITH a AS (UPDATE rooms SET archived_at = clock_timestamp() WHERE id IN "
        "(SELECT id FROM rooms WHERE archived_at IS NULL AND deleted_at IS NULL "
        "AND status IN ('COMPLETED', 'CANCELLED') AND updated_at < to_timestamp($1::bigint) "
        "ORDER BY updated_at LIMIT $2::int FOR UPDATE SKIP LOCKED) RETURNING id, name, is_public), "
        "m AS (DELETE FROM private_members WHERE room_id IN (SELECT id FROM a)) "
        "SELECT id, name, is_public FROM a",
        2, t->p, &r);
    if (code != CF_OK)
        return code;
    int rows = PQntuples(r);
    for (int i = 0; i < rows && code == CF_OK; i++)
        code = emit_room_archived(db, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
                                  PQgetvalue(r, i, 2)[0] == 't');
    t->n = rows;
    PQclear(r);
    return code;
}

/* Archives up to `batch` rooms COMPLETED or CANCELLED whose last change (updated_at: the status
 * change, or a later edit) is older than *arg milliseconds. SKIP LOCKED: a room being changed
 * right now is left for the next run. */
cf_code rooms_archive_batch(db_conn *db, const void *arg, int64_t now, int batch, int64_t *n)
{
    const int64_t *after_ms = arg;
    char cut[24], lim[16];
    snprintf(cut, sizeof cut, "%" PRId64, now - *after_ms / 1000);
    snprintf(lim, sizeof lim, "%d", batch);
    archive_tx t = {.p = {cut, lim}};
    cf_code code = db_tx(db, archive_body, &t);
    *n = code == CF_OK ? t.n : 0;
    return code;
}
