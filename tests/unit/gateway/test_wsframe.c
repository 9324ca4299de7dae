/* test_wsframe.c — the WebSocket wire format (services/gateway/wsframe.c) against RFC 6455:
 * masked client frames in the 7/16/64-bit length forms at their boundaries, partial input,
 * fragmented messages with control frames between the fragments, every refusal with the close
 * code it calls for (1002 protocol, 1007 invalid UTF-8, 4009 too big), close frames' codes and
 * reasons, and the server frames the gateway builds read back by the same parser. */
#include "th.h"
#include "wsframe.h"

#include <stdlib.h>
#include <string.h>

enum { MASKED = 1, FIN = 2 };

/* Writes one client frame into out (big enough) and returns its size. flags: MASKED, FIN;
 * rsv: the RSV1-3 bits (0-7). */
static size_t frame(uint8_t *out, int flags, unsigned rsv, unsigned op, const void *payload,
                    size_t len)
{
    static const uint8_t mask[4] = {0x37, 0xfa, 0x21, 0x3d};
    size_t h = 2;
    out[0] = (uint8_t)((flags & FIN ? 0x80 : 0) | (rsv << 4) | op);
    uint8_t m = flags & MASKED ? 0x80 : 0;
    if (len < 126) {
        out[1] = (uint8_t)(m | len);
    } else if (len < 65536) {
        out[1] = m | 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        h = 4;
    } else {
        out[1] = m | 127;
        for (int i = 0; i < 8; i++)
            out[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
        h = 10;
    }
    if (flags & MASKED) {
        memcpy(out + h, mask, 4);
        h += 4;
    }
    for (size_t i = 0; i < len; i++)
        out[h + i] = ((const uint8_t *)payload)[i] ^ (flags & MASKED ? mask[i & 3] : 0);
    return h + len;
}

/* Decodes buf[0..n) once with a fresh decoder allowing max bytes per message. */
static ws_dec_kind decode1(uint8_t *buf, size_t n, size_t max, ws_dec_result *r, size_t *used)
{
    ws_decoder d;
    ws_decoder_init(&d, max);
    size_t u;
    ws_dec_kind k = ws_decode(&d, buf, n, used ? used : &u, r);
    if (k == WS_DEC_MESSAGE) { /* copy out before fini frees an assembled message */
        static uint8_t keep[1 << 17];
        memcpy(keep, r->data, r->len < sizeof keep ? r->len : sizeof keep);
        r->data = keep;
    }
    ws_decoder_fini(&d);
    return k;
}

static void expect_error(uint8_t *buf, size_t n, size_t max, uint16_t code)
{
    ws_dec_result r;
    assert_int_equal(decode1(buf, n, max, &r, NULL), WS_DEC_ERROR);
    assert_int_equal(r.close_code, code);
    assert_non_null(r.why);
}

static void masked_text(void **state)
{
    (void)state;
    uint8_t buf[64];
    size_t n = frame(buf, MASKED | FIN, 0, WS_OP_TEXT, "Hello", 5);
    ws_dec_result r;
    size_t used;
    assert_int_equal(decode1(buf, n, 1000, &r, &used), WS_DEC_MESSAGE);
    assert_int_equal(used, 2 + 4 + 5);
    assert_int_equal(r.opcode, WS_OP_TEXT);
    assert_int_equal(r.len, 5);
    assert_memory_equal(r.data, "Hello", 5);
}

/* Each length form at its boundaries, whole and cut short (every prefix needs more). */
static void length_forms(void **state)
{
    (void)state;
    static const struct {
        size_t len, hdr;
    } cases[] = {{0, 6},   {1, 6},     {125, 6},    {126, 8},
                 {127, 8}, {65535, 8}, {65536, 14}, {70000, 14}};
    uint8_t *payload = malloc(70000), *buf = malloc(70000 + 14);
    for (size_t i = 0; i < 70000; i++)
        payload[i] = (uint8_t)('a' + i % 26);
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        size_t len = cases[c].len;
        size_t n = frame(buf, MASKED | FIN, 0, WS_OP_TEXT, payload, len);
        assert_int_equal(n, cases[c].hdr + len);
        ws_frame_hdr h;
        assert_int_equal(ws_frame_parse(buf, n, &h), 1);
        assert_int_equal(h.hdr_len, cases[c].hdr);
        assert_int_equal(h.len, len);
        assert_true(h.masked && h.fin);
        for (size_t cut = 0; cut < cases[c].hdr; cut++)
            assert_int_equal(ws_frame_parse(buf, cut, &h), 0);
        ws_decoder d;
        ws_decoder_init(&d, 1 << 20);
        size_t used = 99;
        ws_dec_result r;
        assert_int_equal(ws_decode(&d, buf, n - 1, &used, &r), WS_DEC_MORE); /* one byte short */
        assert_int_equal(used, 0);
        assert_int_equal(ws_decode(&d, buf, n, &used, &r), WS_DEC_MESSAGE);
        assert_int_equal(used, n);
        assert_int_equal(r.len, len);
        if (len)
            assert_memory_equal(r.data, payload, len);
        ws_decoder_fini(&d);
    }
    /* a 64-bit length with the top bit set is malformed */
    uint8_t bad[14] = {0x81, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0};
    expect_error(bad, sizeof bad, 1 << 20, 1002);
    free(payload);
    free(buf);
}

