/* gateway.c — the request path of confetti-gateway: one handler for every request. It runs the
 * cross-cutting steps once (request id, drain, limits, operations endpoints, CORS, route match,
 * edge authentication, rate limit), transcodes with transcode.c, calls the service without
 * blocking (rpc_client_invoke_async) and answers from the RPC completion. Also the background
 * monitor: backend health (for /readyz) and the revocation list from auth. */
#include "gateway.h"
#include "cache.h"
#include "fanout.h"
#include "audit/audit.h"
#include "events/subscriber.h"
#include "http.h"
#include "ws.h"
#include "notice.h"
#include "static.h"
#include "base/clock.h"
#include "base/b64url.h"
#include "base/cuid.h"
#include "base/log.h"
#include "base/random.h"
#include "base/xmalloc.h"
#include "rpc/rpc.h"
#include "pbjson/pbjson.h"
#include "auth/v1/auth.pb-c.h"
#include "health/v1/health.pb-c.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MAX_BACKENDS 8

typedef struct backend {
    const char *name;
    const char *package;
    rpc_client *client;  /* NULL: not configured */
    atomic_bool serving; /* the last probe answered SERVING (readiness) */
    atomic_bool down;    /* the last probe found no connection or NOT_SERVING (fail fast) */
} backend;

struct gw {
    gw_params p;
    const gw_config *cfg;
    gw_router router;
    backend b[MAX_BACKENDS];
    size_t nb;
    gw_ratelimit *rl;
    gw_proxies *proxies; /* http.trusted_proxies */
    gw_http *http;
    metrics_method *mm_other;
    atomic_int inflight;
    atomic_bool draining;
    atomic_bool ready;
    bool drained;
    pthread_t monitor;
    bool monitor_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    gw_feed *feed; /* rooms' and draw's events for GET /v1/ws (events.subscribe) */
    gw_ws *ws;     /* GET /v1/ws (ws.c) */
    /* the feed's event callback sends notices (notice.h) to notice_ws while it is set: from
     * when ws exists (it is made after the feed) until it is freed (before the feed stops) */
    pthread_mutex_t notice_mu;
    gw_ws *notice_ws;
    gw_cache *cache; /* response cache (cache.h): only while the feed runs */
};

/* One HTTP request on its way through the gateway. */
typedef struct gw_tx {
    gw *g;
    gw_http_req *r;
    const gw_rroute *rt;
    char rid[129];
    char *authz; /* the Authorization header, copied (passed on as metadata) */
    char *idem;  /* Idempotency-Key */
    authn_identity id;
    bool have_id;
    const char *origin; /* the allowed Origin to echo, or NULL (borrowed from config) */
    char *origin_copy;
    char path[256];                /* for the access log (no query: it may carry OAuth codes) */
    char client[GW_HTTP_ADDR_MAX]; /* the client's address (clientaddr.c) */
    rpc_ccall cc;
    bool cc_used;
    char *cache_key; /* a cacheable request that missed: store its answer under this */
    gw_cache_ticket ticket;
    bool rooms_write;       /* a change through rooms: drops cached answers when it succeeds */
    char *write_room;       /* the room it names in the path, or NULL */
    char login_binding[48]; /* GW_REDIRECT: the browser binding set as the login cookie */
} gw_tx;

/* The value of cookie `name` in a Cookie header into out[cap] ("" when absent or too long). */
static void cookie_value(const char *header, const char *name, char *out, size_t cap)
{
    out[0] = '\0';
    size_t nl = strlen(name);
    for (const char *p = header; p && *p;) {
        while (*p == ' ' || *p == ';')
            p++;
        size_t len = strcspn(p, ";");
        if (len > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
            size_t vl = len - nl - 1;
            if (vl < cap) {
                memcpy(out, p + nl + 1, vl);
                out[vl] = '\0';
            }
            return;
        }
        p += len;
    }
}

static size_t backend_of(const char *service, void *arg)
{
    gw *g = arg;
    for (size_t i = 0; i < g->nb; i++)
        if (strncmp(service, g->b[i].package, strlen(g->b[i].package)) == 0)
            return i;
    return (size_t)-1;
}

#define RL_STAT(field)                                                                             \
    static double rl_##field(void *arg)                                                            \
    {                                                                                              \
        return (double)gw_ratelimit_stats_get(arg).field;                                          \
    }
RL_STAT(clients)
RL_STAT(bytes)
RL_STAT(evictions)

static void ratelimit_metrics(gw *g)
{
    metrics_gauge_fn(g->p.metrics, "confetti_gateway_ratelimit_clients",
                     "Clients with a rate-limit bucket now (at most ratelimit.max_clients).",
                     rl_clients, g->rl);
    metrics_gauge_fn(g->p.metrics, "confetti_gateway_ratelimit_bytes",
                     "Bytes of the rate-limit table (fixed at start).", rl_bytes, g->rl);
    metrics_gauge_fn(g->p.metrics, "confetti_gateway_ratelimit_evictions_total",
                     "Rate-limit buckets forgotten to make room for another client.", rl_evictions,
                     g->rl);
}

size_t gw_default_backends(const gw_config *cfg, gw_backend_def out[4])
{
    out[0] = (gw_backend_def){"catalog", "catalog.v1.", &cfg->catalog_urls};
    out[1] = (gw_backend_def){"auth", "auth.v1.", &cfg->auth_urls};
    out[2] = (gw_backend_def){"rooms", "rooms.v1.", &cfg->rooms_urls};
    out[3] = (gw_backend_def){"draw", "draw.v1.", &cfg->draw_urls};
    return 4;
}

