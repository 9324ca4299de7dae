/* emit.c — building auth's events and adding them to the outbox (see emit.h). */
#include "emit.h"

#include "events/events.h"

static cf_code add(db_conn *db, Events__V1__Event *ev)
{
    ev->source = "auth";
    return events_outbox_add(db, ev);
}

cf_code emit_user_deleted(db_conn *db, const char *user_id)
{
    Events__V1__UserDeleted b = EVENTS__V1__USER_DELETED__INIT;
    b.user_id = (char *)user_id;
    Events__V1__Event ev = EVENTS__V1__EVENT__INIT;
    ev.body_case = EVENTS__V1__EVENT__BODY_USER_DELETED;
    ev.user_deleted = &b;
    return add(db, &ev);
}

cf_code emit_token_revoked(db_conn *db, const char *jti, const char *user_id, int64_t exp)
{
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    ts.seconds = exp;
    Events__V1__TokenRevoked b = EVENTS__V1__TOKEN_REVOKED__INIT;
    b.jti = (char *)jti;
    b.user_id = (char *)(user_id ? user_id : "");
    b.expires_at = &ts;
    Events__V1__Event ev = EVENTS__V1__EVENT__INIT;
    ev.body_case = EVENTS__V1__EVENT__BODY_TOKEN_REVOKED;
    ev.token_revoked = &b;
    return add(db, &ev);
}

cf_code emit_session_revoked(db_conn *db, const char *session_id, const char *user_id,
                             const char *jti, int64_t until)
{
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    ts.seconds = until;
    char *jtis[1] = {(char *)jti};
    Events__V1__SessionRevoked b = EVENTS__V1__SESSION_REVOKED__INIT;
    b.session_id = (char *)session_id;
    b.user_id = (char *)user_id;
    b.expires_at = &ts;
    if (jti && *jti) {
        b.jtis = jtis;
        b.n_jtis = 1;
    }
    Events__V1__Event ev = EVENTS__V1__EVENT__INIT;
    ev.body_case = EVENTS__V1__EVENT__BODY_SESSION_REVOKED;
    ev.session_revoked = &b;
    return add(db, &ev);
}
