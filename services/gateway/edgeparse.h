/* edgeparse.h — a streaming check of the bytes a client sends on one HTTP/1.1 connection, run
 * on every byte before libmicrohttpd parses it (docs/gateway.md, "The HTTP edge";
 * docs/decisions.md, "Raw bytes before libmicrohttpd"). It follows the message framing of RFC
 * 9112 (heads, Content-Length and chunked bodies, trailers) so that it checks the head of EVERY
 * request on a keep-alive connection, and refuses what MHD 0.9.75 would either normalize (a bare
 * LF, an obsolete line fold, a NUL in a header line) or refuse itself with its own HTML page or a
 * silent close (a malformed Content-Length, a missing Host, a head past its memory, a bad version
 * or request line, malformed chunked framing). It bounds what MHD allocates per head (fields,
 * query parameters, cookies), so MHD's memory pool is never the limit a client meets.
 *
 * Pure: no I/O, no allocation. The caller hands on to MHD only the bytes before ep_commit(): a
 * head, a chunk-size line, the CRLF after chunk data and a trailer section are held until they
 * are whole and checked; body bytes pass at once. After a refusal the caller hands on
 * ep_terminator() instead of the rest, which makes MHD see a well-formed end (a request the
 * gateway answers with the refusal, or the end of the chunked body). */
#ifndef CONFETTI_GATEWAY_EDGEPARSE_H
#define CONFETTI_GATEWAY_EDGEPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    EP_MAX_FIELDS = 100,       /* header + trailer fields per request (431 above) */
    EP_MAX_QUERY_PARAMS = 256, /* '&'-separated query parameters (414 above) */
    EP_MAX_COOKIES = 256,      /* cookie pairs over all Cookie fields (431 above) */
    EP_MAX_CHUNK_LINE = 4096,  /* a chunk-size line with its extensions (400 above) */
};

/* What is being held (not yet handed on) when the refusal comes: decides the terminator. */
typedef enum {
    EP_UNIT_NONE,       /* nothing held (between messages, or inside body data) */
    EP_UNIT_HEAD,       /* a request head */
    EP_UNIT_CHUNK_LINE, /* a chunk-size line */
    EP_UNIT_CHUNK_END,  /* the CRLF after a chunk's data */
    EP_UNIT_TRAILERS,   /* the trailer section after the last chunk */
} ep_unit;

typedef struct ep {
    size_t max_uri, max_header; /* http.max_uri (414), http.max_header (431) */
    int st;
    uint64_t pos;        /* bytes fed so far */
    uint64_t unit_start; /* bytes before this are committed (safe to hand on) */
    ep_unit unit;
    unsigned msg; /* index of the current message on the connection, from 0 */
    /* the refusal: status (0 = none), why (static text), where the held unit began */
    int status;
    const char *why;
    uint64_t cut;
    ep_unit cut_unit;
    unsigned refused_msg;
    /* the current head */
    size_t head_bytes, target_len, line_len;
    unsigned fields, params, cookies;
    bool in_query, v11, trailers, upgrade, te_chunked;
    char ver[8];
    size_t ver_len;
    char name[20];
    size_t name_len;
    int field; /* which field the value belongs to (edgeparse.c) */
    char val[24];
    size_t val_len;
    bool val_long;
    unsigned ncl, nte, nhost;
    uint64_t cl;
    /* the body */
    uint64_t remain, chunk;
    unsigned chunk_digits;
} ep;

void ep_init(ep *p, size_t max_uri, size_t max_header);
/* Checks n more bytes of the stream. false once the stream is refused (p->status: 400, 413,
 * 414, 431, 501 or 505; p->why; p->refused_msg: the index of the refused message); every later
 * call is false too. */
bool ep_feed(ep *p, const uint8_t *b, size_t n);
/* Bytes of the stream before this offset may be handed on (after a refusal: up to the cut). */
uint64_t ep_commit(const ep *p);
/* After a refusal: the bytes to hand on after ep_commit() so that the stream ends well-formed. */
const char *ep_terminator(const ep *p, size_t *len);
/* true while the current message's request line is in and its head is not complete */
bool ep_in_head_fields(const ep *p);

#endif