cf_code gw_new(const gw_params *p, gw **out, char *err, size_t errlen)
{
    if (p->nbackends > MAX_BACKENDS) {
        snprintf(err, errlen, "too many backends");
        return CF_INVALID_ARGUMENT;
    }
    gw *g = xcalloc(1, sizeof *g);
    g->p = *p;
    g->cfg = p->cfg;
    pthread_mutex_init(&g->mu, NULL);
    pthread_mutex_init(&g->notice_mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    g->nb = p->nbackends;
    for (size_t i = 0; i < g->nb; i++) {
        g->b[i].name = p->backends[i].name;
        g->b[i].package = p->backends[i].package;
        const cfg_strlist *u = p->backends[i].urls;
        if (!u || u->n == 0)
            continue;
        rpc_client_config cc = {.urls = (const char *const *)u->items,
                                .nurls = u->n,
                                .timeout_ms = (int)g->cfg->default_timeout,
                                .ident = p->ident};
        char why[256];
        if (rpc_client_new(&cc, &g->b[i].client, why, sizeof why) != CF_OK) {
            snprintf(err, errlen, "services.%s: %s", g->b[i].name, why);
            gw_free(g);
            return CF_INVALID_ARGUMENT;
        }
    }
    if (gw_router_build(&g->router, p->routes, p->nroutes, p->registries, backend_of, g, err,
                        errlen) != CF_OK) {
        gw_free(g);
        return CF_INVALID_ARGUMENT;
    }
    if (p->metrics) {
        for (size_t i = 0; i < g->router.n; i++)
            g->router.routes[i].mm =
                metrics_method_get(p->metrics, g->router.routes[i].metric_name);
        g->mm_other = metrics_other(p->metrics);
    }
    if (gw_proxies_new(&g->cfg->trusted_proxies, &g->proxies, err, errlen) != CF_OK) {
        gw_free(g);
        return CF_INVALID_ARGUMENT;
    }
    g->rl = gw_ratelimit_new((double)g->cfg->rate_per_s, (double)g->cfg->burst,
                             g->cfg->rate_clients > 0 ? (size_t)g->cfg->rate_clients : 1 << 14);
    if (p->metrics)
        ratelimit_metrics(g);
    *out = g;
    return CF_OK;
}

/* ---------------------------------------------------------------- answering */

static void tx_free(gw_tx *tx)
{
    if (tx->cc_used)
        rpc_ccall_free(&tx->cc);
    free(tx->authz);
    free(tx->idem);
    free(tx->origin_copy);
    free(tx->cache_key);
    free(tx->write_room);
    free(tx);
}

static bool extra_has(const char *const *extra, const char *name)
{
    for (size_t i = 0; extra && extra[i]; i += 2)
        if (strcasecmp(extra[i], name) == 0)
            return true;
    return false;
}

/* Sends the answer, logs, counts; frees tx. code is the RPC-level outcome for the metrics. */
static void finish(gw_tx *tx, int status, cf_code code, const char *ctype, const char *body,
                   size_t len, const char *const *extra, bool close)
{
    gw *g = tx->g;
    const char *h[32];
    size_t n = 0;
    if (ctype) {
        h[n++] = "Content-Type";
        h[n++] = ctype;
    }
    h[n++] = "X-Request-Id";
    h[n++] = tx->rid;
    if (tx->origin) {
        h[n++] = "Access-Control-Allow-Origin";
        h[n++] = tx->origin;
        h[n++] = "Access-Control-Expose-Headers";
        h[n++] = "X-Request-Id, Retry-After";
    }
    /* answers clients and caches can trust (issue 24 item 4; docs/gateway.md, "Answer
     * headers"): the answer depends on Origin whenever CORS is configured, even for an origin
     * not allowed (a shared cache must not hand one origin's answer to another) */
    if (g->cfg->cors_origins.n > 0) {
        h[n++] = "Vary";
        h[n++] = "Origin";
    }
    if (!extra_has(extra, "X-Content-Type-Options")) {
        h[n++] = "X-Content-Type-Options";
        h[n++] = "nosniff";
    }
    /* a signed-in caller's answer (or one to a request that carried credentials) is never
     * stored by a shared cache */
    if ((tx->have_id || gw_http_header(tx->r, "Authorization")) &&
        !extra_has(extra, "Cache-Control")) {
        h[n++] = "Cache-Control";
        h[n++] = "no-store";
    }
    /* every 429 says when to come back (RFC 6585 §4) */
    if (status == 429 && !extra_has(extra, "Retry-After")) {
        h[n++] = "Retry-After";
        h[n++] = "1";
    }
    for (size_t i = 0; extra && extra[i] && n < 30; i += 2) {
        h[n++] = extra[i];
        h[n++] = extra[i + 1];
    }
    h[n] = NULL;
    int64_t lat = cf_mono_ns() - tx->r->start_ns;
    const char *method = tx->r->method;
    if (g->cfg->access_log)
        log_rid(LOG_INFO, tx->rid, "%s %s %d %.3fms %s", method, tx->path, status,
                (double)lat / 1e6, tx->client[0] ? tx->client : "-");
    metrics_method *mm = tx->rt && tx->rt->mm ? tx->rt->mm : g->mm_other;
    if (mm)
        metrics_observe(mm, code, lat);
    gw_http_respond(tx->r, status, h, body, len, close);
    tx_free(tx);
    atomic_fetch_sub(&g->inflight, 1);
}

static void finish_error(gw_tx *tx, int status, cf_code code, const char *message,
                         const gw_violation *v, size_t nv, const char *const *extra, bool close)
{
    if (code == CF_INTERNAL || code == CF_UNKNOWN || code == CF_DATA_LOSS)
        message = "internal error"; /* never leak internals; the service logged them */
    char *body = gw_error_json(status, code, message, v, nv);
    finish(tx, status, code, "application/json", body, strlen(body), extra, close);
    free(body);
}

/* ---------------------------------------------------------------- the RPC completion */

static void jwks_clean(json_t *doc)
{
    json_t *keys = json_object_get(doc, "keys");
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k)
    {
        const char *name;
        json_t *v;
        void *tmp;
        json_object_foreach_safe(k, tmp, name, v)
        {
            if (json_is_string(v) && json_string_length(v) == 0)
                json_object_del(k, name);
        }
    }
    json_object_del(doc, "maxAgeSeconds");
}

/* The answer's own `is_public` (a singular bool field), false when it has none: GW_CACHE_ROOM
 * keeps only public rooms, whose answer differs between callers by my_role alone (the key has
 * the caller). */
static bool answer_is_public(const ProtobufCMessage *m)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(m->descriptor, "is_public");
    return f && f->type == PROTOBUF_C_TYPE_BOOL && f->label != PROTOBUF_C_LABEL_REPEATED &&
           *(const protobuf_c_boolean *)((const char *)m + f->offset);
}

