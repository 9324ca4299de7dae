/* store_eligible.c — see store_eligible.h. The statement is sent unprepared (db_exec_sql),
 * like store.c's member listing: the planner sees the actual room, so a hot room never gets an
 * average room's generic plan (STACK.md). */
#include "store_eligible.h"

#include <stdio.h>

/* The stamp row (id NULL) and the page rows, one statement so both come from one snapshot.
 * Served by participants_room_role_idx (room_id, role, id) WHERE live: an index-ordered range
 * that stops after $3 rows. */
static const char sql_page[] =
    "SELECT NULL, NULL, (SELECT version FROM eligible_versions WHERE room_id = $1) "
    "UNION ALL (SELECT p.id, p.user_id, NULL FROM participants p WHERE p.room_id = $1 AND "
    "p.role = 'PARTICIPANT' AND p.deleted_at IS NULL AND ($2::text IS NULL OR p.id > $2) "
    "ORDER BY p.id LIMIT $3)";

cf_code store_eligible_page(db_conn *db, arena *a, const char *room_id, const char *after_id,
                            int limit, char ***ids, char ***user_ids, size_t *n, char **version)
{
    char lim[16];
    snprintf(lim, sizeof lim, "%d", limit);
    const char *p[] = {room_id, after_id, lim};
    PGresult *r;
    cf_code code = db_exec_sql(db, sql_page, 3, p, &r);
    if (code != CF_OK)
        return code;
    int rows = PQntuples(r);
    *ids = arena_alloc(a, (size_t)(rows ? rows : 1) * sizeof **ids);
    *user_ids = arena_alloc(a, (size_t)(rows ? rows : 1) * sizeof **user_ids);
    *version = "";
    size_t m = 0;
    for (int i = 0; i < rows; i++) {
        if (PQgetisnull(r, i, 0)) { /* the stamp row (NULL stamp = none yet) */
            if (!PQgetisnull(r, i, 2))
                *version = arena_strdup(a, PQgetvalue(r, i, 2));
            continue;
        }
        (*ids)[m] = arena_strndup(a, PQgetvalue(r, i, 0), (size_t)PQgetlength(r, i, 0));
        (*user_ids)[m] = arena_strndup(a, PQgetvalue(r, i, 1), (size_t)PQgetlength(r, i, 1));
        m++;
    }
    *n = m;
    PQclear(r);
    return CF_OK;
}
