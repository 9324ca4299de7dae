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

cf_code db_set_local_timeout(db_conn *c, int64_t ms)
{
    assert(c->in_tx && "SET LOCAL outside a transaction has no effect");
    if (ms <= 0)
        return CF_DEADLINE_EXCEEDED;
    if (ms > INT32_MAX) /* statement_timeout is an int4 of milliseconds */
        ms = INT32_MAX;
    char v[24];
    snprintf(v, sizeof v, "%" PRId64, ms);
    const char *const vals[] = {v};
    return db_exec_sql(c, "SELECT pg_catalog.set_config('statement_timeout', $1, true)", 1, vals,
                       NULL);
}
