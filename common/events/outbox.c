/* outbox.c — the write half of the transactional outbox: one row per event, in the caller's
 * transaction. */
#include "events.h"

#include <assert.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/cuid.h"
#include "base/xmalloc.h"

/* One round trip: the row, and the NOTIFY that wakes the relay (PostgreSQL delivers it at
 * commit, and not at all on rollback). */
static const char insert_sql[] = "WITH i AS (INSERT INTO outbox (event_id, body) VALUES ($1, "
                                 "$2::bytea) RETURNING 1) SELECT " EVENTS_OUTBOX_NOTIFY " FROM i";

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

void events_outbox_row_make(const Events__V1__Event *ev, events_outbox_row *row)
{
    assert(ev && ev->source && *ev->source && ev->body_case != EVENTS__V1__EVENT__BODY__NOT_SET);
    Events__V1__Event e = *ev;
    if (e.id && *e.id) {
        assert(strlen(e.id) < sizeof row->id);
        snprintf(row->id, sizeof row->id, "%s", e.id);
    } else {
        cuid_new(row->id);
        e.id = row->id;
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
    row->body_hex = hex_bytea(buf, n);
    free(buf);
}

void events_outbox_row_free(events_outbox_row *row)
{
    free(row->body_hex);
    row->body_hex = NULL;
}

cf_code events_outbox_add(db_conn *c, const Events__V1__Event *ev)
{
    assert(PQtransactionStatus(db_conn_pg(c)) != PQTRANS_IDLE);
    events_outbox_row row;
    events_outbox_row_make(ev, &row);
    const char *params[2] = {row.id, row.body_hex};
    cf_code code = db_exec_sql(c, insert_sql, 2, params, NULL);
    events_outbox_row_free(&row);
    return code;
}
