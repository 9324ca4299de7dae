/* bench_rpc.c — the RPC layer against raw nng req/rep with the same bytes, in the same run:
 * round-trip latency (p50, p99) and throughput at 1, 8 and 32 concurrent callers, over ipc and
 * tcp. Raw = a rep server whose workers echo the request bytes (one nng context each) and
 * callers that each reuse one req context; RPC = testsvc.v1.Echo through the full layer
 * (envelope, dispatch, metrics, a fresh context per call, generated stubs).
 * Usage: bench_rpc [seconds-per-cell]   (default 2) */

#include "bench.h"
#include "testsvc.h"
#include "th_ident.h"
#include "base/clock.h"
#include "base/log.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_SAMPLES 2000000

typedef struct raw_server {
    nng_socket sock;
    pthread_t threads[8];
    int n;
    atomic_bool stop;
} raw_server;

static void *raw_worker(void *arg)
{
    raw_server *s = arg;
    nng_ctx ctx;
    nng_aio *aio;
    nng_ctx_open(&ctx, s->sock);
    nng_aio_alloc(&aio, NULL, NULL);
    while (!atomic_load(&s->stop)) {
        nng_ctx_recv(ctx, aio);
        nng_aio_wait(aio);
        if (nng_aio_result(aio) != 0)
            break;
        nng_msg *m = nng_aio_get_msg(aio);
        nng_aio_set_msg(aio, m); /* echo the same bytes */
        nng_ctx_send(ctx, aio);
        nng_aio_wait(aio);
        if (nng_aio_result(aio) != 0)
            nng_msg_free(m);
    }
    nng_aio_free(aio);
    return NULL;
}

static void raw_start(raw_server *s, const char *url, int workers)
{
    nng_rep0_open(&s->sock);
    if (nng_listen(s->sock, url, NULL, 0) != 0) {
        fprintf(stderr, "listen %s failed\n", url);
        abort();
    }
    s->n = workers;
    for (int i = 0; i < workers; i++)
        pthread_create(&s->threads[i], NULL, raw_worker, s);
}

static void raw_stop(raw_server *s)
{
    atomic_store(&s->stop, true);
    nng_close(s->sock);
    for (int i = 0; i < s->n; i++)
        pthread_join(s->threads[i], NULL);
}

typedef struct caller {
    bool raw;
    nng_socket sock;    /* raw */
    rpc_client *client; /* rpc */
    const uint8_t *payload;
    size_t plen;
    const char *text;
    int64_t until;
    int64_t *samples;
    size_t n, cap;
    int errors;
} caller;

static void *run_caller(void *arg)
{
    caller *c = arg;
    nng_ctx ctx;
    nng_aio *aio;
    if (c->raw) {
        nng_ctx_open(&ctx, c->sock);
        nng_aio_alloc(&aio, NULL, NULL);
        nng_aio_set_timeout(aio, 5000);
    }
    ProtobufCService *svc =
        c->raw ? NULL : rpc_client_service(c->client, &testsvc__v1__echo__descriptor);
    while (cf_mono_ns() < c->until && c->n < c->cap) {
        int64_t t0 = cf_mono_ns();
        if (c->raw) {
            nng_msg *m;
            nng_msg_alloc(&m, 0);
            nng_msg_append(m, c->payload, c->plen);
            nng_aio_set_msg(aio, m);
            nng_ctx_send(ctx, aio);
            nng_aio_wait(aio);
            if (nng_aio_result(aio) != 0) {
                nng_msg_free(m);
                c->errors++;
                continue;
            }
            nng_ctx_recv(ctx, aio);
            nng_aio_wait(aio);
            if (nng_aio_result(aio) != 0) {
                c->errors++;
                continue;
            }
            nng_msg_free(nng_aio_get_msg(aio));
        } else {
            Testsvc__V1__EchoRequest req = TESTSVC__V1__ECHO_REQUEST__INIT;
            req.text = (char *)c->text;
            rpc_ccall cc;
            rpc_ccall_init(&cc, NULL);
            testsvc__v1__echo__echo(svc, &req, NULL, &cc);
            if (cc.code != CF_OK)
                c->errors++;
            rpc_ccall_free(&cc);
        }
        c->samples[c->n++] = cf_mono_ns() - t0;
    }
    if (c->raw) {
        nng_aio_free(aio);
        nng_ctx_close(ctx);
    }
    return NULL;
}

