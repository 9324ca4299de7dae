/* db.h — PostgreSQL access for a service's store layer: one connection with its statements
 * prepared by name, statement execution, and the one translation of SQLSTATEs into cf_code.
 *
 * Lifetime: db_conn_new (no I/O) → db_conn_ensure / db_exec / db_tx … → db_conn_free.
 * A db_conn is used by one thread at a time (a worker owns its connection); nothing here locks.
 * Every call that talks to the server blocks: never call one from an nng aio callback.
 * PGresult stays inside the store layer: a store function reads what it needs, then PQclear's. */
#ifndef CONFETTI_DB_DB_H
#define CONFETTI_DB_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "base/status.h"

/* One prepared statement of a service: `name` is what db_exec is called with, `sql` uses $1…
 * placeholders. Tables are static data, declared once per store:
 *   static const db_stmt store_stmts[] = {{"room_get", "SELECT … WHERE id = $1"}, …}; */
typedef struct db_stmt {
    const char *name;
    const char *sql;
} db_stmt;

typedef struct db_conn db_conn;

/* How long the database may make a caller wait (docs/operations.md, "Database timeouts"; the
 * db.* config keys of svc). Every connection gets them; what the conninfo string says itself
 * wins (a DSN with its own `options` replaces the server settings below).
 *   connect_timeout_ms    establishing a connection (TCP, startup, session setup, prepares)
 *   statement_timeout_ms  the server's statement_timeout, and how long the client waits for a
 *                         result when no call deadline is set (db_conn_set_deadline)
 *   keepalives_*          TCP keepalives: a peer gone silent (host down, network black hole)
 *                         is found on an idle connection after idle + interval × count
 *   tcp_user_timeout_ms   data sent but unacknowledged that long drops the connection
 *   client_check_ms       the server's client_connection_check_interval: a backend whose
 *                         client went away (we close the connection at a deadline) stops its
 *                         statement within this interval instead of running it to the end */
typedef struct db_limits {
    int64_t connect_timeout_ms;
    int64_t statement_timeout_ms;
    int64_t keepalives_idle_ms;
    int64_t keepalives_interval_ms;
    int64_t keepalives_count;
    int64_t tcp_user_timeout_ms;
    int64_t client_check_ms;
} db_limits;

#define DB_LIMITS_DEFAULT                                                                          \
    {                                                                                              \
        .connect_timeout_ms = 5000, .statement_timeout_ms = 30000, .keepalives_idle_ms = 30000,    \
        .keepalives_interval_ms = 10000, .keepalives_count = 3, .tcp_user_timeout_ms = 30000,      \
        .client_check_ms = 1000                                                                    \
    }

/* Makes a connection handle; no I/O happens until db_conn_ensure or the first db_exec.
 * conninfo is a libpq connection string (copied). schema is the service's own schema, put first
 * on search_path (copied). stmts is borrowed and must outlive the handle (a static table).
 * Never fails (allocation failure aborts). */
db_conn *db_conn_new(const char *conninfo, const char *schema, const db_stmt *stmts, size_t n);

/* Makes the connection usable: connects if it never did or if it was found broken, sets
 * search_path (schema, public) and a fallback application_name ("confetti-<schema>"), and
 * prepares every statement of the table by name; on a healthy connection it only rolls back a
 * transaction left open by an earlier caller. CF_UNAVAILABLE if the server cannot be reached;
 * if a statement does not prepare, logs its name and the SQLSTATE and returns the mapped code
 * (so /readyz stays red). Blocks: the whole connect and setup up to connect_timeout_ms, and
 * never past the deadline (CF_DEADLINE_EXCEEDED then). */
cf_code db_conn_ensure(db_conn *c);

/* Replaces the limits (DB_LIMITS_DEFAULT until then); they apply from the next connect. l is
 * copied. */
void db_conn_set_limits(db_conn *c, const db_limits *l);

