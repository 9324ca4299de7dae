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

/* Is p[0..n) well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing above
 * U+10FFFF)? */
bool ws_utf8_valid(const uint8_t *p, size_t n);

/* The client → server protocol state (RFC 6455 §5): frames in, whole messages and control
 * frames out, or the close code the connection must end with. Lifetime: ws_decoder_init →
 * ws_decode … → ws_decoder_fini. One reader at a time. */
typedef struct ws_decoder {
    size_t max_message; /* largest message (sum of its fragments) */
    uint8_t *msg;       /* a fragmented message being assembled (owned) */
    size_t mlen;
    unsigned msg_opcode; /* WS_OP_TEXT/BINARY of the message being assembled */
    bool in_msg;
} ws_decoder;

typedef enum ws_dec_kind {
    WS_DEC_MORE = 0, /* the next frame is not complete yet: read more, call again */
    WS_DEC_MESSAGE,  /* a complete data message: opcode WS_OP_TEXT (valid UTF-8) or BINARY */
    WS_DEC_PING,
    WS_DEC_PONG,
    WS_DEC_CLOSE, /* close_code: the peer's (1005 when the frame carried none); data: reason */
    WS_DEC_ERROR, /* a violation: close the connection with close_code (1002 protocol, 1007
                   * invalid UTF-8, 4009 over max_message); why says what */
} ws_dec_kind;

typedef struct ws_dec_result {
    unsigned opcode;
    const uint8_t *data; /* payload, unmasked; borrowed until the next ws_decode call */
    size_t len;
    uint16_t close_code;
    const char *why; /* static text */
} ws_dec_result;

void ws_decoder_init(ws_decoder *d, size_t max_message);
void ws_decoder_fini(ws_decoder *d);

/* Decodes frames from buf[0..n) (payloads are unmasked in place) until it has a result, and
 * sets *used to the bytes consumed — also with WS_DEC_MORE, when non-final fragments were taken
 * into the message (the caller drops *used bytes in every case). Checks: masked, no RSV bits, known
 * opcode, control frames unfragmented and <= 125 bytes, continuation only inside a message, a new
 * data frame only outside one, a message's size against max_message (from the header, before its
 * payload is buffered: the caller's buffer needs max_message + 14 bytes), a text message's UTF-8, a
 * close frame's code and reason. Control frames may come between the fragments of a message.
 * After WS_DEC_ERROR the decoder's state is undefined: stop reading. Never blocks. */
ws_dec_kind ws_decode(ws_decoder *d, uint8_t *buf, size_t n, size_t *used, ws_dec_result *r);

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
