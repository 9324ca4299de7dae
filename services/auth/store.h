/* store.h — the SQL of confetti-auth (store.c): users and identities, sessions and their
 * refresh-token family, the blacklist, OAuth states. Times travel as epoch seconds (the
 * service's injectable clock decides "now", never the database's). PGresult never leaves
 * store.c. Every function blocks on the database. */
#ifndef CONFETTI_AUTH_STORE_H
#define CONFETTI_AUTH_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/arena.h"
#include "audit/audit.h"
#include "db/db.h"
#include "auth/v1/auth.pb-c.h"

extern const db_stmt auth_stmts[];
extern const size_t auth_nstmts;

/* ---- users ---- */

/* What login learned about the person (strings borrowed). */
typedef struct store_login {
    const char *provider, *provider_id, *email, *name, *picture;
    bool email_verified;
    bool bootstrap_admin; /* the verified e-mail is in admins.emails */
    int64_t now;
    const audit_ctx *au; /* the call's side of the user.login audit row (audit.h) */
} store_login;

/* Finds the live user of the identity, else links a verified e-mail to the live user holding
 * it, else creates a user; records the login. *user_id (CUID_LEN+1) and *is_admin out. */
cf_code store_login_user(db_conn *db, const store_login *in, char *user_id, bool *is_admin);
/* store_login_user's work inside the caller's transaction (db_tx body; no retry). */
cf_code store_login_user_tx(db_conn *db, const store_login *in, char *user_id, bool *is_admin);
/* The live user id into *out (arena). NOT_FOUND if absent or deleted. */
cf_code store_user_get(db_conn *db, arena *a, const char *id, Auth__V1__User *out);
/* Updates name and/or avatar_url of a live user (NULL = unchanged). NOT_FOUND if absent. */
cf_code store_user_update(db_conn *db, const char *id, const char *name, const char *avatar_url,
                          int64_t now);
/* Soft-deletes the user (idempotent), forgets its identities, revokes every live session and
 * blacklists each one's access token (those of age < access_ttl). */
cf_code store_user_delete(db_conn *db, const char *id, int64_t now, int64_t access_ttl,
                          const audit_ctx *au);

/* ---- sessions ---- */

typedef struct store_session_new {
    const char *id, *user_id, *refresh_hash, *access_jti;
    const char *user_agent, *device_info, *ip_address;
    int64_t now, expires_at;
} store_session_new;
cf_code store_session_create(db_conn *db, const store_session_new *s);

/* Result of a rotation attempt. */
typedef enum {
    ROTATE_OK,     /* rotated: the session is live, new pair issued */
    ROTATE_GRACE,  /* the immediately previous token, inside the grace: answer the same pair */
    ROTATE_REUSED, /* a superseded token: the session has been revoked */
    ROTATE_UNKNOWN /* no such token, or its session is revoked/expired/its user deleted */
} store_rotate_result;

typedef struct store_rotate {
    /* in */
    const char *old_hash, *new_hash, *new_jti, *ip_address, *user_agent;
    int64_t now, refresh_ttl, access_ttl; /* seconds */
    int64_t now_ms, grace_ms;             /* the grace is measured in milliseconds */
    const audit_ctx *au;                  /* a reuse's session.revoked audit row */
    /* out */
    store_rotate_result result;
    char session_id[64], user_id[64], access_jti[64];
    int64_t access_iat;
    bool is_admin;
    char current_hash[65]; /* ROTATE_GRACE: the hash of the session's current refresh token */
} store_rotate;
/* Rotates in one conditional statement; on a miss, tells grace from reuse (and revokes the
 * session and blacklists its live access token on reuse). */
cf_code store_refresh(db_conn *db, store_rotate *r);

/* Revokes a session (idempotent) and blacklists its live access token. user_id: the owner it
 * must have (NULL: any). NOT_FOUND if there is no such session of that owner. */
cf_code store_session_revoke(db_conn *db, const char *id, const char *user_id, const char *reason,
                             int64_t now, int64_t access_ttl, const audit_ctx *au);
/* "Sign out everywhere": revokes every live session of user_id but keep_sid ("" or NULL: none),
 * each as store_session_revoke does; *revoked = how many. */
cf_code store_sessions_revoke_all(db_conn *db, const char *user_id, const char *keep_sid,
                                  int64_t now, int64_t access_ttl, int *revoked,
                                  const audit_ctx *au);
/* Catalog's event seq of source handled, in one transaction with its reaction: when sid is not
 * NULL, every token carrying it (subject `sub`) is refused until `until` (a revoked sid row and
 * session.revoked). */
cf_code store_catalog_event(db_conn *db, const char *source, int64_t seq, const char *sid,
                            const char *sub, const char *reason, int64_t until);
/* The last seq of source handled (0 = none). */
cf_code store_catalog_position(db_conn *db, const char *source, int64_t *seq);
/* Blacklists one access token by jti until exp (idempotent). */
cf_code store_blacklist_add(db_conn *db, const char *jti, const char *user_id,
                            const char *session_id, const char *reason, int64_t exp);

/* A page of the user's live sessions after the keyset (after_created_us, after_id; "" = from
 * the start), ordered by (created_at, id); up to limit+1 rows so the caller knows if more. */
cf_code store_sessions_list(db_conn *db, arena *a, const char *user_id, int64_t now,
                            const char *after_us, const char *after_id, int limit,
                            Auth__V1__Session ***out, char ***keys_us, size_t *n);

/* Live blacklist rows after (after_exp, after_id), ordered; up to limit rows. */
cf_code store_revoked_list(db_conn *db, arena *a, int64_t now, const char *after_exp,
                           const char *after_id, int limit, Auth__V1__RevokedToken ***out,
                           char ***ids, size_t *n);

/* ---- OAuth states ---- */

/* Records a login begun at now, if fewer than max_pending logins are not yet expired
 * (RESOURCE_EXHAUSTED otherwise, nothing recorded); frees up to 16 expired ones on the way.
 * binding_hash: SHA-256 (hex) of the browser binding, "" for none. */
cf_code store_state_create(db_conn *db, const char *state_hash, const char *provider,
                           const char *redirect_uri, int64_t now, int64_t expires_at,
                           const char *binding_hash, int64_t max_pending);
/* Consumes a state once: CF_OK with its provider, redirect_uri and binding hash (arena);
 * UNAUTHENTICATED for a state unknown, used already or expired. */
cf_code store_state_take(db_conn *db, arena *a, const char *state_hash, int64_t now,
                         char **provider, char **redirect_uri, char **binding_hash);

#endif
