/* test_http_gate.c — the last step of the gateway's drain at the HTTP layer
 * (services/gateway/http.h, gw_http_close_gate): once the gate is closed, a request that begins
 * on a kept-alive connection reaches the application already refused (early_status 503
 * "shutting down"), so it is answered at once and never suspended; a request the application
 * held from before the gate keeps the server busy until it is answered; the stop then finds no
 * suspended connection (libmicrohttpd aborts the process when it does: a rehearsal's gateway
 * did, 2026-12-07, "MHD_stop_daemon() called while we have suspended connections"). */
#include "th.h"
#include "th_phase.h"
#include "http.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static gw_http_req *held; /* the /hold request the application keeps (suspended) */
static int held_count;

static void handler(gw_http_req *r, void *arg)
{
    (void)arg;
    if (r->early_status) {
        const char *why = r->early_why ? r->early_why : "";
        gw_http_respond(r, r->early_status, NULL, why, strlen(why), true);
        return;
    }
    if (strcmp(r->uri, "/hold") == 0) {
        pthread_mutex_lock(&mu);
        held = r;
        held_count++;
        pthread_mutex_unlock(&mu);
        return;
    }
    gw_http_respond(r, 200, NULL, "ok", 2, false);
}

static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    struct timeval tv = {.tv_sec = 15 * th_time_scale()};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

/* One whole answer (head + Content-Length body) into buf; its status, or 0 if the connection
 * ended or timed out first. */
static int answer_of(int fd, char *buf, size_t cap)
{
    size_t got = 0;
    buf[0] = '\0';
    for (;;) {
        char *end = strstr(buf, "\r\n\r\n");
        if (end) {
            const char *cl = strcasestr(buf, "\r\nContent-Length:");
            size_t want = (size_t)(end + 4 - buf) + (cl ? strtoul(cl + 17, NULL, 10) : 0);
            if (got >= want)
                return (int)strtol(buf + 9, NULL, 10);
        }
        ssize_t n = read(fd, buf + got, cap - 1 - got);
        if (n <= 0)
            return 0;
        got += (size_t)n;
        buf[got] = '\0';
    }
}

static void send_get(int fd, const char *path)
{
    char req[128];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
    assert_int_equal(write(fd, req, (size_t)n), n);
}

static void wait_busy(gw_http *h, size_t want)
{
    for (int i = 0; i < 3000 * th_time_scale() && gw_http_busy(h) != want; i++)
        usleep(1000);
    assert_int_equal(gw_http_busy(h), want);
}

static void after_the_gate_nothing_is_suspended(void **state)
{
    (void)state;
    gw_http_config c = {.url = "http://127.0.0.1:0",
                        .max_body = 1 << 20,
                        .max_drain = 1 << 20,
                        .max_uri = 8192,
                        .max_header = 65536,
                        .body_timeout_ms = 10000,
                        .header_timeout_ms = 10000,
                        .idle_timeout_ms = 75000,
                        .max_conns = 64,
                        .threads = 1,
                        .fn = handler};
    gw_http *h = NULL;
    char err[256], buf[4096];
    assert_int_equal(CF_OK, gw_http_start(&c, &h, err, sizeof err));
    int port = gw_http_port(h);

    /* a kept-alive connection, served once: idle when the gate closes */
    int kept = connect_to(port);
    send_get(kept, "/a");
    assert_int_equal(200, answer_of(kept, buf, sizeof buf));
    assert_null(strcasestr(buf, "Connection: close"));
    /* a request the application holds from before the gate */
    int before = connect_to(port);
    send_get(before, "/hold");
    for (int i = 0; i < 3000 * th_time_scale(); i++) {
        pthread_mutex_lock(&mu);
        int n = held_count;
        pthread_mutex_unlock(&mu);
        if (n == 1)
            break;
        usleep(1000);
    }
    wait_busy(h, 1);

    gw_http_close_gate(h);
    /* begun after the gate: refused at once with the drain's words, the connection closed, the
     * application never holds it (it would have been suspended at the stop) */
    send_get(kept, "/hold");
    assert_int_equal(503, answer_of(kept, buf, sizeof buf));
    assert_non_null(strstr(buf, "shutting down"));
    assert_non_null(strcasestr(buf, "Connection: close"));
    pthread_mutex_lock(&mu);
    assert_int_equal(held_count, 1);
    gw_http_req *r = held;
    held = NULL;
    pthread_mutex_unlock(&mu);
    close(kept);
    /* the one from before is still waited for, and answered as usual */
    wait_busy(h, 1);
    gw_http_respond(r, 200, NULL, "held", 4, false);
    assert_int_equal(200, answer_of(before, buf, sizeof buf));
    assert_non_null(strstr(buf, "held"));
    wait_busy(h, 0);
    close(before);
    gw_http_stop(h); /* no suspended connection: libmicrohttpd does not abort */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(after_the_gate_nothing_is_suspended),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
