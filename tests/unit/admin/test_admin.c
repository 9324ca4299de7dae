/* test_admin.c — the admin HTTP port over real loopback sockets: probes, metrics page, status
 * codes for unknown paths and methods, draining, start errors, and clean stop. */
#include "th.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "admin/admin.h"
#include "promtext.h"

/* ---- a minimal real HTTP/1.1 client: one request per connection, read to EOF ---- */

typedef struct http_resp {
    int status;
    char head[4096]; /* status line and headers, NUL-terminated */
    char *body;      /* NUL-terminated */
    size_t body_len;
} http_resp;

static int dial(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        fail_msg("connect to port %d: %s", port, strerror(errno));
    return fd;
}

static void send_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        assert_true(w > 0);
        s += w;
        n -= (size_t)w;
    }
}

/* Sends `extra` verbatim after the request line and Host header (more headers, a body). */
static void http_do(int port, const char *method, const char *path, const char *extra, http_resp *r)
{
    int fd = dial(port);
    char req[1024];
    int n =
        snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n%s",
                 method, path, port, extra ? extra : "\r\n");
    send_all(fd, req, (size_t)n);

    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (len + 1 == cap)
            buf = realloc(buf, cap *= 2);
        ssize_t got = read(fd, buf + len, cap - len - 1);
        if (got < 0)
            fail_msg("read: %s (no EOF from the server)", strerror(errno));
        if (got == 0)
            break;
        len += (size_t)got;
    }
    close(fd);
    buf[len] = '\0';

    char *sep = strstr(buf, "\r\n\r\n");
    if (sep == NULL)
        fail_msg("no header end in response: %s", buf);
    size_t hl = (size_t)(sep - buf);
    assert_true(hl < sizeof r->head);
    memcpy(r->head, buf, hl);
    r->head[hl] = '\0';
    if (sscanf(buf, "HTTP/1.1 %d ", &r->status) != 1)
        fail_msg("bad status line: %s", r->head);
    r->body_len = len - hl - 4;
    r->body = malloc(r->body_len + 1);
    memcpy(r->body, sep + 4, r->body_len + 1);
    free(buf);
}

static void http_get(int port, const char *path, http_resp *r)
{
    http_do(port, "GET", path, NULL, r);
}

/* Value of header name (case-insensitive), copied into out; false if absent. */
static bool header(const http_resp *r, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    for (const char *l = strstr(r->head, "\r\n"); l != NULL; l = strstr(l + 2, "\r\n")) {
        const char *h = l + 2;
        if (strncasecmp(h, name, nl) == 0 && h[nl] == ':') {
            h += nl + 1;
            while (*h == ' ')
                h++;
            size_t vl = strcspn(h, "\r");
            if (vl >= cap)
                vl = cap - 1;
            memcpy(out, h, vl);
            out[vl] = '\0';
            return true;
        }
    }
    return false;
}

static void resp_free(http_resp *r)
{
    free(r->body);
    r->body = NULL;
}

/* ---- fixture: a server on a free loopback port with a flag-backed ready callback ---- */

typedef struct fixture {
    metrics *m;
    atomic_bool ready;
    admin_server *srv;
    int port;
} fixture;

static bool flag_ready(void *arg)
{
    return atomic_load(&((fixture *)arg)->ready);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->m = metrics_new("rooms");
    atomic_init(&f->ready, true);
    admin_config cfg = {
        .url = "http://127.0.0.1:0", .metrics = f->m, .ready = flag_ready, .ready_arg = f};
    char err[256] = "";
    cf_code rc = admin_start(&cfg, &f->srv, err, sizeof err);
    if (rc != CF_OK)
        fail_msg("admin_start: %s", err);
    f->port = admin_port(f->srv);
    assert_true(f->port > 0 && f->port < 65536);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    admin_stop(f->srv);
    metrics_free(f->m);
    free(f);
    return 0;
}

