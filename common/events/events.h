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

/* The event's type as SPEC §5 spells it ("room.created"), from the body's oneof case; "" when
 * no body is set. Valid until the next call on the same thread (thread-local storage). */
const char *events_type_name(const Events__V1__Event *ev);

/* Bus messages are "<source>\0" followed by the packed Event, so a subscriber filters by source
 * with nng's prefix subscription (events_topic). Writes the topic (with its NUL) into out and
 * returns its length, or 0 if it does not fit. */
size_t events_topic(const char *source, char *out, size_t outlen);

/* Splits a bus message into source (borrowed from msg) and the packed event; CF_INVALID_ARGUMENT
 * if malformed. */
cf_code events_frame_split(const void *msg, size_t len, const char **source, const uint8_t **body,
                           size_t *body_len);

#endif
