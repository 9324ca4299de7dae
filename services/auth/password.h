/* password.h — e-mail and password sign-in (issue 18 item 2; docs/auth.md, "E-mail and
 * password"): its configuration (sections password and mail), the argon2id hashing
 * (libsodium's crypto_pwhash_str), the mails, and the state init makes. The RPCs are in
 * rpc_password.c, the SQL in store_password.c. */
#ifndef CONFETTI_AUTH_PASSWORD_H
#define CONFETTI_AUTH_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/status.h"
#include "mailer.h"

/* Password length bounds in bytes (any bytes but NUL; no Unicode normalization: the bytes
 * the client sends are the password). */
#define PASSWORD_MIN_BYTES 8
#define PASSWORD_MAX_BYTES 1024
/* Longest mailed token accepted (they are 43 characters). */
#define PASSWORD_TOKEN_MAX 256
/* Longest name given at sign-up, in characters (base/name.h's rule, as UpdateMe). */
#define PASSWORD_NAME_MAX 200

typedef struct auth_password_config {
    bool enabled;
    int64_t ops_limit, mem_limit;                 /* argon2id: passes, bytes */
    int64_t max_concurrent;                       /* hashes computed at once */
    int64_t verify_ttl, reset_ttl, mail_interval; /* ms */
    char *verify_url, *reset_url;                 /* link prefixes the token is appended to */
    char *mail_sender, *mail_from, *smtp_url, *smtp_tls, *smtp_user, *smtp_password;
    char *smtp_ca_file;
    int64_t mail_timeout; /* ms */
    char *mail_file;
} auth_password_config;

/* The rows of auth's config table (service.c) for auth_config's `password` member. */
#define AUTH_PASSWORD_FIELDS(F)                                                                    \
    F("password", "enabled", CFG_BOOL, password.enabled, .def = "false",                           \
      .help = "e-mail and password sign-up and login (needs mail.sender)"),                        \
        F("password", "ops_limit", CFG_INT, password.ops_limit, .def = "2", .min = 1, .max = 64,   \
          .help = "argon2id passes (older hashes are upgraded at login)"),                         \
        F("password", "mem_limit", CFG_SIZE, password.mem_limit, .def = "64MiB", .min = 8192,      \
          .max = 4294967296, .help = "argon2id memory per hash (older hashes upgraded at login)"), \
        F("password", "max_concurrent", CFG_INT, password.max_concurrent, .def = "4", .min = 1,    \
          .max = 1024,                                                                             \
          .help = "hashes computed at once (each holds mem_limit); others wait up to 5 s, then "   \
                  "RESOURCE_EXHAUSTED (429, Retry-After: 1)"),                                     \
        F("password", "verify_ttl", CFG_DURATION, password.verify_ttl, .def = "24h", .min = 60000, \
          .max = 2592000000, .help = "life of a sign-up's verification token"),                    \
        F("password", "reset_ttl", CFG_DURATION, password.reset_ttl, .def = "1h", .min = 60000,    \
          .max = 86400000, .help = "life of a password reset token"),                              \
        F("password", "mail_interval", CFG_DURATION, password.mail_interval, .def = "1m",          \
          .min = 0, .max = 86400000,                                                               \
          .help = "at most one mail per address this often (others answer the same, unsent)"),     \
        F("password", "verify_url", CFG_STR, password.verify_url, .def = "",                       \
          .help = "link in verification mails; the token is appended (\"\" = token only)"),        \
        F("password", "reset_url", CFG_STR, password.reset_url, .def = "",                         \
          .help = "link in reset mails; the token is appended (\"\" = token only)"),               \
        F("mail", "sender", CFG_ENUM, password.mail_sender, .def = "none",                         \
          .choices = auth_mail_senders, .help = "none, smtp (mail.smtp_url) or file (mail.file)"), \
        F("mail", "from", CFG_STR, password.mail_from, .def = "",                                  \
          .help = "the From address of mails"),                                                    \
        F("mail", "smtp_url", CFG_STR, password.smtp_url, .def = "",                               \
          .help = "smtp://host:587 (STARTTLS) or smtps://host:465"),                               \
        F("mail", "smtp_tls", CFG_ENUM, password.smtp_tls, .def = "required",                      \
          .choices = auth_mail_tls, .help = "required: STARTTLS on smtp:// (none: plain text)"),   \
        F("mail", "smtp_ca_file", CFG_STR, password.smtp_ca_file, .def = "",                       \
          .help = "CA certificates (PEM) the SMTP server's is checked against (\"\" = system)"),   \
        F("mail", "smtp_username", CFG_STR, password.smtp_user, .def = "",                         \
          .help = "SMTP AUTH user (\"\" = no AUTH)"),                                              \
        F("mail", "smtp_password", CFG_SECRET, password.smtp_password, .def = "",                  \
          .help = "SMTP AUTH password (or smtp_password_file)"),                                   \
        F("mail", "timeout", CFG_DURATION, password.mail_timeout, .def = "10s", .min = 1000,       \
          .max = 120000, .help = "deadline of one mail's SMTP exchange"),                          \
        F("mail", "file", CFG_STR, password.mail_file, .def = "",                                  \
          .help = "mail.sender file: mails appended here (development)")

extern const char *const auth_mail_senders[];
extern const char *const auth_mail_tls[];

/* What init makes of the config: the mailer (NULL when mail.sender is none), the dummy hash
 * that unknown e-mails are verified against, and the gate on concurrent hashes. */
typedef struct auth_password auth_password;

/* NULL *out and CF_OK when neither password nor mail is configured. INVALID_ARGUMENT with err
 * when the config is unusable (password.enabled without a mail sender, a bad mail.*). */
cf_code auth_password_new(const auth_password_config *cfg, auth_password **out, char *err,
                          size_t errlen);
void auth_password_free(auth_password *p);
bool auth_password_enabled(const auth_password *p);
mailer *auth_password_mailer(const auth_password *p);

/* The argon2id hash of pw (len bytes) into out (crypto_pwhash_STRBYTES). RESOURCE_EXHAUSTED
 * when no hashing slot freed up in 5 s; INTERNAL when libsodium fails (out of memory). */
cf_code auth_password_hash(auth_password *p, const char *pw, size_t len, char *out);
/* Whether pw matches hash; hash NULL or "" = verify against the dummy hash (same cost) and
 * answer false. *rehash: the hash was made with other parameters (or is unreadable).
 * RESOURCE_EXHAUSTED as auth_password_hash. */
cf_code auth_password_verify(auth_password *p, const char *hash, const char *pw, size_t len,
                             bool *match, bool *rehash);

/* A password is 8-1024 bytes; an e-mail passes mailer_address_ok. */
bool auth_password_length_ok(size_t len);

#endif
