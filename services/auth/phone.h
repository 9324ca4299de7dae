/* phone.h — phone number sign-in (issue 18 item 3): one-time codes sent by SMS through a sender
 * (sms.c: an HTTP webhook, or a file for `make run`), stored only as keyed hashes, expiring,
 * limited in attempts, and throttled per number and per client address (phone.c;
 * docs/auth.md, "Phone sign-in"). */
#ifndef CONFETTI_AUTH_PHONE_H
#define CONFETTI_AUTH_PHONE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/status.h"
#include "cfg/cfg.h"
#include "db/db.h"

/* The `phone` config section (auth_config.phone). */
typedef struct auth_phone_config {
    bool enabled;
    int64_t code_ttl;        /* ms */
    int64_t code_length;     /* digits */
    int64_t max_attempts;    /* wrong codes per challenge before it is spent */
    int64_t resend_interval; /* ms between two codes for one number */
    int64_t window;          /* ms: the counting window of the two limits below */
    int64_t max_per_phone;   /* codes per number per window */
    int64_t max_per_source;  /* codes per client address (/64) per window */
    char *sender;            /* webhook or file */
    char *webhook_url;       /* https (http only to loopback) */
    char *webhook_secret;    /* sent as Authorization: Bearer (secret; webhook_secret_file) */
    char *webhook_ca_file;   /* PEM CAs for the webhook's TLS ("" = the system's) */
    int64_t webhook_timeout; /* ms */
    char *file_path;         /* sender file: one JSON line per message */
    char *message;           /* the SMS text; {code} is replaced by the code */
} auth_phone_config;

/* The section's lines, for auth_fields (service.c). */
#define AUTH_PHONE_FIELD(key, type, member, ...)                                                   \
    CFG_FIELD("phone", key, type, auth_config, phone.member, __VA_ARGS__)
#define AUTH_PHONE_FIELDS                                                                          \
    AUTH_PHONE_FIELD("enabled", CFG_BOOL, enabled, .def = "false",                                 \
                     .help = "phone number sign-in by SMS code"),                                  \
        AUTH_PHONE_FIELD("code_ttl", CFG_DURATION, code_ttl, .def = "5m", .min = 30000,            \
                         .max = 3600000, .help = "how long a code is valid"),                      \
        AUTH_PHONE_FIELD("code_length", CFG_INT, code_length, .def = "6", .min = 4, .max = 10,     \
                         .help = "digits of a code"),                                              \
        AUTH_PHONE_FIELD("max_attempts", CFG_INT, max_attempts, .def = "5", .min = 1, .max = 100,  \
                         .help = "wrong codes before a challenge is spent"),                       \
        AUTH_PHONE_FIELD("resend_interval", CFG_DURATION, resend_interval, .def = "60s", .min = 0, \
                         .max = 3600000, .help = "least time between two codes for one number"),   \
        AUTH_PHONE_FIELD("window", CFG_DURATION, window, .def = "1h", .min = 60000,                \
                         .max = 86400000, .help = "window of max_per_phone and max_per_source"),   \
        AUTH_PHONE_FIELD("max_per_phone", CFG_INT, max_per_phone, .def = "5", .min = 1,            \
                         .max = 1000, .help = "codes sent to one number per window"),              \
        AUTH_PHONE_FIELD("max_per_source", CFG_INT, max_per_source, .def = "20", .min = 1,         \
                         .max = 1000000, .help = "codes asked by one client address per window"),  \
        AUTH_PHONE_FIELD("sender", CFG_ENUM, sender, .def = "webhook",                             \
                         .choices = auth_phone_senders,                                            \
                         .help = "webhook (HTTP POST JSON) or file (make run)"),                   \
        AUTH_PHONE_FIELD("webhook_url", CFG_STR, webhook_url, .def = "",                           \
                         .help = "the SMS gateway's URL (https; http only to loopback)"),          \
        AUTH_PHONE_FIELD("webhook_secret", CFG_SECRET, webhook_secret, .def = "",                  \
                         .help = "sent as Authorization: Bearer (or webhook_secret_file)"),        \
        AUTH_PHONE_FIELD("webhook_ca_file", CFG_STR, webhook_ca_file, .def = "",                   \
                         .help = "PEM CAs trusted for the webhook (\"\" = the system's)"),         \
        AUTH_PHONE_FIELD("webhook_timeout", CFG_DURATION, webhook_timeout, .def = "5s",            \
                         .min = 100, .max = 60000, .help = "timeout of one webhook call"),         \
        AUTH_PHONE_FIELD("file_path", CFG_STR, file_path, .def = "",                               \
                         .help = "sender file: where messages are appended (one JSON line each)"), \
        AUTH_PHONE_FIELD("message", CFG_STR, message, .def = "Your Confetti code: {code}",         \
                         .help = "the SMS text; {code} becomes the code")

extern const char *const auth_phone_senders[];

/* ---- SMS senders (sms.c) ---- */

typedef struct sms_sender sms_sender;
/* From the config: the webhook (url checked: https, or http to a loopback host) or the file.
 * INVALID_ARGUMENT with err when unusable. */
cf_code sms_sender_new(const auth_phone_config *cfg, sms_sender **out, char *err, size_t errlen);
/* Sends text to phone (E.164). CF_OK when the webhook answered 2xx or the line is written;
 * UNAVAILABLE otherwise (err says why, never the text). Blocks (HTTP or file). */
cf_code sms_send(sms_sender *s, const char *phone, const char *text, char *err, size_t errlen);
void sms_sender_free(sms_sender *s);

/* ---- phone sign-in (phone.c) ---- */

struct auth_ctx;
struct auth_phone;
/* *out = NULL when phone.enabled is false. */
cf_code auth_phone_new(struct auth_ctx *ctx, struct auth_phone **out, char *err, size_t errlen);
void auth_phone_free(struct auth_phone *p);
/* "+" and 8-15 digits into out[17] from what a person types (spaces, dashes, dots, parentheses
 * dropped; a leading 00 read as +). False if it is not such a number. */
bool auth_phone_normalize(const char *in, char out[17]);

#endif
