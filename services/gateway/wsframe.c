/* wsframe.c — see wsframe.h. */
#include "wsframe.h"
#include "base/xmalloc.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <string.h>
#include <strings.h>

bool ws_accept_key(const char *key, char out[29])
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    if (!key || strlen(key) != 24)
        return false;
    uint8_t raw[24];
    if (EVP_DecodeBlock(raw, (const unsigned char *)key, 24) != 18 || key[23] != '=' ||
        key[22] != '=')
        return false; /* 16 bytes encode as 22 characters + "==" */
    uint8_t in[24 + sizeof guid - 1];
    memcpy(in, key, 24);
    memcpy(in + 24, guid, sizeof guid - 1);
    uint8_t digest[SHA_DIGEST_LENGTH];
    SHA1(in, sizeof in, digest);
    EVP_EncodeBlock((unsigned char *)out, digest, SHA_DIGEST_LENGTH);
    out[28] = '\0';
    return true;
}

void ws_subprotocols(const char *header, const char *want, bool *has_proto, const char **bearer,
                     size_t *bearer_len)
{
    *has_proto = false;
    *bearer = NULL;
    *bearer_len = 0;
    const char *p = header;
    size_t wl = strlen(want);
    while (p && *p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        size_t n = strcspn(p, ", \t");
        if (n == wl && strncasecmp(p, want, wl) == 0)
            *has_proto = true;
        else if (n > 7 && strncmp(p, "bearer.", 7) == 0) {
            *bearer = p + 7;
            *bearer_len = n - 7;
        }
        p += n;
    }
}

int ws_frame_parse(const uint8_t *buf, size_t n, ws_frame_hdr *h)
{
    if (n < 2)
        return 0;
    h->fin = (buf[0] & 0x80) != 0;
    h->rsv = (buf[0] >> 4) & 0x7;
    h->opcode = buf[0] & 0x0f;
    h->masked = (buf[1] & 0x80) != 0;
    uint64_t len = buf[1] & 0x7f;
    size_t need = 2;
    if (len == 126) {
        need += 2;
        if (n < need)
            return 0;
        len = ((uint64_t)buf[2] << 8) | buf[3];
    } else if (len == 127) {
        need += 8;
        if (n < need)
            return 0;
        len = 0;
        for (int i = 0; i < 8; i++)
            len = (len << 8) | buf[2 + i];
        if (len >> 63)
            return -1;
    }
    if (h->masked) {
        if (n < need + 4)
            return 0;
        memcpy(h->mask, buf + need, 4);
        need += 4;
    }
    h->len = len;
    h->hdr_len = need;
    return 1;
}

void ws_unmask(uint8_t *p, size_t n, const uint8_t mask[4], size_t off)
{
    for (size_t i = 0; i < n; i++)
        p[i] ^= mask[(off + i) & 3];
}

bool ws_utf8_valid(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t b = p[i];
        if (b < 0x80) {
            i++;
            continue;
        }
        size_t k; /* continuation bytes */
        uint32_t cp, min;
        if ((b & 0xe0) == 0xc0)
            k = 1, cp = b & 0x1f, min = 0x80;
        else if ((b & 0xf0) == 0xe0)
            k = 2, cp = b & 0x0f, min = 0x800;
        else if ((b & 0xf8) == 0xf0)
            k = 3, cp = b & 0x07, min = 0x10000;
        else
            return false; /* a stray continuation byte, or 0xf8.. */
        if (n - i <= k)
            return false;
        for (size_t j = 1; j <= k; j++) {
            if ((p[i + j] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i + j] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += k + 1;
    }
    return true;
}

void ws_decoder_init(ws_decoder *d, size_t max_message)
{
    memset(d, 0, sizeof *d);
    d->max_message = max_message;
}

void ws_decoder_fini(ws_decoder *d)
{
    free(d->msg);
    d->msg = NULL;
    d->mlen = 0;
    d->in_msg = false;
}

/* Close codes a peer may send (RFC 6455 §7.4: 1004-1006 and 1015 are never on the wire; the
 * 1012-1014 registered since are accepted, as are 3000-4999 for libraries and applications). */
static bool close_code_valid(unsigned c)
{
    return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999);
}

static ws_dec_kind dec_error(ws_dec_result *r, uint16_t code, const char *why)
{
    r->close_code = code;
    r->why = why;
    return WS_DEC_ERROR;
}

/* A non-final fragment was taken into the message: nothing to hand out yet. */
#define DEC_FRAGMENT ((ws_dec_kind)-1)

