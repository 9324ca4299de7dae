/* dispatch.c — one generic path for every RPC (the processCommand() of Confetti). */
#include "dispatch.h"
#include "call.h"
#include "base/clock.h"
#include "base/cuid.h"
#include "base/log.h"
#include "base/pbwire.h"
#include "base/xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void rpc_dispatcher_add(rpc_dispatcher *d, ProtobufCService *service, void *ctx)
{
    if (d->nservices == RPC_MAX_SERVICES) {
        log_error("too many services on one server");
        return;
    }
    rpc_service_entry *e = &d->services[d->nservices++];
    e->service = service;
    e->ctx = ctx;
    e->mm = NULL;
    if (d->metrics) {
        const ProtobufCServiceDescriptor *sd = service->descriptor;
        e->mm = xcalloc(sd->n_methods, sizeof *e->mm);
        for (unsigned i = 0; i < sd->n_methods; i++) {
            char name[256];
            snprintf(name, sizeof name, "%s/%s", sd->name, sd->methods[i].name);
            e->mm[i] = metrics_method_get(d->metrics, name);
        }
    }
}

void rpc_dispatcher_fini(rpc_dispatcher *d)
{
    for (size_t i = 0; i < d->nservices; i++)
        free(d->services[i].mm);
    d->nservices = 0;
}

static void append_packed(nng_msg *msg, const ProtobufCMessage *m)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    size_t at = nng_msg_len(msg);
    if (nng_msg_realloc(msg, at + n) != 0)
        abort(); /* allocation failure: same policy as xmalloc */
    protobuf_c_message_pack(m, (uint8_t *)nng_msg_body(msg) + at);
}

void rpc_reply_status(nng_msg *reply, cf_code code, const char *message)
{
    Rpc__V1__Reply r = RPC__V1__REPLY__INIT;
    r.code = code;
    r.message = (char *)message;
    append_packed(reply, &r.base);
}

/* x-request-id from a caller is echoed only if it is short and printable (it ends up in logs
 * and HTTP headers). */
static bool sane_request_id(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (n >= 128 || s[n] <= 0x20 || s[n] >= 0x7f || s[n] == '"' || s[n] == '\\')
            return false;
    return n > 0;
}

static const rpc_service_entry *find_method(const rpc_dispatcher *d, const char *full,
                                            const ProtobufCMethodDescriptor **md)
{
    const char *slash = strchr(full, '/');
    if (!slash)
        return NULL;
    size_t svclen = (size_t)(slash - full);
    for (size_t i = 0; i < d->nservices; i++) {
        const ProtobufCServiceDescriptor *sd = d->services[i].service->descriptor;
        if (strlen(sd->name) == svclen && memcmp(sd->name, full, svclen) == 0) {
            *md = protobuf_c_service_descriptor_get_method_by_name(sd, slash + 1);
            return *md ? &d->services[i] : NULL;
        }
    }
    return NULL;
}

static void handler_done(const ProtobufCMessage *msg, void *closure_data)
{
    (void)msg;
    ((rpc_call *)closure_data)->responded = true;
}

/* Verifies "authorization: Bearer <jwt>" into call->caller. No header = anonymous. */
static cf_code authenticate(rpc_dispatcher *d, rpc_call *call)
{
    const char *auth = rpc_md_get(call, "authorization");
    if (!auth)
        return CF_OK;
    if (strncasecmp(auth, "Bearer ", 7) != 0)
        return rpc_error(call, CF_UNAUTHENTICATED, "authorization must be a Bearer token");
    if (!d->verifier)
        return rpc_error(call, CF_UNAUTHENTICATED, "this service cannot verify tokens");
    const char *why = NULL;
    cf_code v = authn_verify(d->verifier, auth + 7, &call->caller, &why);
    if (v != CF_OK && why && strcmp(why, AUTHN_REASON_UNKNOWN_KID) == 0 && d->key_miss &&
        d->key_miss(d->key_miss_arg))
        v = authn_verify(d->verifier, auth + 7, &call->caller, &why); /* keys were rotated */
    if (v == CF_UNAVAILABLE) /* held until the revocation list is loaded (authn.h) */
        return rpc_error(call, CF_UNAVAILABLE, "cannot verify tokens yet; retry");
    if (v != CF_OK) {
        log_rid(LOG_INFO, call->request_id, "%s: token rejected: %s", call->method,
                why ? why : "invalid");
        return rpc_error(call, CF_UNAUTHENTICATED, "invalid or expired access token");
    }
    call->has_caller = true;
    return CF_OK;
}

