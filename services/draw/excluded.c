/* excluded.c — see excluded.h. */
#include "excluded.h"
#include "base/xmalloc.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static int str_cmp(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* Copies s to the block at *w and records it as the next id. */
static void put_id(draw_excl *e, char **w, const char *s)
{
    size_t len = strlen(s) + 1;
    memcpy(*w, s, len);
    e->ids[e->n++] = *w;
    *w += len;
}

draw_excl *draw_excl_merge(const draw_excl *base, const char *const *add, size_t nadd, int64_t mark)
{
    /* the additions in order, without duplicates (a draw's delta is small: sort a copy) */
    const char **a = xmalloc((nadd + 1) * sizeof *a);
    if (nadd) /* add may be NULL then */
        memcpy(a, add, nadd * sizeof *a);
    qsort(a, nadd, sizeof *a, str_cmp);
    size_t na = 0, extra = 0;
    for (size_t i = 0; i < nadd; i++)
        if (na == 0 || strcmp(a[na - 1], a[i]) != 0) {
            a[na++] = a[i];
            extra += strlen(a[i]) + 1;
        }
    size_t nb = base ? base->n : 0, blob = (base ? base->blob : 0) + extra;

    draw_excl *e = xcalloc(1, sizeof *e);
    atomic_init(&e->refs, 1);
    e->mark = base && base->mark > mark ? base->mark : mark;
    e->ids = xmalloc((nb + na + 1) * sizeof *e->ids);
    char *block = xmalloc(blob + 1), *w = block;
    /* one merge pass of two sorted lists; an addition already in base is skipped */
    size_t i = 0, j = 0;
    while (i < nb || j < na) {
        int c = i == nb ? 1 : j == na ? -1 : strcmp(base->ids[i], a[j]);
        if (c <= 0)
            put_id(e, &w, base->ids[i++]);
        if (c >= 0) {
            if (c > 0)
                put_id(e, &w, a[j]);
            j++;
        }
    }
    free(a);
    e->ids[e->n] = block; /* slot n remembers the block for the free */
    e->blob = (size_t)(w - block);
    e->bytes = sizeof *e + blob + 1 + (nb + na + 1) * sizeof *e->ids;
    return e;
}

void draw_excl_release(draw_excl *e)
{
    if (!e || atomic_fetch_sub(&e->refs, 1) != 1)
        return;
    free(e->ids[e->n]);
    free(e->ids);
    free(e);
}

/* --- the cache: a small table of prizes, least recently used evicted first --- */

enum { CACHE_PRIZES = 256 };

typedef struct slot {
    char *prize_id; /* NULL = free */
    draw_excl *excl;
    uint64_t used;
} slot;

struct draw_excl_cache {
    pthread_mutex_t mu;
    size_t max_ids, ids;
    uint64_t tick;
    slot slots[CACHE_PRIZES];
};

draw_excl_cache *draw_excl_cache_new(size_t max_ids)
{
    draw_excl_cache *c = xcalloc(1, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    c->max_ids = max_ids;
    return c;
}

static void slot_clear(draw_excl_cache *c, slot *s)
{
    c->ids -= s->excl->n;
    draw_excl_release(s->excl);
    free(s->prize_id);
    *s = (slot){0};
}

void draw_excl_cache_free(draw_excl_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < CACHE_PRIZES; i++)
        if (c->slots[i].prize_id)
            slot_clear(c, &c->slots[i]);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static slot *find(draw_excl_cache *c, const char *prize_id)
{
    for (size_t i = 0; i < CACHE_PRIZES; i++)
        if (c->slots[i].prize_id && strcmp(c->slots[i].prize_id, prize_id) == 0)
            return &c->slots[i];
    return NULL;
}

draw_excl *draw_excl_cache_get(draw_excl_cache *c, const char *prize_id)
{
    draw_excl *e = NULL;
    pthread_mutex_lock(&c->mu);
    slot *s = find(c, prize_id);
    if (s) {
        e = s->excl;
        atomic_fetch_add(&e->refs, 1);
        s->used = ++c->tick;
    }
    pthread_mutex_unlock(&c->mu);
    return e;
}

void draw_excl_cache_put(draw_excl_cache *c, const char *prize_id, draw_excl *e)
{
    if (e->n > c->max_ids || c->max_ids == 0)
        return;
    pthread_mutex_lock(&c->mu);
    slot *s = find(c, prize_id);
    if (s && s->excl->mark >= e->mark) {
        pthread_mutex_unlock(&c->mu);
        return;
    }
    if (s)
        slot_clear(c, s);
    /* evict the least recently used until the snapshot fits and a slot is free */
    for (;;) {
        slot *lru = NULL, *free_slot = NULL;
        for (size_t i = 0; i < CACHE_PRIZES; i++) {
            slot *t = &c->slots[i];
            if (!t->prize_id)
                free_slot = free_slot ? free_slot : t;
            else if (!lru || t->used < lru->used)
                lru = t;
        }
        if (free_slot && c->ids + e->n <= c->max_ids) {
            s = free_slot;
            break;
        }
        slot_clear(c, lru); /* lru exists: the table is full or holds ids */
    }
    atomic_fetch_add(&e->refs, 1);
    *s = (slot){.prize_id = xstrdup(prize_id), .excl = e, .used = ++c->tick};
    c->ids += e->n;
    pthread_mutex_unlock(&c->mu);
}
