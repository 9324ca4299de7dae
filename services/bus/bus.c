/* bus.c — the device thread and the service definition of confetti-bus. */
#include "bus.h"

#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/pubsub0/sub.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/log.h"
#include "base/xmalloc.h"

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
} bus;

/* nng_device blocks in nng 1.5.2 (no nng_device_aio yet): it gets a thread of its own and
 * returns when fini closes the sockets. */
static void *device_main(void *arg)
{
    bus *b = arg;
    int rv = nng_device(b->in, b->out);
    if (rv != NNG_ECLOSED)
        log_error("bus: device stopped: %s", nng_strerror(rv));
    return NULL;
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
    (void)rt;
    bus *b = xcalloc(1, sizeof *b);
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
    pthread_create(&b->thread, NULL, device_main, b);
    *out = b;
    return CF_OK;
}

static void bus_fini(svc_runtime *rt, void *p)
{
    (void)rt;
    bus *b = p;
    nng_close(b->in);
    nng_close(b->out);
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