/* An app token may call only what its scopes grant in the service's table (scope.h), checked
 * here, in the service that owns the data, before anything of the handler runs. */
static cf_code check_scope(const rpc_service_entry *e, const ProtobufCMethodDescriptor *md,
                           rpc_call *call)
{
    if (!call->has_caller || !call->caller.is_app ||
        rpc_scope_allows(e->scopes, md->name, call->caller.scopes))
        return CF_OK;
    const char *need = rpc_scope_needed(e->scopes, md->name);
    log_rid(LOG_INFO, call->request_id, "%s: refused to %s: scope %s", call->method,
            call->caller.sub, need ? "missing" : "no app may call it");
    if (!need)
        return rpc_error(call, CF_PERMISSION_DENIED, "app tokens may not call %s", md->name);
    return rpc_error(call, CF_PERMISSION_DENIED,
                     "the app token's scopes do not grant %s (it needs one of: %s)", md->name,
                     need);
}

/* The service identity policy (ident.h): sets call->service or refuses. */
static cf_code admit_service(rpc_dispatcher *d, rpc_call *call)
{
    if (!d->ident)
        return CF_OK;
    const char *why = NULL;
    cf_code code =
        rpc_ident_check(d->ident, call->method, call->req->service_token, &call->service, &why);
    if (code != CF_OK) {
        log_rid(LOG_WARN, call->request_id, "%s: caller refused: %s", call->method, why);
        return rpc_error(call, code, "%s", why);
    }
    return CF_OK;
}

/* Decodes, checks and runs the call; returns its status. The reply payload, if any, is left
 * packed in *payload. */
