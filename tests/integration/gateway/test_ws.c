/* test_ws.c — GET /v1/ws, the gateway's WebSocket feed, end to end: a real bus, rooms and draw
 * (in-process, private PostgreSQL) publishing their events, gateways in-process, and two
 * independent WebSocket clients: nng's own ws dialer, and a minimal client over a TCP socket
 * written here (it can offer any header, send broken frames, never read, and see close codes).
 * Rooms and draws are made through the gateway's HTTP API (libcurl). */
#include "th.h"
#include "service.h"
#include "th_ident.h"
#include "th_proc.h"
#include "tokens.h"
#include "testsvc.h"
#include "gateway.h"
#include "ws.h"
#include "rooms.h"
#include "draw.h"
#include "bus.h"
#include "base/xmalloc.h"
#include "base/clock.h"
#include "th_http.h"
#include "hop.h"
#include "events/relay.h"
#include "events/events.h"
#include "events/v1/events.pb-c.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <nng/nng.h>
#include <nng/supplemental/http/http.h>
#include <malloc.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern const ProtobufCServiceDescriptor *const confetti_services[];

/* How long a test waits for something that must come (a message, a close, a cache hit): an
 * upper bound only, generous for a loaded machine; a pass never waits for it. */
enum { WAIT_MS = 15000 };

static th_keys *keys;
static authn_verifier *verifier;
static th_service *bus, *rooms, *draw;
static metrics *mx;
static gw_ws_stats stats;
static gw_http_stats http_stats;
static char bus_pub[128], bus_sub[128];

typedef struct gwi {
    gw_config cfg;
    cfg_schema schema;
    gw *g;
    int port;
} gwi;
static gwi main_gw, small_gw; /* ws.ring 10000 / ws.ring 1 (resumes through Replay) */
/* follows a bus nobody publishes on: its cache is kept fresh only by its own writes (and by
 * the subscriber's catch-up from Replay, once a second) */
static gwi lonely_gw;
static metrics *mx_lonely;
/* ws.release_upgrade_buffer off (idle_authenticated_rss_is_small starts and stops it) */
static gwi keep_gw;
static gw_ws_stats keep_stats;
static gw_http_stats keep_http_stats;
static char bus_none[128];

/* ---------------------------------------------------------------- HTTP (curl) */

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
    char **b = arg;
    size_t old = *b ? strlen(*b) : 0;
    *b = xrealloc(*b, old + sz * n + 1);
    memcpy(*b + old, p, sz * n);
    (*b)[old + sz * n] = '\0';
    return sz * n;
}

/* Calls the main gateway; returns the JSON answer (caller frees), fails the test unless 200. */
static json_t *api(const char *method, const char *path, const char *token, const char *body)
{
    CURL *c = curl_easy_init();
    char url[512], auth[4096];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", main_gw.port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    struct curl_slist *hl = NULL;
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    hl = curl_slist_append(hl, auth);
    hl = curl_slist_append(hl, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
    char *out = NULL;
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    long st = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    if (st != 200)
        fail_msg("%s %s: %ld %s", method, path, st, out ? out : "");
    json_t *j = json_loads(out, 0, NULL);
    free(out);
    return j;
}

static void make_room(const char *org, bool public, bool activate, char room[64])
{
    char body[128], path[128];
    snprintf(body, sizeof body, "{\"name\":\"Feed\",\"isPublic\":%s}", public ? "true" : "false");
    json_t *j = api("POST", "/v1/rooms", org, body);
    snprintf(room, 64, "%s", json_string_value(json_object_get(j, "roomId")));
    json_decref(j);
    if (activate) {
        snprintf(path, sizeof path, "/v1/rooms/%s:activate", room);
        json_decref(api("POST", path, org, NULL));
    }
}

static void join(const char *room, const char *token)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/rooms/%s/participants", room);
    json_decref(api("POST", path, token, "{}"));
}

/* ---------------------------------------------------------------- a raw WebSocket client */

typedef struct wsc {
    int fd;
    uint8_t *buf;
    size_t len, cap;
    int close_code; /* from the close frame, 0 until one came */
} wsc;

/* Connects and upgrades; protocols NULL = no Sec-WebSocket-Protocol. Returns the HTTP status;
 * 101 leaves the client open. rcvbuf > 0 shrinks the socket's receive buffer first. */
static int wsc_open(wsc *c, int port, const char *protocols, int rcvbuf)
{
    memset(c, 0, sizeof *c);
    c->cap = 1 << 20;
    c->buf = xmalloc(c->cap);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (rcvbuf > 0)
        setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        fail_msg("connect: %m");
    char req[8192];
    int n = snprintf(req, sizeof req,
                     "GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n%s%s%s\r\n",
                     protocols ? "Sec-WebSocket-Protocol: " : "", protocols ? protocols : "",
                     protocols ? "\r\n" : "");
    assert_int_equal(send(c->fd, req, (size_t)n, MSG_NOSIGNAL), n);
    /* the response head */
    for (;;) {
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        if (poll(&p, 1, WAIT_MS) != 1)
            fail_msg("no upgrade answer");
        ssize_t k = read(c->fd, c->buf + c->len, c->cap - c->len - 1);
        if (k <= 0)
            fail_msg("connection closed during the upgrade");
        c->len += (size_t)k;
        c->buf[c->len] = '\0';
        char *end = strstr((char *)c->buf, "\r\n\r\n");
        if (!end)
            continue;
        int status = atoi((char *)c->buf + 9);
        if (status == 101) {
            assert_non_null(strstr((char *)c->buf, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
            assert_non_null(strstr((char *)c->buf, "Sec-WebSocket-Protocol: confetti.v1\r\n"));
        }
        size_t head = (size_t)(end + 4 - (char *)c->buf);
        memmove(c->buf, c->buf + head, c->len - head);
        c->len -= head;
        return status;
    }
}

static void wsc_close(wsc *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    free(c->buf);
    c->buf = NULL;
}

/* Sends one masked frame (fin set). */
static void wsc_send(wsc *c, int opcode, const void *data, size_t len)
{
    uint8_t *f = xmalloc(len + 14);
    size_t h = 2;
    f[0] = (uint8_t)(0x80 | opcode);
    if (len < 126) {
        f[1] = (uint8_t)(0x80 | len);
    } else if (len < 65536) {
        f[1] = 0x80 | 126;
        f[2] = (uint8_t)(len >> 8);
        f[3] = (uint8_t)len;
        h = 4;
    } else {
        f[1] = 0x80 | 127;
        for (int i = 0; i < 8; i++)
            f[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
        h = 10;
    }
    uint8_t mask[4] = {0x12, 0x34, 0x56, 0x78};
    memcpy(f + h, mask, 4);
    h += 4;
    for (size_t i = 0; i < len; i++)
        f[h + i] = ((const uint8_t *)data)[i] ^ mask[i & 3];
    size_t off = 0;
    while (off < h + len) {
        ssize_t k = send(c->fd, f + off, h + len - off, MSG_NOSIGNAL);
        if (k <= 0)
            break; /* the server may have closed: the test looks at what it said */
        off += (size_t)k;
    }
    free(f);
}

static void wsc_text(wsc *c, const char *s)
{
    wsc_send(c, 0x1, s, strlen(s));
}

/* The next message: a JSON object for a text frame, {"_close":code} for a close frame, NULL on
 * timeout or EOF. */
static json_t *wsc_next(wsc *c, int timeout_ms)
{
    int64_t end = cf_mono_ns() / 1000000 + timeout_ms;
    for (;;) {
        if (c->len >= 2) {
            size_t plen = c->buf[1] & 0x7f, h = 2;
            if (plen == 126 && c->len >= 4) {
                plen = ((size_t)c->buf[2] << 8) | c->buf[3];
                h = 4;
            } else if (plen == 127 && c->len >= 10) {
                plen = 0;
                for (int i = 0; i < 8; i++)
                    plen = (plen << 8) | c->buf[2 + i];
                h = 10;
            }
            if (plen < 126 || h > 2) {
                if (c->buf[1] & 0x80)
                    fail_msg("the server masked a frame");
                if (c->len >= h + plen) {
                    int op = c->buf[0] & 0x0f;
                    json_t *j = NULL;
                    if (op == 0x1)
                        j = json_loadb((char *)c->buf + h, plen, 0, NULL);
                    else if (op == 0x8)
                        j = json_pack("{s:i}", "_close",
                                      plen >= 2 ? (c->buf[h] << 8) | c->buf[h + 1] : 1005);
                    memmove(c->buf, c->buf + h + plen, c->len - h - plen);
                    c->len -= h + plen;
                    if (op == 0x8)
                        c->close_code = (int)json_integer_value(json_object_get(j, "_close"));
                    if (j)
                        return j;
                    continue; /* pong etc. */
                }
            }
        }
        int left = (int)(end - cf_mono_ns() / 1000000);
        if (left <= 0)
            return NULL;
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        if (poll(&p, 1, left) != 1)
            return NULL;
        ssize_t k = read(c->fd, c->buf + c->len, c->cap - c->len);
        if (k <= 0)
            return NULL;
        c->len += (size_t)k;
    }
}

/* Reads until a message of `type` (server pings are answered); fails after timeout. */
static json_t *wsc_expect(wsc *c, const char *type, int timeout_ms)
{
    for (;;) {
        json_t *j = wsc_next(c, timeout_ms);
        if (!j)
            fail_msg("no \"%s\" message within %d ms", type, timeout_ms);
        const char *t = json_string_value(json_object_get(j, "type"));
        if (t && strcmp(t, type) == 0)
            return j;
        if (t && strcmp(t, "ping") == 0) {
            wsc_text(c, "{\"type\":\"pong\"}");
        } else if (t && strcmp(t, "notice") == 0) {
            /* a notice to the user (a draw another test made them win): not what is awaited */
        } else if (!(t && strcmp(type, "event") != 0 && strcmp(t, "event") == 0)) {
            char *s = json_dumps(j, 0);
            json_decref(j);
            fail_msg("expected \"%s\", got %s", type, s);
        }
        json_decref(j);
    }
}

/* Expects {"type":"close","code":code} then a close frame with the same code. */
static void wsc_expect_close(wsc *c, int code, int timeout_ms)
{
    json_t *j = wsc_expect(c, "close", timeout_ms);
    assert_int_equal(json_integer_value(json_object_get(j, "code")), code);
    json_decref(j);
    j = wsc_next(c, timeout_ms);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "_close")), code);
    json_decref(j);
}

static void wsc_auth(wsc *c, const char *token, const char *user)
{
    char m[4096];
    snprintf(m, sizeof m, "{\"type\":\"auth\",\"token\":\"%s\"}", token);
    wsc_text(c, m);
    json_t *j = wsc_expect(c, "ready", WAIT_MS);
    assert_string_equal(json_string_value(json_object_get(j, "userId")), user);
    json_decref(j);
}

/* Subscribes; returns the "subscribed" message (events before it are appended to *replayed
 * when given). */
static json_t *wsc_subscribe(wsc *c, const char *room, const char *resume, json_t *replayed)
{
    char m[512];
    snprintf(m, sizeof m, "{\"type\":\"subscribe\",\"roomId\":\"%s\"%s%s}", room,
             resume ? ",\"resume\":" : "", resume ? resume : "");
    wsc_text(c, m);
    for (;;) {
        json_t *j = wsc_next(c, WAIT_MS);
        if (!j)
            fail_msg("no answer to subscribe");
        const char *t = json_string_value(json_object_get(j, "type"));
        if (t && strcmp(t, "event") == 0 && replayed) {
            json_array_append_new(replayed, j);
            continue;
        }
        if (t && strcmp(t, "ping") == 0) { /* the server's keepalive (a slow run meets one) */
            wsc_text(c, "{\"type\":\"pong\"}");
            json_decref(j);
            continue;
        }
        if (t && strcmp(t, "notice") == 0) { /* to the user, not the answer */
            json_decref(j);
            continue;
        }
        return j;
    }
}

/* Sends a subscribe that resumes rooms' events after position `after` (the answer is the
 * caller's to read: replayed events, subscribed, or a close). */
