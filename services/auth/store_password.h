/* store_password.h — the SQL of e-mail and password sign-in (store_password.c; schema
 * 005_password.sql). Times are epoch seconds from the service's clock. Every function blocks on
 * the database. */
#ifndef CONFETTI_AUTH_STORE_PASSWORD_H
#define CONFETTI_AUTH_STORE_PASSWORD_H

#include <stdbool.h>
#include <stdint.h>

#include "audit/audit.h"
#include "db/db.h"

/* The statements, part of auth_stmts (store.c). */
#define AUTH_PASSWORD_STMTS                                                                        \
    {"pw_user_by_email",                                                                           \
     "SELECT u.id, coalesce(p.hash, '') FROM users u LEFT JOIN passwords p ON p.user_id = u.id "   \
     "WHERE lower(u.email) = lower($1) AND u.email <> '' AND u.deleted_at IS NULL"},               \
        {"pw_recent_mail", "SELECT 1 FROM password_tokens WHERE lower(email) = lower($1) "         \
                           "AND created_at > to_timestamp($2) LIMIT 1"},                           \
        {"pw_token_insert",                                                                        \
         "INSERT INTO password_tokens (token_hash, kind, email, user_id, password_hash, name, "    \
         "expires_at, created_at) VALUES ($1, $2, $3, nullif($4, ''), $5, $6, to_timestamp($7), "  \
         "to_timestamp($8))"},                                                                     \
        {"pw_token_take",                                                                          \
         "UPDATE password_tokens SET used_at = to_timestamp($3), updated_at = now() "              \
         "WHERE token_hash = $1 AND kind = $2 AND used_at IS NULL AND expires_at > "               \
         "to_timestamp($3) RETURNING email, coalesce(user_id, ''), password_hash, name"},          \
        {"pw_tokens_spend",                                                                        \
         "UPDATE password_tokens SET used_at = to_timestamp($3), updated_at = now() "              \
         "WHERE lower(email) = lower($1) AND kind = $2 AND used_at IS NULL"},                      \
        {"pw_user_live", "SELECT 1 FROM users WHERE id = $1 AND deleted_at IS NULL"},              \
        {"pw_set",                                                                                 \
         "INSERT INTO passwords (user_id, hash, created_at, updated_at) VALUES ($1, $2, "          \
         "to_timestamp($3), to_timestamp($3)) ON CONFLICT (user_id) DO UPDATE SET hash = "         \
         "excluded.hash, updated_at = excluded.updated_at"},                                       \
        {"pw_rehash", "UPDATE passwords SET hash = $3, updated_at = to_timestamp($4) "             \
                      "WHERE user_id = $1 AND hash = $2"},                                         \
    {                                                                                              \
        "pw_forget", "WITH p AS (DELETE FROM passwords WHERE user_id = $1) "                       \
                     "DELETE FROM password_tokens WHERE user_id = $1"                              \
    }

/* The live user holding email (any case) and its password hash ("" = none) into user_id
 * (64 bytes) and hash (256 bytes); *found false when no live user holds it. */
cf_code store_pw_user(db_conn *db, const char *email, char *user_id, char *hash, bool *found);
/* Whether a mail went to email (any case) after since. */
cf_code store_pw_recent_mail(db_conn *db, const char *email, int64_t since, bool *recent);

/* One mail's row: a token (verify, reset) or a notice (exists, no_account; token_hash random). */
typedef struct store_pw_token {
    const char *token_hash, *kind, *email;
    const char *user_id;       /* reset: the user ("" = none) */
    const char *password_hash; /* verify: the chosen password's hash ("" otherwise) */
    const char *name;          /* verify: the chosen name */
    int64_t now, expires_at;
} store_pw_token;
cf_code store_pw_token_add(db_conn *db, const store_pw_token *t);

/* Verification, in one transaction: the verify token (unused, unexpired) is spent with every
 * other verify token of its address; a user is created with identity (password,
 * lower(e-mail)), the e-mail (verified) and the password chosen at sign-up. is_admin_email
 * decides the bootstrap admin. UNAUTHENTICATED for a token unknown, used or expired;
 * FAILED_PRECONDITION (the token spent, nothing else done) when a live user came to hold the
 * address since the sign-up: a password chosen by whoever signed up is never attached to an
 * existing account. The login's audit row (user.login, detail "password") carries au (the
 * call's peer and request id). user_id: 64 bytes. */
cf_code store_pw_verify(db_conn *db, const char *token_hash, int64_t now,
                        bool (*is_admin_email)(const void *arg, const char *email), const void *arg,
                        const audit_ctx *au, char *user_id, bool *is_admin);
/* Reset, in one transaction: the reset token (unused, unexpired, its user live) is spent with
 * every other reset token of its address, and the user's password becomes new_hash.
 * UNAUTHENTICATED for a token unknown, used, expired, or of a deleted user. */
cf_code store_pw_reset(db_conn *db, const char *token_hash, const char *new_hash, int64_t now,
                       char *user_id);
/* Replaces the hash of user_id if it is still old_hash (a login's parameter upgrade). */
cf_code store_pw_rehash(db_conn *db, const char *user_id, const char *old_hash,
                        const char *new_hash, int64_t now);
/* A deleted user's password and reset tokens go with its identities (inside DeleteMe's
 * transaction). */
cf_code store_pw_forget(db_conn *db, const char *user_id);

#endif
