/* subscriber.h — receiving events reliably: the bus for speed, each source's Replay for
 * completeness.
 *
 * A subscriber dials the broker's subscriber side, subscribes to the sources it names (prefix
 * "<source>\0"), and keeps, per source, the last sequence number it handed over. A live event
 * with the next number is handed over; an older or equal one is a duplicate and dropped; a
 * newer one means the bus lost some (pub/sub drops under load, across broker restarts, before
 * the connection is up): the subscriber calls the source's events.v1.Events/Replay from the
 * next number it needs until it has caught up. A loss at the end of a burst shows no later
 * event, so a source that falls silent after live events is asked once after tail_ms of
 * silence (one Replay per quiet spell, usually answering "nothing new"), and a source it has
 * heard nothing from for check_ms is asked too (catching up at start, and a backstop).
 *
 * The consumer callback runs on the subscriber's own thread (never inside an nng callback, so
 * it may block on libpq), one event at a time, each event once, in seq order per source. If it
 * returns non-OK the event is not counted as handled: the subscriber pauses that source and
 * offers the same event again later (at-least-once towards a failing consumer; exactly once
 * otherwise). Where to start comes from the consumer (events_source.after_seq: the last
 * sequence number it has, e.g. persisted by the callback in its own transaction).
 *
 * Live events count only with their source's signature (events_frame_verify with the config's
 * ident): a forged frame is dropped before it can move the position, so the real event with the
 * same number is not taken for a duplicate (issue 14 item 3).
 *
 * Lifetime: events_sub_start → (thread runs, consumer called) → events_sub_stop. */
#ifndef CONFETTI_EVENTS_SUBSCRIBER_H
#define CONFETTI_EVENTS_SUBSCRIBER_H

#include <stddef.h>
#include <stdint.h>

#include "base/status.h"
#include "events/v1/events.pb-c.h"
#include "rpc/ident.h"

typedef struct events_source {
    const char *name;               /* the publisher: "rooms" */
    const char *const *replay_urls; /* its RPC endpoints */
    size_t nurls;
    int64_t after_seq; /* the last seq the consumer already has; 0 = from the oldest kept */
} events_source;

/* Handles one event. ev is borrowed for the call. Runs on the subscriber thread; may block.
 * CF_OK = handled (the position advances). */
typedef cf_code (*events_consume_fn)(void *arg, const Events__V1__Event *ev);

typedef struct events_sub_config {
    const char *bus; /* the broker's subscriber-side URL, dialed */
    const events_source *sources;
    size_t nsources;
    events_consume_fn consume;
    void *arg;
    int replay_limit; /* events per Replay call; 0 = 500 */
    int check_ms;     /* ask a source that has been silent this long; 0 = 1000 */
    int tail_ms;      /* ask once when live events stop for this long; 0 = 50 */
    int timeout_ms;   /* Replay deadline; 0 = 2000 */
    rpc_ident *ident; /* borrowed, outlives the subscriber: live events are accepted only with
                         their source's signature (a trusted key), and Replay is called as
                         this identity. NULL = no live event is accepted (Replay only) */
} events_sub_config;

typedef struct events_sub events_sub;

/* Dials (in the background) and starts the thread. Strings are copied. CF_INVALID_ARGUMENT with
 * err for a bad URL or a source named twice. */
cf_code events_sub_start(const events_sub_config *cfg, events_sub **out, char *err, size_t errlen);
/* Stops the thread (after the consumer call in progress returns) and frees. NULL is a no-op. */
void events_sub_stop(events_sub *s);

typedef struct events_sub_stats {
    uint64_t delivered;  /* consumer calls that returned CF_OK */
    uint64_t duplicates; /* live events already handed over, dropped */
    uint64_t gaps;       /* live events that revealed a loss */
    uint64_t replayed;   /* events that came from Replay */
    uint64_t lost;       /* numbers no longer kept by the source (retention), skipped */
    uint64_t forged;     /* live events not signed by the source they name, dropped */
} events_sub_stats;

/* Counters so far (thread-safe). */
void events_sub_stats_get(events_sub *s, events_sub_stats *out);
/* The last seq handed over for source, -1 if not subscribed (thread-safe). */
int64_t events_sub_position(events_sub *s, const char *source);

#endif
