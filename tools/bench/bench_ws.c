/* bench_ws.c — the WebSocket feed's fan-out (make bench): a real bus, rooms and draw in-process
 * on the private PostgreSQL, the gateway in-process, and N WebSocket clients (raw sockets, one
 * poll loop) subscribed to one room. One room event (a participant joins through
 * rooms.v1.Rooms/AddParticipant) → time until the first and the last client has it, measured
 * from the start of the RPC that makes the change (commit, outbox, relay, bus, feed, fan-out);
 * p50/p99 over repeats, for 1,000 clients and for 1 client (the baseline, same run). Then a
 * burst: events/s end to end through the feed to every client.
 *
 * First, memory (issue 17 item 3: <= 16 KiB per idle authenticated WebSocket): the process's
 * RSS (/proc/self/status: the gateway, with the bus and rooms idle beside it) before and after
 * BENCH_WS_IDLE (default 10,000) clients have upgraded with a token and subscribed to the room,
 * and after they have gone. The clients live in a forked child process, so their own buffers
 * and sockets are not counted; the bench raises RLIMIT_NOFILE to its hard limit (each side
 * holds one descriptor per socket). */
#include "bench.h"
#include "service.h"
#include "th_ident.h"
#include "tokens.h"
#include "gateway.h"
#include "ws.h"
#include "rooms.h"
#include "bus.h"
#include "testsvc.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/xmalloc.h"
#include "pbjson/pbjson.h"
#include "rooms/v1/rooms.pb-c.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern const ProtobufCServiceDescriptor *const confetti_services[];
extern char **environ;

#define MANY    1000
#define REPEATS 30
#define BURST   200

typedef struct client {
    int fd;
    char buf[65536];
    size_t len;
    long events; /* event messages received */
    int64_t at;  /* when the last counted one arrived */
} client;

static th_keys *keys;
static rpc_client *rooms_cli;
static char room[64];
static int port;
static int user_no;

static json_t *rooms_call(const char *method, const char *json, const char *token)
{
    const ProtobufCMethodDescriptor *md =
        protobuf_c_service_descriptor_get_method_by_name(&rooms__v1__rooms__descriptor, method);
    ProtobufCMessage *req = NULL;
    if (pbjson_from_string(md->input, json, strlen(json), NULL, &req, NULL) != CF_OK)
        abort();
    rpc_ccall cc;
    rpc_ccall_init(&cc, NULL);
    char *authz = xasprintf("Bearer %s", token);
    rpc_ccall_md(&cc, "authorization", authz);
    rpc_client_invoke(rooms_cli, &rooms__v1__rooms__descriptor,
                      (unsigned)(md - rooms__v1__rooms__descriptor.methods), req, &cc);
    json_t *out = cc.code == CF_OK ? pbjson_to_json(cc.response) : NULL;
    if (!out) {
        fprintf(stderr, "%s: %s %s\n", method, cf_code_name(cc.code), cc.message);
        exit(1);
    }
    rpc_ccall_free(&cc);
    protobuf_c_message_free_unpacked(req, NULL);
    free(authz);
    return out;
}

/* One event: a new user joins the room. */
static void make_event(void)
{
    char sub[32], body[128];
    snprintf(sub, sizeof sub, "bench-u%d", user_no++);
    char *tok = th_token(keys, sub, 3600, false);
    snprintf(body, sizeof body, "{\"roomId\":\"%s\"}", room);
    json_decref(rooms_call("AddParticipant", body, tok));
    free(tok);
}

static void send_text(int fd, const char *s)
{
    size_t n = strlen(s);
    uint8_t f[512];
    f[0] = 0x81;
    f[1] = (uint8_t)(0x80 | n); /* n < 126 */
    memset(f + 2, 0, 4);        /* a zero mask: payload as is */
    memcpy(f + 6, s, n);
    if (write(fd, f, n + 6) != (ssize_t)(n + 6))
        abort();
}

