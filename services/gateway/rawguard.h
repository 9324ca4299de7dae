/* rawguard.h — the client's raw bytes, checked before libmicrohttpd parses them (docs/gateway.md,
 * "The HTTP edge"; docs/decisions.md, "Raw bytes before libmicrohttpd").
 *
 * libmicrohttpd 0.9.75 reads a plain HTTP connection with recv(2) through its own PLT slot and
 * offers no hook before its parser. gw_guard_install() points that one slot (libmicrohttpd's
 * relocation for `recv`, nothing else in the process) at a function that, for a socket attached
 * with gw_guard_attach(), runs the bytes through edgeparse.h and hands MHD only what passed:
 * whole, checked heads and body bytes. On a refusal MHD gets the bytes before the refused unit and
 * then a well-formed end (edgeparse.h) — so MHD answers, through the gateway's handler, in the
 * SPEC error shape, after the answers to the requests before it — and the client's further bytes
 * are read and dropped (up to drain_max) so that closing does not reset the answer away.
 *
 * Threads: a socket's guard is used by the MHD thread that serves the connection (its recv calls
 * and its callbacks); attach before MHD's first read (MHD_CONNECTION_NOTIFY_STARTED), detach in
 * MHD_CONNECTION_NOTIFY_CLOSED. */
#ifndef CONFETTI_GATEWAY_RAWGUARD_H
#define CONFETTI_GATEWAY_RAWGUARD_H

#include "base/status.h"
#include "edgeparse.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct gw_guard {
    ep p;
    uint8_t *q; /* bytes read but not handed on: [delivered, p.pos), then the terminator */
    size_t qoff, qlen, qcap;
    uint64_t delivered; /* stream bytes handed on to MHD */
    bool refused;       /* the terminator is queued; the client's further bytes are dropped */
    size_t drain_max, drained;
    unsigned head_signalled; /* 1 + the message whose request line was reported */
    /* called (on the MHD thread) when a request line is in and its head is not yet whole: the
     * header deadline starts (MHD itself sees the head only once it is whole) */
    void (*on_request_line)(void *arg);
    void *arg;
    /* MHD's first read on the socket: its buffer and length (mhdpool.h: where MHD's pool is) */
    const void *first_buf;
    size_t first_len;
} gw_guard;

/* Points libmicrohttpd's recv at the guard (once per process; later calls return the first
 * outcome). CF_INTERNAL with err when libmicrohttpd is not a loaded shared object or has no
 * relocation for recv: the gateway does not start without its edge checks. */
cf_code gw_guard_install(char *err, size_t errlen);

void gw_guard_init(gw_guard *g, size_t max_uri, size_t max_header, size_t drain_max);
void gw_guard_fini(gw_guard *g);
void gw_guard_attach(int fd, gw_guard *g);
void gw_guard_detach(int fd, gw_guard *g);

/* For tests: the guard's recv over an already attached socket (what MHD calls). */
long gw_guard_recv(int fd, void *buf, size_t len, int flags);

#endif
