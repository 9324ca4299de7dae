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
