/* service.c — confetti-gateway's definition for the service runtime: no schema, no RPC service
 * of its own (its rpc.listen answers health.v1.Health/Check only); its init hook builds the
 * gateway and starts the HTTP server, its fini drains and stops it; /readyz follows the
 * backends' health. */
#include "gateway.h"
#include "svc/svc.h"
#include "ws.h"

#include <stdio.h>

extern const ProtobufCServiceDescriptor *const confetti_services[];

static gw_config config;
static gw_ws_stats ws_stats;     /* process lifetime: /metrics reads it */
static gw_http_stats http_stats; /* the same */

const cfg_field gw_config_fields[] = {
    CFG_FIELD("http", "listen", CFG_STR, gw_config, http_listen, .def = "http://127.0.0.1:8080",
              .help = "the public HTTP API (http://host:port)"),
    CFG_FIELD("http", "max_body", CFG_SIZE, gw_config, max_body, .def = "1MiB", .min = 1024,
              .max = 64 << 20, .help = "largest request body (413 above)"),
    CFG_FIELD("http", "max_uri", CFG_SIZE, gw_config, max_uri, .def = "8KiB", .min = 256,
              .max = 64 << 10, .help = "longest request target (414 above)"),
    CFG_FIELD("http", "body_timeout", CFG_DURATION, gw_config, body_timeout, .def = "10s",
              .min = 100, .max = 300000, .help = "time allowed to receive a request body (408)"),
    CFG_FIELD("http", "max_header", CFG_SIZE, gw_config, max_header, .def = "32KiB", .min = 1024,
              .max = 1 << 20, .help = "request line and header fields together (431 above)"),
    CFG_FIELD("http", "header_timeout", CFG_DURATION, gw_config, header_timeout, .def = "10s",
              .min = 100, .max = 300000,
              .help = "time allowed for the rest of a request head once its request line came "
                      "(408 and close)"),
    CFG_FIELD("http", "idle_timeout", CFG_DURATION, gw_config, idle_timeout, .def = "75s",
              .min = 100, .max = 3600000,
              .help = "a connection with no request line (new, or kept alive after an answer): "
                      "408 and close; above a proxy's own keep-alive timeout"),
    CFG_FIELD("http", "max_drain", CFG_SIZE, gw_config, max_drain, .def = "4MiB", .min = 0,
              .max = 1 << 30,
              .help = "a refused body up to this size is read and dropped so the client sees "
                      "the 413; above, the answer goes at once and the connection closes"),
    CFG_FIELD("http", "max_connections", CFG_INT, gw_config, max_conns, .def = "10000", .min = 1,
              .max = 1000000, .help = "open HTTP connections (503 and close above)"),
    CFG_FIELD("http", "max_connections_per_peer", CFG_INT, gw_config, max_conns_peer, .def = "0",
              .min = 0, .max = 1000000,
              .help = "open connections per peer address (0 = no cap; refused silently above)"),
    CFG_FIELD("http", "threads", CFG_INT, gw_config, threads, .def = "2", .min = 1, .max = 256,
              .help = "HTTP server threads (an epoll loop each)"),
    CFG_FIELD("http", "trusted_proxies", CFG_STRLIST, gw_config, trusted_proxies, .def = "",
              .help = "proxies (CIDRs) whose X-Forwarded-For / Forwarded is believed"),
    CFG_FIELD("http", "default_timeout", CFG_DURATION, gw_config, default_timeout, .def = "5s",
              .min = 10, .max = 300000, .help = "RPC deadline of routes without their own"),
    CFG_FIELD("http", "drain_timeout", CFG_DURATION, gw_config, drain_timeout, .def = "20s",
              .min = 0, .max = 600000,
              .help = "at shutdown, how long requests in flight may take to finish"),
    CFG_FIELD("http", "drain_delay", CFG_DURATION, gw_config, drain_delay, .def = "0s", .min = 0,
              .max = 600000,
              .help = "at shutdown, how long to keep taking new connections (each answered, then "
                      "closed) while the balancer stops sending here; Kubernetes: 5s"),
    CFG_FIELD("http", "access_log", CFG_BOOL, gw_config, access_log, .def = "true",
              .help =
                  "one log line per request (method, path, status, latency, client, request id)"),
    CFG_FIELD("ratelimit", "rate", CFG_INT, gw_config, rate_per_s, .def = "50", .min = 0,
              .max = 1000000, .help = "requests per second per client (0 = no limit)"),
    CFG_FIELD("ratelimit", "burst", CFG_INT, gw_config, burst, .def = "100", .min = 1,
              .max = 1000000, .help = "bucket size: requests a quiet client may send at once"),
    CFG_FIELD("ratelimit", "max_clients", CFG_INT, gw_config, rate_clients, .def = "16384",
              .min = 64, .max = 1 << 24,
              .help = "clients (addresses, subjects) with a bucket, a power of two (rounded up); "
                      "past it the quietest of 8 neighbours is forgotten (112 bytes each)"),
    CFG_FIELD("cors", "allowed_origins", CFG_STRLIST, gw_config, cors_origins, .def = "",
              .help = "origins allowed cross-origin (\"*\" = any; empty = no CORS)"),
    CFG_FIELD("cors", "allowed_headers", CFG_STR, gw_config, cors_headers,
              .def = "Authorization, Content-Type, X-Request-Id, Idempotency-Key",
              .help = "Access-Control-Allow-Headers of preflight answers"),
    CFG_FIELD("cors", "max_age", CFG_DURATION, gw_config, cors_max_age, .def = "10m", .min = 0,
              .max = 86400000, .help = "how long browsers may cache a preflight answer"),
    CFG_FIELD("services", "catalog", CFG_STRLIST, gw_config, catalog_urls, .def = "",
              .help = "catalog endpoints (empty: its routes answer 503)"),
    CFG_FIELD("services", "auth", CFG_STRLIST, gw_config, auth_urls, .def = "",
              .help = "auth endpoints (empty: its routes answer 503, no revocation list)"),
    CFG_FIELD("services", "rooms", CFG_STRLIST, gw_config, rooms_urls, .def = "",
              .help = "rooms endpoints"),
    CFG_FIELD("services", "draw", CFG_STRLIST, gw_config, draw_urls, .def = "",
              .help = "draw endpoints"),
    CFG_FIELD("services", "health_interval", CFG_DURATION, gw_config, health_interval, .def = "1s",
              .min = 50, .max = 60000,
              .help = "how often the backends' health is probed (for /readyz)"),
    CFG_FIELD("events", "subscribe", CFG_STR, gw_config, events_subscribe, .def = "",
              .help = "the bus's subscriber URL: the WebSocket feed and the response cache "
                      "(revocations: auth.events)"),
    CFG_FIELD("ws", "ping_interval", CFG_DURATION, gw_config, ws_ping_interval, .def = "20s",
              .min = 50, .max = 3600000,
              .help = "WebSocket feed: a ping this often; no answer within another interval "
                      "closes the connection"),
    CFG_FIELD("ws", "recheck_timeout", CFG_DURATION, gw_config, ws_recheck_timeout, .def = "5s",
              .min = 100, .max = 600000,
              .help = "WebSocket feed: deadline of an access re-check (GetRoom); the room's events "
                      "are held meanwhile (at most 1,024), and no answer ends the subscription"),
    CFG_FIELD("ws", "release_upgrade_buffer", CFG_BOOL, gw_config, ws_release_upgrade_buffer,
              .def = "true",
              .help = "WebSocket feed: give the HTTP server's per-connection memory (~124 KiB, "
                      "~60 KiB of it resident) back to the kernel once a socket is upgraded; "
                      "false keeps it until the socket closes (docs/operations.md, \"Memory\")"),
    CFG_FIELD("ws", "auth_timeout", CFG_DURATION, gw_config, ws_auth_timeout, .def = "5s",
              .min = 50, .max = 600000,
              .help = "WebSocket feed: time allowed to present a valid token (4001 after)"),
    CFG_FIELD("ws", "send_queue", CFG_INT, gw_config, ws_send_queue, .def = "256", .min = 4,
              .max = 1000000,
              .help = "WebSocket feed: messages queued per client before it is dropped (4029)"),
    CFG_FIELD("ws", "max_connections", CFG_INT, gw_config, ws_max_conns, .def = "10000", .min = 1,
              .max = 1000000, .help = "WebSocket feed: open connections per gateway (503 above)"),
    CFG_FIELD("ws", "max_message", CFG_SIZE, gw_config, ws_max_message, .def = "64KiB", .min = 256,
              .max = 16 << 20,
              .help = "WebSocket feed: largest message a client may send (4009 above)"),
    CFG_FIELD("ws", "ring", CFG_INT, gw_config, ws_ring, .def = "10000", .min = 1, .max = 10000000,
              .help = "WebSocket feed: recent events kept per source for resumes (older ones "
                      "come from the source's Replay)"),
    CFG_FIELD("ws", "ring_bytes", CFG_SIZE, gw_config, ws_ring_bytes, .def = "64MiB",
              .min = 64 << 10, .max = (int64_t)1 << 40,
              .help = "WebSocket feed: bytes of those recent events per source (the oldest go "
                      "first)"),
    CFG_FIELD("cache", "ttl", CFG_DURATION, gw_config, cache_ttl, .def = "1s", .min = 0,
              .max = 60000,
              .help = "response cache (anonymous room listings, public rooms; needs "
                      "events.subscribe): longest an answer is reused when no event says it "
                      "changed; 0 turns the cache off"),
    CFG_FIELD("cache", "max_entries", CFG_INT, gw_config, cache_entries, .def = "10000", .min = 1,
              .max = 10000000,
              .help = "response cache: answers kept (the least recently used goes first)"),
    CFG_FIELD("cache", "max_bytes", CFG_SIZE, gw_config, cache_bytes, .def = "32MiB",
              .min = 64 << 10, .max = (int64_t)1 << 40,
              .help = "response cache: memory for answers, keys and bookkeeping (the least "
                      "recently used go first)"),
};
const size_t gw_config_nfields = sizeof gw_config_fields / sizeof *gw_config_fields;

