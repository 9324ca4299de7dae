/* dispatch.h — the one place every cross-cutting step of a call happens (private to
 * common/rpc): bound, decode the envelope, deadline, request id, method lookup through the
 * generated service descriptors, caller verification, decode, invoke, encode, metrics, log. */
#ifndef CONFETTI_RPC_DISPATCH_H
#define CONFETTI_RPC_DISPATCH_H

#include <stdint.h>
#include <nng/nng.h>

#include "base/arena.h"
#include "authn/authn.h"
#include "admin/metrics.h"
#include "rpc/scope.h"
#include "ident.h"

#define RPC_MAX_SERVICES 8

typedef struct rpc_service_entry {
    ProtobufCService *service;
    void *ctx;
    metrics_method **mm;           /* per method index; NULL when metrics are off */
    const rpc_scope_table *scopes; /* what app tokens may call; NULL = nothing */
} rpc_service_entry;

typedef struct rpc_dispatcher {
    rpc_service_entry services[RPC_MAX_SERVICES];
    size_t nservices;
    size_t max_message;
    authn_verifier *verifier;
    metrics *metrics;
    rpc_ident *ident;            /* NULL = no service identity policy (test servers) */
    bool (*key_miss)(void *arg); /* see rpc_server_config */
    void *key_miss_arg;
    void (*call_deadline)(void *state, int64_t deadline_ns); /* see rpc_server_config */
} rpc_dispatcher;

/* Adds a service (before serving). */
void rpc_dispatcher_add(rpc_dispatcher *d, ProtobufCService *service, void *ctx);
void rpc_dispatcher_fini(rpc_dispatcher *d);

/* Handles one request: data/len are the received bytes, recv_ns when they arrived (monotonic).
 * Appends the encoded reply envelope to `reply` (an empty nng message). `a` is the worker's
 * arena, reset by the caller afterwards. Never fails: every problem becomes a status. */
void rpc_dispatch(rpc_dispatcher *d, const uint8_t *data, size_t len, int64_t recv_ns, void *worker,
                  arena *a, nng_msg *reply);

/* Encodes a reply envelope carrying only a status (used where no call context exists). */
void rpc_reply_status(nng_msg *reply, cf_code code, const char *message);

#endif
