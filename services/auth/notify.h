/* notify.h — notification preferences and the winner mails (issue 18 item 6; docs/auth.md,
 * "Notifications"). Preferences: per user, defaults plus overrides per room, per event kind
 * (today `won`) and channel (e-mail; the WebSocket channel is always on); the RPCs
 * GetNotificationSettings/UpdateNotificationSettings are in notify_prefs.c. The winner mails
 * (notify_mail.c): a subscriber to draw's events records one mail per (draw, winner) whose
 * preference says e-mail, in the transaction that saves its position; a sender thread sends
 * due mails through the mailer of mail.sender and marks them sent. */
#ifndef CONFETTI_AUTH_NOTIFY_H
#define CONFETTI_AUTH_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

#include "base/status.h"
#include "cfg/cfg.h"
#include "db/db.h"

/* Room overrides a user may keep, and rooms one update may name. */
#define NOTIFY_MAX_ROOMS       500
#define NOTIFY_ROOMS_PER_PATCH 100
/* A room id in an override: 1-64 bytes of [A-Za-z0-9_-]. */
#define NOTIFY_ROOM_ID_MAX 64

typedef struct auth_notify_config {
    cfg_strlist draw_urls;  /* notify.draw_urls: draw's RPC (Replay, GetPrize); none = no mails */
    cfg_strlist rooms_urls; /* notify.rooms_urls: rooms' RPC (GetRoom, for the room's name) */
    int64_t timeout;        /* ms: calls to draw and rooms */
    int64_t max_attempts;   /* a mail failing this often is given up ('failed') */
    int64_t retry_max;      /* ms: the longest delay between two attempts */
} auth_notify_config;

/* The rows of auth's config table (service.c) for auth_config's `notify` member. */
#define AUTH_NOTIFY_FIELDS(F)                                                                      \
    F("notify", "draw_urls", CFG_STRLIST, notify.draw_urls, .def = "",                             \
      .help = "draw's RPC: winners are told by e-mail (with events.subscribe and mail.sender; "    \
              "\"\" = no winner mails)"),                                                          \
        F("notify", "rooms_urls", CFG_STRLIST, notify.rooms_urls, .def = "",                       \
          .help = "rooms' RPC: the room's name in winner mails"),                                  \
        F("notify", "timeout", CFG_DURATION, notify.timeout, .def = "3s", .min = 100,              \
          .max = 60000, .help = "deadline of calls to draw and rooms"),                            \
        F("notify", "max_attempts", CFG_INT, notify.max_attempts, .def = "10", .min = 1,           \
          .max = 1000, .help = "attempts at one winner mail before it is given up"),               \
        F("notify", "retry_max", CFG_DURATION, notify.retry_max, .def = "1h", .min = 1000,         \
          .max = 86400000, .help = "longest delay between two attempts at a mail")

/* Whether the user wants e-mail for a win in room_id (the room's override, else the defaults,
 * else on when the user has a verified address), and that address (""). NOT_FOUND for a user
 * absent or deleted. Blocks (SQL). */
cf_code notify_won_email(db_conn *db, const char *user_id, const char *room_id, bool *on,
                         char email[320]);

struct auth_ctx;
typedef struct auth_notifier auth_notifier;
/* Starts draw's subscriber (bus = events.subscribe) and the sender thread. UNAVAILABLE when the
 * saved position cannot be read; INVALID_ARGUMENT for a bad config. */
cf_code auth_notifier_start(struct auth_ctx *ctx, const char *bus, auth_notifier **out, char *err,
                            size_t errlen);
void auth_notifier_stop(auth_notifier *n);

#endif