/* One frame of ws_decode. */
static ws_dec_kind decode_one(ws_decoder *d, uint8_t *buf, size_t n, size_t *used, ws_dec_result *r)
{
    memset(r, 0, sizeof *r);
    *used = 0;
    ws_frame_hdr h;
    int pr = ws_frame_parse(buf, n, &h);
    if (pr == 0)
        return WS_DEC_MORE;
    if (pr < 0)
        return dec_error(r, 1002, "malformed frame length");
    if (h.rsv)
        return dec_error(r, 1002, "reserved bits set");
    if (!h.masked)
        return dec_error(r, 1002, "unmasked client frame");
    bool control = (h.opcode & 0x8) != 0;
    switch (h.opcode) {
    case WS_OP_CONT:
    case WS_OP_TEXT:
    case WS_OP_BINARY:
    case WS_OP_CLOSE:
    case WS_OP_PING:
    case WS_OP_PONG:
        break;
    default:
        return dec_error(r, 1002, "reserved opcode");
    }
    if (control && (h.len > 125 || !h.fin))
        return dec_error(r, 1002, "control frame fragmented or over 125 bytes");
    if (!control) {
        if ((h.opcode == WS_OP_CONT) != d->in_msg)
            return dec_error(r, 1002, "bad fragmentation");
        if (h.len > d->max_message || d->mlen + h.len > d->max_message)
            return dec_error(r, 4009, "message too big");
    }
    if (n - h.hdr_len < h.len)
        return WS_DEC_MORE;
    size_t len = (size_t)h.len;
    uint8_t *p = buf + h.hdr_len;
    ws_unmask(p, len, h.mask, 0);
    *used = h.hdr_len + len;
    r->opcode = h.opcode;
    r->data = p;
    r->len = len;
    switch (h.opcode) {
    case WS_OP_PING:
        return WS_DEC_PING;
    case WS_OP_PONG:
        return WS_DEC_PONG;
    case WS_OP_CLOSE:
        if (len == 1)
            return dec_error(r, 1002, "close frame of one byte");
        r->close_code = 1005;
        if (len >= 2) {
            r->close_code = (uint16_t)((p[0] << 8) | p[1]);
            if (!close_code_valid(r->close_code))
                return dec_error(r, 1002, "invalid close code");
            if (!ws_utf8_valid(p + 2, len - 2))
                return dec_error(r, 1007, "close reason is not UTF-8");
            r->data = p + 2;
            r->len = len - 2;
        }
        return WS_DEC_CLOSE;
    default:
        break;
    }
    if (h.fin && !d->in_msg) { /* the common case: a whole message in one frame, no copy */
        if (h.opcode == WS_OP_TEXT && !ws_utf8_valid(p, len))
            return dec_error(r, 1007, "text message is not UTF-8");
        return WS_DEC_MESSAGE;
    }
    if (!d->in_msg) {
        d->in_msg = true;
        d->msg_opcode = h.opcode;
        d->mlen = 0;
    }
    d->msg = xrealloc(d->msg, d->mlen + len + 1);
    memcpy(d->msg + d->mlen, p, len);
    d->mlen += len;
    if (!h.fin)
        return DEC_FRAGMENT;
    d->in_msg = false;
    r->opcode = d->msg_opcode;
    r->data = d->msg;
    r->len = d->mlen;
    d->mlen = 0;
    if (r->opcode == WS_OP_TEXT && !ws_utf8_valid(r->data, r->len))
        return dec_error(r, 1007, "text message is not UTF-8");
    return WS_DEC_MESSAGE;
}

ws_dec_kind ws_decode(ws_decoder *d, uint8_t *buf, size_t n, size_t *used, ws_dec_result *r)
{
    size_t total = 0, u;
    ws_dec_kind k;
    while ((k = decode_one(d, buf + total, n - total, &u, r)) == DEC_FRAGMENT)
        total += u;
    *used = total + u;
    return k;
}

gw_frame *gw_frame_new(unsigned opcode, const void *payload, size_t len)
{
    size_t hl = len < 126 ? 2 : len < 65536 ? 4 : 10;
    gw_frame *f = xmalloc(sizeof *f + hl + len);
    atomic_init(&f->refs, 1);
    f->opcode = opcode;
    f->len = hl + len;
    f->data[0] = (uint8_t)(0x80 | opcode);
    if (hl == 2) {
        f->data[1] = (uint8_t)len;
    } else if (hl == 4) {
        f->data[1] = 126;
        f->data[2] = (uint8_t)(len >> 8);
        f->data[3] = (uint8_t)len;
    } else {
        f->data[1] = 127;
        for (int i = 0; i < 8; i++)
            f->data[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
    }
    if (len)
        memcpy(f->data + hl, payload, len);
    return f;
}

gw_frame *gw_frame_close(uint16_t code, const char *reason)
{
    uint8_t p[125];
    size_t rl = reason ? strlen(reason) : 0;
    if (rl > sizeof p - 2)
        rl = sizeof p - 2;
    p[0] = (uint8_t)(code >> 8);
    p[1] = (uint8_t)code;
    if (rl)
        memcpy(p + 2, reason, rl);
    return gw_frame_new(WS_OP_CLOSE, p, 2 + rl);
}

gw_frame *gw_frame_ref(gw_frame *f)
{
    atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
    return f;
}

void gw_frame_unref(gw_frame *f)
{
    if (f && atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) == 1)
        free(f);
}
