/* gw_start.c — see gw_start.h. */
#include "gw_start.h"
#include "th.h"

#include <unistd.h>

/* the proto registry (gen/confetti_proto_registry.c) */
extern const ProtobufCServiceDescriptor *const confetti_services[];

gw *gw_test_start(char *const *env, gw_config *cfg, cfg_schema *schema, authn_verifier *verifier,
                  metrics *mx)
{
    static const ProtobufCServiceDescriptor *const *const registries[] = {confetti_services, NULL};
    *schema = (cfg_schema){gw_config_fields, gw_config_nfields, cfg};
    char err[512];
    if (cfg_load(schema, 1, NULL, env, err, sizeof err) != CF_OK)
        fail_msg("%s", err);
    gw_backend_def b[6];
    size_t nb = gw_default_backends(cfg, b);
    gw_params p = {.cfg = cfg,
                   .routes = gw_routes,
                   .nroutes = gw_nroutes,
                   .registries = registries,
                   .backends = b,
                   .nbackends = nb,
                   .verifier = verifier,
                   .metrics = mx};
    gw *g = NULL;
    if (gw_new(&p, &g, err, sizeof err) != CF_OK || gw_start(g, err, sizeof err) != CF_OK)
        fail_msg("%s", err);
    for (int i = 0; i < 600 && !gw_ready(g); i++)
        usleep(50000);
    assert_true(gw_ready(g));
    return g;
}
