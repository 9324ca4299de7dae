/* eligible.h — a room's eligible list as the draw holds it (one immutable, reference-counted
 * block of ids), and the per-room cache of those lists keyed by rooms' eligible-list stamp
 * (docs/draw.md, "The eligible list cache").
 *
 * Lifetime: draw_list_builder_* makes a list (refs = 1); draw_cache_put adds the cache's own
 * reference; every holder calls draw_list_release once. A list never changes after it is built,
 * so holders read it without locks. The cache is thread-safe (one mutex, held for lookups only:
 * never while copying or sorting a list). */
#ifndef CONFETTI_DRAW_ELIGIBLE_H
#define CONFETTI_DRAW_ELIGIBLE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct draw_list {
    atomic_size_t refs;
    char *version; /* rooms' stamp of exactly this list; "" = unknown (never cached) */
    size_t n;
    char **pids, **uids; /* ordered bytewise by pid, unique; point into the block */
    /* the pids again as the digest reads them (filter.h): each pid followed by LF, in order;
     * pid i is lines[line_off[i]..line_off[i+1]) (n + 1 offsets) */
    char *lines;
    size_t *line_off;
    size_t bytes; /* memory held, for the cache's budget */
} draw_list;

typedef struct draw_list_builder draw_list_builder;

draw_list_builder *draw_list_builder_new(void);
/* Appends one participant (both strings copied). */
void draw_list_builder_add(draw_list_builder *b, const char *pid, const char *uid);
size_t draw_list_builder_count(const draw_list_builder *b);
/* The list (refs 1), sorted bytewise by pid with duplicates removed if the ids did not come
 * that way; version copied. Frees the builder. */
draw_list *draw_list_builder_finish(draw_list_builder *b, const char *version);
/* Frees the builder without making a list. NULL is a no-op. */
void draw_list_builder_free(draw_list_builder *b);

/* Drops one reference; the last one frees the list. NULL is a no-op. */
void draw_list_release(draw_list *l);

typedef struct draw_cache draw_cache;

/* A cache holding at most max_ids participants in all (0 = a cache that never keeps). */
draw_cache *draw_cache_new(size_t max_ids);
void draw_cache_free(draw_cache *c);
/* The room's list if it is cached at exactly `version` (a new reference), else NULL. An empty
 * version never matches. */
draw_list *draw_cache_get(draw_cache *c, const char *room_id, const char *version);
/* Keeps l (its own reference) as the room's list, replacing an older one and evicting the
 * least recently used rooms past the budget. Lists with an empty version, or larger than the
 * whole budget, are not kept. */
void draw_cache_put(draw_cache *c, const char *room_id, draw_list *l);

#endif
