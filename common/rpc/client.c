/* client.c — req socket, context per call, envelope in and out. */
#include "client.h"
#include "closer.h"
#include "resolve.h"
#include "sendmsg.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/pbwire.h"
#include "base/xmalloc.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_VIEWS 8

typedef struct client_view {
    ProtobufCService base;
    rpc_client *client;
} client_view;

/* A context and its aio, kept for reuse after a call that completed normally: opening and
 * closing them per call costs allocations and locks on the hot path. */
typedef struct ctx_slot {
    nng_ctx ctx;
    nng_aio *aio;
} ctx_slot;

#define POOL_MAX 64

/* The same for asynchronous calls: a context, the aio its request is sent with (no callback)
 * and the aio the reply comes on (callback async_step), kept after a call that completed
 * normally. Opening a context, allocating the aio and handing it to nng's reaper per call cost
 * a reaper wake-up each (docs/decisions.md, "Uncached request paths"). */
typedef struct async_slot {
    nng_ctx ctx;
    nng_aio *send_aio;
    nng_aio *aio;
    struct async_call *call; /* the call in flight on it */
} async_slot;

#define ASYNC_POOL_MAX 256

struct rpc_client {
    nng_socket sock;
    pthread_mutex_t pool_lock; /* guards pool and apool */
    ctx_slot pool[POOL_MAX];
    int npool;
    async_slot *apool[ASYNC_POOL_MAX];
    int napool;
    size_t max_message;
    int timeout_ms;
    resolve_set *dialers; /* every address of every URL (resolve.h) */
    rpc_ident *ident;     /* borrowed; signs calls */
    pthread_mutex_t lock; /* guards views */
    client_view views[MAX_VIEWS];
    size_t nviews;
    char *urls; /* for error messages */
};

cf_code rpc_client_new(const rpc_client_config *cfg, rpc_client **out, char *err, size_t errlen)
{
    rpc_client *c = xcalloc(1, sizeof *c);
    c->max_message = cfg->max_message ? cfg->max_message : (4u << 20);
    c->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 5000;
    c->ident = cfg->ident;
    pthread_mutex_init(&c->lock, NULL);
    pthread_mutex_init(&c->pool_lock, NULL);
    int rv = nng_req0_open(&c->sock);
    if (rv != 0) {
        snprintf(err, errlen, "req socket: %s", nng_strerror(rv));
        free(c);
        return CF_INTERNAL;
    }
    nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, 2 * c->max_message + 65536);
    nng_socket_set_ms(c->sock, NNG_OPT_RECONNMINT, 50);
    nng_socket_set_ms(c->sock, NNG_OPT_RECONNMAXT, 2000);
    size_t len = 1;
    for (size_t i = 0; i < cfg->nurls; i++)
        len += strlen(cfg->urls[i]) + 1;
    c->urls = xcalloc(1, len);
    for (size_t i = 0; i < cfg->nurls; i++) {
        if (i)
            strcat(c->urls, ",");
        strcat(c->urls, cfg->urls[i]);
    }
    /* every address of every URL, kept current; one that is down now is retried in the
     * background */
    if (resolve_dial(c->sock, cfg->urls, cfg->nurls, &c->dialers, err, errlen) != CF_OK) {
        rpc_client_free(c);
        return CF_INVALID_ARGUMENT;
    }
    *out = c;
    return CF_OK;
}

void rpc_client_free(rpc_client *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->npool; i++) {
        nng_aio_free(c->pool[i].aio);
        nng_ctx_close(c->pool[i].ctx);
    }
    for (int i = 0; i < c->napool; i++) {
        nng_aio_free(c->apool[i]->send_aio);
        nng_aio_free(c->apool[i]->aio);
        nng_ctx_close(c->apool[i]->ctx);
        free(c->apool[i]);
    }
    /* the resolver's thread stops before the socket closes: it closes dialers of its own, and
     * one closed while the socket closes them panics nng (resolve.h, "Lifetime") */
    resolve_stop(c->dialers);
    /* a close that hangs (closer.h) leaves the socket and what its callbacks touch (the
     * dialers, this client) to the exiting process */
    if (!rpc_close_bounded(c->sock, "rpc client")) {
        rpc_abandon(c);
        return;
    }
    resolve_free(c->dialers);
    pthread_mutex_destroy(&c->pool_lock);
    pthread_mutex_destroy(&c->lock);
    free(c->urls);
    free(c);
}

