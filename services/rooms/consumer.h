/* consumer.h — the events confetti-rooms reacts to: `user.deleted` from auth marks the user's
 * participations left (SPEC §1). A subscriber (common/events) on its own thread and database
 * connection; its position per source is kept in rooms.event_positions, written in the same
 * transaction as the reaction, so each event takes effect exactly once across restarts. */
#ifndef CONFETTI_ROOMS_CONSUMER_H
#define CONFETTI_ROOMS_CONSUMER_H

#include "base/status.h"
#include "cfg/cfg.h"
#include "db/db.h"
#include "rpc/ident.h"

typedef struct rooms_consumer rooms_consumer;

/* Starts subscribing on bus (the broker's subscriber side) to auth, whose Replay is at
 * auth_urls. Reads the saved position first, retried for up to start_wait_ms while the database
 * is out of reach (svc/startwait.h; CF_UNAVAILABLE with err if it still cannot be read).
 * Strings are copied. */
cf_code rooms_consumer_start(const char *dsn, const db_limits *limits, int64_t start_wait_ms,
                             const char *bus, const cfg_strlist *auth_urls, rpc_ident *ident,
                             rooms_consumer **out, char *err, size_t errlen);
/* Stops and frees. NULL is a no-op. Blocks until the event in progress is handled. */
void rooms_consumer_stop(rooms_consumer *c);

#endif
