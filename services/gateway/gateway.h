/* gateway.h — confetti-gateway's internals: the HTTP/JSON API of SPEC §6 in front of the RPC
 * services (docs/gateway.md). It owns no data.
 *
 * Pieces: http.c (the HTTP edge on libmicrohttpd), clientaddr.c (the client's address), routes.c
 * (the route table as data and the matcher), transcode.c (the one generic HTTP ⇄ RPC transcoder),
 * errors.c (the SPEC error shape), ratelimit.c (per-client token buckets), edge.c (auth at the
 * edge, CORS, readiness and the revocation list), service.c (the svc_def that runs it all in the
 * service runtime).
 *
 * Lifetime: gw_new (config copied or borrowed as documented) → gw_start (binds the HTTP port)
 * → requests on the HTTP server's threads → gw_drain (stop taking requests, finish those in flight)
 * → gw_free. */
#ifndef CONFETTI_GATEWAY_H
#define CONFETTI_GATEWAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

#include "admin/metrics.h"
#include "authn/authn.h"
#include "base/status.h"
#include "cfg/cfg.h"
#include "rpc/client.h"
#include "rpc/ident.h"

/* ---- the route table (routes.c) ---- */

/* Route flags. */
#define GW_AUTH     0x01u /* a verified Bearer token is required at the edge */
#define GW_CONFLICT 0x02u /* FAILED_PRECONDITION is a conflicting state change: 409, not 400 */
#define GW_CLIENT   0x04u /* fill the request's `client` (auth.v1.ClientInfo) from HTTP */
#define GW_REDIRECT 0x08u /* answer 302 to the response's `authorizeUrl` (OAuth login) */
#define GW_JWKS     0x10u /* answer the response as a JWKS document (RFC 7517) */
#define GW_LOGOUT   0x20u /* on success, refuse the caller's token and session here at once */
/* Longest access-token lifetime auth may be configured with (tokens.access_ttl's maximum): how
 * long a session refused by GW_LOGOUT is remembered locally before auth's event says exactly. */
#define GW_ACCESS_TTL_MAX_S 86400
/* Response cache (cache.h), kept exact by the rooms events. GW_CACHE_LISTING: anonymous
 * callers' answers, shared; any room change drops them. GW_CACHE_ROOM: per caller, when the
 * answer's isPublic is true; a change of the room in the path parameter `roomId` drops them. */
#define GW_CACHE_LISTING 0x40u
#define GW_CACHE_ROOM    0x80u
/* The OAuth callback: the login cookie GW_REDIRECT set goes to auth as browserBinding (login
 * CSRF: a login finishes only in the browser that began it), and is cleared in the answer. */
#define GW_LOGIN_CALLBACK 0x100u
/* Ask the route's method of EVERY backend that has one (same name, same request and response
 * types) and merge their pages by time (fanout.h): the audit log, which each service keeps in
 * its own schema. The route's rpc names one of them (its request type is the transcoder's). */
#define GW_FANOUT 0x4000u
/* The login cookie: set with the 302 to the provider, scoped to the auth routes, as long as a
 * login may take (oauth.state_ttl's default). */
#define GW_LOGIN_COOKIE         "confetti_login"
#define GW_LOGIN_COOKIE_MAX_AGE "600"

/* One HTTP route, declared as data. */
typedef struct gw_route {
    const char *method; /* "GET", "POST", "PATCH", "PUT", "DELETE" */
    /* "/v1/rooms/{roomId}/prizes/{prize.prizeId}" or "/v1/rooms/{roomId}:activate": literal
     * segments, {param} segments (whole segment; the name is the request field's JSON path,
     * dotted for nested fields) and an optional ":verb" after the last segment. */
    const char *path;
    const char *rpc;  /* full method, "rooms.v1.Rooms/ActivateRoom" */
    const char *body; /* NULL: no body; "*": the body is the request; else the field it fills */
    int timeout_ms;   /* the RPC deadline; 0 = the gateway default */
    unsigned flags;   /* GW_* */
} gw_route;

/* The public API of SPEC §6 (every route but /v1/ws). */
extern const gw_route gw_routes[];
extern const size_t gw_nroutes;
/* Phone number sign-in (routes_signin.c). */
extern const gw_route gw_routes_signin[];
extern const size_t gw_nroutes_signin;
/* notification preferences (routes_notify.c) */
extern const gw_route gw_routes_notify[];
extern const size_t gw_nroutes_notify;
/* Every table above joined (routes_all.c): what the gateway serves. Built once; borrowed. */
const gw_route *gw_all_routes(size_t *n);