/* TEXT(fin=0) PING CONT(fin=0) PONG CONT(fin=1): control frames between fragments are handed
 * out at once; the message comes whole at its last fragment. */
static void fragments_with_control(void **state)
{
    (void)state;
    uint8_t buf[256];
    size_t n = 0;
    n += frame(buf + n, MASKED, 0, WS_OP_TEXT, "Hel", 3);
    n += frame(buf + n, MASKED | FIN, 0, WS_OP_PING, "p1", 2);
    n += frame(buf + n, MASKED, 0, WS_OP_CONT, "lo ", 3);
    n += frame(buf + n, MASKED | FIN, 0, WS_OP_PONG, "", 0);
    n += frame(buf + n, MASKED | FIN, 0, WS_OP_CONT, "w\xc3\xb6rld", 6);
    n += frame(buf + n, MASKED | FIN, 0, WS_OP_TEXT, "next", 4);
    ws_decoder d;
    ws_decoder_init(&d, 100);
    ws_dec_result r;
    size_t off = 0, used;
    assert_int_equal(ws_decode(&d, buf + off, n - off, &used, &r), WS_DEC_PING);
    assert_int_equal(r.len, 2);
    assert_memory_equal(r.data, "p1", 2);
    off += used;
    assert_int_equal(ws_decode(&d, buf + off, n - off, &used, &r), WS_DEC_PONG);
    off += used;
    assert_int_equal(ws_decode(&d, buf + off, n - off, &used, &r), WS_DEC_MESSAGE);
    assert_int_equal(r.opcode, WS_OP_TEXT);
    assert_int_equal(r.len, 12);
    assert_memory_equal(r.data, "Hello w\xc3\xb6rld", 12);
    off += used;
    assert_int_equal(ws_decode(&d, buf + off, n - off, &used, &r), WS_DEC_MESSAGE);
    assert_memory_equal(r.data, "next", 4);
    off += used;
    assert_int_equal(off, n);
    assert_int_equal(ws_decode(&d, buf + off, 0, &used, &r), WS_DEC_MORE);

    /* a fragment consumed before the buffer runs out: used counts it, the rest waits */
    n = frame(buf, MASKED, 0, WS_OP_TEXT, "ab", 2);
    size_t first = n;
    n += frame(buf + n, MASKED | FIN, 0, WS_OP_CONT, "cd", 2);
    assert_int_equal(ws_decode(&d, buf, n - 1, &used, &r), WS_DEC_MORE);
    assert_int_equal(used, first);
    assert_int_equal(ws_decode(&d, buf + used, n - used, &used, &r), WS_DEC_MESSAGE);
    assert_memory_equal(r.data, "abcd", 4);

    /* a close between fragments is handed out too */
    n = frame(buf, MASKED, 0, WS_OP_TEXT, "ab", 2);
    n += frame(buf + n, MASKED | FIN, 0, WS_OP_CLOSE, "\x03\xe8", 2);
    assert_int_equal(ws_decode(&d, buf, n, &used, &r), WS_DEC_CLOSE);
    assert_int_equal(r.close_code, 1000);
    ws_decoder_fini(&d);
}

