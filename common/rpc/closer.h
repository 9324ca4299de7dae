/* closer.h — closing an nng socket with a bound on the wait.
 *
 * nng 1.5.2's nng_close can wait forever for the pipe of a socket that was carrying a fast stream
 * (nanomsg/nng #1543, fixed after 1.5.2; Debian 12 ships 1.5.2). The rehearsal (tools/rehearsal)
 * hit it on its first rolling restart: a rooms replica, SIGTERMed under load, answered every call
 * and stopped its relay, then hung for good in its revocation subscriber's nng_close; the pod
 * would sit in Terminating until the kubelet's SIGKILL. Every socket closed on a shutdown path
 * (RPC client and server, event relay and subscriber, the bus's sockets) is closed here: the
 * close runs on a thread of its own; if it has not returned within the bound it is logged and
 * abandoned (that thread stays blocked; the process goes on with its shutdown and exits).
 *
 * When false is returned the caller must leak what the socket's callbacks and aios may still
 * touch (its resolve set, the structure holding it): the socket is not closed. */
#ifndef CONFETTI_RPC_CLOSER_H
#define CONFETTI_RPC_CLOSER_H

#include <stdbool.h>
#include <nng/nng.h>

#define RPC_CLOSE_BOUND_MS 5000 /* docs/operations.md, "Limits": socket close at shutdown */

/* nng_close(s) waiting at most RPC_CLOSE_BOUND_MS; true when it returned. what names the socket
 * in the log line of a close that did not return. */
bool rpc_close_bounded(nng_socket s, const char *what);

/* The same with the close function and the bound given (tests). */
bool rpc_close_bounded_with(nng_socket s, const char *what, int bound_ms,
                            int (*close_fn)(nng_socket));

/* What an abandoned close leaves behind (the structure the socket's callbacks may still touch,
 * and everything reachable from it) is left to the exiting process on purpose: under
 * LeakSanitizer it is not reported as a leak (an nng 1.5.2 close hang under ASan made
 * integration_events_relays fail on its own abandoned subscriber, 2026-12-07). */
void rpc_abandon(const void *p);

/* How many closes did not return within their bound in this process (a gauge for tests and
 * for the log). */
long rpc_close_abandoned(void);

#endif
