/* rpc_participants.c — rooms.v1 membership: join or add, list, change role/metadata, leave or
 * remove (SPEC §3 "Roles": moderators manage members, only ADMIN/ORGANIZER members and platform
 * admins touch the privileged roles, the last ORGANIZER stays). */
#include "rooms.h"
#include "page/page.h"
#include "confetti_proto_handlers.h"

#include <string.h>

static cf_code check_role(rpc_call *call, const char *field, Rooms__V1__Role role)
{
    if (!policy_role_name(role))
        return rpc_violation(call, field, "unknown value %d", (int)role);
    return CF_OK;
}

/* The user a request names: "" means the caller. */
static cf_code target_user(rpc_call *call, const char *user_id, const char **out, bool *self)
{
    const char *me = rooms_caller_id(call);
    if (!*user_id || strcmp(user_id, me) == 0) {
        *out = me;
        *self = true;
        return CF_OK;
    }
    *out = user_id;
    *self = false;
    return rooms_check_id(call, "userId", user_id, ROOMS_USER_ID_MAX);
}

static cf_code refuse_change(rpc_call *call, Rooms__V1__Role old, Rooms__V1__Role new_role)
{
    if (policy_role_is_privileged(old) || policy_role_is_privileged(new_role))
        return rpc_error(call, CF_PERMISSION_DENIED,
                         "only the room's ADMINs and ORGANIZERs grant or take away ADMIN and "
                         "ORGANIZER");
    return rpc_error(call, CF_PERMISSION_DENIED, "managing members needs MODERATOR or above");
}

RPC_HANDLER(rpc_rooms_add_participant)
{
    if (rpc_require_caller(call) != CF_OK) /* membership changes always need an account */
        return CF_UNAUTHENTICATED;
    store_room room;
    policy_subject who;
    cf_code code = rooms_gate(call, req->room_id, ROOMS__V1__ACTION__VIEW, &room, &who);
    if (code != CF_OK)
        return code;
    if ((code = rooms_writable(call, &room)) != CF_OK)
        return code;
    Rooms__V1__Role role = req->role ? req->role : ROOMS__V1__ROLE__PARTICIPANT;
    if ((code = check_role(call, "role", role)) != CF_OK)
        return code;
    const char *user;
    bool self;
    if ((code = target_user(call, req->user_id, &user, &self)) != CF_OK)
        return code;
    char *metadata;
    if ((code = rooms_struct_text(call, "metadata", req->metadata, &metadata)) != CF_OK)
        return code;
    db_conn *db = rpc_worker(call);
    store_participant p;
    if (self && !who.platform_admin) {
        if (room.role == ROOMS__V1__ROLE__ROLE_UNSPECIFIED) {
            if (!policy_self_join_role(role))
                return rpc_error(call, CF_PERMISSION_DENIED,
                                 "joining by oneself is as PARTICIPANT or VIEWER");
            if (metadata)
                return rpc_error(call, CF_PERMISSION_DENIED,
                                 "a member's metadata is set by the room's moderators");
            policy_verdict v =
                policy_check(ROOMS__V1__ACTION__JOIN, who, room.is_public, room.status);
            if (v == POLICY_CLOSED)
                return rpc_refuse(call, CF_FAILED_PRECONDITION, "room.status",
                                  "the room is %s; only DRAFT and ACTIVE rooms can be joined",
                                  policy_status_name(room.status));
            if (v != POLICY_ALLOW)
                return rpc_error(call, CF_NOT_FOUND, "room not found");
        }
    } else if (!self) {
        /* adding someone: what they are now decides what it takes (a live ORGANIZER cannot
         * be "re-added" as PARTICIPANT by a moderator) */
        store_participant cur;
        code = store_participant_get(db, rpc_arena(call), room.id, user, &cur);
        if (code != CF_OK && code != CF_NOT_FOUND)
            return rooms_store_error(call, code, "add participant");
        Rooms__V1__Role old = code == CF_OK ? cur.role : ROOMS__V1__ROLE__ROLE_UNSPECIFIED;
        if (policy_member_change(who, old, role) != POLICY_ALLOW)
            return refuse_change(call, old, role);
    }
    bool existed;
    /* audited when someone grants the membership (docs/audit.md): not a user joining alone */
    audit_ctx au = audit_ctx_of(call);
    bool granted = !self || who.platform_admin;
    code = store_participant_join(db, rpc_arena(call), room.id, user, role, metadata, &p, &existed,
                                  granted ? &au : NULL);
    if (code != CF_OK)
        return rooms_store_error(call, code, "add participant");
    /* already a member: the same request again is answered like the first time; a different
     * role is a change, which is UpdateParticipant's job */
    if (existed && p.role != role)
        return rpc_error(call, CF_ALREADY_EXISTS,
                         "already a member of this room as %s; UpdateParticipant changes roles",
                         policy_role_name(p.role));
    *resp = *rooms_participant_msg(call, &p);
    return CF_OK;
}

