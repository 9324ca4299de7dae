/* wire.c — what publishers, the bus and subscribers agree on: event type names and the framing
 * of bus messages. */
#include "events.h"
#include "internal.h"
#include "rpc/ident.h"

#include <string.h>

const char *events_type_name(const Events__V1__Event *ev)
{
    /* "room_status_changed" → "room.status_changed": SPEC §5's names are the oneof field names
     * with the first '_' as '.', so the proto is the only list. */
    enum { MAXN = 64 };
    static _Thread_local char name[MAXN];
    if (!ev || ev->body_case == EVENTS__V1__EVENT__BODY__NOT_SET)
        return "";
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field(&events__v1__event__descriptor, ev->body_case);
    if (!f || strlen(f->name) >= MAXN)
        return "";
    strcpy(name, f->name);
    char *u = strchr(name, '_');
    if (u)
        *u = '.';
    return name;
}

size_t events_topic(const char *source, char *out, size_t outlen)
{
    size_t n = strlen(source) + 1;
    if (n > outlen)
        return 0;
    memcpy(out, source, n);
    return n;
}

cf_code events_frame_split(const void *msg, size_t len, const char **source, const uint8_t **body,
                           size_t *body_len, const uint8_t **sig)
{
    const char *p = msg;
    const char *nul = len ? memchr(p, 0, len < 64 ? len : 64) : NULL;
    if (!nul || nul == p || len - (size_t)(nul - p) - 1 < RPC_IDENT_SIG_LEN)
        return CF_INVALID_ARGUMENT;
    *source = p;
    *body = (const uint8_t *)nul + 1;
    *body_len = len - (size_t)(nul - p) - 1 - RPC_IDENT_SIG_LEN;
    *sig = (const uint8_t *)p + len - RPC_IDENT_SIG_LEN;
    return CF_OK;
}

cf_code events_frame_verify(const rpc_ident *ident, const void *msg, size_t len,
                            const char **source, const uint8_t **body, size_t *body_len)
{
    const uint8_t *sig;
    cf_code code = events_frame_split(msg, len, source, body, body_len, &sig);
    if (code != CF_OK)
        return code;
    if (!rpc_ident_verify(ident, *source, msg, len - RPC_IDENT_SIG_LEN, sig))
        return CF_UNAUTHENTICATED;
    return CF_OK;
}

static int hexval(char ch)
{
    return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

size_t events__unhex(const char *s, uint8_t *buf)
{
    if (s[0] != '\\' || s[1] != 'x')
        return 0;
    size_t n = 0;
    for (s += 2; s[0] && s[1]; s += 2) {
        int hi = hexval(s[0]), lo = hexval(s[1]);
        if (hi < 0 || lo < 0)
            return 0;
        buf[n++] = (uint8_t)(hi << 4 | lo);
    }
    return n;
}
