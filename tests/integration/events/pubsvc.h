/* pubsvc.h — a small publishing service for the events tests: its schema has a `things` table
 * and the outbox; a store call writes things and their events in one transaction. */
#ifndef CONFETTI_TESTS_EVENTS_PUBSVC_H
#define CONFETTI_TESTS_EVENTS_PUBSVC_H

#include <stdbool.h>
#include <stdint.h>

#include "db/db.h"
#include "svc/svc.h"

#define PUBSVC_SCHEMA "evtest"

/* Publishing definitions named "alpha", "beta" or "auth" (the event source, e.g. a stand-in
 * for confetti-auth), all on schema evtest. */
const svc_def *pubsvc_def(const char *name);

/* Migrates PUBSVC_SCHEMA on dsn (fails the test on error). */
void pubsvc_migrate(const char *dsn);

/* In one transaction: for i in [first, first+count) insert things "<tag>-i" (n = i) and an event
 * (source, body RoomCreated{name = "<tag>-i"}). fail_after >= 0: after that many pairs, return
 * CF_ABORTED (roll back). Returns the transaction's code. */
cf_code pubsvc_write(db_conn *c, const char *source, const char *tag, int64_t first, int count,
                     int fail_after);

/* A connection on PUBSVC_SCHEMA (caller frees). */
db_conn *pubsvc_conn(const char *dsn);

#endif
