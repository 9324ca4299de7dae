/* group.h — group allocation of concurrent draws of one prize (docs/draw.md, "Group
 * allocation"): draws computed at the same time on the same prize are committed by ONE
 * statement (store_draw_commit_group) instead of one each, the way a database groups commits.
 *
 * Every draw still computes its own exclusions, digest, seed and picks exactly as alone; only
 * the allocation is shared. The first worker to arrive with a draw of a prize runs the group:
 * it takes every draw of that prize then waiting (up to STORE_GROUP_MAX), allocates them with
 * its own database connection and wakes their workers; draws that arrive meanwhile wait for the
 * next group, which one of them runs. A group that fails as a whole is answered for each draw
 * as the database said (CF_ABORTED: each draws again, as after a conflicting pick alone), except
 * that a refused guard (fewer units left than the group needs) is retried draw by draw, so
 * exactly those that fit get units.
 *
 * Grouped: ONE_WIN_PER_PRIZE draws of count 1 without an idempotency key. Everything else goes
 * to store_draw_commit directly. Threads: any worker; waiting is a condition variable. */
#ifndef CONFETTI_DRAW_GROUP_H
#define CONFETTI_DRAW_GROUP_H

#include "admin/metrics.h"
#include "store.h"

typedef struct draw_group draw_group;

draw_group *draw_group_new(void);
/* No draw may be waiting. NULL is a no-op. */
void draw_group_free(draw_group *g);

/* store_draw_commit for `in`, grouped with concurrent draws of the same prize when it can be
 * (g may be NULL: never grouped). Same results and errors as store_draw_commit. Blocks. */
cf_code draw_group_commit(draw_group *g, db_conn *db, arena *a, const store_new_draw *in,
                          store_draw *out, store_winner *winners);

/* How many allocations ran grouped, and how many draws they carried (for the bench). */
void draw_group_stats(draw_group *g, uint64_t *groups, uint64_t *draws);

/* Draws queued for an allocation that has not taken them yet (a test sees a group forming). */
int draw_group_waiting(draw_group *g);

/* Registers confetti_draw_group_waiting, confetti_draw_groups_total and
 * confetti_draw_grouped_draws_total on m (start-up only; g must outlive m's rendering). */
void draw_group_metrics_register(draw_group *g, metrics *m);

#endif
