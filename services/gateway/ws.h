/* ws.h — GET /v1/ws, the gateway's WebSocket feed (docs/gateway.md, "WebSocket feed"): the
 * upgrade on the gateway's own HTTP port (the HTTP server hands the socket over: gw_http_upgrade),
 * authentication (subprotocol "bearer.<token>" or a first {"type":"auth"} message, verified by
 * the gateway's verifier incl. its revocation list, re-checked at every ping), subscribe /
 * unsubscribe with visibility checked by rooms.v1.Rooms/GetRoom under the caller's token, the
 * room's events from the feed (feed.h), JSON ping/pong keepalive, a bounded send queue per
 * connection (a client that falls behind is dropped with 4029) and close codes that say why.
 *
 * Threads: everything runs in nng callbacks (fdio.c completes the socket's aios) and never blocks;
 * a connection's own state is guarded by its mutex (lock order: feed → connection).
 * gw_ws_shutdown/free block.
 *
 * Lifetime: gw_ws_new → gw_ws_upgrade per request (HTTP server threads) → gw_ws_shutdown (1001 to
 * every client, waits for them to go) → gw_ws_free. */
#ifndef CONFETTI_GATEWAY_WS_H
#define CONFETTI_GATEWAY_WS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "admin/metrics.h"
#include "authn/authn.h"
#include "feed.h"
#include "http.h"
#include "rpc/client.h"

/* Close codes (sent as {"type":"close","code":…} and as the WebSocket close frame's code). */
#define GW_WS_GOING_AWAY      1001 /* the gateway is shutting down */
#define GW_WS_PROTOCOL_ERROR  1002 /* a frame breaking RFC 6455 (unmasked, reserved bits …) */
#define GW_WS_TRY_AGAIN       1013 /* the events a resume needs could not be fetched now */
#define GW_WS_UNAUTHENTICATED 4001
#define GW_WS_POLICY          4008 /* malformed message, binary frame, no pong */
#define GW_WS_TOO_BIG         4009
#define GW_WS_RESUME_TOO_OLD  4010
#define GW_WS_TOO_SLOW        4029

/* Counters for /metrics; owned by the caller (process lifetime: metrics render them). */
typedef struct gw_ws_stats {
    atomic_long open;         /* connections open now */
    atomic_long accepted;     /* upgrades accepted */
    atomic_long sent;         /* messages (text frames) written to clients */
    atomic_long dropped_slow; /* clients closed with 4029 */
} gw_ws_stats;

/* Registers confetti_ws_connections, confetti_ws_messages_sent_total and
 * confetti_ws_dropped_slow_total on m (start-up only). */
void gw_ws_stats_register(metrics *m, gw_ws_stats *st);

typedef struct gw_ws_config {
    int64_t ping_ms;          /* ws.ping_interval */
    int64_t auth_ms;          /* ws.auth_timeout */
    size_t send_queue;        /* ws.send_queue: messages queued per connection before 4029 */
    size_t max_conns;         /* ws.max_connections: upgrades above answer 503 */
    size_t max_message;       /* ws.max_message: largest client message (4009 above) */
    authn_verifier *verifier; /* borrowed; NULL: every token is refused */
    rpc_client *rooms;        /* borrowed; NULL: subscribe answers UNAVAILABLE */
    gw_feed *feed;            /* borrowed; NULL: subscribe answers UNAVAILABLE */
    gw_ws_stats *stats;       /* borrowed; NULL: counted internally */
} gw_ws_config;

typedef struct gw_ws gw_ws;

gw_ws *gw_ws_new(const gw_ws_config *cfg);

/* Handles GET /v1/ws. Returns 0 when the connection was taken over (r is consumed: answered with
 * 101, or closed); otherwise an HTTP status to answer with and *why (r untouched). Never
 * blocks. */
int gw_ws_upgrade(gw_ws *w, gw_http_req *r, const char **why);

/* Queues f (a reference is taken) on every authenticated connection of user, whatever it is
 * subscribed to: the notices meant for one person (notice.h). A connection whose send queue is
 * full is closed with 4029, as for room events. Returns how many connections took it. Never
 * blocks on the network; not from a connection's own callbacks with its lock held. */
size_t gw_ws_notify_user(gw_ws *w, const char *user, gw_frame *f);

/* Refuses new upgrades, sends every client {"type":"close","code":1001} and a close frame, and
 * waits (at most timeout_ms) until every connection is gone. Blocks; not from a callback. */
void gw_ws_shutdown(gw_ws *w, int64_t timeout_ms);
/* Shuts down (if not yet) and frees. NULL is a no-op. */
void gw_ws_free(gw_ws *w);

#endif