static void wsc_resume_rooms(wsc *c, const char *room, long long after)
{
    char m[256];
    snprintf(m, sizeof m,
             "{\"type\":\"subscribe\",\"roomId\":\"%s\",\"resume\":{\"rooms\":\"%lld\"}}", room,
             after);
    wsc_text(c, m);
}

/* The event's body key ("participantJoined") and its seq. */
static const char *ev_kind(json_t *m)
{
    static const char *kinds[] = {
        "participantJoined",      "participantLeft", "winnerDrawn", "winnerRevoked",
        "roomStatusChanged",      "prizeCreated",    "roomUpdated", "roomCreated",
        "participantRoleChanged", "roomDeleted"};
    json_t *e = json_object_get(m, "event");
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
        if (json_object_get(e, kinds[i]))
            return kinds[i];
    return "";
}

/* Waits for the next event of kind (skipping others of the room) and returns it. */
static json_t *wsc_event(wsc *c, const char *kind, int timeout_ms)
{
    int others = 0;
    char last[64] = "none";
    for (;;) {
        json_t *j = wsc_next(c, timeout_ms);
        if (!j) /* which event, and what came instead (a stress run once saw one not come) */
            fail_msg("no \"%s\" event within %d ms (%d other messages before, the last: %s)", kind,
                     timeout_ms, others, last);
        const char *t = json_string_value(json_object_get(j, "type"));
        if (t && (strcmp(t, "ping") == 0 || strcmp(t, "notice") == 0)) {
            if (strcmp(t, "ping") == 0)
                wsc_text(c, "{\"type\":\"pong\"}");
            json_decref(j); /* a notice to the user is no room event */
            continue;
        }
        if (!t || strcmp(t, "event") != 0) {
            char *txt = json_dumps(j, 0);
            json_decref(j);
            fail_msg("expected a \"%s\" event, got %s", kind, txt);
        }
        if (strcmp(ev_kind(j), kind) == 0)
            return j;
        snprintf(last, sizeof last, "%s %s", t ? t : "?",
                 t && strcmp(t, "event") == 0 ? ev_kind(j) : "");
        others++;
        json_decref(j);
    }
}

/* Waits for the participantJoined event of user (other events of the room are skipped: e.g.
 * the organizer's own join at creation may reach the feed after the subscribe). */
static json_t *wsc_joined(wsc *c, const char *user)
{
    for (;;) {
        json_t *j = wsc_event(c, "participantJoined", WAIT_MS);
        const char *u = json_string_value(json_object_get(
            json_object_get(json_object_get(j, "event"), "participantJoined"), "userId"));
        if (u && strcmp(u, user) == 0)
            return j;
        json_decref(j);
    }
}

/* ---------------------------------------------------------------- setup */

static void start_gw(gwi *x, const char *subscribe, const char *const *extra)
{
    const char *env[16];
    char e[6][256];
    size_t n = 0;
    snprintf(e[0], 256, "CONFETTI_HTTP_LISTEN=http://127.0.0.1:%d", th_free_port());
    snprintf(e[1], 256, "CONFETTI_SERVICES_ROOMS=%s", rooms->url);
    snprintf(e[2], 256, "CONFETTI_SERVICES_DRAW=%s", draw->url);
    snprintf(e[3], 256, "CONFETTI_EVENTS_SUBSCRIBE=%s", subscribe);
    snprintf(e[4], 256, "CONFETTI_RATELIMIT_RATE=0");
    snprintf(e[5], 256, "CONFETTI_AUTH_REVOKED_REFRESH=0");
    bool own_rooms = false; /* extra may name rooms' address (a key given twice is an error) */
    for (size_t i = 0; extra && extra[i]; i++)
        own_rooms |= strncmp(extra[i], "CONFETTI_SERVICES_ROOMS=", 24) == 0;
    for (size_t i = 0; i < 6; i++)
        if (i != 1 || !own_rooms)
            env[n++] = e[i];
    for (size_t i = 0; extra && extra[i]; i++)
        env[n++] = extra[i];
    env[n] = NULL;
    static const ProtobufCServiceDescriptor *const *const registries[] = {confetti_services, NULL};
    x->schema = (cfg_schema){gw_config_fields, gw_config_nfields, &x->cfg};
    char err[512];
    if (cfg_load(&x->schema, 1, NULL, (char *const *)env, err, sizeof err) != CF_OK)
        fail_msg("%s", err);
    gw_backend_def b[4];
    gw_params p = {.cfg = &x->cfg,
                   .routes = gw_routes,
                   .nroutes = gw_nroutes,
                   .registries = registries,
                   .backends = b,
                   .nbackends = gw_default_backends(&x->cfg, b),
                   .verifier = verifier,
                   .ident = th_ident("gateway"),
                   .metrics = x == &main_gw     ? mx
                              : x == &lonely_gw ? mx_lonely
                                                : NULL,
                   .ws_stats = x == &main_gw   ? &stats
                               : x == &keep_gw ? &keep_stats
                                               : NULL,
                   .http_stats = x == &main_gw   ? &http_stats
                                 : x == &keep_gw ? &keep_http_stats
                                                 : NULL};
    if (gw_new(&p, &x->g, err, sizeof err) != CF_OK || gw_start(x->g, err, sizeof err) != CF_OK)
        fail_msg("%s", err);
    x->port = gw_port(x->g);
}

static void stop_gw(gwi *x)
{
    gw_free(x->g);
    x->g = NULL;
    cfg_free(&x->schema, 1);
}

static int setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_ALL);
    keys = th_keys_new("ES256");
    verifier = th_verifier_new(keys, NULL);
    th_ipc_url(bus_pub, sizeof bus_pub, "ws-bus-pub");
    th_ipc_url(bus_sub, sizeof bus_sub, "ws-bus-sub");
    char *benv[] = {xasprintf("CONFETTI_BUS_PUBLISHERS=%s", bus_pub),
                    xasprintf("CONFETTI_BUS_SUBSCRIBERS=%s", bus_sub), NULL};
    bus = th_service_start(bus_service_def(),
                           &(th_service_opts){.dsn = "n/a", .env = (const char *const *)benv});
    char *renv[] = {xasprintf("CONFETTI_EVENTS_BUS=%s", bus_pub),
                    xasprintf("CONFETTI_EVENTS_POLL=20ms"), NULL};
    rooms = th_service_start(rooms_service_def(),
                             &(th_service_opts){.keys = keys, .env = (const char *const *)renv});
    char *denv[] = {xasprintf("CONFETTI_EVENTS_BUS=%s", bus_pub),
                    xasprintf("CONFETTI_EVENTS_POLL=20ms"),
                    xasprintf("CONFETTI_ROOMS_URLS=%s", rooms->url), NULL};
    draw = th_service_start(draw_service_def(),
                            &(th_service_opts){.keys = keys, .env = (const char *const *)denv});
    for (int i = 0; benv[i]; i++)
        free(benv[i]);
    for (int i = 0; renv[i]; i++)
        free(renv[i]);
    for (int i = 0; denv[i]; i++)
        free(denv[i]);
    mx = metrics_new("gateway");
    gw_ws_stats_register(mx, &stats);
    const char *small[] = {"CONFETTI_WS_RING=1", "CONFETTI_WS_AUTH_TIMEOUT=3s",
                           "CONFETTI_WS_SEND_QUEUE=8", "CONFETTI_WS_MAX_MESSAGE=4KiB", NULL};
    const char *long_cache[] = {"CONFETTI_CACHE_TTL=60s", NULL}; /* only events keep it fresh */
    start_gw(&main_gw, bus_sub, long_cache);
    for (int i = 0; i < 600 && !gw_ready(main_gw.g); i++)
        usleep(50000); /* the services' first database probe */
    assert_true(gw_ready(main_gw.g));
    start_gw(&small_gw, bus_sub, small);
    mx_lonely = metrics_new("gateway");
    th_ipc_url(bus_none, sizeof bus_none, "ws-bus-none");
    start_gw(&lonely_gw, bus_none, long_cache);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (small_gw.g)
        stop_gw(&small_gw);
    stop_gw(&lonely_gw);
    stop_gw(&main_gw);
    th_service_stop(draw);
    th_service_stop(rooms);
    th_service_free(bus);
    metrics_free(mx);
    metrics_free(mx_lonely);
    authn_verifier_free(verifier);
    th_keys_free(keys);
    curl_global_cleanup();
    return 0;
}

/* ---------------------------------------------------------------- tests */

/* No token: 4001 after ws.auth_timeout; a message before auth: 4001 at once; a bad token:
 * 4001; no confetti.v1 subprotocol: HTTP 400 (no upgrade). */
static void auth_refused(void **state)
{
    (void)state;
    wsc c;
    assert_int_equal(wsc_open(&c, small_gw.port, NULL, 0), 400);
    wsc_close(&c);
    assert_int_equal(wsc_open(&c, small_gw.port, "chat", 0), 400);
    wsc_close(&c);

    int64_t t0 = cf_mono_ns();
    assert_int_equal(wsc_open(&c, small_gw.port, "confetti.v1", 0), 101);
    wsc_expect_close(&c, GW_WS_UNAUTHENTICATED, WAIT_MS);
    /* ws.auth_timeout = 3s on small_gw: long enough that the other tests using small_gw
     * authenticate within it on a starved machine (a stress run saw 300 ms missed) */
    assert_true(cf_mono_ns() - t0 >= 2900 * 1000000LL);
    wsc_close(&c);

    assert_int_equal(wsc_open(&c, main_gw.port, "confetti.v1", 0), 101);
    wsc_text(&c, "{\"type\":\"subscribe\",\"roomId\":\"x\"}");
    wsc_expect_close(&c, GW_WS_UNAUTHENTICATED, WAIT_MS);
    wsc_close(&c);

    assert_int_equal(wsc_open(&c, main_gw.port, "confetti.v1", 0), 101);
    wsc_text(&c, "{\"type\":\"auth\",\"token\":\"not.a.jwt\"}");
    wsc_expect_close(&c, GW_WS_UNAUTHENTICATED, WAIT_MS);
    wsc_close(&c);

    /* a token in the subprotocol that does not verify: 4001 too */
    assert_int_equal(wsc_open(&c, main_gw.port, "confetti.v1, bearer.abc", 0), 101);
    wsc_expect_close(&c, GW_WS_UNAUTHENTICATED, WAIT_MS);
    wsc_close(&c);
}

/* A connection ends when its token does (4001, within a timer tick, long before the next ping
 * at 20 s), unless the client sent a fresh token before. */
static void token_expiry_closes(void **state)
{
    (void)state;
    char *short_tok = th_token(keys, "ws-expiring", 2, false);
    char *long_tok = th_token(keys, "ws-expiring", 600, false);
    wsc c;
    assert_int_equal(wsc_open(&c, main_gw.port, "confetti.v1", 0), 101);
    wsc_auth(&c, short_tok, "ws-expiring");
    wsc_expect_close(&c, GW_WS_UNAUTHENTICATED, WAIT_MS);
    wsc_close(&c);

    assert_int_equal(wsc_open(&c, main_gw.port, "confetti.v1", 0), 101);
    wsc_auth(&c, short_tok, "ws-expiring");
    wsc_auth(&c, long_tok, "ws-expiring"); /* renewed before it expires */
    usleep(3500 * 1000);
    wsc_text(&c, "{\"type\":\"ping\"}");
    json_decref(wsc_expect(&c, "pong", WAIT_MS));
    wsc_close(&c);
    free(short_tok);
    free(long_tok);
}

