/* rpc.h — what an RPC handler sees: the call context and the RPC_HANDLER macro.
 *
 * A handler is one function per method, written with RPC_HANDLER(rpc_<service>_<method>); the
 * dispatcher (dispatch.c) has already bounded and decoded the request, verified the caller's
 * token, fixed the request id and deadline, and allocated the response. The handler fills
 * `resp` and returns a status code; on an error it explains with rpc_error() and, for
 * field-level problems, rpc_violation(). Everything allocated with rpc_alloc()/the call's
 * arena is released after the reply is sent: handlers never free.
 *
 *     RPC_HANDLER(rpc_rooms_get_room)
 *     {
 *         if (!*req->room_id)
 *             return rpc_violation(call, "roomId", "must not be empty");
 *         ...
 *         resp->name = rpc_strdup(call, PQgetvalue(r, 0, 1));
 *         return CF_OK;
 *     }
 */
#ifndef CONFETTI_RPC_RPC_H
#define CONFETTI_RPC_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

#include "base/arena.h"
#include "base/status.h"
#include "authn/authn.h"

typedef struct rpc_call rpc_call;

/* Metadata pair as carried in the envelope. Keys are case-insensitive: the dispatcher
 * lower-cases received keys before anything reads them. Borrowed from the call. */
typedef struct rpc_md {
    const char *key, *value;
} rpc_md;

/* --- reading the call context (all borrowed; valid until the handler returns) --- */

/* Full method name, "rooms.v1.Rooms/GetRoom". */
const char *rpc_method(const rpc_call *call);
/* The request id: the caller's x-request-id if it sent a sane one, else a new CUID. */
const char *rpc_request_id(const rpc_call *call);
/* Value of metadata key (matched case-insensitively), or NULL. */
const char *rpc_md_get(const rpc_call *call, const char *key);
/* The verified caller, or NULL when the call carried no token. Never an unverified identity. */
const authn_identity *rpc_caller(const rpc_call *call);
/* The verified calling service ("gateway": its service token checked, common/rpc/ident.h),
 * or NULL when the caller presented none. Never an unverified name. */
