/* test_edge.c — the gateway's HTTP edge (http.c on libmicrohttpd) from raw sockets: the framing
 * table of RFC 9112 (issue 13 item 3) with the exact status and whether the connection stays —
 * every refusal in the SPEC error shape, also those libmicrohttpd used to make itself, and every
 * refusing row again as the second request of a keep-alive connection (rawguard.h checks the raw
 * bytes of every request); the per-peer connection cap (429) and the connection metrics;
 * refusals the client actually reads (issue 21 item 3: a body 4× http.max_body reads 413 on
 * every one of 50 tries), the header and body deadlines (408 and close), the connection cap (503
 * and close), nothing answered behind a refused request, and the gateway answering after all
 * of it. A gateway with no backends: every refusal here comes before any RPC. */
#include "th.h"
#include "service.h"
#include "gateway.h"
#include "base/xmalloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_BODY    1024
#define MAX_CONNS   8
#define HEAD_MS     300
#define IDLE_MS     400
#define BODY_MS     3000
#define PEER_CAP    2  /* the second group's http.max_connections_per_peer */
#define READ_WAIT_S 10 /* generous: an answer that does not come fails, it never hangs */

static th_service *gwsvc;
static int port;

static int dial(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

static void send_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        assert_true(n > 0);
        p += n;
        len -= (size_t)n;
    }
}

typedef struct reply {
    char *data; /* everything read, NUL-terminated */
    size_t len;
    bool closed; /* end of stream (or reset) seen */
} reply;

/* Reads until the peer closes, or until one whole response is in (headers and Content-Length
 * bytes) when !to_eof, or READ_WAIT_S pass. */
static reply read_reply(int fd, bool to_eof)
{
    reply r = {.data = xmalloc(1)};
    size_t cap = 1;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, READ_WAIT_S * 1000) <= 0)
            break;
        if (r.len + 4097 > cap) {
            cap = (r.len + 4097) * 2;
            r.data = xrealloc(r.data, cap);
        }
        ssize_t n = recv(fd, r.data + r.len, 4096, 0);
        if (n <= 0) {
            r.closed = true;
            break;
        }
        r.len += (size_t)n;
        r.data[r.len] = '\0';
        const char *end = strstr(r.data, "\r\n\r\n");
        const char *cl = strcasestr(r.data, "\r\nContent-Length:");
        if (!to_eof && end && cl && cl < end &&
            r.len >= (size_t)(end + 4 - r.data) + strtoul(cl + 17, NULL, 10))
            break;
    }
    r.data[r.len] = '\0';
    return r;
}

