/* tx.c — BEGIN, the caller's function, COMMIT or ROLLBACK; the whole function again when the
 * server aborts the transaction for a serialization failure or a deadlock. */
#include "db/tx.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "db/internal.h"

enum { TX_ATTEMPTS = 3 };

static const char *const begin_sql[] = {
    [DB_READ_COMMITTED] = "BEGIN ISOLATION LEVEL READ COMMITTED",
    [DB_REPEATABLE_READ] = "BEGIN ISOLATION LEVEL REPEATABLE READ",
    [DB_SERIALIZABLE] = "BEGIN ISOLATION LEVEL SERIALIZABLE",
};

static cf_code tx_once(db_conn *c, db_isolation level, db_tx_fn fn, void *arg)
{
    cf_code code = db_conn_ensure(c);
    if (code != CF_OK)
        return code;
    c->tx_code = CF_OK;
    c->tx_sqlstate[0] = '\0';
    c->in_tx = true;
    code = db__result(c, PQexec(c->pg, begin_sql[level]), begin_sql[level], NULL);
    if (code == CF_OK)
        code = fn(c, arg);
    if (code == CF_OK) {
        switch (PQtransactionStatus(c->pg)) {
        case PQTRANS_INTRANS:
            code = db__result(c, PQexec(c->pg, "COMMIT"), "COMMIT", NULL);
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

static const char timeout_sql[] = "SELECT pg_catalog.set_config('statement_timeout', $1, true)";

/* statement_timeout's text for ms (> 0): an int4 of milliseconds */
static void timeout_text(int64_t ms, char v[24])
{
    snprintf(v, 24, "%" PRId64, ms > INT32_MAX ? (int64_t)INT32_MAX : ms);
}

cf_code db_set_local_timeout(db_conn *c, int64_t ms)
{
    assert(c->in_tx && "SET LOCAL outside a transaction has no effect");
    if (ms <= 0)
        return CF_DEADLINE_EXCEEDED;
    char v[24];
    timeout_text(ms, v);
    const char *const vals[] = {v};
    return db_exec_sql(c, timeout_sql, 1, vals, NULL);
}

/* Reads the results of a pipeline of two queries and its Sync. The first failure is judged
 * (db__result: logged, recorded) and returned; the second query's result goes to *out on
 * success. Every result is consumed, so the connection can leave pipeline mode. */
static cf_code pipeline_results(db_conn *c, const char *stmt_name, PGresult **out)
{
    cf_code code = CF_OK;
    const char *what[] = {timeout_sql, stmt_name};
    int query = 0;
    for (;;) {
        PGresult *r = PQgetResult(c->pg);
        if (!r) { /* end of one query's results */
            if (PQstatus(c->pg) != CONNECTION_OK)
                return code != CF_OK ? code : db__result(c, NULL, stmt_name, NULL);
            query++;
            continue;
        }
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_PIPELINE_SYNC) {
            PQclear(r);
            return code;
        }
        if (st == PGRES_PIPELINE_ABORTED || code != CF_OK || query > 1) {
            PQclear(r);
            continue;
        }
        code = db__result(c, r, what[query], query == 1 ? out : NULL);
    }
}

cf_code db_exec_tx(db_conn *c, int64_t ms, const char *stmt_name, int nparams,
                   const char *const *values, PGresult **out)
{
    assert(!c->in_tx && "db_exec_tx is a transaction of its own");
    if (out)
        *out = NULL;
    if (ms <= 0)
        return CF_DEADLINE_EXCEEDED;
    cf_code code = db_conn_ensure(c);
    if (code != CF_OK)
        return code;
    char v[24];
    timeout_text(ms, v);
    const char *const tv[] = {v};
    if (!PQenterPipelineMode(c->pg))
        return db__result(c, NULL, stmt_name, NULL);
    if (PQsendQueryParams(c->pg, timeout_sql, 1, NULL, tv, NULL, NULL, 0) &&
        PQsendQueryPrepared(c->pg, stmt_name, nparams, values, NULL, NULL, 0) &&
        PQpipelineSync(c->pg))
        code = pipeline_results(c, stmt_name, out);
    else
        code = db__result(c, NULL, stmt_name, NULL);
    if (!PQexitPipelineMode(c->pg)) {
        log_warn("db: could not leave pipeline mode (schema %s); the connection will be replaced",
                 c->schema);
        c->ready = false;
        if (out && *out) {
            PQclear(*out);
            *out = NULL;
        }
        return code != CF_OK ? code : CF_UNAVAILABLE;
    }
    if (code != CF_OK && out && *out) {
        PQclear(*out);
        *out = NULL;
    }
    return code;
}
