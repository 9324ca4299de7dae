/* tx.c — BEGIN, the caller's function, COMMIT or ROLLBACK; the whole function again when the
 * server aborts the transaction for a serialization failure or a deadlock. */
#include "db/tx.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "db/internal.h"

enum { TX_ATTEMPTS = 3 };

static const char *const begin_sql[] = {
    [DB_READ_COMMITTED] = "BEGIN ISOLATION LEVEL READ COMMITTED",
    [DB_REPEATABLE_READ] = "BEGIN ISOLATION LEVEL REPEATABLE READ",
    [DB_SERIALIZABLE] = "BEGIN ISOLATION LEVEL SERIALIZABLE",
};

/* statement_timeout's text for ms (> 0): an int4 of milliseconds */
static void timeout_text(int64_t ms, char v[24])
{
    snprintf(v, 24, "%" PRId64, ms > INT32_MAX ? (int64_t)INT32_MAX : ms);
}

/* Sends constant SQL (no parameters, so several statements may go in one round trip) and
 * judges its result, waiting at most until the deadline. */
static cf_code run_sql(db_conn *c, const char *sql, const char *what)
{
    bool sent = PQsendQuery(c->pg, sql);
    return db__result(c, sent ? db__wait_result(c, db__op_end(c)) : NULL, what, NULL);
}

/* BEGIN, and with a call deadline SET LOCAL statement_timeout to what is left of it, in the same
 * round trip: a statement that is merely slow on a live server (a lock wait) then fails there
 * with 57014 (DEADLINE_EXCEEDED) and the connection stays usable. The server's bound ends a
 * little before the client's (a quarter of what is left, at most SERVER_LEAD_MS), so that its
 * answer arrives before the client gives up on the connection. */
enum { SERVER_LEAD_MS = 250 };

static cf_code begin(db_conn *c, db_isolation level)
{
    if (!c->deadline_ns)
        return run_sql(c, begin_sql[level], begin_sql[level]);
    int64_t ms = (c->deadline_ns - cf_mono_ns()) / 1000000;
    if (ms <= 0)
        return CF_DEADLINE_EXCEEDED;
    ms -= ms / 4 < SERVER_LEAD_MS ? ms / 4 : SERVER_LEAD_MS;
    if (ms < 1)
        ms = 1;
    char v[24], sql[128];
    timeout_text(ms, v);
    snprintf(sql, sizeof sql, "%s; SET LOCAL statement_timeout = %s", begin_sql[level], v);
    return run_sql(c, sql, begin_sql[level]);
}

static cf_code tx_once(db_conn *c, db_isolation level, db_tx_fn fn, void *arg)
{
    if (db__expired(c))
        return CF_DEADLINE_EXCEEDED;
    cf_code code = db_conn_ensure(c);
    if (code != CF_OK)
        return code;
    c->tx_code = CF_OK;
    c->tx_sqlstate[0] = '\0';
    c->in_tx = true;
    code = begin(c, level);
    if (code == CF_OK)
        code = fn(c, arg);
    if (code == CF_OK) {
        switch (PQtransactionStatus(c->pg)) {
        case PQTRANS_INTRANS:
            code = run_sql(c, "COMMIT", "COMMIT");
            break;
        case PQTRANS_INERROR:
            /* fn ignored a failed statement; COMMIT would quietly roll back and report success */
            code = c->tx_code != CF_OK ? c->tx_code : CF_INTERNAL;
            break;
        case PQTRANS_IDLE:
            log_error("db: a transaction body ended the transaction itself (schema %s)", c->schema);
            code = CF_INTERNAL;
            break;
        default:
            code = CF_UNAVAILABLE;
            break;
        }
    }
    if (code != CF_OK)
        db__rollback(c);
    c->in_tx = false;
    return code;
}

static bool server_aborted(const db_conn *c)
{
    return strcmp(c->tx_sqlstate, "40001") == 0 || strcmp(c->tx_sqlstate, "40P01") == 0;
}

cf_code db_tx_level(db_conn *c, db_isolation level, db_tx_fn fn, void *arg)
{
    assert(!c->in_tx && "db_tx is not reentrant");
    assert(level >= DB_READ_COMMITTED && level <= DB_SERIALIZABLE);
    cf_code code = CF_INTERNAL;
    for (int attempt = 1; attempt <= TX_ATTEMPTS; attempt++) {
        code = tx_once(c, level, fn, arg);
        if (code != CF_ABORTED || !server_aborted(c))
            return code;
        if (attempt < TX_ATTEMPTS)
            log_info("db: transaction aborted by the server (SQLSTATE %s), attempt %d of %d",
                     c->tx_sqlstate, attempt + 1, TX_ATTEMPTS);
    }
    return code;
}

