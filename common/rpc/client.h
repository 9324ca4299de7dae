/* client.h — RPC client: typed calls through protobuf-c's generated stubs.
 *
 * An rpc_client is one nng req socket dialing every address of every endpoint of one service
 * (calls spread round-robin over the live connections; nng reconnects by itself).
 * rpc_client_service() gives the ProtobufCService the generated stubs take; its invoke does the
 * round trip on a fresh nng context per call (so any number of threads may call at once). Per-call
 * options and results travel in an rpc_ccall passed as the stub's closure_data; pass NULL as the
 * closure:
 *
 *     rpc_ccall cc;
 *     rpc_ccall_init(&cc, parent_call_or_NULL);
 *     rpc_ccall_md(&cc, "authorization", bearer);
 *     catalog__v1__catalog__get_app(rpc_client_service(cli, &catalog__v1__catalog__descriptor),
 *                                   &req, NULL, &cc);
 *     if (cc.code == CF_OK) use((const Catalog__V1__App *)cc.response);
 *     rpc_ccall_free(&cc);   // releases the response
 *
 * Every URL is dialed through resolve.h: a host name is resolved to all its addresses (a
 * Kubernetes headless Service: one per ready pod), each is dialed, and the set is kept current
 * (rpc.resolve_interval), so replicas added later get calls and removed ones stop getting them.
 *
 * Resends: nng's req resends a request on a timer (60 s by default) and when its connection
 * dies. The timer is set past the deadline here (one try per call, bounded by the deadline), so
 * a call is sent again only when the connection carrying it closed before the reply: a
 * draining replica's queued calls move to another replica and do not fail. A resend after a
 * crash can run a request twice on different replicas, which is why mutating methods take an
 * idempotency key (docs/architecture.md, "Retries and idempotency"). */
#ifndef CONFETTI_RPC_CLIENT_H
#define CONFETTI_RPC_CLIENT_H

#include <stddef.h>
#include <protobuf-c/protobuf-c.h>

#include "base/arena.h"
#include "base/status.h"
#include "rpc.h"
#include "ident.h"
#include "rpc/v1/envelope.pb-c.h"

typedef struct rpc_client rpc_client;

typedef struct rpc_client_config {
    const char *const *urls; /* every endpoint of the service */
    size_t nurls;
    size_t max_message; /* 0 = 4 MiB */
    int timeout_ms;     /* default per-call deadline; 0 = 5000 */
    rpc_ident *ident;   /* borrowed: signs every call (ident.h); NULL = calls carry no identity */
} rpc_client_config;

cf_code rpc_client_new(const rpc_client_config *cfg, rpc_client **out, char *err, size_t errlen);
/* The largest request payload this client sends (rpc_client_config.max_message, 4 MiB when 0):
 * a caller checks a message against it to refuse with its own answer (the gateway's 413). */
size_t rpc_client_max_message(const rpc_client *c);
void rpc_client_free(rpc_client *c);

/* The service view the generated stubs take. Borrowed from the client (lives as long as it);
 * any number of descriptors may be used on one client. */
ProtobufCService *rpc_client_service(rpc_client *c, const ProtobufCServiceDescriptor *d);

#define RPC_CCALL_MAX_MD 16

/* One client call: options in, results out. */
typedef struct rpc_ccall {
    /* in */
    int timeout_ms;         /* 0 = the client's default, capped by the parent's remaining */
    const rpc_call *parent; /* a server call being handled: its deadline and request id
                               propagate (SPEC §4) */
    rpc_md md[RPC_CCALL_MAX_MD];
    size_t nmd;
    /* out */
    cf_code code;
    const char *message; /* never NULL after a call */
    Rpc__V1__FieldViolation **details;
    size_t ndetails;
    uint32_t retry_after_s;     /* a refusal's "retry after this many seconds"; 0 = not said */
    ProtobufCMessage *response; /* on CF_OK; owned by the ccall */
    const char *request_id;     /* the id the callee answered with (its logs name the call by
                                   it); "" when no reply arrived */
    arena arena;
} rpc_ccall;

void rpc_ccall_init(rpc_ccall *cc, const rpc_call *parent);
/* Adds a metadata pair (strings borrowed: keep them alive until the call returns). */
void rpc_ccall_md(rpc_ccall *cc, const char *key, const char *value);
/* Releases the response and everything the call allocated. */
void rpc_ccall_free(rpc_ccall *cc);

/* The generic call underneath the stubs (the CLI and the gateway use it with descriptors found
 * by name). Blocks the calling thread until the reply or the deadline. Result in cc. */
void rpc_client_invoke(rpc_client *c, const ProtobufCServiceDescriptor *d, unsigned method_index,
                       const ProtobufCMessage *input, rpc_ccall *cc);

/* Completion of an asynchronous call: runs once, on an nng thread (so it must not block), with
 * the result in cc. */
typedef void (*rpc_done_fn)(rpc_ccall *cc, void *arg);

/* The same call without blocking the caller (the gateway finishes an HTTP request from here).
 * `done` runs exactly once — synchronously if the call cannot start (e.g. too big). cc must
 * stay valid until then; input only until this returns (it is encoded at once). */
void rpc_client_invoke_async(rpc_client *c, const ProtobufCServiceDescriptor *d,
                             unsigned method_index, const ProtobufCMessage *input, rpc_ccall *cc,
                             rpc_done_fn done, void *arg);

#endif
