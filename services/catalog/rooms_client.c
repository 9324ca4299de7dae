/* rooms_client.c — the rooms hook of DeleteApp, backed by rooms.v1.Rooms/AppInUse: the deleting
 * caller's token is forwarded (rooms answers any verified caller with one bit), and the call
 * inherits DeleteApp's deadline and request id. */
#include "catalog.h"
#include "base/log.h"
#include "base/xmalloc.h"
#include "rpc/client.h"
#include "rooms/v1/rooms.pb-c.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct rooms_client {
    catalog_rooms hook; /* first: the hook pointer is the client pointer */
    rpc_client *client;
} rooms_client;

static cf_code rooms_client_in_use(catalog_rooms *self, rpc_call *call, const char *app_id,
                                   bool *in_use)
{
    rooms_client *rc = (rooms_client *)self;
    Rooms__V1__AppInUseRequest req = ROOMS__V1__APP_IN_USE_REQUEST__INIT;
    req.app_id = (char *)app_id;
    rpc_ccall cc;
    rpc_ccall_init(&cc, call);
    const char *auth = rpc_md_get(call, "authorization");
    if (auth)
        rpc_ccall_md(&cc, "authorization", auth);
    rooms__v1__rooms__app_in_use(rpc_client_service(rc->client, &rooms__v1__rooms__descriptor),
                                 &req, NULL, &cc);
    cf_code code = cc.code;
    if (code == CF_OK)
        *in_use = ((Rooms__V1__AppInUseResponse *)cc.response)->in_use;
    else
        log_rid(LOG_WARN, rpc_request_id(call), "rooms AppInUse: %s: %s", cf_code_name(code),
                cc.message);
    rpc_ccall_free(&cc);
    return code == CF_OK ? CF_OK : (code == CF_DEADLINE_EXCEEDED ? code : CF_UNAVAILABLE);
}

static void rooms_client_free(catalog_rooms *self)
{
    rooms_client *rc = (rooms_client *)self;
    rpc_client_free(rc->client);
    free(rc);
}

cf_code catalog_rooms_client_new(const cfg_strlist *urls, rpc_ident *ident, catalog_rooms **out,
                                 char *err, size_t errlen)
{
    rooms_client *rc = xcalloc(1, sizeof *rc);
    rc->hook = (catalog_rooms){rooms_client_in_use, rooms_client_free};
    rpc_client_config cfg = {.urls = (const char *const *)urls->items,
                             .nurls = urls->n,
                             .timeout_ms = 3000,
                             .ident = ident};
    cf_code code = rpc_client_new(&cfg, &rc->client, err, errlen);
    if (code != CF_OK) {
        free(rc);
        return code;
    }
    *out = &rc->hook;
    return CF_OK;
}
