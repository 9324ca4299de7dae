/* seqcheck.h — the checker of issue 16 item 2: it consumes what a subscriber hands over (live
 * events, gaps filled by Replay) and proves every source's stream gap-free and duplicate-free:
 * sequence numbers 1, 2, 3 … each once and in order, and no event (its RoomCreated name, unique
 * per written event in the events tests) under two numbers. The caller then checks that every
 * event it wrote arrived (seqcheck_has). */
#ifndef CONFETTI_TESTS_EVENTS_SEQCHECK_H
#define CONFETTI_TESTS_EVENTS_SEQCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/status.h"
#include "events/v1/events.pb-c.h"

typedef struct seqcheck seqcheck;

seqcheck *seqcheck_new(void);
void seqcheck_free(seqcheck *k);

/* An events_consume_fn (arg = the checker). Thread-safe. */
cf_code seqcheck_consume(void *arg, const Events__V1__Event *ev);

/* Events handed over so far, all sources. */
int64_t seqcheck_total(seqcheck *k);

/* The last seq of source (0 if none). */
int64_t seqcheck_last(seqcheck *k, const char *source);

/* True if no source went out of order and no event came under two numbers; else false with the
 * first problem in why. */
bool seqcheck_verify(seqcheck *k, char *why, size_t len);

/* True if the event named name arrived (after seqcheck_verify, which sorts the names). */
bool seqcheck_has(seqcheck *k, const char *name);

#endif
