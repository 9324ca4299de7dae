/* rpc_common.c — what every rooms handler shares: input checks, the visibility and permission
 * gate, and store rows turned into rooms.v1 messages. */
#include "rooms.h"
#include "pbjson/pbjson.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

cf_code rooms_check_id(rpc_call *call, const char *field, const char *id, size_t max)
{
    if (!id || !*id)
        return rpc_violation(call, field, "must not be empty");
    size_t n = strlen(id);
    if (n > max)
        return rpc_violation(call, field, "is %zu bytes; the limit is %zu", n, max);
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        if (*p <= ' ' || *p >= 0x7f)
            return rpc_violation(call, field, "must be printable ASCII without spaces");
    return CF_OK;
}

const char *rooms_caller_id(rpc_call *call)
{
    const authn_identity *me = rpc_caller(call);
    return me ? me->sub : "";
}

cf_code rooms_store_error(rpc_call *call, cf_code code, const char *what)
{
    switch (code) {
    case CF_OK:
        return CF_OK;
    case CF_UNAVAILABLE:
        return rpc_error(call, code, "database unavailable");
    case CF_DEADLINE_EXCEEDED:
        return rpc_error(call, code, "deadline exceeded");
    case CF_ABORTED:
        return rpc_error(call, code, "%s: changed concurrently, retry", what);
    case CF_INVALID_ARGUMENT:
        return rpc_refuse(call, code, what, "%s: a value is out of range", what);
    default:
        return rpc_error(call, CF_INTERNAL, "%s: store %s", what, cf_code_name(code));
    }
}

cf_code rooms_gate(rpc_call *call, const char *room_id, Rooms__V1__Action action, store_room *room,
                   policy_subject *who)
{
    /* Seeing a public room needs no account; every other action needs a verified caller. */
    cf_code code = CF_OK;
    if (action != ROOMS__V1__ACTION__VIEW && action != 0)
        code = rpc_require_caller(call);
    if (code != CF_OK)
        return code;
    if ((code = rooms_check_id(call, "roomId", room_id, ROOMS_ID_MAX)) != CF_OK)
        return code;
    code = store_room_get(rpc_worker(call), rpc_arena(call), room_id, rooms_caller_id(call), room);
    if (code == CF_NOT_FOUND)
        return rpc_error(call, CF_NOT_FOUND, "room not found");
    if (code != CF_OK)
        return rooms_store_error(call, code, "room");
    who->role = room->role;
    who->platform_admin = rpc_caller(call) && rpc_caller(call)->is_admin;
    Rooms__V1__Action ask = action ? action : ROOMS__V1__ACTION__VIEW;
    /* An archived room (docs/rooms.md, "Archive"): soft-deleted for everyone but its members
     * and platform admins, and read-only for them. */
    if (room->archived_at_us != STORE_NO_TIME) {
        if (!who->role && !who->platform_admin)
            return rpc_error(call, CF_NOT_FOUND, "room not found");
        if (ask != ROOMS__V1__ACTION__VIEW)
            return rooms_writable(call, room);
    }
    switch (policy_check(ask, *who, room->is_public, room->status)) {
    case POLICY_ALLOW:
        return CF_OK;
    case POLICY_HIDDEN:
        return rpc_error(call, CF_NOT_FOUND, "room not found");
    case POLICY_CLOSED:
        return rpc_refuse(call, CF_FAILED_PRECONDITION, "room.status",
                          "the room is %s; only DRAFT and ACTIVE rooms can be joined",
                          policy_status_name(room->status));
    case POLICY_DENY:
    default:
        break;
    }
    if (ask == ROOMS__V1__ACTION__JOIN)
        return rpc_refuse(call, CF_FAILED_PRECONDITION, "userId",
                          "already a member of this room (as %s)",
                          policy_role_name(who->role) ? policy_role_name(who->role) : "?");
    return rpc_error(
        call, CF_PERMISSION_DENIED, "%s in this room is not allowed to your role (%s)",
        protobuf_c_enum_descriptor_get_value(&rooms__v1__action__descriptor, ask)->name,
        who->role ? policy_role_name(who->role) : "not a member");
}

cf_code rooms_writable(rpc_call *call, const store_room *room)
{
    if (room->archived_at_us == STORE_NO_TIME)
        return CF_OK;
    return rpc_refuse(call, CF_FAILED_PRECONDITION, "room.archivedAt",
                      "the room is archived: it can be read, not changed");
}

