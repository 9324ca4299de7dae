/* filter.h — a draw's eligible list minus its exclusions, without copying the list (docs/draw.md,
 * step 5 and "Where a draw's time goes"). A pure module: no I/O, no global state.
 *
 * The list ids[0..n) and the exclusions ex[0..nex) are both ordered bytewise (strcmp; PostgreSQL's
 * COLLATE "C"). The filtered list is the list without every id that is also in ex; it is never
 * built: a draw needs only its length, its digest and the list index of a few picks, and all three
 * follow from the positions of the excluded ids inside the list. */
#ifndef CONFETTI_DRAW_FILTER_H
#define CONFETTI_DRAW_FILTER_H

#include "algorithm.h"

#include <stddef.h>
#include <stdint.h>

/* Writes to xpos the list positions of the ids of ex that are in the list, strictly increasing,
 * and returns how many (so the filtered list has n − that many ids). xpos holds at least
 * min(n, nex) entries. ids must be unique; ex may hold duplicates and ids that are not in the
 * list (skipped). Each exclusion is found by galloping (exponential, then binary search) from the
 * previous one's position: ~nex·log2(n/nex) string comparisons, never much more than a merge. */
size_t draw_filter_positions(const char *const *ids, size_t n, const char *const *ex, size_t nex,
                             size_t *xpos);

/* The digest of the filtered list (the same bytes as draw_digest_list over it) from the list
 * written as `lines` (each id followed by LF, in order; id i is lines[off[i]..off[i+1]), off has
 * n + 1 entries) and the excluded positions xpos[0..nx): one digest update per run of kept ids. */
void draw_filter_digest(const char *lines, const size_t *off, size_t n, const size_t *xpos,
                        size_t nx, uint8_t out[DRAW_DIGEST_LEN]);

/* The list index of the filtered list's entry i (i < n − nx):
 * i + #{ j : xpos[j] − j <= i }, by binary search (xpos[j] − j never decreases). */
size_t draw_filter_index(const size_t *xpos, size_t nx, size_t i);

#endif
