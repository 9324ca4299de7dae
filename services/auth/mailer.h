/* mailer.h — how confetti-auth sends mail (password verification and reset; notifications may
 * follow): one interface, two senders chosen by mail.sender (docs/auth.md, "Mail"):
 * - smtp: libcurl's SMTP client (smtp:// with STARTTLS required unless mail.smtp_tls is none,
 *   or smtps://), optional AUTH, one connection per mail, mail.timeout for the whole exchange;
 * - file: each mail appended to mail.file (for `make run` and tests), one mail per block.
 * Mails are plain UTF-8 text. Recipients are checked (mailer_address_ok) before they reach a
 * header, so nothing a client sends can add a header or a recipient. Thread-safe. */
#ifndef CONFETTI_AUTH_MAILER_H
#define CONFETTI_AUTH_MAILER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/status.h"

typedef struct mailer mailer;

typedef struct mailer_config {
    const char *sender;       /* "smtp" or "file" */
    const char *from;         /* the From address (bare: a@b.example) */
    const char *smtp_url;     /* smtp://host:port or smtps://host:port */
    const char *smtp_tls;     /* "required" (STARTTLS on smtp://) or "none" */
    const char *smtp_ca_file; /* PEM CAs the server's certificate must chain to; ""/NULL:
                                 the system's. The name is always checked. */
    const char *smtp_user;    /* "" = no AUTH */
    const char *smtp_password;
    int64_t timeout_ms;
    const char *file; /* the file sender's path */
} mailer_config;

/* One mail (strings borrowed). to must pass mailer_address_ok. */
typedef struct mail_msg {
    const char *to, *subject, *body;
} mail_msg;

/* A sender from cfg (copied), or NULL with err when the config is unusable. */
mailer *mailer_new(const mailer_config *cfg, char *err, size_t errlen);
void mailer_free(mailer *m);
/* Sends one mail. UNAVAILABLE (err says why, no secret in it) when the server or the file
 * refuses; INVALID_ARGUMENT for a recipient mailer_address_ok refuses. Blocks (network). */
cf_code mailer_send(mailer *m, const mail_msg *msg, char *err, size_t errlen);

/* An address mail may be sent to: 3-254 bytes, one '@' with 1-64 bytes before it and a domain
 * after it, printable ASCII only, none of space ( ) < > [ ] \ , ; : " (so it is safe in a
 * header and in an SMTP command). */
bool mailer_address_ok(const char *addr);

#endif
