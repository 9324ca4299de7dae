/* gw_start.h — a whole gateway for an integration test: the config from env (KEY=VALUE, NULL
 * ended) into *cfg through *schema (both the test's, freed by it with cfg_free), the default
 * backends, every route of confetti_services, started and waited for until ready. Fails the
 * test on any error. Used by test_audit.c and test_idempotency.c. */
#ifndef CONFETTI_TEST_GW_START_H
#define CONFETTI_TEST_GW_START_H

#include "gateway.h"

gw *gw_test_start(char *const *env, gw_config *cfg, cfg_schema *schema, authn_verifier *verifier,
                  metrics *mx);

#endif
