/* load.c — confetti-rehearsal-load: the load of the scale-out rehearsal (tools/rehearsal/run.sh,
 * docs/operations.md "Rehearsal: replicas, rolling restarts, kills").
 *
 * HTTP workers send a mix to the gateways through libcurl (keep-alive), WebSocket clients follow
 * the hot room's feed, and at the end one table per phase is printed. The program also plays the
 * load balancer in front of the gateways (a Kubernetes Service / ingress does it in a cluster): a
 * request whose connection is refused, or that a draining gateway answers 503 "shutting down"
 * before doing anything, is sent to the next gateway and counted "rerouted", not failed.
 *
 *   confetti-rehearsal-load --gateways URL[,URL…] --dev DIR --room ID --owner SUB
 *       --prizes ID[,ID…] --stop FILE --phases FILE --out FILE
 *       [--threads N] [--ws N] [--mix full|get|draw] [--readers N]
 *
 * --mix full: anonymous listing 25 %, signed-in listing 20 %, signed-in room read 30 %,
 * join (a new user joins the hot room, idempotent) 10 %, draw of one winner of a hot prize
 * (owner, Idempotency-Key) 15 %; get / draw: only the signed-in room read / only the draw.
 * Runs until FILE --stop exists. Phases: FILE --phases holds "name epoch_ms" lines (written by the
 * driver); a request belongs to the phase it started in. Results: the table on stdout, and
 * key=value lines in --out for the driver's goals:
 *   phase.<name>.sent/.ok/.rerouted/.failed/.p50_ms/.p99_ms, fail.<name>.<status>=n,
 *   ws.clients, ws.resumes, ws.min_joined, ws.max_joined, ws.min_won, ws.max_won, ws.dups,
 *   ws.too_old, joins.ok, draws.ok, rps (whole run), wall_s.
 * Exit: 0 when it ran (the goals are the driver's), 2 on bad arguments or set-up failure. */
#include "authn/sign.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_GW     8
#define MAX_PRIZES 16
#define MAX_PHASES 8

enum op { OP_LIST_ANON, OP_LIST_AUTH, OP_ROOM_GET, OP_JOIN, OP_DRAW, OP_N };
static const char *const op_names[OP_N] = {"list (anonymous)", "list (signed in)", "room read",
                                           "join", "draw"};

typedef struct rec {
    int64_t start_ms; /* wall clock: compared with the driver's phase stamps */
    int32_t lat_us;
    int16_t status; /* HTTP status; 0 = transport failure (curl_code holds why) */
    uint8_t op;
    uint8_t failed;
    int16_t curl_code;
    uint8_t rerouted;
} rec;

/* The first failed requests as they were answered, printed after the tables: what a missed
 * goal needs to be diagnosed (which gateway, when, what status and message). */
enum { SAMPLES = 12 };
typedef struct sample {
    int64_t at_ms;
    int gw;
    uint8_t op;
    long status;
    int curl_code;
    char text[200];
} sample;
static sample samples[SAMPLES];
static int nsamples;
static pthread_mutex_t samples_mu = PTHREAD_MUTEX_INITIALIZER;

static void sample_failure(int64_t at_ms, int gw, uint8_t op, long status, int cc, const char *b)
{
    pthread_mutex_lock(&samples_mu);
    if (nsamples < SAMPLES) {
        sample *x = &samples[nsamples++];
        *x = (sample){.at_ms = at_ms, .gw = gw, .op = op, .status = status, .curl_code = cc};
        size_t k = 0;
        for (const char *p = b; *p && k < sizeof x->text - 1; p++) /* one line */
            x->text[k++] = *p == '\n' || *p == '\r' || *p == '|' ? ' ' : *p;
        x->text[k] = '\0';
    }
    pthread_mutex_unlock(&samples_mu);
}

typedef struct worker {
    int id;
    pthread_t th;
    rec *recs;
    size_t n, cap;
    unsigned seed;
    long seq;
} worker;

static struct {
    char *gw[MAX_GW];
    int ngw;
    const char *dev, *room, *owner, *stop, *phases, *out, *mix;
    char *prizes[MAX_PRIZES];
    int nprizes;
    int threads, ws, readers;
} opt = {.threads = 8, .ws = 8, .readers = 200, .mix = "full"};

