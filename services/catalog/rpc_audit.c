/* rpc_audit.c — ListAudit: the catalog's rows of the audit log (apps registered, activated,
 * deactivated, deleted, secrets regenerated, manifests published; docs/audit.md). They concern
 * no room, so only platform admins read them; a room's organizer asking for their room gets an
 * empty page here (rooms and draw check that they may ask at all). */
#include "catalog.h"
#include "audit/audit.h"
#include "confetti_proto_handlers.h"

#include <stdint.h>

RPC_HANDLER(rpc_catalog_list_audit)
{
    bool all;
    cf_code code = audit_admit(call, req, &all);
    if (code != CF_OK)
        return code;
    if (!all)
        return CF_OK; /* no catalog row names a room */
    return audit_list(call, rpc_worker(call), "catalog", req, INT64_MIN, resp);
}
