/* maint.c — confetti-auth's maintenance jobs (common/svc/maint.h; docs/operations.md,
 * "Maintenance jobs"): expired revocations, sessions and login states, in small batches. Each job
 * is one statement (svc_maint_sql): $1 now, $2 the batch. */
#include "auth.h"

/* Verifiers accept a token up to auth.leeway after its exp (at most 5 minutes, the key's bound,
 * in every service): a revocation is kept that long after, so no verifier that reloads the list
 * meanwhile forgets a token it would still accept. */
#define BLACKLIST_MARGIN_S "300"

static const char BLACKLIST_SQL[] =
    "DELETE FROM token_blacklist WHERE id IN (SELECT id FROM token_blacklist "
    "WHERE expires_at < to_timestamp($1::bigint - " BLACKLIST_MARGIN_S ") "
    "ORDER BY expires_at LIMIT $2::int FOR UPDATE SKIP LOCKED)";

/* A session past expires_at can never be refreshed again, and its last access token expired
 * before it (access_ttl < refresh_ttl); its refresh history goes with it (ON DELETE CASCADE). A
 * revoked session is kept until then (ListSessions does not show it; the revocation row of its
 * tokens is in token_blacklist). */
static const char SESSIONS_SQL[] = "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions "
                                   "WHERE expires_at <= to_timestamp($1::bigint) "
                                   "ORDER BY expires_at LIMIT $2::int FOR UPDATE SKIP LOCKED)";

static const char LOGIN_STATES_SQL[] =
    "DELETE FROM login_states WHERE state_hash IN (SELECT state_hash FROM "
    "login_states WHERE expires_at <= to_timestamp($1::bigint) "
    "ORDER BY expires_at LIMIT $2::int FOR UPDATE SKIP LOCKED)";

/* A phone challenge counts toward the send limits while inside phone.window (at most 24 h, the
 * key's bound) and can be answered until expires_at: it goes once past both (issue 18 item 3). */
static const char PHONE_CHALLENGES_SQL[] =
    "DELETE FROM phone_challenges WHERE id IN (SELECT id FROM "
    "phone_challenges WHERE created_at < to_timestamp($1::bigint - 86400) "
    "AND expires_at < to_timestamp($1::bigint) "
    "ORDER BY created_at LIMIT $2::int FOR UPDATE SKIP LOCKED)";

/* E-mail verification and password reset tokens past their expiry (issue 18 item 2): a used or
 * expired token can never be taken again. */
static const char PASSWORD_TOKENS_SQL[] =
    "DELETE FROM password_tokens WHERE token_hash IN (SELECT token_hash "
    "FROM password_tokens WHERE expires_at <= to_timestamp($1::bigint) "
    "ORDER BY expires_at LIMIT $2::int FOR UPDATE SKIP LOCKED)";

/* Winner mails done (sent, or given up) for 90 days (issue 18 item 6): the row is what makes a
 * replayed draw event send nothing more, and no consumer replays that far back (the outbox's
 * relayed rows are pruned long before; docs/operations.md "Maintenance jobs"). */
static const char NOTIFICATION_MAILS_SQL[] =
    "DELETE FROM notification_mails WHERE (draw_id, user_id) IN (SELECT draw_id, user_id FROM "
    "notification_mails WHERE state IN ('sent', 'failed') AND updated_at < "
    "to_timestamp($1::bigint - 90 * 86400) ORDER BY updated_at LIMIT $2::int "
    "FOR UPDATE SKIP LOCKED)";

const svc_maint_job auth_maint_jobs[] = {
    {.name = "blacklist",
     .interval = "10m",
     .batch = "1000",
     .help = "revoked tokens expired for more than 5 minutes (the largest auth.leeway)",
     .run = svc_maint_sql,
     .arg = BLACKLIST_SQL},
    {.name = "sessions",
     .interval = "10m",
     .batch = "1000",
     .help = "sessions past their expiry, with their refresh history",
     .run = svc_maint_sql,
     .arg = SESSIONS_SQL},
    {.name = "login_states",
     .interval = "10m",
     .batch = "1000",
     .help = "OAuth logins in flight past oauth.state_ttl",
     .run = svc_maint_sql,
     .arg = LOGIN_STATES_SQL},
    {.name = "phone_challenges",
     .interval = "10m",
     .batch = "1000",
     .help = "phone sign-in codes expired and older than 24 h (the largest phone.window)",
     .run = svc_maint_sql,
     .arg = PHONE_CHALLENGES_SQL},
    {.name = "password_tokens",
     .interval = "10m",
     .batch = "1000",
     .help = "e-mail verification and password reset tokens past their expiry",
     .run = svc_maint_sql,
     .arg = PASSWORD_TOKENS_SQL},
    {.name = "notification_mails",
     .interval = "1h",
     .batch = "1000",
     .help = "winner mails sent or given up more than 90 days ago",
     .run = svc_maint_sql,
     .arg = NOTIFICATION_MAILS_SQL},
};
const size_t auth_maint_njobs = sizeof auth_maint_jobs / sizeof *auth_maint_jobs;
