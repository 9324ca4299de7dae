/* rpc_rooms.c — rooms.v1 room methods: create, read, list, edit, delete, and the status
 * workflow (SPEC §3 "Room lifecycle"). */
#include "base/name.h"
#include "rooms.h"
#include "page/page.h"
#include "confetti_proto_handlers.h"
#include "svc/idem.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Name and description bounds (the schema's CHECKs say the same). */
static cf_code check_text(rpc_call *call, const char *field, const char *s, size_t max,
                          bool required)
{
    size_t n = strlen(s);
    if (required) {
        size_t i = 0;
        while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
            i++;
        if (i == n)
            return rpc_violation(call, field, "must not be empty");
    }
    /* the database counts characters; bytes bound first so nothing huge travels further */
    if (n > max * 4)
        return rpc_violation(call, field, "is longer than %zu characters", max);
    size_t chars = 0;
    for (size_t i = 0; i < n; i++)
        chars += ((unsigned char)s[i] & 0xc0) != 0x80;
    if (chars > max)
        return rpc_violation(call, field, "is longer than %zu characters", max);
    return CF_OK;
}

static cf_code check_draw_policy(rpc_call *call, Rooms__V1__DrawPolicy p)
{
    if (p != ROOMS__V1__DRAW_POLICY__DRAW_POLICY_UNSPECIFIED && !policy_draw_policy_name(p))
        return rpc_violation(call, "drawPolicy", "unknown value %d", (int)p);
    return CF_OK;
}

static Rooms__V1__DrawPolicy draw_policy_or_default(Rooms__V1__DrawPolicy p)
{
    return p ? p : ROOMS__V1__DRAW_POLICY__ONE_WIN_PER_PRIZE;
}

static cf_code create_room(rpc_call *call, const Rooms__V1__CreateRoomRequest *req,
                           store_new_room *in, const char *settings, Rooms__V1__Room *resp);

RPC_HANDLER(rpc_rooms_create_room)
{
    cf_code code = rpc_require_caller(call);
    if (code != CF_OK)
        return code;
    char *name;
    const char *why;
    if (!cf_name_check(rpc_arena(call), req->name, ROOMS_NAME_MAX, &name, &why))
        return rpc_violation(call, "name", "%s", why);
    if ((code = check_text(call, "description", req->description, ROOMS_DESCRIPTION_MAX, false)) !=
            CF_OK ||
        (code = check_draw_policy(call, req->draw_policy)) != CF_OK)
        return code;
    store_new_room in = {.name = name,
                         .description = req->description,
                         .is_public = req->is_public,
                         .draw_policy = draw_policy_or_default(req->draw_policy),
                         .created_by = rooms_caller_id(call),
                         .fingerprint = NULL};
    if ((code = rooms_ts_us(call, "startsAt", req->starts_at, &in.starts_at_us)) != CF_OK ||
        (code = rooms_ts_us(call, "endsAt", req->ends_at, &in.ends_at_us)) != CF_OK)
        return code;
    if (in.starts_at_us != STORE_NO_TIME && in.ends_at_us != STORE_NO_TIME &&
        in.ends_at_us <= in.starts_at_us)
        return rpc_violation(call, "endsAt", "must be after startsAt");
    char *settings;
    if ((code = rooms_struct_text(call, "appSettings", req->app_settings, &settings)) != CF_OK)
        return code;
    if (!*req->app_id && req->app_settings)
        return rpc_violation(call, "appSettings", "needs an appId");
    if (*req->app_id && (code = rooms_check_id(call, "appId", req->app_id, ROOMS_ID_MAX)) != CF_OK)
        return code;
    /* the key is claimed for the whole call (catalog's answers included): docs/rpc.md */
    svc_idem idem;
    if ((code = svc_idem_begin(call, rpc_worker(call), in.created_by, &req->base, &idem)) != CF_OK)
        return code;
    in.idempotency_key = idem.key;
    in.fingerprint = idem.fingerprint;
    code = create_room(call, req, &in, settings, resp);
    svc_idem_end(rpc_worker(call), &idem);
    return code;
}