/* Bounds everything the connection does from now on, until changed, by deadline_ns (monotonic,
 * cf_mono_ns; 0 = no deadline: each operation then waits at most statement_timeout_ms, and a
 * connect at most connect_timeout_ms). Past it, an operation not yet sent returns
 * CF_DEADLINE_EXCEEDED without asking the server; one in flight (a stopped or black-holed
 * server that does not answer) is abandoned: the connection is closed, which makes the server
 * roll back whatever it had not committed, and CF_DEADLINE_EXCEEDED is returned. A db_tx
 * started with a deadline also carries it to the server as its statement_timeout, so a
 * statement that is merely slow (a lock wait) is stopped there without losing the connection.
 * The RPC server sets it for each call from the call's deadline (svc). No I/O. */
void db_conn_set_deadline(db_conn *c, int64_t deadline_ns);

/* Closes the connection and frees the handle. NULL is a no-op. */
void db_conn_free(db_conn *c);

/* True if the last operation left the connection connected with every statement prepared.
 * Does no I/O: a server that went away is noticed by the next operation. */
bool db_conn_ok(db_conn *c);

/* The underlying libpq connection, borrowed (NULL before the first ensure). An escape hatch for
 * tests and tools; store code goes through db_exec. */
PGconn *db_conn_pg(db_conn *c);

/* Runs the prepared statement `stmt_name` with nparams text parameters (NULL element = SQL
 * NULL). On CF_OK, *out (if out is not NULL) receives the result, which the caller PQclear's;
 * pass out = NULL to discard it. On error *out is left NULL and the code comes from the SQLSTATE
 * (db_code_from_sqlstate); the SQLSTATE and server message are logged, parameter values never.
 * Outside db_tx, a connection found dead before sending is re-established once and the
 * statement then sent; inside db_tx a lost connection is CF_UNAVAILABLE and the transaction is
 * gone. Blocks. */
cf_code db_exec(db_conn *c, const char *stmt_name, int nparams, const char *const *values,
                PGresult **out);

/* db_exec for a statement that reads one row by key: CF_OK with *out holding at least one row
 * (the caller reads row 0 and PQclear's), CF_NOT_FOUND (nothing to clear) when none came back,
 * or db_exec's error. */
cf_code db_exec_row(db_conn *c, const char *stmt_name, int nparams, const char *const *values,
                    PGresult **out);

/* Same as db_exec for a parameterized statement that is not prepared: the planner sees the
 * actual values every time (a custom plan), which matters on skewed data (STACK.md: a generic
 * plan for a huge room was 20-30x slower). sql must be a constant written in the store, never
 * built from input. Transaction control belongs to db_tx: a transaction opened here is rolled
 * back by the next call outside db_tx. */
cf_code db_exec_sql(db_conn *c, const char *sql, int nparams, const char *const *values,
                    PGresult **out);

/* The SQLSTATE of the last statement on c: "" if it succeeded; after a failed db_tx, the one
 * that failed it (the rollback does not count). Lets a store tell which constraint class fired
 * without reading message text. Borrowed. */
const char *db_last_sqlstate(db_conn *c);

/* The one translation from a five-character SQLSTATE to a status code:
 *   23505 unique_violation                       → CF_ALREADY_EXISTS
 *   23503 foreign_key_violation                  → CF_FAILED_PRECONDITION
 *   23514 check, 23502 not-null, class 22 (data) → CF_INVALID_ARGUMENT
 *   40001 serialization, 40P01 deadlock          → CF_ABORTED
 *   57014 query_canceled (statement_timeout)     → CF_DEADLINE_EXCEEDED
 *   class 08 (connection), 57P01-57P03 (shutdown, crash, starting), 53300 too_many_connections
 *                                                → CF_UNAVAILABLE
 *   anything else, NULL or malformed             → CF_INTERNAL */
cf_code db_code_from_sqlstate(const char *sqlstate);

#endif
