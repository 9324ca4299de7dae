/* replay_hold.h — a forwarding hop between a gateway and rooms (real nng sockets both ways)
 * that can hold back the reply to one Replay call: the test decides when the gateway gets it,
 * so what the gateway's feed does while a Replay is in flight is tried on purpose, not by luck
 * of scheduling (issue 13 item 8). */
#ifndef CONFETTI_TEST_REPLAY_HOLD_H
#define CONFETTI_TEST_REPLAY_HOLD_H

#include <stdbool.h>
#include <stdint.h>

typedef struct replay_hold replay_hold;

/* Listens on a fresh ipc URL (replay_hold_url) and forwards every request to `to`, one at a
 * time. Returns NULL when the sockets cannot be made. */
replay_hold *replay_hold_new(const char *to);
const char *replay_hold_url(const replay_hold *h);

/* The next Replay whose from_seq is `from_seq`: its reply (fetched from the service at once,
 * so its snapshot is of that moment) is held until replay_hold_release. */
void replay_hold_arm(replay_hold *h, int64_t from_seq);
/* Waits up to timeout_ms for the armed Replay's reply to be held; true when it is. */
bool replay_hold_wait_held(replay_hold *h, int timeout_ms);
void replay_hold_release(replay_hold *h);
/* How many Replay calls went through (held or not). */
int replay_hold_replays(replay_hold *h);

void replay_hold_free(replay_hold *h);

#endif
