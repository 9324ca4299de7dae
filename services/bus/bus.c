/* bus.c — the forwarding thread and the service definition of confetti-bus. */
#include "bus.h"

#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/pubsub0/sub.h>
#include <pthread.h>
#include <stdatomic.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/log.h"
#include "base/xmalloc.h"
#include "events/events.h"
#include "rpc/closer.h"
#include "rpc/ident.h"
#include "rpc/sendmsg.h"

static bus_config config;

static const cfg_field bus_fields[] = {
    CFG_FIELD("bus", "publishers", CFG_STRLIST, bus_config, publishers,
              .def = "tcp://127.0.0.1:7110",
              .help = "listen: publishers (the services' relays) dial here"),
    CFG_FIELD("bus", "subscribers", CFG_STRLIST, bus_config, subscribers,
              .def = "tcp://127.0.0.1:7111", .help = "listen: subscribers dial here"),
    CFG_FIELD("bus", "buffer", CFG_INT, bus_config, buffer, .def = "1024", .min = 1, .max = 8192,
              .help = "messages buffered per socket direction"),
};

typedef struct bus {
    nng_socket in, out;
    pthread_t thread;
    const rpc_ident *ident; /* the publishers' public keys */
    _Atomic uint64_t forwarded, refused;
} bus;

/* Receives from the publishers' side and forwards to the subscribers' side only what the source
 * it names signed (issue 14: anyone who could reach the publishers' port could inject, and a
 * forged event with the next number made subscribers drop the real one as a duplicate). This is
 * nng_device's loop with the check in the middle; one thread keeps each source's order. Returns
 * when fini closes the sockets. */
static void *forward_main(void *arg)
{
    bus *b = arg;
    for (;;) {
        nng_msg *m;
        int rv = nng_recvmsg(b->in, &m, 0);
        if (rv != 0) {
            if (rv == NNG_ECLOSED)
                break;
            log_warn("bus: receive: %s", nng_strerror(rv));
            continue;
        }
        const char *source;
        const uint8_t *body;
        size_t blen;
        if (events_frame_verify(b->ident, nng_msg_body(m), nng_msg_len(m), &source, &body, &blen) !=
            CF_OK) {
            uint64_t n = atomic_fetch_add(&b->refused, 1);
            if (n % 1000 == 0) /* a flood must not flood the log */
                log_warn("bus: event not signed by the source it names dropped (%" PRIu64
                         " so far)",
                         n + 1);
            nng_msg_free(m);
            continue;
        }
        /* forwarded as a copy made by rpc/sendmsg.h's allocator: nng 1.5.2 loses a message
         * sent to a closing connection, and the sanitizer run names only that allocator's
         * losses (a frame of ~200 bytes; the signature check above costs far more) */
        nng_msg *out = rpc_sendmsg_copy(m);
        nng_msg_free(m);
        if (!out)
            continue;
        if (nng_sendmsg(b->out, out, 0) != 0) /* pub never blocks; closed at fini */
            nng_msg_free(out);
        else
            atomic_fetch_add(&b->forwarded, 1);
    }
    return NULL;
}

static double bus_forwarded(void *arg)
{
    return (double)atomic_load(&((bus *)arg)->forwarded);
}

static double bus_refused(void *arg)
{
    return (double)atomic_load(&((bus *)arg)->refused);
}

static cf_code listen_all(nng_socket s, const cfg_strlist *urls, char *err, size_t errlen)
{
    for (size_t i = 0; i < urls->n; i++) {
        int rv = nng_listen(s, urls->items[i], NULL, 0);
        if (rv != 0) {
            snprintf(err, errlen, "listen %s: %s", urls->items[i], nng_strerror(rv));
            return CF_UNAVAILABLE;
        }
        log_info("bus: listening on %s", urls->items[i]);
    }
    return CF_OK;
}

static cf_code bus_init(svc_runtime *rt, void **out, char *err, size_t errlen)
{
    bus *b = xcalloc(1, sizeof *b);
    b->ident = svc_ident(rt);
    if (rpc_ident_ntrusted(b->ident) == 0)
        log_warn("bus: ident.trust_dir holds no publisher keys: every event is dropped");
    int rv = nng_sub0_open_raw(&b->in);
    if (rv == 0 && (rv = nng_pub0_open_raw(&b->out)) != 0)
        nng_close(b->in);
    if (rv != 0) {
        snprintf(err, errlen, "sockets: %s", nng_strerror(rv));
        free(b);
        return CF_INTERNAL;
    }
    nng_socket_set_int(b->in, NNG_OPT_RECVBUF, (int)config.buffer);
    nng_socket_set_int(b->out, NNG_OPT_SENDBUF, (int)config.buffer);
    cf_code code = listen_all(b->in, &config.publishers, err, errlen);
    if (code == CF_OK)
        code = listen_all(b->out, &config.subscribers, err, errlen);
    if (code != CF_OK) {
        nng_close(b->in);
        nng_close(b->out);
        free(b);
        return code;
    }
    metrics_gauge_fn(svc_metrics(rt), "confetti_bus_forwarded_total",
                     "Events forwarded to subscribers (signed by their source).", bus_forwarded, b);
    metrics_gauge_fn(svc_metrics(rt), "confetti_bus_refused_total",
                     "Frames dropped: not signed by the source they name (forged, or a key "
                     "missing from ident.trust_dir).",
                     bus_refused, b);
    pthread_create(&b->thread, NULL, forward_main, b);
    *out = b;
    return CF_OK;
}

static void bus_fini(svc_runtime *rt, void *p)
{
    (void)rt;
    bus *b = p;
    /* a close that hangs (rpc/closer.h) may leave the forwarding thread blocked on it: it and
     * this structure are then left to the exiting process */
    bool in = rpc_close_bounded(b->in, "bus publishers"),
         out = rpc_close_bounded(b->out, "bus subscribers");
    if (!in || !out) {
        pthread_detach(b->thread);
        rpc_abandon(b);
        return;
    }
    pthread_join(b->thread, NULL);
    free(b);
}

static const svc_def bus_def = {
    .name = "bus",
    .fields = bus_fields,
    .nfields = sizeof bus_fields / sizeof *bus_fields,
    .config = &config,
    .init = bus_init,
    .fini = bus_fini,
};

const svc_def *bus_service_def(void)
{
    return &bus_def;
}
