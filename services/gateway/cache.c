/* cache.c — the response cache (cache.h): a chained hash table of entries keyed by string, a
 * least-recently-used list for eviction under the entry and byte budgets, generation counters
 * per room stripe and for listings, and a sweep that frees what expired or went stale. */
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
    struct entry *older, *newer; /* least recently used first, for eviction */
    uint64_t hash, gen;
    unsigned stripe;
    int64_t expires_ns;
    size_t cost; /* what it is charged against max_bytes (gw_cache_entry_cost) */
    gw_cache_body *body;
    char key[];
} entry;

struct gw_cache {
    pthread_mutex_t mu;
    entry **buckets;
    size_t nbuckets, n, max_entries, max_body, bytes, max_bytes;
    int64_t ttl_ns;
    entry *oldest, *newest;              /* least and most recently used */
    uint64_t gens[GW_CACHE_STRIPES + 1]; /* [GW_CACHE_STRIPES]: listings */
    uint64_t hits, misses, evictions, expired;
};

size_t gw_cache_entry_cost(size_t key_len, size_t body_len)
{
    /* the two allocations with their terminators, and malloc's header on each */
    return sizeof(entry) + key_len + 1 + sizeof(gw_cache_body) + body_len + 1 + 2 * 16;
}

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

gw_cache *gw_cache_new(size_t max_entries, size_t max_bytes, size_t max_body, int64_t ttl_ms)
{
    gw_cache *c = xcalloc(1, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    c->max_entries = max_entries ? max_entries : 1;
    c->max_bytes = max_bytes;
    c->max_body = max_body;
    c->ttl_ns = ttl_ms * 1000000;
    c->nbuckets = 64;
    while (c->nbuckets < 2 * c->max_entries)
        c->nbuckets *= 2;
    c->buckets = xcalloc(c->nbuckets, sizeof *c->buckets);
    return c;
}

/* Unlinks e from the recency list. Under the lock. */
static void unlink_lru(gw_cache *c, entry *e)
{
    if (e->older)
        e->older->newer = e->newer;
    else
        c->oldest = e->newer;
    if (e->newer)
        e->newer->older = e->older;
    else
        c->newest = e->older;
}

/* Links e as the most recently used. Under the lock. */
static void link_newest(gw_cache *c, entry *e)
{
    e->newer = NULL;
    e->older = c->newest;
    if (c->newest)
        c->newest->newer = e;
    else
        c->oldest = e;
    c->newest = e;
}

/* Unlinks e from its bucket and the recency list and frees it. Under the lock. */
static void remove_entry(gw_cache *c, entry *e)
{
    entry **p = &c->buckets[e->hash & (c->nbuckets - 1)];
    while (*p != e)
        p = &(*p)->next;
    *p = e->next;
    unlink_lru(c, e);
    c->bytes -= e->cost;
    gw_cache_body_release(e->body);
    free(e);
    c->n--;
}

/* Is e no longer servable: expired, or its room or the listings changed since? */
static bool is_stale(const gw_cache *c, const entry *e, int64_t now_ns)
{
    return e->gen != c->gens[e->stripe] || now_ns >= e->expires_ns;
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
    if (e && (e->stripe != s || is_stale(c, e, now_ns))) {
        remove_entry(c, e); /* stale: invalidated or expired */
        c->expired++;
        e = NULL;
    }
    if (e) {
        unlink_lru(c, e);
        link_newest(c, e);
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
    size_t klen = strlen(key);
    size_t cost = gw_cache_entry_cost(klen, len);
    if (len > c->max_body || cost > c->max_bytes)
        return;
    uint64_t h = fnv1a(key);
    gw_cache_body *b = xmalloc(sizeof *b + len + 1);
    atomic_init(&b->refs, 1);
    b->len = len;
    memcpy(b->data, body, len);
    b->data[len] = '\0';
    entry *e = xmalloc(sizeof *e + klen + 1);
    memcpy(e->key, key, klen + 1);
    e->hash = h;
    e->gen = t->gen;
    e->stripe = t->stripe;
    e->expires_ns = now_ns + c->ttl_ns;
    e->body = b;
    e->cost = cost;
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
    while (c->n >= c->max_entries || c->bytes + cost > c->max_bytes) {
        remove_entry(c, c->oldest); /* the least recently used */
        c->evictions++;
    }
    entry **bucket = &c->buckets[h & (c->nbuckets - 1)];
    e->next = *bucket;
    *bucket = e;
    link_newest(c, e);
    c->n++;
    c->bytes += cost;
    pthread_mutex_unlock(&c->mu);
}

size_t gw_cache_reap(gw_cache *c, int64_t now_ns)
{
    size_t freed = 0;
    pthread_mutex_lock(&c->mu);
    for (entry *e = c->oldest, *next; e; e = next) {
        next = e->newer;
        if (is_stale(c, e, now_ns)) {
            remove_entry(c, e);
            freed++;
        }
    }
    c->expired += freed;
    pthread_mutex_unlock(&c->mu);
    return freed;
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
    gw_cache_stats s = {.hits = c->hits,
                        .misses = c->misses,
                        .entries = c->n,
                        .bytes = c->bytes,
                        .evictions = c->evictions,
                        .expired = c->expired};
    pthread_mutex_unlock(&c->mu);
    return s;
}
