/* call.h — the server-side call context (private to common/rpc). */
#ifndef CONFETTI_RPC_CALL_H
#define CONFETTI_RPC_CALL_H

#include "rpc.h"
#include "rpc/v1/envelope.pb-c.h"

struct rpc_call {
    arena arena;
    const char *method;
    const char *request_id;
    const Rpc__V1__Request *req;
    int64_t deadline_ns; /* monotonic; 0 = none */
    authn_identity caller;
    bool has_caller;
    const char *service; /* the verified calling service (ident.h), NULL = none */
    void *worker;
    void *service_ctx;
    ProtobufCMessage *response;
    cf_code code;
    bool responded;
    const char *message;
    Rpc__V1__FieldViolation **details;
    size_t ndetails, details_cap;
    uint32_t retry_after_s; /* rpc_retry_after(); 0 = not said */
};

#endif
