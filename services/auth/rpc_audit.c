/* rpc_audit.c — ListAudit: auth's rows of the audit log (logins, session revocations, deleted
 * users; docs/audit.md). They concern no room, so only platform admins read them; a room's
 * organizer asking for their room gets an empty page here (rooms and draw check that they may
 * ask at all). */
#include "auth.h"
#include "audit/audit.h"
#include "confetti_proto_handlers.h"

#include <stdint.h>

RPC_HANDLER(rpc_auth_list_audit)
{
    bool all;
    cf_code code = audit_admit(call, req, &all);
    if (code != CF_OK)
        return code;
    if (!all)
        return CF_OK; /* no auth row names a room */
    return audit_list(call, rpc_worker(call), "auth", req, INT64_MIN, resp);
}
