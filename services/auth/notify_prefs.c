/* notify_prefs.c — GetNotificationSettings and UpdateNotificationSettings (notify.h): the
 * caller's own preferences, stored in notification_prefs (009_notifications.sql). */
#include "auth.h"
#include "notify.h"
#include "confetti_proto_handlers.h"
#include "db/tx.h"
#include "rpc/rpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the SQL ---- */

static cf_code user_email(db_conn *db, const char *user_id, bool lock, char email[320])
{
    PGresult *r = NULL;
    const char *p[] = {user_id};
    cf_code code =
        db_exec_sql(db,
                    lock ? "SELECT email FROM users WHERE id = $1 AND deleted_at IS "
                           "NULL FOR UPDATE"
                         : "SELECT email FROM users WHERE id = $1 AND deleted_at IS NULL",
                    1, p, &r);
    if (code != CF_OK)
        return code;
    if (PQntuples(r) != 1)
        code = CF_NOT_FOUND;
    else
        snprintf(email, 320, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return code;
}

cf_code notify_won_email(db_conn *db, const char *user_id, const char *room_id, bool *on,
                         char email[320])
{
    cf_code code = user_email(db, user_id, false, email);
    if (code != CF_OK)
        return code;
    PGresult *r = NULL;
    const char *p[] = {user_id, room_id};
    /* the room's override sorts first (room_id <> '' is true) */
    code = db_exec_sql(db,
                       "SELECT email FROM notification_prefs WHERE user_id = $1 AND kind = 'won' "
                       "AND room_id IN ('', $2) ORDER BY room_id <> '' DESC LIMIT 1",
                       2, p, &r);
    if (code != CF_OK)
        return code;
    *on = PQntuples(r) == 1 ? strcmp(PQgetvalue(r, 0, 0), "t") == 0 : *email != '\0';
    PQclear(r);
    return CF_OK;
}

/* ---- the answer ---- */

static Auth__V1__NotificationChannels *channels(rpc_call *call, Auth__V1__Delivery email)
{
    Auth__V1__NotificationChannels *c = rpc_alloc(call, sizeof *c);
    auth__v1__notification_channels__init(c);
    c->email = email;
    c->websocket = AUTH__V1__DELIVERY__ON;
    return c;
}

/* The effective settings of user_id into resp. */
static cf_code load(rpc_call *call, db_conn *db, const char *user_id,
                    Auth__V1__NotificationSettings *resp)
{
    auth_ctx *ctx = rpc_service_ctx(call);
    char email[320];
    cf_code code = user_email(db, user_id, false, email);
    if (code == CF_NOT_FOUND)
        return rpc_error(call, code, "user not found");
    if (code != CF_OK)
        return rpc_error(call, code, "cannot read the user");
    PGresult *r = NULL;
    const char *p[] = {user_id};
    code = db_exec_sql(db,
                       "SELECT room_id, email FROM notification_prefs WHERE user_id = $1 AND "
                       "kind = 'won' ORDER BY room_id",
                       1, p, &r);
    if (code != CF_OK)
        return rpc_error(call, code, "cannot read the notification settings");
    int n = PQntuples(r);
    bool def_won = *email != '\0';
    resp->rooms = rpc_alloc(call, (size_t)(n ? n : 1) * sizeof *resp->rooms);
    for (int i = 0; i < n; i++) {
        bool on = strcmp(PQgetvalue(r, i, 1), "t") == 0;
        if (!*PQgetvalue(r, i, 0)) {
            def_won = on;
            continue;
        }
        Auth__V1__RoomNotificationSettings *rs = rpc_alloc(call, sizeof *rs);
        auth__v1__room_notification_settings__init(rs);
        rs->room_id = rpc_strdup(call, PQgetvalue(r, i, 0));
        rs->won = channels(call, on ? AUTH__V1__DELIVERY__ON : AUTH__V1__DELIVERY__OFF);
        resp->rooms[resp->n_rooms++] = rs;
    }
    PQclear(r);
    Auth__V1__NotificationKinds *k = rpc_alloc(call, sizeof *k);
    auth__v1__notification_kinds__init(k);
    k->won = channels(call, def_won ? AUTH__V1__DELIVERY__ON : AUTH__V1__DELIVERY__OFF);
    resp->defaults = k;
    resp->email_deliverable =
        *email != '\0' && ctx->password && auth_password_mailer(ctx->password) != NULL;
    return CF_OK;
}

RPC_HANDLER(rpc_auth_get_notification_settings)
{
    (void)req;
    cf_code code = auth_require_user(call);
    return code != CF_OK ? code : load(call, rpc_worker(call), rpc_caller(call)->sub, resp);
}

/* ---- the update ---- */

/* One channel of an update: the e-mail setting to write ('t', 'f', "" = delete, NULL = no
 * change), or a violation under `field`. */
static cf_code check_channels(rpc_call *call, const Auth__V1__NotificationChannels *c,
                              const char *field, bool room, const char **email)
{
    *email = NULL;
    if (!c)
        return CF_OK;
    if (c->websocket != AUTH__V1__DELIVERY__DELIVERY_UNSPECIFIED &&
        c->websocket != AUTH__V1__DELIVERY__ON)
        return rpc_violation(call, rpc_printf(call, "%s.websocket", field),
                             "the WebSocket channel is always on (only ON is accepted)");
    switch (c->email) {
    case AUTH__V1__DELIVERY__DELIVERY_UNSPECIFIED:
        return CF_OK;
    case AUTH__V1__DELIVERY__ON:
        *email = "t";
        return CF_OK;
    case AUTH__V1__DELIVERY__OFF:
        *email = "f";
        return CF_OK;
    case AUTH__V1__DELIVERY__INHERIT:
        if (!room)
            return rpc_violation(call, rpc_printf(call, "%s.email", field),
                                 "INHERIT is for room overrides; the defaults take ON or OFF");
        *email = "";
        return CF_OK;
    default:
        return rpc_violation(call, rpc_printf(call, "%s.email", field),
                             "must be ON, OFF or INHERIT");
    }
}

static bool room_id_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > NOTIFY_ROOM_ID_MAX)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_'))
            return false;
    return true;
}