/* The token by subprotocol (raw client and nng's ws dialer) and by first message. */
static void auth_ok(void **state)
{
    (void)state;
    char *tok = th_token(keys, "ws-alice", 600, false);
    wsc c;
    char proto[4096];
    snprintf(proto, sizeof proto, "confetti.v1, bearer.%s", tok);
    assert_int_equal(wsc_open(&c, main_gw.port, proto, 0), 101);
    json_t *j = wsc_expect(&c, "ready", WAIT_MS);
    assert_string_equal(json_string_value(json_object_get(j, "userId")), "ws-alice");
    json_decref(j);
    wsc_text(&c, "{\"type\":\"ping\"}");
    json_decref(wsc_expect(&c, "pong", WAIT_MS));
    wsc_close(&c);

    assert_int_equal(wsc_open(&c, main_gw.port, "confetti.v1", 0), 101);
    wsc_auth(&c, tok, "ws-alice");
    wsc_close(&c);

    /* nng's own WebSocket client (an independent implementation of the framing) */
    char url[128];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/v1/ws", main_gw.port);
    nng_stream_dialer *d;
    assert_int_equal(nng_stream_dialer_alloc(&d, url), 0);
    assert_int_equal(nng_stream_dialer_set_string(d, NNG_OPT_WS_PROTOCOL, proto), 0);
    assert_int_equal(nng_stream_dialer_set_bool(d, NNG_OPT_WS_SEND_TEXT, true), 0);
    assert_int_equal(nng_stream_dialer_set_bool(d, NNG_OPT_WS_RECV_TEXT, true), 0);
    nng_aio *aio;
    assert_int_equal(nng_aio_alloc(&aio, NULL, NULL), 0);
    nng_aio_set_timeout(aio, WAIT_MS);
    nng_stream_dialer_dial(d, aio);
    nng_aio_wait(aio);
    assert_int_equal(nng_aio_result(aio), 0);
    nng_stream *s = nng_aio_get_output(aio, 0);
    char buf[512];
    nng_iov iov = {.iov_buf = buf, .iov_len = sizeof buf - 1};
    nng_aio_set_iov(aio, 1, &iov);
    nng_stream_recv(s, aio);
    nng_aio_wait(aio);
    assert_int_equal(nng_aio_result(aio), 0);
    buf[nng_aio_count(aio)] = '\0';
    j = json_loads(buf, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "type")), "ready");
    json_decref(j);
    const char *ping = "{\"type\":\"ping\"}";
    nng_iov siov = {.iov_buf = (void *)ping, .iov_len = strlen(ping)};
    nng_aio_set_iov(aio, 1, &siov);
    nng_stream_send(s, aio);
    nng_aio_wait(aio);
    assert_int_equal(nng_aio_result(aio), 0);
    nng_aio_set_iov(aio, 1, &iov);
    nng_stream_recv(s, aio);
    nng_aio_wait(aio);
    assert_int_equal(nng_aio_result(aio), 0);
    buf[nng_aio_count(aio)] = '\0';
    assert_string_equal(buf, "{\"type\":\"pong\"}");
    nng_stream_free(s);
    nng_stream_dialer_free(d);
    nng_aio_free(aio);
    free(tok);
}

/* SPEC §3 role table, "see a private room": a non-member gets NOT_FOUND, never a hint it
 * exists — exactly like a room that does not exist; its member subscribes. */
static void private_room(void **state)
{
    (void)state;
    char *org = th_token(keys, "ws-org-p", 600, false);
    char *bob = th_token(keys, "ws-bob-p", 600, false);
    char room[64];
    make_room(org, false, true, room);
    wsc c;
    assert_int_equal(wsc_open(&c, main_gw.port, "confetti.v1", 0), 101);
    wsc_auth(&c, bob, "ws-bob-p");
    json_t *j = wsc_subscribe(&c, room, NULL, NULL);
    assert_string_equal(json_string_value(json_object_get(j, "type")), "error");
    assert_string_equal(json_string_value(json_object_get(j, "code")), "NOT_FOUND");
    assert_string_equal(json_string_value(json_object_get(j, "roomId")), room);
    json_decref(j);
    j = wsc_subscribe(&c, "c00000000000000000000none", NULL, NULL);
    assert_string_equal(json_string_value(json_object_get(j, "code")), "NOT_FOUND");
    json_decref(j);
    wsc_close(&c);

    assert_int_equal(wsc_open(&c, main_gw.port, "confetti.v1", 0), 101);
    wsc_auth(&c, org, "ws-org-p");
    j = wsc_subscribe(&c, room, NULL, NULL);
    assert_string_equal(json_string_value(json_object_get(j, "type")), "subscribed");
    assert_non_null(json_object_get(json_object_get(j, "positions"), "rooms"));
    json_decref(j);
    wsc_close(&c);
    free(org);
    free(bob);
}

/* SPEC §6 GET /v1/ws ("subscribe to rooms, receive their events as JSON") with §5's events:
 * a member receives the room's events as proto3 JSON: a join, then a draw's winnerDrawn. */
static void member_receives_events(void **state)
{
    (void)state;
    char *org = th_token(keys, "ws-org-e", 600, false);
    char *bob = th_token(keys, "ws-bob-e", 600, false);
    char room[64], path[128], body[256];
    make_room(org, true, true, room);
    wsc c;
    assert_int_equal(wsc_open(&c, main_gw.port, "confetti.v1", 0), 101);
    wsc_auth(&c, bob, "ws-bob-e");
    json_t *j = wsc_subscribe(&c, room, NULL, NULL);
    assert_string_equal(json_string_value(json_object_get(j, "type")), "subscribed");
    json_decref(j);

    join(room, bob);
    j = wsc_joined(&c, "ws-bob-e");
    json_t *e = json_object_get(j, "event");
    assert_string_equal(json_string_value(json_object_get(e, "source")), "rooms");
    assert_string_equal(json_string_value(json_object_get(e, "roomId")), room);
    assert_true(json_is_string(json_object_get(e, "seq"))); /* int64 as a string */
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(e, "participantJoined"), "userId")),
        "ws-bob-e");
    json_decref(j);

    snprintf(path, sizeof path, "/v1/rooms/%s/prizes", room);
    json_t *pz = api("POST", path, org, "{\"name\":\"Bike\",\"quantity\":1}");
    snprintf(body, sizeof body, "{\"prizeId\":\"%s\",\"count\":1}",
             json_string_value(json_object_get(pz, "prizeId")));
    json_decref(pz);
    j = wsc_event(&c, "prizeCreated", WAIT_MS);
    json_decref(j);
    snprintf(path, sizeof path, "/v1/rooms/%s/draws", room);
    json_decref(api("POST", path, org, body));
    j = wsc_event(&c, "winnerDrawn", WAIT_MS);
    e = json_object_get(j, "event");
    assert_string_equal(json_string_value(json_object_get(e, "source")), "draw");
    json_t *w = json_array_get(json_object_get(json_object_get(e, "winnerDrawn"), "winners"), 0);
    assert_string_equal(json_string_value(json_object_get(w, "userId")), "ws-bob-e");
    json_decref(j);

    /* unsubscribe: acknowledged, and nothing more of the room arrives */
    snprintf(body, sizeof body, "{\"type\":\"unsubscribe\",\"roomId\":\"%s\"}", room);
    wsc_text(&c, body);
    json_decref(wsc_expect(&c, "unsubscribed", WAIT_MS));
    char *carol = th_token(keys, "ws-carol-e", 600, false);
    join(room, carol);
    wsc_text(&c, "{\"type\":\"ping\"}");
    json_decref(wsc_expect(&c, "pong", WAIT_MS)); /* fails if an event came first */
    wsc_close(&c);
    free(carol);
    free(org);
    free(bob);
}

/* Resume after a disconnect: the events that happened meanwhile arrive once each, in order,
 * then "subscribed", then live ones — from the ring (main gateway) and, with ws.ring = 1,
 * through the source's Replay (small gateway). */
static void resume_gw(int port)
{
    char *org = th_token(keys, "ws-org-r", 600, false);
    char room[64], other[64];
    make_room(org, true, true, room);
    make_room(org, true, true, other);
    wsc c;
    assert_int_equal(wsc_open(&c, port, "confetti.v1", 0), 101);
    wsc_auth(&c, org, "ws-org-r");
    json_decref(wsc_subscribe(&c, room, NULL, NULL));
    char *u0 = th_token(keys, "ws-r-0", 600, false);
    join(room, u0);
    json_t *j = wsc_joined(&c, "ws-r-0");
    char last[32];
    snprintf(last, sizeof last, "%s",
             json_string_value(json_object_get(json_object_get(j, "event"), "seq")));
    json_decref(j);
    wsc_close(&c);
    /* a witness on `other`: its last join shows the feed has received everything before it */
    wsc w;
    assert_int_equal(wsc_open(&w, port, "confetti.v1", 0), 101);
    wsc_auth(&w, org, "ws-org-r");
    json_decref(wsc_subscribe(&w, other, NULL, NULL));

    /* while disconnected: three joins in the room, others elsewhere (they push the room's
     * events out of a small ring) */
    char *u[3];
    for (int i = 0; i < 3; i++) {
        char sub[32];
        snprintf(sub, sizeof sub, "ws-r-%d", i + 1);
        u[i] = th_token(keys, sub, 600, false);
        join(room, u[i]);
        join(other, u[i]);
    }
    /* the feed has them all (events reach it in seq order; ws-r-3 joined `room` before
     * `other`): waited for, not assumed after a sleep */
    json_decref(wsc_joined(&w, "ws-r-3"));
    wsc_close(&w);

    assert_int_equal(wsc_open(&c, port, "confetti.v1", 0), 101);
    wsc_auth(&c, org, "ws-org-r");
    char resume[96];
    snprintf(resume, sizeof resume, "{\"rooms\":\"%s\"}", last);
    json_t *replayed = json_array();
    j = wsc_subscribe(&c, room, resume, replayed);
    assert_string_equal(json_string_value(json_object_get(j, "type")), "subscribed");
    json_decref(j);
    assert_int_equal(json_array_size(replayed), 3);
    long long prev = atoll(last);
    for (size_t i = 0; i < 3; i++) {
        json_t *e = json_object_get(json_array_get(replayed, i), "event");
        assert_string_equal(json_string_value(json_object_get(e, "roomId")), room);
        char want[32];
        snprintf(want, sizeof want, "ws-r-%zu", i + 1);
        assert_string_equal(
            json_string_value(json_object_get(json_object_get(e, "participantJoined"), "userId")),
            want);
        long long seq = atoll(json_string_value(json_object_get(e, "seq")));
        assert_true(seq > prev);
        prev = seq;
    }
    json_decref(replayed);
    /* then live, once */
    char *u4 = th_token(keys, "ws-r-4", 600, false);
    join(room, u4);
    j = wsc_event(&c, "participantJoined", WAIT_MS);
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_object_get(j, "event"), "participantJoined"), "userId")),
        "ws-r-4");
    json_decref(j);
    wsc_text(&c, "{\"type\":\"ping\"}");
    json_decref(wsc_expect(&c, "pong", WAIT_MS)); /* nothing else came in between */
    wsc_close(&c);
    for (int i = 0; i < 3; i++)
        free(u[i]);
    free(u0);
    free(u4);
    free(org);
}

static void resume_from_ring(void **state)
{
    (void)state;
    resume_gw(main_gw.port);
}

static void resume_from_replay(void **state)
{
    (void)state;
    resume_gw(small_gw.port);
}

/* A client that never reads is dropped (4029 counted) while another subscriber of the same
 * room gets every event. */