static void unmasked_refused(void **state)
{
    (void)state;
    uint8_t buf[64];
    size_t n = frame(buf, FIN, 0, WS_OP_TEXT, "hi", 2);
    expect_error(buf, n, 100, 1002);
    n = frame(buf, FIN, 0, WS_OP_PING, "", 0);
    expect_error(buf, n, 100, 1002);
}

static void reserved_refused(void **state)
{
    (void)state;
    uint8_t buf[64];
    for (unsigned rsv = 1; rsv < 8; rsv++) {
        size_t n = frame(buf, MASKED | FIN, rsv, WS_OP_TEXT, "hi", 2);
        expect_error(buf, n, 100, 1002);
    }
    static const unsigned ops[] = {0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF};
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
        size_t n = frame(buf, MASKED | FIN, 0, ops[i], "hi", 2);
        expect_error(buf, n, 100, 1002);
    }
}

static void control_frames_limited(void **state)
{
    (void)state;
    uint8_t payload[126], buf[200];
    memset(payload, 'x', sizeof payload);
    size_t n = frame(buf, MASKED | FIN, 0, WS_OP_PING, payload, 125);
    ws_dec_result r;
    assert_int_equal(decode1(buf, n, 10, &r, NULL), WS_DEC_PING); /* not bound by max_message */
    assert_int_equal(r.len, 125);
    n = frame(buf, MASKED | FIN, 0, WS_OP_PING, payload, 126);
    expect_error(buf, n, 1000, 1002);
    n = frame(buf, MASKED | FIN, 0, WS_OP_CLOSE, payload, 126);
    expect_error(buf, n, 1000, 1002);
    n = frame(buf, MASKED, 0, WS_OP_PING, "p", 1); /* fragmented control frame */
    expect_error(buf, n, 1000, 1002);
}

static void bad_fragmentation(void **state)
{
    (void)state;
    uint8_t buf[64];
    size_t n = frame(buf, MASKED | FIN, 0, WS_OP_CONT, "x", 1); /* nothing to continue */
    expect_error(buf, n, 100, 1002);
    n = frame(buf, MASKED, 0, WS_OP_TEXT, "a", 1);
    n += frame(buf + n, MASKED | FIN, 0, WS_OP_TEXT, "b", 1); /* a new message inside one */
    ws_decoder d;
    ws_decoder_init(&d, 100);
    ws_dec_result r;
    size_t used;
    assert_int_equal(ws_decode(&d, buf, n, &used, &r), WS_DEC_ERROR);
    assert_int_equal(r.close_code, 1002);
    ws_decoder_fini(&d);
}