Google__Protobuf__Timestamp *rooms_ts_msg(rpc_call *call, int64_t us)
{
    if (us == STORE_NO_TIME)
        return NULL;
    Google__Protobuf__Timestamp *t = rpc_alloc(call, sizeof *t);
    google__protobuf__timestamp__init(t);
    int64_t s = us / 1000000, rem = us % 1000000;
    if (rem < 0) {
        s--;
        rem += 1000000;
    }
    t->seconds = s;
    t->nanos = (int32_t)(rem * 1000);
    return t;
}

cf_code rooms_ts_us(rpc_call *call, const char *field, const Google__Protobuf__Timestamp *ts,
                    int64_t *out)
{
    if (!ts) {
        *out = STORE_NO_TIME;
        return CF_OK;
    }
    /* PostgreSQL's timestamptz range is wider; keep to what RFC 3339 / proto3 JSON can say */
    char buf[PBJSON_TIMESTAMP_MAX];
    if (!pbjson_timestamp_format(ts->seconds, ts->nanos, buf))
        return rpc_violation(call, field, "must be between 0001-01-01 and 9999-12-31");
    *out = ts->seconds * 1000000 + ts->nanos / 1000;
    return CF_OK;
}

static Google__Protobuf__Struct *struct_from_text(rpc_call *call, const char *text)
{
    if (!text)
        return NULL;
    json_t *j = json_loads(text, JSON_DECODE_ANY, NULL);
    Google__Protobuf__Struct *s = NULL;
    if (j && json_is_object(j))
        pbjson_struct_from_json(j, arena_allocator(rpc_arena(call)), &s, NULL);
    json_decref(j);
    return s;
}

cf_code rooms_struct_text(rpc_call *call, const char *field, const Google__Protobuf__Struct *s,
                          char **out)
{
    *out = NULL;
    if (!s)
        return CF_OK;
    const rooms_ctx *ctx = rpc_service_ctx(call);
    size_t size = protobuf_c_message_get_packed_size(&s->base);
    if ((int64_t)size > ctx->max_document)
        return rpc_violation(call, field, "is %zu bytes; the limit is %lld", size,
                             (long long)ctx->max_document);
    json_t *j = pbjson_struct_to_json(s);
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!text) /* NaN/Infinity have no JSON form: pbjson already nulls them; be safe */
        return rpc_violation(call, field, "cannot be written as JSON");
    *out = rpc_strdup(call, text);
    free(text);
    return CF_OK;
}

cf_code rooms_fill_room(rpc_call *call, const store_room *row, Rooms__V1__Room *out)
{
    out->room_id = rpc_strdup(call, row->id);
    out->name = rpc_strdup(call, row->name);
    out->description = rpc_strdup(call, row->description);
    out->status = row->status;
    out->is_public = row->is_public;
    out->app_id = rpc_strdup(call, row->app_id ? row->app_id : "");
    out->app_manifest_version = rpc_strdup(call, row->app_version ? row->app_version : "");
    out->app_settings = struct_from_text(call, row->app_settings);
    out->created_by = rpc_strdup(call, row->created_by);
    out->starts_at = rooms_ts_msg(call, row->starts_at_us);
    out->ends_at = rooms_ts_msg(call, row->ends_at_us);
    out->created_at = rooms_ts_msg(call, row->created_at_us);
    out->updated_at = rooms_ts_msg(call, row->updated_at_us);
    out->draw_policy = row->draw_policy;
    out->my_role = row->role;
    out->archived_at = rooms_ts_msg(call, row->archived_at_us);
    const authn_identity *me = rpc_caller(call);
    if (!(me && me->is_admin)) /* admins may see every room, always (SPEC §3) */
        out->visible_since = rooms_ts_msg(call, row->visible_since_us);
    return CF_OK;
}

Rooms__V1__Room *rooms_room_msg(rpc_call *call, const store_room *row)
{
    Rooms__V1__Room *m = rpc_alloc(call, sizeof *m);
    rooms__v1__room__init(m);
    rooms_fill_room(call, row, m);
    return m;
}

Rooms__V1__Participant *rooms_participant_msg(rpc_call *call, const store_participant *row)
{
    Rooms__V1__Participant *m = rpc_alloc(call, sizeof *m);
    rooms__v1__participant__init(m);
    m->participant_id = rpc_strdup(call, row->id);
    m->room_id = rpc_strdup(call, row->room_id);
    m->user_id = rpc_strdup(call, row->user_id);
    m->role = row->role;
    m->metadata = struct_from_text(call, row->metadata);
    m->joined_at = rooms_ts_msg(call, row->joined_at_us);
    return m;
}
