/* metrics.h — lock-free counters and latency histograms for RPC methods, rendered as Prometheus
 * text (exposition format 0.0.4) for the admin port's /metrics.
 *
 * Lifetime: metrics_new → metrics_method_get / metrics_gauge_fn (start-up, one thread) →
 * metrics_observe / metrics_inflight_add / metrics_render (any thread, concurrently) →
 * metrics_free (after every user has stopped).
 *
 * Series (every one carries service="<service>"):
 *   confetti_rpc_requests_total{method,code}            counter, code as its name ("NOT_FOUND");
 *                                                        only series that are non-zero
 *   confetti_rpc_request_duration_seconds{method,le}    histogram, 50 µs … 10 s, +Inf
 *   confetti_rpc_inflight                               gauge
 *   confetti_process_start_time_seconds                 gauge (wall clock at metrics_new)
 *   <name>                                              each metrics_gauge_fn callback */
#ifndef CONFETTI_ADMIN_METRICS_H
#define CONFETTI_ADMIN_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct metrics metrics;
/* One per full method name; borrowed from the registry, valid until metrics_free. */
typedef struct metrics_method metrics_method;

/* Methods registered beyond this many share the "other" slot: the registry's memory is bounded
 * whatever callers pass in. */
#define METRICS_MAX_METHODS 256
/* Extra gauges beyond this many are ignored (logged). */
#define METRICS_MAX_GAUGES 64

/* Creates a registry for one service (e.g. "rooms"; becomes the service label, copied).
 * Never fails (allocation failure aborts). Free with metrics_free. */
metrics *metrics_new(const char *service);

/* Frees the registry and every metrics_method it handed out; NULL is a no-op. No thread may
 * still observe or render. */
void metrics_free(metrics *m);

/* Registers full_method ("rooms.v1.Rooms/GetRoom", copied) or finds it if already registered;
 * returns a borrowed slot. Call at start-up: registrations must not race each other, but may
 * race observe and render. Past METRICS_MAX_METHODS distinct names it returns
 * metrics_other(m). Not for names read off the wire: use metrics_other for unknown methods. */
metrics_method *metrics_method_get(metrics *m, const char *full_method);

/* The single slot (method="other") for calls whose method is unknown, so hostile method names
 * cannot grow memory or the exposition. Borrowed. */
metrics_method *metrics_other(metrics *m);

/* Records one finished call: its status code (0..16, base/status.h; anything else counts as
 * UNKNOWN) and its latency in ns (negative counts as 0). Thread-safe, wait-free (relaxed C11
 * atomics), never allocates, never blocks. */
void metrics_observe(metrics_method *mm, int code, int64_t latency_ns);

/* Adds delta (+1 when a call starts, -1 when it ends) to the in-flight gauge. Wait-free. */
void metrics_inflight_add(metrics *m, int delta);

/* Registers an extra gauge, rendered as `name{service="..."} fn(arg)` with its HELP line; a
 * name ending in `_total` is typed as a counter (fn must then never go down).
 * name must be a valid Prometheus metric name (asserted: it is a programmer's constant); name
 * and help are copied, arg is borrowed. fn runs inside metrics_render, on the admin server's
 * nng thread: it must be cheap and must not block (read an atomic, do not query the database).
 * Start-up only, like metrics_method_get. */
void metrics_gauge_fn(metrics *m, const char *name, const char *help, double (*fn)(void *),
                      void *arg);
/* metrics_gauge_fn with one more label: `name{service="...",label="value"}` (value copied and
 * escaped; label a valid name). Register the series of one name one after the other: they
 * share the HELP and TYPE lines of the first. */
void metrics_gauge_fn_labeled(metrics *m, const char *name, const char *label, const char *value,
                              const char *help, double (*fn)(void *), void *arg);

/* Renders every series as Prometheus text format 0.0.4 into a new xmalloc'd, NUL-terminated
 * string the caller frees; its length goes to *len_out when len_out is not NULL. Safe
 * concurrently with observe and registration. Each histogram is self-consistent (cumulative
 * buckets, +Inf == _count) even while observations land. Calls the gauge callbacks. */
char *metrics_render(metrics *m, size_t *len_out);

#endif