#define GW_MAX_SEGMENTS 12
#define GW_MAX_PARAMS   4

/* A route resolved against the service descriptors, ready to match. */
typedef struct gw_rroute {
    const gw_route *def;
    const ProtobufCServiceDescriptor *service;
    unsigned method_index;
    const ProtobufCMethodDescriptor *method;
    size_t backend; /* index into the gateway's backends */
    /* the template, split */
    size_t nseg;
    const char *seg[GW_MAX_SEGMENTS]; /* literal text, or NULL for a parameter */
    size_t seglen[GW_MAX_SEGMENTS];
    const char *param[GW_MAX_SEGMENTS]; /* parameter name (a JSON path) for NULL segments */
    size_t paramlen[GW_MAX_SEGMENTS];
    const char *verb; /* after ':' in the last segment, or NULL */
    size_t verblen;
    char metric_name[160]; /* "GET /v1/rooms/{roomId}" */
    metrics_method *mm;
} gw_rroute;

/* The set of routes in force. */
typedef struct gw_router {
    gw_rroute *routes;
    size_t n;
} gw_router;

/* Resolves every route's RPC among the NULL-terminated descriptor lists `registries` (also
 * NULL-terminated) and splits its template. backend_of(service full name) gives the backend
 * index, or (size_t)-1 if none serves it. INVALID_ARGUMENT with err naming the route for an
 * unknown RPC, a bad template or a body field the input message does not have. */
cf_code gw_router_build(gw_router *r, const gw_route *routes, size_t n,
                        const ProtobufCServiceDescriptor *const *const *registries,
                        size_t (*backend_of)(const char *service, void *arg), void *arg, char *err,
                        size_t errlen);
void gw_router_free(gw_router *r);

/* A decoded path parameter: a slice of the caller's buffer. */
typedef struct gw_param {
    const char *name;
    size_t namelen;
    char *value; /* percent-decoded, NUL-terminated, in the caller's buffer */
} gw_param;

typedef enum { GW_MATCH_OK, GW_MATCH_NOT_FOUND, GW_MATCH_BAD_METHOD } gw_match_result;

/* Matches method + path (no query string; raw, still percent-encoded) against the router.
 * buf (at least strlen(path)+1 bytes) receives the decoded parameter values. On GW_MATCH_OK
 * *out and params[0..*nparams) are set; GW_MATCH_BAD_METHOD means the path exists with other
 * methods, listed comma-separated in allow (NUL-terminated, truncated to allowlen). Pure. */
gw_match_result gw_route_match(const gw_router *r, const char *method, const char *path, char *buf,
                               const gw_rroute **out, gw_param *params, size_t *nparams,
                               char *allow, size_t allowlen);

/* ---- the transcoder's pure part (transcode.c) ---- */

/* Where a conversion failed: field (JSON path, may be "") and description. */
typedef struct gw_violation {
    char field[256];
    char description[256];
} gw_violation;

/* Builds the JSON form of route rt's request from the HTTP body (len bytes, may be 0), the raw
 * query string (without '?', may be NULL) and the path parameters: the body goes where the
 * route says, query parameters and path parameters are converted by the request field's type
 * (numbers, booleans, enums, repeated by repetition, dotted names for nested fields), path
 * parameters win. For a PATCH whose request has `update_mask` and whose body fills one field,
 * an absent mask becomes the body's keys (AIP-134: exactly the fields present change).
 * Returns a new object, or NULL with v filled (INVALID_ARGUMENT). Pure. */
json_t *gw_request_json(const gw_rroute *rt, const char *body, size_t len, const char *query,
                        const gw_param *params, size_t nparams, gw_violation *v);

/* The message from gw_request_json's object (pbjson_from_json; free with
 * protobuf_c_message_free_unpacked(msg, NULL)). */
cf_code gw_request_message(const gw_rroute *rt, const json_t *json, ProtobufCMessage **out,
                           gw_violation *v);

/* ---- errors (errors.c) ---- */

/* The SPEC §6 error body for an RPC code:
 *   {"error":{"code":<http>,"status":"<NAME>","message":"...","details":[{field,description}]}}
 * Returns a malloc'd NUL-terminated string. details may be NULL/0. */
char *gw_error_json(int http_status, cf_code code, const char *message, const gw_violation *details,
                    size_t ndetails);

