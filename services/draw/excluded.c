/* excluded.c — see excluded.h. */
#include "excluded.h"
#include "lru.h"
#include "base/xmalloc.h"

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

/* --- the cache: the shared LRU table (lru.h), prizes as keys --- */

struct draw_excl_cache {
    draw_lru *lru;
    size_t max_ids;
};

static void excl_retain(void *v)
{
    atomic_fetch_add(&((draw_excl *)v)->refs, 1);
}

static void excl_release(void *v)
{
    draw_excl_release(v);
}

draw_excl_cache *draw_excl_cache_new(size_t max_ids)
{
    draw_excl_cache *c = xcalloc(1, sizeof *c);
    c->lru = draw_lru_new(max_ids, (draw_lru_ops){.retain = excl_retain, .release = excl_release});
    c->max_ids = max_ids;
    return c;
}

void draw_excl_cache_free(draw_excl_cache *c)
{
    if (!c)
        return;
    draw_lru_free(c->lru);
    free(c);
}

draw_excl *draw_excl_cache_get(draw_excl_cache *c, const char *prize_id)
{
    return draw_lru_get(c->lru, prize_id, NULL, NULL);
}

/* a draw that finished later with an older snapshot never replaces a newer one */
static bool newer(const void *kept, const void *e)
{
    return ((const draw_excl *)kept)->mark < ((const draw_excl *)e)->mark;
}

void draw_excl_cache_put(draw_excl_cache *c, const char *prize_id, draw_excl *e)
{
    if (c->max_ids > 0) /* 0: a cache that never keeps, not even an empty snapshot */
        draw_lru_put(c->lru, prize_id, e, e->n, newer);
}
