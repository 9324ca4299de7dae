/* rpc_permission.c — the questions other services ask rooms: CheckPermission (the role table
 * for one user, action and room) and ListEligibleParticipants (who a draw may pick). */
#include "rooms.h"
#include "store_eligible.h"
#include "page/page.h"
#include "confetti_proto_handlers.h"

#include <string.h>

RPC_HANDLER(rpc_rooms_check_permission)
{
    cf_code code;
    if (req->action <= 0 ||
        !protobuf_c_enum_descriptor_get_value(&rooms__v1__action__descriptor, req->action))
        return rpc_violation(call, "action", "unknown value %d", (int)req->action);
    /* Anonymous callers may only ask VIEW (public rooms, their prizes and winners are open to
     * everyone: docs/rooms.md); everything else needs a verified caller. */
    const authn_identity anonymous = {.sub = ""};
    const authn_identity *me = rpc_caller(call);
    if (!me) {
        if (req->action != ROOMS__V1__ACTION__VIEW || *req->user_id)
            return rpc_require_caller(call);
        me = &anonymous;
    }
    const char *user = me->sub;
    bool self = !*req->user_id || strcmp(req->user_id, me->sub) == 0;
    if (!self) {
        if ((code = rooms_check_id(call, "userId", req->user_id, ROOMS_USER_ID_MAX)) != CF_OK)
            return code;
        if (!me->is_admin)
            return rpc_error(call, CF_PERMISSION_DENIED,
                             "only platform admins ask about other users");
        user = req->user_id;
    }
    if ((code = rooms_check_id(call, "roomId", req->room_id, ROOMS_ID_MAX)) != CF_OK)
        return code;
    /* With the stamp: one statement reads the room, the role and the stamp (one snapshot, one
     * round trip; the draw asks on every call). The stamp is answered to allowed callers only. */
    store_room room;
    char *stamp = NULL;
    code = req->with_eligible_version
               ? store_room_get_stamped(rpc_worker(call), rpc_arena(call), req->room_id, user,
                                        &room, &stamp)
               : store_room_get(rpc_worker(call), rpc_arena(call), req->room_id, user, &room);
    if (code == CF_NOT_FOUND)
        return rpc_error(call, CF_NOT_FOUND, "room not found");
    if (code != CF_OK)
        return rooms_store_error(call, code, "check permission");
    /* Another user's platform roles are not known here (they are in their token): asked about
     * someone else, an admin gets the answer for that user as a room member or non-member. */
    policy_subject who = {.role = room.role, .platform_admin = self && me->is_admin};
    policy_verdict v = policy_check(req->action, who, room.is_public, room.status);
    /* archived (docs/rooms.md, "Archive"): hidden from non-members, read-only for members */
    if (room.archived_at_us != STORE_NO_TIME && v == POLICY_ALLOW &&
        (req->action != ROOMS__V1__ACTION__VIEW || (!who.role && !who.platform_admin)))
        v = who.role || who.platform_admin ? POLICY_DENY : POLICY_HIDDEN;
    if (v == POLICY_HIDDEN && self)
        return rpc_error(call, CF_NOT_FOUND, "room not found");
    resp->allowed = v == POLICY_ALLOW;
    resp->role = room.role;
    resp->room = rooms_room_msg(call, &room);
    /* the draw's "is my cached list still the list?" (docs/draw.md): only to allowed callers */
    if (stamp && resp->allowed)
        resp->eligible_version = stamp;
    /* the audit log's reader floor (draw's ListAudit asks EDIT for its organizers) */
    if (req->action == ROOMS__V1__ACTION__EDIT && resp->allowed && self &&
        room.role != ROOMS__V1__ROLE__ROLE_UNSPECIFIED) {
        int64_t us;
        code = store_role_since(rpc_worker(call), req->room_id, user, &us);
        if (code != CF_OK && code != CF_NOT_FOUND)
            return rooms_store_error(call, code, "check permission");
        if (code == CF_OK)
            resp->role_since = rooms_ts_msg(call, us);
    }
    return CF_OK;
}

/* The compact form's limits: rows per page, and packed bytes per page (well under the 4 MiB
 * message limit whatever the ids' lengths; ids are ≤ 64 and users ≤ 127 bytes). */
enum { COMPACT_MAX = 50000, COMPACT_BYTES = 2 << 20 };

/* ListEligibleParticipants, compact: ids in two repeated strings, the stamp of the list read
 * in the same statement. ~10x cheaper per row than submessages on both ends. */