/* The HTTP status for an RPC code on a route (FAILED_PRECONDITION → 409 with GW_CONFLICT). */
int gw_http_status(cf_code code, unsigned route_flags);
/* The HTTP status of a failed RPC whose details are v[0..nv): gw_http_status, except that
 * INVALID_ARGUMENT naming `idempotency-key` (a key reused with another request; a malformed
 * key never reaches a service, see gw_idempotency_key) is 422, as the IETF httpapi
 * Idempotency-Key draft says; ABORTED (a request with the key still in flight) is 409 by the
 * code alone. Pure. */
int gw_reply_http_status(cf_code code, unsigned route_flags, const gw_violation *v, size_t nv);
/* The idempotency key of an Idempotency-Key header value: the draft's Structured Field string
 * ("\"abc\"", RFC 8941: quotes removed, \\ and \" unescaped) or, as many clients send it, a
 * bare token; optional white space around it. A malloc'd key that passes
 * rpc_idempotency_key_ok, or NULL (the gateway answers 400 naming Idempotency-Key). Pure. */
char *gw_idempotency_key(const char *header);

/* ---- rate limiting (ratelimit.c) ---- */

typedef struct gw_ratelimit gw_ratelimit;

/* rate tokens per second, burst bucket size; rate 0 = no limit (gw_ratelimit_take always
 * allows). slots bounds memory (rounded up to a power of two). Thread-safe. */
gw_ratelimit *gw_ratelimit_new(double rate, double burst, size_t slots);
void gw_ratelimit_free(gw_ratelimit *rl);

/* Takes one token from key's bucket at time now_ns (monotonic). true = allowed; false = over
 * the limit, *retry_after_s the whole seconds until a token is back (>= 1). */
bool gw_ratelimit_take(gw_ratelimit *rl, const char *key, int64_t now_ns, int *retry_after_s);

/* For /metrics: clients tracked now, the table's slots and bytes (fixed at creation: all the
 * memory it ever uses), buckets evicted to make room for another client. */
typedef struct gw_ratelimit_stats {
    uint64_t clients, slots, bytes, evictions;
} gw_ratelimit_stats;
gw_ratelimit_stats gw_ratelimit_stats_get(gw_ratelimit *rl);

/* ---- the client's address (clientaddr.c) ---- */

/* The proxies whose forwarding headers are believed (http.trusted_proxies). */
typedef struct gw_proxies gw_proxies;

/* Parses CIDRs ("10.0.0.0/8", "::1", "2001:db8::/32"); INVALID_ARGUMENT naming a bad one. */
cf_code gw_proxies_new(const cfg_strlist *cidrs, gw_proxies **out, char *err, size_t errlen);
void gw_proxies_free(gw_proxies *p);

/* The client's address into out: peer (the TCP peer, text) unless peer is a trusted proxy; then
 * the rightmost address of xff (X-Forwarded-For, all its lines joined; else forwarded, the
 * Forwarded header) that is not a trusted proxy (the leftmost if all are; the last trusted one
 * when a hop is not an address). Headers from an untrusted peer are ignored. Pure. */
void gw_client_addr(const gw_proxies *p, const char *peer, const char *xff, const char *forwarded,
                    char *out, size_t outlen);

/* ---- the gateway (gateway.c, http.c) ---- */

