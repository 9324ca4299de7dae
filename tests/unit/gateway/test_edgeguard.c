/* test_edgeguard.c — the edge's raw-byte check (services/gateway/edgeparse.c) and the guard's
 * recv (rawguard.c) that hands libmicrohttpd only checked bytes:
 *   - the verdict and the committed offset do not depend on how the stream is split (whole,
 *     byte by byte, every two-piece split): TCP may cut anywhere;
 *   - through a real socket pair, read with buffers of 1 to 64 bytes: MHD gets the good
 *     requests before a refused one byte for byte, then the stand-in request (or the chunked
 *     end), never a byte of the refused unit; a short read only when nothing more is queued (MHD
 *     0.9.75 takes a short read as "drained" under edge-triggered epoll). */
#include "th.h"
#include "edgeparse.h"
#include "rawguard.h"
#include "base/xmalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_URI    1024
#define MAX_HEADER 4096

typedef struct verdict {
    int status;
    unsigned msg;
    uint64_t commit;
} verdict;

static verdict run_split(const char *b, size_t n, size_t cut1, bool bytewise)
{
    ep p;
    ep_init(&p, MAX_URI, MAX_HEADER);
    if (bytewise) {
        for (size_t i = 0; i < n && ep_feed(&p, (const uint8_t *)b + i, 1); i++)
            ;
    } else if (ep_feed(&p, (const uint8_t *)b, cut1)) {
        ep_feed(&p, (const uint8_t *)b + cut1, n - cut1);
    }
    return (verdict){p.status, p.status ? p.refused_msg : p.msg, ep_commit(&p)};
}

typedef struct scase {
    const char *bytes;
    size_t len;
    int status;        /* 0: accepted */
    unsigned msg;      /* refused message (or messages completed) */
    size_t commit_end; /* the committed offset at the end */
} scase;

#define SC(b, st, m, c)                                                                            \
    {                                                                                              \
        b, sizeof b - 1, st, m, c                                                                  \
    }

static const char two_good[] = "GET /a HTTP/1.1\r\nHost: t\r\n\r\n"
                               "POST /b HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                               "3;x=1\r\nabc\r\n0\r\nX-T: 1\r\n\r\n";

static const scase cases[] = {
    SC("GET /a HTTP/1.1\r\nHost: t\r\n\r\n", 0, 1, 28),
    SC("GET /a HTTP/1.1\r\nHost: t\r\n\r\nGET /b HTTP/1.1\r\nHo", 0, 1, 28),
    SC("POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nab", 0, 0, 50),
    SC("GET /a HTTP/1.1\r\nHost: t\r\n\r\nGET /b HTTP/1.1\nHost: t\r\n\r\n", 400, 1, 28),
    SC("GET /a HTTP/1.1\r\nHost: t\r\n\r\nGET /b HTTP/1.1\r\nHost: t\r\nA: b\r\n c\r\n\r\n", 400, 1,
       28),
    SC("GET /a HTTP/1.1\r\nHost: t\r\nA: b\0\n\r\n", 400, 0, 0),
    SC("POST /a HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n", 400,
       0, 65),
    SC("POST /a HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX", 400, 0, 63),
    SC("POST /a HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nA B: c\r\n\r\n", 400,
       0, 60),
    SC("GET /a HTTP/2.0\r\nHost: t\r\n\r\n", 505, 0, 0),
    SC("GET /a HTTP/1.1\r\n\r\n", 400, 0, 0),
};

static void test_verdict_independent_of_splits(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const scase *c = &cases[i];
        verdict whole = run_split(c->bytes, c->len, c->len, false);
        if (whole.status != c->status || whole.msg != c->msg || whole.commit != c->commit_end)
            fail_msg("case %zu: status %d msg %u commit %llu, expected %d %u %zu", i, whole.status,
                     whole.msg, (unsigned long long)whole.commit, c->status, c->msg, c->commit_end);
        verdict bw = run_split(c->bytes, c->len, 0, true);
        assert_memory_equal(&bw, &whole, sizeof bw);
        for (size_t cut = 0; cut <= c->len; cut++) {
            verdict v = run_split(c->bytes, c->len, cut, false);
            if (memcmp(&v, &whole, sizeof v) != 0)
                fail_msg("case %zu split at %zu: a different verdict", i, cut);
        }
    }
}

/* The same verdict whole, byte by byte and split anywhere; returns it. */
static verdict split_independent(const char *b, size_t n)
{
    verdict whole = run_split(b, n, n, false);
    verdict bw = run_split(b, n, 0, true);
    assert_memory_equal(&bw, &whole, sizeof bw);
    for (size_t cut = 0; cut <= n; cut += 7) {
        verdict v = run_split(b, n, cut, false);
        assert_memory_equal(&v, &whole, sizeof v);
    }
    return whole;
}

/* The bounds at their edge: a target of exactly http.max_uri bytes and a head of exactly
 * http.max_header bytes pass; one byte more is 414 / 431 — however the bytes are split. */
