/* events.h — domain events (SPEC §5), the parts a publishing service's store uses: the outbox
 * write that joins the store's own transaction, and the names and framing every side shares.
 *
 * Reliability comes from the transactional outbox, not from nng: a store writes the event with
 * events_outbox_add() inside the db_tx that makes the change, so both commit or neither does.
 * The relay (relay.h) later numbers committed rows in commit order and publishes them on the
 * bus; subscribers (subscriber.h) fill any gap from the source's events.v1.Events/Replay.
 * docs/events.md has the whole design and the ordering argument. */
#ifndef CONFETTI_EVENTS_EVENTS_H
#define CONFETTI_EVENTS_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "base/status.h"
#include "db/db.h"
#include "events/v1/events.pb-c.h"

/* Appends ev to the outbox of the connection's schema. Call it INSIDE the db_tx body that makes
 * the change (programmer error otherwise: outside a transaction the event could commit without
 * its change). ev->source and the body are required (asserted); an empty ev->id gets a new
 * CUID, a missing ev->time the real clock; ev->seq is ignored (the relay assigns it). ev is
 * borrowed. Also wakes the relay (NOTIFY, delivered at commit). Blocks (libpq). Errors as
 * db_exec; the caller's transaction then rolls back. */
cf_code events_outbox_add(db_conn *c, const Events__V1__Event *ev);

/* An event made ready for the outbox by a store that writes the row inside a statement of its
 * own (a one-statement transaction, db_exec_tx): the statement must insert (id, body_hex) as
 * INSERT INTO outbox (event_id, body) VALUES (id, body_hex::bytea) and evaluate
 * EVENTS_OUTBOX_NOTIFY once when it inserts the row, so that the event commits or rolls back
 * with the change exactly as with events_outbox_add. */
typedef struct events_outbox_row {
    char id[32];    /* ev->id, or a new CUID */
    char *body_hex; /* the packed event as bytea hex text ("\\x…"), owned */
} events_outbox_row;

/* Fills row from ev with events_outbox_add's rules (id, time, seq). Never fails. */
void events_outbox_row_make(const Events__V1__Event *ev, events_outbox_row *row);
/* Frees what row owns. */
void events_outbox_row_free(events_outbox_row *row);
/* The SQL expression that wakes the relay at commit. */
#define EVENTS_OUTBOX_NOTIFY "pg_notify('confetti_outbox_' || current_schema(), '')"

/* The event's type as SPEC §5 spells it ("room.created"), from the body's oneof case; "" when
 * no body is set. Valid until the next call on the same thread (thread-local storage). */
const char *events_type_name(const Events__V1__Event *ev);

/* Bus messages are "<source>\0", the packed Event, then the source's Ed25519 signature over
 * everything before it (RPC_IDENT_SIG_LEN bytes, rpc/ident.h), so a subscriber filters by source
 * with nng's prefix subscription (events_topic) and the bus and every subscriber can tell an
 * event its source did not sign. Writes the topic (with its NUL) into out and returns its
 * length, or 0 if it does not fit. */
size_t events_topic(const char *source, char *out, size_t outlen);

/* Splits a bus message into source (borrowed from msg), the packed event and the signature;
 * CF_INVALID_ARGUMENT if malformed. Checks no signature: events_frame_verify does. */
cf_code events_frame_split(const void *msg, size_t len, const char **source, const uint8_t **body,
                           size_t *body_len, const uint8_t **sig);

/* events_frame_split, then the signature checked against the named source's trusted key:
 * CF_UNAUTHENTICATED when it is not that source's (or the source is not trusted, or ident is
 * NULL). Blocks for the verification only (~70 us). */
struct rpc_ident;
cf_code events_frame_verify(const struct rpc_ident *ident, const void *msg, size_t len,
                            const char **source, const uint8_t **body, size_t *body_len);

#endif
