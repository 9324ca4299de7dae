/* server.h — an RPC server: one nng rep socket, served by a pool of worker threads, each with
 * its own nng context and its own per-worker state (a service's database connection).
 *
 * Lifetime: rpc_server_new → rpc_server_add_service* → rpc_server_start → (serving) →
 * rpc_server_drain → rpc_server_free. Handlers run on the worker threads and may block (libpq):
 * no handler ever runs inside an nng callback. */
#ifndef CONFETTI_RPC_SERVER_H
#define CONFETTI_RPC_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

#include "base/status.h"
#include "authn/authn.h"
#include "admin/metrics.h"
#include "rpc/scope.h"
#include "ident.h"

#define RPC_DEFAULT_MAX_MESSAGE (4u << 20)

typedef struct rpc_server rpc_server;

typedef struct rpc_server_config {
    const char *const *listen; /* nng URLs: "tcp://0.0.0.0:7101", "ipc:///tmp/x.sock" */
    size_t nlisten;
    int workers;              /* threads (and contexts); 0 = 2 × cores */
    size_t max_message;       /* bytes of request or response payload; 0 = 4 MiB */
    authn_verifier *verifier; /* borrowed; NULL = tokens cannot be verified (UNAUTHENTICATED) */
    metrics *metrics;         /* borrowed; may be NULL */
    rpc_ident *ident;         /* borrowed; NULL = no service identity policy (ident.h) */
    /* Per-worker state: called on each worker thread before it serves; the result is what
     * rpc_worker() returns to handlers on that thread. NULL init = no state. A worker whose
     * init returns NULL still serves (handlers must cope, e.g. answer UNAVAILABLE). */
    void *(*worker_init)(void *arg, int index);
    void (*worker_fini)(void *arg, void *state);
    void *worker_arg;
    /* Optional: called on the worker thread just before a call's handler runs, with the worker's
     * state and the call's deadline (monotonic ns, cf_mono_ns; 0 = none), and once more with 0
     * after it returned. svc bounds the worker's database connection by it, so a database that
     * stopped answering holds a worker no longer than its caller waits. Must not block. */
    void (*call_deadline)(void *state, int64_t deadline_ns);
    /* Optional: called on a worker when a token names a kid the key set does not have; returns
     * true if it refreshed the key set (then the token is verified once more). May block
     * briefly (an RPC to the issuer); must rate-limit itself. */
    bool (*key_miss)(void *arg);
    void *key_miss_arg;
    /* Optional: health.v1.Health/Check answers SERVING only when this returns true. Called
     * on a worker thread; should be cheap. */
    bool (*ready)(void *arg);
    void *ready_arg;
} rpc_server_config;

/* Creates a server (no sockets yet). The config is copied; its pointers are borrowed. */
cf_code rpc_server_new(const rpc_server_config *cfg, rpc_server **out);

/* Registers a service bound with its generated INIT macro, and the context its handlers get
 * from rpc_service_ctx(). Both borrowed; call before start. health.v1.Health is built in. */
void rpc_server_add_service(rpc_server *s, ProtobufCService *service, void *ctx);

/* Declares what app tokens may call on a service added before (t->service names it): see
 * rpc/scope.h. Without it, a service refuses every app token. t is borrowed (static data).
 * INVALID_ARGUMENT, with the reason logged, if the table is unsound or its service was not
 * added. Call before start. */
cf_code rpc_server_set_scopes(rpc_server *s, const rpc_scope_table *t);

/* Listens on every URL and starts the workers. On failure writes a reason into err. */
cf_code rpc_server_start(rpc_server *s, char *err, size_t errlen);

/* Graceful stop: takes no new calls, lets every call in flight finish and send its reply, then
 * closes the socket (requests still queued are resent by nng clients to another replica).
 * Blocks until done. Safe to call once; rpc_server_free calls it if needed. */
void rpc_server_drain(rpc_server *s);

void rpc_server_free(rpc_server *s);

/* Calls currently being handled (for tests and the in-flight gauge). */
int rpc_server_inflight(const rpc_server *s);

#endif
