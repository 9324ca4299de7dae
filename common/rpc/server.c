/* server.c — rep socket + worker pool. Each worker owns an nng context, two aios (receive,
 * send), an arena and its per-worker state, and runs calls synchronously on its own thread, so
 * handlers may block on libpq without ever blocking an nng callback. */
#include "server.h"
#include "closer.h"
#include "dispatch.h"
#include "sendmsg.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/xmalloc.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/supplemental/util/platform.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* After the last reply of a drain, before the socket closes (see rpc_server_drain). */
#define RPC_DRAIN_LINGER_MS 200

typedef struct rpc_worker {
    rpc_server *server;
    int index;
    nng_ctx ctx;
    nng_aio *recv_aio, *send_aio;
    pthread_t thread;
    atomic_bool done;
    arena arena;
} rpc_worker;

struct rpc_server {
    rpc_server_config cfg;
    rpc_dispatcher dispatcher;
    nng_socket sock;
    bool sock_open, started, drained;
    bool close_hung; /* the socket's close did not return (closer.h): its aios are left */
    rpc_worker *workers;
    int nworkers;
    atomic_bool draining;
    atomic_int inflight;
};

/* health.v1.Health, built into every server (health.c). */
ProtobufCService *rpc_health_service(void);
extern const rpc_scope_table rpc_health_scopes;

cf_code rpc_server_new(const rpc_server_config *cfg, rpc_server **out)
{
    rpc_server *s = xcalloc(1, sizeof *s);
    s->cfg = *cfg;
    if (s->cfg.workers <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        s->cfg.workers = (int)(n > 0 ? 2 * n : 4);
    }
    if (!s->cfg.max_message)
        s->cfg.max_message = RPC_DEFAULT_MAX_MESSAGE;
    s->dispatcher.max_message = s->cfg.max_message;
    s->dispatcher.verifier = cfg->verifier;
    s->dispatcher.metrics = cfg->metrics;
    s->dispatcher.ident = cfg->ident;
    s->dispatcher.key_miss = cfg->key_miss;
    s->dispatcher.key_miss_arg = cfg->key_miss_arg;
    s->dispatcher.call_deadline = cfg->call_deadline;
    rpc_dispatcher_add(&s->dispatcher, rpc_health_service(), s);
    rpc_server_set_scopes(s, &rpc_health_scopes);
    *out = s;
    return CF_OK;
}

void rpc_server_add_service(rpc_server *s, ProtobufCService *service, void *ctx)
{
    rpc_dispatcher_add(&s->dispatcher, service, ctx);
}

cf_code rpc_server_set_scopes(rpc_server *s, const rpc_scope_table *t)
{
    const char *why = rpc_scope_table_check(t);
    if (why) {
        log_error("rpc: scope table of %s: %s", t->service ? t->service->name : "?", why);
        return CF_INVALID_ARGUMENT;
    }
    for (size_t i = 0; i < s->dispatcher.nservices; i++)
        if (s->dispatcher.services[i].service->descriptor == t->service) {
            s->dispatcher.services[i].scopes = t;
            return CF_OK;
        }
    log_error("rpc: scope table of %s: the service is not served here", t->service->name);
    return CF_INVALID_ARGUMENT;
}

bool rpc_server_serves(const rpc_server *s, const char *service)
{
    for (size_t i = 0; i < s->dispatcher.nservices; i++)
        if (strcmp(s->dispatcher.services[i].service->descriptor->name, service) == 0)
            return true;
    return false;
}

bool rpc_server_ready(rpc_server *s)
{
    return !atomic_load(&s->draining) && (!s->cfg.ready || s->cfg.ready(s->cfg.ready_arg));
}

int rpc_server_inflight(const rpc_server *s)
{
    return atomic_load(&((rpc_server *)s)->inflight);
}

