/* excluded.c — see excluded.h. */
#include "excluded.h"
#include "lru.h"
#include "base/xmalloc.h"
#include "filter.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static int str_cmp(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* The first index of ids[0..n) whose id is not below x (n if none). */
static size_t lower_bound(char *const *ids, size_t n, const char *x)
{
    size_t a = 0, b = n;
    while (a < b) {
        size_t mid = a + (b - a) / 2;
        if (strcmp(ids[mid], x) < 0)
            a = mid + 1;
        else
            b = mid;
    }
    return a;
}

draw_excl *draw_excl_merge(draw_excl *base, const char *const *add, size_t nadd, int64_t mark)
{
    /* the additions in order, without duplicates (a draw's delta is small: sort a copy), without
     * those already in base, each with its place in base */
    const char **a = xmalloc((nadd + 1) * sizeof *a);
    if (nadd) /* add may be NULL then */
        memcpy(a, add, nadd * sizeof *a);
    qsort(a, nadd, sizeof *a, str_cmp);
    size_t nb = base ? base->n : 0, na = 0, extra = 0;
    size_t *at = xmalloc((nadd + 1) * sizeof *at);
    for (size_t i = 0; i < nadd; i++) {
        if (na > 0 && strcmp(a[na - 1], a[i]) == 0)
            continue;
        size_t p = lower_bound(base ? base->ids : NULL, nb, a[i]);
        if (p < nb && strcmp(base->ids[p], a[i]) == 0)
            continue;
        a[na] = a[i];
        at[na++] = p;
        extra += strlen(a[i]) + 1;
    }
    size_t blob = (base ? base->blob : 0) + extra;

    draw_excl *e = xcalloc(1, sizeof *e);
    atomic_init(&e->refs, 1);
    pthread_mutex_init(&e->mu, NULL);
    e->mark = base && base->mark > mark ? base->mark : mark;
    e->ids = xmalloc((nb + na + 1) * sizeof *e->ids);
    e->added = xmalloc((na + 1) * sizeof *e->added);
    char *block = xmalloc(blob + 1), *w = block;
    /* base's ids lie in its block in order, one after the other: copy them in runs between the
     * additions' places and move their pointers by the run's offset */
    const char *bend = base ? base->ids[nb] + base->blob : NULL; /* slot n: base's block */
    size_t i = 0;
    for (size_t j = 0; j <= na; j++) {
        size_t stop = j < na ? at[j] : nb;
        if (stop > i) {
            const char *from = base->ids[i], *to = stop < nb ? base->ids[stop] : bend;
            memcpy(w, from, (size_t)(to - from));
            for (size_t t = i; t < stop; t++)
                e->ids[e->n++] = w + (base->ids[t] - from);
            w += to - from;
            i = stop;
        }
        if (j < na) {
            size_t len = strlen(a[j]) + 1;
            memcpy(w, a[j], len);
            e->added[e->nadded++] = w;
            e->ids[e->n++] = w;
            w += len;
        }
    }
    free(at);
    free(a);
    e->ids[e->n] = block; /* slot n remembers the block for the free */
    e->blob = (size_t)(w - block);
    e->bytes = sizeof *e + blob + 1 + (nb + na + 1) * sizeof *e->ids;
    if (base) { /* the parent, only if it knows its places (a chain is never longer than one) */
        pthread_mutex_lock(&base->mu);
        if (base->pos) {
            atomic_fetch_add(&base->refs, 1);
            e->parent = base;
        }
        pthread_mutex_unlock(&base->mu);
    }
    return e;
}

/* e's places from its parent's (for the same list) and the added ids'. Under e->mu. */
static size_t positions_from_parent(const draw_excl *e, const draw_excl_pos *pp,
                                    const char *const *ids, size_t n, size_t *xpos)
{
    size_t nx = 0, i = 0;
    for (size_t j = 0; j < e->nadded; j++) {
        size_t p = lower_bound((char *const *)ids, n, e->added[j]);
        if (p == n || strcmp(ids[p], e->added[j]) != 0)
            continue; /* not in the list */
        while (i < pp->nx && pp->xpos[i] < p)
            xpos[nx++] = pp->xpos[i++];
        xpos[nx++] = p;
    }
    while (i < pp->nx)
        xpos[nx++] = pp->xpos[i++];
    return nx;
}

size_t draw_excl_positions(draw_excl *e, const char *const *ids, size_t n, const char *version,
                           size_t *xpos)
{
    if (!*version)
        return draw_filter_positions(ids, n, (const char *const *)e->ids, e->n, xpos);
    pthread_mutex_lock(&e->mu);
    if (!e->pos) {
        size_t cap = e->n < n ? e->n : n;
        draw_excl_pos *p = xmalloc(sizeof *p + (cap + 1) * sizeof *p->xpos);
        const draw_excl_pos *pp = NULL;
        if (e->parent) {
            pthread_mutex_lock(&e->parent->mu); /* child before parent, always */
            pp = e->parent->pos;
            pthread_mutex_unlock(&e->parent->mu); /* set once, freed with the parent */
        }
        if (pp && strcmp(pp->version, version) == 0)
            p->nx = positions_from_parent(e, pp, ids, n, p->xpos);
        else
            p->nx = draw_filter_positions(ids, n, (const char *const *)e->ids, e->n, p->xpos);
        p->version = xstrdup(version);
        e->pos = p;
        draw_excl_release(e->parent);
        e->parent = NULL;
    }
    const draw_excl_pos *p = e->pos;
    size_t nx = 0;
    if (strcmp(p->version, version) == 0) {
        memcpy(xpos, p->xpos, p->nx * sizeof *xpos);
        nx = p->nx;
    }
    pthread_mutex_unlock(&e->mu);
    if (strcmp(p->version, version) != 0) /* kept for another list: computed, not kept */
        nx = draw_filter_positions(ids, n, (const char *const *)e->ids, e->n, xpos);
    return nx;
}

void draw_excl_release(draw_excl *e)
{
    if (!e || atomic_fetch_sub(&e->refs, 1) != 1)
        return;
    free(e->ids[e->n]);
    free(e->ids);
    free(e->added);
    if (e->pos)
        free(e->pos->version);
    free(e->pos);
    draw_excl_release(e->parent);
    pthread_mutex_destroy(&e->mu);
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