static authn_signer *signer;
static pthread_mutex_t sign_mu = PTHREAD_MUTEX_INITIALIZER;
static char *owner_tok;
static char **reader_tok;
static atomic_bool stopping;
static atomic_long joins_ok, draws_ok;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static char *mint(const char *sub)
{
    authn_claims c = {.iss = "confetti", .aud = "confetti", .sub = sub, .ttl_seconds = 7200};
    char *tok = NULL;
    pthread_mutex_lock(&sign_mu);
    cf_code rc = authn_sign(signer, &c, &tok);
    pthread_mutex_unlock(&sign_mu);
    if (rc != CF_OK) {
        fprintf(stderr, "rehearsal-load: cannot sign a token for %s\n", sub);
        exit(2);
    }
    return tok;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *buf = malloc(65536);
    size_t n = buf ? fread(buf, 1, 65535, f) : 0;
    fclose(f);
    if (buf)
        buf[n] = '\0';
    return buf;
}

static int split(char *s, char **out, int max)
{
    int n = 0;
    for (char *p = strtok(s, ","); p && n < max; p = strtok(NULL, ","))
        out[n++] = p;
    return n;
}

/* ---- HTTP workers ---------------------------------------------------------------------- */

typedef struct body {
    char buf[4096];
    size_t len;
} body;

static size_t on_body(char *p, size_t sz, size_t nm, void *ud)
{
    body *b = ud;
    size_t n = sz * nm, room = sizeof b->buf - 1 - b->len;
    memcpy(b->buf + b->len, p, n < room ? n : room);
    b->len += n < room ? n : room;
    b->buf[b->len] = '\0';
    return n;
}

static enum op pick(worker *w)
{
    if (strcmp(opt.mix, "get") == 0)
        return OP_ROOM_GET;
    if (strcmp(opt.mix, "draw") == 0)
        return OP_DRAW;
    int r = rand_r(&w->seed) % 100;
    return r < 25   ? OP_LIST_ANON
           : r < 45 ? OP_LIST_AUTH
           : r < 75 ? OP_ROOM_GET
           : r < 85 ? OP_JOIN
                    : OP_DRAW;
}

/* Is this answer a failure? Expected refusals: a draw on an exhausted prize (409
 * FAILED_PRECONDITION / nobody left to draw); everything else must be 2xx. */
static bool is_failure(enum op op, long status)
{
    if (status >= 200 && status < 300)
        return false;
    if (op == OP_DRAW && status == 409)
        return false;
    return true;
}