static void on_rpc_done(rpc_ccall *cc, void *arg)
{
    gw_tx *tx = arg;
    gw *g = tx->g;
    unsigned flags = tx->rt->def->flags;
    if (cc->code != CF_OK) {
        gw_violation v[16];
        size_t nv = cc->ndetails < 16 ? cc->ndetails : 16;
        for (size_t i = 0; i < nv; i++) {
            snprintf(v[i].field, sizeof v[i].field, "%s", cc->details[i]->field);
            snprintf(v[i].description, sizeof v[i].description, "%s", cc->details[i]->description);
        }
        /* Retry-After on every 503 and 429 (SPEC §6): the service's own figure (a throttle's
         * delay, rpc_retry_after) when it gave one, else 1 s */
        int status = gw_reply_http_status(cc->code, flags, v, nv);
        char ra[16];
        snprintf(ra, sizeof ra, "%u", cc->retry_after_s ? cc->retry_after_s : 1u);
        const char *retry[] = {"Retry-After", ra, NULL};
        bool say_retry = cc->code == CF_UNAVAILABLE || status == 429;
        return finish_error(tx, status, cc->code, cc->message, v, nv, say_retry ? retry : NULL,
                            false);
    }
    /* read-your-writes for logout: this gateway refuses the session's tokens at once, before
     * the session.revoked event comes (its exp bounds every token of the session it saw) */
    if ((flags & GW_LOGOUT) && tx->have_id && g->p.verifier) {
        if (tx->id.jti[0])
            authn_verifier_revoke(g->p.verifier, tx->id.jti, tx->id.exp);
        if (tx->id.sid[0])
            authn_verifier_revoke_session(g->p.verifier, tx->id.sid,
                                          cf_wall_ms() / 1000 + GW_ACCESS_TTL_MAX_S);
    }
    if (tx->rooms_write) { /* read-your-writes through this gateway, before the event comes */
        if (tx->write_room)
            gw_cache_invalidate_room(g->cache, tx->write_room);
        gw_cache_invalidate_listings(g->cache);
    }
    if (!(flags & (GW_REDIRECT | GW_JWKS | GW_CLIENT))) {
        char *body = pbjson_to_string(cc->response); /* no tree: common/pbjson/write.c */
        if (tx->cache_key && (!(flags & GW_CACHE_ROOM) || answer_is_public(cc->response)))
            gw_cache_put(g->cache, tx->cache_key, &tx->ticket, body, strlen(body), cf_mono_ns());
        finish(tx, 200, CF_OK, "application/json", body, strlen(body), NULL, false);
        free(body);
        return;
    }
    json_t *j = pbjson_to_json(cc->response);
    if (flags & GW_REDIRECT) {
        const char *url = json_string_value(json_object_get(j, "authorizeUrl"));
        if (!url || !*url) {
            json_decref(j);
            return finish_error(tx, 502, CF_INTERNAL, "", NULL, 0, NULL, false);
        }
        /* the login cookie: HttpOnly, sent back on the provider's top-level redirect (Lax),
         * Secure when the browser comes back over https (auth encodes ':' as %3A) */
        bool https = strstr(url, "redirect_uri=https%3A") != NULL;
        char cookie[256];
        snprintf(cookie, sizeof cookie,
                 GW_LOGIN_COOKIE "=%s; Path=/v1/auth/; Max-Age=" GW_LOGIN_COOKIE_MAX_AGE
                                 "; HttpOnly; SameSite=Lax%s",
                 tx->login_binding, https ? "; Secure" : "");
        const char *hdr[] = {"Location", url, "Cache-Control", "no-store", "Set-Cookie",
                             cookie,     NULL};
        finish(tx, 302, CF_OK, NULL, NULL, 0, hdr, false);
        json_decref(j);
        return;
    }
    if (flags & GW_JWKS) {
        json_int_t age = json_integer_value(json_object_get(j, "maxAgeSeconds"));
        char cache[64];
        snprintf(cache, sizeof cache, "public, max-age=%lld", (long long)(age > 0 ? age : 300));
        jwks_clean(j);
        char *body = json_dumps(j, JSON_COMPACT);
        const char *hdr[] = {"Cache-Control", cache, NULL};
        finish(tx, 200, CF_OK, "application/json", body, strlen(body), hdr, false);
        free(body);
        json_decref(j);
        return;
    }
    /* GW_CLIENT: token responses must not be cached (RFC 6749 §5.1); a finished login's
     * cookie is spent */
    char *body = json_dumps(j, JSON_COMPACT);
    const char *hdr[] = {
        "Cache-Control", "no-store", (flags & GW_LOGIN_CALLBACK) ? "Set-Cookie" : NULL,
        GW_LOGIN_COOKIE "=; Path=/v1/auth/; Max-Age=0; HttpOnly; SameSite=Lax", NULL};
    finish(tx, 200, CF_OK, "application/json", body, strlen(body), hdr, false);
    free(body);
    json_decref(j);
}

/* ---------------------------------------------------------------- the fan-out (GW_FANOUT) */

static void on_fanout_done(void *arg, rpc_ccall *failed, char *json)
{
    gw_tx *tx = arg;
    if (failed) /* answered exactly as a single service's refusal */
        return on_rpc_done(failed, tx);
    finish(tx, 200, CF_OK, "application/json", json, strlen(json), NULL, false);
    free(json);
}

/* The backend's service that has a method named `name`, or NULL. */
static const ProtobufCServiceDescriptor *fanout_service(const gw *g, const backend *b,
                                                        const char *name, unsigned *index)
{
    const ProtobufCServiceDescriptor *const *const *reg = g->p.registries;
    for (size_t r = 0; reg && reg[r]; r++)
        for (size_t i = 0; reg[r][i]; i++) {
            const ProtobufCServiceDescriptor *d = reg[r][i];
            if (strncmp(d->name, b->package, strlen(b->package)) != 0)
                continue;
            const ProtobufCMethodDescriptor *m =
                protobuf_c_service_descriptor_get_method_by_name(d, name);
            if (m) {
                *index = (unsigned)(m - d->methods);
                return d;
            }
        }
    return NULL;
}

/* Asks every configured backend that serves the route's method; takes msg. A backend known
 * down fails the request at once (an audit page without one service's rows would look
 * complete); one not configured is not asked (docs/audit.md). */
static void fanout_start(gw_tx *tx, ProtobufCMessage *msg)
{
    gw *g = tx->g;
    gw_fanout_target t[MAX_BACKENDS];
    size_t n = 0;
    for (size_t i = 0; i < g->nb; i++) {
        unsigned index;
        const ProtobufCServiceDescriptor *d;
        if (!g->b[i].client || !(d = fanout_service(g, &g->b[i], tx->rt->method->name, &index)))
            continue;
        if (atomic_load(&g->b[i].down)) {
            protobuf_c_message_free_unpacked(msg, NULL);
            const char *retry[] = {"Retry-After", "1", NULL};
            return finish_error(tx, 503, CF_UNAVAILABLE, "service unavailable", NULL, 0, retry,
                                false);
        }
        t[n++] = (gw_fanout_target){g->b[i].client, d, index};
    }
    if (n == 0) {
        protobuf_c_message_free_unpacked(msg, NULL);
        return finish_error(tx, 503, CF_UNAVAILABLE, "service not configured", NULL, 0, NULL,
                            false);
    }
    rpc_md md[3] = {{"x-request-id", tx->rid}, {AUDIT_PEER_MD, tx->client}};
    size_t nmd = 2;
    if (tx->authz)
        md[nmd++] = (rpc_md){"authorization", tx->authz};
    int timeout = tx->rt->def->timeout_ms ? tx->rt->def->timeout_ms : (int)g->cfg->default_timeout;
    gw_fanout_audit(t, n, msg, md, nmd, timeout, on_fanout_done, tx);
    protobuf_c_message_free_unpacked(msg, NULL);
}

/* ---------------------------------------------------------------- the request path */

/* Content-Type names application/json (RFC 9110 §8.3.1: the type and subtype are
 * case-insensitive; parameters such as charset=utf-8 follow a ';'). */
static bool is_json_type(const char *ct)
{
    if (!ct)
        return false;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    if (strncasecmp(ct, "application/json", 16) != 0)
        return false;
    ct += 16;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    return *ct == '\0' || *ct == ';';
}

