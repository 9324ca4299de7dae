/* eligible.c — see eligible.h. */
#include "eligible.h"
#include "lru.h"
#include "base/xmalloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct draw_list_builder {
    char *buf; /* "pid\0uid\0" for each participant, in arrival order */
    size_t len, cap;
    size_t *off; /* where each participant starts in buf */
    size_t n, ncap;
    bool sorted; /* strictly ascending so far */
};

draw_list_builder *draw_list_builder_new(void)
{
    draw_list_builder *b = xcalloc(1, sizeof *b);
    b->cap = 1 << 16;
    b->buf = xmalloc(b->cap);
    b->ncap = 1024;
    b->off = xmalloc(b->ncap * sizeof *b->off);
    b->sorted = true;
    return b;
}

void draw_list_builder_add(draw_list_builder *b, const char *pid, const char *uid)
{
    size_t lp = strlen(pid) + 1, lu = strlen(uid) + 1;
    if (b->len + lp + lu > b->cap) {
        while (b->len + lp + lu > b->cap)
            b->cap *= 2;
        b->buf = xrealloc(b->buf, b->cap);
    }
    if (b->n == b->ncap) {
        b->ncap *= 2;
        b->off = xrealloc(b->off, b->ncap * sizeof *b->off);
    }
    if (b->n > 0 && strcmp(b->buf + b->off[b->n - 1], pid) >= 0)
        b->sorted = false;
    b->off[b->n++] = b->len;
    memcpy(b->buf + b->len, pid, lp);
    memcpy(b->buf + b->len + lp, uid, lu);
    b->len += lp + lu;
}

size_t draw_list_builder_count(const draw_list_builder *b)
{
    return b->n;
}

void draw_list_builder_free(draw_list_builder *b)
{
    if (!b)
        return;
    free(b->buf);
    free(b->off);
    free(b);
}

static _Thread_local const char *sort_buf; /* qsort has no context argument */

static int off_cmp(const void *x, const void *y)
{
    return strcmp(sort_buf + *(const size_t *)x, sort_buf + *(const size_t *)y);
}

draw_list *draw_list_builder_finish(draw_list_builder *b, const char *version)
{
    size_t n = b->n;
    if (!b->sorted) {
        /* the list's order is part of the audit record: make it canonical (bytewise, unique) */
        sort_buf = b->buf;
        qsort(b->off, n, sizeof *b->off, off_cmp);
        size_t w = 0;
        for (size_t i = 0; i < n; i++)
            if (w == 0 || strcmp(b->buf + b->off[w - 1], b->buf + b->off[i]) != 0)
                b->off[w++] = b->off[i];
        n = w;
    }
    draw_list *l = xcalloc(1, sizeof *l);
    atomic_init(&l->refs, 1);
    l->version = xstrdup(version ? version : "");
    l->n = n;
    l->pids = xmalloc((n + 1) * sizeof *l->pids);
    l->uids = xmalloc((n + 1) * sizeof *l->uids);
    /* the block is kept as built; the pointer arrays address it */
    char *blob = b->buf;
    for (size_t i = 0; i < n; i++) {
        l->pids[i] = blob + b->off[i];
        l->uids[i] = l->pids[i] + strlen(l->pids[i]) + 1;
    }
    l->pids[n] = l->uids[n] = blob; /* slot n remembers the block for the free */
    /* the digest's form of the list, so that a draw hashes runs of it (filter.h) */
    l->line_off = xmalloc((n + 1) * sizeof *l->line_off);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        l->line_off[i] = total;
        total += strlen(l->pids[i]) + 1;
    }
    l->line_off[n] = total;
    l->lines = xmalloc(total ? total : 1);
    for (size_t i = 0; i < n; i++) {
        size_t len = l->line_off[i + 1] - l->line_off[i] - 1;
        memcpy(l->lines + l->line_off[i], l->pids[i], len);
        l->lines[l->line_off[i] + len] = '\n';
    }
    l->bytes =
        sizeof *l + b->cap + 2 * (n + 1) * sizeof(char *) + total + (n + 1) * sizeof *l->line_off;
    free(b->off);
    free(b);
    return l;
}

void draw_list_release(draw_list *l)
{
    if (!l || atomic_fetch_sub(&l->refs, 1) != 1)
        return;
    free(l->pids[l->n]);
    free(l->lines);
    free(l->line_off);
    free(l->pids);
    free(l->uids);
    free(l->version);
    free(l);
}

/* --- the cache: the shared LRU table (lru.h), rooms as keys, checked against the stamp --- */

struct draw_cache {
    draw_lru *lru;
};

static void list_retain(void *v)
{
    atomic_fetch_add(&((draw_list *)v)->refs, 1);
}

static void list_release(void *v)
{
    draw_list_release(v);
}

draw_cache *draw_cache_new(size_t max_ids)
{
    draw_cache *c = xcalloc(1, sizeof *c);
    c->lru = draw_lru_new(max_ids, (draw_lru_ops){.retain = list_retain, .release = list_release});
    return c;
}

void draw_cache_free(draw_cache *c)
{
    if (!c)
        return;
    draw_lru_free(c->lru);
    free(c);
}

static bool same_version(const void *list, const void *version)
{
    return strcmp(((const draw_list *)list)->version, version) == 0;
}

draw_list *draw_cache_get(draw_cache *c, const char *room_id, const char *version)
{
    return *version ? draw_lru_get(c->lru, room_id, same_version, version) : NULL;
}

void draw_cache_put(draw_cache *c, const char *room_id, draw_list *l)
{
    if (*l->version)
        draw_lru_put(c->lru, room_id, l, l->n, NULL);
}
