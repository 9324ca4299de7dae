/* consumer.c — rooms' reactions to other services' events (see consumer.h). */
#include "consumer.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>

#include "base/xmalloc.h"
#include "events/subscriber.h"
#include "svc/startwait.h"

struct rooms_consumer {
    db_conn *db; /* used only on the subscriber thread */
    events_sub *sub;
};

static cf_code consume(void *arg, const Events__V1__Event *ev)
{
    rooms_consumer *c = arg;
    const char *gone =
        ev->body_case == EVENTS__V1__EVENT__BODY_USER_DELETED ? ev->user_deleted->user_id : NULL;
    /* every event moves the position, so a restart does not replay what did not concern us */
    return store_event_consume(c->db, ev->source, ev->seq, gone && *gone ? gone : NULL);
}

typedef struct {
    db_conn *db;
    int64_t after;
} position_read;

static cf_code read_position(void *arg, char *err, size_t errlen)
{
    position_read *p = arg;
    cf_code code = store_event_position(p->db, "auth", &p->after);
    if (code != CF_OK)
        snprintf(err, errlen, "events: cannot read the saved position: %s", cf_code_name(code));
    return code;
}

cf_code rooms_consumer_start(const char *dsn, const db_limits *limits, int64_t start_wait_ms,
                             const char *bus, const cfg_strlist *auth_urls, rpc_ident *ident,
                             rooms_consumer **out, char *err, size_t errlen)
{
    rooms_consumer *c = xcalloc(1, sizeof *c);
    c->db = db_conn_new(dsn, "rooms", rooms_stmts, rooms_nstmts);
    db_conn_set_limits(c->db, limits); /* db.*, as every connection of the service */
    position_read pos = {.db = c->db};
    cf_code code = svc_start_retry(start_wait_ms, "rooms: auth event position", read_position, &pos,
                                   err, errlen);
    if (code != CF_OK) {
        db_conn_free(c->db);
        free(c);
        return CF_UNAVAILABLE;
    }
    int64_t after = pos.after;
    events_source src = {.name = "auth",
                         .replay_urls = (const char *const *)auth_urls->items,
                         .nurls = auth_urls->n,
                         .after_seq = after};
    events_sub_config cfg = {
        .bus = bus, .sources = &src, .nsources = 1, .consume = consume, .arg = c, .ident = ident};
    if ((code = events_sub_start(&cfg, &c->sub, err, errlen)) != CF_OK) {
        db_conn_free(c->db);
        free(c);
        return code;
    }
    *out = c;
    return CF_OK;
}

void rooms_consumer_stop(rooms_consumer *c)
{
    if (!c)
        return;
    events_sub_stop(c->sub);
    db_conn_free(c->db);
    free(c);
}