/* CreateRoom's work once its idempotency-key (if any) is claimed. */
static cf_code create_room(rpc_call *call, const Rooms__V1__CreateRoomRequest *req,
                           store_new_room *in_, const char *settings, Rooms__V1__Room *resp)
{
    store_new_room in = *in_;
    cf_code code;
    store_room room;
    bool key_reused = false;
    if (*req->app_id) {
        /* The app fence, shared from before catalog is asked until the room is committed:
         * catalog's DeleteApp check (AppInUse) waits for it, so a room never outlives its app
         * (docs/rooms.md, "Creating"). */
        db_conn *db = rpc_worker(call);
        if ((code = store_app_fence_share(db, req->app_id)) != CF_OK)
            return rooms_store_error(call, code, "create room");
        /* Lock the app's current version and validate against exactly that one. Both calls run
         * before the transaction: no database transaction waits on another service. */
        char *version;
        bool stored = false;
        if ((code = rooms_catalog_current_version(call, req->app_id, &version)) == CF_OK &&
            (code = rooms_catalog_validate(call, req->app_id, version, req->app_settings)) ==
                CF_OK) {
            in.app_id = req->app_id;
            in.app_version = version;
            in.app_settings = settings ? settings : "{}";
            code = store_room_create(db, rpc_arena(call), &in, &room, &key_reused);
            stored = true;
        }
        store_app_fence_unshare(db, req->app_id);
        if (code != CF_OK && !stored)
            return code; /* catalog's answer, explained already */
    } else {
        code = store_room_create(rpc_worker(call), rpc_arena(call), &in, &room, &key_reused);
    }
    if (key_reused)
        return rpc_idempotency_reused(call);
    if (code == CF_NOT_FOUND) /* a replayed key whose room was deleted since */
        return rpc_error(call, CF_NOT_FOUND, "the room created with this idempotency-key is gone");
    if (code != CF_OK)
        return rooms_store_error(call, code, "create room");
    return rooms_fill_room(call, &room, resp);
}

RPC_HANDLER(rpc_rooms_get_room)
{
    store_room room;
    policy_subject who;
    cf_code code = rooms_gate(call, req->room_id, ROOMS__V1__ACTION__VIEW, &room, &who);
    if (code != CF_OK)
        return code;
    return rooms_fill_room(call, &room, resp);
}

RPC_HANDLER(rpc_rooms_list_rooms)
{
    /* Anonymous callers list public rooms only (SPEC §6: GET /v1/rooms needs no token). */
    cf_code code;
    int size;
    if (page_size(req->page_size, &size) != CF_OK)
        return rpc_violation(call, "pageSize", "must not be negative");
    store_room_query q = {.user_id = rooms_caller_id(call),
                          .all = rpc_caller(call) && rpc_caller(call)->is_admin,
                          .after_us = STORE_NO_TIME,
                          .archived = req->archived,
                          .limit = size + 1}; /* one more tells whether a next page exists */
    if (req->status) {
        if (!(q.status = policy_status_name(req->status)))
            return rpc_violation(call, "status", "unknown value %d", (int)req->status);
    }
    if (*req->app_id) {
        if ((code = rooms_check_id(call, "appId", req->app_id, ROOMS_ID_MAX)) != CF_OK)
            return code;
        q.app_id = req->app_id;
    }
    if (!*req->is_public)
        q.is_public = -1;
    else if (strcmp(req->is_public, "true") == 0)
        q.is_public = 1;
    else if (strcmp(req->is_public, "false") == 0)
        q.is_public = 0;
    else
        return rpc_violation(call, "isPublic", "must be \"true\", \"false\" or empty");
    /* the token is bound to the filters (and to who asked: visibility is part of the list) */
    arena *a = rpc_arena(call);
    char *filters = arena_printf(a, "rooms|%s|%s|%d|%s%s", q.status ? q.status : "", req->app_id,
                                 q.is_public, q.user_id, q.archived ? "|archived" : "");
    char *text;
    if ((code = rooms_search_text(call, req->q, &text)) != CF_OK)
        return code;
    if (text)
        return rooms_search(call, &q, text, arena_printf(a, "%s|q|%s", filters, text),
                            req->page_token, size, resp);
    int64_t after_us;
    char *after_id;
    code = page_keyset_decode(a, req->page_token, filters, &after_us, &after_id);
    if (code == CF_OK) {
        q.after_us = after_us;
        q.after_id = after_id;
    } else if (code != CF_NOT_FOUND) {
        return rpc_violation(call, "pageToken", "is not valid for this list");
    }
    store_room *rows;
    size_t n;
    if ((code = store_rooms_list(rpc_worker(call), a, &q, &rows, &n)) != CF_OK)
        return rooms_store_error(call, code, "list rooms");
    bool more = n > (size_t)size;
    if (more)
        n = (size_t)size;
    resp->rooms = rpc_alloc(call, (n ? n : 1) * sizeof *resp->rooms);
    resp->n_rooms = n;
    for (size_t i = 0; i < n; i++)
        resp->rooms[i] = rooms_room_msg(call, &rows[i]);
    if (more) {
        resp->next_page_token =
            page_keyset_encode(a, filters, rows[n - 1].created_at_us, rows[n - 1].id);
    }
    return CF_OK;
}