static void test_healthz_answers_ok(void **state)
{
    fixture *f = *state;
    http_resp r;
    http_get(f->port, "/healthz", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ok");
    resp_free(&r);
    /* a query string does not change the route */
    http_get(f->port, "/healthz?verbose=1", &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
}

static void test_readyz_follows_ready_callback(void **state)
{
    fixture *f = *state;
    http_resp r;
    http_get(f->port, "/readyz", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ready");
    resp_free(&r);

    atomic_store(&f->ready, false);
    http_get(f->port, "/readyz", &r);
    assert_int_equal(r.status, 503);
    assert_string_equal(r.body, "not ready");
    resp_free(&r);

    atomic_store(&f->ready, true);
    http_get(f->port, "/readyz", &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
}

static void test_readyz_red_while_draining(void **state)
{
    fixture *f = *state;
    http_resp r;
    admin_set_draining(f->srv, true);
    http_get(f->port, "/readyz", &r);
    assert_int_equal(r.status, 503);
    resp_free(&r);
    /* draining is not death: liveness stays green */
    http_get(f->port, "/healthz", &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    admin_set_draining(f->srv, false);
    http_get(f->port, "/readyz", &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
}

static void test_metrics_page_serves_observed_series(void **state)
{
    fixture *f = *state;
    metrics_observe(metrics_method_get(f->m, "rooms.v1.Rooms/GetRoom"), CF_NOT_FOUND, 300000);
    http_resp r;
    http_get(f->port, "/metrics", &r);
    assert_int_equal(r.status, 200);
    char ct[128];
    assert_true(header(&r, "Content-Type", ct, sizeof ct));
    assert_string_equal(ct, "text/plain; version=0.0.4; charset=utf-8");

    prom_page p;
    char err[256];
    if (!prom_parse(r.body, r.body_len, &p, err, sizeof err))
        fail_msg("/metrics does not parse: %s", err);
    double v;
    assert_true(prom_get(&p, "confetti_rpc_requests_total",
                         "service=\"rooms\",method=\"rooms.v1.Rooms/GetRoom\",code=\"NOT_FOUND\"",
                         &v));
    assert_true(v == 1);
    prom_page_free(&p);
    resp_free(&r);
}

static void test_head_has_no_body(void **state)
{
    fixture *f = *state;
    http_resp r;
    http_do(f->port, "HEAD", "/healthz", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, 0);
    char cl[32];
    assert_true(header(&r, "Content-Length", cl, sizeof cl));
    assert_string_equal(cl, "2");
    resp_free(&r);
}

static void test_unknown_path_is_404(void **state)
{
    fixture *f = *state;
    static const char *const paths[] = {"/", "/nope", "/healthz/x", "/metricsx", "/readyz/"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        http_resp r;
        http_get(f->port, paths[i], &r);
        if (r.status != 404)
            fail_msg("%s: status %d, want 404", paths[i], r.status);
        resp_free(&r);
    }
}

static void test_other_methods_are_405(void **state)
{
    fixture *f = *state;
    static const struct {
        const char *method, *path, *extra;
    } cases[] = {
        {"POST", "/healthz", "Content-Length: 0\r\n\r\n"},
        {"POST", "/metrics", "Content-Length: 5\r\n\r\nhello"},
        {"PUT", "/readyz", NULL},
        {"DELETE", "/metrics", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        http_resp r;
        http_do(f->port, cases[i].method, cases[i].path, cases[i].extra, &r);
        if (r.status != 405)
            fail_msg("%s %s: status %d, want 405", cases[i].method, cases[i].path, r.status);
        char allow[64];
        assert_true(header(&r, "Allow", allow, sizeof allow));
        assert_string_equal(allow, "GET, HEAD");
        resp_free(&r);
    }
}

static void test_start_rejects_bad_urls(void **state)
{
    (void)state;
    static const char *const urls[] = {"not a url", "tcp://127.0.0.1:0", "https://",
                                       "http://127.0.0.1:0/admin", NULL};
    for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
        admin_config cfg = {.url = urls[i]};
        admin_server *s = NULL;
        char err[256] = "";
        assert_code(CF_INVALID_ARGUMENT, admin_start(&cfg, &s, err, sizeof err));
        assert_null(s);
        assert_true(strlen(err) > 0);
    }
}

static void test_start_on_busy_port_is_unavailable(void **state)
{
    (void)state;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(fd, 1), 0);
    socklen_t sl = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &sl);

    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", ntohs(sa.sin_port));
    admin_config cfg = {.url = url};
    admin_server *s = NULL;
    char err[256] = "";
    assert_code(CF_UNAVAILABLE, admin_start(&cfg, &s, err, sizeof err));
    assert_null(s);
    close(fd);
}

static void test_second_server_on_same_address_is_unavailable(void **state)
{
    fixture *f = *state;
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", f->port);
    admin_config cfg = {.url = url};
    admin_server *s = NULL;
    char err[256] = "";
    assert_code(CF_UNAVAILABLE, admin_start(&cfg, &s, err, sizeof err));
    assert_null(s);
    /* the first one is unharmed */
    http_resp r;
    http_get(f->port, "/healthz", &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
}

/* Reads from fd until buf holds two complete responses; returns the bytes read. */
static size_t read_two_responses(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    for (;;) {
        ssize_t got = read(fd, buf + len, cap - len - 1);
        assert_true(got > 0);
        len += (size_t)got;
        buf[len] = '\0';
        const char *second = strstr(buf, "HTTP/1.1 200");
        if (second != NULL && strstr(second, "\r\n\r\nok") != NULL)
            return len;
    }
}

/* A POST with a body on a keep-alive connection gets its 405, and the connection stays in step
 * for the next request (the body was consumed, not parsed as a request). */
static void test_keepalive_survives_405_with_body(void **state)
{
    fixture *f = *state;
    int fd = dial(f->port);
    const char reqs[] = "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n"
                        "GET /x HTTP"
                        "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    send_all(fd, reqs, sizeof reqs - 1);
    char buf[4096];
    read_two_responses(fd, buf, sizeof buf);
    assert_true(strncmp(buf, "HTTP/1.1 405", 12) == 0);
    close(fd);
}

/* Two admin servers asking for port 0 in one process get two different ports. */
static void test_two_servers_on_port_zero(void **state)
{
    fixture *f = *state;
    admin_config cfg = {.url = "http://127.0.0.1:0"};
    admin_server *s = NULL;
    char err[256] = "";
    assert_code(CF_OK, admin_start(&cfg, &s, err, sizeof err));
    assert_int_not_equal(admin_port(s), f->port);
    http_resp r;
    http_get(admin_port(s), "/metrics", &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, 0); /* no registry configured */
    resp_free(&r);
    admin_stop(s);
    http_get(f->port, "/healthz", &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
}

/* Stop with an idle keep-alive connection open, many times over: must not hang or leak (ASan
 * checks the leaks), and the port must stop answering. */
static void test_stop_closes_and_frees(void **state)
{
    (void)state;
    for (int i = 0; i < 20; i++) {
        metrics *m = metrics_new("rooms");
        admin_config cfg = {.url = "http://127.0.0.1:0", .metrics = m};
        admin_server *s = NULL;
        char err[256] = "";
        assert_code(CF_OK, admin_start(&cfg, &s, err, sizeof err));
        int port = admin_port(s);
        int fd = dial(port);
        const char req[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
        send_all(fd, req, sizeof req - 1);
        char buf[256];
        assert_true(read(fd, buf, sizeof buf) > 0);

        admin_stop(s);
        metrics_free(m);
        /* the held connection is closed by the stop */
        ssize_t got;
        while ((got = read(fd, buf, sizeof buf)) > 0)
            ;
        assert_int_equal(got, 0);
        close(fd);

        int probe = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_not_equal(connect(probe, (struct sockaddr *)&sa, sizeof sa), 0);
        close(probe);
    }
    admin_stop(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_healthz_answers_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readyz_follows_ready_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readyz_red_while_draining, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metrics_page_serves_observed_series, setup, teardown),
        cmocka_unit_test_setup_teardown(test_head_has_no_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_path_is_404, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_methods_are_405, setup, teardown),
        cmocka_unit_test(test_start_rejects_bad_urls),
        cmocka_unit_test(test_start_on_busy_port_is_unavailable),
        cmocka_unit_test_setup_teardown(test_second_server_on_same_address_is_unavailable, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_keepalive_survives_405_with_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_servers_on_port_zero, setup, teardown),
        cmocka_unit_test(test_stop_closes_and_frees),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