static void view_invoke(ProtobufCService *service, unsigned method_index,
                        const ProtobufCMessage *input, ProtobufCClosure closure, void *closure_data)
{
    client_view *v = (client_view *)service;
    rpc_ccall *cc = closure_data;
    rpc_client_invoke(v->client, service->descriptor, method_index, input, cc);
    if (closure)
        closure(cc->code == CF_OK ? cc->response : NULL, closure_data);
}

static void view_destroy(ProtobufCService *service)
{
    (void)service;
}

ProtobufCService *rpc_client_service(rpc_client *c, const ProtobufCServiceDescriptor *d)
{
    pthread_mutex_lock(&c->lock);
    client_view *v = NULL;
    for (size_t i = 0; i < c->nviews && !v; i++)
        if (c->views[i].base.descriptor == d)
            v = &c->views[i];
    if (!v && c->nviews < MAX_VIEWS) {
        v = &c->views[c->nviews++];
        v->base.descriptor = d;
        v->base.invoke = view_invoke;
        v->base.destroy = view_destroy;
        v->client = c;
    }
    pthread_mutex_unlock(&c->lock);
    return v ? &v->base : NULL;
}

void rpc_ccall_init(rpc_ccall *cc, const rpc_call *parent)
{
    memset(cc, 0, sizeof *cc);
    cc->parent = parent;
    cc->message = "";
    cc->request_id = "";
    arena_init(&cc->arena, 4096);
}

void rpc_ccall_md(rpc_ccall *cc, const char *key, const char *value)
{
    if (cc->nmd < RPC_CCALL_MAX_MD)
        cc->md[cc->nmd++] = (rpc_md){key, value};
}

void rpc_ccall_free(rpc_ccall *cc)
{
    arena_release(&cc->arena);
    cc->response = NULL;
}

static int slot_take(rpc_client *c, ctx_slot *out)
{
    pthread_mutex_lock(&c->pool_lock);
    bool have = c->npool > 0;
    if (have)
        *out = c->pool[--c->npool];
    pthread_mutex_unlock(&c->pool_lock);
    if (have)
        return 0;
    int rv = nng_ctx_open(&out->ctx, c->sock);
    if (rv != 0)
        return rv;
    if (nng_aio_alloc(&out->aio, NULL, NULL) != 0)
        abort();
    return 0;
}

/* nng 1.5.2's req, per context: with a resend time > 0 it sends the request again when that
 * time passes and AT ONCE when the connection carrying it closes (req0_pipe_close); with
 * NNG_DURATION_INFINITE it fails the call with NNG_ECONNRESET instead. Set past the call's
 * deadline, the timer never fires: a call is resent only when its connection died before the
 * reply — a replica that drained (it replies to every call it took, then closes; the calls it
 * never took go to another replica) or one that crashed (the call may have run: mutating
 * methods take an idempotency key). See the header. */
static void resend_on_lost_connection(nng_ctx ctx, int64_t timeout_ms)
{
    nng_ctx_set_ms(ctx, NNG_OPT_REQ_RESENDTIME, (nng_duration)(timeout_ms + 1000));
}

/* Returns a slot to the pool if its last call completed (nothing pending on it); otherwise, or
 * when the pool is full, closes it. */
static void slot_give(rpc_client *c, ctx_slot *s, bool clean)
{
    if (clean) {
        pthread_mutex_lock(&c->pool_lock);
        if (c->npool < POOL_MAX) {
            c->pool[c->npool++] = *s;
            s = NULL;
        }
        pthread_mutex_unlock(&c->pool_lock);
        if (!s)
            return;
    }
    nng_aio_free(s->aio);
    nng_ctx_close(s->ctx);
}

static void fail(rpc_ccall *cc, cf_code code, const char *message)
{
    cc->code = code;
    cc->message = arena_strdup(&cc->arena, message);
}

