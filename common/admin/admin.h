/* admin.h — the admin HTTP port every process serves for Kubernetes and Prometheus, on nng's
 * supplemental HTTP server:
 *   GET /healthz  200 "ok" while the process is alive
 *   GET /readyz   200 "ready" when cfg.ready says so and the server is not draining,
 *                 503 "not ready" otherwise
 *   GET /metrics  200, Content-Type "text/plain; version=0.0.4; charset=utf-8", metrics_render
 * HEAD works wherever GET does; another method on those paths gets 405 (with Allow), any other
 * path 404. A query string is ignored.
 *
 * Lifetime: admin_start → admin_set_draining (any thread) → admin_stop. The admin URL must be
 * a port of its own: nng shares one server per host:port inside a process. */
#ifndef CONFETTI_ADMIN_ADMIN_H
#define CONFETTI_ADMIN_ADMIN_H

#include <stdbool.h>
#include <stddef.h>

#include "admin/metrics.h"
#include "base/status.h"

typedef struct admin_server admin_server;

typedef struct admin_config {
    /* "http://0.0.0.0:9464" (all interfaces, what kubelet probes need) or a loopback address;
     * port 0 binds a free port (see admin_port). */
    const char *url;
    /* Borrowed; may be NULL (then /metrics serves an empty page). Must outlive admin_stop. */
    metrics *metrics;
    /* /readyz asks this on every probe, on one of nng's I/O threads, so it must be a cheap flag
     * read (an atomic load): never block, never lock for long, never touch the database. NULL
     * means "ready" (only draining turns /readyz red). ready_arg is borrowed and must outlive
     * admin_stop. */
    bool (*ready)(void *arg);
    void *ready_arg;
} admin_config;

/* Binds cfg->url and starts serving. On success *out owns the server (free with admin_stop).
 * Errors: CF_INVALID_ARGUMENT for a URL that is not http://host:port, CF_UNAVAILABLE when the
 * address cannot be bound (in use, not local); err gets a one-line reason. Blocks only for the
 * bind. */
cf_code admin_start(const admin_config *cfg, admin_server **out, char *err, size_t errlen);

/* The TCP port actually bound (the free port nng picked when the URL said port 0). */
int admin_port(admin_server *s);

/* While draining is true, /readyz answers 503 whatever cfg.ready says, so Kubernetes stops
 * routing before the process shuts down. Thread-safe, wait-free. */
void admin_set_draining(admin_server *s, bool draining);

/* Stops serving, closes open admin connections and frees the server; NULL is a no-op. Waits
 * until no request handler is still running, so cfg.metrics and cfg.ready_arg may be freed
 * once it returns. Must not be called from an nng callback. */
void admin_stop(admin_server *s);

#endif
