/* relay.h — the read half of the outbox: a thread per publishing process that numbers committed
 * outbox rows in commit order, publishes them on the bus in that order, and forgets published
 * rows after the retention. svc.c runs one for every svc_def with `publishes` set.
 *
 * Ordering: rows are inserted with seq NULL. A pass, in one transaction holding the outbox_state
 * row lock (so one relay of all replicas at a time), gives the unsequenced rows it can see —
 * committed ones only — the numbers last_seq+1 … last_seq+k, and commits. A transaction that
 * commits later is seen by a later pass and gets a higher number; no number is ever given twice
 * or left out, so a subscriber may treat any hole as a loss (docs/events.md has the argument).
 *
 * Lifetime: events_relay_start → (thread runs) → events_relay_stop. */
#ifndef CONFETTI_EVENTS_RELAY_H
#define CONFETTI_EVENTS_RELAY_H

#include <stddef.h>
#include <stdint.h>

#include "base/status.h"
#include "cfg/cfg.h"
#include "db/db.h"
#include "rpc/ident.h"

/* The `events` config section of a publishing process (svc.c adds this table). */
typedef struct events_publisher_config {
    char *bus;            /* events.bus: the broker's publisher-side URL, dialed */
    int64_t retention_ms; /* events.retention: how long published rows stay replayable */
    int64_t poll_ms;      /* events.poll: pass interval when no NOTIFY wakes the relay */
    int64_t batch;        /* events.batch: rows per pass */
    int64_t gap_ms;       /* events.pass_gap: least time between the starts of two passes */
} events_publisher_config;

extern const cfg_field events_publisher_fields[];
extern const size_t events_publisher_nfields;

typedef struct events_relay_config {
    const char *dsn;            /* libpq connection string (borrowed for start only) */
    const db_limits *db_limits; /* copied; NULL = DB_LIMITS_DEFAULT */
    const char *schema;         /* the service's schema, holding outbox and outbox_state */
    const char *source;         /* the service's name, the bus topic */
    const char *bus;            /* URL to dial; "" = do not publish (rows are still sequenced) */
    int64_t retention_ms, poll_ms;
    int64_t gap_ms; /* a pass starts at least this long after the previous one started */
    int batch;
    rpc_ident *ident; /* signs every event (borrowed; outlives the relay); without a key
                         nothing is published (the bus would drop it): Replay only */
} events_relay_config;

typedef struct events_relay events_relay;

/* Dials the bus (in the background: a broker that is down is fine) and starts the thread.
 * CF_INVALID_ARGUMENT with err for a bad URL. Strings are copied. */
cf_code events_relay_start(const events_relay_config *cfg, events_relay **out, char *err,
                           size_t errlen);
/* Stops the thread after its current pass and closes the socket. NULL is a no-op. Blocks. */
void events_relay_stop(events_relay *r);

/* What the relay has done so far (thread-safe; for the admin port's /metrics). */
typedef struct events_relay_stats {
    int64_t published_seq;  /* the last seq handed to the bus (0 = none since start) */
    int64_t last_ok_ms;     /* wall clock (ms) of the last pass that succeeded (0 = none yet) */
    uint64_t failed_passes; /* passes that failed (database down, ...) */
} events_relay_stats;

void events_relay_stats_get(events_relay *r, events_relay_stats *out);

/* --- the two steps of a pass, on the caller's connection (the relay's, or a test's) --- */

/* Numbers up to batch unsequenced committed rows in one transaction; *n (may be NULL) = how
 * many. Blocks. */
cf_code events_sequence(db_conn *c, int batch, int *n);

/* Called for each row to publish, in seq order: the packed event with its seq set. Must not
 * block for long (nng pub send). */
typedef void (*events_publish_fn)(void *arg, int64_t seq, const uint8_t *event, size_t len);

/* Hands up to batch sequenced-but-unpublished rows to fn in seq order and records them as
 * published, in one transaction under the outbox_state lock (a failure after fn ran means they
 * are handed again: subscribers drop duplicates). *n (may be NULL) = how many. Blocks. */
cf_code events_publish_pending(db_conn *c, int batch, events_publish_fn fn, void *arg, int *n);

/* Deletes published rows older than retention_ms. Blocks. */
cf_code events_prune(db_conn *c, int64_t retention_ms);
/* The same in batches: deletes at most `batch` of the oldest such rows; *n (may be NULL) = how
 * many. Rows not yet published stay whatever their age. Blocks. */
cf_code events_prune_batch(db_conn *c, int64_t retention_ms, int batch, int64_t *n);

#endif
