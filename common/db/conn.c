/* conn.c — a service's connection: connect, session setup (search_path, application_name),
 * every statement prepared once by name, and the health checks done before each reuse. */
#include "db/internal.h"

#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
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
    c->limits = (db_limits)DB_LIMITS_DEFAULT;
    return c;
}

void db_conn_set_limits(db_conn *c, const db_limits *l)
{
    c->limits = *l;
}

void db_conn_set_deadline(db_conn *c, int64_t deadline_ns)
{
    c->deadline_ns = deadline_ns;
}

/* PQfinish sends Terminate on a non-blocking socket (libpq's sockets always are): it never
 * waits for a server that stopped reading. */
void db__close(db_conn *c)
{
    PQfinish(c->pg);
    c->pg = NULL;
    c->ready = false;
    c->connecting = false;
}

void db_conn_free(db_conn *c)
{
    if (!c)
        return;
    db__close(c);
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
enum { ROLLBACK_LEAST_MS = 250 };

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
    /* a rollback after the deadline still gets a moment: on a live server it takes well under
     * a millisecond, and keeps the connection; a silent one costs the connection instead */
    int64_t end = db__op_end(c), least = cf_mono_ns() + ROLLBACK_LEAST_MS * 1000000;
    PGresult *res =
        PQsendQuery(c->pg, "ROLLBACK") ? db__wait_result(c, end > least ? end : least) : NULL;
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

/* Whole seconds for libpq's second-valued keys: rounded up, at least 1. */
static void secs(char *buf, size_t len, int64_t ms)
{
    int64_t s = (ms + 999) / 1000;
    snprintf(buf, len, "%lld", (long long)(s < 1 ? 1 : s));
}

/* Starts a non-blocking connect with the limits as connection parameters. */
static bool connect_start(db_conn *c, const char *app)
{
    char ct[24], idle[24], intvl[24], cnt[24], uto[24], opts[128];
    secs(ct, sizeof ct, c->limits.connect_timeout_ms);
    secs(idle, sizeof idle, c->limits.keepalives_idle_ms);
    secs(intvl, sizeof intvl, c->limits.keepalives_interval_ms);
    snprintf(cnt, sizeof cnt, "%lld", (long long)c->limits.keepalives_count);
    snprintf(uto, sizeof uto, "%lld", (long long)c->limits.tcp_user_timeout_ms);
    snprintf(opts, sizeof opts,
             "-c statement_timeout=%lld -c client_connection_check_interval=%lld",
             (long long)c->limits.statement_timeout_ms, (long long)c->limits.client_check_ms);
    /* dbname is expanded as a connection string; its settings override the earlier defaults,
     * so a conninfo may still choose its own keepalives or application_name (keepalives apply
     * to TCP only: a unix socket has none and needs none). */
    const char *const keys[] = {"connect_timeout",  "keepalives",
                                "keepalives_idle",  "keepalives_interval",
                                "keepalives_count", "tcp_user_timeout",
                                "options",          "fallback_application_name",
                                "dbname",           NULL};
    const char *const vals[] = {ct, "1", idle, intvl, cnt, uto, opts, app, c->conninfo, NULL};
    c->pg = PQconnectStartParams(keys, vals, 1);
    if (!c->pg || PQstatus(c->pg) == CONNECTION_BAD)
        return false;
    c->connecting = true;
    c->connect_poll = PGRES_POLLING_WRITING;
    c->connect_start_ns = cf_mono_ns();
    return true;
}

/* Drives the connect with poll() until end_ns: PQconnectdb would wait on a server that accepted
 * the TCP connection but never answers the startup packet (a stopped postmaster) for libpq's
 * own connect_timeout. A connect still unanswered at end_ns is KEPT (c->connecting) and the
 * next call goes on polling it: starting a new one per call would pile up, in a frozen
 * server's accept queue, one connection per call, each to be forked and set up when it thaws
 * before the connection that matters. */
static bool connect_until(db_conn *c, const char *app, int64_t end_ns)
{
    if (!c->connecting && !connect_start(c, app))
        return false;
    PostgresPollingStatusType st = (PostgresPollingStatusType)c->connect_poll;
    while (st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED) {
        int64_t left = end_ns - cf_mono_ns();
        if (left <= 0) {
            c->connect_poll = (int)st;
            c->timed_out = true;
            return false;
        }
        struct pollfd p = {.fd = PQsocket(c->pg),
                           .events = st == PGRES_POLLING_READING ? POLLIN : POLLOUT};
        int r = poll(&p, 1, (int)((left + 999999) / 1000000));
        if (r < 0 && errno != EINTR)
            break;
        if (r > 0)
            st = PQconnectPoll(c->pg);
    }
    c->connecting = false;
    return st == PGRES_POLLING_OK && PQsetnonblocking(c->pg, 1) == 0;
}

/* Runs one setup step sent by the caller (ok = the PQsend* succeeded). */
static cf_code setup_step(db_conn *c, bool ok, int64_t end_ns, const char *what)
{
    return db__result(c, ok ? db__wait_result(c, end_ns) : NULL, what, NULL);
}

/* Connects and sets the session up, all of it before end_ns; on failure the connection is
 * closed again. */
static cf_code conn_setup(db_conn *c, int64_t end_ns)
{
    char app[64];
    snprintf(app, sizeof app, "confetti-%s", c->schema);
    c->timed_out = false;
    if (!connect_until(c, app, end_ns)) {
        bool gave_up = c->timed_out &&
                       cf_mono_ns() - c->connect_start_ns >= c->limits.connect_timeout_ms * 1000000;
        const char *m = c->timed_out ? "no answer from the server yet"
                        : c->pg      ? PQerrorMessage(c->pg)
                                     : "out of memory";
        log_error("db: cannot connect (schema %s): %.*s%s", c->schema, (int)strcspn(m, "\n"), m,
                  c->timed_out && !gave_up ? " (the attempt goes on with the next call)" : "");
        if (!c->timed_out || gave_up)
            db__close(c);
        return c->timed_out ? CF_DEADLINE_EXCEEDED : CF_UNAVAILABLE;
    }

    PQsetNoticeProcessor(c->pg, log_notice, NULL);

    char *ident = PQescapeIdentifier(c->pg, c->schema, strlen(c->schema));
    if (!ident) {
        db__close(c);
        return CF_INTERNAL;
    }
    char *path = xasprintf("%s, public", ident);
    PQfreemem(ident);
    const char *const pv[] = {path};
    cf_code code = setup_step(
        c,
        PQsendQueryParams(c->pg, "SELECT pg_catalog.set_config('search_path', $1, false)", 1, NULL,
                          pv, NULL, NULL, 0),
        end_ns, "set search_path");
    free(path);
    if (code == CF_OK)
        code = setup_step(c, PQsendPrepare(c->pg, DB_TIMEOUT_STMT, DB_TIMEOUT_SQL, 0, NULL), end_ns,
                          "prepare " DB_TIMEOUT_STMT);

    for (size_t i = 0; code == CF_OK && i < c->nstmts; i++) {
        char what[128];
        snprintf(what, sizeof what, "prepare %s", c->stmts[i].name);
        code = setup_step(c, PQsendPrepare(c->pg, c->stmts[i].name, c->stmts[i].sql, 0, NULL),
                          end_ns, what);
        if (code != CF_OK && !c->timed_out && c->pg)
            log_error("db: statement %s does not prepare; the store is not ready",
                      c->stmts[i].name);
    }
    if (code != CF_OK) {
        db__close(c);
        return code;
    }
    c->ready = true;
    return CF_OK;
}

/* The connect bound is db.connect_timeout, cut short by the call's deadline: running out of
 * the first is the server's fault (UNAVAILABLE), of the second the caller's budget
 * (DEADLINE_EXCEEDED). */
static cf_code conn_open(db_conn *c)
{
    if (db__expired(c))
        return CF_DEADLINE_EXCEEDED;
    int64_t end = (c->connecting ? c->connect_start_ns : cf_mono_ns()) +
                  c->limits.connect_timeout_ms * 1000000;
    bool by_deadline = c->deadline_ns && c->deadline_ns < end;
    if (by_deadline)
        end = c->deadline_ns;
    cf_code code = conn_setup(c, end);
    if (code == CF_DEADLINE_EXCEEDED && !by_deadline)
        code = CF_UNAVAILABLE;
    return code;
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
    if (c->connecting) /* an attempt an earlier call left unanswered: go on with it */
        return conn_open(c);
    if (c->pg)
        log_warn("db: connection lost (schema %s); reconnecting", c->schema);
    db__close(c);
    return conn_open(c);
}