/* Reads what is there; counts event messages (answers pings). */
static void drain(client *c, int64_t now)
{
    ssize_t k = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
    if (k <= 0)
        return;
    c->len += (size_t)k;
    size_t off = 0;
    while (c->len - off >= 2) {
        size_t plen = c->buf[off + 1] & 0x7f, h = 2;
        if (plen == 126) {
            if (c->len - off < 4)
                break;
            plen = ((size_t)(uint8_t)c->buf[off + 2] << 8) | (uint8_t)c->buf[off + 3];
            h = 4;
        }
        if (c->len - off < h + plen)
            break;
        const char *p = c->buf + off + h;
        if (plen > 16 && memcmp(p, "{\"type\":\"event\"", 15) == 0) {
            c->events++;
            c->at = now;
        } else if (plen == 15 && memcmp(p, "{\"type\":\"ping\"}", 15) == 0) {
            send_text(c->fd, "{\"type\":\"pong\"}");
        }
        off += h + plen;
    }
    memmove(c->buf, c->buf + off, c->len - off);
    c->len -= off;
}

static void wait_for(client *cs, size_t n, struct pollfd *pf, long want, int64_t *first,
                     int64_t *last)
{
    int64_t deadline = cf_mono_ns() + 30000000000LL;
    *first = 0;
    size_t done = 0;
    for (size_t i = 0; i < n; i++)
        if (cs[i].events >= want)
            done++;
    while (done < n && cf_mono_ns() < deadline) {
        if (poll(pf, n, 100) <= 0)
            continue;
        int64_t now = cf_mono_ns();
        for (size_t i = 0; i < n; i++) {
            if (!(pf[i].revents & POLLIN))
                continue;
            bool before = cs[i].events >= want;
            drain(&cs[i], now);
            if (!before && cs[i].events >= want) {
                done++;
                if (!*first)
                    *first = now;
                *last = now;
            }
        }
    }
    if (done < n) {
        fprintf(stderr, "only %zu of %zu clients got event %ld\n", done, n, want);
        exit(1);
    }
}

static client *connect_clients(size_t n, const char *token, struct pollfd **pfo)
{
    client *cs = xcalloc(n, sizeof *cs);
    struct pollfd *pf = xcalloc(n, sizeof *pf);
    for (size_t i = 0; i < n; i++) {
        client *c = &cs[i];
        c->fd = socket(AF_INET, SOCK_STREAM, 0);
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0)
            abort();
        char *req =
            xasprintf("GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      "Sec-WebSocket-Version: 13\r\n"
                      "Sec-WebSocket-Protocol: confetti.v1, bearer.%s\r\n\r\n",
                      token);
        if (write(c->fd, req, strlen(req)) != (ssize_t)strlen(req))
            abort();
        free(req);
        /* the 101 head, then "ready" */
        char *end = NULL;
        while (!end) {
            ssize_t k = read(c->fd, c->buf + c->len, sizeof c->buf - c->len - 1);
            if (k <= 0)
                abort();
            c->len += (size_t)k;
            c->buf[c->len] = '\0';
            end = strstr(c->buf, "\r\n\r\n");
        }
        size_t head = (size_t)(end + 4 - c->buf);
        memmove(c->buf, c->buf + head, c->len - head);
        c->len -= head;
        char sub[128];
        snprintf(sub, sizeof sub, "{\"type\":\"subscribe\",\"roomId\":\"%s\"}", room);
        send_text(c->fd, sub);
        pf[i] = (struct pollfd){.fd = c->fd, .events = POLLIN};
    }
    /* every "subscribed" in: read until each client's buffer has seen it; a refusal (the
     * subscribe's GetRoom timed out on a loaded machine) is answered by subscribing again */
    char sub[128];
    snprintf(sub, sizeof sub, "{\"type\":\"subscribe\",\"roomId\":\"%s\"}", room);
    for (size_t i = 0; i < n; i++) {
        client *c = &cs[i];
        while (!memmem(c->buf, c->len, "\"subscribed\"", 12)) {
            if (memmem(c->buf, c->len, "\"type\":\"error\"", 14)) {
                c->len = 0;
                send_text(c->fd, sub);
                continue;
            }
            ssize_t k = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
            if (k <= 0)
                abort();
            c->len += (size_t)k;
        }
        c->len = 0;
    }
    *pfo = pf;
    return cs;
}