static void test_bounds_exact(void **state)
{
    (void)state;
    char *buf = xmalloc(MAX_HEADER + 64);
    for (int extra = 0; extra <= 1; extra++) {
        size_t t = MAX_URI + (size_t)extra;
        int n = sprintf(buf, "GET /");
        memset(buf + n, 'a', t - 1);
        n += (int)t - 1;
        n += sprintf(buf + n, " HTTP/1.1\r\nHost: t\r\n\r\n");
        verdict v = split_independent(buf, (size_t)n);
        assert_int_equal(v.status, extra ? 414 : 0);

        const char *pre = "GET / HTTP/1.1\r\nHost: t\r\nX-A: ";
        size_t fixed = strlen(pre) + 4; /* the value's CRLF, the empty line */
        size_t vlen = MAX_HEADER - fixed + (size_t)extra;
        n = sprintf(buf, "%s", pre);
        memset(buf + n, 'v', vlen);
        n += (int)vlen;
        n += sprintf(buf + n, "\r\n\r\n");
        assert_int_equal((size_t)n, MAX_HEADER + (size_t)extra);
        v = split_independent(buf, (size_t)n);
        assert_int_equal(v.status, extra ? 431 : 0);
    }
    free(buf);
}

/* Reads everything the guard hands on, with reads of buf_len bytes; checks the short-read rule. */
static char *read_all(int fd, size_t buf_len, size_t *n_out)
{
    char *out = xmalloc(4096);
    size_t n = 0;
    char buf[64];
    bool short_seen = false;
    for (;;) {
        long r = gw_guard_recv(fd, buf, buf_len, 0);
        if (r < 0) {
            assert_int_equal(errno, EAGAIN);
            break;
        }
        if (r == 0)
            break;
        /* after a short read, the next one must find nothing (MHD would wait for an edge) */
        assert_false(short_seen);
        if ((size_t)r < buf_len)
            short_seen = true;
        assert_true(n + (size_t)r < 4096);
        memcpy(out + n, buf, (size_t)r);
        n += (size_t)r;
    }
    *n_out = n;
    return out;
}

static void through_guard(const char *in, size_t in_len, const char *want, size_t want_len)
{
    static const size_t sizes[] = {1, 2, 3, 7, 16, 64};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int sv[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
        fcntl(sv[0], F_SETFL, O_NONBLOCK);
        gw_guard g;
        gw_guard_init(&g, MAX_URI, MAX_HEADER, 1 << 20);
        gw_guard_attach(sv[0], &g);
        /* the stream in three writes, so that units are cut across reads */
        size_t a = in_len / 3, b = 2 * in_len / 3, n = 0;
        char *got = xmalloc(8192);
        size_t cuts[] = {0, a, b, in_len};
        for (int w = 0; w < 3; w++) {
            assert_int_equal(write(sv[1], in + cuts[w], cuts[w + 1] - cuts[w]),
                             (ssize_t)(cuts[w + 1] - cuts[w]));
            size_t k;
            char *part = read_all(sv[0], sizes[s], &k);
            memcpy(got + n, part, k);
            n += k;
            free(part);
        }
        if (n != want_len || memcmp(got, want, n) != 0)
            fail_msg("reads of %zu: handed on %zu bytes: %.*s", sizes[s], n, (int)n, got);
        free(got);
        gw_guard_detach(sv[0], &g);
        gw_guard_fini(&g);
        close(sv[0]);
        close(sv[1]);
    }
}

static void test_guard_hands_on_checked_bytes_only(void **state)
{
    (void)state;
    /* good: everything, unchanged */
    through_guard(two_good, sizeof two_good - 1, two_good, sizeof two_good - 1);
    /* a bad third request: the two good ones, then the stand-in, nothing of the bad one */
    static const char third[] = "GET /c HTTP/1.1\r\nHost: t\r\nX: a\0\n\r\n";
    size_t bad_len = sizeof two_good - 1 + sizeof third - 1;
    char *bad = xmalloc(bad_len);
    memcpy(bad, two_good, sizeof two_good - 1);
    memcpy(bad + sizeof two_good - 1, third, sizeof third - 1);
    size_t tl;
    ep dummy = {.cut_unit = EP_UNIT_HEAD};
    const char *stand_in = ep_terminator(&dummy, &tl);
    char *want = xasprintf("%s%s", two_good, stand_in);
    through_guard(bad, bad_len, want, strlen(want));
    free(bad);
    free(want);
    /* a malformed chunk after a good one: the good chunk, then the chunked body's end */
    static const char chunky[] = "POST /b HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                                 "3\r\nabc\r\nq\r\n";
    static const char chunky_want[] = "POST /b HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked"
                                      "\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    through_guard(chunky, sizeof chunky - 1, chunky_want, sizeof chunky_want - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verdict_independent_of_splits),
        cmocka_unit_test(test_bounds_exact),
        cmocka_unit_test(test_guard_hands_on_checked_bytes_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
