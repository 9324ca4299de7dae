/* hop.h — a forwarding hop between a gateway and a service (real nng sockets both ways), which
 * the test can make misbehave on purpose instead of waiting for scheduling luck (issue 13 item
 * 8): hold back the reply to one Replay call (what the gateway's feed does while a Replay is in
 * flight), or answer health checks NOT_SERVING while forwarding every other call (a replica
 * that is starting: its readiness flag not yet up, its calls already served). */
#ifndef CONFETTI_TEST_HOP_H
#define CONFETTI_TEST_HOP_H

#include <stdbool.h>
#include <stdint.h>

typedef struct hop hop;

/* Listens on a fresh ipc URL (hop_url) and forwards every request to `to`, one at a
 * time. Returns NULL when the sockets cannot be made. */
hop *hop_new(const char *to);
const char *hop_url(const hop *h);

/* The next Replay whose from_seq is `from_seq`: its reply (fetched from the service at once,
 * so its snapshot is of that moment) is held until hop_release. */
void hop_arm_replay(hop *h, int64_t from_seq);
/* Waits up to timeout_ms for the armed Replay's reply to be held; true when it is. */
bool hop_wait_held(hop *h, int timeout_ms);
void hop_release(hop *h);
/* From now on, health.v1.Health/Check is answered by the hop itself: NOT_SERVING. */
void hop_set_not_serving(hop *h, bool on);
/* How many health checks the hop answered NOT_SERVING. */
int hop_not_serving_answers(hop *h);
/* How many Replay calls went through (held or not). */
int hop_replays(hop *h);

void hop_free(hop *h);

#endif