/* Builds the request envelope into a new message. Returns NULL with cc's status set when the
 * call cannot start (bad method, no time left, too big). *timeout_out is the call's budget. */
static nng_msg *build_request(rpc_client *c, const ProtobufCServiceDescriptor *d,
                              unsigned method_index, const ProtobufCMessage *input, rpc_ccall *cc,
                              int64_t *timeout_out)
{
    cc->code = CF_UNKNOWN;
    cc->response = NULL;
    cc->ndetails = 0;
    cc->retry_after_s = 0;
    if (method_index >= d->n_methods) {
        fail(cc, CF_UNIMPLEMENTED, "no such method");
        return NULL;
    }
    const ProtobufCMethodDescriptor *md = &d->methods[method_index];

    int64_t timeout = cc->timeout_ms > 0 ? cc->timeout_ms : c->timeout_ms;
    bool has_rid = false;
    Rpc__V1__MetadataEntry mde[RPC_CCALL_MAX_MD + 1], *mdp[RPC_CCALL_MAX_MD + 1];
    size_t nmd = 0;
    for (size_t i = 0; i < cc->nmd; i++) {
        rpc__v1__metadata_entry__init(&mde[nmd]);
        mde[nmd].key = (char *)cc->md[i].key;
        mde[nmd].value = (char *)cc->md[i].value;
        has_rid |= strcmp(cc->md[i].key, "x-request-id") == 0;
        mdp[nmd] = &mde[nmd];
        nmd++;
    }
    if (cc->parent) {
        int64_t left = rpc_remaining_ms(cc->parent);
        if (left <= 0) {
            fail(cc, CF_DEADLINE_EXCEEDED, "deadline already passed");
            return NULL;
        }
        if (left < timeout)
            timeout = left;
        if (!has_rid) {
            rpc__v1__metadata_entry__init(&mde[nmd]);
            mde[nmd].key = "x-request-id";
            mde[nmd].value = (char *)rpc_request_id(cc->parent);
            mdp[nmd] = &mde[nmd];
            nmd++;
        }
    }

    size_t plen = protobuf_c_message_get_packed_size(input);
    if (plen > c->max_message) {
        fail(cc, CF_RESOURCE_EXHAUSTED, "request exceeds the message size limit");
        return NULL;
    }
    char method[256];
    snprintf(method, sizeof method, "%s/%s", d->name, md->name);
    Rpc__V1__Request req = RPC__V1__REQUEST__INIT;
    req.method = method;
    req.metadata = mdp;
    req.n_metadata = nmd;
    req.timeout_ms = (uint32_t)timeout;
    req.payload.len = plen;
    req.payload.data = arena_alloc(&cc->arena, plen);
    protobuf_c_message_pack(input, req.payload.data);
    char token[RPC_IDENT_TOKEN_MAX];
    if (rpc_ident_token(c->ident, d->name, token, sizeof token))
        req.service_token = token;

    nng_msg *msg = rpc_sendmsg_alloc(protobuf_c_message_get_packed_size(&req.base));
    if (!msg)
        abort();
    protobuf_c_message_pack(&req.base, nng_msg_body(msg));
    *timeout_out = timeout;
    return msg;
}

