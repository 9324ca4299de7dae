/* emit.h — the events confetti-auth publishes (SPEC §5), written to its outbox by the store
 * inside the transaction of the change they report (common/events). Each call blocks (libpq)
 * and must run inside that db_tx. */
#ifndef CONFETTI_AUTH_EMIT_H
#define CONFETTI_AUTH_EMIT_H

#include <stdint.h>

#include "db/db.h"

cf_code emit_user_deleted(db_conn *db, const char *user_id);
/* exp: the token's expiry (epoch seconds): gateways may forget the revocation after it. */
cf_code emit_token_revoked(db_conn *db, const char *jti, const char *user_id, int64_t exp);
/* Every token whose sid is session_id is refused until `until` (epoch seconds). jti: the
 * session's access token that was blacklisted with it, "" or NULL if none was live. */
cf_code emit_session_revoked(db_conn *db, const char *session_id, const char *user_id,
                             const char *jti, int64_t until);

#endif
