/* conn.c — a service's connection: connect, session setup (search_path, application_name),
 * every statement prepared once by name, and the health checks done before each reuse. */
#include "db/internal.h"

#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/xmalloc.h"

db_conn *db_conn_new(const char *conninfo, const char *schema, const db_stmt *stmts, size_t n)
{
    assert(conninfo && schema && *schema && (stmts || n == 0));
    db_conn *c = xcalloc(1, sizeof *c);
    c->conninfo = xstrdup(conninfo);
    c->schema = xstrdup(schema);
    c->stmts = stmts;
    c->nstmts = n;
    return c;
}

static void conn_close(db_conn *c)
{
    PQfinish(c->pg);
    c->pg = NULL;
    c->ready = false;
}

void db_conn_free(db_conn *c)
{
    if (!c)
        return;
    conn_close(c);
    free(c->conninfo);
    free(c->schema);
    free(c);
}

bool db_conn_ok(db_conn *c)
{
    return c->ready && PQstatus(c->pg) == CONNECTION_OK;
}

PGconn *db_conn_pg(db_conn *c)
{
    return c->pg;
}

const char *db_last_sqlstate(db_conn *c)
{
    return c->sqlstate;
}

/* An idle connection outside a transaction gets nothing from the server (we never LISTEN), so
 * anything readable on its socket is a goodbye: the FATAL that pg_terminate_backend, a server
 * shutdown or idle_session_timeout sends, then EOF. Reading it lets libpq mark the connection
 * bad *before* a statement is sent on it, which is what makes a reconnect-and-send safe. */
bool db__conn_alive(db_conn *c)
{
    if (!c->pg || PQstatus(c->pg) != CONNECTION_OK)
        return false;
    struct pollfd p = {.fd = PQsocket(c->pg), .events = POLLIN};
    for (int i = 0; i < 16; i++) { /* bounded: a chatty server cannot keep us here */
        int r = poll(&p, 1, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r != 1)
            break;
        if (!PQconsumeInput(c->pg))
            return false;
        for (PGnotify *n; (n = PQnotifies(c->pg));)
            PQfreemem(n);
    }
    return PQstatus(c->pg) == CONNECTION_OK;
}

void db__rollback(db_conn *c)
{
    if (!c->pg || PQstatus(c->pg) != CONNECTION_OK) {
        c->ready = false;
        return;
    }
    if (PQtransactionStatus(c->pg) == PQTRANS_IDLE)
        return;
    PGresult *res = PQexec(c->pg, "ROLLBACK");
    if (PQresultStatus(res) != PGRES_COMMAND_OK || PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
        log_warn("db: ROLLBACK failed (schema %s); the connection will be replaced", c->schema);
        c->ready = false;
    }
    PQclear(res);
}

/* Server notices go to the structured log instead of libpq's raw stderr. */
static void log_notice(void *arg, const char *message)
{
    (void)arg;
    log_debug("db: server notice: %.*s", (int)strcspn(message, "\n"), message);
}

/* Connects and sets the session up; on failure the connection is closed again. */
static cf_code conn_open(db_conn *c)
{
    char app[64];
    snprintf(app, sizeof app, "confetti-%s", c->schema);
    /* dbname is expanded as a connection string; its settings override the earlier defaults,
     * so a conninfo may still choose its own connect_timeout or application_name. */
    const char *const keys[] = {"connect_timeout", "fallback_application_name", "dbname", NULL};
    const char *const vals[] = {"10", app, c->conninfo, NULL};
    c->pg = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(c->pg) != CONNECTION_OK) {
        const char *m = PQerrorMessage(c->pg);
        log_error("db: cannot connect (schema %s): %.*s", c->schema, (int)strcspn(m, "\n"), m);
        conn_close(c);
        return CF_UNAVAILABLE;
    }

    PQsetNoticeProcessor(c->pg, log_notice, NULL);

    char *ident = PQescapeIdentifier(c->pg, c->schema, strlen(c->schema));
    if (!ident) {
        conn_close(c);
        return CF_INTERNAL;
    }
    char *path = xasprintf("%s, public", ident);
    PQfreemem(ident);
    const char *const pv[] = {path};
    cf_code code =
        db__result(c,
                   PQexecParams(c->pg, "SELECT pg_catalog.set_config('search_path', $1, false)", 1,
                                NULL, pv, NULL, NULL, 0),
                   "set search_path", NULL);
    free(path);
    if (code == CF_OK)
        code = db__result(c, PQprepare(c->pg, DB_TIMEOUT_STMT, DB_TIMEOUT_SQL, 0, NULL),
                          "prepare " DB_TIMEOUT_STMT, NULL);

    for (size_t i = 0; code == CF_OK && i < c->nstmts; i++) {
        char what[128];
        snprintf(what, sizeof what, "prepare %s", c->stmts[i].name);
        code =
            db__result(c, PQprepare(c->pg, c->stmts[i].name, c->stmts[i].sql, 0, NULL), what, NULL);
        if (code != CF_OK)
            log_error("db: statement %s does not prepare; the store is not ready",
                      c->stmts[i].name);
    }
    if (code != CF_OK) {
        conn_close(c);
        return code;
    }
    c->ready = true;
    return CF_OK;
}

cf_code db_conn_ensure(db_conn *c)
{
    if (c->in_tx) /* replacing the connection would silently drop the transaction */
        return db_conn_ok(c) ? CF_OK : CF_UNAVAILABLE;
    if (c->ready && db__conn_alive(c)) {
        PGTransactionStatusType ts = PQtransactionStatus(c->pg);
        if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR) {
            log_warn("db: a transaction was left open (schema %s); rolling it back", c->schema);
            db__rollback(c);
            ts = PQtransactionStatus(c->pg);
        }
        if (c->ready && ts == PQTRANS_IDLE)
            return CF_OK;
    }
    if (c->pg)
        log_warn("db: connection lost (schema %s); reconnecting", c->schema);
    conn_close(c);
    return conn_open(c);
}