static void one(worker *w, CURL *h, int *gwi)
{
    enum op op = pick(w);
    char url[512], key[128], hdr_auth[4096], hdr_key[160];
    const char *json = NULL;
    char jbuf[256];
    char *tok = NULL;
    const char *bearer = NULL;
    struct curl_slist *hdrs = NULL;
    w->seq++;
    switch (op) {
    case OP_LIST_ANON:
    case OP_LIST_AUTH:
        snprintf(url, sizeof url, "/v1/rooms?status=ACTIVE&pageSize=20");
        if (op == OP_LIST_AUTH)
            bearer = reader_tok[rand_r(&w->seed) % opt.readers];
        break;
    case OP_ROOM_GET:
        snprintf(url, sizeof url, "/v1/rooms/%s", opt.room);
        bearer = reader_tok[rand_r(&w->seed) % opt.readers];
        break;
    case OP_JOIN: {
        char sub[64];
        snprintf(sub, sizeof sub, "reh-join-%d-%ld", w->id, w->seq);
        tok = mint(sub);
        bearer = tok;
        snprintf(url, sizeof url, "/v1/rooms/%s/participants", opt.room);
        json = "{\"role\":\"PARTICIPANT\"}";
        break;
    }
    case OP_DRAW:
        snprintf(url, sizeof url, "/v1/rooms/%s/draws", opt.room);
        snprintf(jbuf, sizeof jbuf, "{\"prizeId\":\"%s\",\"count\":1}",
                 opt.prizes[rand_r(&w->seed) % opt.nprizes]);
        json = jbuf;
        bearer = owner_tok;
        snprintf(key, sizeof key, "reh-%d-%ld-%lld", w->id, w->seq, (long long)now_ms());
        snprintf(hdr_key, sizeof hdr_key, "Idempotency-Key: %s", key);
        hdrs = curl_slist_append(hdrs, hdr_key);
        break;
    default:
        return;
    }
    if (bearer) {
        snprintf(hdr_auth, sizeof hdr_auth, "Authorization: Bearer %s", bearer);
        hdrs = curl_slist_append(hdrs, hdr_auth);
    }
    if (json)
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json");

    rec r = {.start_ms = now_ms(), .op = (uint8_t)op};
    int64_t t0 = mono_us();
    long status = 0;
    CURLcode cc = CURLE_OK;
    body b = {.len = 0};
    int sent_to = *gwi;
    for (int attempt = 0; attempt < 2 * opt.ngw + 1; attempt++) {
        char full[600];
        snprintf(full, sizeof full, "%s%s", opt.gw[*gwi], url);
        b.len = 0;
        b.buf[0] = '\0';
        sent_to = *gwi;
        curl_easy_setopt(h, CURLOPT_URL, full);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
        if (json) {
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, json);
        } else {
            curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        }
        cc = curl_easy_perform(h);
        status = 0;
        if (cc == CURLE_OK)
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        /* the load balancer's part: nothing reached a gateway, or a draining one refused it
         * before doing anything — the next gateway gets it */
        bool refused = cc == CURLE_COULDNT_CONNECT ||
                       (status == 503 && strstr(b.buf, "shutting down") != NULL);
        if (!refused)
            break;
        r.rerouted = 1;
        *gwi = (*gwi + 1) % opt.ngw;
        if (attempt >= opt.ngw) { /* every gateway refused: wait for one to come back */
            struct timespec ts = {0, 100000000};
            nanosleep(&ts, NULL);
        }
    }
    r.lat_us = (int32_t)(mono_us() - t0);
    r.status = (int16_t)status;
    r.curl_code = (int16_t)cc;
    r.failed = cc != CURLE_OK || is_failure(op, status);
    if (r.failed)
        sample_failure(r.start_ms + r.lat_us / 1000, sent_to, (uint8_t)op, status, (int)cc,
                       cc != CURLE_OK ? curl_easy_strerror(cc) : b.buf);
    if (!r.failed && status < 300) {
        if (op == OP_JOIN)
            atomic_fetch_add(&joins_ok, 1);
        if (op == OP_DRAW)
            atomic_fetch_add(&draws_ok, 1);
    }
    curl_slist_free_all(hdrs);
    free(tok);
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 4096;
        w->recs = realloc(w->recs, w->cap * sizeof *w->recs);
        if (!w->recs)
            abort();
    }
    w->recs[w->n++] = r;
    /* spread over the gateways like a balancer does per request */
    *gwi = (*gwi + 1) % opt.ngw;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    CURL *h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    int gwi = w->id % opt.ngw;
    while (!atomic_load(&stopping))
        one(w, h, &gwi);
    curl_easy_cleanup(h);
    return NULL;
}

/* ---- WebSocket clients ----------------------------------------------------------------- */

typedef struct wsc {
    int id;
    pthread_t th;
    char *tok;
    long last_rooms, last_draw; /* the last seq seen of each source (the resume position) */
    atomic_long joined, won, dups, resumes, too_old;
    atomic_bool subscribed;
    atomic_long seen_at; /* mono ms of the last event */
} wsc;

static atomic_int ws_stop; /* 2: the clients close now */

static int ws_connect(const char *gw)
{
    char host[256];
    int port = 80;
    if (sscanf(gw, "http://%255[^:/]:%d", host, &port) < 1)
        return -1;
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *ai;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    if (getaddrinfo(host, ps, &hints, &ai) != 0)
        return -1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    if (fd >= 0) {
        struct timeval tv = {1, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
    return fd;
}

static int send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t k = send(fd, c, n, MSG_NOSIGNAL);
        if (k <= 0)
            return -1;
        c += k;
        n -= (size_t)k;
    }
    return 0;
}

static int ws_send(int fd, int opcode, const char *msg, size_t n)
{
    unsigned char hdr[14];
    size_t h = 0;
    hdr[h++] = (unsigned char)(0x80 | opcode);
    if (n < 126) {
        hdr[h++] = (unsigned char)(0x80 | n);
    } else {
        hdr[h++] = 0x80 | 126;
        hdr[h++] = (unsigned char)(n >> 8);
        hdr[h++] = (unsigned char)n;
    }
    memset(hdr + h, 0, 4); /* a zero mask: the payload goes as is */
    h += 4;
    if (send_all(fd, hdr, h) != 0)
        return -1;
    return send_all(fd, msg, n);
}

/* Reads exactly n bytes; -1 on EOF/error, 0 on success; a receive timeout retries while the
 * client is not told to stop. */
