/* replay.c — events.v1.Events/Replay: the published past of this source, from its outbox. */
#include "replay.h"
#include "internal.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/pbwire.h"
#include "confetti_proto_handlers.h"
#include "db/db.h"
#include "events/v1/events.pb-c.h"
#include "rpc/rpc.h"

/* A reply stays well under the default 4 MiB message limit whatever the events weigh. */
#define REPLAY_MAX_BYTES (1u << 20)

RPC_HANDLER(rpc_events_replay)
{
    db_conn *db = rpc_worker(call);
    if (!db)
        return rpc_error(call, CF_UNAVAILABLE, "no database");
    if (req->limit < 0)
        return rpc_violation(call, "limit", "must not be negative");
    int limit = req->limit == 0 ? EVENTS_REPLAY_DEFAULT_LIMIT : req->limit;
    if (limit > EVENTS_REPLAY_MAX_LIMIT)
        limit = EVENTS_REPLAY_MAX_LIMIT;
    int64_t from = req->from_seq < 1 ? 1 : req->from_seq;

    PGresult *r = NULL;
    cf_code code = db_exec_sql(db, "SELECT last_seq FROM outbox_state", 0, NULL, &r);
    if (code != CF_OK)
        return rpc_error(call, code, "outbox not readable");
    resp->last_seq = PQntuples(r) ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    PQclear(r);

    char f[24], l[16];
    snprintf(f, sizeof f, "%" PRId64, from);
    snprintf(l, sizeof l, "%d", limit);
    const char *p[2] = {f, l};
    code = db_exec_sql(
        db, "SELECT seq, body FROM outbox WHERE seq >= $1::bigint ORDER BY seq LIMIT $2::int", 2, p,
        &r);
    if (code != CF_OK)
        return rpc_error(call, code, "outbox not readable");
    int rows = PQntuples(r);
    resp->events = rpc_alloc(call, (size_t)(rows ? rows : 1) * sizeof *resp->events);
    size_t bytes = 0;
    for (int i = 0; i < rows && bytes < REPLAY_MAX_BYTES; i++) {
        const char *hex = PQgetvalue(r, i, 1);
        size_t hl = strlen(hex);
        uint8_t *buf = rpc_alloc(call, hl / 2 + 1);
        size_t n = events__unhex(hex, buf);
        ProtobufCMessage *m;
        const char *why;
        cf_code dc = pb_unpack(&events__v1__event__descriptor, arena_allocator(rpc_arena(call)),
                               buf, n, &m, &why);
        int64_t seq = strtoll(PQgetvalue(r, i, 0), NULL, 10);
        if (dc != CF_OK) {
            PQclear(r);
            return rpc_error(call, CF_INTERNAL, "outbox row %" PRId64 " does not decode: %s", seq,
                             why);
        }
        Events__V1__Event *ev = (Events__V1__Event *)m;
        ev->seq = seq;
        if (ev->seq > resp->last_seq) /* numbered after we read last_seq */
            resp->last_seq = ev->seq;
        resp->events[resp->n_events++] = ev;
        bytes += n;
    }
    PQclear(r);
    return CF_OK;
}

static Events__V1__Events_Service binding = EVENTS__V1__EVENTS__INIT(rpc_events_);

ProtobufCService *events_replay_service(void)
{
    return &binding.base;
}
