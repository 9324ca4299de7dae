/* http.h — the gateway's public HTTP edge: a thin wrapper over libmicrohttpd (docs/gateway.md,
 * "The HTTP edge"; docs/decisions.md says why MHD). One handler for every request and method;
 * the request body read by us so that an oversized one gets the gateway's own 413 (and is read
 * up to http.max_drain so that the client sees it); responses finished from any thread (an RPC
 * completion) through MHD's suspend/resume, never blocking one; the WebSocket upgrade hands the
 * socket over (gw_http_upgrade). The edge's own checks that MHD does not do (RFC 9112 framing,
 * the header deadline, the connection cap's answer) live here too: see gw_http_config.
 *
 * Keep-alive: HTTP/1.1 persistent unless "Connection: close"; HTTP/1.0 closes. Every 4xx and
 * every refusal by the edge closes, so nothing pipelined behind them is answered.
 *
 * Lifetime: gw_http_start → handler calls (MHD threads) → gw_http_stop. */
#ifndef CONFETTI_GATEWAY_HTTP_H
#define CONFETTI_GATEWAY_HTTP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/status.h"

typedef struct gw_http gw_http;

#define GW_HTTP_ADDR_MAX 64 /* an IPv6 address in text, NUL included */

/* One request being handled. Fields are read-only for the handler. */
typedef struct gw_http_req {
    gw_http *server;
    const char *method;
    const char *uri; /* raw request target: path and query, still percent-encoded */
    char *body;      /* NUL-terminated (owned; NULL when there is none) */
    size_t body_len;
    /* Non-zero when the wrapper already knows the answer: 400 (bad framing, edgeparse.h), 408
     * (body not received in time), 413 (body over the limit), 414 (request target too long),
     * 429 (over the per-peer connection cap), 431 (header fields too large), 501 (a transfer
     * coding), 503 (over the connection cap), 505 (HTTP version). For a request the edge refused
     * on its raw bytes, method and uri are "-" (MHD parsed a stand-in, rawguard.h). The handler
     * still answers (with close), so the response carries the gateway's error shape; early_why
     * says what was wrong. */
    int early_status;
    const char *early_why;
    int64_t start_ns;
    char peer[GW_HTTP_ADDR_MAX]; /* the TCP peer's address ("127.0.0.1", "::1"); "" if unknown */
    void *user;                  /* the handler's per-request state */
} gw_http_req;

/* Called once per request, on an MHD thread: must not block; must eventually call
 * gw_http_respond or gw_http_upgrade exactly once (from any thread). */
typedef void (*gw_http_fn)(gw_http_req *r, void *arg);

/* Counters for /metrics; owned by the caller (process lifetime: metrics render them). */
typedef struct gw_http_stats {
    atomic_long open;            /* connections open now (upgraded WebSocket ones included) */
    atomic_long refused_cap;     /* connections answered 503: over http.max_connections */
    atomic_long refused_peer;    /* answered 429: over http.max_connections_per_peer */
    atomic_long refused_framing; /* connections whose bytes the edge refused (edgeparse.h) */
    atomic_long pool_released;   /* upgraded connections whose MHD pool was given back */
    atomic_long pool_kept;       /* upgraded connections that keep it (key off, or not checked) */
} gw_http_stats;

/* Registers on m (start-up only): confetti_http_connections (open now),
 * confetti_http_refused_connection_cap_total, confetti_http_refused_peer_cap_total,
 * confetti_http_refused_framing_total, confetti_http_upgrade_pool_released_total,
 * confetti_http_upgrade_pool_kept_total (counters rendered as gauges, like the WebSocket ones). */
struct metrics;
void gw_http_stats_register(struct metrics *m, gw_http_stats *st);

typedef struct gw_http_config {
    const char *url; /* "http://127.0.0.1:8080" (port 0 = any free port) */
    size_t max_body;
    size_t max_drain;    /* a refused body up to this size is read and dropped, so the client reads
                            the 413; above it the answer goes out at once and the socket closes */
    size_t max_uri;      /* request target (414 above) */
    size_t max_header;   /* request line + header fields (431 above) */
    int body_timeout_ms; /* receiving a request body (408) */
    int header_timeout_ms;     /* the rest of a request head once its request line came (408) */
    int idle_timeout_ms;       /* no request line: a new or keep-alive connection (408) */
    unsigned max_conns;        /* open connections (a clear 503 and close above) */
    unsigned max_conns_peer;   /* open connections per peer address (0 = no cap; 429 and close) */
    unsigned threads;          /* MHD worker threads (epoll each) */
    bool release_upgrade_pool; /* an upgraded connection gives its MHD memory pool back (mhdpool.h)
                                */
    gw_http_fn fn;
    void *arg;
    gw_http_stats *stats; /* borrowed; NULL: counted internally */
} gw_http_config;

