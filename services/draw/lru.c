/* lru.c — see lru.h. */
#include "lru.h"
#include "base/xmalloc.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { LRU_KEYS = 256 };

typedef struct slot {
    char *key; /* NULL = free */
    void *value;
    size_t weight;
    uint64_t used;
} slot;

struct draw_lru {
    pthread_mutex_t mu;
    draw_lru_ops ops;
    size_t max_weight, weight;
    uint64_t tick;
    slot slots[LRU_KEYS];
};

draw_lru *draw_lru_new(size_t max_weight, draw_lru_ops ops)
{
    draw_lru *c = xcalloc(1, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    c->ops = ops;
    c->max_weight = max_weight;
    return c;
}

static void slot_clear(draw_lru *c, slot *s)
{
    c->weight -= s->weight;
    c->ops.release(s->value);
    free(s->key);
    *s = (slot){0};
}

void draw_lru_free(draw_lru *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < LRU_KEYS; i++)
        if (c->slots[i].key)
            slot_clear(c, &c->slots[i]);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static slot *find(draw_lru *c, const char *key)
{
    for (size_t i = 0; i < LRU_KEYS; i++)
        if (c->slots[i].key && strcmp(c->slots[i].key, key) == 0)
            return &c->slots[i];
    return NULL;
}

void *draw_lru_get(draw_lru *c, const char *key, bool (*usable)(const void *value, const void *arg),
                   const void *arg)
{
    void *v = NULL;
    pthread_mutex_lock(&c->mu);
    slot *s = find(c, key);
    if (s && (!usable || usable(s->value, arg))) {
        v = s->value;
        c->ops.retain(v);
        s->used = ++c->tick;
    }
    pthread_mutex_unlock(&c->mu);
    return v;
}

void draw_lru_put(draw_lru *c, const char *key, void *value, size_t weight,
                  bool (*replaces)(const void *kept, const void *value))
{
    if (weight > c->max_weight)
        return;
    pthread_mutex_lock(&c->mu);
    slot *s = find(c, key);
    if (s && replaces && !replaces(s->value, value)) {
        pthread_mutex_unlock(&c->mu);
        return;
    }
    if (s)
        slot_clear(c, s);
    /* evict the least recently used until the value fits and a slot is free */
    for (;;) {
        slot *lru = NULL, *free_slot = NULL;
        for (size_t i = 0; i < LRU_KEYS; i++) {
            slot *t = &c->slots[i];
            if (!t->key)
                free_slot = free_slot ? free_slot : t;
            else if (!lru || t->used < lru->used)
                lru = t;
        }
        if (free_slot && c->weight + weight <= c->max_weight) {
            s = free_slot;
            break;
        }
        slot_clear(c, lru); /* lru exists: the table is full or holds weight */
    }
    c->ops.retain(value);
    *s = (slot){.key = xstrdup(key), .value = value, .weight = weight, .used = ++c->tick};
    c->weight += weight;
    pthread_mutex_unlock(&c->mu);
}
