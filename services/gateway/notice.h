/* notice.h — notices meant for one person on the WebSocket feed (docs/gateway.md, "Notices"):
 * from the events the gateway follows, a message to every authenticated connection of the user
 * concerned, whatever rooms it subscribed to. Today one kind: {"type":"notice","kind":"youWon"}
 * to each winner of a draw (issue 18 item 6: "a winner is told they won"; WebSocket always,
 * whatever the user's e-mail preferences). Each gateway replica follows every event, so the
 * winner's connections on any replica are told, once per event (the feed passes each event
 * once: feed.h). */
#ifndef CONFETTI_GATEWAY_NOTICE_H
#define CONFETTI_GATEWAY_NOTICE_H

#include <stddef.h>

#include "events/v1/events.pb-c.h"
#include "ws.h"

/* Sends the notices ev means (none for most events); returns how many connections took one.
 * Called from the feed's event callback (the subscriber thread). */
size_t gw_notice_event(gw_ws *w, const Events__V1__Event *ev);

#endif