/* Binds and serves. On failure err says why (CF_UNAVAILABLE: cannot bind; CF_INVALID_ARGUMENT:
 * bad URL). */
cf_code gw_http_start(const gw_http_config *cfg, gw_http **out, char *err, size_t errlen);
int gw_http_port(gw_http *h);
/* Stops listening and closes every connection (drain first). Blocks. */
void gw_http_stop(gw_http *h);

/* The graceful drain, in three steps (gateway.c's gw_drain runs them; docs/operations.md,
 * "Shutdown of the gateway"):
 *   gw_http_close_after_answer: from now on every answer carries "Connection: close", so a
 *     keep-alive client's next request is answered and its connection then closes (the client
 *     opens a new one, which its balancer sends to a gateway still serving);
 *   gw_http_quiesce: the listening socket stops taking connections: a new connect is refused at
 *     once (never left in a backlog nobody accepts from); open connections go on;
 *   gw_http_busy: how many connections are within a request (its first byte read, its answer
 *     not yet sent) or new (accepted less than http.header_timeout ago, no request begun yet:
 *     its first request may already be in the socket) or idle with bytes waiting in its socket:
 *     the drain waits for 0, so nothing whose bytes arrived is cut by the stop.
 * Any thread; none blocks. */
/*   gw_http_close_gate: the last step before gw_http_stop: a request that begins on a kept-alive
 *     connection after the drain found nothing busy is answered 503 "shutting down" at once
 *     (a balancer sends it to another gateway) instead of reaching the application, so nothing
 *     is left suspended at the stop (libmicrohttpd panics on that); wait for gw_http_busy == 0
 *     once more after it. */
void gw_http_close_gate(gw_http *h);
void gw_http_close_after_answer(gw_http *h);
void gw_http_quiesce(gw_http *h);
size_t gw_http_busy(gw_http *h);

/* A request header (case-insensitive name) or NULL. Valid until r is answered. */
const char *gw_http_header(const gw_http_req *r, const char *name);

/* Every field named name (case-insensitive), joined with ", " in the order received (a list
 * header sent on several lines, RFC 9110 §5.3), or NULL. The caller frees. */
char *gw_http_header_all(const gw_http_req *r, const char *name);

/* Answers r: status, headers as NULL-terminated name/value pairs, body (copied). close adds
 * "Connection: close" (every 4xx and edge refusal closes anyway). r must not be used after. Any
 * thread; never blocks. */
void gw_http_respond(gw_http_req *r, int status, const char *const *headers, const char *body,
                     size_t len, bool close);

/* The socket of an upgraded connection (the WebSocket feed): ws.c reads and writes it
 * (non-blocking) and gives it back with gw_http_upgraded_close. */
typedef struct gw_http_upgraded {
    int fd;
    const uint8_t *extra; /* bytes the client sent after the request head (feed them first) */
    size_t nextra;        /* valid only inside the on_upgraded callback */
    void *urh;            /* MHD's handle */
} gw_http_upgraded;

/* on_upgraded: the 101 went out; u is borrowed for the call (copy fd and urh). Runs on an MHD
 * thread: must not block. on_failed: the connection ended before the upgrade (never both). */
typedef struct gw_http_upgrade_cb {
    void (*on_upgraded)(void *arg, const gw_http_upgraded *u);
    void (*on_failed)(void *arg);
    void *arg;
} gw_http_upgrade_cb;

/* Answers r with 101 Switching Protocols and headers (NULL-terminated pairs); the socket is
 * handed over through cb. r must not be used after. Any thread; never blocks. */
void gw_http_upgrade(gw_http_req *r, const char *const *headers, const gw_http_upgrade_cb *cb);
/* Closes an upgraded connection's socket (through MHD). Blocks briefly; not on an MHD thread
 * while MHD waits on it. */
void gw_http_upgraded_close(void *urh);

/* Formats a socket address as text (no port) into out (GW_HTTP_ADDR_MAX). */
void gw_http_addr_text(const void *sockaddr, char *out);

#endif