/* Async mode: one thread keeps `inflight` calls going with rpc_client_invoke_async (the way the
 * gateway calls), each completion recording its latency and starting the next call. */
typedef struct async_bench {
    rpc_client *client;
    const char *text;
    int64_t until;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int active;
    int64_t *samples;
    size_t n, cap;
    int errors;
} async_bench;

typedef struct async_slot {
    async_bench *b;
    rpc_ccall cc;
    int64_t t0;
} async_slot;

static void async_start(async_slot *s);

static void async_done(rpc_ccall *cc, void *arg)
{
    async_slot *s = arg;
    async_bench *b = s->b;
    int64_t now = cf_mono_ns();
    pthread_mutex_lock(&b->lock);
    if (cc->code != CF_OK)
        b->errors++;
    if (b->n < b->cap)
        b->samples[b->n++] = now - s->t0;
    bool again = now < b->until && b->n < b->cap;
    if (!again) {
        b->active--;
        pthread_cond_signal(&b->cond);
    }
    pthread_mutex_unlock(&b->lock);
    rpc_ccall_free(cc);
    if (again)
        async_start(s);
}

static void async_start(async_slot *s)
{
    Testsvc__V1__EchoRequest req = TESTSVC__V1__ECHO_REQUEST__INIT;
    req.text = (char *)s->b->text;
    rpc_ccall_init(&s->cc, NULL);
    s->t0 = cf_mono_ns();
    rpc_client_invoke_async(s->b->client, &testsvc__v1__echo__descriptor, 0, &req.base, &s->cc,
                            async_done, s);
}

typedef struct result {
    double rate, p50_us, p99_us;
    int errors;
} result;

/* ident: the RPC caller's service identity (NULL = calls without one). */
static result measure(bool raw, const char *url, int callers, double seconds,
                      const uint8_t *payload, size_t plen, const char *text, rpc_ident *ident)
{
    nng_socket sock;
    rpc_client *client = NULL;
    if (raw) {
        nng_req0_open(&sock);
        nng_dial(sock, url, NULL, 0);
    } else {
        rpc_client_config cc = {.urls = &url, .nurls = 1, .timeout_ms = 5000, .ident = ident};
        char err[256];
        if (rpc_client_new(&cc, &client, err, sizeof err) != CF_OK) {
            fprintf(stderr, "client: %s\n", err);
            abort();
        }
        usleep(50000);
    }
    caller *cs = calloc((size_t)callers, sizeof *cs);
    pthread_t *t = calloc((size_t)callers, sizeof *t);
    int64_t start = cf_mono_ns(), until = start + (int64_t)(seconds * 1e9);
    for (int i = 0; i < callers; i++) {
        cs[i] = (caller){.raw = raw,
                         .sock = sock,
                         .client = client,
                         .payload = payload,
                         .plen = plen,
                         .text = text,
                         .until = until,
                         .cap = MAX_SAMPLES / (size_t)callers};
        cs[i].samples = malloc(cs[i].cap * sizeof(int64_t));
        pthread_create(&t[i], NULL, run_caller, &cs[i]);
    }
    size_t total = 0;
    for (int i = 0; i < callers; i++) {
        pthread_join(t[i], NULL);
        total += cs[i].n;
    }
    double wall = (double)(cf_mono_ns() - start) / 1e9;
    int64_t *all = malloc(total * sizeof *all);
    size_t k = 0;
    result r = {0};
    for (int i = 0; i < callers; i++) {
        memcpy(all + k, cs[i].samples, cs[i].n * sizeof *all);
        k += cs[i].n;
        r.errors += cs[i].errors;
        free(cs[i].samples);
    }
    th_percentiles(all, total, &r.p50_us, &r.p99_us);
    r.rate = (double)total / wall;
    free(all);
    free(cs);
    free(t);
    if (raw)
        nng_close(sock);
    else
        rpc_client_free(client);
    return r;
}