const char *rpc_caller_service(const rpc_call *call);
/* Milliseconds left before the caller's deadline; INT64_MAX when it gave none; <= 0 past it. */
int64_t rpc_remaining_ms(const rpc_call *call);
bool rpc_expired(const rpc_call *call);
/* Per-worker state made by the server's worker_init (for services: the db connection). */
void *rpc_worker(const rpc_call *call);
/* The context pointer registered with the service (rpc_server_add_service). */
void *rpc_service_ctx(const rpc_call *call);
/* The call's arena: allocations live until the reply has been sent. */
arena *rpc_arena(rpc_call *call);
void *rpc_alloc(rpc_call *call, size_t n);
char *rpc_strdup(rpc_call *call, const char *s);
char *rpc_printf(rpc_call *call, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* --- answering --- */

/* Sets the status message (printf) and returns code, so handlers can `return rpc_error(...)`.
 * For CF_INTERNAL the message is logged with the request id and the caller only sees
 * "internal error". */
cf_code rpc_error(rpc_call *call, cf_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Adds a field violation (JSON path, description) and returns CF_INVALID_ARGUMENT; the message
 * defaults to "invalid <field>: <description>" for the first one. */
cf_code rpc_violation(rpc_call *call, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A refusal that says what was wrong (issue 21 item 5): sets the message (printf) and adds one
 * detail {field, description = the message}, and returns code. `field` names the request field
 * at fault ("version", "count") or, when no field is, the rule or state that refuses
 * ("room.status", "app.inUse"). Every FAILED_PRECONDITION and INVALID_ARGUMENT a handler returns
 * goes through this or rpc_violation(); tools/check_refusals.sh (ctest check_refusals) fails on
 * an rpc_error() with either code, and rpc_error() logs a warning if one is left bare. */
cf_code rpc_refuse(rpc_call *call, cf_code code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Says when the refused call may succeed (RESOURCE_EXHAUSTED from a throttle, UNAVAILABLE):
 * the reply's retry_after_s, which the gateway answers as Retry-After. Returns code, so
 * handlers can `return rpc_retry_after(call, rpc_error(...), seconds)`. */
cf_code rpc_retry_after(rpc_call *call, cf_code code, int64_t seconds);
/* Passes on another service's refusal cc (its code, "prefix: message" and its details; a
 * refusal without details gets one {field, its message}). Returns cc's code. */
struct rpc_ccall;
cf_code rpc_relay(rpc_call *call, const struct rpc_ccall *cc, const char *prefix,
                  const char *field);
/* Requires a verified caller: CF_OK, or CF_UNAUTHENTICATED with a message. */
cf_code rpc_require_caller(rpc_call *call);

/* --- idempotency: one rule for every creating method (idem.c; docs/rpc.md) ---
 * A creating handler claims the key with svc_idem_begin() (common/svc/idem.h: it reads the key
 * with rpc_idempotency_key() and refuses a key still in flight), stores it with the request's
 * rpc_idempotency_fingerprint() next to what it created, and on a known key answers the first
 * result when rpc_idempotency_matches(), rpc_idempotency_reused() when not. */
#define RPC_IDEMPOTENCY_KEY_MAX 128 /* bytes */
#define RPC_FINGERPRINT_HEX     64  /* hex characters of a SHA-256 */
/* 1..RPC_IDEMPOTENCY_KEY_MAX printable ASCII characters, no spaces. */
bool rpc_idempotency_key_ok(const char *key);
/* The call's idempotency-key metadata into *key (NULL when absent); INVALID_ARGUMENT naming
 * `idempotency-key` when it is malformed. */
cf_code rpc_idempotency_key(rpc_call *call, const char **key);
/* The request's fingerprint: SHA-256 of its canonical encoding, lower-case hex, in the call's
 * arena. */
char *rpc_idempotency_fingerprint(rpc_call *call, const ProtobufCMessage *req);
/* The refusal of a key already used for a different request: INVALID_ARGUMENT naming
 * `idempotency-key`. */
cf_code rpc_idempotency_reused(rpc_call *call);
/* Whether a request with fingerprint fp is the one that first used the key, whose stored
 * fingerprint is first: equal, or first NULL/"" (a row stored before fingerprints were kept,
 * replayed as it always was). */
bool rpc_idempotency_matches(const char *first, const char *fp);

/* --- for the dispatcher and the macro below; not for handlers --- */
void *rpc_call_response(rpc_call *call);
void rpc_call_set_code(rpc_call *call, cf_code code);

/* RPC_HANDLER(rpc_<svc>_<method>) { ... } defines the function protobuf-c's generated service
 * table expects (its prototype comes from the generated <lib>_handlers.h, so a method added to
 * a .proto without its handler fails the link) and opens the body of
 *     static cf_code body(rpc_call *call, const In *req, Out *resp). */
#define RPC_HANDLER(fn)        RPC_HANDLER_X(fn, RPC_SIG_##fn)
#define RPC_HANDLER_X(fn, sig) RPC_HANDLER_(fn, sig)
#define RPC_HANDLER_(fn, Svc, In, Out)                                                             \
    static cf_code fn##_body(rpc_call *call, const In *req, Out *resp);                            \
    void fn(Svc *service, const In *input, Out##_Closure closure, void *closure_data)              \
    {                                                                                              \
        (void)service;                                                                             \
        rpc_call *call_ = closure_data;                                                            \
        Out *resp_ = rpc_call_response(call_);                                                     \
        rpc_call_set_code(call_, fn##_body(call_, input, resp_));                                  \
        closure(resp_, closure_data);                                                              \
    }                                                                                              \
    static cf_code fn##_body(rpc_call *call, const In *req, Out *resp)

#endif