static void slow_client_dropped(void **state)
{
    (void)state;
    char *org = th_token(keys, "ws-org-s", 600, false);
    char room[64];
    make_room(org, true, true, room);
    long before = atomic_load(&stats.dropped_slow);
    wsc fast, slow;
    assert_int_equal(wsc_open(&fast, main_gw.port, "confetti.v1", 0), 101);
    wsc_auth(&fast, org, "ws-org-s");
    json_decref(wsc_subscribe(&fast, room, NULL, NULL));
    assert_int_equal(wsc_open(&slow, main_gw.port, "confetti.v1", 2048), 101);
    wsc_auth(&slow, org, "ws-org-s");
    json_decref(wsc_subscribe(&slow, room, NULL, NULL));
    /* the slow client asks for far more than it reads: its queue overflows */
    char pings[64 * 1024];
    size_t n = 0;
    static const uint8_t ping[] = {0x81, 0x8f, 0,   0,   0,   0,   '{', '"', 't', 'y', 'p',
                                   'e',  '"',  ':', '"', 'p', 'i', 'n', 'g', '"', '}'};
    while (n + sizeof ping <= sizeof pings) {
        memcpy(pings + n, ping, sizeof ping);
        n += sizeof ping;
    }
    for (int k = 0; k < 8; k++) {
        struct pollfd p = {.fd = slow.fd, .events = POLLOUT};
        /* the gateway may drop it while it writes: EPIPE, not a SIGPIPE that ends the test */
        if (poll(&p, 1, 2000) != 1 || send(slow.fd, pings, n, MSG_NOSIGNAL) <= 0)
            break;
    }
    char *u[20];
    for (int i = 0; i < 20; i++) {
        char sub[32];
        snprintf(sub, sizeof sub, "ws-s-%d", i);
        u[i] = th_token(keys, sub, 600, false);
        join(room, u[i]);
    }
    for (int i = 0; i < 20; i++) { /* every one, in order */
        char want[32];
        snprintf(want, sizeof want, "ws-s-%d", i);
        json_decref(wsc_joined(&fast, want));
    }
    /* the slow one was dropped: its socket ends (after what was already in flight) */
    int64_t end = cf_mono_ns() + WAIT_MS * 1000000LL;
    bool eof = false;
    while (!eof && cf_mono_ns() < end) {
        struct pollfd p = {.fd = slow.fd, .events = POLLIN};
        if (poll(&p, 1, 200) == 1) {
            char sink[65536];
            eof = read(slow.fd, sink, sizeof sink) <= 0;
        }
    }
    assert_true(eof);
    assert_true(atomic_load(&stats.dropped_slow) > before);
    wsc_close(&slow);
    wsc_close(&fast);
    for (int i = 0; i < 20; i++)
        free(u[i]);
    free(org);
}

/* Bad input: unknown type and bad fields are errors (the connection stays); non-JSON and
 * binary frames close with 4008; a message over ws.max_message closes with 4009. */
static void bad_messages(void **state)
{
    (void)state;
    char *tok = th_token(keys, "ws-bad", 600, false);
    wsc c;
    assert_int_equal(wsc_open(&c, small_gw.port, "confetti.v1", 0), 101);
    wsc_auth(&c, tok, "ws-bad");
    wsc_text(&c, "{\"type\":\"dance\"}");
    json_t *j = wsc_expect(&c, "error", WAIT_MS);
    assert_string_equal(json_string_value(json_object_get(j, "code")), "INVALID_ARGUMENT");
    json_decref(j);
    wsc_text(&c, "{\"type\":\"subscribe\"}");
    j = wsc_expect(&c, "error", WAIT_MS);
    assert_string_equal(json_string_value(json_object_get(j, "code")), "INVALID_ARGUMENT");
    json_decref(j);
    wsc_text(&c, "{\"type\":\"subscribe\",\"roomId\":\"r\",\"resume\":{\"rooms\":\"-1\"}}");
    j = wsc_expect(&c, "error", WAIT_MS);
    assert_string_equal(json_string_value(json_object_get(j, "code")), "INVALID_ARGUMENT");
    json_decref(j);
    wsc_text(&c, "{\"type\":\"unsubscribe\",\"roomId\":\"r\"}");
    j = wsc_expect(&c, "error", WAIT_MS);
    assert_string_equal(json_string_value(json_object_get(j, "code")), "NOT_FOUND");
    json_decref(j);
    wsc_text(&c, "not json at all");
    wsc_expect_close(&c, GW_WS_POLICY, WAIT_MS);
    wsc_close(&c);

    assert_int_equal(wsc_open(&c, small_gw.port, "confetti.v1", 0), 101);
    wsc_auth(&c, tok, "ws-bad");
    wsc_send(&c, 0x2, "\x01\x02", 2);
    wsc_expect_close(&c, GW_WS_POLICY, WAIT_MS);
    wsc_close(&c);

    assert_int_equal(wsc_open(&c, small_gw.port, "confetti.v1", 0), 101);
    wsc_auth(&c, tok, "ws-bad");
    char *huge = xmalloc(100000);
    memset(huge, 'x', 100000);
    wsc_send(&c, 0x1, huge, 100000); /* ws.max_message is 4 KiB here */
    free(huge);
    wsc_expect_close(&c, GW_WS_TOO_BIG, WAIT_MS);
    wsc_close(&c);
    free(tok);
}

/* Issue 13 item 4: an unauthenticated connection holds a few KiB, not ws.max_message (64 KiB
 * here): a 20 KB message before authenticating closes with 4009; the same message after
 * authenticating is answered (the bound grows to ws.max_message). */
static void unauthenticated_is_small(void **state)
{
    (void)state;
    size_t n = 20000;
    char *ping = xmalloc(n + 64);
    int k = snprintf(ping, n + 64, "{\"type\":\"ping\",\"pad\":\"");
    memset(ping + k, 'x', n);
    strcpy(ping + k + n, "\"}");
    wsc c;
    assert_int_equal(wsc_open(&c, main_gw.port, "confetti.v1", 0), 101);
    wsc_text(&c, ping);
    wsc_expect_close(&c, GW_WS_TOO_BIG, 3000);
    wsc_close(&c);

    char *tok = th_token(keys, "ws-small", 600, false);
    assert_int_equal(wsc_open(&c, main_gw.port, "confetti.v1", 0), 101);
    wsc_auth(&c, tok, "ws-small");
    wsc_text(&c, ping);
    json_decref(wsc_expect(&c, "pong", 3000));
    wsc_close(&c);
    free(tok);
    free(ping);
}

/* The next message, whatever it is (server pings answered and skipped); fails on timeout. */
static json_t *wsc_any(wsc *c, int timeout_ms)
{
    for (;;) {
        json_t *j = wsc_next(c, timeout_ms);
        if (!j)
            fail_msg("no message within %d ms", timeout_ms);
        const char *t = json_string_value(json_object_get(j, "type"));
        if (!t || strcmp(t, "ping") != 0)
            return j;
        wsc_text(c, "{\"type\":\"pong\"}");
        json_decref(j);
    }
}

/* The next messages are the room's event of `kind` (the change itself reaches the client;
 * NULL: no event, as for a room made private, whose change a non-member must not read) and
 * then {"type":"unsubscribed","roomId":room,"reason":…} — nothing of the room in between. */
static void expect_ended(wsc *c, const char *kind, const char *room)
{
    json_t *j;
    if (kind) {
        j = wsc_any(c, WAIT_MS);
        assert_string_equal(json_string_value(json_object_get(j, "type")), "event");
        assert_string_equal(ev_kind(j), kind);
        json_decref(j);
    }
    j = wsc_any(c, WAIT_MS);
    assert_string_equal(json_string_value(json_object_get(j, "type")), "unsubscribed");
    assert_string_equal(json_string_value(json_object_get(j, "roomId")), room);
    assert_true(json_is_string(json_object_get(j, "reason")));
    json_decref(j);
}

/* Nothing arrives before the answer to a ping (so no event of an ended subscription). */
static void expect_quiet(wsc *c)
{
    wsc_text(c, "{\"type\":\"ping\"}");
    json_t *j = wsc_any(c, WAIT_MS);
    assert_string_equal(json_string_value(json_object_get(j, "type")), "pong");
    json_decref(j);
}

static void add_member(const char *room, const char *org, const char *user)
{
    char path[128], body[128];
    snprintf(path, sizeof path, "/v1/rooms/%s/participants", room);
    snprintf(body, sizeof body, "{\"userId\":\"%s\",\"role\":\"PARTICIPANT\"}", user);
    json_decref(api("POST", path, org, body));
}

static void open_subscribed(wsc *c, const char *token, const char *user, const char *room)
{
    assert_int_equal(wsc_open(c, main_gw.port, "confetti.v1", 0), 101);
    wsc_auth(c, token, user);
    json_t *j = wsc_subscribe(c, room, NULL, NULL);
    assert_string_equal(json_string_value(json_object_get(j, "type")), "subscribed");
    json_decref(j);
}

/* Access is re-checked when it may have gone (SPEC §3): a member removed from a private room,
 * or leaving it, gets that participantLeft and then "unsubscribed", and nothing of the room
 * after (a re-subscribe is NOT_FOUND); a role change is re-checked and keeps the subscription;
 * the other members keep receiving. */
static void removed_member_unsubscribed(void **state)
{
    (void)state;
    char *org = th_token(keys, "ws-org-a", 600, false);
    char *bob = th_token(keys, "ws-bob-a", 600, false);
    char *carol = th_token(keys, "ws-carol-a", 600, false);
    char room[64], path[160];
    make_room(org, false, true, room);
    add_member(room, org, "ws-bob-a");
    add_member(room, org, "ws-carol-a");
    wsc b, c, o;
    open_subscribed(&b, bob, "ws-bob-a", room);
    open_subscribed(&c, carol, "ws-carol-a", room);
    open_subscribed(&o, org, "ws-org-a", room);

    snprintf(path, sizeof path, "/v1/rooms/%s/participants/ws-bob-a", room);
    json_decref(api("PATCH", path, org, "{\"role\":\"VIEWER\"}"));
    json_decref(wsc_event(&b, "participantRoleChanged", WAIT_MS));
    /* the role change's re-check is over once a later event reaches bob (it holds the room's
     * events until GetRoom answers): waited for, or on a slow run the removal below lands
     * while it is pending and the re-check's refusal drops bob's own participantLeft */
    add_member(room, org, "ws-frank-a");
    json_decref(wsc_joined(&b, "ws-frank-a"));

    json_decref(api("DELETE", path, org, NULL)); /* removed by the organizer */
    expect_ended(&b, "participantLeft", room);
    add_member(room, org, "ws-dave-a"); /* a later event of the room */
    json_decref(wsc_joined(&c, "ws-dave-a"));
    json_decref(wsc_joined(&o, "ws-dave-a"));
    expect_quiet(&b);
    json_t *j = wsc_subscribe(&b, room, NULL, NULL);
    assert_string_equal(json_string_value(json_object_get(j, "code")), "NOT_FOUND");
    json_decref(j);

    snprintf(path, sizeof path, "/v1/rooms/%s/participants/ws-carol-a", room);
    json_decref(api("DELETE", path, carol, NULL)); /* leaves by herself */
    expect_ended(&c, "participantLeft", room);
    add_member(room, org, "ws-eve-a");
    json_decref(wsc_joined(&o, "ws-eve-a"));
    expect_quiet(&c);
    expect_quiet(&b);
    wsc_close(&b);
    wsc_close(&c);
    wsc_close(&o);
    free(org);
    free(bob);
    free(carol);
}

/* Issue 17 item 3 (<= 16 KiB per idle authenticated WebSocket): what the gateway allocates for
 * an authenticated connection subscribed to a room — heap bytes in use (mallinfo2) over 200 of
 * them, every thread's arena — stays under 16 KiB each: the read buffer starts small and grows
 * only for a message that needs it (it used to take ws.max_message, 64 KiB, at authentication),
 * and shrinks back after; the room list grows with the subscriptions. (The HTTP server's own
 * per-connection pool is mmap'd, not counted here: tools/bench/bench_ws.c measures the RSS.)
 * Not under AddressSanitizer, whose allocator mallinfo2 does not see. */
