/* replay.h — events.v1.Events, served from a publisher's outbox. svc.c registers it for every
 * svc_def with `publishes` set; handlers run on the service's worker connections (its schema). */
#ifndef CONFETTI_EVENTS_REPLAY_H
#define CONFETTI_EVENTS_REPLAY_H

#include <protobuf-c/protobuf-c.h>

/* The events.v1.Events binding (static storage). Register it with the service's own context:
 * Replay reads nothing from it. */
ProtobufCService *events_replay_service(void);

#define EVENTS_REPLAY_DEFAULT_LIMIT 100
#define EVENTS_REPLAY_MAX_LIMIT     1000

#endif
