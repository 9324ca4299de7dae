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
};

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