typedef struct change {
    const char *room_id; /* "" = the defaults */
    const char *email;   /* 't', 'f', "" = delete */
} change;

typedef struct update {
    const char *user_id;
    change *ch;
    size_t n;
    bool too_many; /* out: past NOTIFY_MAX_ROOMS */
} update;

static cf_code update_tx(db_conn *db, void *arg)
{
    update *u = arg;
    u->too_many = false;
    char email[320];
    /* the user's row locked: one update of a user's settings at a time (the count below) */
    cf_code code = user_email(db, u->user_id, true, email);
    for (size_t i = 0; code == CF_OK && i < u->n; i++) {
        const char *p[] = {u->user_id, u->ch[i].room_id, u->ch[i].email};
        if (*u->ch[i].email)
            code = db_exec_sql(db,
                               "INSERT INTO notification_prefs (user_id, room_id, kind, email) "
                               "VALUES ($1, $2, 'won', $3::boolean) ON CONFLICT (user_id, "
                               "room_id, kind) DO UPDATE SET email = excluded.email, "
                               "updated_at = now()",
                               3, p, NULL);
        else
            code = db_exec_sql(db,
                               "DELETE FROM notification_prefs WHERE user_id = $1 AND room_id = "
                               "$2 AND kind = 'won'",
                               2, p, NULL);
    }
    if (code != CF_OK)
        return code;
    PGresult *r = NULL;
    const char *p[] = {u->user_id};
    code = db_exec_sql(db,
                       "SELECT count(DISTINCT room_id) FROM notification_prefs WHERE user_id = $1 "
                       "AND room_id <> ''",
                       1, p, &r);
    if (code != CF_OK)
        return code;
    u->too_many = strtol(PQgetvalue(r, 0, 0), NULL, 10) > NOTIFY_MAX_ROOMS;
    PQclear(r);
    return u->too_many ? CF_FAILED_PRECONDITION : CF_OK;
}

RPC_HANDLER(rpc_auth_update_notification_settings)
{
    cf_code code = auth_require_user(call);
    if (code != CF_OK)
        return code;
    if (req->n_rooms > NOTIFY_ROOMS_PER_PATCH)
        return rpc_violation(call, "rooms", "at most %d rooms in one update",
                             NOTIFY_ROOMS_PER_PATCH);
    change *ch = rpc_alloc(call, (req->n_rooms + 1) * sizeof *ch);
    size_t n = 0;
    const char *email;
    if (req->defaults) {
        code = check_channels(call, req->defaults->won, "defaults.won", false, &email);
        if (code != CF_OK)
            return code;
        if (email)
            ch[n++] = (change){"", email};
    }
    for (size_t i = 0; i < req->n_rooms; i++) {
        const Auth__V1__RoomNotificationSettings *rs = req->rooms[i];
        char *field = rpc_printf(call, "rooms[%zu]", i);
        if (!room_id_ok(rs->room_id))
            return rpc_violation(call, rpc_printf(call, "%s.roomId", field),
                                 "must be 1-%d characters of A-Z a-z 0-9 - _", NOTIFY_ROOM_ID_MAX);
        for (size_t j = 0; j < i; j++)
            if (strcmp(req->rooms[j]->room_id, rs->room_id) == 0)
                return rpc_violation(call, rpc_printf(call, "%s.roomId", field),
                                     "room %s is listed twice", rs->room_id);
        code = check_channels(call, rs->won, rpc_printf(call, "%s.won", field), true, &email);
        if (code != CF_OK)
            return code;
        if (email)
            ch[n++] = (change){rs->room_id, email};
    }
    const char *me = rpc_caller(call)->sub;
    update u = {.user_id = me, .ch = ch, .n = n};
    code = db_tx(rpc_worker(call), update_tx, &u);
    if (u.too_many)
        return rpc_violation(call, "rooms",
                             "at most %d room overrides per user (set some to INHERIT first)",
                             NOTIFY_MAX_ROOMS);
    if (code == CF_NOT_FOUND)
        return rpc_error(call, code, "user not found");
    if (code != CF_OK)
        return rpc_error(call, code, "cannot update the notification settings");
    return load(call, rpc_worker(call), me, resp);
}