static cf_code gateway_init(svc_runtime *rt, void **ctx, char *err, size_t errlen)
{
    static const ProtobufCServiceDescriptor *const *const registries[] = {confetti_services, NULL};
    gw_backend_def backends[4];
    size_t nroutes = 0;
    const gw_route *routes = gw_all_routes(&nroutes);
    gw_params p = {.cfg = &config,
                   .routes = routes,
                   .nroutes = nroutes,
                   .registries = registries,
                   .backends = backends,
                   .nbackends = gw_default_backends(&config, backends),
                   .verifier = svc_verifier(rt),
                   .ident = svc_ident(rt),
                   .metrics = svc_metrics(rt),
                   .ws_stats = &ws_stats,
                   .http_stats = &http_stats};
    if (svc_metrics(rt)) {
        gw_ws_stats_register(svc_metrics(rt), &ws_stats);
        gw_http_stats_register(svc_metrics(rt), &http_stats);
    }
    gw *g;
    cf_code c = gw_new(&p, &g, err, errlen);
    if (c != CF_OK)
        return c;
    if ((c = gw_start(g, err, errlen)) != CF_OK) {
        gw_free(g);
        return c;
    }
    *ctx = g;
    return CF_OK;
}

static void gateway_fini(svc_runtime *rt, void *ctx)
{
    (void)rt;
    gw_free(ctx);
}

static bool gateway_ready(void *ctx)
{
    return gw_ready(ctx);
}

static const svc_def gateway_def = {
    .name = "gateway",
    .fields = gw_config_fields,
    .nfields = sizeof gw_config_fields / sizeof *gw_config_fields,
    .config = &config,
    .init = gateway_init,
    .fini = gateway_fini,
    .ready = gateway_ready,
};

const svc_def *gateway_service_def(void)
{
    return &gateway_def;
}