static int read_n(int fd, void *p, size_t n)
{
    char *c = p;
    while (n) {
        ssize_t k = recv(fd, c, n, 0);
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            if (atomic_load(&ws_stop) == 2)
                return -1;
            continue;
        }
        if (k <= 0)
            return -1;
        c += k;
        n -= (size_t)k;
    }
    return 0;
}

static void ws_event(wsc *c, json_t *ev)
{
    const char *src = json_string_value(json_object_get(ev, "source"));
    const char *seqs = json_string_value(json_object_get(ev, "seq"));
    if (!src || !seqs)
        return;
    long seq = atol(seqs);
    long *last = strcmp(src, "rooms") == 0  ? &c->last_rooms
                 : strcmp(src, "draw") == 0 ? &c->last_draw
                                            : NULL;
    if (!last)
        return;
    if (seq <= *last) {
        atomic_fetch_add(&c->dups, 1);
        return;
    }
    *last = seq;
    if (json_object_get(ev, "participantJoined"))
        atomic_fetch_add(&c->joined, 1);
    if (json_object_get(ev, "winnerDrawn"))
        atomic_fetch_add(&c->won, 1);
    atomic_store(&c->seen_at, mono_us() / 1000);
}

/* One connection's life: handshake, subscribe (with the positions after the first), read until
 * it ends. Returns false when the feed refused the resume (4010). */
static bool ws_session(wsc *c, const char *gw, bool resume)
{
    int fd = ws_connect(gw);
    if (fd < 0)
        return true;
    char req[4096];
    const char *host = gw + strlen("http://");
    int n =
        snprintf(req, sizeof req,
                 "GET /v1/ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                 "Sec-WebSocket-Protocol: confetti.v1, bearer.%s\r\n\r\n",
                 host, c->tok);
    char head[4096];
    size_t hl = 0;
    bool ok = send_all(fd, req, (size_t)n) == 0;
    while (ok && hl < sizeof head - 1) {
        if (read_n(fd, head + hl, 1) != 0) {
            ok = false;
            break;
        }
        hl++;
        if (hl >= 4 && memcmp(head + hl - 4, "\r\n\r\n", 4) == 0)
            break;
    }
    head[hl] = '\0';
    if (!ok || strncmp(head, "HTTP/1.1 101", 12) != 0) {
        close(fd);
        return true;
    }
    char sub[512];
    if (resume)
        n = snprintf(sub, sizeof sub,
                     "{\"type\":\"subscribe\",\"roomId\":\"%s\",\"resume\":{\"rooms\":\"%ld\","
                     "\"draw\":\"%ld\"}}",
                     opt.room, c->last_rooms, c->last_draw);
    else
        n = snprintf(sub, sizeof sub, "{\"type\":\"subscribe\",\"roomId\":\"%s\"}", opt.room);
    bool keep = true;
    if (ws_send(fd, 1, sub, (size_t)n) != 0) {
        close(fd);
        return true;
    }
    char *msg = NULL;
    for (;;) {
        unsigned char h2[2];
        if (read_n(fd, h2, 2) != 0)
            break;
        int opcode = h2[0] & 0x0f;
        uint64_t len = h2[1] & 0x7f;
        if (len == 126) {
            unsigned char e[2];
            if (read_n(fd, e, 2) != 0)
                break;
            len = (uint64_t)e[0] << 8 | e[1];
        } else if (len == 127) {
            unsigned char e[8];
            if (read_n(fd, e, 8) != 0)
                break;
            len = 0;
            for (int i = 0; i < 8; i++)
                len = len << 8 | e[i];
        }
        if (len > (1u << 24))
            break;
        msg = malloc(len + 1);
        if (!msg || read_n(fd, msg, len) != 0)
            break;
        msg[len] = '\0';
        if (opcode == 9) {
            ws_send(fd, 10, msg, len);
        } else if (opcode == 8) {
            int code = len >= 2 ? ((unsigned char)msg[0] << 8 | (unsigned char)msg[1]) : 0;
            if (code == 4010)
                keep = false;
            break;
        } else if (opcode == 1) {
            json_t *j = json_loadb(msg, len, 0, NULL);
            const char *type = json_string_value(json_object_get(j, "type"));
            if (type && strcmp(type, "event") == 0)
                ws_event(c, json_object_get(j, "event"));
            else if (type && strcmp(type, "subscribed") == 0)
                atomic_store(&c->subscribed, true);
            else if (type && strcmp(type, "ping") == 0)
                ws_send(fd, 1, "{\"type\":\"pong\"}", 15);
            else if (type && strcmp(type, "error") == 0)
                fprintf(stderr, "rehearsal-load: ws %d: %.*s\n", c->id, (int)len, msg);
            json_decref(j);
        }
        free(msg);
        msg = NULL;
        if (atomic_load(&ws_stop) == 2)
            break;
    }
    free(msg);
    close(fd);
    return keep;
}

