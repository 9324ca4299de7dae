/* cache.h — the gateway's response cache for two read routes whose answers many callers share:
 * the anonymous room listing (GET /v1/rooms) and a public room (GET /v1/rooms/{roomId}). It
 * holds finished JSON bodies and is kept exact by the rooms events the gateway already follows
 * for the WebSocket feed (feed.h): a room's change invalidates that room's entries, a change to
 * any room (not to its members) invalidates every listing. docs/gateway.md, "Response cache",
 * has the design, its staleness bound and the numbers.
 *
 * Invalidation is by generation, never by search: entries of one room share a stripe (a hash of
 * the room id picks one of GW_CACHE_STRIPES counters), listings share one counter. An entry
 * records its counter's value when the request MISSED (the ticket), not when the answer came
 * back: an invalidation that lands while the RPC is in flight makes the answer stale on
 * arrival, so it is never served. Entries also expire after ttl (the bound when events stop).
 *
 * Memory (issue 24 item 1): at most max_entries entries and max_bytes bytes as charged by
 * gw_cache_entry_cost (key, body, bookkeeping); a store past either evicts the least recently
 * used entries first. gw_cache_reap frees what expired or was invalidated without waiting for
 * its key to be asked again (the gateway's monitor calls it every health interval). Keys are
 * the caller's: the gateway makes them canonical (gateway.c, cache_key) so that one answer is
 * held once however its request was spelled.
 *
 * Threads: every function may be called from any thread (one mutex; nothing blocks). */
#ifndef CONFETTI_GATEWAY_CACHE_H
#define CONFETTI_GATEWAY_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GW_CACHE_STRIPES 4096

typedef struct gw_cache gw_cache;

/* A cached body: immutable, shared by reference. */
typedef struct gw_cache_body gw_cache_body;
const char *gw_cache_body_data(const gw_cache_body *b);
size_t gw_cache_body_len(const gw_cache_body *b);
void gw_cache_body_release(gw_cache_body *b);

/* What a miss hands to the store of its answer. */
typedef struct gw_cache_ticket {
    uint64_t gen;    /* the class's generation when the request missed */
    unsigned stripe; /* the room's stripe; GW_CACHE_STRIPES for listings */
} gw_cache_ticket;

/* max_entries > 0 entries, max_bytes in all (gw_cache_entry_cost each), bodies of at most
 * max_body bytes, each kept at most ttl_ms. */
gw_cache *gw_cache_new(size_t max_entries, size_t max_bytes, size_t max_body, int64_t ttl_ms);
/* What one entry is charged against max_bytes: key and body, their terminators, the entry's and
 * the body's headers and the allocator's. */
size_t gw_cache_entry_cost(size_t key_len, size_t body_len);
/* NULL is a no-op. Bodies still referenced stay valid until released. */
void gw_cache_free(gw_cache *c);

/* Looks key up: room_id names the room the entry depends on (a GET of that room), NULL for a
 * listing (depends on every room). A hit returns a new reference; a miss returns NULL and fills
 * *t for gw_cache_put. now_ns is the monotonic clock. */
gw_cache_body *gw_cache_get(gw_cache *c, const char *key, const char *room_id, int64_t now_ns,
                            gw_cache_ticket *t);
/* Stores the answer of a missed request under its ticket (replacing an older entry of the same
 * key). A body larger than max_body (or an entry larger than max_bytes) is not stored. When
 * the entries or the bytes would pass their budget, the least recently used entries go. */
void gw_cache_put(gw_cache *c, const char *key, const gw_cache_ticket *t, const char *body,
                  size_t len, int64_t now_ns);
/* Frees every entry that expired by now_ns or was invalidated; returns how many. */
size_t gw_cache_reap(gw_cache *c, int64_t now_ns);

/* A room changed: its entries are stale. */
void gw_cache_invalidate_room(gw_cache *c, const char *room_id);
/* Some room's listed fields changed: every listing is stale. */
void gw_cache_invalidate_listings(gw_cache *c);

/* Counters for /metrics. */
typedef struct gw_cache_stats {
    uint64_t hits, misses;   /* lookups */
    uint64_t entries, bytes; /* held now (bytes as charged against max_bytes) */
    uint64_t evictions;      /* entries dropped for the entry or byte budget */
    uint64_t expired;        /* entries freed expired or invalidated (lookup or sweep) */
} gw_cache_stats;
gw_cache_stats gw_cache_stats_get(gw_cache *c);

#endif
