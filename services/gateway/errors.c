/* errors.c — the error shape of SPEC §6 and the RPC code → HTTP status mapping (grpc-gateway's,
 * from common/base/status.h, with the 409 override for conflicting state changes). */
#include "gateway.h"
#include "base/xmalloc.h"

#include "rpc/rpc.h"

#include <stdlib.h>
#include <string.h>

int gw_http_status(cf_code code, unsigned route_flags)
{
    if (code == CF_FAILED_PRECONDITION && (route_flags & GW_CONFLICT))
        return 409;
    return cf_code_http(code);
}

int gw_reply_http_status(cf_code code, unsigned route_flags, const gw_violation *v, size_t nv)
{
    if (code == CF_INVALID_ARGUMENT)
        for (size_t i = 0; i < nv; i++)
            if (strcmp(v[i].field, "idempotency-key") == 0)
                return 422;
    return gw_http_status(code, route_flags);
}

char *gw_idempotency_key(const char *h)
{
    while (*h == ' ' || *h == '\t')
        h++;
    size_t n = strlen(h);
    while (n && (h[n - 1] == ' ' || h[n - 1] == '\t'))
        n--;
    char *key = xmalloc(n + 1);
    size_t k = 0;
    if (n && h[0] == '"') { /* sf-string: "..." with \" and \\ the only escapes */
        size_t i = 1;
        for (; i < n && h[i] != '"'; i++) {
            if (h[i] == '\\') {
                if (++i == n || (h[i] != '"' && h[i] != '\\'))
                    break;
            }
            key[k++] = h[i];
        }
        if (i != n - 1 || h[i] != '"') { /* unterminated, a bad escape, or something after */
            free(key);
            return NULL;
        }
    } else {
        memcpy(key, h, n);
        k = n;
    }
    key[k] = '\0';
    if (!rpc_idempotency_key_ok(key)) {
        free(key);
        return NULL;
    }
    return key;
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