static result measure_async(const char *url, int inflight, double seconds, const char *text)
{
    async_bench b = {.client = th_client(&url, 1, 5000),
                     .text = text,
                     .cap = MAX_SAMPLES,
                     .lock = PTHREAD_MUTEX_INITIALIZER,
                     .cond = PTHREAD_COND_INITIALIZER};
    usleep(50000);
    b.samples = malloc(b.cap * sizeof(int64_t));
    async_slot *slots = calloc((size_t)inflight, sizeof *slots);
    int64_t start = cf_mono_ns();
    b.until = start + (int64_t)(seconds * 1e9);
    b.active = inflight;
    for (int i = 0; i < inflight; i++) {
        slots[i].b = &b;
        async_start(&slots[i]);
    }
    pthread_mutex_lock(&b.lock);
    while (b.active > 0)
        pthread_cond_wait(&b.cond, &b.lock);
    pthread_mutex_unlock(&b.lock);
    double wall = (double)(cf_mono_ns() - start) / 1e9;
    result r = {.rate = (double)b.n / wall, .errors = b.errors};
    th_percentiles(b.samples, b.n, &r.p50_us, &r.p99_us);
    free(b.samples);
    free(slots);
    rpc_client_free(b.client);
    return r;
}

/* The floor under any RPC on this machine: two threads ping-ponging the same bytes over a kernel
 * socketpair, no library at all, one message in flight, on the same core and on different cores.
 * A round trip between caller and server on different cores pays the cross-core wake-up at least
 * twice; nng's req/rep adds its own hand-offs between its I/O and task threads on top. */
typedef struct pingpong {
    int fd;
    size_t len;
    int cpu;
} pingpong;

/* Median µs of one fn(arg) over n runs. */
static double op_median_us(void (*fn)(void *), void *arg, int n)
{
    int64_t *s = malloc((size_t)n * sizeof *s);
    for (int i = 0; i < n; i++) {
        int64_t t0 = cf_mono_ns();
        fn(arg);
        s[i] = cf_mono_ns() - t0;
    }
    double p50, p99;
    th_percentiles(s, (size_t)n, &p50, &p99);
    free(s);
    return p50;
}

typedef struct ident_op {
    rpc_ident *signer, *server;
    uint8_t frame[256];
    size_t len;
    uint8_t sig[RPC_IDENT_SIG_LEN];
    char token[RPC_IDENT_TOKEN_MAX];
    int bad;
} ident_op;

static void op_sign(void *arg)
{
    ident_op *o = arg;
    o->bad += !rpc_ident_sign(o->signer, o->frame, o->len, o->sig);
}

static void op_verify(void *arg)
{
    ident_op *o = arg;
    o->bad += !rpc_ident_verify(o->server, "test", o->frame, o->len, o->sig);
}

static void op_token_check(void *arg)
{
    ident_op *o = arg;
    const char *who, *why;
    o->bad += rpc_ident_check(o->server, "testsvc.v1.Echo/Echo", o->token, &who, &why) != CF_OK;
}

static void op_token_make(void *arg)
{
    ident_op *o = arg;
    o->bad += !rpc_ident_token(o->signer, "testsvc.v1.Echo", o->token, sizeof o->token);
}

/* Issue 14 item 3: what service identity costs. The echo through the layer without identity
 * and with it (the client's service token in every envelope, the server verifying it and
 * requiring one), in the same run; then the primitives. Returns the failed calls. */
