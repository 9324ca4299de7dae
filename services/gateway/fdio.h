/* fdio.h — asynchronous reads and writes on a socket handed over by the HTTP server (the
 * WebSocket feed's upgraded connections), completing nng aios as nng's own I/O does, so ws.c
 * keeps one model (aio callbacks) for sockets, timers and RPCs. One thread per loop waits on
 * epoll; a read or write that can go at once goes in the caller's thread, the rest when the
 * socket is ready. Completions run on nng's threads (nng_aio_finish), never inside the call.
 *
 * Lifetime: gw_fdloop_new → gw_fdconn_new per socket → reads/writes → gw_fdconn_close (after its
 * last operation completed) → gw_fdloop_free (after every connection was closed). */
#ifndef CONFETTI_GATEWAY_FDIO_H
#define CONFETTI_GATEWAY_FDIO_H

#include <stddef.h>
#include <nng/nng.h>

typedef struct gw_fdloop gw_fdloop;
typedef struct gw_fdconn gw_fdconn;

gw_fdloop *gw_fdloop_new(void);
/* Stops the thread and frees. Every connection must have been closed. */
void gw_fdloop_free(gw_fdloop *l);

/* Takes fd (made non-blocking); close_fn(close_arg) gives it back at gw_fdconn_close. */
gw_fdconn *gw_fdconn_new(gw_fdloop *l, int fd, void (*close_fn)(void *), void *close_arg);

/* Reads at least one byte, at most len, into buf; aio finishes 0 (gw_fdconn_nread says how
 * many), NNG_ECLOSED at end of stream, NNG_ECONNRESET on an error, or the cancel's error. One
 * read at a time; buf must stay valid until the aio finishes. */
void gw_fdconn_read(gw_fdconn *c, void *buf, size_t len, nng_aio *aio);
size_t gw_fdconn_nread(gw_fdconn *c);

/* Writes every byte of iov[0..n) (n <= 8); aio finishes 0 or with an error. One write at a
 * time; the buffers must stay valid until the aio finishes. */
void gw_fdconn_write_all(gw_fdconn *c, const nng_iov *iov, unsigned n, nng_aio *aio);

/* Gives the socket back (close_fn) and frees c once the loop no longer looks at it. No
 * operation may be pending. Any thread but the loop's. */
void gw_fdconn_close(gw_fdconn *c);

#endif
