/* result.c — where every PGresult of the module is judged: success passes through, failure is
 * translated once into a cf_code and logged (SQLSTATE and server message, no values). */
#include "db/internal.h"

#include <stdio.h>
#include <string.h>

#include "base/log.h"

/* Messages of class 22 (data exceptions) quote the offending input ("invalid input syntax for
 * type integer: \"…\""), and input may be personal data: those are logged by SQLSTATE only. */
static const char *loggable_message(PGconn *pg, const PGresult *res, const char *state)
{
    if (state && strncmp(state, "22", 2) == 0)
        return "(message withheld: data exceptions quote the input)";
    const char *m = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (m)
        return m;
    m = pg ? PQerrorMessage(pg) : NULL;
    return m && *m ? m : "(no message)";
}

cf_code db__result(db_conn *c, PGresult *res, const char *what, PGresult **out)
{
    ExecStatusType st = PQresultStatus(res); /* PGRES_FATAL_ERROR for NULL */
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        c->sqlstate[0] = '\0';
        if (out)
            *out = res;
        else
            PQclear(res);
        return CF_OK;
    }
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    bool lost = !c->pg || PQstatus(c->pg) != CONNECTION_OK;
    cf_code code;
    if (c->timed_out) /* db__wait_result gave up at the deadline and closed the connection */
        code = CF_DEADLINE_EXCEEDED;
    else if (lost)
        code = CF_UNAVAILABLE;
    else if (st == PGRES_FATAL_ERROR || st == PGRES_NONFATAL_ERROR)
        code = db_code_from_sqlstate(state);
    else
        code = CF_INTERNAL; /* empty query, COPY: not something a store may run */
    /* 08006 connection_failure stands in when libpq itself noticed the loss (no SQLSTATE). */
    snprintf(c->sqlstate, sizeof c->sqlstate, "%s",
             state          ? state
             : c->timed_out ? "57014"
             : lost         ? "08006"
                            : "XX000");
    if (c->in_tx && c->tx_code == CF_OK) {
        c->tx_code = code;
        memcpy(c->tx_sqlstate, c->sqlstate, sizeof c->tx_sqlstate);
    }
    const char *msg = loggable_message(c->pg, res, state);
    size_t len = strcspn(msg, "\n");
    /* a unique violation or a serialization conflict is an outcome the store handles (an
     * idempotent replay, a draw that picked a fresh winner, a retry): info, not error */
    log_level lvl = code == CF_ALREADY_EXISTS || code == CF_ABORTED ? LOG_INFO : LOG_ERROR;
    log_rid(lvl, NULL, "db: %.80s (schema %s): %s, SQLSTATE %s: %.*s", what, c->schema,
            cf_code_name(code), c->sqlstate, (int)len, msg);
    if (lost)
        c->ready = false;
    PQclear(res);
    return code;
}