static void *ws_main(void *arg)
{
    wsc *c = arg;
    int gwi = c->id % opt.ngw;
    bool resume = false;
    while (atomic_load(&ws_stop) < 2) {
        if (resume)
            atomic_fetch_add(&c->resumes, 1);
        if (!ws_session(c, opt.gw[gwi], resume)) {
            atomic_fetch_add(&c->too_old, 1);
            break;
        }
        resume = atomic_load(&c->subscribed); /* positions mean something once subscribed */
        gwi = (gwi + 1) % opt.ngw;
        struct timespec ts = {0, 100000000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

/* ---- results --------------------------------------------------------------------------- */

typedef struct phase {
    char name[32];
    int64_t start;
} phase;

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static double pct(int32_t *v, size_t n, double p)
{
    if (!n)
        return 0;
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i] / 1000.0;
}

static void report(worker *ws, int nw, double wall_s)
{
    phase ph[MAX_PHASES];
    int np = 0;
    FILE *f = fopen(opt.phases, "r");
    if (f) {
        while (np < MAX_PHASES &&
               fscanf(f, "%31s %lld", ph[np].name, (long long *)&ph[np].start) == 2)
            np++;
        fclose(f);
    }
    if (np == 0) {
        snprintf(ph[0].name, sizeof ph[0].name, "run");
        ph[0].start = 0;
        np = 1;
    }
    FILE *out = fopen(opt.out, "w");
    if (!out) {
        fprintf(stderr, "rehearsal-load: cannot write %s\n", opt.out);
        exit(2);
    }
    size_t total = 0;
    for (int i = 0; i < nw; i++)
        total += ws[i].n;
    int32_t *lat = malloc((total + 1) * sizeof *lat);
    printf("| phase | requests | ok | rerouted | failed | p50 ms | p99 ms |\n");
    printf("|---|---:|---:|---:|---:|---:|---:|\n");
    for (int p = 0; p < np; p++) {
        int64_t from = ph[p].start, to = p + 1 < np ? ph[p + 1].start : INT64_MAX;
        size_t n = 0, ok = 0, rer = 0, failed = 0;
        long fails[1000] = {0}; /* by HTTP status; transport failures at 0-99 by curl code */
        for (int i = 0; i < nw; i++)
            for (size_t k = 0; k < ws[i].n; k++) {
                rec *r = &ws[i].recs[k];
                if (r->start_ms < from || r->start_ms >= to)
                    continue;
                lat[n++] = r->lat_us;
                rer += r->rerouted;
                if (r->failed) {
                    failed++;
                    fails[r->status ? r->status : r->curl_code % 100]++;
                } else {
                    ok++;
                }
            }
        qsort(lat, n, sizeof *lat, cmp_i32);
        double p50 = pct(lat, n, 0.50), p99 = pct(lat, n, 0.99);
        printf("| %s | %zu | %zu | %zu | %zu | %.1f | %.1f |\n", ph[p].name, n, ok, rer, failed,
               p50, p99);
        fprintf(out,
                "phase.%s.sent=%zu\nphase.%s.ok=%zu\nphase.%s.rerouted=%zu\nphase.%s.failed=%zu\n"
                "phase.%s.p50_ms=%.1f\nphase.%s.p99_ms=%.1f\n",
                ph[p].name, n, ph[p].name, ok, ph[p].name, rer, ph[p].name, failed, ph[p].name, p50,
                ph[p].name, p99);
        for (int s = 0; s < 1000; s++)
            if (fails[s]) {
                if (s < 100)
                    fprintf(out, "fail.%s.transport_%s=%ld\n", ph[p].name,
                            curl_easy_strerror((CURLcode)s), fails[s]);
                else
                    fprintf(out, "fail.%s.http_%d=%ld\n", ph[p].name, s, fails[s]);
            }
    }
    /* per operation, whole run */
    printf("\n| operation | requests | failed | p50 ms | p99 ms | req/s "
           "|\n|---|---:|---:|---:|---:|---:|\n");
    for (int o = 0; o < OP_N; o++) {
        size_t n = 0, failed = 0;
        for (int i = 0; i < nw; i++)
            for (size_t k = 0; k < ws[i].n; k++)
                if (ws[i].recs[k].op == o) {
                    lat[n++] = ws[i].recs[k].lat_us;
                    failed += ws[i].recs[k].failed;
                }
        if (!n)
            continue;
        qsort(lat, n, sizeof *lat, cmp_i32);
        printf("| %s | %zu | %zu | %.1f | %.1f | %.1f |\n", op_names[o], n, failed,
               pct(lat, n, 0.5), pct(lat, n, 0.99), (double)n / wall_s);
    }
    free(lat);
    if (nsamples) {
        printf("\nfirst failed requests (answered at, UTC; gateway; operation; status; body):\n");
        for (int i = 0; i < nsamples; i++) {
            time_t t = (time_t)(samples[i].at_ms / 1000);
            struct tm tm;
            gmtime_r(&t, &tm);
            printf("  %02d:%02d:%02d.%03d gw %d %s: %ld%s%s %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec,
                   (int)(samples[i].at_ms % 1000), samples[i].gw, op_names[samples[i].op],
                   samples[i].status, samples[i].curl_code ? " curl " : "",
                   samples[i].curl_code ? "error" : "", samples[i].text);
        }
    }
    fprintf(out, "requests=%zu\nrps=%.1f\nwall_s=%.2f\njoins.ok=%ld\ndraws.ok=%ld\n", total,
            (double)total / wall_s, wall_s, atomic_load(&joins_ok), atomic_load(&draws_ok));
    fclose(out);
}

static void report_ws(wsc *cs, int n)
{
    FILE *out = fopen(opt.out, "a");
    if (!out)
        exit(2);
    long minj = -1, maxj = 0, minw = -1, maxw = 0, dups = 0, res = 0, old = 0;
    for (int i = 0; i < n; i++) {
        long j = atomic_load(&cs[i].joined), w = atomic_load(&cs[i].won);
        minj = minj < 0 || j < minj ? j : minj;
        maxj = j > maxj ? j : maxj;
        minw = minw < 0 || w < minw ? w : minw;
        maxw = w > maxw ? w : maxw;
        dups += atomic_load(&cs[i].dups);
        res += atomic_load(&cs[i].resumes);
        old += atomic_load(&cs[i].too_old);
        fprintf(out, "ws.client.%d=%ld,%ld\n", i, j, w);
    }
    fprintf(out,
            "ws.clients=%d\nws.resumes=%ld\nws.min_joined=%ld\nws.max_joined=%ld\nws.min_won=%ld\n"
            "ws.max_won=%ld\nws.dups=%ld\nws.too_old=%ld\n",
            n, res, minj < 0 ? 0 : minj, maxj, minw < 0 ? 0 : minw, maxw, dups, old);
    fclose(out);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: confetti-rehearsal-load --gateways URL[,URL] --dev DIR --room ID --owner SUB "
            "--prizes ID[,ID] --stop FILE --phases FILE --out FILE [--threads N] [--ws N] "
            "[--mix full|get|draw] [--readers N]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {{"gateways", 1, 0, 'g'},
                                       {"dev", 1, 0, 'd'},
                                       {"room", 1, 0, 'r'},
                                       {"owner", 1, 0, 'o'},
                                       {"prizes", 1, 0, 'p'},
                                       {"stop", 1, 0, 's'},
                                       {"phases", 1, 0, 'P'},
                                       {"out", 1, 0, 'O'},
                                       {"threads", 1, 0, 't'},
                                       {"ws", 1, 0, 'w'},
                                       {"mix", 1, 0, 'm'},
                                       {"readers", 1, 0, 'R'},
                                       {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'g':
            opt.ngw = split(optarg, opt.gw, MAX_GW);
            break;
        case 'd':
            opt.dev = optarg;
            break;
        case 'r':
            opt.room = optarg;
            break;
        case 'o':
            opt.owner = optarg;
            break;
        case 'p':
            opt.nprizes = split(optarg, opt.prizes, MAX_PRIZES);
            break;
        case 's':
            opt.stop = optarg;
            break;
        case 'P':
            opt.phases = optarg;
            break;
        case 'O':
            opt.out = optarg;
            break;
        case 't':
            opt.threads = atoi(optarg);
            break;
        case 'w':
            opt.ws = atoi(optarg);
            break;
        case 'm':
            opt.mix = optarg;
            break;
        case 'R':
            opt.readers = atoi(optarg);
            break;
        default:
            usage();
        }
    }
    if (!opt.ngw || !opt.dev || !opt.room || !opt.owner || !opt.stop || !opt.phases || !opt.out ||
        opt.threads < 1 || opt.threads > 256 || opt.ws < 0 || opt.ws > 1000 || opt.readers < 1 ||
        (strcmp(opt.mix, "get") != 0 && !opt.nprizes))
        usage();
    char path[1024];
    snprintf(path, sizeof path, "%s/signing.pem", opt.dev);
    char *pem = slurp(path);
    if (!pem || authn_signer_new_pem(pem, "dev", "RS256", &signer) != CF_OK) {
        fprintf(stderr, "rehearsal-load: no usable %s\n", path);
        return 2;
    }
    free(pem);
    curl_global_init(CURL_GLOBAL_ALL);
    owner_tok = mint(opt.owner);
    reader_tok = calloc((size_t)opt.readers, sizeof *reader_tok);
    for (int i = 0; i < opt.readers; i++) {
        char sub[32];
        snprintf(sub, sizeof sub, "hot-%d", i + 1);
        reader_tok[i] = mint(sub);
    }

    /* the feed's clients first: the write load starts once every one is subscribed */
    wsc *cs = calloc((size_t)opt.ws + 1, sizeof *cs);
    for (int i = 0; i < opt.ws; i++) {
        cs[i].id = i;
        char sub[32];
        snprintf(sub, sizeof sub, "hot-%d", i + 1);
        cs[i].tok = mint(sub);
        pthread_create(&cs[i].th, NULL, ws_main, &cs[i]);
    }
    for (int waited = 0;; waited++) {
        int n = 0;
        for (int i = 0; i < opt.ws; i++)
            n += atomic_load(&cs[i].subscribed);
        if (n == opt.ws)
            break;
        if (waited > 600) {
            fprintf(stderr, "rehearsal-load: only %d of %d WebSocket clients subscribed in 60 s\n",
                    n, opt.ws);
            return 2;
        }
        struct timespec ts = {0, 100000000};
        nanosleep(&ts, NULL);
    }
    printf("rehearsal-load: %d WebSocket clients subscribed; %d HTTP workers start\n", opt.ws,
           opt.threads);
    fflush(stdout);

    worker *ws = calloc((size_t)opt.threads, sizeof *ws);
    int64_t t0 = mono_us();
    for (int i = 0; i < opt.threads; i++) {
        ws[i].id = i;
        ws[i].seed = (unsigned)(i * 7919 + 17);
        pthread_create(&ws[i].th, NULL, worker_main, &ws[i]);
    }
    struct stat st;
    while (stat(opt.stop, &st) != 0) {
        struct timespec ts = {0, 50000000};
        nanosleep(&ts, NULL);
    }
    atomic_store(&stopping, true);
    for (int i = 0; i < opt.threads; i++)
        pthread_join(ws[i].th, NULL);
    double wall = (double)(mono_us() - t0) / 1e6;
    report(ws, opt.threads, wall);

    /* the feed catches up: wait until no event came for 3 s (at most 60 s) */
    for (int waited = 0; waited < 600; waited++) {
        long last = 0, nowm = mono_us() / 1000;
        for (int i = 0; i < opt.ws; i++) {
            long s = atomic_load(&cs[i].seen_at);
            last = s > last ? s : last;
        }
        if (nowm - last > 3000)
            break;
        struct timespec ts = {0, 100000000};
        nanosleep(&ts, NULL);
    }
    atomic_store(&ws_stop, 2);
    for (int i = 0; i < opt.ws; i++)
        pthread_join(cs[i].th, NULL);
    report_ws(cs, opt.ws);

    for (int i = 0; i < opt.threads; i++)
        free(ws[i].recs);
    free(ws);
    for (int i = 0; i < opt.ws; i++)
        free(cs[i].tok);
    free(cs);
    for (int i = 0; i < opt.readers; i++)
        free(reader_tok[i]);
    free(reader_tok);
    free(owner_tok);
    authn_signer_free(signer);
    curl_global_cleanup();
    return 0;
}