static void idle_authenticated_is_small(void **state)
{
    (void)state;
#if defined(__SANITIZE_ADDRESS__)
#define WS_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WS_TEST_ASAN 1
#endif
#endif
#ifdef WS_TEST_ASAN
    skip();
#else
    enum { N = 200 };
    char *tok = th_token(keys, "ws-idle", 600, false);
    char *org = th_token(keys, "ws-org-idle", 600, false);
    char room[64];
    make_room(org, true, true, room);
    wsc *cs = xcalloc(N, sizeof *cs);
    /* one first: one-off allocations (the token's cache entry, the room's node in the feed) */
    assert_int_equal(wsc_open(&cs[0], main_gw.port, "confetti.v1", 0), 101);
    wsc_auth(&cs[0], tok, "ws-idle");
    json_decref(wsc_subscribe(&cs[0], room, NULL, NULL));
    /* the client side (wsc) is in this process too: its 1 MiB buffers must be mapped (hblkhd),
     * not arena bytes (uordblks); a fixed threshold stops glibc raising it after a free */
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    struct mallinfo2 before = mallinfo2();
    for (int i = 1; i < N; i++) {
        assert_int_equal(wsc_open(&cs[i], main_gw.port, "confetti.v1", 0), 101);
        wsc_auth(&cs[i], tok, "ws-idle");
        json_t *j = wsc_subscribe(&cs[i], room, NULL, NULL);
        assert_string_equal(json_string_value(json_object_get(j, "type")), "subscribed");
        json_decref(j);
    }
    struct mallinfo2 after = mallinfo2();
    double per = ((double)after.uordblks - (double)before.uordblks) / (N - 1);
    print_message("gateway heap per idle authenticated WebSocket: %.0f bytes\n", per);
    assert_true(per < 16 * 1024);

    /* a large message still fits (the buffer grows to it), and the next small one after it */
    size_t n = 40000;
    char *ping = xmalloc(n + 64);
    int k = snprintf(ping, n + 64, "{\"type\":\"ping\",\"pad\":\"");
    memset(ping + k, 'x', n);
    strcpy(ping + k + n, "\"}");
    wsc_text(&cs[1], ping);
    json_decref(wsc_expect(&cs[1], "pong", WAIT_MS));
    wsc_text(&cs[1], "{\"type\":\"ping\"}");
    json_decref(wsc_expect(&cs[1], "pong", WAIT_MS));
    for (int i = 0; i < N; i++)
        wsc_close(&cs[i]);
    free(cs);
    free(ping);
    free(tok);
    free(org);
#endif
}

/* ---------------------------------------------------------------- memory: the process's RSS */

static long rss_anon_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "RssAnon:", 8) == 0)
            v = atol(line + 8);
    if (f)
        fclose(f);
    return v;
}

/* What the forked clients need, made before the fork: the child of a process with threads may
 * not allocate (AddressSanitizer's allocator can be locked by another thread at the fork: the
 * child then waits for ever), so it gets its buffers and bytes ready-made. */
typedef struct rss_plan {
    int n;
    int *fd;
    char *buf; /* n × RSS_CAP: what each client has read */
    size_t *len;
    char req[4096]; /* the upgrade, the token in the subprotocol */
    size_t rlen;
    uint8_t frame[200]; /* {"type":"subscribe",...} as one masked text frame */
    size_t flen;
} rss_plan;

enum { RSS_CAP = 4096 };

static void rss_plan_make(rss_plan *p, const char *token, const char *room, int n)
{
    memset(p, 0, sizeof *p);
    p->n = n;
    p->fd = xcalloc((size_t)n, sizeof *p->fd);
    p->buf = xcalloc((size_t)n, RSS_CAP);
    p->len = xcalloc((size_t)n, sizeof *p->len);
    p->rlen =
        (size_t)snprintf(p->req, sizeof p->req,
                         "GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                         "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                         "Sec-WebSocket-Version: 13\r\n"
                         "Sec-WebSocket-Protocol: confetti.v1, bearer.%s\r\n\r\n",
                         token);
    assert_true(p->rlen < sizeof p->req);
    char sub[160];
    int sl = snprintf(sub, sizeof sub, "{\"type\":\"subscribe\",\"roomId\":\"%s\"}", room);
    assert_true(sl > 0 && sl < 126);
    p->frame[0] = 0x81;
    p->frame[1] = (uint8_t)(0x80 | sl);
    memset(p->frame + 2, 0, 4); /* a zero mask: the payload as is */
    memcpy(p->frame + 6, sub, (size_t)sl);
    p->flen = (size_t)sl + 6;
}

static void rss_plan_free(rss_plan *p)
{
    free(p->fd);
    free(p->buf);
    free(p->len);
}

/* In the forked child (system calls only: no allocation, no cmocka): the clients upgrade with
 * the token and subscribe; each waits for its "subscribed" (a refusal is answered by subscribing
 * again). Exits 2 on a failure or after 3 minutes; returns when all are subscribed. */
static void rss_clients(rss_plan *p, int port)
{
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < p->n; i++) {
        p->fd[i] = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (p->fd[i] < 0 || connect(p->fd[i], (struct sockaddr *)&sa, sizeof sa) != 0 ||
            write(p->fd[i], p->req, p->rlen) != (ssize_t)p->rlen ||
            write(p->fd[i], p->frame, p->flen) != (ssize_t)p->flen)
            _exit(2);
    }
    for (int i = 0; i < p->n; i++) {
        char *b = p->buf + (size_t)i * RSS_CAP;
        size_t *len = &p->len[i];
        while (!memmem(b, *len, "\"subscribed\"", 12)) {
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (now.tv_sec - t0.tv_sec > 180)
                _exit(2);
            if (memmem(b, *len, "\"type\":\"error\"", 14)) {
                *len = 0;
                if (write(p->fd[i], p->frame, p->flen) != (ssize_t)p->flen)
                    _exit(2);
                continue;
            }
            if (*len == RSS_CAP) { /* keep the tail: a marker may straddle */
                memmove(b, b + RSS_CAP / 2, RSS_CAP / 2);
                *len = RSS_CAP / 2;
            }
            struct pollfd pf = {.fd = p->fd[i], .events = POLLIN};
            if (poll(&pf, 1, 60000) != 1)
                _exit(2);
            ssize_t k = read(p->fd[i], b + *len, RSS_CAP - *len);
            if (k <= 0)
                _exit(2);
            *len += (size_t)k;
        }
    }
}

/* Waits (2 min at most: a loaded machine under a sanitizer) until *v >= want (up) or *v <= want
 * (down). Not an exact count: other tests' connections may still be closing meanwhile. */
static bool wait_count(atomic_long *v, long want, bool up)
{
    for (int i = 0; i < 12000; i++) {
        long x = atomic_load(v);
        if (up ? x >= want : x <= want)
            return true;
        usleep(10000);
    }
    return false;
}

/* The gateway's RSS per idle authenticated subscribed WebSocket, n sockets held by a forked child
 * (so only the server side is counted), in KiB: RssAnon with them minus before. Waits until every
 * upgrade has been handled by the HTTP layer (its pool given back or kept: counted once per
 * upgrade) and, after, until the connections are gone (their pools destroyed). */
static double rss_per_socket(gwi *x, gw_ws_stats *ws, gw_http_stats *hs, bool released,
                             const char *token, const char *room, int n)
{
    long open0 = atomic_load(&ws->open), hopen0 = atomic_load(&hs->open);
    atomic_long *done = released ? &hs->pool_released : &hs->pool_kept;
    long done0 = atomic_load(done);
    rss_plan plan;
    rss_plan_make(&plan, token, room, n);
    int up[2], down[2];
    assert_int_equal(pipe(up), 0);
    assert_int_equal(pipe(down), 0);
    long before = rss_anon_kib();
    pid_t parent = getpid();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        th_child_init(parent); /* dies with the test */
        close(up[0]);
        close(down[1]);
        rss_clients(&plan, x->port);
        char c = 'R';
        if (write(up[1], &c, 1) != 1 || read(down[0], &c, 1) != 1)
            _exit(2);
        _exit(0); /* every socket closes with the process */
    }
    close(up[1]);
    close(down[0]);
    char c = 0;
    bool ready = read(up[0], &c, 1) == 1; /* EOF: the child failed and exited */
    bool all = ready && wait_count(done, done0 + n, true);
    long with = rss_anon_kib();
    c = 'X';
    if (ready)
        assert_int_equal(write(down[1], &c, 1), 1);
    int st;
    waitpid(pid, &st, 0);
    close(up[0]);
    close(down[1]);
    rss_plan_free(&plan);
    assert_true(ready);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_true(all);
    assert_true(wait_count(&ws->open, open0, false));
    assert_true(wait_count(&hs->open, hopen0, false)); /* MHD destroyed their pools */
    return (double)(with - before) / n;
}

/* Issue 17 item 3: the gateway holds <= 16 KiB per idle authenticated WebSocket — measured as
 * the process's resident anonymous memory, not only the heap: libmicrohttpd's per-connection pool
 * (mmap'd, ~60 KiB of it resident once MHD has zeroed its read buffer after the head) is given
 * back once the socket is upgraded (ws.release_upgrade_buffer, mhdpool.h). With the key off the
 * same sockets cost > 40 KiB each: the test sees the mechanism, not noise. A few sockets first on
 * each gateway (one-off allocations). The pools are fresh mappings each time (munmap'd at close);
 * heap that earlier tests freed may be reused, so the heap's share is guarded by
 * idle_authenticated_is_small (mallinfo2), this one guards the rest. Under AddressSanitizer
 * or ThreadSanitizer (shadow memory, quarantine) only the difference is asserted. */
static void idle_authenticated_rss_is_small(void **state)
{
    (void)state;
    enum { N = 300 };
    char *org = th_token(keys, "ws-org-rss", 600, false);
    char room[64];
    make_room(org, true, true, room);
    const char *keep[] = {"CONFETTI_WS_RELEASE_UPGRADE_BUFFER=false", NULL};
    start_gw(&keep_gw, bus_sub, keep);
    for (int i = 0; i < 600 && !gw_ready(keep_gw.g); i++)
        usleep(50000);
    assert_true(gw_ready(keep_gw.g));

    rss_per_socket(&main_gw, &stats, &http_stats, true, org, room, 20);
    double on = rss_per_socket(&main_gw, &stats, &http_stats, true, org, room, N);
    rss_per_socket(&keep_gw, &keep_stats, &keep_http_stats, false, org, room, 20);
    double off = rss_per_socket(&keep_gw, &keep_stats, &keep_http_stats, false, org, room, N);
    print_message("gateway RSS per idle authenticated WebSocket: %.1f KiB (pool given back), "
                  "%.1f KiB (ws.release_upgrade_buffer false)\n",
                  on, off);
    stop_gw(&keep_gw);
    free(org);
#if !defined(WS_TEST_ASAN) && !defined(__SANITIZE_THREAD__)
    assert_true(on < 16);
    assert_true(off > 40);
#endif
    assert_true(off - on > 40); /* TSan, 2026-12-07: 296 vs 442 KiB (its shadow memory) */
}

/* ---------------------------------------------------------------- the held-events bound */

/* Rooms' events written straight into rooms' outbox, as a store does inside its transaction
 * (one transaction, committed together): the relay of the running rooms service publishes
 * them. Here because rooms' own writes would wait on the lock the test holds. */
static void outbox_events(PGconn *pg, const char *room, const char *role_user, int njoined)
{
    PGresult *r = PQexec(pg, "BEGIN");
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    for (int i = -1; i < njoined; i++) {
        Events__V1__Event ev = EVENTS__V1__EVENT__INIT;
        Events__V1__ParticipantRoleChanged rc = EVENTS__V1__PARTICIPANT_ROLE_CHANGED__INIT;
        Events__V1__ParticipantJoined pj = EVENTS__V1__PARTICIPANT_JOINED__INIT;
        char user[64];
        ev.source = "rooms";
        ev.room_id = (char *)room;
        if (i < 0) {
            rc.user_id = (char *)role_user;
            rc.from = ROOMS__V1__ROLE__PARTICIPANT;
            rc.to = ROOMS__V1__ROLE__VIEWER;
            ev.body_case = EVENTS__V1__EVENT__BODY_PARTICIPANT_ROLE_CHANGED;
            ev.participant_role_changed = &rc;
        } else {
            snprintf(user, sizeof user, "ws-held-%d", i);
            pj.user_id = user;
            pj.role = ROOMS__V1__ROLE__PARTICIPANT;
            ev.body_case = EVENTS__V1__EVENT__BODY_PARTICIPANT_JOINED;
            ev.participant_joined = &pj;
        }
        events_outbox_row row;
        events_outbox_row_make(&ev, &row);
        const char *params[2] = {row.id, row.body_hex};
        r = PQexecParams(pg,
                         "INSERT INTO rooms.outbox (event_id, body) VALUES ($1, $2::bytea) "
                         "RETURNING " EVENTS_OUTBOX_NOTIFY,
                         2, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK)
            fail_msg("outbox: %s", PQerrorMessage(pg));
        PQclear(r);
        events_outbox_row_free(&row);
    }
    r = PQexec(pg, "COMMIT");
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
}

