/* rpc_audit.c — ListAudit: the draw-side rows of the audit log (draws, winner revocations;
 * docs/audit.md). Platform admins read everything; a room's organizers (EDIT, asked of rooms)
 * read their room's rows from when their role began, as rooms says. */
#include "draw.h"
#include "page/page.h"
#include "confetti_proto_handlers.h"

#include <stdint.h>

RPC_HANDLER(rpc_draw_list_audit)
{
    bool all;
    cf_code code = audit_admit(call, req, &all);
    if (code != CF_OK)
        return code;
    int64_t floor_us = INT64_MIN;
    if (!all) {
        draw_room room;
        if ((code = draw_room_check(call, req->room_id, ROOMS__V1__ACTION__EDIT, &room)) != CF_OK)
            return code;
        /* a rooms that does not say since when: nothing (errs towards showing less) */
        floor_us = room.role_since_us != INT64_MIN ? room.role_since_us : PAGE_KEYSET_MAX_US;
    }
    return audit_list(call, rpc_worker(call), "draw", req, floor_us, resp);
}
