/* errors.c — the error shape of SPEC §6 and the RPC code → HTTP status mapping (grpc-gateway's,
 * from common/base/status.h, with the 409 override for conflicting state changes). */
#include "gateway.h"
#include "base/xmalloc.h"

#include <stdlib.h>
#include <string.h>

int gw_http_status(cf_code code, unsigned route_flags)
{
    if (code == CF_FAILED_PRECONDITION && (route_flags & GW_CONFLICT))
        return 409;
    return cf_code_http(code);
}

char *gw_error_json(int http_status, cf_code code, const char *message, const gw_violation *details,
                    size_t ndetails)
{
    json_t *det = json_array();
    for (size_t i = 0; i < ndetails; i++)
        json_array_append_new(det, json_pack("{s:s,s:s}", "field", details[i].field, "description",
                                             details[i].description));
    /* json_string refuses invalid UTF-8: a message that is not text becomes the status name */
    json_t *msg = json_string(message ? message : "");
    if (!msg)
        msg = json_string(cf_code_name(code));
    json_t *err = json_pack("{s:{s:i,s:s,s:o,s:o}}", "error", "code", http_status, "status",
                            cf_code_name(code), "message", msg, "details", det);
    char *s = json_dumps(err, JSON_COMPACT);
    json_decref(err);
    if (!s)
        abort(); /* allocation failure */
    return s;
}