/* Issue 24 item 1, the feed's held events (docs/gateway.md "Access re-checks", HOLD_MAX in
 * feed.c): while a subscription's access is re-checked its room's events are held, at most
 * 1,024; past that the subscription ends with "too many events while access was re-checked"
 * and none of the held events is sent, even though the re-check then allows the reader. The
 * re-check (rooms' GetRoom) is made to wait by a lock on rooms.rooms while 1,124 events of the
 * room come through the bus; another subscriber of the room (not re-checked) shows when the
 * feed has had them all. Without the bound the reader would get all 1,124 after the re-check. */
static void held_events_bounded(void **state)
{
    (void)state;
    enum { HELD = 1024, EXTRA = 100 };
    static gwi hg; /* the gateway's threads read its config: not on a stack a failure unwinds */
    /* the watcher takes them all; no keepalive is due while one client waits for the other */
    /* the re-check's deadline past the time the 1,124 events take to arrive (22 s in one
     * ASan run at load 25): the bound, not the deadline, must end the subscription */
    const char *big[] = {"CONFETTI_WS_SEND_QUEUE=4096", "CONFETTI_WS_PING_INTERVAL=10m",
                         "CONFETTI_WS_RECHECK_TIMEOUT=5m", NULL};
    start_gw(&hg, bus_sub, big);
    for (int i = 0; i < 600 && !gw_ready(hg.g); i++)
        usleep(50000);
    char *org = th_token(keys, "ws-org-h", 600, false);
    char *bob = th_token(keys, "ws-bob-h", 600, false);
    char room[64], last[32];
    make_room(org, true, true, room);
    add_member(room, org, "ws-bob-h");
    wsc b, o;
    assert_int_equal(wsc_open(&b, hg.port, "confetti.v1", 0), 101);
    wsc_auth(&b, bob, "ws-bob-h");
    json_decref(wsc_subscribe(&b, room, NULL, NULL));
    assert_int_equal(wsc_open(&o, hg.port, "confetti.v1", 0), 101);
    wsc_auth(&o, org, "ws-org-h");
    json_decref(wsc_subscribe(&o, room, NULL, NULL));

    PGconn *lock = PQconnectdb(rooms->dsn), *pg = PQconnectdb(rooms->dsn);
    assert_int_equal(PQstatus(lock), CONNECTION_OK);
    assert_int_equal(PQstatus(pg), CONNECTION_OK);
    /* should the test fail while the lock is held, the server ends it within minutes (the
     * later tests need rooms) */
    PGresult *r = PQexec(lock, "SET idle_in_transaction_session_timeout = '5min'; BEGIN; "
                               "LOCK TABLE rooms.rooms IN ACCESS EXCLUSIVE MODE");
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    outbox_events(pg, room, "ws-bob-h", HELD + EXTRA);

    /* bob: his role change (it goes out before the hold), then the re-check holds the rest */
    json_decref(wsc_event(&b, "participantRoleChanged", WAIT_MS));
    /* the watcher has the last one: the feed has consumed (and held for bob) every event */
    snprintf(last, sizeof last, "ws-held-%d", HELD + EXTRA - 1);
    int64_t t0 = cf_mono_ns();
    json_decref(wsc_joined(&o, last));
    print_message("the watcher had all %d events %.1f s after the reader's role change\n",
                  HELD + EXTRA, (double)(cf_mono_ns() - t0) / 1e9);
    r = PQexec(lock, "COMMIT"); /* the re-check answers: bob may still see the room */
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);

    json_t *j = wsc_any(&b, WAIT_MS);
    assert_string_equal(json_string_value(json_object_get(j, "type")), "unsubscribed");
    assert_string_equal(json_string_value(json_object_get(j, "roomId")), room);
    assert_string_equal(json_string_value(json_object_get(j, "reason")),
                        "too many events while access was re-checked");
    json_decref(j);
    expect_quiet(&b); /* nothing held comes after */
    /* subscribing again is allowed, from now on */
    j = wsc_subscribe(&b, room, NULL, NULL);
    assert_string_equal(json_string_value(json_object_get(j, "type")), "subscribed");
    json_decref(j);

    PQfinish(lock);
    PQfinish(pg);
    wsc_close(&b);
    wsc_close(&o);
    stop_gw(&hg);
    free(org);
    free(bob);
}

/* SPEC §3 "see a private room", kept over time: a public room made private: every non-member's
 * subscription ends, without the roomUpdated (it names the room after the change); the
 * members' go on and get it. Deleting a room ends every subscription of it. */
static void made_private_and_deleted(void **state)
{
    (void)state;
    char *org = th_token(keys, "ws-org-v", 600, false);
    char *dave = th_token(keys, "ws-dave-v", 600, false);
    char *erin = th_token(keys, "ws-erin-v", 600, false);
    char room[64], path[128];
    make_room(org, true, true, room);
    add_member(room, org, "ws-erin-v");
    wsc d, e, o;
    open_subscribed(&d, dave, "ws-dave-v", room); /* not a member: a public room */
    open_subscribed(&e, erin, "ws-erin-v", room);
    open_subscribed(&o, org, "ws-org-v", room);

    snprintf(path, sizeof path, "/v1/rooms/%s", room);
    json_decref(api("PATCH", path, org, "{\"name\":\"Renamed\"}")); /* not about access */
    json_decref(wsc_event(&d, "roomUpdated", WAIT_MS));
    /* made private and renamed in one change: the non-member's subscription ends without
     * the change (its new name is not for it); the members get it */
    json_decref(api("PATCH", path, org, "{\"isPublic\":false,\"name\":\"Hush hush\"}"));
    expect_ended(&d, NULL, room);
    wsc *members[] = {&e, &o};
    for (size_t i = 0; i < 2; i++) {
        bool seen = false; /* the earlier rename comes first */
        for (int k = 0; k < 2 && !seen; k++) {
            json_t *u = wsc_event(members[i], "roomUpdated", WAIT_MS);
            char *text = json_dumps(u, JSON_COMPACT);
            seen = strstr(text, "Hush hush") != NULL;
            free(text);
            json_decref(u);
        }
        assert_true(seen);
    }
    add_member(room, org, "ws-fay-v");
    json_decref(wsc_joined(&e, "ws-fay-v"));
    json_decref(wsc_joined(&o, "ws-fay-v"));
    expect_quiet(&d);

    json_decref(api("DELETE", path, org, NULL));
    expect_ended(&e, "roomDeleted", room);
    expect_ended(&o, "roomDeleted", room);
    expect_quiet(&d);
    wsc_close(&d);
    wsc_close(&e);
    wsc_close(&o);
    free(org);
    free(dave);
    free(erin);
}

/* True when any of the events (an array of {"type":"event",…}) mentions needle. */
static bool events_mention(json_t *events, const char *needle)
{
    char *text = json_dumps(events, JSON_COMPACT);
    bool found = strstr(text, needle) != NULL;
    free(text);
    return found;
}

/* Issue 24 item 3, "history keeps the privacy it had" (docs/gateway.md, "History keeps its
 * privacy"; SPEC §3: a private room is invisible to non-members): a room is created private;
 * pat joins; a prize is put up; it is renamed "codename falcon"; pat leaves; it is made public.
 * A non-member resuming from the very start (rooms 0, draw 0) gets only what it could see when
 * it happened: the change that made the room public, and nothing before it — not pat's join, not
 * the private rename, not the prize; then live events as they come. Pat, no longer a member,
 * gets no more: the span when pat could see the room ended with the leave. Through the ring
 * (port of the main gateway) and through the sources' Replay (the small gateway, ws.ring 1). */
static void history_via(int port, const char *tag)
{
    char org_sub[32], pat_sub[32], nina_sub[32], room[64], path[160];
    snprintf(org_sub, sizeof org_sub, "ws-org-h%s", tag);
    snprintf(pat_sub, sizeof pat_sub, "ws-pat-h%s", tag);
    snprintf(nina_sub, sizeof nina_sub, "ws-nina-h%s", tag);
    char *org = th_token(keys, org_sub, 600, false);
    char *pat = th_token(keys, pat_sub, 600, false);
    char *nina = th_token(keys, nina_sub, 600, false);
    make_room(org, false, true, room); /* private; created, the organizer joined, activated */
    wsc w; /* a witness: the organizer sees everything live, so the feed has it all */
    assert_int_equal(wsc_open(&w, port, "confetti.v1", 0), 101);
    wsc_auth(&w, org, org_sub);
    json_decref(wsc_subscribe(&w, room, NULL, NULL));

    add_member(room, org, pat_sub);
    snprintf(path, sizeof path, "/v1/rooms/%s/prizes", room);
    json_decref(api("POST", path, org, "{\"name\":\"Falcon figurine\",\"quantity\":1}"));
    snprintf(path, sizeof path, "/v1/rooms/%s", room);
    json_decref(api("PATCH", path, org, "{\"name\":\"codename falcon\"}"));
    snprintf(path, sizeof path, "/v1/rooms/%s/participants/%s", room, pat_sub);
    json_decref(api("DELETE", path, pat, NULL));
    snprintf(path, sizeof path, "/v1/rooms/%s", room);
    json_decref(api("PATCH", path, org, "{\"isPublic\":true}"));
    /* draw's event and rooms' last one reached the feed — in either order: two sources, two
     * relays (waiting for the prize first skipped rooms' events when they came first, and the
     * wait for "made public" then saw nothing: the undiagnosed failure of the stress runs) */
    bool prize = false, made_public = false;
    while (!prize || !made_public) {
        json_t *j = wsc_next(&w, WAIT_MS);
        if (!j)
            fail_msg("the witness saw no %s within %d ms",
                     prize ? "roomUpdated making the room public" : "prizeCreated", WAIT_MS);
        const char *t = json_string_value(json_object_get(j, "type"));
        if (t && strcmp(t, "ping") == 0)
            wsc_text(&w, "{\"type\":\"pong\"}");
        else if (strcmp(ev_kind(j), "prizeCreated") == 0)
            prize = true;
        else if (strcmp(ev_kind(j), "roomUpdated") == 0 &&
                 json_is_true(json_object_get(
                     json_object_get(json_object_get(j, "event"), "roomUpdated"), "isPublic")))
            made_public = true;
        json_decref(j);
    }

    /* the non-member, from the very start of both sources */
    wsc c;
    assert_int_equal(wsc_open(&c, port, "confetti.v1", 0), 101);
    wsc_auth(&c, nina, nina_sub);
    json_t *replayed = json_array();
    json_t *j = wsc_subscribe(&c, room, "{\"rooms\":\"0\",\"draw\":\"0\"}", replayed);
    assert_string_equal(json_string_value(json_object_get(j, "type")), "subscribed");
    json_decref(j);
    assert_int_equal(json_array_size(replayed), 1);
    json_t *only = json_array_get(replayed, 0);
    assert_string_equal(ev_kind(only), "roomUpdated");
    json_t *u = json_object_get(json_object_get(only, "event"), "roomUpdated");
    assert_true(json_is_true(json_object_get(u, "isPublic")));
    assert_false(events_mention(replayed, pat_sub));           /* pat's join and leave */
    assert_false(events_mention(replayed, "Falcon figurine")); /* the private prize */
    assert_false(events_mention(replayed, "roomCreated"));
    json_decref(replayed);

    /* pat, a member once, now a non-member of the public room: the same */
    wsc p;
    assert_int_equal(wsc_open(&p, port, "confetti.v1", 0), 101);
    wsc_auth(&p, pat, pat_sub);
    replayed = json_array();
    j = wsc_subscribe(&p, room, "{\"rooms\":\"0\",\"draw\":\"0\"}", replayed);
    assert_string_equal(json_string_value(json_object_get(j, "type")), "subscribed");
    json_decref(j);
    assert_int_equal(json_array_size(replayed), 1);
    assert_string_equal(ev_kind(json_array_get(replayed, 0)), "roomUpdated");
    json_decref(replayed);

    /* the organizer, a member all along, resumes from the start and gets everything */
    wsc o;
    assert_int_equal(wsc_open(&o, port, "confetti.v1", 0), 101);
    wsc_auth(&o, org, org_sub);
    replayed = json_array();
    json_decref(wsc_subscribe(&o, room, "{\"rooms\":\"0\",\"draw\":\"0\"}", replayed));
    assert_true(json_array_size(replayed) >= 8);
    assert_true(events_mention(replayed, pat_sub));
    assert_true(events_mention(replayed, "Falcon figurine"));
    json_decref(replayed);

    /* live: what happens now, everyone may see */
    json_decref(api("PATCH", path, org, "{\"description\":\"now open\"}"));
    json_decref(wsc_event(&c, "roomUpdated", WAIT_MS));
    json_decref(wsc_event(&p, "roomUpdated", WAIT_MS));
    wsc_close(&o);
    wsc_close(&p);
    wsc_close(&c);
    wsc_close(&w);
    free(org);
    free(pat);
    free(nina);
}

