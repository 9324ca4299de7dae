/* http.h — the thin wrapper over nng's supplemental HTTP server that the gateway uses: one
 * handler for the whole tree at "/", every method; the request body read by us (not by nng) so
 * that an oversized one gets a proper 413 and a slow one a 408 instead of nng's HTML pages;
 * responses finished from any thread (an RPC completion), never blocking one. Keep-alive is
 * nng's (HTTP/1.1 persistent unless "Connection: close"; HTTP/1.0 closes).
 *
 * Lifetime: gw_http_start → handler calls (nng threads) → gw_http_stop. */
#ifndef CONFETTI_GATEWAY_HTTP_H
#define CONFETTI_GATEWAY_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <nng/nng.h>
#include <nng/supplemental/http/http.h>

#include "base/status.h"

typedef struct gw_http gw_http;

/* One request being handled. Fields are read-only for the handler. */
typedef struct gw_http_req {
    nng_aio *aio; /* the server's handler aio: finished by gw_http_respond */
    nng_http_req *req;
    nng_http_conn *conn;
    gw_http *server;
    const char *method;
    const char *uri; /* raw request target: path and query, still percent-encoded */
    char *body;      /* NUL-terminated (owned; NULL when there is none) */
    size_t body_len;
    /* Non-zero when the wrapper already knows the answer: 413 (body over the limit),
     * 411 (chunked body), 400 (bad Content-Length), 408 (body not received in time). The
     * handler still answers, so the response carries the gateway's error shape. */
    int early_status;
    int64_t start_ns;
    nng_aio *rxaio;
    void *user; /* the handler's per-request state */
} gw_http_req;

/* Called once per request, on an nng thread: must not block; must eventually call
 * gw_http_respond exactly once (from any thread). */
typedef void (*gw_http_fn)(gw_http_req *r, void *arg);

typedef struct gw_http_config {
    const char *url; /* "http://127.0.0.1:8080" (port 0 = any free port) */
    size_t max_body;
    int body_timeout_ms;
    gw_http_fn fn;
    void *arg;
} gw_http_config;

/* Binds and serves. On failure err says why (CF_UNAVAILABLE: cannot bind; CF_INVALID_ARGUMENT:
 * bad URL). */
cf_code gw_http_start(const gw_http_config *cfg, gw_http **out, char *err, size_t errlen);
int gw_http_port(gw_http *h);
/* Stops listening and closes every connection (nng's stop is a hard stop: drain first). */
void gw_http_stop(gw_http *h);

/* A request header (case-insensitive name) or NULL. */
const char *gw_http_header(const gw_http_req *r, const char *name);

/* Answers r: status, headers as NULL-terminated name/value pairs, body (copied). close adds
 * "Connection: close". Frees r. Any thread; never blocks. */
void gw_http_respond(gw_http_req *r, int status, const char *const *headers, const char *body,
                     size_t len, bool close);

/* Takes the connection over from nng's HTTP server (nng_http_hijack, for the WebSocket
 * upgrade): the handler is finished without a response and r is freed. The caller owns the
 * returned connection (nng_http_conn_close) and *req (nng_http_req_free); it writes any answer
 * itself. Any thread; never blocks. */
nng_http_conn *gw_http_take(gw_http_req *r, nng_http_req **req);

#endif
