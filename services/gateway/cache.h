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

/* max_entries > 0 entries of at most max_body bytes each, each kept at most ttl_ms. */
gw_cache *gw_cache_new(size_t max_entries, size_t max_body, int64_t ttl_ms);
/* NULL is a no-op. Bodies still referenced stay valid until released. */
void gw_cache_free(gw_cache *c);

/* Looks key up: room_id names the room the entry depends on (a GET of that room), NULL for a
 * listing (depends on every room). A hit returns a new reference; a miss returns NULL and fills
 * *t for gw_cache_put. now_ns is the monotonic clock. */
gw_cache_body *gw_cache_get(gw_cache *c, const char *key, const char *room_id, int64_t now_ns,
                            gw_cache_ticket *t);
/* Stores the answer of a missed request under its ticket (replacing an older entry of the same
 * key). A body larger than max_body is not stored. When full, the oldest entry goes. */
void gw_cache_put(gw_cache *c, const char *key, const gw_cache_ticket *t, const char *body,
                  size_t len, int64_t now_ns);

/* A room changed: its entries are stale. */
void gw_cache_invalidate_room(gw_cache *c, const char *room_id);
/* Some room's listed fields changed: every listing is stale. */
void gw_cache_invalidate_listings(gw_cache *c);

/* Counters for /metrics. */
typedef struct gw_cache_stats {
    uint64_t hits, misses, entries;
} gw_cache_stats;
gw_cache_stats gw_cache_stats_get(gw_cache *c);

#endif
