/* The one place a message handed to an nng send is allocated.
 *
 * nng 1.5.2 (Debian 12's libnng1) loses a message sent to a connection that is closing: req0,
 * rep0 and pub0 all close the pipe's send aio before they take the socket lock and unlist the
 * pipe, and a send dispatched in between meets a stopped aio (nni_aio_begin → NNG_ECANCELED)
 * that neither sends nor frees it. The call is not lost (a request is resent on another
 * connection, a reply's caller times out as on any lost connection, an event is replayed), but
 * the message's memory is. Every message we give to nng is made here, so the sanitizer run can
 * name that one loss and nothing else: tests/lsan-nng152.supp suppresses leaks allocated by
 * rpc_sendmsg_alloc only (LeakSanitizer then also ignores what the message points to). */
#ifndef CONFETTI_RPC_SENDMSG_H
#define CONFETTI_RPC_SENDMSG_H

#include <nng/nng.h>
#include <stddef.h>

/* A new message with a body of len bytes, or NULL when nng cannot allocate it. */
nng_msg *rpc_sendmsg_alloc(size_t len);

/* A copy of m's body made by rpc_sendmsg_alloc (m is left alone), for a message received and
 * forwarded (the bus, a test's hop); NULL when nng cannot allocate it. */
nng_msg *rpc_sendmsg_copy(nng_msg *m);

#endif
