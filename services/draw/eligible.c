/* eligible.c — see eligible.h. */
#include "eligible.h"
#include "base/xmalloc.h"

#include <pthread.h>
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
    l->bytes = sizeof *l + b->cap + 2 * (n + 1) * sizeof(char *);
    free(b->off);
    free(b);
    return l;
}

void draw_list_release(draw_list *l)
{
    if (!l || atomic_fetch_sub(&l->refs, 1) != 1)
        return;
    free(l->pids[l->n]);
    free(l->pids);
    free(l->uids);
    free(l->version);
    free(l);
}

/* --- the cache: a small table of rooms, least recently used evicted first --- */

enum { CACHE_ROOMS = 256 };

typedef struct slot {
    char *room_id; /* NULL = free */
    draw_list *list;
    uint64_t used;
} slot;

struct draw_cache {
    pthread_mutex_t mu;
    size_t max_ids, ids;
    uint64_t tick;
    slot slots[CACHE_ROOMS];
};

draw_cache *draw_cache_new(size_t max_ids)
{
    draw_cache *c = xcalloc(1, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    c->max_ids = max_ids;
    return c;
}

static void slot_clear(draw_cache *c, slot *s)
{
    c->ids -= s->list->n;
    draw_list_release(s->list);
    free(s->room_id);
    *s = (slot){0};
}

void draw_cache_free(draw_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < CACHE_ROOMS; i++)
        if (c->slots[i].room_id)
            slot_clear(c, &c->slots[i]);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static slot *find(draw_cache *c, const char *room_id)
{
    for (size_t i = 0; i < CACHE_ROOMS; i++)
        if (c->slots[i].room_id && strcmp(c->slots[i].room_id, room_id) == 0)
            return &c->slots[i];
    return NULL;
}

draw_list *draw_cache_get(draw_cache *c, const char *room_id, const char *version)
{
    if (!*version)
        return NULL;
    draw_list *l = NULL;
    pthread_mutex_lock(&c->mu);
    slot *s = find(c, room_id);
    if (s && strcmp(s->list->version, version) == 0) {
        l = s->list;
        atomic_fetch_add(&l->refs, 1);
        s->used = ++c->tick;
    }
    pthread_mutex_unlock(&c->mu);
    return l;
}

void draw_cache_put(draw_cache *c, const char *room_id, draw_list *l)
{
    if (!*l->version || l->n > c->max_ids)
        return;
    pthread_mutex_lock(&c->mu);
    slot *s = find(c, room_id);
    if (s)
        slot_clear(c, s);
    /* evict the least recently used until the list fits and a slot is free */
    for (;;) {
        slot *lru = NULL, *free_slot = NULL;
        for (size_t i = 0; i < CACHE_ROOMS; i++) {
            slot *t = &c->slots[i];
            if (!t->room_id)
                free_slot = free_slot ? free_slot : t;
            else if (!lru || t->used < lru->used)
                lru = t;
        }
        if (free_slot && c->ids + l->n <= c->max_ids) {
            s = free_slot;
            break;
        }
        slot_clear(c, lru); /* lru exists: the table is full or holds ids */
    }
    atomic_fetch_add(&l->refs, 1);
    *s = (slot){.room_id = xstrdup(room_id), .list = l, .used = ++c->tick};
    c->ids += l->n;
    pthread_mutex_unlock(&c->mu);
}