static int bench_ident(double seconds, const uint8_t *payload, size_t plen, const char *text,
                       int *port)
{
    rpc_ident *caller = th_ident("test"), *server;
    rpc_ident_config sc = {.name = "bench", .trust_dir = th_ident_dir(), .require = true};
    char err[256];
    if (rpc_ident_new(&sc, &server, err, sizeof err) != CF_OK) {
        fprintf(stderr, "ident: %s\n", err);
        abort();
    }
    int errors = 0;
    printf("\n### Service identity: the same echo without and with service tokens (same run)\n\n"
           "Signed: the client puts its Ed25519 service token in every envelope (made once per "
           "audience, renewed at half its life), the server requires and checks it (a cache hit "
           "after the first).\n\n| transport | callers | plain calls/s | plain p50 µs | plain p99 "
           "µs | signed calls/s | signed p50 µs | signed p99 µs | p50 cost |\n"
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    const char *transports[] = {"ipc", "tcp"};
    for (int ti = 0; ti < 2; ti++) {
        int counts[] = {1, 8};
        for (int ci = 0; ci < 2; ci++) {
            char plain_url[128], signed_url[128];
            if (ti == 0) {
                snprintf(plain_url, sizeof plain_url, "ipc:///tmp/confetti-bench-plain-%d.sock",
                         (int)getpid());
                snprintf(signed_url, sizeof signed_url, "ipc:///tmp/confetti-bench-signed-%d.sock",
                         (int)getpid());
            } else {
                snprintf(plain_url, sizeof plain_url, "tcp://127.0.0.1:%d", (*port)++);
                snprintf(signed_url, sizeof signed_url, "tcp://127.0.0.1:%d", (*port)++);
            }
            int id = 1;
            metrics *m1 = metrics_new("bench"), *m2 = metrics_new("bench");
            rpc_server *plain = th_echo_server_ident(plain_url, 4, &id, NULL, m1, NULL);
            rpc_server *sig = th_echo_server_ident(signed_url, 4, &id, NULL, m2, server);
            result a = measure(false, plain_url, counts[ci], seconds, payload, plen, text, NULL);
            result b = measure(false, signed_url, counts[ci], seconds, payload, plen, text, caller);
            errors += a.errors + b.errors;
            printf("| %s | %d | %.0f | %.1f | %.1f | %.0f | %.1f | %.1f | %+.1f µs |\n",
                   transports[ti], counts[ci], a.rate, a.p50_us, a.p99_us, b.rate, b.p50_us,
                   b.p99_us, b.p50_us - a.p50_us);
            fflush(stdout);
            rpc_server_free(plain);
            rpc_server_free(sig);
            metrics_free(m1);
            metrics_free(m2);
        }
    }
    ident_op o = {.signer = caller, .server = server, .len = 200};
    memset(o.frame, 'e', o.len);
    op_sign(&o);
    op_token_make(&o);
    double sign = op_median_us(op_sign, &o, 2000), verify = op_median_us(op_verify, &o, 2000);
    double check = op_median_us(op_token_check, &o, 20000);
    double make = op_median_us(op_token_make, &o, 20000);
    printf("\n| primitive (median of one) | µs |\n|---|---:|\n"
           "| Ed25519 sign, 200-byte event frame (relay, per event) | %.1f |\n"
           "| Ed25519 verify, 200-byte event frame (bus and each subscriber, per event) | %.1f |\n"
           "| service token for a call, client side (cached) | %.2f |\n"
           "| service token check, server side (cached) | %.2f |\n",
           sign, verify, make, check);
    if (o.bad)
        printf("\n%d identity operations failed\n", o.bad);
    rpc_ident_free(server);
    return errors + o.bad;
}

static bool full_io(int fd, uint8_t *buf, size_t len, bool wr)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = wr ? write(fd, buf + done, len - done) : read(fd, buf + done, len - done);
        if (n <= 0)
            return false;
        done += (size_t)n;
    }
    return true;
}