static void close_clients(client *cs, struct pollfd *pf, size_t n)
{
    for (size_t i = 0; i < n; i++)
        close(cs[i].fd);
    free(cs);
    free(pf);
}

/* A field of /proc/self/status in KiB ("VmRSS", "VmHWM"). */
static long status_kib(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t n = strlen(field);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, field, n) == 0 && line[n] == ':')
            v = atol(line + n + 1);
    if (f)
        fclose(f);
    return v;
}

static gw_ws_stats ws_stats;

/* Waits (30 s at most) until the gateway has `want` WebSocket connections open. */
static bool open_is(long want)
{
    for (int i = 0; i < 3000; i++) {
        if (atomic_load(&ws_stats.open) == want)
            return true;
        usleep(10000);
    }
    return false;
}

typedef struct idle_result {
    long before_kib, after_kib, closed_kib, hwm_kib;
    double heap_b; /* malloc'd bytes (mallinfo2: arena in use + mmap'd chunks) with them, added */
    double connect_s;
} idle_result;

/* n idle clients (upgraded with a token, subscribed to the room) opened by a forked child; the
 * RSS of this process before, with them, and after they closed. */
static idle_result idle_sockets(size_t n, const char *token)
{
    idle_result r = {0};
    r.before_kib = status_kib("VmRSS");
    struct mallinfo2 m0 = mallinfo2();
    int up[2], down[2];
    if (pipe(up) != 0 || pipe(down) != 0)
        abort();
    int64_t t0 = cf_mono_ns();
    pid_t pid = fork();
    if (pid < 0)
        abort();
    if (pid == 0) { /* the clients: plain syscalls and malloc only (this process has threads) */
        struct pollfd *pf;
        connect_clients(n, token, &pf);
        char c = 'R';
        if (write(up[1], &c, 1) != 1 || read(down[0], &c, 1) != 1)
            _exit(1);
        _exit(0); /* every socket closes with the process */
    }
    char c;
    if (read(up[0], &c, 1) != 1) {
        fprintf(stderr, "bench_ws: the idle clients did not connect\n");
        exit(1);
    }
    r.connect_s = (double)(cf_mono_ns() - t0) / 1e9;
    if (!open_is((long)n)) {
        fprintf(stderr, "bench_ws: %ld WebSockets open, not %zu\n", atomic_load(&ws_stats.open), n);
        exit(1);
    }
    usleep(500000); /* whatever the last subscribes started has finished */
    r.after_kib = status_kib("VmRSS");
    r.hwm_kib = status_kib("VmHWM");
    struct mallinfo2 m1 = mallinfo2();
    r.heap_b =
        ((double)m1.uordblks + (double)m1.hblkhd) - ((double)m0.uordblks + (double)m0.hblkhd);
    c = 'X';
    if (write(down[1], &c, 1) != 1)
        abort();
    int st;
    waitpid(pid, &st, 0);
    if (!open_is(0))
        fprintf(stderr, "bench_ws: %ld WebSockets still open\n", atomic_load(&ws_stats.open));
    usleep(2000000); /* the HTTP server's clean-up of the handed-over sockets */
    r.closed_kib = status_kib("VmRSS");
    close(up[0]), close(up[1]), close(down[0]), close(down[1]);
    return r;
}

static void fanout(size_t n, const char *token, double *first_p50, double *first_p99,
                   double *last_p50, double *last_p99)
{
    struct pollfd *pf;
    client *cs = connect_clients(n, token, &pf);
    int64_t first[REPEATS], last[REPEATS];
    for (long r = 0; r < REPEATS; r++) {
        int64_t t0 = cf_mono_ns();
        make_event();
        int64_t f, l;
        wait_for(cs, n, pf, r + 1, &f, &l);
        first[r] = f - t0;
        last[r] = l - t0;
    }
    th_percentiles(first, REPEATS, first_p50, first_p99);
    th_percentiles(last, REPEATS, last_p50, last_p99);
    close_clients(cs, pf, n);
}

