/* emit.h — the events confetti-catalog publishes (SPEC §5), written to its outbox by the store
 * inside the transaction of the change they report (common/events). Each call blocks (libpq)
 * and must run inside that db_tx. */
#ifndef CONFETTI_CATALOG_EMIT_H
#define CONFETTI_CATALOG_EMIT_H

#include "db/db.h"

cf_code emit_app_manifest_published(db_conn *db, const char *app_id, const char *version);
cf_code emit_app_deactivated(db_conn *db, const char *app_id);
/* The app tokens of one credential generation (sid session_id) are void; reason says why. */
cf_code emit_app_tokens_revoked(db_conn *db, const char *app_id, const char *session_id,
                                const char *reason);

#endif