static cf_code run(rpc_dispatcher *d, rpc_call *call, const uint8_t *data, size_t len,
                   int64_t recv_ns, const rpc_service_entry **entry_out, unsigned *midx_out,
                   ProtobufCBinaryData *payload)
{
    ProtobufCAllocator *alloc = arena_allocator(&call->arena);
    if (len > d->max_message + 4096)
        return rpc_error(call, CF_RESOURCE_EXHAUSTED, "request of %zu bytes exceeds the %zu limit",
                         len, d->max_message);
    ProtobufCMessage *m;
    const char *why;
    if (pb_unpack(&rpc__v1__request__descriptor, alloc, data, len, &m, &why) != CF_OK)
        return rpc_refuse(call, CF_INVALID_ARGUMENT, "envelope", "request envelope: %s", why);
    Rpc__V1__Request *req = (Rpc__V1__Request *)m;
    call->req = req;
    call->method = req->method;
    /* metadata keys are case-insensitive, as in HTTP/2 and gRPC (issue 25 item 3): stored
     * lower-case here, so "Authorization" authenticates like "authorization" and no reader of
     * metadata can miss a key by its case */
    for (size_t i = 0; i < req->n_metadata; i++)
        for (char *k = req->metadata[i]->key; *k; k++)
            if (*k >= 'A' && *k <= 'Z')
                *k = (char)(*k - 'A' + 'a');

    /* the caller's id replaces the one rpc_dispatch() made, if it is sane */
    const char *rid = rpc_md_get(call, "x-request-id");
    if (rid && sane_request_id(rid))
        call->request_id = rid;
    if (req->timeout_ms)
        call->deadline_ns = recv_ns + (int64_t)req->timeout_ms * 1000000;
    if (req->payload.len > d->max_message)
        return rpc_error(call, CF_RESOURCE_EXHAUSTED, "request of %zu bytes exceeds the %zu limit",
                         req->payload.len, d->max_message);
    if (rpc_expired(call))
        return rpc_error(call, CF_DEADLINE_EXCEEDED, "deadline expired before the call started");

    const ProtobufCMethodDescriptor *md = NULL;
    const rpc_service_entry *e = find_method(d, req->method, &md);
    if (!e)
        return rpc_error(call, CF_UNIMPLEMENTED, "unknown method %.200s", req->method);
    *entry_out = e;
    *midx_out = (unsigned)(md - e->service->descriptor->methods);

    /* the calling service first: an internal method refuses a caller without the right
     * identity before its token, payload or handler is looked at (ident.h) */
    cf_code code = admit_service(d, call);
    if (code != CF_OK)
        return code;
    code = authenticate(d, call);
    if (code != CF_OK)
        return code;
    if ((code = check_scope(e, md, call)) != CF_OK)
        return code;

    /* the payload's nesting is checked before protobuf-c recurses into it (base/pbwire.h) */
    ProtobufCMessage *input;
    if (pb_unpack(md->input, alloc, req->payload.data, req->payload.len, &input, &why) != CF_OK)
        return rpc_refuse(call, CF_INVALID_ARGUMENT, "payload", "%s message: %s", md->input->name,
                          why);

    call->response = arena_alloc(&call->arena, md->output->sizeof_message);
    protobuf_c_message_init(md->output, call->response);
    call->service_ctx = e->ctx;
    call->code = CF_UNKNOWN;
    if (d->call_deadline)
        d->call_deadline(call->worker, call->deadline_ns);
    e->service->invoke(e->service, *midx_out, input, handler_done, call);
    if (d->call_deadline)
        d->call_deadline(call->worker, 0);
    if (!call->responded)
        return rpc_error(call, CF_INTERNAL, "handler returned without answering");
    if (call->code != CF_OK)
        return call->code;
    if (rpc_expired(call))
        return rpc_error(call, CF_DEADLINE_EXCEEDED, "deadline exceeded while handling the call");

    size_t n = protobuf_c_message_get_packed_size(call->response);
    if (n > d->max_message)
        return rpc_error(call, CF_RESOURCE_EXHAUSTED, "response of %zu bytes exceeds the %zu limit",
                         n, d->max_message);
    payload->data = arena_alloc(&call->arena, n);
    payload->len = protobuf_c_message_pack(call->response, payload->data);
    return CF_OK;
}

void rpc_dispatch(rpc_dispatcher *d, const uint8_t *data, size_t len, int64_t recv_ns, void *worker,
                  arena *a, nng_msg *reply)
{
    rpc_call call;
    memset(&call, 0, sizeof call);
    call.arena = *a; /* the worker's arena, handed back below */
    call.worker = worker;
    call.method = "?";
    /* an id from the start, so even a refusal before the envelope is read names its request
     * in the reply and the log (issue 25 item 4); run() swaps in the caller's x-request-id */
    char made_id[CUID_LEN + 1];
    cuid_new(made_id);
    call.request_id = made_id;

    const rpc_service_entry *e = NULL;
    unsigned midx = 0;
    ProtobufCBinaryData payload = {0, NULL};
    cf_code code = run(d, &call, data, len, recv_ns, &e, &midx, &payload);

    Rpc__V1__Reply r = RPC__V1__REPLY__INIT;
    r.code = code;
    r.message = (char *)(call.message ? call.message : (code == CF_OK ? "" : cf_code_name(code)));
    r.request_id = (char *)call.request_id;
    r.n_details = call.ndetails;
    r.details = call.details;
    if (code != CF_OK)
        r.retry_after_s = call.retry_after_s;
    if (code == CF_OK)
        r.payload = payload;
    append_packed(reply, &r.base);

    int64_t ns = cf_mono_ns() - recv_ns;
    if (d->metrics)
        metrics_observe(e && e->mm ? e->mm[midx] : metrics_other(d->metrics), code, ns);
    log_rid(code == CF_INTERNAL || code == CF_UNKNOWN ? LOG_ERROR : LOG_DEBUG, call.request_id,
            "%.200s -> %s (%lld us)", call.method, cf_code_name(code), (long long)(ns / 1000));
    *a = call.arena;
}
