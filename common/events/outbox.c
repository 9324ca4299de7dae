/* outbox.c — the write half of the transactional outbox: one row per event, in the caller's
 * transaction. */
#include "events.h"

#include <assert.h>
#include <libpq-fe.h>
#include <stdlib.h>
#include <time.h>

#include "base/cuid.h"
#include "base/xmalloc.h"

/* One round trip: the row, and the NOTIFY that wakes the relay (PostgreSQL delivers it at
 * commit, and not at all on rollback). */
static const char insert_sql[] =
    "WITH i AS (INSERT INTO outbox (event_id, body) VALUES ($1, $2::bytea) RETURNING 1) "
    "SELECT pg_notify('confetti_outbox_' || current_schema(), '') FROM i";

static char *hex_bytea(const uint8_t *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    char *s = xmalloc(2 * n + 3), *o = s;
    *o++ = '\\';
    *o++ = 'x';
    for (size_t i = 0; i < n; i++) {
        *o++ = digits[p[i] >> 4];
        *o++ = digits[p[i] & 15];
    }
    *o = 0;
    return s;
}

cf_code events_outbox_add(db_conn *c, const Events__V1__Event *ev)
{
    assert(ev && ev->source && *ev->source && ev->body_case != EVENTS__V1__EVENT__BODY__NOT_SET);
    assert(PQtransactionStatus(db_conn_pg(c)) != PQTRANS_IDLE);
    Events__V1__Event e = *ev;
    char id[CUID_LEN + 1];
    if (!e.id || !*e.id) {
        cuid_new(id);
        e.id = id;
    }
    Google__Protobuf__Timestamp now = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    if (!e.time) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        now.seconds = ts.tv_sec;
        now.nanos = (int32_t)(ts.tv_nsec / 1000 * 1000);
        e.time = &now;
    }
    e.seq = 0;
    size_t n = events__v1__event__get_packed_size(&e);
    uint8_t *buf = xmalloc(n ? n : 1);
    events__v1__event__pack(&e, buf);
    char *hex = hex_bytea(buf, n);
    const char *params[2] = {e.id, hex};
    cf_code code = db_exec_sql(c, insert_sql, 2, params, NULL);
    free(hex);
    free(buf);
    return code;
}