RPC_HANDLER(rpc_rooms_list_participants)
{
    store_room room;
    policy_subject who;
    cf_code code = rooms_gate(call, req->room_id, ROOMS__V1__ACTION__VIEW, &room, &who);
    if (code != CF_OK)
        return code;
    if (req->role && (code = check_role(call, "role", req->role)) != CF_OK)
        return code;
    int size;
    if (page_size(req->page_size, &size) != CF_OK)
        return rpc_violation(call, "pageSize", "must not be negative");
    arena *a = rpc_arena(call);
    char *filters = arena_printf(a, "participants|%s|%d", room.id, (int)req->role);
    char *after = NULL;
    code = page_token_decode(a, req->page_token, filters, &after, 1);
    if (code != CF_OK && code != CF_NOT_FOUND)
        return rpc_violation(call, "pageToken", "is not valid for this list");
    store_participant *rows;
    size_t n;
    code = store_participants_list(rpc_worker(call), a, room.id, req->role, after, size + 1, &rows,
                                   &n);
    if (code != CF_OK)
        return rooms_store_error(call, code, "list participants");
    bool more = n > (size_t)size;
    if (more)
        n = (size_t)size;
    resp->participants = rpc_alloc(call, (n ? n : 1) * sizeof *resp->participants);
    resp->n_participants = n;
    for (size_t i = 0; i < n; i++)
        resp->participants[i] = rooms_participant_msg(call, &rows[i]);
    if (more) {
        const char *next[] = {rows[n - 1].id};
        resp->next_page_token = page_token_encode(a, filters, next, 1);
    }
    return CF_OK;
}

RPC_HANDLER(rpc_rooms_update_participant)
{
    if (rpc_require_caller(call) != CF_OK) /* membership changes always need an account */
        return CF_UNAUTHENTICATED;
    store_room room;
    policy_subject who;
    cf_code code = rooms_gate(call, req->room_id, ROOMS__V1__ACTION__VIEW, &room, &who);
    if (code != CF_OK)
        return code;
    if ((code = rooms_writable(call, &room)) != CF_OK)
        return code;
    const char *user;
    bool self;
    if ((code = target_user(call, req->user_id, &user, &self)) != CF_OK)
        return code;
    if (!req->update_mask || req->update_mask->n_paths == 0)
        return rpc_violation(call, "updateMask", "must name role and/or metadata");
    bool set_role = false, set_meta = false;
    for (size_t i = 0; i < req->update_mask->n_paths; i++) {
        const char *path = req->update_mask->paths[i];
        if (strcmp(path, "role") == 0)
            set_role = true;
        else if (strcmp(path, "metadata") == 0)
            set_meta = true;
        else
            return rpc_violation(call, "updateMask", "%.64s cannot be changed", path);
    }
    if (set_role && (code = check_role(call, "role", req->role)) != CF_OK)
        return code;
    char *metadata = NULL;
    if (set_meta) {
        if ((code = rooms_struct_text(call, "metadata", req->metadata, &metadata)) != CF_OK)
            return code;
        if (!metadata)
            metadata = "{}";
    }
    store_participant cur;
    code = store_participant_get(rpc_worker(call), rpc_arena(call), room.id, user, &cur);
    if (code == CF_NOT_FOUND)
        return rpc_error(call, CF_NOT_FOUND, "participant not found");
    if (code != CF_OK)
        return rooms_store_error(call, code, "update participant");
    Rooms__V1__Role new_role = set_role ? req->role : cur.role;
    if (policy_member_change(who, cur.role, new_role) != POLICY_ALLOW)
        return refuse_change(call, cur.role, new_role);
    store_participant p;
    audit_ctx au = audit_ctx_of(call);
    code = store_participant_update(rpc_worker(call), rpc_arena(call), room.id, user, cur.role,
                                    set_role, new_role, metadata, &p, &au);
    if (code == CF_FAILED_PRECONDITION)
        return rpc_refuse(call, code, "role", "the room's last ORGANIZER cannot be demoted");
    if (code != CF_OK)
        return rooms_store_error(call, code, "update participant");
    *resp = *rooms_participant_msg(call, &p);
    return CF_OK;
}

RPC_HANDLER(rpc_rooms_remove_participant)
{
    if (rpc_require_caller(call) != CF_OK) /* membership changes always need an account */
        return CF_UNAUTHENTICATED;
    (void)resp;
    store_room room;
    policy_subject who;
    cf_code code = rooms_gate(call, req->room_id, ROOMS__V1__ACTION__VIEW, &room, &who);
    if (code != CF_OK)
        return code;
    if ((code = rooms_writable(call, &room)) != CF_OK)
        return code;
    const char *user;
    bool self;
    if ((code = target_user(call, req->user_id, &user, &self)) != CF_OK)
        return code;
    db_conn *db = rpc_worker(call);
    store_participant cur;
    code = store_participant_get(db, rpc_arena(call), room.id, user, &cur);
    if (code == CF_NOT_FOUND) {
        /* left already: a replay of the same leave/remove answers as the first one did */
        bool ever = false;
        if ((code = store_participant_ever(db, room.id, user, &ever)) != CF_OK)
            return rooms_store_error(call, code, "remove participant");
        return ever ? CF_OK : rpc_error(call, CF_NOT_FOUND, "participant not found");
    }
    if (code != CF_OK)
        return rooms_store_error(call, code, "remove participant");
    if (!self &&
        policy_member_change(who, cur.role, ROOMS__V1__ROLE__ROLE_UNSPECIFIED) != POLICY_ALLOW)
        return refuse_change(call, cur.role, ROOMS__V1__ROLE__ROLE_UNSPECIFIED);
    code = store_participant_remove(db, room.id, user, cur.role, self ? "left" : "removed");
    if (code == CF_FAILED_PRECONDITION)
        return rpc_refuse(call, code, "userId", "the room's last ORGANIZER cannot %s",
                          self ? "leave" : "be removed");
    return rooms_store_error(call, code, "remove participant");
}