static void *pingpong_echo(void *arg)
{
    pingpong *p = arg;
    uint8_t buf[512];
    while (full_io(p->fd, buf, p->len, false) && full_io(p->fd, buf, p->len, true))
        ;
    return NULL;
}

static void *pingpong_echo_pinned(void *arg)
{
    pingpong *p = arg;
    th_pin_cpu(p->cpu);
    return pingpong_echo(p);
}

/* The caller on CPU 0, the echo thread on echo_cpu (0: same core, 1: the other core, as two
 * processes of a service mesh mostly are). Runs before nng starts any thread; the caller's
 * affinity is restored afterwards. */
static result measure_floor(double seconds, size_t len, int echo_cpu)
{
    result r = {0};
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
        r.errors = 1;
        return r;
    }
    cpu_set_t saved;
    sched_getaffinity(0, sizeof saved, &saved);
    th_pin_cpu(0);
    pingpong p = {.fd = sv[1], .len = len, .cpu = echo_cpu};
    pthread_t t;
    pthread_create(&t, NULL, pingpong_echo_pinned, &p);
    uint8_t buf[512] = {0};
    size_t cap = MAX_SAMPLES, n = 0;
    int64_t *samples = malloc(cap * sizeof *samples);
    int64_t start = cf_mono_ns(), until = start + (int64_t)(seconds * 1e9);
    while (n < cap && cf_mono_ns() < until) {
        int64_t t0 = cf_mono_ns();
        if (!full_io(sv[0], buf, len, true) || !full_io(sv[0], buf, len, false)) {
            r.errors++;
            break;
        }
        samples[n++] = cf_mono_ns() - t0;
    }
    double elapsed = (double)(cf_mono_ns() - start) / 1e9;
    shutdown(sv[0], SHUT_RDWR);
    pthread_join(t, NULL);
    close(sv[0]);
    close(sv[1]);
    sched_setaffinity(0, sizeof saved, &saved);
    th_percentiles(samples, n, &r.p50_us, &r.p99_us);
    r.rate = (double)n / elapsed;
    free(samples);
    return r;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 2.0;
    log_setup("bench", LOG_WARN);
    /* ~200-byte message, as in STACK.md's floors and the gRPC peer */
    char text[201];
    memset(text, 'x', 200);
    text[200] = '\0';
    Testsvc__V1__EchoRequest req = TESTSVC__V1__ECHO_REQUEST__INIT;
    req.text = text;
    uint8_t payload[512];
    size_t plen = testsvc__v1__echo_request__pack(&req, payload);
    result floors[2] = {measure_floor(seconds, plen, 0), measure_floor(seconds, plen, 1)};
    int errors = floors[0].errors + floors[1].errors;

    printf("## RPC round trip: Confetti RPC layer vs raw nng req/rep (same bytes, same run)\n\n");
    printf("%.1f s per cell, %zu-byte request, 4 server workers, client and server in one "
           "process on %ld cores.\n\n",
           seconds, plen, sysconf(_SC_NPROCESSORS_ONLN));
    FILE *la = fopen("/proc/loadavg", "r");
    char load[64] = "?";
    if (la) {
        if (!fgets(load, sizeof load, la))
            snprintf(load, sizeof load, "?");
        fclose(la);
        load[strcspn(load, "\n")] = '\0';
    }
    printf("Load average at start: %s (other work on the machine inflates latency: on this VM "
           "a wake-up on the other core costs ~100 us; run on a quiet machine, or see "
           "`taskset -c 0` in docs/decisions.md).\n\n",
           load);
    printf("| transport | callers | raw calls/s | raw p50 µs | raw p99 µs | rpc calls/s | rpc p50 "
           "µs | rpc p99 µs | rpc/raw throughput | p50 overhead |\n");
    printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    const char *transports[] = {"ipc", "tcp"};
    int port = 20000 + (int)(getpid() % 20000);
    for (int ti = 0; ti < 2; ti++) {
        int counts[] = {1, 8, 32};
        for (int ci = 0; ci < 3; ci++) {
            char raw_url[128], rpc_url[128];
            if (ti == 0) {
                snprintf(raw_url, sizeof raw_url, "ipc:///tmp/confetti-bench-raw-%d.sock",
                         (int)getpid());
                snprintf(rpc_url, sizeof rpc_url, "ipc:///tmp/confetti-bench-rpc-%d.sock",
                         (int)getpid());
            } else {
                snprintf(raw_url, sizeof raw_url, "tcp://127.0.0.1:%d", port++);
                snprintf(rpc_url, sizeof rpc_url, "tcp://127.0.0.1:%d", port++);
            }
            raw_server rs = {0};
            raw_start(&rs, raw_url, 4);
            int id = 1;
            rpc_server *srv = th_echo_server(rpc_url, 4, &id, NULL, metrics_new("bench"));
            result raw = measure(true, raw_url, counts[ci], seconds, payload, plen, text, NULL);
            result rpc = measure(false, rpc_url, counts[ci], seconds, payload, plen, text, NULL);
            errors += raw.errors + rpc.errors;
            printf("| %s | %d | %.0f | %.1f | %.1f | %.0f | %.1f | %.1f | %.2f | %+.0f%% |\n",
                   transports[ti], counts[ci], raw.rate, raw.p50_us, raw.p99_us, rpc.rate,
                   rpc.p50_us, rpc.p99_us, rpc.rate / raw.rate,
                   100.0 * (rpc.p50_us - raw.p50_us) / raw.p50_us);
            fflush(stdout);
            rpc_server_free(srv);
            raw_stop(&rs);
        }
    }
    printf(
        "\n### The same layer, calls issued asynchronously (rpc_client_invoke_async, one thread, "
        "as the gateway calls)\n\n| transport | in flight | rpc calls/s | p50 µs | p99 µs |\n"
        "|---|---:|---:|---:|---:|\n");
    for (int ti = 0; ti < 2; ti++) {
        int counts[] = {1, 8, 32};
        for (int ci = 0; ci < 3; ci++) {
            char url[128];
            if (ti == 0)
                snprintf(url, sizeof url, "ipc:///tmp/confetti-bench-async-%d.sock", (int)getpid());
            else
                snprintf(url, sizeof url, "tcp://127.0.0.1:%d", port++);
            int id = 1;
            metrics *m = metrics_new("bench");
            rpc_server *srv = th_echo_server(url, 4, &id, NULL, m);
            result r = measure_async(url, counts[ci], seconds, text);
            errors += r.errors;
            printf("| %s | %d | %.0f | %.1f | %.1f |\n", transports[ti], counts[ci], r.rate,
                   r.p50_us, r.p99_us);
            fflush(stdout);
            rpc_server_free(srv);
            metrics_free(m);
        }
    }
    errors += bench_ident(seconds, payload, plen, text, &port);
    printf("\n### The floor: the same %zu bytes ping-ponged over a kernel socketpair (no "
           "library), 1 in flight, measured before the tables above\n\n| echo side | round "
           "trips/s | p50 µs | p99 µs |\n|---|---:|---:|---:|\n",
           plen);
    for (int i = 0; i < 2; i++)
        printf("| %s | %.0f | %.1f | %.1f |\n", i ? "the other core" : "the same core",
               floors[i].rate, floors[i].p50_us, floors[i].p99_us);
    printf("\nPeer (../shared/peers/README.md, C++ gRPC 1.51 unary echo, same machine kind): "
           "9,403 calls/s with 1 in flight, 34,907 with 32. \"2x gRPC\" one at a time means "
           "18,806 calls/s (53 µs per round trip): compare with the floor above, which every "
           "design with caller and server on different cores pays twice per call.\n");
    if (errors)
        printf("\n%d calls failed\n", errors);
    return errors ? 1 : 0;
}
