/* bus.h — confetti-bus, the event broker: an nng device between a raw sub socket that
 * publishers dial and a raw pub socket that subscribers dial (docs/events.md). It keeps
 * nothing: what it drops, subscribers fetch from the publishers' Replay. */
#ifndef CONFETTI_BUS_BUS_H
#define CONFETTI_BUS_BUS_H

#include "svc/svc.h"

typedef struct bus_config {
    cfg_strlist publishers;  /* bus.publishers: URLs publishers dial (raw sub, listening) */
    cfg_strlist subscribers; /* bus.subscribers: URLs subscribers dial (raw pub, listening) */
    int64_t buffer;          /* bus.buffer: messages queued per direction */
} bus_config;

/* The runtime definition: no schema, no RPC service of its own (health only); init starts the
 * device thread, fini stops it. */
const svc_def *bus_service_def(void);

#endif
