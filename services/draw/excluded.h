/* excluded.h — the participants who may no longer win a prize under ONE_WIN_PER_PRIZE (every
 * winner row of the prize, revoked or not), as the draw holds them: one immutable,
 * reference-counted snapshot, and a per-prize cache of snapshots that draws bring up to date
 * with a delta (docs/draw.md, "The exclusion cache").
 *
 * Why a delta is enough: that set only grows, and every winner comes from a draw whose
 * transaction holds its room's counter row (room_draw_counters) until commit, so a room's draw
 * numbers commit in number order. A snapshot that includes draw number `mark` therefore
 * includes every draw of the room numbered <= mark that will ever commit, and the winners of
 * draws numbered > mark (read in one later statement) complete it.
 *
 * Lifetime: draw_excl_merge makes a snapshot (refs = 1); draw_excl_cache_put adds the cache's
 * own reference; every holder calls draw_excl_release once. A snapshot never changes after it
 * is made, so holders read it without locks. The cache is thread-safe (one mutex, held for
 * lookups only: never while merging). */
#ifndef CONFETTI_DRAW_EXCLUDED_H
#define CONFETTI_DRAW_EXCLUDED_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Where a snapshot's ids stand in one eligible list (filter.h), for the list whose stamp is
 * `version`. */
typedef struct draw_excl_pos {
    char *version;
    size_t nx;
    size_t xpos[]; /* strictly increasing */
} draw_excl_pos;

typedef struct draw_excl {
    atomic_size_t refs;
    int64_t mark; /* every draw of the prize numbered <= mark is included; 0 = none read yet */
    size_t n;
    char **ids;   /* participant ids ordered bytewise (strcmp), unique; point into one block */
    size_t blob;  /* bytes of the id block (each id and its NUL) */
    size_t bytes; /* memory held, for reports */
    /* The only mutable part, under mu: the ids' places in one list, computed once
     * (draw_excl_positions) from the parent's (a reference, dropped then) and the ids this
     * snapshot added to it (`added`, ordered, into the block). */
    pthread_mutex_t mu;
    draw_excl_pos *pos;
    struct draw_excl *parent;
    char **added;
    size_t nadded;
} draw_excl;

/* A new snapshot (refs 1): base's ids (base may be NULL: none) plus add[0..nadd) (any order,
 * duplicates and ids already in base allowed; strings copied), with mark
 * max(base's mark, mark). base is only read (and referenced when it knows its places in a
 * list: the new snapshot's are then found from them). Copies base's ids in runs: one binary
 * search per addition, no comparison per kept id. */
draw_excl *draw_excl_merge(draw_excl *base, const char *const *add, size_t nadd, int64_t mark);

/* The places of e's ids in the list ids[0..n) whose stamp is `version` (what
 * draw_filter_positions gives), into xpos (at least min(n, e->n) entries); returns how many.
 * Computed once per snapshot and list and kept with the snapshot: from the parent's places and
 * the added ids (a binary search each) when the parent has them for this list, else by
 * draw_filter_positions. An empty version (unknown list) is computed and not kept. */
size_t draw_excl_positions(draw_excl *e, const char *const *ids, size_t n, const char *version,
                           size_t *xpos);
/* Drops one reference; the last one frees the snapshot. NULL is a no-op. */
void draw_excl_release(draw_excl *e);

typedef struct draw_excl_cache draw_excl_cache;

/* A cache holding at most max_ids excluded ids in all (0 = a cache that never keeps). */
draw_excl_cache *draw_excl_cache_new(size_t max_ids);
void draw_excl_cache_free(draw_excl_cache *c);
/* The prize's cached snapshot (a new reference), or NULL. */
draw_excl *draw_excl_cache_get(draw_excl_cache *c, const char *prize_id);
/* Keeps e (its own reference) as the prize's snapshot if none is kept or the kept one has a
 * lower mark (a draw that finished later with an older snapshot never replaces a newer one),
 * evicting the least recently used prizes past the budget. Larger than the whole budget: not
 * kept. */
void draw_excl_cache_put(draw_excl_cache *c, const char *prize_id, draw_excl *e);

#endif