static bool rid_ok(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (s[n] < 0x21 || s[n] > 0x7e || s[n] == '"' || s[n] == '\\')
            return false;
    return n >= 1 && n <= 128;
}

static const char *allowed_origin(const gw *g, const char *origin)
{
    if (!origin)
        return NULL;
    for (size_t i = 0; i < g->cfg->cors_origins.n; i++) {
        const char *o = g->cfg->cors_origins.items[i];
        if (strcmp(o, "*") == 0 || strcasecmp(o, origin) == 0)
            return origin;
    }
    return NULL;
}

/* The client's address: the peer, or what trusted proxies say (clientaddr.c). */
static void client_addr(const gw *g, const gw_http_req *r, char *out, size_t len)
{
    char *xff = NULL, *fwd = NULL;
    if (g->cfg->trusted_proxies.n) { /* headers read only when the peer may be a proxy */
        xff = gw_http_header_all(r, "X-Forwarded-For");
        if (!xff)
            fwd = gw_http_header_all(r, "Forwarded");
    }
    gw_client_addr(g->proxies, r->peer, xff, fwd, out, len);
    free(xff);
    free(fwd);
}

/* The anonymous caller's token bucket, keyed by its address: false (and the 429 sent) when it
 * is empty. */
static bool anonymous_allowed(gw_tx *tx)
{
    char key[80];
    snprintf(key, sizeof key, "a:%s", tx->client);
    int retry = 0;
    if (gw_ratelimit_take(tx->g->rl, key, cf_mono_ns(), &retry))
        return true;
    char ra[16];
    snprintf(ra, sizeof ra, "%d", retry);
    const char *hdr[] = {"Retry-After", ra, NULL};
    finish_error(tx, 429, CF_RESOURCE_EXHAUSTED, "too many requests", NULL, 0, hdr, false);
    return false;
}

static void ops(gw_tx *tx, const char *path)
{
    gw *g = tx->g;
    if (strcmp(path, "/healthz") == 0)
        return finish(tx, 200, CF_OK, "text/plain; charset=utf-8", "ok\n", 3, NULL, false);
    if (strcmp(path, "/readyz") == 0) {
        if (gw_ready(g))
            return finish(tx, 200, CF_OK, "text/plain; charset=utf-8", "ready\n", 6, NULL, false);
        return finish(tx, 503, CF_UNAVAILABLE, "text/plain; charset=utf-8", "not ready\n", 10, NULL,
                      false);
    }
    size_t len = 0;
    char *text = g->p.metrics ? metrics_render(g->p.metrics, &len) : xstrdup("");
    finish(tx, 200, CF_OK, "text/plain; version=0.0.4; charset=utf-8", text, len, NULL, false);
    free(text);
}

static bool is_ops_path(const char *path)
{
    return strcmp(path, "/healthz") == 0 || strcmp(path, "/readyz") == 0 ||
           strcmp(path, "/metrics") == 0;
}

/* The room a route's path names: the parameter `roomId` or `<message>.roomId`, or NULL. */
static const char *room_param(const gw_param *params, size_t nparams)
{
    for (size_t i = 0; i < nparams; i++) {
        size_t n = params[i].namelen;
        if ((n == 6 || (n > 6 && params[i].name[n - 7] == '.')) &&
            memcmp(params[i].name + n - 6, "roomId", 6) == 0)
            return params[i].value;
    }
    return NULL;
}

/* The response cache's key for a request (cache.h; issue 24 item 1): the route, the caller (a
 * room's answer carries the caller's my_role) and the request message as the transcoder built
 * it, packed. protobuf-c packs fields in number order and omits defaults, and the transcoder
 * refuses unknown query parameters (400 naming them) and skips empty ones, so every spelling of
 * one request (`&&&`, `pageSize=050`, parameters in another order) has one key and one answer
 * is held once. */
static char *cache_key(const gw_tx *tx, const ProtobufCMessage *msg)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    uint8_t *packed = xmalloc(n ? n : 1);
    protobuf_c_message_pack(msg, packed);
    char *enc = b64url_encode_new(packed, n);
    free(packed);
    char *key = xasprintf("%s\n%s\n%s", tx->rt->def->rpc, tx->have_id ? tx->id.sub : "", enc);
    free(enc);
    return key;
}

/* The response cache (cache.h) for a GW_CACHE_* route, once the request is transcoded: true
 * when the request was answered from it. A listing is shared by anonymous callers only; a
 * room's answer is kept per caller. Only an answer the same request once got with 200 can be a
 * hit. On a miss, tx->cache_key and tx->ticket say where the answer goes. */
static bool cache_lookup(gw_tx *tx, const char *room, const ProtobufCMessage *msg)
{
    unsigned flags = tx->rt->def->flags;
    if (flags & GW_CACHE_LISTING) {
        if (tx->authz)
            return false;
        room = NULL;
    } else if (!room) {
        return false;
    }
    char *key = cache_key(tx, msg);
    gw_cache_body *b = gw_cache_get(tx->g->cache, key, room, cf_mono_ns(), &tx->ticket);
    if (!b) {
        tx->cache_key = key;
        return false;
    }
    free(key);
    finish(tx, 200, CF_OK, "application/json", gw_cache_body_data(b), gw_cache_body_len(b), NULL,
           false);
    gw_cache_body_release(b);
    return true;
}