/* The FieldMask paths UpdateRoom knows, in snake_case (the wire form) and lowerCamelCase. */
static bool mask_is(const char *path, const char *snake, const char *camel)
{
    return strcmp(path, snake) == 0 || strcmp(path, camel) == 0;
}

RPC_HANDLER(rpc_rooms_update_room)
{
    if (!req->room)
        return rpc_violation(call, "room", "is required");
    const Rooms__V1__Room *in = req->room;
    store_room room;
    policy_subject who;
    cf_code code = rooms_gate(call, in->room_id, ROOMS__V1__ACTION__EDIT, &room, &who);
    if (code != CF_OK)
        return code;
    if (!req->update_mask || req->update_mask->n_paths == 0)
        return rpc_violation(call, "updateMask", "must name the fields to change");
    store_room_patch p = {0};
    for (size_t i = 0; i < req->update_mask->n_paths; i++) {
        const char *path = req->update_mask->paths[i];
        if (mask_is(path, "name", "name"))
            p.set_name = true;
        else if (mask_is(path, "description", "description"))
            p.set_description = true;
        else if (mask_is(path, "is_public", "isPublic"))
            p.set_public = true;
        else if (mask_is(path, "app_settings", "appSettings"))
            p.set_settings = true;
        else if (mask_is(path, "starts_at", "startsAt"))
            p.set_starts = true;
        else if (mask_is(path, "ends_at", "endsAt"))
            p.set_ends = true;
        else if (mask_is(path, "draw_policy", "drawPolicy"))
            p.set_policy = true;
        else
            return rpc_violation(call, "updateMask", "%.64s cannot be changed", path);
    }
    char *name = NULL;
    const char *why;
    if (p.set_name && !cf_name_check(rpc_arena(call), in->name, ROOMS_NAME_MAX, &name, &why))
        return rpc_violation(call, "room.name", "%s", why);
    if (p.set_description && (code = check_text(call, "room.description", in->description,
                                                ROOMS_DESCRIPTION_MAX, false)) != CF_OK)
        return code;
    if (p.set_policy && (code = check_draw_policy(call, in->draw_policy)) != CF_OK)
        return code;
    if ((p.set_starts &&
         (code = rooms_ts_us(call, "room.startsAt", in->starts_at, &p.starts_at_us)) != CF_OK) ||
        (p.set_ends &&
         (code = rooms_ts_us(call, "room.endsAt", in->ends_at, &p.ends_at_us)) != CF_OK))
        return code;
    int64_t starts = p.set_starts ? p.starts_at_us : room.starts_at_us;
    int64_t ends = p.set_ends ? p.ends_at_us : room.ends_at_us;
    if (starts != STORE_NO_TIME && ends != STORE_NO_TIME && ends <= starts)
        return rpc_violation(call, "room.endsAt", "must be after startsAt");
    p.name = name;
    p.description = in->description;
    p.is_public = in->is_public;
    p.draw_policy = draw_policy_or_default(in->draw_policy);
    if (p.set_settings) {
        if (!room.app_id)
            return rpc_violation(call, "room.appSettings", "the room has no app");
        char *text;
        if ((code = rooms_struct_text(call, "room.appSettings", in->app_settings, &text)) != CF_OK)
            return code;
        /* always the version locked at creation, never the app's current one (SPEC §3) */
        if ((code = rooms_catalog_validate(call, room.app_id, room.app_version,
                                           in->app_settings)) != CF_OK)
            return code;
        p.app_settings = text ? text : "{}";
    }
    code = store_room_update(rpc_worker(call), rpc_arena(call), room.id, rooms_caller_id(call), &p,
                             &room);
    if (code == CF_NOT_FOUND)
        return rpc_error(call, CF_NOT_FOUND, "room not found");
    if (code != CF_OK)
        return rooms_store_error(call, code, "update room");
    return rooms_fill_room(call, &room, resp);
}