/* Turns the transport result and the reply (consumed) into cc's status and response. */
static void finish_reply(rpc_client *c, const ProtobufCMethodDescriptor *md, rpc_ccall *cc, int rv,
                         nng_msg *in)
{
    if (rv == NNG_ETIMEDOUT) {
        if (resolve_live_pipes(c->dialers) == 0) {
            cc->code = CF_UNAVAILABLE;
            cc->message = arena_printf(&cc->arena, "no connection to %s", c->urls);
        } else {
            fail(cc, CF_DEADLINE_EXCEEDED, "deadline exceeded");
        }
        return;
    }
    if (rv != 0)
        return fail(cc, rv == NNG_ECLOSED ? CF_CANCELLED : CF_UNAVAILABLE, nng_strerror(rv));

    ProtobufCAllocator *alloc = arena_allocator(&cc->arena);
    /* a reply is not trusted more than a request: its nesting is bounded too (base/pbwire.h),
     * and a refused one is the callee's fault, so INTERNAL, as gRPC reports a reply that does
     * not parse */
    ProtobufCMessage *m;
    const char *why;
    if (pb_unpack(&rpc__v1__reply__descriptor, alloc, nng_msg_body(in), nng_msg_len(in), &m,
                  &why) != CF_OK) {
        nng_msg_free(in);
        cc->code = CF_INTERNAL;
        cc->message = arena_printf(&cc->arena, "reply envelope: %s", why);
        return;
    }
    Rpc__V1__Reply *rep = (Rpc__V1__Reply *)m;
    cc->code = cf_code_from_int(rep->code);
    cc->message = rep->message;
    cc->request_id = rep->request_id;
    cc->details = rep->details;
    cc->ndetails = rep->n_details;
    cc->retry_after_s = cc->code == CF_OK ? 0 : rep->retry_after_s;
    if (cc->code == CF_OK) {
        if (pb_unpack(md->output, alloc, rep->payload.data, rep->payload.len, &cc->response,
                      &why) != CF_OK) {
            cc->code = CF_INTERNAL;
            cc->message = arena_printf(&cc->arena, "%s reply: %s", md->output->name, why);
        }
    }
    nng_msg_free(in);
}

void rpc_client_invoke(rpc_client *c, const ProtobufCServiceDescriptor *d, unsigned method_index,
                       const ProtobufCMessage *input, rpc_ccall *cc)
{
    int64_t timeout;
    nng_msg *msg = build_request(c, d, method_index, input, cc, &timeout);
    if (!msg)
        return;
    ctx_slot slot;
    int rv = slot_take(c, &slot);
    if (rv != 0) {
        nng_msg_free(msg);
        return fail(cc, CF_UNAVAILABLE, nng_strerror(rv));
    }
    nng_aio *aio = slot.aio;
    int64_t end = cf_mono_ns() + timeout * 1000000;
    resend_on_lost_connection(slot.ctx, timeout);
    nng_aio_set_timeout(aio, (nng_duration)timeout);
    nng_aio_set_msg(aio, msg);
    nng_ctx_send(slot.ctx, aio);
    nng_aio_wait(aio);
    rv = nng_aio_result(aio);
    if (rv != 0) {
        nng_msg_free(msg);
    } else {
        int64_t left = (end - cf_mono_ns()) / 1000000;
        nng_aio_set_timeout(aio, (nng_duration)(left > 0 ? left : 1));
        nng_ctx_recv(slot.ctx, aio);
        nng_aio_wait(aio);
        rv = nng_aio_result(aio);
    }
    nng_msg *in = rv == 0 ? nng_aio_get_msg(aio) : NULL;
    slot_give(c, &slot, rv == 0);
    finish_reply(c, &d->methods[method_index], cc, rv, in);
}

/* An asynchronous call in flight: lives in the ccall's arena until `done` has run. */
typedef struct async_call {
    rpc_client *client;
    const ProtobufCMethodDescriptor *md;
    rpc_ccall *cc;
    rpc_done_fn done;
    void *arg;
    async_slot *slot;
} async_call;

static void async_step(void *arg);

/* A pooled slot, or a new one; NULL with *rv set when nng cannot open a context. */
static async_slot *async_take(rpc_client *c, int *rv)
{
    async_slot *s = NULL;
    pthread_mutex_lock(&c->pool_lock);
    if (c->napool > 0)
        s = c->apool[--c->napool];
    pthread_mutex_unlock(&c->pool_lock);
    if (s) {
        /* the reply can overtake the end of the send: when the request waited for a busy
         * connection, nng's req finishes its send aio from the connection's callback after
         * unlocking, and that thread may be preempted while the reply already came back and the
         * slot was pooled. Starting the aio again before then trips nng's assertion
         * (aio.c, !nni_aio_list_active): wait for it (in practice it is long finished). */
        nng_aio_wait(s->send_aio);
        return s;
    }
    s = xcalloc(1, sizeof *s);
    if ((*rv = nng_ctx_open(&s->ctx, c->sock)) != 0) {
        free(s);
        return NULL;
    }
    if (nng_aio_alloc(&s->send_aio, NULL, NULL) != 0 || nng_aio_alloc(&s->aio, async_step, s) != 0)
        abort();
    return s;
}

