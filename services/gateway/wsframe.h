/* wsframe.h — the WebSocket wire format (RFC 6455) the gateway's feed speaks: the opening
 * handshake's checks and accept key, the subprotocol list, frame parsing (client → server,
 * masked) and frame building (server → client, unmasked), and gw_frame, a finished server frame
 * shared by reference between every connection it is sent to (one event is encoded once and
 * fanned out to all of a room's subscribers). Pure, no I/O.
 *
 * Why our own framing and not nng's ws listener: nng 1.5.2's listener accepts a subprotocol
 * only when the client's whole Sec-WebSocket-Protocol header equals one of its words (so
 * "confetti.v1, bearer.<token>" is refused with 400) and it closes with 1000 always (no 4xxx
 * close codes). docs/gateway.md, "WebSocket feed". */
#ifndef CONFETTI_GATEWAY_WSFRAME_H
#define CONFETTI_GATEWAY_WSFRAME_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    WS_OP_CONT = 0x0,
    WS_OP_TEXT = 0x1,
    WS_OP_BINARY = 0x2,
    WS_OP_CLOSE = 0x8,
    WS_OP_PING = 0x9,
    WS_OP_PONG = 0xA,
};

/* Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key + GUID)) into out (29 bytes
 * with the NUL). false if the key is not 24 base64 characters (16 bytes). */
bool ws_accept_key(const char *key, char out[29]);

/* Scans a Sec-WebSocket-Protocol header (comma-separated tokens). *has_proto tells whether
 * `want` was offered; a token "bearer.<t>" puts <t> (borrowed span into header) in *bearer /
 * *bearer_len (NULL/0 when absent). */
void ws_subprotocols(const char *header, const char *want, bool *has_proto, const char **bearer,
                     size_t *bearer_len);

/* One parsed frame header. */
typedef struct ws_frame_hdr {
    bool fin;
    unsigned opcode;
    bool masked;
    uint8_t mask[4];
    uint64_t len;   /* payload length */
    size_t hdr_len; /* bytes of header (2..14) */
    unsigned rsv;   /* RSV1-3 bits (must be 0: no extension was negotiated) */
} ws_frame_hdr;

/* Parses a frame header at buf[0..n). Returns 1 with *h filled, 0 when more bytes are needed,
 * -1 when malformed (a 64-bit length with the top bit set). */
int ws_frame_parse(const uint8_t *buf, size_t n, ws_frame_hdr *h);

/* XORs payload in place with the mask, starting at payload offset `off`. */
void ws_unmask(uint8_t *p, size_t n, const uint8_t mask[4], size_t off);

/* A complete server frame (header + payload), immutable once built, shared by reference. */
typedef struct gw_frame {
    atomic_int refs;
    unsigned opcode;
    size_t len;     /* bytes in data */
    uint8_t data[]; /* header then payload */
} gw_frame;

/* A new frame (refs = 1) with opcode and payload (copied). Allocation failure aborts. */
gw_frame *gw_frame_new(unsigned opcode, const void *payload, size_t len);
/* A close frame: code (network order) and reason (truncated to fit 125 bytes). */
gw_frame *gw_frame_close(uint16_t code, const char *reason);
gw_frame *gw_frame_ref(gw_frame *f);
/* Drops one reference; frees at zero. NULL is a no-op. */
void gw_frame_unref(gw_frame *f);

#endif
