/* The one place a message handed to an nng send is allocated (sendmsg.h says why). */
#include "sendmsg.h"

#include <string.h>

/* noinline: the leak's stack must show this frame for the suppression to match */
__attribute__((noinline)) nng_msg *rpc_sendmsg_alloc(size_t len)
{
    nng_msg *m;
    return nng_msg_alloc(&m, len) == 0 ? m : NULL;
}

nng_msg *rpc_sendmsg_copy(nng_msg *m)
{
    size_t len = nng_msg_len(m);
    nng_msg *out = rpc_sendmsg_alloc(len);
    if (out && len)
        memcpy(nng_msg_body(out), nng_msg_body(m), len);
    return out;
}
