/* exec.c — running one statement, prepared or not, with text parameters, sent without
 * blocking and awaited until the deadline (wait.c). */
#include "db/internal.h"

#include <string.h>

#include "base/log.h"

/* Outside a transaction, db_conn_ensure first checks that the server has not hung up and, if
 * it has, reconnects (once) before the statement is sent: a statement is "retried" only in the
 * sense that it was never sent on the dead connection. Once a statement has been sent, a
 * failure is returned as is, because the server may have executed (even committed) it before
 * the connection broke, and running it again could apply it twice; the caller decides, with
 * its idempotency key. Inside a transaction, a new connection would carry on without the
 * statements already run, so a lost connection is CF_UNAVAILABLE and the transaction is gone. */
static cf_code ready_to_send(db_conn *c)
{
    if (db__expired(c))
        return CF_DEADLINE_EXCEEDED;
    if (!c->in_tx)
        return db_conn_ensure(c);
    if (db_conn_ok(c))
        return CF_OK;
    memcpy(c->sqlstate, "08003", sizeof c->sqlstate); /* connection_does_not_exist */
    if (c->tx_code == CF_OK) {
        c->tx_code = CF_UNAVAILABLE;
        memcpy(c->tx_sqlstate, c->sqlstate, sizeof c->tx_sqlstate);
    }
    log_error("db: connection lost inside a transaction (schema %s)", c->schema);
    return CF_UNAVAILABLE;
}

cf_code db_exec(db_conn *c, const char *stmt_name, int nparams, const char *const *values,
                PGresult **out)
{
    if (out)
        *out = NULL;
    cf_code code = ready_to_send(c);
    if (code != CF_OK)
        return code;
    bool sent = PQsendQueryPrepared(c->pg, stmt_name, nparams, values, NULL, NULL, 0);
    return db__result(c, sent ? db__wait_result(c, db__op_end(c)) : NULL, stmt_name, out);
}

cf_code db_exec_row(db_conn *c, const char *stmt_name, int nparams, const char *const *values,
                    PGresult **out)
{
    cf_code code = db_exec(c, stmt_name, nparams, values, out);
    if (code == CF_OK && PQntuples(*out) == 0) {
        PQclear(*out);
        *out = NULL;
        code = CF_NOT_FOUND;
    }
    return code;
}

cf_code db_exec_sql(db_conn *c, const char *sql, int nparams, const char *const *values,
                    PGresult **out)
{
    if (out)
        *out = NULL;
    cf_code code = ready_to_send(c);
    if (code != CF_OK)
        return code;
    bool sent = PQsendQueryParams(c->pg, sql, nparams, NULL, values, NULL, NULL, 0);
    return db__result(c, sent ? db__wait_result(c, db__op_end(c)) : NULL, sql, out);
}