/* Over max_message: 4009, known from the header alone (the payload is never buffered). */
static void oversize_refused(void **state)
{
    (void)state;
    uint8_t payload[300], buf[400];
    memset(payload, 'x', sizeof payload);
    size_t n = frame(buf, MASKED | FIN, 0, WS_OP_TEXT, payload, 100);
    ws_dec_result r;
    assert_int_equal(decode1(buf, n, 100, &r, NULL), WS_DEC_MESSAGE); /* exactly the limit */
    n = frame(buf, MASKED | FIN, 0, WS_OP_TEXT, payload, 101);
    expect_error(buf, n, 100, 4009);
    expect_error(buf, 2 + 4, 100, 4009); /* the header only */
    /* 64-bit form claiming 1 TiB */
    uint8_t big[14] = {0x81, 0x80 | 127, 0, 0, 1, 0, 0, 0, 0, 0, 1, 2, 3, 4};
    expect_error(big, sizeof big, 100, 4009);
    /* fragments adding up past the limit */
    n = frame(buf, MASKED, 0, WS_OP_TEXT, payload, 60);
    n += frame(buf + n, MASKED | FIN, 0, WS_OP_CONT, payload, 41);
    expect_error(buf, n, 100, 4009);
    n = frame(buf, MASKED, 0, WS_OP_TEXT, payload, 60);
    n += frame(buf + n, MASKED | FIN, 0, WS_OP_CONT, payload, 40);
    assert_int_equal(decode1(buf, n, 100, &r, NULL), WS_DEC_MESSAGE);
    assert_int_equal(r.len, 100);
}

static void close_codes(void **state)
{
    (void)state;
    uint8_t buf[200];
    ws_dec_result r;
    size_t n = frame(buf, MASKED | FIN, 0, WS_OP_CLOSE, "", 0);
    assert_int_equal(decode1(buf, n, 100, &r, NULL), WS_DEC_CLOSE);
    assert_int_equal(r.close_code, 1005); /* no status */
    assert_int_equal(r.len, 0);
    n = frame(buf, MASKED | FIN, 0, WS_OP_CLOSE,
              "\x03\xe8"
              "bye",
              5);
    assert_int_equal(decode1(buf, n, 100, &r, NULL), WS_DEC_CLOSE);
    assert_int_equal(r.close_code, 1000);
    assert_int_equal(r.len, 3);
    assert_memory_equal(r.data, "bye", 3);
    static const unsigned ok[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009,
                                  1010, 1011, 1013, 3000, 4001, 4999};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        uint8_t p[2] = {(uint8_t)(ok[i] >> 8), (uint8_t)ok[i]};
        n = frame(buf, MASKED | FIN, 0, WS_OP_CLOSE, p, 2);
        assert_int_equal(decode1(buf, n, 100, &r, NULL), WS_DEC_CLOSE);
        assert_int_equal(r.close_code, ok[i]);
    }
    static const unsigned bad[] = {0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        uint8_t p[2] = {(uint8_t)(bad[i] >> 8), (uint8_t)bad[i]};
        n = frame(buf, MASKED | FIN, 0, WS_OP_CLOSE, p, 2);
        expect_error(buf, n, 100, 1002);
    }
    n = frame(buf, MASKED | FIN, 0, WS_OP_CLOSE, "\x03", 1); /* one byte: no room for a code */
    expect_error(buf, n, 100, 1002);
    n = frame(buf, MASKED | FIN, 0, WS_OP_CLOSE, "\x03\xe8\xff", 3); /* reason not UTF-8 */
    expect_error(buf, n, 100, 1007);
}

