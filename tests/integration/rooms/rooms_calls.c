/* rooms_calls.c — see rooms_calls.h. */
#include "rooms_calls.h"
#include "tokens.h"
#include "base/xmalloc.h"
#include "rooms/v1/rooms.pb-c.h"

#include <stdlib.h>

static th_keys *use_keys;
static th_service *use_rooms;

void rooms_calls_use(th_keys *keys, th_service *rooms)
{
    use_keys = keys;
    use_rooms = rooms;
}

const char *bearer(user *u)
{
    if (!u->bearer) {
        char *t = th_token(use_keys, u->sub, 3600, u->admin);
        u->bearer = xasprintf("Bearer %s", t);
        free(t);
    }
    return u->bearer;
}

rpc_ccall *rc(const char *method, user *u, const void *in)
{
    const ProtobufCServiceDescriptor *d = &rooms__v1__rooms__descriptor;
    const ProtobufCMethodDescriptor *m =
        protobuf_c_service_descriptor_get_method_by_name(d, method);
    assert_non_null(m);
    rpc_ccall *cc = xcalloc(1, sizeof *cc);
    rpc_ccall_init(cc, NULL);
    if (u->sub)
        rpc_ccall_md(cc, "authorization", bearer(u));
    rpc_client_invoke(use_rooms->client, d, (unsigned)(m - d->methods), in, cc);
    return cc;
}

void done(rpc_ccall *cc)
{
    rpc_ccall_free(cc);
    free(cc);
}
