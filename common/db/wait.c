/* wait.c — waiting for the server with a bound: every statement is sent without blocking and
 * its result awaited with poll() until the call's deadline, so a server that stopped answering
 * (SIGSTOP, a black-holed network: the kernel still ACKs, keepalives see nothing wrong) holds a
 * worker no longer than its caller waits. */
#include "db/internal.h"

#include <errno.h>
#include <poll.h>

#include "base/clock.h"
#include "base/log.h"

int64_t db__op_end(const db_conn *c)
{
    if (c->deadline_ns)
        return c->deadline_ns;
    return cf_mono_ns() + c->limits.statement_timeout_ms * 1000000;
}

bool db__expired(const db_conn *c)
{
    return c->deadline_ns && cf_mono_ns() >= c->deadline_ns;
}

/* The deadline passed with the server silent: what it was doing is abandoned with the
 * connection (the server rolls back an uncommitted transaction when it sees the close). */
static bool give_up(db_conn *c)
{
    log_warn("db: no answer from the server before the deadline (schema %s); closing the "
             "connection",
             c->schema);
    db__close(c);
    c->timed_out = true;
    return false;
}

bool db__wait_ready(db_conn *c, int64_t end_ns)
{
    for (;;) {
        if (!c->pg || PQstatus(c->pg) != CONNECTION_OK)
            return false;
        int pending = PQflush(c->pg); /* 0 all sent, 1 more to send, -1 failure */
        if (pending < 0)
            return false;
        if (!pending && !PQisBusy(c->pg))
            return true;
        int64_t left = end_ns - cf_mono_ns();
        if (left <= 0)
            return give_up(c);
        int ms = (int)((left + 999999) / 1000000);
        struct pollfd p = {.fd = PQsocket(c->pg), .events = POLLIN | (pending ? POLLOUT : 0)};
        int r = poll(&p, 1, ms);
        if (r < 0 && errno != EINTR)
            return false;
        if (r > 0 && (p.revents & (POLLIN | POLLERR | POLLHUP)) && !PQconsumeInput(c->pg))
            return false;
    }
}

static bool is_error(const PGresult *r)
{
    ExecStatusType st = PQresultStatus(r);
    return st == PGRES_FATAL_ERROR || st == PGRES_NONFATAL_ERROR || st == PGRES_BAD_RESPONSE;
}

PGresult *db__wait_result(db_conn *c, int64_t end_ns)
{
    c->timed_out = false;
    PGresult *last = NULL;
    for (;;) {
        if (!db__wait_ready(c, end_ns)) {
            PQclear(last);
            return NULL;
        }
        PGresult *r = PQgetResult(c->pg);
        if (!r)
            return last;
        if (last && is_error(last)) { /* the first error is the answer, as with PQexec */
            PQclear(r);
            continue;
        }
        PQclear(last);
        last = r;
    }
}