static int status_of(const reply *r)
{
    if (strncmp(r->data, "HTTP/1.1 ", 9) != 0)
        return -1;
    return atoi(r->data + 9);
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* Status lines in a stream of answers ("HTTP/1.1 " and a digit: a body may name the version);
 * nth (from 0) set to the nth one's start. */
static int count_answers_at(const char *data, int nth, const char **at)
{
    int n = 0;
    for (const char *p = data; (p = strstr(p, "HTTP/1.1 ")); p += 9)
        if (p[9] >= '1' && p[9] <= '5') {
            if (n == nth && at)
                *at = p;
            n++;
        }
    return n;
}

static int count_answers(const char *data)
{
    return count_answers_at(data, -1, NULL);
}

static int setup(void **state)
{
    (void)state;
    port = th_free_port();
    char *env[] = {xasprintf("CONFETTI_HTTP_LISTEN=http://127.0.0.1:%d", port),
                   xasprintf("CONFETTI_HTTP_MAX_BODY=%d", MAX_BODY),
                   xasprintf("CONFETTI_HTTP_MAX_URI=1KiB"),
                   xasprintf("CONFETTI_HTTP_MAX_HEADER=4KiB"),
                   xasprintf("CONFETTI_HTTP_HEADER_TIMEOUT=%dms", HEAD_MS),
                   xasprintf("CONFETTI_HTTP_IDLE_TIMEOUT=%dms", IDLE_MS),
                   xasprintf("CONFETTI_HTTP_BODY_TIMEOUT=%dms", BODY_MS),
                   xasprintf("CONFETTI_HTTP_MAX_CONNECTIONS=%d", MAX_CONNS),
                   xasprintf("CONFETTI_RATELIMIT_RATE=0"),
                   NULL};
    gwsvc = th_service_start(gateway_service_def(),
                             &(th_service_opts){.dsn = "n/a", .env = (const char *const *)env});
    for (int i = 0; env[i]; i++)
        free(env[i]);
    return 0;
}

/* The third group: http.max_connections MAX_CONNS, and a body deadline longer than the test:
 * the held connections sit in the middle of a body, and under the first group's 3 s one they
 * were all closed before a probe saw the cap (a loaded CI machine, 2026-12-07: 600 probes
 * answered 200). */
static int setup_conn_cap(void **state)
{
    (void)state;
    port = th_free_port();
    char *env[] = {xasprintf("CONFETTI_HTTP_LISTEN=http://127.0.0.1:%d", port),
                   xasprintf("CONFETTI_HTTP_MAX_CONNECTIONS=%d", MAX_CONNS),
                   xasprintf("CONFETTI_HTTP_BODY_TIMEOUT=300s"),
                   xasprintf("CONFETTI_RATELIMIT_RATE=0"), NULL};
    gwsvc = th_service_start(gateway_service_def(),
                             &(th_service_opts){.dsn = "n/a", .env = (const char *const *)env});
    for (int i = 0; env[i]; i++)
        free(env[i]);
    return 0;
}

/* The second group: default deadlines, http.max_connections_per_peer PEER_CAP. */
static int setup_peer_cap(void **state)
{
    (void)state;
    port = th_free_port();
    char *env[] = {xasprintf("CONFETTI_HTTP_LISTEN=http://127.0.0.1:%d", port),
                   xasprintf("CONFETTI_HTTP_MAX_CONNECTIONS_PER_PEER=%d", PEER_CAP),
                   xasprintf("CONFETTI_RATELIMIT_RATE=0"), NULL};
    gwsvc = th_service_start(gateway_service_def(),
                             &(th_service_opts){.dsn = "n/a", .env = (const char *const *)env});
    for (int i = 0; env[i]; i++)
        free(env[i]);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    th_service_stop(gwsvc);
    return 0;
}

/* One GET /healthz on a fresh connection: 200 (the gateway still answers). */
static void assert_still_answers(void)
{
    int fd = dial();
    const char req[] = "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";
    send_all(fd, req, sizeof req - 1);
    reply r = read_reply(fd, false);
    assert_int_equal(status_of(&r), 200);
    free(r.data);
    close(fd);
}

/* The cap on open connections (http.max_connections): past it a request is answered 503 with
 * Retry-After in the SPEC error shape, and that connection closes. A group of its own, so no
 * other test's connection is counted. The held connections are in the middle of a body
 * (http.body_timeout 300 s in this group), so none of them times out while the test runs. */
static void test_connection_cap_answers_503_and_closes(void **state)
{
    (void)state;
    int held[MAX_CONNS];
    const char partial[] = "POST /v1/rooms HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nx";
    for (int i = 0; i < MAX_CONNS; i++) {
        held[i] = dial();
        send_all(held[i], partial, sizeof partial - 1);
    }
    /* The server accepts the held connections on its own threads: a probe may be accepted
     * before the last of them and answered 200. Probe (closing each) until the cap is seen; the
     * bound is generous, it is not a speed check. */
    const char req[] = "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";
    int fd = -1;
    reply r = {0};
    bool closed = false;
    for (int tries = 0; tries < 600; tries++) {
        /* a held connection the server answered or closed (CI once saw only 7 of 8 still
         * within a request, and no probe refused in 600): said, and replaced, so that the cap is
         * always full of requests in progress when the probe comes */
        for (int i = 0; i < MAX_CONNS; i++) {
            struct pollfd p = {.fd = held[i], .events = POLLIN};
            if (poll(&p, 1, 0) <= 0)
                continue;
            char got[256];
            ssize_t n = recv(held[i], got, sizeof got - 1, MSG_DONTWAIT);
            got[n > 0 ? n : 0] = '\0';
            printf("held connection %d ended before the probe %d: %s\n", i, tries,
                   n > 0 ? strtok(got, "\r\n") : "closed with nothing");
            close(held[i]);
            held[i] = dial();
            send_all(held[i], partial, sizeof partial - 1);
        }
        fd = dial();
        send_all(fd, req, sizeof req - 1);
        /* one whole answer, not to the end: a 200 keeps its connection (for the idle timeout) */
        r = read_reply(fd, false);
        if (status_of(&r) == 503) {
            reply rest = read_reply(fd, true);
            closed = rest.closed;
            free(rest.data);
            break;
        }
        free(r.data);
        r.data = NULL;
        close(fd);
        usleep(50000);
    }
    assert_non_null(r.data);
    assert_int_equal(status_of(&r), 503);
    assert_non_null(strstr(r.data, "Retry-After: 1"));
    assert_non_null(strstr(r.data, "\"status\":\"UNAVAILABLE\""));
    assert_true(closed);
    free(r.data);
    close(fd);
    for (int i = 0; i < MAX_CONNS; i++)
        close(held[i]);
    /* the closes free the slots once the server has seen them: answered again within 10 s */
    int st = 0;
    for (int i = 0; i < 200 && st != 200; i++) {
        int c = dial();
        send_all(c, req, sizeof req - 1);
        reply rr = read_reply(c, false);
        st = status_of(&rr);
        free(rr.data);
        close(c);
        if (st != 200)
            usleep(50000);
    }
    assert_int_equal(st, 200);
}

typedef struct row {
    const char *name;
    const char *bytes; /* sent at once; with pad, a format whose %s becomes pad 'a's */
    int status;
    bool closes; /* the connection ends after the answer */
    size_t pad;
    size_t len;                /* bytes holding a NUL: their length (0: strlen) */
    const char *(*make)(void); /* or bytes built by a function (owned by it, static) */
} row;

#define ROW(n, b, s, c)                                                                            \
    {                                                                                              \
        n, b, s, c, 0, 0, NULL                                                                     \
    }
#define ROWN(n, b, s, c)                                                                           \
    {                                                                                              \
        n, b, s, c, 0, sizeof b - 1, NULL                                                          \
    }
#define ROWF(n, f, s, c)                                                                           \
    {                                                                                              \
        n, NULL, s, c, 0, 0, f                                                                     \
    }

/* "GET /healthz HTTP/1.1" with n fields "X-<i>: a" (static buffer) */
static const char *many_fields(size_t n)
{
    static char buf[16384];
    size_t o = (size_t)snprintf(buf, sizeof buf, "GET /healthz HTTP/1.1\r\nHost: t\r\n");
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(buf + o, sizeof buf - o, "X-%zu: a\r\n", i);
    snprintf(buf + o, sizeof buf - o, "\r\n");
    return buf;
}

static const char *fields_99(void)
{
    return many_fields(99); /* with Host: 100 */
}

static const char *fields_101(void)
{
    return many_fields(101);
}

static const char *many_params(void)
{
    static char buf[2048];
    size_t o = (size_t)snprintf(buf, sizeof buf, "GET /healthz?a=1");
    for (int i = 0; i < 256; i++)
        o += (size_t)snprintf(buf + o, sizeof buf - o, "&a");
    snprintf(buf + o, sizeof buf - o, " HTTP/1.1\r\nHost: t\r\n\r\n");
    return buf;
}

static const char *many_cookies(void)
{
    static char buf[2048];
    size_t o = (size_t)snprintf(buf, sizeof buf, "GET /healthz HTTP/1.1\r\nHost: t\r\nCookie: a=1");
    for (int i = 0; i < 256; i++)
        o += (size_t)snprintf(buf + o, sizeof buf - o, ";b");
    snprintf(buf + o, sizeof buf - o, "\r\n\r\n");
    return buf;
}

/* bytes with its %s replaced by pad 'a's (owned) */
static char *padded(const char *fmt, size_t pad)
{
    char *a = xmalloc(pad + 1);
    memset(a, 'a', pad);
    a[pad] = '\0';
    char *out = xasprintf(fmt, a);
    free(a);
    return out;
}

/* RFC 9112 framing and the edge's limits, one raw request each. "closes": the answer carries
 * Connection: close and the stream ends; nothing behind the request is read as a request. */
static const row framing[] = {
    ROW("well-formed GET keeps the connection", "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n", 200,
        false),
    ROW("empty lines before the request line are ignored (RFC 9112 §2.2)",
        "\r\n\r\nGET /healthz HTTP/1.1\r\nHost: t\r\n\r\n", 200, false),
    ROW("HTTP/1.0 with a Host, keep-alive asked",
        "GET /healthz HTTP/1.0\r\nHost: t\r\nConnection: keep-alive\r\n\r\n", 200, false),
    ROWF("100 header fields (the bound)", fields_99, 200, false),
    ROW("an Upgrade that is not a WebSocket: answered, then closed (not checked after it)",
        "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n", 200,
        true),
    /* field names */
    ROW("whitespace before the colon (Transfer-Encoding : chunked)",
        "POST /v1/rooms HTTP/1.1\r\nHost: t\r\nTransfer-Encoding : chunked\r\nContent-Length: "
        "3\r\n\r\nabc",
        400, true),
    ROW("tab before the colon", "GET /healthz HTTP/1.1\r\nHost: t\r\nX-A\t: b\r\n\r\n", 400, true),
    ROW("space inside a field name", "GET /healthz HTTP/1.1\r\nHost: t\r\nX A: b\r\n\r\n", 400,
        true),
    ROW("a field line without a colon", "GET /healthz HTTP/1.1\r\nHost: t\r\nX-A\r\n\r\n", 400,
        true),
    ROW("an empty field name", "GET /healthz HTTP/1.1\r\nHost: t\r\n: b\r\n\r\n", 400, true),
    /* line ends, folding, NUL: MHD 0.9.75 normalized these before any callback */
    ROW("bare LF after the request line", "GET /healthz HTTP/1.1\nHost: t\r\n\r\n", 400, true),
    ROW("bare LF after a field", "GET /healthz HTTP/1.1\r\nHost: t\nX-A: b\r\n\r\n", 400, true),
    ROW("bare LF ending the head", "GET /healthz HTTP/1.1\r\nHost: t\r\n\n", 400, true),
    ROW("bare LF everywhere", "GET /healthz HTTP/1.1\nHost: t\n\n", 400, true),
    ROW("bare CR inside a value", "GET /healthz HTTP/1.1\r\nHost: t\r\nX-A: b\rc\r\n\r\n", 400,
        true),
    ROW("obs-fold (a line starting with SP)",
        "GET /healthz HTTP/1.1\r\nHost: t\r\nX-A: b\r\n c\r\n\r\n", 400, true),
    ROW("obs-fold (a line starting with HTAB)",
        "GET /healthz HTTP/1.1\r\nHost: t\r\nX-A: b\r\n\tc\r\n\r\n", 400, true),
    ROW("obs-fold of Transfer-Encoding",
        "POST /v1/rooms HTTP/1.1\r\nHost: t\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n",
        400, true),
    ROWN("NUL inside a value", "GET /healthz HTTP/1.1\r\nHost: t\r\nX-A: b\0c\r\n\r\n", 400, true),
    ROWN("NUL then a bare LF (after MHD's parse, identical to CRLF)",
         "GET /healthz HTTP/1.1\r\nHost: t\r\nX-A: b\0\n\r\n", 400, true),
    ROWN("NUL in a field name", "GET /healthz HTTP/1.1\r\nHost: t\r\nX\0A: b\r\n\r\n", 400, true),
    ROWN("NUL as the empty line", "GET /healthz HTTP/1.1\r\nHost: t\r\n\0\n", 400, true),
    ROW("control character in a value", "GET /healthz HTTP/1.1\r\nHost: t\r\nX-A: b\x01\r\n\r\n",
        400, true),
    /* Content-Length and Transfer-Encoding */
    ROW("two Content-Length, different",
        "POST /v1/rooms HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: "
        "4\r\n\r\nabcd",
        400, true),
    ROW("two Content-Length, equal",
        "POST /v1/rooms HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
        400, true),
    ROW("Content-Length not a number",
        "POST /v1/rooms HTTP/1.1\r\nHost: t\r\nContent-Length: 3x\r\n\r\nabc", 400, true),
    ROW("Content-Length negative",
        "POST /v1/rooms HTTP/1.1\r\nHost: t\r\nContent-Length: -3\r\n\r\n", 400, true),
    ROW("Content-Length empty", "POST /v1/rooms HTTP/1.1\r\nHost: t\r\nContent-Length: \r\n\r\n",
        400, true),
    ROW("Content-Length a list",
        "POST /v1/rooms HTTP/1.1\r\nHost: t\r\nContent-Length: 3, 3\r\n\r\n", 400, true),
    ROW("Content-Length past 64 bits",
        "POST /v1/rooms HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        413, true),
    ROW("Content-Length with Transfer-Encoding",
        "POST /v1/rooms HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: "
        "chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        400, true),
    ROW("a transfer coding other than chunked",
        "POST /v1/rooms HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", 501, true),
    ROW("Transfer-Encoding in HTTP/1.0",
        "POST /v1/rooms HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, true),
    /* chunked bodies (MHD's own HTML 400/413 before) */
    ROW("chunk size not hex",
        "POST /v1/rooms HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400,
        true),
    ROW("chunk size past 64 bits",
        "POST /v1/rooms HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        "fffffffffffffffffffff\r\n",
        413, true),
    ROW("chunk data not followed by CRLF",
        "POST /v1/rooms HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: "
        "chunked\r\n\r\n2\r\n{}X\r\n0\r\n\r\n",
        400, true),
    ROW("bare LF after a chunk size",
        "POST /v1/rooms HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: "
        "chunked\r\n\r\n2\n{}\r\n0\r\n\r\n",
        400, true),
    ROW("space before a chunk extension",
        "POST /v1/rooms HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2 "
        ";x\r\n{}\r\n0\r\n\r\n",
        400, true),
    ROW("a malformed trailer",
        "POST /v1/rooms HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX A: "
        "b\r\n\r\n",
        400, true),
    /* Host */
    ROW("HTTP/1.1 without Host", "GET /healthz HTTP/1.1\r\n\r\n", 400, true),
    ROW("two Host fields", "GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, true),
    /* the request line (MHD's HTML 400/505 or a silent close before) */
    ROW("a line that is no request line", "HELLO\r\n\r\n", 400, true),
    ROW("no HTTP version", "GET /healthz\r\nHost: t\r\n\r\n", 400, true),
    ROW("a space inside the target", "GET /heal thz HTTP/1.1\r\nHost: t\r\n\r\n", 400, true),
    ROW("two spaces after the method", "GET  /healthz HTTP/1.1\r\nHost: t\r\n\r\n", 400, true),
    ROW("control character in the target", "GET /heal\x01thz HTTP/1.1\r\nHost: t\r\n\r\n", 400,
        true),
    ROW("a method with a separator", "GE(T /healthz HTTP/1.1\r\nHost: t\r\n\r\n", 400, true),
    ROW("malformed version", "GET /healthz HTTP/1.x\r\nHost: t\r\n\r\n", 400, true),
    ROW("lower-case version", "GET /healthz http/1.1\r\nHost: t\r\n\r\n", 400, true),
    ROW("HTTP/2.0 on an HTTP/1 connection", "GET /healthz HTTP/2.0\r\nHost: t\r\n\r\n", 505, true),
    ROW("HTTP/0.9", "GET /healthz HTTP/0.9\r\nHost: t\r\n\r\n", 505, true),
    /* sizes */
    {"request target over http.max_uri", "GET /%s HTTP/1.1\r\nHost: t\r\n\r\n", 414, true, 1100, 0,
     NULL},
    {"header fields over http.max_header", "GET /healthz HTTP/1.1\r\nHost: t\r\nX-A: %s\r\n\r\n",
     431, true, 4200, 0, NULL},
    {"header fields past the server's memory (MHD's own HTML 431 before)",
     "GET /healthz HTTP/1.1\r\nHost: t\r\nX-A: %s\r\n\r\n", 431, true, 60000, 0, NULL},
    {"a request line past the server's memory (MHD's own HTML 414 before)",
     "GET /%s HTTP/1.1\r\nHost: t\r\n\r\n", 414, true, 60000, 0, NULL},
    ROWF("more than 100 header fields", fields_101, 431, true),
    ROWF("more than 256 query parameters", many_params, 414, true),
    ROWF("more than 256 cookies", many_cookies, 431, true),
};

/* The row's bytes (owned) and their length. */
static char *row_bytes(const row *w, size_t *len)
{
    if (w->make) {
        char *b = xstrdup(w->make());
        *len = strlen(b);
        return b;
    }
    if (w->pad) {
        char *b = padded(w->bytes, w->pad);
        *len = strlen(b);
        return b;
    }
    *len = w->len ? w->len : strlen(w->bytes);
    char *b = xmalloc(*len + 1);
    memcpy(b, w->bytes, *len + 1);
    return b;
}

/* A refusal as SPEC §HTTP says: JSON {"error":{"code":…,"status":…}}, Connection: close. */
static void assert_spec_refusal(const char *name, const char *answer)
{
    if (!strcasestr(answer, "Content-Type: application/json") ||
        !strstr(answer, "\r\n\r\n{\"error\":{\"code\":") || strstr(answer, "<html"))
        fail_msg("%s: not the SPEC error shape: %.400s", name, answer);
    if (!strcasestr(answer, "Connection: close"))
        fail_msg("%s: no Connection: close", name);
}

static const char good_get[] = "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";

/* Each row on a fresh connection; each refusing row again as the second request of a
 * keep-alive connection, pipelined behind a good one and sent after its answer: the good one
 * is answered 200, the row exactly as alone, then the connection ends. */
static void test_framing_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof framing / sizeof framing[0]; i++) {
        const row *w = &framing[i];
        size_t len;
        char *bytes = row_bytes(w, &len);
        int fd = dial();
        send_all(fd, bytes, len);
        reply r = read_reply(fd, w->closes);
        if (status_of(&r) != w->status)
            fail_msg("%s: expected %d, got: %.200s", w->name, w->status, r.data);
        if (w->closes) {
            if (!r.closed)
                fail_msg("%s: the connection stayed open", w->name);
            if (!strcasestr(r.data, "Connection: close"))
                fail_msg("%s: no Connection: close", w->name);
        } else {
            /* keep-alive: a second request on the same connection is answered */
            send_all(fd, bytes, len);
            reply r2 = read_reply(fd, false);
            if (status_of(&r2) != w->status || r2.closed)
                fail_msg("%s: the connection did not stay: %.200s", w->name, r2.data);
            free(r2.data);
        }
        if (w->status >= 400)
            assert_spec_refusal(w->name, r.data);
        free(r.data);
        close(fd);
        if (w->status < 400) {
            free(bytes);
            continue;
        }
        for (int mode = 0; mode < 2; mode++) {
            fd = dial();
            char *both = xmalloc(sizeof good_get - 1 + len);
            memcpy(both, good_get, sizeof good_get - 1);
            memcpy(both + sizeof good_get - 1, bytes, len);
            if (mode == 0) { /* pipelined: one write */
                send_all(fd, both, sizeof good_get - 1 + len);
            } else { /* the good request, its answer, then the row */
                send_all(fd, good_get, sizeof good_get - 1);
                reply first = read_reply(fd, false);
                if (status_of(&first) != 200 || first.closed)
                    fail_msg("%s (second request): the first was not kept: %.200s", w->name,
                             first.data);
                free(first.data);
                send_all(fd, bytes, len);
            }
            free(both);
            reply rr = read_reply(fd, true);
            const char *second = rr.data;
            if (mode == 0) {
                if (status_of(&rr) != 200)
                    fail_msg("%s (pipelined): the good request first: %.300s", w->name, rr.data);
                second = NULL;
                count_answers_at(rr.data, 1, &second);
            }
            if (!second || atoi(second + 9) != w->status)
                fail_msg("%s (second request, mode %d): expected %d, got: %.400s", w->name, mode,
                         w->status, rr.data);
            assert_spec_refusal(w->name, second);
            if (!rr.closed || count_answers(rr.data) != (mode == 0 ? 2 : 1))
                fail_msg("%s (second request, mode %d): not one answer then the end: %.400s",
                         w->name, mode, rr.data);
            free(rr.data);
            close(fd);
        }
        free(bytes);
    }
    assert_still_answers();
}

/* After any 4xx nothing pipelined behind it is answered: one response, then the end of the
 * stream (a smuggled second request never reaches a route). */
static void test_nothing_answered_behind_a_refusal(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "GET /no-such-route HTTP/1.1\r\nHost: t\r\n\r\nGET /healthz HTTP/1.1\r\nHost: t\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nHost: t\r\nX A: b\r\n\r\nGET /healthz HTTP/1.1\r\nHost: "
        "t\r\n\r\n",
        "POST /v1/rooms HTTP/1.1\r\nHost: t\r\nTransfer-Encoding : chunked\r\nContent-Length: "
        "40\r\n\r\n0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: t\r\n\r\n",
        "POST /v1/rooms HTTP/1.1\r\nHost: t\r\nContent-Length: 2000\r\n\r\n%s"
        "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *bytes = padded(bad[i], i == 3 ? 2000 : 0);
        int fd = dial();
        send_all(fd, bytes, strlen(bytes));
        free(bytes);
        reply r = read_reply(fd, true);
        assert_true(status_of(&r) >= 400 && status_of(&r) < 500);
        if (count(r.data, "HTTP/1.1 2") != 0)
            fail_msg("case %zu: a request behind the refusal was answered: %.400s", i, r.data);
        assert_true(r.closed);
        free(r.data);
        close(fd);
    }
}

/* Issue 21 item 3: a body 4× http.max_body is answered 413 in the SPEC shape, and the client
 * reads it (the body is read and dropped, so closing does not reset the answer away) — on every
 * one of 50 tries; the gateway still answers after. Content-Length and chunked. */
static void test_413_reaches_the_client_every_time(void **state)
{
    (void)state;
    size_t n = 4 * MAX_BODY;
    char *big = xmalloc(n);
    memset(big, 'x', n);
    for (int i = 0; i < 50; i++) {
        int fd = dial();
        char head[128];
        if (i % 2 == 0) {
            int hl = snprintf(head, sizeof head,
                              "POST /v1/rooms HTTP/1.1\r\nHost: t\r\nContent-Type: "
                              "application/json\r\nContent-Length: %zu\r\n\r\n",
                              n);
            send_all(fd, head, (size_t)hl);
            send_all(fd, big, n);
        } else {
            int hl = snprintf(head, sizeof head,
                              "POST /v1/rooms HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: "
                              "chunked\r\n\r\n%zx\r\n",
                              n);
            send_all(fd, head, (size_t)hl);
            send_all(fd, big, n);
            send_all(fd, "\r\n0\r\n\r\n", 7);
        }
        reply r = read_reply(fd, true);
        if (strncmp(r.data, "HTTP/1.1 413", 12) != 0)
            fail_msg("try %d: %.200s", i, r.len ? r.data : "(nothing read)");
        assert_non_null(strstr(r.data, "\"status\":\"RESOURCE_EXHAUSTED\""));
        assert_true(r.closed);
        free(r.data);
        close(fd);
    }
    free(big);
    assert_still_answers();
}

/* Slowloris: a head not finished within http.header_timeout of its request line gets 408 (SPEC
 * shape) and the connection closes; so does a connection without a whole request line within
 * http.idle_timeout (one that sends nothing, or trickles the line), and a body that stops coming
 * within http.body_timeout. */
static void test_slow_clients_get_408_and_close(void **state)
{
    (void)state;
    static const struct {
        const char *send, *why; /* what the client sends, which deadline answers */
    } cases[] = {
        {"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: 1\r\n", "request head not received"},
        {"", "no request within the idle timeout"},
        {"GET /heal", "no request within the idle timeout"},
        {"POST /v1/rooms HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n{\"a\":",
         "request body not received"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int fd = dial();
        send_all(fd, cases[i].send, strlen(cases[i].send));
        reply r = read_reply(fd, true);
        if (status_of(&r) != 408 || !strstr(r.data, cases[i].why))
            fail_msg("case %zu: %.300s", i, r.data);
        assert_non_null(strstr(r.data, "\"status\":\"DEADLINE_EXCEEDED\""));
        assert_true(r.closed);
        free(r.data);
        close(fd);
    }
    assert_still_answers();
}

/* The guard holds a head until it is whole: one sent a byte at a time (each its own TCP
 * segment) is answered like one sent at once — on every request of the connection, a refused
 * one included, and a chunked body cut everywhere too. */
static void test_byte_at_a_time(void **state)
{
    (void)state;
    static const char stream[] =
        "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
        "POST /v1/auth/refresh HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n2;e=1\r\n{}\r\n"
        "0\r\nX-T: 1\r\n\r\n"
        "GET /healthz HTTP/1.1\r\nHost: t\r\nX-A: b\r\n c\r\n\r\n";
    /* the second group's gateway has the default deadlines: this client is slow on purpose */
    int fd = dial();
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    /* the gateway refuses at the fold and closes while the rest is still coming: the lingering
     * read keeps that from resetting the answer away (the last sends may fail: not an error) */
    for (size_t i = 0; i < sizeof stream - 1; i++) {
        if (send(fd, stream + i, 1, MSG_NOSIGNAL) != 1)
            break;
        usleep(500);
    }
    reply r = read_reply(fd, true);
    const char *third = NULL;
    if (count_answers_at(r.data, 2, &third) != 3 || status_of(&r) != 200 || atoi(third + 9) != 400)
        fail_msg("byte at a time: %.600s", r.data);
    /* the POST was framed right: its answer is the second (503: this gateway has no auth service)
     */
    const char *second = NULL;
    count_answers_at(r.data, 1, &second);
    assert_int_equal(atoi(second + 9), 503);
    assert_spec_refusal("byte at a time", third);
    assert_true(r.closed);
    free(r.data);
    close(fd);
}

/* One gauge from the admin port's /metrics (-1 when absent). */
static double scrape(int admin_port, const char *name)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)admin_port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    const char req[] = "GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    send_all(fd, req, sizeof req - 1);
    reply r = read_reply(fd, true);
    close(fd);
    char *key = xasprintf("\n%s{", name);
    const char *p = strstr(r.data, key);
    double v = -1;
    if (p && (p = strstr(p, "} ")))
        v = strtod(p + 2, NULL);
    free(key);
    free(r.data);
    return v;
}

/* A GET on a new connection to port p, answered and kept open (its fd). */
static int kept_connection(int p)
{
    int save = port;
    port = p;
    int fd = dial();
    port = save;
    send_all(fd, good_get, sizeof good_get - 1);
    reply r = read_reply(fd, false);
    assert_int_equal(status_of(&r), 200);
    assert_false(r.closed);
    free(r.data);
    return fd;
}

/* http.max_connections_per_peer: past it a connection's request is answered 429 with
 * Retry-After in the SPEC shape and it closes (MHD's own per-IP limit closed silently); a slot
 * freed is usable again. The admin port's /metrics counts open connections and the refusal. */
static void test_peer_cap_answers_429_and_metrics_count(void **state)
{
    (void)state;
    int p2 = port;
    th_service *g2 = gwsvc;
    double refused_before = scrape(g2->admin_port, "confetti_http_refused_peer_cap_total");
    assert_true(refused_before >= 0);
    int held[PEER_CAP] = {kept_connection(p2), kept_connection(p2)};
    /* both counted (each had its answer): the gauge shows them */
    double open = scrape(g2->admin_port, "confetti_http_connections");
    assert_true(open >= 2);

    int save = port;
    port = p2;
    int fd = dial();
    port = save;
    send_all(fd, good_get, sizeof good_get - 1);
    reply r = read_reply(fd, true);
    if (status_of(&r) != 429)
        fail_msg("third connection from one address: %.300s", r.data);
    assert_non_null(strstr(r.data, "Retry-After: 1"));
    assert_non_null(strstr(r.data, "\"status\":\"RESOURCE_EXHAUSTED\""));
    assert_spec_refusal("per-peer cap", r.data);
    assert_true(r.closed);
    free(r.data);
    close(fd);
    assert_true(scrape(g2->admin_port, "confetti_http_refused_peer_cap_total") >=
                refused_before + 1);

    /* a slot freed (the server sees the close) is usable again; the gauge goes down */
    close(held[0]);
    int st = 0;
    for (int i = 0; i < 200 && st != 200; i++) {
        port = p2;
        int c = dial();
        port = save;
        send_all(c, good_get, sizeof good_get - 1);
        reply rr = read_reply(c, false);
        st = status_of(&rr);
        free(rr.data);
        close(c);
        if (st != 200)
            usleep(50000);
    }
    assert_int_equal(st, 200);
    close(held[1]);
    double now = open;
    for (int i = 0; i < 200 && now > open - 2; i++) {
        now = scrape(g2->admin_port, "confetti_http_connections");
        if (now > open - 2)
            usleep(50000);
    }
    assert_true(now <= open - 2);
    /* the byte-at-a-time test's refused request was counted */
    assert_true(scrape(g2->admin_port, "confetti_http_refused_framing_total") >= 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_framing_table),
        cmocka_unit_test(test_nothing_answered_behind_a_refusal),
        cmocka_unit_test(test_413_reaches_the_client_every_time),
        cmocka_unit_test(test_slow_clients_get_408_and_close),
    };
    /* on a second gateway: a byte-at-a-time client (first: its connection ends before the cap
     * test counts), the per-peer cap and the metrics */
    const struct CMUnitTest peer_tests[] = {
        cmocka_unit_test(test_byte_at_a_time),
        cmocka_unit_test(test_peer_cap_answers_429_and_metrics_count),
    };
    const struct CMUnitTest cap_tests[] = {
        cmocka_unit_test(test_connection_cap_answers_503_and_closes),
    };
    int failed = cmocka_run_group_tests(cap_tests, setup_conn_cap, teardown);
    failed += cmocka_run_group_tests(tests, setup, teardown);
    return failed + cmocka_run_group_tests(peer_tests, setup_peer_cap, teardown);
}