static void history_keeps_its_privacy_ring(void **state)
{
    (void)state;
    history_via(main_gw.port, "r");
}

static void history_keeps_its_privacy_replay(void **state)
{
    (void)state;
    history_via(small_gw.port, "p");
}

/* Issue 18 item 6, "a winner is told they won" (docs/gateway.md, "Notices"): every
 * authenticated connection of the winner — on either gateway, subscribed to nothing — gets one
 * {"type":"notice","kind":"youWon"} naming the room, the draw, the prize and the winner row; a
 * connection of someone else gets nothing. */
static void winner_is_told_on_every_connection(void **state)
{
    (void)state;
    char *org = th_token(keys, "ws-org-won", 600, false);
    char *win = th_token(keys, "ws-win-won", 600, false);
    char *other = th_token(keys, "ws-other-won", 600, false);
    wsc a, b, o;
    assert_int_equal(wsc_open(&a, main_gw.port, "confetti.v1", 0), 101);
    wsc_auth(&a, win, "ws-win-won");
    assert_int_equal(wsc_open(&b, small_gw.port, "confetti.v1", 0), 101);
    wsc_auth(&b, win, "ws-win-won");
    assert_int_equal(wsc_open(&o, main_gw.port, "confetti.v1", 0), 101);
    wsc_auth(&o, other, "ws-other-won");

    char room[64], path[128], body[256];
    make_room(org, true, true, room);
    join(room, win);
    snprintf(path, sizeof path, "/v1/rooms/%s/prizes", room);
    json_t *pz = api("POST", path, org, "{\"name\":\"Kite\",\"quantity\":1}");
    char prize[64];
    snprintf(prize, sizeof prize, "%s", json_string_value(json_object_get(pz, "prizeId")));
    json_decref(pz);
    snprintf(body, sizeof body, "{\"prizeId\":\"%s\",\"count\":1}", prize);
    snprintf(path, sizeof path, "/v1/rooms/%s/draws", room);
    json_decref(api("POST", path, org, body));

    wsc *mine[] = {&a, &b};
    for (size_t i = 0; i < 2; i++) {
        json_t *j = wsc_expect(mine[i], "notice", WAIT_MS);
        assert_string_equal(json_string_value(json_object_get(j, "kind")), "youWon");
        assert_string_equal(json_string_value(json_object_get(j, "roomId")), room);
        assert_string_equal(json_string_value(json_object_get(j, "prizeId")), prize);
        assert_true(json_string_length(json_object_get(j, "drawId")) > 0);
        assert_true(json_string_length(json_object_get(j, "winnerId")) > 0);
        assert_true(json_string_length(json_object_get(j, "time")) > 0);
        json_decref(j);
        expect_quiet(mine[i]); /* once */
    }
    expect_quiet(&o); /* sent with a's, on the same gateway: it would be here by now */
    wsc_close(&a);
    wsc_close(&b);
    wsc_close(&o);
    free(org);
    free(win);
    free(other);
}

/* The seq (int64 as a string) of an {"type":"event"} message. */
static int64_t ev_seq(json_t *m)
{
    return strtoll(json_string_value(json_object_get(json_object_get(m, "event"), "seq")), NULL,
                   10);
}

/* Issue 13 item 8 (a stress run lost an event on the Replay path): a resume that needs the
 * source's Replay, with events of the room arriving live WHILE the Replay is in flight. The
 * Replay's answer ends at the source's last event of that moment; the two that came after it
 * reached the gateway live, and its ring (ws.ring 1) kept only the last. The switch to live must
 * fetch the rest from the source again, not take the ring's one and skip the other (the old
 * code delivered the second event without the first). Made to happen on purpose: rooms is
 * reached through a hop (hop.c) that holds the Replay's reply until both events are in
 * the gateway's feed. */
static void replay_in_flight_misses_nothing(void **state)
{
    (void)state;
    hop *hold = hop_new(rooms->url);
    assert_non_null(hold);
    gwi held_gw;
    char via[200];
    snprintf(via, sizeof via, "CONFETTI_SERVICES_ROOMS=%s", hop_url(hold));
    const char *extra[] = {"CONFETTI_WS_RING=1", via, NULL};
    start_gw(&held_gw, bus_sub, extra);
    for (int i = 0; i < 600 && !gw_ready(held_gw.g); i++)
        usleep(50000);
    assert_true(gw_ready(held_gw.g));

    char *org = th_token(keys, "ws-org-inflight", 600, false);
    char room[64], path[160];
    make_room(org, true, true, room);
    snprintf(path, sizeof path, "/v1/rooms/%s", room);
    wsc w; /* a live witness on the same gateway: when it has an event, so has the ring */
    assert_int_equal(wsc_open(&w, held_gw.port, "confetti.v1", 0), 101);
    wsc_auth(&w, org, "ws-org-inflight");
    json_decref(wsc_subscribe(&w, room, NULL, NULL));
    json_decref(api("PATCH", path, org, "{\"description\":\"one\"}"));
    json_t *j = wsc_event(&w, "roomUpdated", WAIT_MS);
    int64_t s1 = ev_seq(j);
    json_decref(j);

    /* resume from before s1: the ring (one event) does not cover it, so the gateway asks
     * rooms' Replay from s1 - 1 */
    hop_arm_replay(hold, s1 - 1);
    wsc c;
    assert_int_equal(wsc_open(&c, held_gw.port, "confetti.v1", 0), 101);
    wsc_auth(&c, org, "ws-org-inflight");
    wsc_resume_rooms(&c, room, (long long)(s1 - 2));
    assert_true(hop_wait_held(hold, WAIT_MS));

    /* two events while the Replay's answer (ending at s1) is held */
    json_decref(api("PATCH", path, org, "{\"description\":\"two\"}"));
    json_decref(api("PATCH", path, org, "{\"description\":\"three\"}"));
    j = wsc_event(&w, "roomUpdated", WAIT_MS);
    int64_t s2 = ev_seq(j);
    json_decref(j);
    j = wsc_event(&w, "roomUpdated", WAIT_MS);
    int64_t s3 = ev_seq(j);
    json_decref(j);
    assert_true(s1 < s2 && s2 < s3);
    int before = hop_replays(hold);
    hop_release(hold);

    /* the resume: s1, then s2 and s3 (each once, in order), then "subscribed" */
    int64_t seen[8];
    size_t n = 0;
    for (;;) {
        j = wsc_next(&c, WAIT_MS);
        if (!j)
            fail_msg("no answer to the subscribe after %zu events", n);
        const char *t = json_string_value(json_object_get(j, "type"));
        if (t && strcmp(t, "event") == 0 && strcmp(ev_kind(j), "roomUpdated") == 0 && n < 8)
            seen[n++] = ev_seq(j);
        bool done = t && strcmp(t, "subscribed") == 0;
        json_decref(j);
        if (done)
            break;
    }
    assert_int_equal(n, 3);
    assert_int_equal(seen[0], s1);
    assert_int_equal(seen[1], s2);
    assert_int_equal(seen[2], s3);
    assert_true(hop_replays(hold) > before); /* the rest came from the source */

    wsc_close(&c);
    wsc_close(&w);
    stop_gw(&held_gw);
    hop_free(hold);
    free(org);
}

/* Resume from a position the source no longer keeps: close 4010. rooms' outbox is pruned with
 * a retention of 1 s by the relay's own prune (events_prune: what events.retention does; a
 * second rooms process cannot run in this one, a service's config being one per process); the
 * small gateway (ws.ring 1) must go to Replay, which no longer has the events. */
static void resume_too_old(void **state)
{
    (void)state;
    char *org = th_token(keys, "ws-org-o", 600, false);
    char room[64];
    make_room(org, true, true, room);
    db_conn *db = db_conn_new(rooms->dsn, "rooms", NULL, 0);
    bool pruned = false;
    for (int i = 0; i < 300 && !pruned; i++) { /* until seq 2 is gone from Replay */
        assert_int_equal(db_conn_ensure(db), CF_OK);
        assert_int_equal(events_prune(db, 1000), CF_OK);
        Events__V1__ReplayRequest req = EVENTS__V1__REPLAY_REQUEST__INIT;
        req.from_seq = 2;
        req.limit = 1;
        rpc_ccall cc;
        rpc_ccall_init(&cc, NULL);
        rpc_client_invoke(rooms->client, &events__v1__events__descriptor, 0, &req.base, &cc);
        assert_int_equal(cc.code, CF_OK);
        const Events__V1__ReplayResponse *r = (const void *)cc.response;
        pruned = r->n_events == 0 || r->events[0]->seq > 2;
        rpc_ccall_free(&cc);
        if (!pruned)
            usleep(100000);
    }
    db_conn_free(db);
    assert_true(pruned);

    wsc c;
    assert_int_equal(wsc_open(&c, small_gw.port, "confetti.v1", 0), 101);
    wsc_auth(&c, org, "ws-org-o");
    wsc_resume_rooms(&c, room, 1);
    wsc_expect_close(&c, GW_WS_RESUME_TOO_OLD, WAIT_MS);
    wsc_close(&c);
    free(org);
}

/* The gateway's /metrics shows the feed's counters. */
/* Issue 24 item 1: a resume is held in memory until it is sent, and more events than the send
 * queue holds (ws.send_queue, 8 on small_gw) could not be sent anyway: such a resume ends with
 * 4010 and a reason as soon as the replay passes the bound, instead of collecting every event
 * and then dropping the client as too slow (4029). */
static void resume_longer_than_the_send_queue(void **state)
{
    (void)state;
    char *org = th_token(keys, "ws-org-long", 600, false);
    char room[64];
    make_room(org, true, true, room);
    Events__V1__ReplayRequest req = EVENTS__V1__REPLAY_REQUEST__INIT;
    req.from_seq = INT64_MAX / 2;
    req.limit = 1;
    rpc_ccall cc;
    rpc_ccall_init(&cc, NULL);
    rpc_client_invoke(rooms->client, &events__v1__events__descriptor, 0, &req.base, &cc);
    assert_int_equal(cc.code, CF_OK);
    int64_t from = ((const Events__V1__ReplayResponse *)cc.response)->last_seq;
    rpc_ccall_free(&cc);

    /* 12 joins after `from`, seen live by a reader on small_gw (so its feed has them too) */
    wsc live;
    assert_int_equal(wsc_open(&live, small_gw.port, "confetti.v1", 0), 101);
    wsc_auth(&live, org, "ws-org-long");
    json_decref(wsc_subscribe(&live, room, NULL, NULL));
    for (int i = 0; i < 12; i++) {
        char sub[32];
        snprintf(sub, sizeof sub, "ws-long-%d", i);
        char *t = th_token(keys, sub, 600, false);
        join(room, t);
        json_decref(wsc_joined(&live, sub));
        free(t);
    }
    wsc_close(&live);

    wsc c;
    assert_int_equal(wsc_open(&c, small_gw.port, "confetti.v1", 0), 101);
    wsc_auth(&c, org, "ws-org-long");
    wsc_resume_rooms(&c, room, (long long)from);
    wsc_expect_close(&c, GW_WS_RESUME_TOO_OLD, WAIT_MS);
    wsc_close(&c);
    free(org);
}

