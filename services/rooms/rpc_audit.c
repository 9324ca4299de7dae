/* rpc_audit.c — ListAudit: the room-side rows of the audit log (status changes, deletions, role
 * changes, members added by others; docs/audit.md). Platform admins read everything; a room's
 * organizers (EDIT in the role table) read their room's rows from when their role began. */
#include "rooms.h"
#include "confetti_proto_handlers.h"

#include <stdint.h>

RPC_HANDLER(rpc_rooms_list_audit)
{
    bool all;
    cf_code code = audit_admit(call, req, &all);
    if (code != CF_OK)
        return code;
    int64_t floor_us = INT64_MIN;
    if (!all) {
        store_room room;
        policy_subject who;
        /* NOT_FOUND for a private room the caller is not in, PERMISSION_DENIED below EDIT */
        if ((code = rooms_gate(call, req->room_id, ROOMS__V1__ACTION__EDIT, &room, &who)) != CF_OK)
            return code;
        code = store_role_since(rpc_worker(call), room.id, rooms_caller_id(call), &floor_us);
        if (code == CF_NOT_FOUND) /* left meanwhile */
            return rpc_error(call, CF_PERMISSION_DENIED,
                             "only the room's organizers read its audit log");
        if (code != CF_OK)
            return rooms_store_error(call, code, "list audit");
    }
    return audit_list(call, rpc_worker(call), "rooms", req, floor_us, resp);
}
