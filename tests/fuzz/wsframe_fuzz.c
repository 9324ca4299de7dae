/* wsframe_fuzz.c — libFuzzer target for the gateway's WebSocket wire format
 * (services/gateway/wsframe.c): client → server frames through the decoder exactly as the
 * connection's reader drives it (ws.c process(): a buffer of max_message + 270 bytes filled by
 * reads of any size, decode until MORE, drop what was used, read again), and the handshake
 * helpers (Sec-WebSocket-Protocol scan, Sec-WebSocket-Accept).
 *
 * Input: byte 0 picks the part (0-1 frames, 2 subprotocol header, 3 accept key); for frames,
 * byte 1 is the size of each read (1..256), the rest is the byte stream of the connection.
 * Checked: no crash, leak or UB; every result stays inside the buffer it points into; a text
 * message is valid UTF-8 and no message is over max_message; a bearer span lies inside the
 * header. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wsframe.h"

/* Small, so "message too big" and fragment accounting are reached with short inputs. */
#define MAX_MESSAGE 1024

static void check(bool ok)
{
    if (!ok)
        abort();
}

static bool inside(const uint8_t *p, size_t n, const uint8_t *base, size_t cap)
{
    return p >= base && p + n <= base + cap;
}

static void frames(const uint8_t *data, size_t size)
{
    size_t step = (size_t)data[0] + 1;
    data++, size--;
    ws_decoder d;
    ws_decoder_init(&d, MAX_MESSAGE);
    size_t cap = MAX_MESSAGE + 14 + 256, len = 0, fed = 0;
    uint8_t *buf = malloc(cap);
    bool done = false;
    while (!done && (fed < size || len > 0)) {
        size_t room = cap - len, n = size - fed;
        if (n > step)
            n = step;
        if (n > room)
            n = room;
        if (n == 0 && fed < size)
            abort(); /* a full buffer the decoder still wants more for: the reader would stall */
        memcpy(buf + len, data + fed, n);
        len += n, fed += n;
        size_t off = 0;
        for (;;) {
            size_t used;
            ws_dec_result r;
            ws_dec_kind k = ws_decode(&d, buf + off, len - off, &used, &r);
            check(used <= len - off);
            off += used;
            if (k == WS_DEC_MORE)
                break;
            if (k == WS_DEC_ERROR) {
                check(r.why != NULL && r.close_code >= 1000);
                done = true;
                break;
            }
            check(r.len == 0 || inside(r.data, r.len, buf, cap) || r.data == d.msg);
            if (k == WS_DEC_MESSAGE) {
                check(r.len <= MAX_MESSAGE);
                check(r.opcode == WS_OP_TEXT || r.opcode == WS_OP_BINARY);
                check(r.opcode != WS_OP_TEXT || ws_utf8_valid(r.data, r.len));
            } else if (k == WS_DEC_PING || k == WS_DEC_PONG) {
                check(r.len <= 125);
            } else if (k == WS_DEC_CLOSE) {
                done = true; /* the connection answers the close and stops reading */
                break;
            }
        }
        memmove(buf, buf + off, len - off);
        len -= off;
        if (fed == size)
            break; /* the peer sent nothing more */
    }
    free(buf);
    ws_decoder_fini(&d);
}

static void subprotocols(const uint8_t *data, size_t size)
{
    char *header = malloc(size + 1);
    memcpy(header, data, size);
    header[size] = '\0';
    bool has = false;
    const char *bearer = NULL;
    size_t blen = 0;
    ws_subprotocols(header, "confetti.v1", &has, &bearer, &blen);
    size_t hl = strlen(header);
    check(bearer == NULL ? blen == 0 : bearer >= header && bearer + blen <= header + hl);
    free(header);
}

static void accept_key(const uint8_t *data, size_t size)
{
    char *key = malloc(size + 1);
    memcpy(key, data, size);
    key[size] = '\0';
    char out[29];
    if (ws_accept_key(key, out))
        check(strlen(out) == 28 && strlen(key) == 24);
    free(key);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    switch (data[0] & 3) {
    case 0:
    case 1:
        frames(data + 1, size - 1);
        break;
    case 2:
        subprotocols(data + 1, size - 1);
        break;
    default:
        accept_key(data + 1, size - 1);
        break;
    }
    return 0;
}
