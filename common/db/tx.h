/* tx.h — transactions over a db_conn: BEGIN, the caller's function, COMMIT or ROLLBACK, with
 * whole-transaction retries when PostgreSQL reports a serialization failure or a deadlock. */
#ifndef CONFETTI_DB_TX_H
#define CONFETTI_DB_TX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/db.h"

typedef enum db_isolation {
    DB_READ_COMMITTED,
    DB_REPEATABLE_READ,
    DB_SERIALIZABLE,
} db_isolation;

/* The body of a transaction: runs statements on c (db_exec…) and returns CF_OK to commit, any
 * other code to roll back. It may run more than once (see db_tx), so it must not have side
 * effects outside the database, and must reset whatever it accumulates in arg at its start. */
typedef cf_code (*db_tx_fn)(db_conn *c, void *arg);

/* Runs fn inside BEGIN … COMMIT at READ COMMITTED. If fn returns non-OK, or a statement in it
 * failed, rolls back and returns that code. When the transaction fails with 40001 or 40P01
 * (CF_ABORTED from the server, in fn or at COMMIT), the whole fn is run again, up to 3 attempts
 * in all; CF_ABORTED that fn returns on its own is not retried. A connection lost in the
 * middle gives CF_UNAVAILABLE and is not retried (a COMMIT in flight may have landed). The
 * connection is idle and reusable afterwards. Not reentrant: no db_tx inside fn. Blocks. */
cf_code db_tx(db_conn *c, db_tx_fn fn, void *arg);

/* db_tx at another isolation level. */
cf_code db_tx_level(db_conn *c, db_isolation level, db_tx_fn fn, void *arg);

/* Bounds every later statement of the current transaction to ms milliseconds
 * (SET LOCAL statement_timeout, through set_config); a statement past it fails with
 * CF_DEADLINE_EXCEEDED. ms <= 0 (the deadline has passed) returns CF_DEADLINE_EXCEEDED without
 * asking the server. Only inside db_tx (programmer error otherwise). Blocks. */
cf_code db_set_local_timeout(db_conn *c, int64_t ms);

/* Runs the prepared statement `stmt_name` as a transaction of its own, bounded by ms
 * milliseconds, in ONE round trip: the timeout and the statement are sent together in libpq's
 * pipeline mode and the Sync commits them (or rolls them back when the statement fails). Row
 * locks the statement takes are held only while the server executes it, never across a round
 * trip to this process, so it is the form for a short write on a hot row (draw's allocation).
 * Results and errors as db_exec (a statement that fails is rolled back; nothing to undo). ms <=
 * 0 returns CF_DEADLINE_EXCEEDED without asking the server. Not inside db_tx. A connection found
 * dead before sending is re-established once, as db_exec does. Blocks. */
cf_code db_exec_tx(db_conn *c, int64_t ms, const char *stmt_name, int nparams,
                   const char *const *values, PGresult **out);

/* One statement of db_pipeline_tx: a prepared statement by name, or (sql true) constant SQL
 * written in the store, never built from input. */
typedef struct db_step {
    const char *stmt;
    bool sql;
    int nparams;
    const char *const *values;
    PGresult **out; /* receives the result on success (the caller PQclear's), or NULL */
} db_step;

/* db_exec_tx for several statements: steps[0..n) run in order as ONE transaction, sent in ONE
 * round trip. Each statement takes its own snapshot (READ COMMITTED), after the locks the
 * earlier ones took, and sees their changes. The first failure rolls everything back and is
 * returned (its SQLSTATE as db_last_sqlstate); the later steps do not run, and no step's *out
 * is set. On success every *out is set. Not for a connection that LISTENs: the events relay
 * tried it and lost notifications under load (docs/events.md). */
cf_code db_pipeline_tx(db_conn *c, int64_t ms, const db_step *steps, size_t n);

#endif
