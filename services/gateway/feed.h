/* feed.h — the gateway's live event hub for the WebSocket feed (docs/gateway.md, "WebSocket
 * feed"). It follows the "rooms" and "draw" events through the bus with the common subscriber
 * (each event once, in seq order per source, gaps filled from Replay), encodes each event that
 * concerns a room once as a WebSocket text frame {"type":"event","event":{…proto3 JSON…}},
 * keeps the last `ring` of them per source, and fans each out to that room's subscribers.
 *
 * Resume: a subscription may name, per source, the last seq its client saw. Missed events of
 * the room are sent first — from the ring when it still holds them, else from the source's
 * events.v1.Events/Replay (asynchronously) and then the ring — followed by
 * {"type":"subscribed",…,"positions":{…}}, then live events; all under the hub's lock at the
 * switch, so none is sent twice and none is missing.
 *
 * History keeps its privacy: an event reaches a reader only if the reader could see the room
 * when it happened. Each subscription carries the moment from which its reader has seen the
 * room without a break (rooms' Room.visible_since for that reader, refreshed by every
 * re-check); every event older than that is left out, whichever path would send it (Replay,
 * the ring, live, the held queue). docs/gateway.md, "History keeps its privacy".
 *
 * Access re-checks: a subscription was allowed when made, but the right to see a room can go
 * (SPEC §3: a member leaves or is removed from a private room, a room is made private, a room
 * is deleted). When the feed sees participant.left or participant.role_changed of a
 * subscription's user, it delivers that event (it tells that user nothing new), then holds the
 * room's later events for that subscription; a room.updated leaving the room private is held
 * itself (it carries the room's name after the change) and asks rooms.v1.Rooms/GetRoom with the
 * connection's token (asynchronously); allowed → the held events go out in order, refused (or
 * no answer) → the held events are dropped and the subscription ends (sink.ended). room.deleted
 * ends every subscription of the room at once. A subscribe races with such a change through a
 * per-room stamp (gw_feed_stamp, read before the caller's own GetRoom): if it moved, the new
 * subscription starts held and re-checked. docs/gateway.md, "WebSocket feed".
 *
 * Threads: the consumer runs on the subscriber's thread; subscribe/unsubscribe on nng threads;
 * Replay and GetRoom completions on nng threads. Nothing here blocks except
 * gw_feed_start/stop. */
#ifndef CONFETTI_GATEWAY_FEED_H
#define CONFETTI_GATEWAY_FEED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/status.h"
#include "cfg/cfg.h"
#include "events/v1/events.pb-c.h"
#include "rpc/client.h"
#include "wsframe.h"
#include "rpc/ident.h"

/* The sources the feed follows, in this order everywhere (resume arrays, positions). */
#define GW_FEED_NSRC 2
extern const char *const gw_feed_sources[GW_FEED_NSRC]; /* "rooms", "draw" */

typedef struct gw_feed gw_feed;
typedef struct gw_feed_sub gw_feed_sub;

/* What the feed calls on a subscriber. Both run with the feed's lock held (from any thread):
 * they must not block and must not call into the feed. */
typedef struct gw_feed_sink {
    /* Queue frame f (borrowed: take a reference to keep it). */
    void (*send)(void *owner, gw_frame *f);
    /* The subscription cannot be served: CF_OUT_OF_RANGE (the resume positions are past the
     * source's retention) or CF_UNAVAILABLE (Replay failed). It stays allocated, inert, until
     * the owner calls gw_feed_unsubscribe. */
    void (*fail)(void *owner, cf_code code, const char *message);
    /* The subscription was ended by the feed: access re-checked and refused, or the room
     * deleted (reason says which). No frame of the room follows. The handle stays allocated,
     * inert (gw_feed_ended is true), until the owner calls gw_feed_unsubscribe. */
    void (*ended)(void *owner, const char *room_id, const char *reason);
    /* "Bearer <token>" of the subscription's connection now (malloc'd, the feed frees), or
     * NULL; for the GetRoom of a re-check. */
    char *(*authz)(void *owner);
    void *owner;
} gw_feed_sink;

typedef struct gw_feed_config {
    const char *bus;                              /* the bus's subscriber URL */
    const cfg_strlist *replay_urls[GW_FEED_NSRC]; /* each source's RPC endpoints */
    rpc_client *replay[GW_FEED_NSRC]; /* borrowed: async Replay for resumes; replay[0] (rooms)
                                       * also answers the re-checks' GetRoom */
    size_t ring;                      /* events kept per source (>= 1) */
    size_t ring_bytes;                /* and their frames' bytes per source at most (0 = no cap) */
    int64_t check_ms;  /* an access re-check's deadline (GetRoom; 0 = 5 s): ws.recheck_timeout */
    size_t resume_max; /* events one resume may replay (0 = no cap): past it the subscription
                        * fails CF_OUT_OF_RANGE before more is fetched (the gateway passes
                        * ws.send_queue: a longer resume could not be queued anyway) */
    /* Called once for every new event of a followed source, in seq order per source, on the
     * bus thread, without the feed's lock (the response cache's invalidation); may be NULL.
     * Must not block. */
    void (*on_event)(void *arg, const Events__V1__Event *ev);
    void *on_event_arg;
    rpc_ident *ident; /* borrowed: live events need their source's signature */
} gw_feed_config;

/* Learns each source's current position (a Replay call each, blocking: start-up only; a source
 * that does not answer is followed from its oldest kept event) and starts following. */
cf_code gw_feed_start(const gw_feed_config *cfg, gw_feed **out, char *err, size_t errlen);
/* Stops following, waits (at most ~6 s) for the Replays and re-checks of removed subscriptions
 * still in flight, and frees. Every subscription must have been removed. NULL is a no-op. */
void gw_feed_stop(gw_feed *f);

/* The room's access stamp: read it before checking a subscriber's access, pass it to
 * gw_feed_subscribe. It moves with every event that may take a right to see the room away. */
uint64_t gw_feed_stamp(gw_feed *f, const char *room_id);

/* The history bound of a reader (docs/gateway.md, "History keeps its privacy"), from the
 * rooms.v1.Room its GetRoom answered (a ProtobufCMessage *): its visible_since in epoch µs;
 * without one, INT64_MIN (no bound) for a platform admin, else the current time (no history:
 * fail closed, e.g. a rooms service that predates the field). */
int64_t gw_feed_visible_since(const void *room, bool admin);

/* Subscribes sink to room_id's events for user_id (whose access was checked when `stamp` was
 * read, and who could see the room from `since_us` on: no event older than that — by its
 * time — reaches it, replayed, from the ring or live). resume[i] is the last seq of
 * gw_feed_sources[i] the client has, or -1 for "live from now". Replayed events and the
 * "subscribed" message may be sent through the sink before this returns. Returns the handle
 * for gw_feed_unsubscribe. */
gw_feed_sub *gw_feed_subscribe(gw_feed *f, const char *room_id, const char *user_id, uint64_t stamp,
                               int64_t since_us, const int64_t resume[GW_FEED_NSRC],
                               const gw_feed_sink *sink);
/* Has the feed ended s (sink.ended was called)? */
bool gw_feed_ended(gw_feed *f, gw_feed_sub *s);
/* Ends the subscription: after this returns the feed never calls its sink again. */
void gw_feed_unsubscribe(gw_feed *f, gw_feed_sub *s);

/* Bytes of the frames the rings hold now, all sources (for /metrics). */
size_t gw_feed_ring_bytes(gw_feed *f);

/* The last seq of source i the feed has handed out (for tests and the bench). */
int64_t gw_feed_position(gw_feed *f, size_t i);

#endif