cf_code db_tx(db_conn *c, db_tx_fn fn, void *arg)
{
    return db_tx_level(c, DB_READ_COMMITTED, fn, arg);
}

cf_code db_set_local_timeout(db_conn *c, int64_t ms)
{
    assert(c->in_tx && "SET LOCAL outside a transaction has no effect");
    if (ms <= 0)
        return CF_DEADLINE_EXCEEDED;
    char v[24];
    timeout_text(ms, v);
    const char *const vals[] = {v};
    return db_exec(c, DB_TIMEOUT_STMT, 1, vals, NULL);
}

/* Reads the results of a pipeline (the timeout, then steps[0..n)) and its Sync. The first
 * failure is judged (db__result: logged, recorded) and returned; each step's result goes to its
 * out on success. Every result is consumed, so the connection can leave pipeline mode. */
static cf_code pipeline_results(db_conn *c, const db_step *steps, size_t n)
{
    cf_code code = CF_OK;
    size_t query = 0; /* 0: the timeout, then 1 + step index */
    int64_t end = db__op_end(c);
    for (;;) {
        if (!db__wait_ready(c, end))
            return code != CF_OK ? code : db__result(c, NULL, "pipeline", NULL);
        PGresult *r = PQgetResult(c->pg);
        if (!r) { /* end of one query's results */
            if (PQstatus(c->pg) != CONNECTION_OK)
                return code != CF_OK ? code : db__result(c, NULL, "pipeline", NULL);
            query++;
            continue;
        }
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_PIPELINE_SYNC) {
            PQclear(r);
            return code;
        }
        if (st == PGRES_PIPELINE_ABORTED || code != CF_OK || query > n) {
            PQclear(r);
            continue;
        }
        const db_step *s = query ? &steps[query - 1] : NULL;
        code = db__result(c, r, s ? s->stmt : DB_TIMEOUT_STMT, s ? s->out : NULL);
    }
}

static void clear_outs(const db_step *steps, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (steps[i].out && *steps[i].out) {
            PQclear(*steps[i].out);
            *steps[i].out = NULL;
        }
}

cf_code db_pipeline_tx(db_conn *c, int64_t ms, const db_step *steps, size_t n)
{
    assert(!c->in_tx && "a pipeline is a transaction of its own");
    for (size_t i = 0; i < n; i++)
        if (steps[i].out)
            *steps[i].out = NULL;
    if (c->deadline_ns) { /* the statement bound never outlives the call */
        int64_t left = (c->deadline_ns - cf_mono_ns()) / 1000000;
        if (left < ms)
            ms = left;
    }
    if (ms <= 0)
        return CF_DEADLINE_EXCEEDED;
    cf_code code = db_conn_ensure(c);
    if (code != CF_OK)
        return code;
    c->timed_out = false;
    char v[24];
    timeout_text(ms, v);
    const char *const tv[] = {v};
    if (!PQenterPipelineMode(c->pg))
        return db__result(c, NULL, "pipeline", NULL);
    bool sent = PQsendQueryPrepared(c->pg, DB_TIMEOUT_STMT, 1, tv, NULL, NULL, 0);
    for (size_t i = 0; sent && i < n; i++) {
        const db_step *s = &steps[i];
        sent = s->sql
                   ? PQsendQueryParams(c->pg, s->stmt, s->nparams, NULL, s->values, NULL, NULL, 0)
                   : PQsendQueryPrepared(c->pg, s->stmt, s->nparams, s->values, NULL, NULL, 0);
    }
    if (sent && PQpipelineSync(c->pg))
        code = pipeline_results(c, steps, n);
    else
        code = db__result(c, NULL, "pipeline", NULL);
    if (!c->pg) { /* given up at the deadline: the connection is gone already */
        c->ready = false;
    } else if (!PQexitPipelineMode(c->pg)) {
        log_warn("db: could not leave pipeline mode (schema %s); the connection will be replaced",
                 c->schema);
        c->ready = false;
        if (code == CF_OK)
            code = CF_UNAVAILABLE;
    }
    if (code != CF_OK)
        clear_outs(steps, n);
    return code;
}

cf_code db_exec_tx(db_conn *c, int64_t ms, const char *stmt_name, int nparams,
                   const char *const *values, PGresult **out)
{
    db_step s = {.stmt = stmt_name, .nparams = nparams, .values = values, .out = out};
    return db_pipeline_tx(c, ms, &s, 1);
}
