/* A database step at start that is retried while the database is out of reach.
 *
 * A replica started beside a database that is still starting, failing over or starved (a busy
 * node: the stress series saw a first read run past its deadline) used to exit at once, and the
 * platform relied on a restart to try again. Now each such step (migrations, the saved event
 * positions a consumer starts from) is tried again with a growing pause (100 ms doubling to 2 s)
 * for up to `db.start_wait`, each failure logged; the process is not ready meanwhile (its admin
 * port is not up yet). Only the codes that mean "not reachable now" are retried (UNAVAILABLE,
 * DEADLINE_EXCEEDED); a SIGTERM or SIGINT waiting for the main thread ends the wait early. */
#ifndef CONFETTI_SVC_STARTWAIT_H
#define CONFETTI_SVC_STARTWAIT_H

#include "base/status.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One attempt: CF_OK, or a code and a reason in err. */
typedef cf_code (*svc_start_step)(void *arg, char *err, size_t errlen);

/* Runs step until it succeeds, fails for another reason, wait_ms pass (0: one attempt) or a stop
 * signal is pending. Returns the last attempt's code; err holds its reason. what names the step
 * in the log ("migrations", "rooms: auth event position"). */
cf_code svc_start_retry(int64_t wait_ms, const char *what, svc_start_step step, void *arg,
                        char *err, size_t errlen);

/* True when SIGTERM or SIGINT is pending (blocked and not yet taken by the main thread). */
bool svc_stop_pending(void);

#endif
