/* cache.c — the response cache (cache.h): a chained hash table of entries keyed by string, a
 * FIFO list for eviction, generation counters per room stripe and for listings. */
#include "cache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/xmalloc.h"

struct gw_cache_body {
    atomic_int refs;
    size_t len;
    char data[];
};

typedef struct entry {
    struct entry *next;          /* in its bucket */
    struct entry *older, *newer; /* FIFO, for eviction */
    uint64_t hash, gen;
    unsigned stripe;
    int64_t expires_ns;
    gw_cache_body *body;
    char key[];
} entry;

struct gw_cache {
    pthread_mutex_t mu;
    entry **buckets;
    size_t nbuckets, n, max_entries, max_body;
    int64_t ttl_ns;
    entry *oldest, *newest;
    uint64_t gens[GW_CACHE_STRIPES + 1]; /* [GW_CACHE_STRIPES]: listings */
    uint64_t hits, misses;
};

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 14695981039346656037ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static unsigned stripe_of(const char *room_id)
{
    return room_id ? (unsigned)(fnv1a(room_id) % GW_CACHE_STRIPES) : GW_CACHE_STRIPES;
}

const char *gw_cache_body_data(const gw_cache_body *b)
{
    return b->data;
}

size_t gw_cache_body_len(const gw_cache_body *b)
{
    return b->len;
}

void gw_cache_body_release(gw_cache_body *b)
{
    if (b && atomic_fetch_sub(&b->refs, 1) == 1)
        free(b);
}

gw_cache *gw_cache_new(size_t max_entries, size_t max_body, int64_t ttl_ms)
{
    gw_cache *c = xcalloc(1, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    c->max_entries = max_entries ? max_entries : 1;
    c->max_body = max_body;
    c->ttl_ns = ttl_ms * 1000000;
    c->nbuckets = 64;
    while (c->nbuckets < 2 * c->max_entries)
        c->nbuckets *= 2;
    c->buckets = xcalloc(c->nbuckets, sizeof *c->buckets);
    return c;
}

/* Unlinks e from its bucket and the FIFO and frees it. Under the lock. */
static void remove_entry(gw_cache *c, entry *e)
{
    entry **p = &c->buckets[e->hash & (c->nbuckets - 1)];
    while (*p != e)
        p = &(*p)->next;
    *p = e->next;
    if (e->older)
        e->older->newer = e->newer;
    else
        c->oldest = e->newer;
    if (e->newer)
        e->newer->older = e->older;
    else
        c->newest = e->older;
    gw_cache_body_release(e->body);
    free(e);
    c->n--;
}

static entry *find(gw_cache *c, const char *key, uint64_t h)
{
    for (entry *e = c->buckets[h & (c->nbuckets - 1)]; e; e = e->next)
        if (e->hash == h && strcmp(e->key, key) == 0)
            return e;
    return NULL;
}

void gw_cache_free(gw_cache *c)
{
    if (!c)
        return;
    while (c->oldest)
        remove_entry(c, c->oldest);
    free(c->buckets);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

gw_cache_body *gw_cache_get(gw_cache *c, const char *key, const char *room_id, int64_t now_ns,
                            gw_cache_ticket *t)
{
    uint64_t h = fnv1a(key);
    unsigned s = stripe_of(room_id);
    gw_cache_body *b = NULL;
    pthread_mutex_lock(&c->mu);
    entry *e = find(c, key, h);
    if (e && (e->gen != c->gens[e->stripe] || e->stripe != s || now_ns >= e->expires_ns)) {
        remove_entry(c, e); /* stale: invalidated or expired */
        e = NULL;
    }
    if (e) {
        b = e->body;
        atomic_fetch_add(&b->refs, 1);
        c->hits++;
    } else {
        t->gen = c->gens[s];
        t->stripe = s;
        c->misses++;
    }
    pthread_mutex_unlock(&c->mu);
    return b;
}

void gw_cache_put(gw_cache *c, const char *key, const gw_cache_ticket *t, const char *body,
                  size_t len, int64_t now_ns)
{
    if (len > c->max_body)
        return;
    uint64_t h = fnv1a(key);
    gw_cache_body *b = xmalloc(sizeof *b + len + 1);
    atomic_init(&b->refs, 1);
    b->len = len;
    memcpy(b->data, body, len);
    b->data[len] = '\0';
    size_t klen = strlen(key);
    entry *e = xmalloc(sizeof *e + klen + 1);
    memcpy(e->key, key, klen + 1);
    e->hash = h;
    e->gen = t->gen;
    e->stripe = t->stripe;
    e->expires_ns = now_ns + c->ttl_ns;
    e->body = b;
    pthread_mutex_lock(&c->mu);
    if (t->gen != c->gens[t->stripe]) { /* invalidated while the answer was on its way */
        pthread_mutex_unlock(&c->mu);
        gw_cache_body_release(b);
        free(e);
        return;
    }
    entry *old = find(c, key, h);
    if (old)
        remove_entry(c, old);
    while (c->n >= c->max_entries)
        remove_entry(c, c->oldest);
    entry **bucket = &c->buckets[h & (c->nbuckets - 1)];
    e->next = *bucket;
    *bucket = e;
    e->newer = NULL;
    e->older = c->newest;
    if (c->newest)
        c->newest->newer = e;
    else
        c->oldest = e;
    c->newest = e;
    c->n++;
    pthread_mutex_unlock(&c->mu);
}

void gw_cache_invalidate_room(gw_cache *c, const char *room_id)
{
    unsigned s = stripe_of(room_id);
    pthread_mutex_lock(&c->mu);
    c->gens[s]++;
    pthread_mutex_unlock(&c->mu);
}

void gw_cache_invalidate_listings(gw_cache *c)
{
    pthread_mutex_lock(&c->mu);
    c->gens[GW_CACHE_STRIPES]++;
    pthread_mutex_unlock(&c->mu);
}

gw_cache_stats gw_cache_stats_get(gw_cache *c)
{
    pthread_mutex_lock(&c->mu);
    gw_cache_stats s = {.hits = c->hits, .misses = c->misses, .entries = c->n};
    pthread_mutex_unlock(&c->mu);
    return s;
}
