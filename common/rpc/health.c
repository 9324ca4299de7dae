/* health.c — health.v1.Health/Check, built into every RPC server, as gRPC's health protocol
 * answers it: for "" (the process as a whole) and for each full service name the server
 * registered ("rooms.v1.Rooms", "health.v1.Health"), SERVING while the server is ready (its
 * readiness callback, not draining), NOT_SERVING otherwise; any other name is NOT_FOUND. */
#include "rpc.h"
#include "server.h"
#include "confetti_proto_handlers.h"

bool rpc_server_ready(rpc_server *s);
bool rpc_server_serves(const rpc_server *s, const char *service);

RPC_HANDLER(rpc_health_check)
{
    rpc_server *s = rpc_service_ctx(call);
    if (*req->service && !rpc_server_serves(s, req->service))
        return rpc_error(call, CF_NOT_FOUND, "unknown service %.200s", req->service);
    resp->status = rpc_server_ready(s) ? HEALTH__V1__CHECK_RESPONSE__SERVING_STATUS__SERVING
                                       : HEALTH__V1__CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
    return CF_OK;
}
static Health__V1__Health_Service health_service = HEALTH__V1__HEALTH__INIT(rpc_health_);

ProtobufCService *rpc_health_service(void)
{
    return &health_service.base;
}

/* Probes (Kubernetes, the gateway's monitor) may carry any token. */
static const rpc_scope_rule health_rules[] = {{"Check", RPC_SCOPE_OPEN}};
const rpc_scope_table rpc_health_scopes = {&health__v1__health__descriptor, health_rules, 1};