int main(int argc, char **argv)
{
    (void)argc, (void)argv;
    log_setup("bench", LOG_WARN);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    keys = th_keys_new("RS256");
    authn_verifier *verifier = th_verifier_new(keys, NULL);
    char bus_pub[128], bus_sub[128];
    th_ipc_url(bus_pub, sizeof bus_pub, "bws-pub");
    th_ipc_url(bus_sub, sizeof bus_sub, "bws-sub");
    char *benv[] = {xasprintf("CONFETTI_BUS_PUBLISHERS=%s", bus_pub),
                    xasprintf("CONFETTI_BUS_SUBSCRIBERS=%s", bus_sub), NULL};
    th_service *bus = th_service_start(
        bus_service_def(), &(th_service_opts){.dsn = "n/a", .env = (const char *const *)benv});
    char *renv[] = {xasprintf("CONFETTI_EVENTS_BUS=%s", bus_pub), NULL};
    th_service *rooms = th_service_start(
        rooms_service_def(), &(th_service_opts){.keys = keys, .env = (const char *const *)renv});
    rooms_cli = rooms->client;

    gw_config cfg;
    cfg_schema schema = {gw_config_fields, gw_config_nfields, &cfg};
    char e[7][256];
    snprintf(e[0], 256, "CONFETTI_HTTP_LISTEN=http://127.0.0.1:%d", th_free_port());
    snprintf(e[1], 256, "CONFETTI_SERVICES_ROOMS=%s", rooms->url);
    snprintf(e[2], 256, "CONFETTI_EVENTS_SUBSCRIBE=%s", bus_sub);
    snprintf(e[3], 256, "CONFETTI_HTTP_ACCESS_LOG=false");
    const char *idle_env = getenv("BENCH_WS_IDLE");
    long idle = idle_env && *idle_env ? atol(idle_env) : 10000;
    /* the idle clients never answer pings: none is due while they are measured */
    snprintf(e[4], 256, "CONFETTI_WS_PING_INTERVAL=10m");
    /* ws.max_connections and http.max_connections (10,000 by default) with room for the
     * bench's other connections */
    snprintf(e[5], 256, "CONFETTI_WS_MAX_CONNECTIONS=%ld", idle + MANY + 16);
    snprintf(e[6], 256, "CONFETTI_HTTP_MAX_CONNECTIONS=%ld", idle + MANY + 16);
    /* 1,000 upgrades from one address at once: the bench's shape, not a client's (upgrades take
     * from the anonymous rate limit of their address) */
    const char *env[64] = {e[0],
                           e[1],
                           e[2],
                           e[3],
                           e[4],
                           e[5],
                           e[6],
                           "CONFETTI_AUTH_REVOKED_REFRESH=0",
                           "CONFETTI_RATELIMIT_RATE=0",
                           NULL};
    /* the gateway's other keys from the bench's own environment (CONFETTI_HTTP_MAX_HEADER=…) */
    size_t ne = 9;
    for (char **v = environ; *v && ne < 63; v++)
        if (strncmp(*v, "CONFETTI_", 9) == 0 && strncmp(*v, "CONFETTI_TEST_", 14) != 0)
            env[ne++] = *v;
    env[ne] = NULL;
    char err[512];
    if (cfg_load(&schema, 1, NULL, (char *const *)env, err, sizeof err) != CF_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    static const ProtobufCServiceDescriptor *const *const registries[] = {confetti_services, NULL};
    gw_backend_def b[4];
    gw_params p = {.cfg = &cfg,
                   .routes = gw_routes,
                   .nroutes = gw_nroutes,
                   .registries = registries,
                   .backends = b,
                   .nbackends = gw_default_backends(&cfg, b),
                   .verifier = verifier,
                   .ident = th_ident("gateway"),
                   .ws_stats = &ws_stats};
    gw *g;
    if (gw_new(&p, &g, err, sizeof err) != CF_OK || gw_start(g, err, sizeof err) != CF_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    port = gw_port(g);

    char *org = th_token(keys, "bench-org", 3600, false);
    json_t *j = rooms_call("CreateRoom", "{\"name\":\"Fan-out\",\"isPublic\":true}", org);
    snprintf(room, sizeof room, "%s", json_string_value(json_object_get(j, "roomId")));
    json_decref(j);
    usleep(300000); /* the creation's own events reach the feed before anyone subscribes */

    /* memory first, on a gateway that has served a few sockets (one-off allocations, threads'
     * stacks) and nothing else yet */
    idle_sockets(100, org);
    idle_result idle_r = idle_sockets((size_t)idle, org);

    double f50, f99, l50, l99, bf50, bf99, bl50, bl99;
    fanout(1, org, &bf50, &bf99, &bl50, &bl99);
    fanout(MANY, org, &f50, &f99, &l50, &l99);

    /* burst: BURST events written back to back, delivered to every client */
    struct pollfd *pf;
    client *cs = connect_clients(MANY, org, &pf);
    int64_t t0 = cf_mono_ns();
    for (int i = 0; i < BURST; i++)
        make_event();
    int64_t wrote = cf_mono_ns();
    int64_t f, l;
    wait_for(cs, MANY, pf, BURST, &f, &l);
    double secs = (double)(l - t0) / 1e9;
    close_clients(cs, pf, MANY);

    printf("### WebSocket feed fan-out (one room event → every subscriber; from the start of "
           "the AddParticipant RPC)\n\n");
    printf("| clients | first receives p50 / p99 | last receives p50 / p99 |\n|---|---|---|\n");
    printf("| 1 (baseline) | %.2f / %.2f ms | %.2f / %.2f ms |\n", bf50 / 1000, bf99 / 1000,
           bl50 / 1000, bl99 / 1000);
    printf("| %d | %.2f / %.2f ms | %.2f / %.2f ms |\n", MANY, f50 / 1000, f99 / 1000, l50 / 1000,
           l99 / 1000);
    printf("\nlast/first at %d clients (p50): %.1fx; last at %d vs 1 client (p50): %.1fx\n", MANY,
           l50 / f50, MANY, l50 / bl50);
    printf("burst: %d events written in %.0f ms (one synchronous writer), all %d clients had all "
           "of them after %.0f ms: %.0f events/s end to end, %.0f messages/s delivered\n",
           BURST, (double)(wrote - t0) / 1e6, MANY, secs * 1000, BURST / secs,
           BURST * (double)MANY / secs);

    double load[3] = {0};
    getloadavg(load, 3);
    long per_b = (idle_r.after_kib - idle_r.before_kib) * 1024 / (idle ? idle : 1);
    printf("\n### Memory per idle WebSocket (authenticated with a token, subscribed to one room; "
           "the clients in another process)\n\n");
    printf("| sockets | RSS before | RSS with them | per socket | after they closed | VmHWM | "
           "connect+subscribe |\n|---:|---:|---:|---:|---:|---:|---:|\n");
    printf("| %ld | %.1f MiB | %.1f MiB | %.1f KiB (target <= 16) | %.1f MiB | %.1f MiB | %.1f s "
           "(%.0f/s) |\n",
           idle, idle_r.before_kib / 1024.0, idle_r.after_kib / 1024.0, per_b / 1024.0,
           idle_r.closed_kib / 1024.0, idle_r.hwm_kib / 1024.0, idle_r.connect_s,
           (double)idle / idle_r.connect_s);
    printf("\nOf the growth, malloc'd (mallinfo2, in use): %.1f KiB per socket; the rest is "
           "outside malloc (libmicrohttpd's per-connection pools, mmap'd) and the heap's own "
           "slack.\n",
           idle_r.heap_b / 1024.0 / (double)(idle ? idle : 1));
    printf("\nOne process: the gateway with the bus and rooms (idle) beside it; load average "
           "%.2f, RLIMIT_NOFILE %ld.\n",
           load[0], (long)rl.rlim_cur);

    free(org);
    gw_free(g);
    cfg_free(&schema, 1);
    th_service_stop(rooms);
    th_service_free(bus);
    for (int i = 0; benv[i]; i++)
        free(benv[i]);
    free(renv[0]);
    authn_verifier_free(verifier);
    th_keys_free(keys);
    return 0;
}