/* Text must be UTF-8 (RFC 6455 §8.1: fail with 1007); binary is not checked. */
static void utf8_checked(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "\xc3\x28",         /* a lead without its continuation */
        "\x80",             /* a stray continuation */
        "\xc0\xaf",         /* overlong '/' */
        "\xe0\x80\xaf",     /* overlong, 3 bytes */
        "\xed\xa0\x80",     /* a UTF-16 surrogate */
        "\xf4\x90\x80\x80", /* above U+10FFFF */
        "\xf8\x88\x80\x80\x80",
        "ok\xe2\x82", /* cut short at the end */
    };
    uint8_t buf[64];
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_false(ws_utf8_valid((const uint8_t *)bad[i], strlen(bad[i])));
        size_t n = frame(buf, MASKED | FIN, 0, WS_OP_TEXT, bad[i], strlen(bad[i]));
        expect_error(buf, n, 100, 1007);
        n = frame(buf, MASKED | FIN, 0, WS_OP_BINARY, bad[i], strlen(bad[i]));
        ws_dec_result r;
        assert_int_equal(decode1(buf, n, 100, &r, NULL), WS_DEC_MESSAGE);
        assert_int_equal(r.opcode, WS_OP_BINARY);
    }
    static const char good[] = "h\xc3\xa9llo \xe2\x82\xac \xf0\x9d\x84\x9e \xf4\x8f\xbf\xbf";
    assert_true(ws_utf8_valid((const uint8_t *)good, sizeof good - 1));
    /* a character split across two fragments is valid once assembled */
    size_t n = frame(buf, MASKED, 0, WS_OP_TEXT, "\xe2\x82", 2);
    n += frame(buf + n, MASKED | FIN, 0, WS_OP_CONT, "\xac", 1);
    ws_dec_result r;
    assert_int_equal(decode1(buf, n, 100, &r, NULL), WS_DEC_MESSAGE);
    assert_int_equal(r.len, 3);
    /* and invalid assembled: 1007 at the end */
    n = frame(buf, MASKED, 0, WS_OP_TEXT, "ok", 2);
    n += frame(buf + n, MASKED | FIN, 0, WS_OP_CONT, "\xff", 1);
    expect_error(buf, n, 100, 1007);
}

/* Server frames: unmasked, minimal length form, read back by the parser; close frames carry
 * the code and a reason cut to fit 125 bytes. */
static void server_frames(void **state)
{
    (void)state;
    static const size_t lens[] = {0, 125, 126, 65535, 65536};
    static const size_t hdrs[] = {2, 2, 4, 4, 10};
    uint8_t *p = calloc(1, 65536);
    for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
        gw_frame *f = gw_frame_new(WS_OP_TEXT, p, lens[i]);
        assert_int_equal(f->len, hdrs[i] + lens[i]);
        ws_frame_hdr h;
        assert_int_equal(ws_frame_parse(f->data, f->len, &h), 1);
        assert_false(h.masked);
        assert_true(h.fin);
        assert_int_equal(h.opcode, WS_OP_TEXT);
        assert_int_equal(h.len, lens[i]);
        assert_int_equal(h.hdr_len, hdrs[i]);
        gw_frame_unref(gw_frame_ref(f));
        gw_frame_unref(f);
    }
    free(p);
    char reason[300];
    memset(reason, 'r', sizeof reason - 1);
    reason[sizeof reason - 1] = '\0';
    gw_frame *f = gw_frame_close(4010, reason);
    assert_int_equal(f->len, 2 + 125);
    assert_int_equal((f->data[2] << 8) | f->data[3], 4010);
    gw_frame_unref(f);
}

static void handshake(void **state)
{
    (void)state;
    char out[29];
    assert_true(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out)); /* RFC 6455 §1.3 */
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_false(ws_accept_key("short", out));
    assert_false(ws_accept_key(NULL, out));
    bool has;
    const char *bearer;
    size_t bl;
    ws_subprotocols("chat, confetti.v1 ,bearer.abc.def", "confetti.v1", &has, &bearer, &bl);
    assert_true(has);
    assert_int_equal(bl, 7);
    assert_memory_equal(bearer, "abc.def", 7);
    ws_subprotocols("confetti.v10", "confetti.v1", &has, &bearer, &bl);
    assert_false(has);
    assert_null(bearer);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(masked_text),
        cmocka_unit_test(length_forms),
        cmocka_unit_test(fragments_with_control),
        cmocka_unit_test(unmasked_refused),
        cmocka_unit_test(reserved_refused),
        cmocka_unit_test(control_frames_limited),
        cmocka_unit_test(bad_fragmentation),
        cmocka_unit_test(oversize_refused),
        cmocka_unit_test(close_codes),
        cmocka_unit_test(utf8_checked),
        cmocka_unit_test(server_frames),
        cmocka_unit_test(handshake),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