static void *worker_main(void *arg)
{
    rpc_worker *w = arg;
    rpc_server *s = w->server;
    void *state = s->cfg.worker_init ? s->cfg.worker_init(s->cfg.worker_arg, w->index) : NULL;

    while (!atomic_load(&s->draining)) {
        nng_ctx_recv(w->ctx, w->recv_aio);
        nng_aio_wait(w->recv_aio);
        int rv = nng_aio_result(w->recv_aio);
        if (rv != 0) {
            if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
                continue; /* loop re-checks draining */
            log_warn("rpc receive failed: %s", nng_strerror(rv));
            continue;
        }
        nng_msg *in = nng_aio_get_msg(w->recv_aio);
        int64_t t0 = cf_mono_ns();
        atomic_fetch_add(&s->inflight, 1);
        if (s->cfg.metrics)
            metrics_inflight_add(s->cfg.metrics, 1);

        nng_msg *out = rpc_sendmsg_alloc(0);
        if (!out)
            abort();
        rpc_dispatch(&s->dispatcher, nng_msg_body(in), nng_msg_len(in), t0, state, &w->arena, out);
        nng_msg_free(in);
        arena_reset(&w->arena);

        nng_aio_set_msg(w->send_aio, out);
        nng_ctx_send(w->ctx, w->send_aio);
        nng_aio_wait(w->send_aio);
        if (nng_aio_result(w->send_aio) != 0)
            nng_msg_free(out); /* ownership stays with us when the send fails */
        if (s->cfg.metrics)
            metrics_inflight_add(s->cfg.metrics, -1);
        atomic_fetch_sub(&s->inflight, 1);
    }
    if (s->cfg.worker_fini)
        s->cfg.worker_fini(s->cfg.worker_arg, state);
    atomic_store(&w->done, true);
    return NULL;
}

cf_code rpc_server_start(rpc_server *s, char *err, size_t errlen)
{
    int rv = nng_rep0_open(&s->sock);
    if (rv != 0) {
        snprintf(err, errlen, "rep socket: %s", nng_strerror(rv));
        return CF_INTERNAL;
    }
    s->sock_open = true;
    /* Up to 2× the limit is received so the caller gets RESOURCE_EXHAUSTED, not a silently
     * dropped connection (nng's behaviour above RECVMAXSZ). */
    nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ, 2 * s->cfg.max_message + 65536);
    for (size_t i = 0; i < s->cfg.nlisten; i++) {
        rv = nng_listen(s->sock, s->cfg.listen[i], NULL, 0);
        if (rv != 0) {
            snprintf(err, errlen, "listen %s: %s", s->cfg.listen[i], nng_strerror(rv));
            return CF_UNAVAILABLE;
        }
    }
    s->nworkers = s->cfg.workers;
    s->workers = xcalloc((size_t)s->nworkers, sizeof *s->workers);
    for (int i = 0; i < s->nworkers; i++) {
        rpc_worker *w = &s->workers[i];
        w->server = s;
        w->index = i;
        arena_init(&w->arena, 16384);
        if ((rv = nng_ctx_open(&w->ctx, s->sock)) != 0 ||
            (rv = nng_aio_alloc(&w->recv_aio, NULL, NULL)) != 0 ||
            (rv = nng_aio_alloc(&w->send_aio, NULL, NULL)) != 0) {
            snprintf(err, errlen, "worker %d: %s", i, nng_strerror(rv));
            return CF_INTERNAL;
        }
    }
    for (int i = 0; i < s->nworkers; i++)
        pthread_create(&s->workers[i].thread, NULL, worker_main, &s->workers[i]);
    s->started = true;
    return CF_OK;
}

void rpc_server_drain(rpc_server *s)
{
    if (s->drained)
        return;
    s->drained = true;
    atomic_store(&s->draining, true);
    if (s->started) {
        /* A worker waiting for a request is woken by cancelling its receive; one busy with a
         * call finishes it, sends the reply and then sees the flag. Cancel until each has
         * left: a worker may be between the flag check and its next receive. */
        for (int i = 0; i < s->nworkers; i++) {
            rpc_worker *w = &s->workers[i];
            while (!atomic_load(&w->done)) {
                nng_aio_cancel(w->recv_aio);
                nng_msleep(2);
            }
            pthread_join(w->thread, NULL);
        }
        /* nng's rep hands a reply to its connection and reports it sent before it is written
         * (rep0_ctx_send); closing at once can cut the last replies off, and their callers
         * would send those calls again to another replica (client.h, "Resends"). A short
         * linger lets them reach the wire first. */
        nng_msleep(RPC_DRAIN_LINGER_MS);
    }
    if (s->sock_open) {
        s->close_hung = !rpc_close_bounded(s->sock, "rpc server");
        s->sock_open = false;
    }
}

void rpc_server_free(rpc_server *s)
{
    if (!s)
        return;
    rpc_server_drain(s);
    if (s->close_hung) { /* the workers' aios and contexts stay with the socket (closer.h) */
        rpc_abandon(s);
        return;
    }
    for (int i = 0; i < s->nworkers; i++) {
        rpc_worker *w = &s->workers[i];
        if (w->recv_aio)
            nng_aio_free(w->recv_aio);
        if (w->send_aio)
            nng_aio_free(w->send_aio);
        arena_release(&w->arena);
    }
    free(s->workers);
    rpc_dispatcher_fini(&s->dispatcher);
    free(s);
}
