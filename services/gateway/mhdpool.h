/* mhdpool.h — an upgraded connection's libmicrohttpd memory pool, given back to the kernel
 * (ws.release_upgrade_buffer; docs/decisions.md, "An upgraded socket gives its HTTP pool back").
 *
 * libmicrohttpd gives every connection a pool of MHD_OPTION_CONNECTION_MEMORY_LIMIT bytes; its
 * read buffer takes half, and shrinking that buffer after the head (or resetting the pool after a
 * keep-alive answer) zeroes the freed part, so those pages are resident until the connection
 * closes. An upgraded (WebSocket) connection keeps its pool for hours while nothing in it is used
 * any more. The recv guard (rawguard.h) sees the buffer of MHD's first read on each connection;
 * in libmicrohttpd 0.9.75 that read buffer is the pool's first block and half of the pool, so the
 * pool is [buf, buf + 2 * len) — and once MHD has handed the socket over, madvise(MADV_DONTNEED)
 * on its whole pages gives them back (they read as zeros if touched again: what MHD's own
 * clean-up would have written). The reasoning, checked in 0.9.75's source, is in mhdpool.c.
 *
 * Only for a libmicrohttpd whose source was checked (0.9.75) and only when the first read's
 * geometry is exactly what that version does for the configured pool size; otherwise nothing is
 * released (the connection simply keeps its pool, as before). */
#ifndef CONFETTI_GATEWAY_MHDPOOL_H
#define CONFETTI_GATEWAY_MHDPOOL_H

#include <stdbool.h>
#include <stddef.h>

/* Whether the loaded libmicrohttpd is a version whose pool layout was checked; otherwise false
 * and why (for the start-up log). */
bool gw_mhdpool_verified(char *why, size_t whylen);

/* The pool of a plain (not TLS) connection that was created with MHD_OPTION_CONNECTION_MEMORY_LIMIT
 * pool_limit, whose first recv was (first_buf, first_len): its whole pages given back. Call only
 * on the MHD thread inside the upgrade handler, after everything needed from the request (its
 * head and the extra bytes) was copied. Returns the bytes given back; 0 when the geometry is not
 * the checked one (nothing is touched then). */
size_t gw_mhdpool_release(const void *first_buf, size_t first_len, size_t pool_limit);

#endif
