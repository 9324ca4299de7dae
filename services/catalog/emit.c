/* emit.c — building catalog's events and adding them to the outbox (see emit.h). */
#include "emit.h"

#include "events/events.h"

cf_code emit_app_manifest_published(db_conn *db, const char *app_id, const char *version)
{
    Events__V1__AppManifestPublished b = EVENTS__V1__APP_MANIFEST_PUBLISHED__INIT;
    b.app_id = (char *)app_id;
    b.version = (char *)version;
    Events__V1__Event ev = EVENTS__V1__EVENT__INIT;
    ev.source = "catalog";
    ev.body_case = EVENTS__V1__EVENT__BODY_APP_MANIFEST_PUBLISHED;
    ev.app_manifest_published = &b;
    return events_outbox_add(db, &ev);
}

cf_code emit_app_deactivated(db_conn *db, const char *app_id)
{
    Events__V1__AppDeactivated b = EVENTS__V1__APP_DEACTIVATED__INIT;
    b.app_id = (char *)app_id;
    Events__V1__Event ev = EVENTS__V1__EVENT__INIT;
    ev.source = "catalog";
    ev.body_case = EVENTS__V1__EVENT__BODY_APP_DEACTIVATED;
    ev.app_deactivated = &b;
    return events_outbox_add(db, &ev);
}

cf_code emit_app_tokens_revoked(db_conn *db, const char *app_id, const char *session_id,
                                const char *reason)
{
    Events__V1__AppTokensRevoked b = EVENTS__V1__APP_TOKENS_REVOKED__INIT;
    b.app_id = (char *)app_id;
    b.session_id = (char *)session_id;
    b.reason = (char *)reason;
    Events__V1__Event ev = EVENTS__V1__EVENT__INIT;
    ev.source = "catalog";
    ev.body_case = EVENTS__V1__EVENT__BODY_APP_TOKENS_REVOKED;
    ev.app_tokens_revoked = &b;
    return events_outbox_add(db, &ev);
}