/* A slot whose call failed, from its reply aio's callback. Closing the context finishes a
 * request still queued (no connection yet) and gives its message back to the send aio: freed
 * here. Neither aio can be freed from this callback: nng's reaper frees them. */
static void async_drop(async_slot *s)
{
    nng_ctx_close(s->ctx);
    nng_msg *unsent = nng_aio_get_msg(s->send_aio);
    if (unsent) {
        nng_aio_set_msg(s->send_aio, NULL);
        nng_msg_free(unsent);
    }
    nng_aio_reap(s->send_aio);
    nng_aio_reap(s->aio);
    free(s);
}

/* A slot whose call completed normally (its request went out, its reply came: nothing pending
 * on the context) goes back to the pool; nng allows an aio to be started again while its
 * previous callback is still returning. */
static void async_give(rpc_client *c, async_slot *s)
{
    pthread_mutex_lock(&c->pool_lock);
    bool kept = c->napool < ASYNC_POOL_MAX;
    if (kept)
        c->apool[c->napool++] = s;
    pthread_mutex_unlock(&c->pool_lock);
    if (!kept)
        async_drop(s);
}

/* The reply aio's callback: the whole call is over (a failed send fails the receive too: at
 * once when the context never had a request, else at the receive's deadline). */
static void async_step(void *arg)
{
    async_slot *s = arg;
    async_call *a = s->call;
    rpc_client *c = a->client;
    int rv = nng_aio_result(s->aio);
    nng_msg *in = rv == 0 ? nng_aio_get_msg(s->aio) : NULL;
    s->call = NULL;
    /* the slot goes back (or away) before `done`: once done has run, its caller may free the
     * client (a pooled slot given after that leaked, and touched a freed pool lock: ASan,
     * unit_rpc_nesting). s is not touched after this. */
    if (rv != 0) /* a context with a failed or cancelled call is not reused */
        async_drop(s);
    else
        async_give(c, s);
    finish_reply(c, a->md, a->cc, rv, in);
    a->done(a->cc, a->arg); /* frees a (it lives in the ccall's arena); nothing after it */
}

/* The request is sent with an aio without callback and the reply is awaited at once on the
 * same context (nng's req accepts the receive as soon as the send is queued): one completion
 * per call reaches a callback instead of two, one hand-off between nng's threads less. */
void rpc_client_invoke_async(rpc_client *c, const ProtobufCServiceDescriptor *d,
                             unsigned method_index, const ProtobufCMessage *input, rpc_ccall *cc,
                             rpc_done_fn done, void *arg)
{
    int64_t timeout;
    nng_msg *msg = build_request(c, d, method_index, input, cc, &timeout);
    if (!msg)
        return done(cc, arg);
    int rv = 0;
    async_slot *s = async_take(c, &rv);
    if (!s) {
        nng_msg_free(msg);
        fail(cc, CF_UNAVAILABLE, nng_strerror(rv));
        return done(cc, arg);
    }
    async_call *a = arena_zalloc(&cc->arena, sizeof *a);
    *a = (async_call){.client = c,
                      .md = &d->methods[method_index],
                      .cc = cc,
                      .done = done,
                      .arg = arg,
                      .slot = s};
    s->call = a;
    resend_on_lost_connection(s->ctx, timeout);
    /* the send has no deadline of its own (nng's req asserts that a send never times out under
     * a pending receive): the receive's deadline ends the call, and its cancellation drops a
     * request still queued */
    nng_aio_set_msg(s->send_aio, msg);
    nng_ctx_send(s->ctx, s->send_aio);
    nng_aio_set_timeout(s->aio, (nng_duration)timeout);
    nng_ctx_recv(s->ctx, s->aio);
}

size_t rpc_client_max_message(const rpc_client *c)
{
    return c->max_message;
}
