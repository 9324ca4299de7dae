/* internal.h — what the db module's files share and no caller sees: the db_conn layout and
 * the one place a PGresult is judged. */
#ifndef CONFETTI_DB_INTERNAL_H
#define CONFETTI_DB_INTERNAL_H

#include <stdbool.h>

#include "db/db.h"

struct db_conn {
    char *conninfo;
    char *schema;
    const db_stmt *stmts; /* borrowed static table */
    size_t nstmts;
    PGconn *pg;          /* NULL until the first connect */
    bool ready;          /* connected, session set up, every statement prepared */
    bool in_tx;          /* inside db_tx: a lost connection must surface, never be replaced */
    char sqlstate[6];    /* of the last failed statement, "" after a success */
    char tx_sqlstate[6]; /* of the first failure in the current transaction */
    cf_code tx_code;     /* code of that first failure */
    db_limits limits;
    int64_t deadline_ns; /* monotonic; 0 = none (db_conn_set_deadline) */
    bool timed_out;      /* the last wait ended at the deadline (the connection was closed) */
    /* A connect the server has not answered yet, kept across calls (conn.c): c->pg is then a
     * connection in progress, polled from where the last call left it. */
    bool connecting;
    int connect_poll;         /* the PostgresPollingStatusType to wait for next */
    int64_t connect_start_ns; /* when the attempt began: it is given up past connect_timeout */
};

/* The instant the current operation must end by: the deadline, or statement_timeout_ms from
 * now when there is none. */
int64_t db__op_end(const db_conn *c);

/* True if the deadline is set and has passed (nothing should be sent). */
bool db__expired(const db_conn *c);

/* After a PQsend* on c: flushes and collects the results as PQexec would (the last one, or
 * the first error), waiting at most until end_ns. On timeout closes the connection, sets
 * c->timed_out and returns NULL; a lost connection also returns NULL. The caller judges the
 * result with db__result. */
PGresult *db__wait_result(db_conn *c, int64_t end_ns);

/* Flushes what c has queued and waits until PQgetResult would not block, at most until end_ns.
 * false on timeout (connection closed, c->timed_out set) or a lost connection. */
bool db__wait_ready(db_conn *c, int64_t end_ns);

/* Closes the connection (no I/O that can block) and marks it for reconnection. */
void db__close(db_conn *c);

/* Prepared on every connection (conn.c) for tx.c: bounds the statements of the current
 * transaction ($1 = milliseconds as text). Prepared, because a draw runs it on every call. */
#define DB_TIMEOUT_STMT "confetti_db_timeout"
#define DB_TIMEOUT_SQL  "SELECT pg_catalog.set_config('statement_timeout', $1, true)"

/* Judges res (may be NULL) from the statement called `what` (a name or constant SQL, never
 * values): on success hands it to *out or clears it and returns CF_OK; on failure records and
 * logs the SQLSTATE, marks the connection for reconnection if it was lost, clears res and
 * returns the translated code. */
cf_code db__result(db_conn *c, PGresult *res, const char *what, PGresult **out);

/* True if c's connection is established and the server has not hung up on it (checked
 * without blocking; see conn.c). */
bool db__conn_alive(db_conn *c);

/* Rolls back whatever transaction is open on c, if the connection allows; a failure marks the
 * connection for reconnection. */
void db__rollback(db_conn *c);

#endif