static void handle(gw_http_req *r, void *arg)
{
    gw *g = arg;
    atomic_fetch_add(&g->inflight, 1);
    gw_tx *tx = xcalloc(1, sizeof *tx);
    tx->g = g;
    tx->r = r;
    const char *rid = gw_http_header(r, "X-Request-Id");
    if (rid && rid_ok(rid))
        snprintf(tx->rid, sizeof tx->rid, "%s", rid);
    else
        cuid_new(tx->rid);
    const char *origin = gw_http_header(r, "Origin");
    if (allowed_origin(g, origin)) {
        tx->origin_copy = xstrdup(origin);
        tx->origin = tx->origin_copy;
    }
    size_t plen = strcspn(r->uri, "?");
    snprintf(tx->path, sizeof tx->path, "%.*s", (int)(plen < 255 ? plen : 255), r->uri);
    client_addr(g, r, tx->client, sizeof tx->client);

    /* a request that reaches a draining gateway is served as any other (its answer closes the
     * connection: gw_drain), not refused: its client may not be able to send it elsewhere */
    /* refused by the HTTP layer (http.h): answered in the SPEC shape, and the connection
     * closes */
    switch (r->early_status) {
    case 0:
        break;
    case 413: {
        char msg[96];
        snprintf(msg, sizeof msg, "request body larger than %lld bytes",
                 (long long)g->cfg->max_body);
        return finish_error(tx, 413, CF_RESOURCE_EXHAUSTED, msg, NULL, 0, NULL, true);
    }
    case 408:
        return finish_error(tx, 408, CF_DEADLINE_EXCEEDED, r->early_why, NULL, 0, NULL, true);
    case 431:
    case 414:
        return finish_error(tx, r->early_status, CF_RESOURCE_EXHAUSTED, r->early_why, NULL, 0, NULL,
                            true);
    case 501:
        return finish_error(tx, 501, CF_UNIMPLEMENTED, r->early_why, NULL, 0, NULL, true);
    case 503: {
        const char *retry[] = {"Retry-After", "1", NULL};
        return finish_error(tx, 503, CF_UNAVAILABLE, r->early_why, NULL, 0, retry, true);
    }
    case 429: { /* http.max_connections_per_peer */
        const char *retry[] = {"Retry-After", "1", NULL};
        return finish_error(tx, 429, CF_RESOURCE_EXHAUSTED, r->early_why, NULL, 0, retry, true);
    }
    case 505:
        return finish_error(tx, 505, CF_UNIMPLEMENTED, r->early_why, NULL, 0, NULL, true);
    default:
        return finish_error(tx, 400, CF_INVALID_ARGUMENT, r->early_why ? r->early_why : "", NULL, 0,
                            NULL, true);
    }
    char *path = xstrndup(r->uri, plen);
    const char *query = r->uri[plen] == '?' ? r->uri + plen + 1 : NULL;

    if ((strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0) && is_ops_path(path)) {
        ops(tx, path);
        free(path);
        return;
    }
    if (strcmp(path, "/v1/ws") == 0 && strcmp(r->method, "GET") == 0 && g->ws) {
        free(path);
        if (!anonymous_allowed(tx)) /* the token comes after the upgrade */
            return;
        const char *why = "";
        int st = gw_ws_upgrade(g->ws, r, &why); /* 0: the connection is the feed's now */
        if (st != 0)
            return finish_error(tx, st, st == 503 ? CF_UNAVAILABLE : CF_INVALID_ARGUMENT, why, NULL,
                                0, NULL, true);
        if (g->cfg->access_log)
            log_rid(LOG_INFO, tx->rid, "GET /v1/ws 101");
        tx_free(tx);
        atomic_fetch_sub(&g->inflight, 1);
        return;
    }
    gw_static_answer sa; /* the page at "/" (static.c), before the API routes */
    if (gw_static_lookup(r->method, path, gw_http_header(r, "If-None-Match"), &sa)) {
        free(path);
        if (sa.status == 405)
            return finish_error(tx, 405, CF_UNIMPLEMENTED, "method not allowed on this path", NULL,
                                0, sa.headers, false);
        return finish(tx, sa.status, CF_OK, sa.ctype, sa.body, sa.len, sa.headers, false);
    }

    char *pbuf = xmalloc(plen + 1);
    const gw_rroute *rt = NULL;
    gw_param params[GW_MAX_PARAMS];
    size_t nparams = 0;
    char allow[128];
    gw_match_result m = gw_route_match(&g->router, r->method, path, pbuf, &rt, params, &nparams,
                                       allow, sizeof allow);
    free(path);
    if (strcmp(r->method, "OPTIONS") == 0 && m != GW_MATCH_NOT_FOUND) {
        /* CORS preflight (or a plain OPTIONS): what this path allows */
        if (m == GW_MATCH_OK)
            snprintf(allow, sizeof allow, "%s", rt->def->method);
        char age[32];
        snprintf(age, sizeof age, "%lld", (long long)(g->cfg->cors_max_age / 1000));
        const char *hdr[] = {"Allow", allow, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
        if (tx->origin) {
            hdr[2] = "Access-Control-Allow-Methods";
            hdr[3] = allow;
            hdr[4] = "Access-Control-Allow-Headers";
            hdr[5] = g->cfg->cors_headers;
            hdr[6] = "Access-Control-Max-Age";
            hdr[7] = age;
        }
        free(pbuf);
        return finish(tx, 204, CF_OK, NULL, NULL, 0, hdr, false);
    }
    if (m == GW_MATCH_NOT_FOUND) {
        free(pbuf);
        return finish_error(tx, 404, CF_NOT_FOUND, "no such route", NULL, 0, NULL, false);
    }
    if (m == GW_MATCH_BAD_METHOD) {
        free(pbuf);
        const char *hdr[] = {"Allow", allow, NULL};
        return finish_error(tx, 405, CF_UNIMPLEMENTED, "method not allowed on this path", NULL, 0,
                            hdr, false);
    }
    tx->rt = rt;
    unsigned flags = rt->def->flags;

    /* a body is JSON and says so (issue 24 item 4): text/plain, form and multipart bodies are
     * what any web page may send cross-origin without a preflight */
    if (r->body_len > 0 && !is_json_type(gw_http_header(r, "Content-Type"))) {
        free(pbuf);
        gw_violation ct = {.field = "Content-Type", .description = "must be application/json"};
        return finish_error(tx, 415, CF_INVALID_ARGUMENT, "request body must be application/json",
                            &ct, 1, NULL, false);
    }

    /* edge authentication: a token present must verify; some routes require one */
    const char *authz = gw_http_header(r, "Authorization");
    if (authz) {
        const char *reason = "not a Bearer token";
        cf_code c = CF_UNAUTHENTICATED;
        if (strncasecmp(authz, "Bearer ", 7) == 0) {
            const char *tok = authz + 7;
            while (*tok == ' ')
                tok++;
            if (!g->p.verifier)
                reason = "token verification is not configured";
            else
                c = authn_verify(g->p.verifier, tok, &tx->id, &reason);
            if (c == CF_OK) {
                tx->have_id = true;
                tx->authz = xasprintf("Bearer %s", tok);
            }
        }
        if (c == CF_UNAVAILABLE) { /* the revocation list is not loaded yet: retry soon */
            free(pbuf);
            const char *hdr[] = {"Retry-After", "1", NULL};
            return finish_error(tx, 503, CF_UNAVAILABLE, "cannot verify tokens yet; retry", NULL, 0,
                                hdr, false);
        }
        if (c != CF_OK) {
            free(pbuf);
            const char *hdr[] = {"WWW-Authenticate", "Bearer error=\"invalid_token\"", NULL};
            char msg[160];
            snprintf(msg, sizeof msg, "invalid access token: %s", reason);
            return finish_error(tx, 401, CF_UNAUTHENTICATED, msg, NULL, 0, hdr, false);
        }
    } else if (flags & GW_AUTH) {
        free(pbuf);
        const char *hdr[] = {"WWW-Authenticate", "Bearer", NULL};
        return finish_error(tx, 401, CF_UNAUTHENTICATED, "a Bearer access token is required", NULL,
                            0, hdr, false);
    }

    /* rate limit per client: the verified subject, else the client's address (clientaddr.c) */
    if (tx->have_id) {
        char key[160];
        snprintf(key, sizeof key, "u:%s", tx->id.sub);
        int retry = 0;
        if (!gw_ratelimit_take(g->rl, key, cf_mono_ns(), &retry)) {
            free(pbuf);
            char ra[16];
            snprintf(ra, sizeof ra, "%d", retry);
            const char *hdr[] = {"Retry-After", ra, NULL};
            return finish_error(tx, 429, CF_RESOURCE_EXHAUSTED, "too many requests", NULL, 0, hdr,
                                false);
        }
    } else if (!anonymous_allowed(tx)) {
        free(pbuf);
        return;
    }

    bool cacheable = g->cache && (flags & (GW_CACHE_LISTING | GW_CACHE_ROOM));
    char *cache_room = NULL; /* the room a cacheable answer depends on (params die with pbuf) */
    if (cacheable && room_param(params, nparams))
        cache_room = xstrdup(room_param(params, nparams));
    if (g->cache && strcmp(r->method, "GET") != 0 && strncmp(rt->def->rpc, "rooms.v1.", 9) == 0) {
        tx->rooms_write = true;
        const char *room = room_param(params, nparams);
        tx->write_room = room ? xstrdup(room) : NULL;
    }

    /* Idempotency-Key (IETF httpapi draft): passed on as the idempotency-key metadata; a
     * malformed one is this request's fault, refused here (so a service's INVALID_ARGUMENT on
     * idempotency-key can only mean "reused", 422: gw_reply_http_status) */
    const char *idem = gw_http_header(r, "Idempotency-Key");
    if (idem && !(tx->idem = gw_idempotency_key(idem))) {
        free(pbuf);
        free(cache_room);
        gw_violation ik = {.field = "Idempotency-Key"};
        snprintf(ik.description, sizeof ik.description,
                 "must be 1 to %d printable ASCII characters without spaces, bare or as a quoted "
                 "string",
                 RPC_IDEMPOTENCY_KEY_MAX);
        return finish_error(tx, 400, CF_INVALID_ARGUMENT, "invalid Idempotency-Key header", &ik, 1,
                            NULL, false);
    }

    /* the one transcoder */
    gw_violation v;
    json_t *j = gw_request_json(rt, r->body, r->body_len, query, params, nparams, &v);
    free(pbuf);
    if (!j) {
        free(cache_room);
        return finish_error(tx, 400, CF_INVALID_ARGUMENT, "invalid request", &v, 1, NULL, false);
    }
    if (flags & GW_REDIRECT) { /* a login begins: bound to this browser by a cookie */
        cf_random_token(tx->login_binding, 24);
        json_object_set_new(j, "browserBinding", json_string(tx->login_binding));
    }
    if (flags & GW_LOGIN_CALLBACK) {
        char b[64];
        cookie_value(gw_http_header(r, "Cookie"), GW_LOGIN_COOKIE, b, sizeof b);
        json_object_set_new(j, "browserBinding", json_string(b));
    }
    if (flags & GW_CLIENT) {
        const char *ua = gw_http_header(r, "User-Agent");
        json_object_set_new(
            j, "client",
            json_pack("{s:s,s:s}", "userAgent", ua ? ua : "", "ipAddress", tx->client));
        if (!json_object_get(j, "client")) /* a User-Agent that is not UTF-8 */
            json_object_set_new(j, "client", json_object());
    }
    ProtobufCMessage *msg = NULL;
    cf_code c = gw_request_message(rt, j, &msg, &v);
    json_decref(j);
    if (c != CF_OK) {
        free(cache_room);
        return finish_error(tx, 400, CF_INVALID_ARGUMENT, "invalid request", &v, 1, NULL, false);
    }
    /* a body within http.max_body can still transcode past what the services take (a long
     * array of small numbers grows): a size problem is 413 naming the limit, never the
     * RESOURCE_EXHAUSTED (429) of the RPC client (issue 24 item 4) */
    size_t packed = protobuf_c_message_get_packed_size(msg);
    size_t limit = rt->backend == (size_t)-1 || !g->b[rt->backend].client
                       ? SIZE_MAX
                       : rpc_client_max_message(g->b[rt->backend].client);
    if (packed > limit) {
        free(cache_room);
        protobuf_c_message_free_unpacked(msg, NULL);
        char m[160];
        snprintf(m, sizeof m,
                 "request too large: it makes a %zu-byte service message, over the %zu-byte limit",
                 packed, limit);
        return finish_error(tx, 413, CF_RESOURCE_EXHAUSTED, m, NULL, 0, NULL, false);
    }

    /* the response cache, keyed by the transcoded request (cache_key) */
    bool hit = cacheable && cache_lookup(tx, cache_room, msg);
    free(cache_room);
    if (hit) {
        protobuf_c_message_free_unpacked(msg, NULL);
        return;
    }

    if (flags & GW_FANOUT)
        return fanout_start(tx, msg);
    if (rt->backend == (size_t)-1 || !g->b[rt->backend].client) {
        protobuf_c_message_free_unpacked(msg, NULL);
        return finish_error(tx, 503, CF_UNAVAILABLE, "service not configured", NULL, 0, NULL,
                            false);
    }

    /* a backend the monitor found down answers at once rather than at the deadline */
    if (atomic_load(&g->b[rt->backend].down)) {
        protobuf_c_message_free_unpacked(msg, NULL);
        const char *retry[] = {"Retry-After", "1", NULL};
        return finish_error(tx, 503, CF_UNAVAILABLE, "service unavailable", NULL, 0, retry, false);
    }

    rpc_ccall_init(&tx->cc, NULL);
    tx->cc_used = true;
    tx->cc.timeout_ms = rt->def->timeout_ms ? rt->def->timeout_ms : (int)g->cfg->default_timeout;
    rpc_ccall_md(&tx->cc, "x-request-id", tx->rid);
    /* the client's address as this gateway saw it: the audit log's "from where" */
    rpc_ccall_md(&tx->cc, AUDIT_PEER_MD, tx->client);
    if (tx->authz)
        rpc_ccall_md(&tx->cc, "authorization", tx->authz);
    if (tx->idem)
        rpc_ccall_md(&tx->cc, "idempotency-key", tx->idem);
    rpc_client_invoke_async(g->b[rt->backend].client, rt->service, rt->method_index, msg, &tx->cc,
                            on_rpc_done, tx);
    protobuf_c_message_free_unpacked(msg, NULL);
}

/* ---------------------------------------------------------------- monitor */

/* One backend's health from up to HEALTH_PROBES checks in a row. serving (readiness): a check
 * answered SERVING (nng's req spreads consecutive calls over the connected replicas, so with
 * several replicas the checks usually reach more than one). down (its calls answered 503 at
 * once): every check was refused — no replica connected at all. A replica answering
 * NOT_SERVING never makes calls fail fast: with several replicas it is one of them (starting,
 * its readiness flag not yet up while it already serves calls; or stopping), and the calls nng
 * sends it are answered by it; a rehearsal under load saw 20 requests answered 503 while one
 * rooms replica of three restarted, when one such answer marked the whole service down. A
 * refused check is retried after a short pause: at start, the dialers may not have connected
 * yet. */
enum { HEALTH_PROBES = 3, HEALTH_PROBE_PAUSE_MS = 50 };

static void probe_backend(backend *b, bool *serving, bool *down)
{
    *serving = false;
    bool all_refused = true;
    for (int k = 0; k < HEALTH_PROBES && !*serving; k++) {
        Health__V1__CheckRequest req = HEALTH__V1__CHECK_REQUEST__INIT;
        rpc_ccall cc;
        rpc_ccall_init(&cc, NULL);
        cc.timeout_ms = 1000;
        rpc_client_invoke(b->client, &health__v1__health__descriptor, 0, &req.base, &cc);
        *serving = cc.code == CF_OK && ((Health__V1__CheckResponse *)cc.response)->status ==
                                           HEALTH__V1__CHECK_RESPONSE__SERVING_STATUS__SERVING;
        cf_code code = cc.code;
        rpc_ccall_free(&cc);
        bool refused = code == CF_UNAVAILABLE;
        all_refused = all_refused && refused;
        if (code == CF_DEADLINE_EXCEEDED)
            break; /* a slow service: one check is enough to say so */
        if (refused && k + 1 < HEALTH_PROBES) {
            struct timespec ts = {0, HEALTH_PROBE_PAUSE_MS * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    *down = all_refused;
}

static void check_backends(gw *g)
{
    bool all = true;
    for (size_t i = 0; i < g->nb; i++) {
        if (!g->b[i].client)
            continue;
        bool ok, down;
        probe_backend(&g->b[i], &ok, &down);
        if (ok != atomic_load(&g->b[i].serving))
            log_info("backend %s %s", g->b[i].name, ok ? "serving" : "not serving");
        atomic_store(&g->b[i].serving, ok);
        atomic_store(&g->b[i].down, down);
        all = all && ok;
    }
    atomic_store(&g->ready, all);
}

static rpc_client *backend_client(gw *g, const char *package)
{
    for (size_t i = 0; i < g->nb; i++)
        if (strcmp(g->b[i].package, package) == 0)
            return g->b[i].client;
    return NULL;
}

static void *monitor(void *arg)
{
    gw *g = arg;
    pthread_mutex_lock(&g->mu);
    while (!g->stop) {
        pthread_mutex_unlock(&g->mu);
        check_backends(g);
        if (g->cache) /* what expired or went stale, even if nobody asks for it again */
            gw_cache_reap(g->cache, cf_mono_ns());
        pthread_mutex_lock(&g->mu);
        if (g->stop)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ms = g->cfg->health_interval > 0 ? g->cfg->health_interval : 1000;
        ts.tv_sec += ms / 1000;
        ts.tv_nsec += (ms % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&g->cv, &g->mu, &ts);
    }
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

/* ---------------------------------------------------------------- response cache */

/* What a rooms event makes stale (cache.h): the room's own answers always; the listings unless
 * only the room's members changed (a listing shows no members, and anonymous callers have no
 * role). */
static void cache_on_event(gw *g, const Events__V1__Event *ev)
{
    if (!g->cache || strcmp(ev->source, "rooms") != 0)
        return;
    if (*ev->room_id)
        gw_cache_invalidate_room(g->cache, ev->room_id);
    bool members_only = ev->body_case == EVENTS__V1__EVENT__BODY_PARTICIPANT_JOINED ||
                        ev->body_case == EVENTS__V1__EVENT__BODY_PARTICIPANT_LEFT ||
                        ev->body_case == EVENTS__V1__EVENT__BODY_PARTICIPANT_ROLE_CHANGED;
    if (!members_only || !*ev->room_id)
        gw_cache_invalidate_listings(g->cache);
}

/* Every event the feed passes, once: the cache's invalidations, then the notices. */
static void on_feed_event(void *arg, const Events__V1__Event *ev)
{
    gw *g = arg;
    cache_on_event(g, ev);
    pthread_mutex_lock(&g->notice_mu);
    gw_notice_event(g->notice_ws, ev);
    pthread_mutex_unlock(&g->notice_mu);
}

#define CACHE_STAT(field)                                                                          \
    static double cache_##field(void *arg)                                                         \
    {                                                                                              \
        return (double)gw_cache_stats_get(arg).field;                                              \
    }
CACHE_STAT(hits)
CACHE_STAT(misses)
CACHE_STAT(entries)
CACHE_STAT(bytes)
CACHE_STAT(evictions)
CACHE_STAT(expired)

enum { CACHE_MAX_BODY = 256 << 10 };

static void cache_start(gw *g)
{
    size_t max_bytes = (size_t)g->cfg->cache_bytes;
    g->cache =
        gw_cache_new((size_t)g->cfg->cache_entries, max_bytes,
                     CACHE_MAX_BODY < max_bytes ? CACHE_MAX_BODY : max_bytes, g->cfg->cache_ttl);
    if (!g->p.metrics)
        return;
    metrics_gauge_fn(g->p.metrics, "confetti_gateway_cache_hits_total",
                     "Requests answered from the response cache.", cache_hits, g->cache);
    metrics_gauge_fn(g->p.metrics, "confetti_gateway_cache_misses_total",
                     "Cacheable requests that went to the service.", cache_misses, g->cache);
    metrics_gauge_fn(g->p.metrics, "confetti_gateway_cache_entries",
                     "Answers in the response cache now.", cache_entries, g->cache);
    metrics_gauge_fn(g->p.metrics, "confetti_gateway_cache_bytes",
                     "Bytes the response cache holds now (answers, keys, bookkeeping); at most "
                     "cache.max_bytes.",
                     cache_bytes, g->cache);
    metrics_gauge_fn(g->p.metrics, "confetti_gateway_cache_evictions_total",
                     "Answers dropped from the response cache for its entry or byte budget.",
                     cache_evictions, g->cache);
    metrics_gauge_fn(g->p.metrics, "confetti_gateway_cache_expired_total",
                     "Answers freed from the response cache expired or invalidated.", cache_expired,
                     g->cache);
}

static double feed_ring_bytes(void *arg)
{
    return (double)gw_feed_ring_bytes(arg);
}

/* ---------------------------------------------------------------- lifetime */

cf_code gw_start(gw *g, char *err, size_t errlen)
{
    /* first health probe before taking traffic (absence tolerated); the revocation list is the
     * service runtime's (common/svc/revocations.h: auth.jwks_urls, auth.events) */
    check_backends(g);
    if (*g->cfg->events_subscribe) {
        if (g->cfg->cache_ttl > 0)
            cache_start(g);
        gw_feed_config fc = {
            .bus = g->cfg->events_subscribe,
            .replay_urls = {&g->cfg->rooms_urls, &g->cfg->draw_urls},
            .replay = {backend_client(g, "rooms.v1."), backend_client(g, "draw.v1.")},
            .ring = (size_t)g->cfg->ws_ring,
            .ring_bytes = (size_t)g->cfg->ws_ring_bytes,
            .resume_max = (size_t)g->cfg->ws_send_queue,
            .check_ms = g->cfg->ws_recheck_timeout,
            .on_event = on_feed_event,
            .on_event_arg = g,
            .ident = g->p.ident};
        char why[256];
        if (gw_feed_start(&fc, &g->feed, why, sizeof why) != CF_OK) {
            snprintf(err, errlen, "events.subscribe: %s", why);
            return CF_INVALID_ARGUMENT;
        }
        if (g->p.metrics)
            metrics_gauge_fn(g->p.metrics, "confetti_ws_ring_bytes",
                             "Bytes of the recent events the WebSocket feed keeps for resumes "
                             "(at most ws.ring_bytes per source).",
                             feed_ring_bytes, g->feed);
    }
    gw_ws_config wc = {.ping_ms = g->cfg->ws_ping_interval,
                       .auth_ms = g->cfg->ws_auth_timeout,
                       .send_queue = (size_t)g->cfg->ws_send_queue,
                       .max_conns = (size_t)g->cfg->ws_max_conns,
                       .max_message = (size_t)g->cfg->ws_max_message,
                       .verifier = g->p.verifier,
                       .rooms = backend_client(g, "rooms.v1."),
                       .feed = g->feed,
                       .stats = g->p.ws_stats};
    g->ws = gw_ws_new(&wc);
    pthread_mutex_lock(&g->notice_mu);
    g->notice_ws = g->ws;
    pthread_mutex_unlock(&g->notice_mu);
    gw_http_config hc = {.url = g->cfg->http_listen,
                         .max_body = (size_t)g->cfg->max_body,
                         .max_drain = (size_t)g->cfg->max_drain,
                         .max_uri = (size_t)g->cfg->max_uri,
                         .max_header = (size_t)g->cfg->max_header,
                         .body_timeout_ms = (int)g->cfg->body_timeout,
                         .header_timeout_ms = (int)g->cfg->header_timeout,
                         .idle_timeout_ms = (int)g->cfg->idle_timeout,
                         .max_conns = (unsigned)g->cfg->max_conns,
                         .max_conns_peer = (unsigned)g->cfg->max_conns_peer,
                         .threads = (unsigned)g->cfg->threads,
                         .release_upgrade_pool = g->cfg->ws_release_upgrade_buffer,
                         .fn = handle,
                         .arg = g,
                         .stats = g->p.http_stats};
    cf_code c = gw_http_start(&hc, &g->http, err, errlen);
    if (c != CF_OK)
        return c;
    pthread_create(&g->monitor, NULL, monitor, g);
    g->monitor_started = true;
    log_info("serving http on %s (%zu routes)", g->cfg->http_listen, g->router.n);
    return CF_OK;
}

int gw_port(gw *g)
{
    return g->http ? gw_http_port(g->http) : -1;
}

bool gw_ready(gw *g)
{
    return atomic_load(&g->ready) && !atomic_load(&g->draining);
}

void gw_drain(gw *g)
{
    if (g->drained)
        return;
    g->drained = true;
    atomic_store(&g->draining, true); /* /readyz red: the balancer stops sending */
    if (g->ws) /* 1001 to every feed client, while the HTTP requests in flight finish */
        gw_ws_shutdown(g->ws, g->cfg->drain_timeout < 2000 ? g->cfg->drain_timeout : 2000);
    if (!g->http)
        return;
    /* 1. lame duck (http.drain_delay): still accepting, while the balancer learns from /readyz
     * (or Kubernetes from the pod's deletion) not to send here; each answer closes its
     * connection, so keep-alive clients reconnect to a gateway that stays */
    gw_http_close_after_answer(g->http);
    struct timespec ts = {(time_t)(g->cfg->drain_delay / 1000),
                          (long)(g->cfg->drain_delay % 1000) * 1000000};
    if (g->cfg->drain_delay > 0)
        nanosleep(&ts, NULL);
    /* 2. new connections refused; every request already begun on an open one (its first line
     * read, or in the application, or its answer on the way out) is finished, within
     * http.drain_timeout */
    gw_http_quiesce(g->http);
    int64_t end = cf_mono_ns() + g->cfg->drain_timeout * 1000000;
    while ((atomic_load(&g->inflight) > 0 || gw_http_busy(g->http) > 0) && cf_mono_ns() < end) {
        struct timespec tick = {0, 5000000};
        nanosleep(&tick, NULL);
    }
    /* 3. the gate: a kept-alive connection may begin a request after the check above; from
     * here such a request is answered 503 "shutting down" at once, and what got in before is
     * waited for (it cannot be suspended at the stop: libmicrohttpd panics on that — the
     * rehearsal's gateway aborted so, 2026-12-07) */
    gw_http_close_gate(g->http);
    int64_t gate_end = cf_mono_ns() + 2000000000LL; /* past drain_timeout too: RPC deadlines */
    if (gate_end < end)
        gate_end = end;
    while ((atomic_load(&g->inflight) > 0 || gw_http_busy(g->http) > 0) &&
           cf_mono_ns() < gate_end) {
        struct timespec tick = {0, 5000000};
        nanosleep(&tick, NULL);
    }
    if (atomic_load(&g->inflight) > 0 || gw_http_busy(g->http) > 0)
        log_warn("drain: %d requests in flight, %zu connections within a request after %lld ms",
                 atomic_load(&g->inflight), gw_http_busy(g->http),
                 (long long)g->cfg->drain_timeout);
    /* 4. only idle keep-alive connections are left: closed with the server */
    gw_http_stop(g->http);
    g->http = NULL;
}

void gw_free(gw *g)
{
    if (!g)
        return;
    gw_drain(g);
    pthread_mutex_lock(&g->notice_mu);
    g->notice_ws = NULL;
    pthread_mutex_unlock(&g->notice_mu);
    gw_ws_free(g->ws); /* every connection gone: nothing is subscribed to the feed any more */
    gw_feed_stop(g->feed);
    if (g->monitor_started) {
        pthread_mutex_lock(&g->mu);
        g->stop = true;
        pthread_cond_signal(&g->cv);
        pthread_mutex_unlock(&g->mu);
        pthread_join(g->monitor, NULL);
    }
    /* RPC completions still pending (drain timed out) finish against closed clients */
    for (size_t i = 0; i < g->nb; i++)
        rpc_client_free(g->b[i].client);
    gw_cache_free(g->cache); /* after the last completion and the last invalidation */
    gw_router_free(&g->router);
    gw_ratelimit_free(g->rl);
    gw_proxies_free(g->proxies);
    pthread_mutex_destroy(&g->mu);
    pthread_mutex_destroy(&g->notice_mu);
    pthread_cond_destroy(&g->cv);
    free(g);
}
