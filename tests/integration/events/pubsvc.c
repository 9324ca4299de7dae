/* pubsvc.c — the events tests' publishing service (see pubsvc.h). */
#include "pubsvc.h"
#include "th.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "db/tx.h"
#include "events/events.h"

DB_MIGRATIONS_DECLARE(pubsvc_migrations);

const svc_def *pubsvc_def(const char *name)
{
    static const char *const names[] = {"alpha", "beta", "auth"};
    static svc_def defs[3];
    for (size_t i = 0; i < 3; i++)
        if (strcmp(name, names[i]) == 0) {
            defs[i] = (svc_def){.name = names[i],
                                .schema = PUBSVC_SCHEMA,
                                .migrations = pubsvc_migrations,
                                .nmigrations = pubsvc_migrations_count,
                                .publishes = true};
            return &defs[i];
        }
    fail_msg("pubsvc_def: unknown name %s", name);
    return NULL;
}

void pubsvc_migrate(const char *dsn)
{
    char err[512];
    cf_code code =
        db_migrate(dsn, PUBSVC_SCHEMA, pubsvc_migrations, pubsvc_migrations_count, err, sizeof err);
    if (code != CF_OK)
        fail_msg("migrate: %s", err);
}

db_conn *pubsvc_conn(const char *dsn)
{
    return db_conn_new(dsn, PUBSVC_SCHEMA, NULL, 0);
}

typedef struct write_tx {
    const char *source, *tag;
    int64_t first;
    int count, fail_after;
} write_tx;

static cf_code write_body(db_conn *c, void *arg)
{
    write_tx *t = arg;
    for (int i = 0; i < t->count; i++) {
        if (t->fail_after >= 0 && i == t->fail_after)
            return CF_ABORTED;
        char id[96], n[24];
        snprintf(id, sizeof id, "%s-%" PRId64, t->tag, t->first + i);
        snprintf(n, sizeof n, "%" PRId64, t->first + i);
        const char *p[2] = {id, n};
        cf_code code =
            db_exec_sql(c, "INSERT INTO things (id, n) VALUES ($1, $2::bigint)", 2, p, NULL);
        if (code != CF_OK)
            return code;
        Events__V1__Event ev = EVENTS__V1__EVENT__INIT;
        Events__V1__RoomCreated body = EVENTS__V1__ROOM_CREATED__INIT;
        body.name = id;
        ev.source = (char *)t->source;
        ev.body_case = EVENTS__V1__EVENT__BODY_ROOM_CREATED;
        ev.room_created = &body;
        if ((code = events_outbox_add(c, &ev)) != CF_OK)
            return code;
    }
    return CF_OK;
}

cf_code pubsvc_write(db_conn *c, const char *source, const char *tag, int64_t first, int count,
                     int fail_after)
{
    write_tx t = {source, tag, first, count, fail_after};
    return db_tx(c, write_body, &t);
}