RPC_HANDLER(rpc_rooms_delete_room)
{
    (void)resp;
    store_room room;
    policy_subject who;
    cf_code code = rooms_gate(call, req->room_id, ROOMS__V1__ACTION__EDIT, &room, &who);
    if (code != CF_OK)
        return code;
    audit_ctx au = audit_ctx_of(call);
    code = store_room_delete(rpc_worker(call), room.id, &au);
    if (code == CF_NOT_FOUND)
        return rpc_error(call, CF_NOT_FOUND, "room not found");
    return rooms_store_error(call, code, "delete room");
}

/* One status operation: a conditional UPDATE from the status read, so a concurrent change is
 * noticed rather than overwritten. Repeating an operation that already happened (the room is in
 * its target status) answers OK with the room: nng and clients resend, and the second answer
 * must match the first. Anything else not in the table is FAILED_PRECONDITION naming the
 * current status and where it could go. */
static cf_code transition(rpc_call *call, const char *room_id, policy_op op, Rooms__V1__Room *resp)
{
    store_room room;
    policy_subject who;
    cf_code code = rooms_gate(call, room_id, ROOMS__V1__ACTION__EDIT, &room, &who);
    if (code != CF_OK)
        return code;
    Rooms__V1__RoomStatus to = policy_op_target(op);
    for (int attempt = 0; attempt < 3; attempt++) {
        if (room.status == to)
            return rooms_fill_room(call, &room, resp);
        if (!policy_op_allowed(op, room.status)) {
            char next[96];
            policy_next_statuses(room.status, next, sizeof next);
            return rpc_refuse(call, CF_FAILED_PRECONDITION, "status",
                              "cannot %s a %s room (from %s it may go to: %s)", policy_op_name(op),
                              policy_status_name(room.status), policy_status_name(room.status),
                              next);
        }
        audit_ctx au = audit_ctx_of(call);
        code = store_room_set_status(rpc_worker(call), room.id, room.status, to, &au);
        if (code != CF_OK && code != CF_ABORTED)
            return rooms_store_error(call, code, policy_op_name(op));
        /* done, or someone changed it first: read it again and answer from what is there */
        code = store_room_get(rpc_worker(call), rpc_arena(call), room.id, rooms_caller_id(call),
                              &room);
        if (code == CF_NOT_FOUND)
            return rpc_error(call, CF_NOT_FOUND, "room not found");
        if (code != CF_OK)
            return rooms_store_error(call, code, policy_op_name(op));
    }
    return rpc_error(call, CF_ABORTED, "the room's status keeps changing; retry");
}

RPC_HANDLER(rpc_rooms_activate_room)
{
    return transition(call, req->room_id, POLICY_OP_ACTIVATE, resp);
}

RPC_HANDLER(rpc_rooms_complete_room)
{
    return transition(call, req->room_id, POLICY_OP_COMPLETE, resp);
}

RPC_HANDLER(rpc_rooms_cancel_room)
{
    return transition(call, req->room_id, POLICY_OP_CANCEL, resp);
}