static cf_code list_eligible_compact(rpc_call *call,
                                     const Rooms__V1__ListEligibleParticipantsRequest *req,
                                     const store_room *room,
                                     Rooms__V1__ListEligibleParticipantsResponse *resp)
{
    int size = req->page_size == 0 || req->page_size > COMPACT_MAX ? COMPACT_MAX : req->page_size;
    arena *a = rpc_arena(call);
    char *filters = arena_printf(a, "eligible|%s", room->id);
    char *after = NULL;
    cf_code code = page_token_decode(a, req->page_token, filters, &after, 1);
    if (code != CF_OK && code != CF_NOT_FOUND)
        return rpc_violation(call, "pageToken", "is not valid for this list");
    char **ids, **uids;
    size_t n;
    code = store_eligible_page(rpc_worker(call), a, room->id, after, size + 1, &ids, &uids, &n,
                               &resp->eligible_version);
    if (code != CF_OK)
        return rooms_store_error(call, code, "list eligible participants");
    bool more = n > (size_t)size;
    size_t bytes = 0, keep = 0;
    for (; keep < n && keep < (size_t)size; keep++) {
        bytes += strlen(ids[keep]) + strlen(uids[keep]) + 6;
        if (bytes > COMPACT_BYTES && keep > 0)
            break;
    }
    more = more || keep < n;
    resp->participant_ids = ids;
    resp->user_ids = uids;
    resp->n_participant_ids = resp->n_user_ids = keep;
    if (more && keep > 0) {
        const char *next[] = {ids[keep - 1]};
        resp->next_page_token = page_token_encode(a, filters, next, 1);
    }
    return CF_OK;
}

RPC_HANDLER(rpc_rooms_list_eligible_participants)
{
    store_room room;
    policy_subject who;
    cf_code code = rooms_gate(call, req->room_id, ROOMS__V1__ACTION__MANAGE_PRIZES, &room, &who);
    if (code != CF_OK)
        return code;
    if (req->page_size < 0)
        return rpc_violation(call, "pageSize", "must not be negative");
    if (req->compact)
        return list_eligible_compact(call, req, &room, resp);
    int size = req->page_size == 0                   ? ROOMS_ELIGIBLE_DEFAULT
               : req->page_size > ROOMS_ELIGIBLE_MAX ? ROOMS_ELIGIBLE_MAX
                                                     : req->page_size;
    arena *a = rpc_arena(call);
    char *filters = arena_printf(a, "eligible|%s", room.id);
    char *after = NULL;
    code = page_token_decode(a, req->page_token, filters, &after, 1);
    if (code != CF_OK && code != CF_NOT_FOUND)
        return rpc_violation(call, "pageToken", "is not valid for this list");
    store_participant *rows;
    size_t n;
    /* only PARTICIPANTs are eligible to win (SPEC §3) */
    code = store_participants_list(rpc_worker(call), a, room.id, ROOMS__V1__ROLE__PARTICIPANT,
                                   after, size + 1, &rows, &n);
    if (code != CF_OK)
        return rooms_store_error(call, code, "list eligible participants");
    bool more = n > (size_t)size;
    if (more)
        n = (size_t)size;
    resp->participants = rpc_alloc(call, (n ? n : 1) * sizeof *resp->participants);
    resp->n_participants = n;
    for (size_t i = 0; i < n; i++) {
        if (!req->ids_only) {
            resp->participants[i] = rooms_participant_msg(call, &rows[i]);
            continue;
        }
        /* the draw's page of 10,000: no metadata JSON to parse, no timestamps (~10× less) */
        Rooms__V1__Participant *m = rpc_alloc(call, sizeof *m);
        rooms__v1__participant__init(m);
        m->participant_id = rows[i].id; /* rows live in the call's arena too */
        m->user_id = rows[i].user_id;
        m->role = rows[i].role;
        resp->participants[i] = m;
    }
    if (more) {
        const char *next[] = {rows[n - 1].id};
        resp->next_page_token = page_token_encode(a, filters, next, 1);
    }
    return CF_OK;
}

RPC_HANDLER(rpc_rooms_app_in_use)
{
    cf_code code = rpc_require_caller(call);
    if (code != CF_OK)
        return code;
    if ((code = rooms_check_id(call, "appId", req->app_id, ROOMS_ID_MAX)) != CF_OK)
        return code;
    bool in_use = false;
    if ((code = store_app_in_use(rpc_worker(call), req->app_id, &in_use)) != CF_OK)
        return rooms_store_error(call, code, "app in use");
    resp->in_use = in_use;
    return CF_OK;
}