/* The gateway's own configuration table target (service.c declares the table). */
typedef struct gw_config {
    char *http_listen;           /* http.listen */
    int64_t max_body;            /* http.max_body (bytes) */
    int64_t max_uri;             /* http.max_uri (bytes) */
    int64_t body_timeout;        /* http.body_timeout (ms): reading a request body */
    int64_t max_header;          /* http.max_header (bytes): request line + header fields */
    int64_t header_timeout;      /* http.header_timeout (ms): the head after its first line */
    int64_t idle_timeout;        /* http.idle_timeout (ms): no request line yet */
    int64_t max_drain;           /* http.max_drain (bytes): refused bodies read up to this */
    int64_t max_conns;           /* http.max_connections */
    int64_t max_conns_peer;      /* http.max_connections_per_peer (0 = no cap) */
    int64_t threads;             /* http.threads */
    cfg_strlist trusted_proxies; /* http.trusted_proxies (CIDRs) */
    int64_t default_timeout;     /* http.default_timeout (ms): routes without their own */
    int64_t drain_timeout;       /* http.drain_timeout (ms) */
    int64_t drain_delay;         /* http.drain_delay (ms): lame duck before refusing connects */
    bool access_log;             /* http.access_log */
    int64_t rate_per_s;          /* ratelimit.rate: requests/s per client; 0 = off */
    int64_t burst;               /* ratelimit.burst */
    int64_t rate_clients;        /* ratelimit.max_clients */
    cfg_strlist cors_origins;    /* cors.allowed_origins ("*" = any) */
    char *cors_headers;          /* cors.allowed_headers */
    int64_t cors_max_age;        /* cors.max_age (ms) */
    cfg_strlist catalog_urls;    /* services.catalog */
    cfg_strlist auth_urls;       /* services.auth */
    cfg_strlist rooms_urls;      /* services.rooms */
    cfg_strlist draw_urls;       /* services.draw */
    int64_t health_interval;     /* services.health_interval (ms) */
    char *events_subscribe;      /* events.subscribe: the bus's subscriber URL ("" = poll only) */
    int64_t ws_ping_interval;    /* ws.ping_interval (ms) */
    int64_t ws_auth_timeout;     /* ws.auth_timeout (ms) */
    int64_t ws_send_queue;       /* ws.send_queue (messages per connection) */
    int64_t ws_max_conns;        /* ws.max_connections */
    int64_t ws_max_message;      /* ws.max_message (bytes) */
    int64_t ws_ring;             /* ws.ring (recent events kept per source, for resumes) */
    int64_t ws_recheck_timeout;  /* ws.recheck_timeout (ms): an access re-check's deadline */
    bool ws_release_upgrade_buffer; /* ws.release_upgrade_buffer: an upgraded socket's HTTP pool
                                       is given back (http.c, mhdpool.h) */
    int64_t cache_ttl;              /* cache.ttl (ms; 0 = no response cache) */
    int64_t cache_entries;          /* cache.max_entries */
    int64_t cache_bytes;            /* cache.max_bytes */
    int64_t ws_ring_bytes;          /* ws.ring_bytes */
} gw_config;

extern const cfg_field gw_config_fields[];
extern const size_t gw_config_nfields;

/* One backend service: a short name ("rooms"), the package prefix its methods start with
 * ("rooms.v1."), its endpoints. */
typedef struct gw_backend_def {
    const char *name;
    const char *package; /* "rooms.v1." */
    const cfg_strlist *urls;
} gw_backend_def;

typedef struct gw_params {
    const gw_config *cfg; /* borrowed, outlives the gateway */
    const gw_route *routes;
    size_t nroutes;
    const ProtobufCServiceDescriptor *const *const *registries; /* NULL-terminated */
    const gw_backend_def *backends;
    size_t nbackends;
    authn_verifier *verifier; /* borrowed; NULL: every token is refused */
    rpc_ident *ident;         /* borrowed: signs calls to the backends, verifies events */
    metrics *metrics;         /* borrowed; may be NULL */
    /* borrowed; NULL: the WebSocket feed counts internally */
    struct gw_ws_stats *ws_stats;
    struct gw_http_stats *http_stats; /* borrowed; NULL: the HTTP edge counts internally */
} gw_params;

typedef struct gw gw;

/* Builds the gateway: routes resolved, one RPC client per configured backend, rate limiter.
 * Nothing listens yet. On failure err says why. */
cf_code gw_new(const gw_params *p, gw **out, char *err, size_t errlen);
/* Binds http.listen and serves; starts the background monitor (health of the backends,
 * revocation list). */
cf_code gw_start(gw *g, char *err, size_t errlen);
/* The TCP port bound (for http.listen with port 0). */
int gw_port(gw *g);
/* true while every configured backend answers health.v1.Health/Check SERVING (and not
 * draining). A flag read: safe on any thread, never blocks. */
bool gw_ready(gw *g);
/* Graceful shutdown: /readyz red and every answer from now on closes its connection; after
 * http.drain_delay (the balancer's time to notice) new connections are refused; then waits (at
 * most http.drain_timeout) until no request is in flight and no connection is within a request,
 * and closes the idle ones with the server. A request that arrives while draining is served, not
 * refused. Blocks; not from an nng callback. */
void gw_drain(gw *g);
/* Drains if not yet drained, stops the monitor, frees everything. NULL is a no-op. */
void gw_free(gw *g);

/* confetti-gateway's definition for the service runtime (service.c). */
struct svc_def;
const struct svc_def *gateway_service_def(void);

/* The backends of the real API (catalog, auth, rooms, draw) for a config. */
size_t gw_default_backends(const gw_config *cfg, gw_backend_def out[4]);

#endif
