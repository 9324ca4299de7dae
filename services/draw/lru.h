/* lru.h — the table both draw caches keep (eligible lists by room, exclusion snapshots by
 * prize): up to 256 keys, each holding one reference-counted, immutable value with a weight (its
 * number of ids), the total weight bounded, the least recently used evicted first. Values are
 * never copied: the table takes a reference when it keeps one and hands out a new reference on
 * every hit. Thread-safe (one mutex, held only for the table itself).
 *
 * Lifetime: draw_lru_new → get/put from any thread → draw_lru_free (releases what it holds). */
#ifndef CONFETTI_DRAW_LRU_H
#define CONFETTI_DRAW_LRU_H

#include <stdbool.h>
#include <stddef.h>

typedef struct draw_lru_ops {
    void (*retain)(void *value);  /* one more reference */
    void (*release)(void *value); /* one fewer; the last frees */
} draw_lru_ops;

typedef struct draw_lru draw_lru;

draw_lru *draw_lru_new(size_t max_weight, draw_lru_ops ops);
void draw_lru_free(draw_lru *c);

/* The value kept for key, as a new reference, if there is one and usable(value, arg) says so
 * (usable NULL: any); else NULL. */
void *draw_lru_get(draw_lru *c, const char *key, bool (*usable)(const void *value, const void *arg),
                   const void *arg);

/* Keeps value (taking its own reference) for key with the given weight, in place of the kept one
 * unless replaces(kept, value) says no (replaces NULL: always), evicting the least recently used
 * until it fits. A weight above the whole budget is not kept. */
void draw_lru_put(draw_lru *c, const char *key, void *value, size_t weight,
                  bool (*replaces)(const void *kept, const void *value));

#endif