/* Issue 24 item 1: a connection holds at most 100 subscriptions (docs/operations.md, "Memory a
 * client can grow"); the 101st is an error naming the bound and makes nothing. */
static void subscriptions_per_connection_are_bounded(void **state)
{
    (void)state;
    char *org = th_token(keys, "ws-org-many", 600, false);
    wsc c;
    assert_int_equal(wsc_open(&c, main_gw.port, "confetti.v1", 0), 101);
    wsc_auth(&c, org, "ws-org-many");
    char room[64];
    json_t *events = json_array(); /* the live events of rooms already subscribed, skipped */
    for (int i = 0; i < 100; i++) {
        make_room(org, true, false, room);
        json_t *j = wsc_subscribe(&c, room, NULL, events);
        if (strcmp(json_string_value(json_object_get(j, "type")), "subscribed") != 0)
            fail_msg("subscription %d: %s", i + 1, json_dumps(j, 0));
        json_decref(j);
    }
    make_room(org, true, false, room);
    json_t *j = wsc_subscribe(&c, room, NULL, events);
    json_decref(events);
    assert_string_equal(json_string_value(json_object_get(j, "type")), "error");
    assert_string_equal(json_string_value(json_object_get(j, "code")), "RESOURCE_EXHAUSTED");
    assert_string_equal(json_string_value(json_object_get(j, "message")), "too many subscriptions");
    json_decref(j);
    wsc_close(&c);
    free(org);
}

/* ---------------------------------------------------------------- the response cache */

/* The gateway's response cache (services/gateway/cache.h) is kept exact by the events this feed
 * follows. main_gw runs it with a TTL of 60 s, so only an event (or this gateway's own write)
 * can make an answer fresh within the test's few seconds; changes are made through small_gw,
 * another replica, which main_gw hears of only through the bus. */

static th_http_resp gw_call(const gwi *x, const char *method, const char *path, const char *token,
                            const char *body)
{
    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", x->port, path);
    return th_http(&(th_http_req){.method = method, .url = url, .bearer = token, .body = body});
}

static void gw_ok(const gwi *x, const char *method, const char *path, const char *token,
                  const char *body)
{
    th_http_resp r = gw_call(x, method, path, token, body);
    if (r.status != 200)
        fail_msg("%s %s: %ld %s", method, path, r.status, r.body);
    th_http_free(&r);
}

/* A public DRAFT room made through gateway x; its id into room. */
static void public_room_via(const gwi *x, const char *org, const char *name, char room[64])
{
    char body[128];
    snprintf(body, sizeof body, "{\"name\":\"%s\",\"isPublic\":true}", name);
    th_http_resp r = gw_call(x, "POST", "/v1/rooms", org, body);
    assert_int_equal(r.status, 200);
    json_t *j = json_loads(r.body, 0, NULL);
    snprintf(room, 64, "%s", json_string_value(json_object_get(j, "roomId")));
    json_decref(j);
    th_http_free(&r);
}

static double hits_of(metrics *m)
{
    char *text = metrics_render(m, NULL);
    const char *p = strstr(text, "confetti_gateway_cache_hits_total{");
    double v = p ? atof(strchr(p, '}') + 1) : -1;
    free(text);
    return v;
}

static double cache_hits(void)
{
    return hits_of(mx);
}

/* GET path from gateway x (metrics m) until one answer comes from the cache (the events of
 * earlier changes may still be arriving and dropping entries); returns that answer's body
 * (caller frees). Fails after 5 s: a cache that never answers fails here. */
static char *cached_on(const gwi *x, metrics *m, const char *path, const char *token)
{
    int64_t end = cf_mono_ns() + WAIT_MS * 1000000LL;
    for (;;) {
        double h = hits_of(m);
        th_http_resp r = gw_call(x, "GET", path, token, NULL);
        assert_int_equal(r.status, 200);
        if (hits_of(m) == h + 1) {
            char *body = xstrdup(r.body);
            th_http_free(&r);
            return body;
        }
        th_http_free(&r);
        if (cf_mono_ns() > end)
            fail_msg("GET %s: never answered from the cache", path);
        usleep(20000);
    }
}

static char *cached(const char *path, const char *token)
{
    return cached_on(&main_gw, mx, path, token);
}

/* Polls main_gw until GET path (as token, or anonymous) answers with `status` and a body that
 * contains `has` and not `lacks` (either may be NULL); fails after WAIT_MS. */
static void eventually(const char *path, const char *token, long status, const char *has,
                       const char *lacks)
{
    int64_t end = cf_mono_ns() + WAIT_MS * 1000000LL;
    th_http_resp r = {0};
    for (;;) {
        r = gw_call(&main_gw, "GET", path, token, NULL);
        if (r.status == status && (!has || strstr(r.body, has)) &&
            (!lacks || !strstr(r.body, lacks)))
            break;
        if (cf_mono_ns() > end)
            fail_msg("GET %s: still %ld %s (want %ld, has %s, lacks %s)", path, r.status, r.body,
                     status, has ? has : "-", lacks ? lacks : "-");
        th_http_free(&r);
        usleep(20000);
    }
    th_http_free(&r);
}

/* SPEC §6 GET /v1/rooms (anonymous): the same answer is reused, and a change to any room made
 * through another gateway reaches this one's listing by the event, long before the TTL. */
static void cache_listing_follows_events(void **state)
{
    (void)state;
    char *org = th_token(keys, "cache-org-l", 600, false);
    const char *list = "/v1/rooms?status=ACTIVE&pageSize=100&isPublic=true";
    free(cached(list, NULL));

    /* created and activated through the other replica */
    char room[64], path[128], has[96];
    public_room_via(&small_gw, org, "CacheListed", room);
    snprintf(path, sizeof path, "/v1/rooms/%s:activate", room);
    gw_ok(&small_gw, "POST", path, org, NULL);
    snprintf(has, sizeof has, "\"roomId\":\"%s\"", room);
    eventually(list, NULL, 200, has, NULL);
    snprintf(path, sizeof path, "/v1/rooms/%s", room);
    gw_ok(&small_gw, "PATCH", path, org, "{\"name\":\"CacheRenamed\"}");
    eventually(list, NULL, 200, "CacheRenamed", "CacheListed");
    gw_ok(&small_gw, "PATCH", path, org, "{\"isPublic\":false}");
    eventually(list, NULL, 200, NULL, has); /* gone from the anonymous listing */

    free(org);
}

/* Read-your-writes through one gateway: a change made through it drops its cached answers at
 * once, before any event. lonely_gw hears no events on the bus, so nothing else can make its
 * listing fresh within the test (bar the subscriber's Replay catch-up, once a second). */
static void cache_read_your_writes(void **state)
{
    (void)state;
    char *org = th_token(keys, "cache-org-w", 600, false);
    const char *list = "/v1/rooms?status=ACTIVE&pageSize=100&isPublic=true";
    char room[64], path[128], has[96];
    public_room_via(&lonely_gw, org, "CacheMine", room);
    /* the listing without it, answered from the cache (a Replay catch-up may drop it first) */
    free(cached_on(&lonely_gw, mx_lonely, list, NULL));
    snprintf(path, sizeof path, "/v1/rooms/%s:activate", room);
    gw_ok(&lonely_gw, "POST", path, org, NULL);
    snprintf(has, sizeof has, "\"roomId\":\"%s\"", room);
    th_http_resp r = gw_call(&lonely_gw, "GET", list, NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, has));
    th_http_free(&r);
    free(org);
}

/* SPEC §6 GET /v1/rooms/{roomId} and §3 "see a private room": a public room's answer is kept per
 * caller (myRole differs), follows membership and room changes made elsewhere, and a room made
 * private stops being served to those who may not see it. A private room is never kept. */
static void cache_room_follows_events(void **state)
{
    (void)state;
    char *org = th_token(keys, "cache-org-r", 600, false);
    char *bob = th_token(keys, "cache-bob-r", 600, false);
    char *eve = th_token(keys, "cache-eve-r", 600, false);
    char room[64], path[128];
    make_room(org, true, true, room);
    snprintf(path, sizeof path, "/v1/rooms/%s", room);
    char *body = cached(path, org);
    assert_non_null(strstr(body, "\"myRole\":\"ORGANIZER\""));
    free(body);
    body = cached(path, bob); /* his own answer, not the owner's */
    assert_non_null(strstr(body, "\"myRole\":\"ROLE_UNSPECIFIED\""));
    free(body);
    free(cached(path, eve));

    char join_path[160];
    snprintf(join_path, sizeof join_path, "/v1/rooms/%s/participants", room);
    gw_ok(&small_gw, "POST", join_path, bob, "{}");
    eventually(path, bob, 200, "\"myRole\":\"PARTICIPANT\"", NULL);
    gw_ok(&small_gw, "PATCH", path, org, "{\"isPublic\":false}");
    eventually(path, eve, 404, NULL, NULL); /* not a member: the room is hidden now */
    eventually(path, bob, 200, "\"isPublic\":false", NULL);

    /* private: every GET goes to rooms */
    double h0 = cache_hits();
    gw_ok(&main_gw, "GET", path, bob, NULL);
    gw_ok(&main_gw, "GET", path, bob, NULL);
    assert_true(cache_hits() == h0);
    free(org), free(bob), free(eve);
}

static void metrics_exposed(void **state)
{
    (void)state;
    char *text = metrics_render(mx, NULL);
    assert_non_null(strstr(text, "confetti_ws_connections{"));
    assert_non_null(strstr(text, "confetti_ws_messages_sent_total{"));
    assert_non_null(strstr(text, "confetti_ws_dropped_slow_total{"));
    free(text);
    assert_true(atomic_load(&stats.sent) > 0);
}

/* Graceful shutdown: every client gets {"type":"close","code":1001} and a 1001 close frame. */
static void shutdown_going_away(void **state)
{
    (void)state;
    char *tok = th_token(keys, "ws-bye", 600, false);
    wsc c;
    assert_int_equal(wsc_open(&c, small_gw.port, "confetti.v1", 0), 101);
    wsc_auth(&c, tok, "ws-bye");
    stop_gw(&small_gw);
    wsc_expect_close(&c, GW_WS_GOING_AWAY, WAIT_MS);
    wsc_close(&c);
    free(tok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(auth_refused),
        cmocka_unit_test(auth_ok),
        cmocka_unit_test(token_expiry_closes),
        cmocka_unit_test(private_room),
        cmocka_unit_test(member_receives_events),
        cmocka_unit_test(resume_from_ring),
        cmocka_unit_test(resume_from_replay),
        cmocka_unit_test(slow_client_dropped),
        cmocka_unit_test(bad_messages),
        cmocka_unit_test(unauthenticated_is_small),
        cmocka_unit_test(idle_authenticated_is_small),
        cmocka_unit_test(idle_authenticated_rss_is_small),
        cmocka_unit_test(removed_member_unsubscribed),
        cmocka_unit_test(made_private_and_deleted),
        cmocka_unit_test(held_events_bounded),
        cmocka_unit_test(resume_longer_than_the_send_queue),
        cmocka_unit_test(subscriptions_per_connection_are_bounded),
        cmocka_unit_test(history_keeps_its_privacy_ring),
        cmocka_unit_test(history_keeps_its_privacy_replay),
        cmocka_unit_test(replay_in_flight_misses_nothing),
        cmocka_unit_test(winner_is_told_on_every_connection),
        cmocka_unit_test(resume_too_old),
        cmocka_unit_test(cache_listing_follows_events),
        cmocka_unit_test(cache_room_follows_events),
        cmocka_unit_test(cache_read_your_writes),
        cmocka_unit_test(metrics_exposed),
        cmocka_unit_test(shutdown_going_away),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
