/* health.c — health.v1.Health/Check, built into every RPC server: SERVING while the server is
 * ready (its readiness callback, not draining), NOT_SERVING otherwise. */
#include "rpc.h"
#include "server.h"
#include "confetti_proto_handlers.h"

bool rpc_server_ready(rpc_server *s);

RPC_HANDLER(rpc_health_check)
{
    (void)req;
    resp->status = rpc_server_ready(rpc_service_ctx(call))
                       ? HEALTH__V1__CHECK_RESPONSE__SERVING_STATUS__SERVING
                       : HEALTH__V1__CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
    return CF_OK;
}

static Health__V1__Health_Service health_service = HEALTH__V1__HEALTH__INIT(rpc_health_);

ProtobufCService *rpc_health_service(void)
{
    return &health_service.base;
}
