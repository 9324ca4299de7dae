/* test_hostile_nesting.c — issue 13 item 1 against the real binaries: confetti-catalog,
 * confetti-rooms and confetti-draw each get one request whose google.protobuf.Struct is nested
 * 10^2 … 10^5 message levels deep, with and without a valid token. Beyond PB_MAX_DEPTH the
 * answer is INVALID_ARGUMENT naming the bound, within it the method runs as usual; the process
 * stays alive and ready, and exits 0 on SIGTERM (under the sanitizer build, that is also "no
 * ASan/UBSan report, no leak"). SPEC §4: "a service never crashes, leaks or hangs on any
 * input". */
#include "th.h"
#include "th_proc.h"
#include "pbdeep.h"
#include "pg.h"
#include "service.h"
#include "testsvc.h"
#include "tokens.h"
#include "base/pbwire.h"
#include "base/xmalloc.h"
#include "rpc/v1/envelope.pb-c.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/util/platform.h>

extern char **environ;

typedef struct target {
    const char *name, *bin;
    const char *method; /* one whose request has a Struct field */
    uint32_t field;     /* that field's number */
    const char *yaml;   /* the service's own sections: peers that are never reached */
} target;

static const target targets[] = {
    {"catalog", CATALOG_BIN, "catalog.v1.Catalog/ValidateSettings", 3, "rooms:\n  urls: []\n"},
    {"rooms", ROOMS_BIN, "rooms.v1.Rooms/CreateRoom", 5,
     "catalog:\n  urls: [\"ipc:///tmp/confetti-nest-nobody-c.sock\"]\n"},
    {"draw", DRAW_BIN, "draw.v1.Draw/CreatePrize", 5,
     "rooms:\n  urls: [\"ipc:///tmp/confetti-nest-nobody-r.sock\"]\n"},
};

typedef struct proc {
    pid_t pid;
    char cfg[128], log[128], jwks[128], url[128];
    int admin_port;
    char *dsn;
} proc;

static char *slurp(const char *path)
{
    static char buf[1 << 16];
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    return buf;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* GET /readyz on the admin port: the HTTP status, 0 when nothing answers (yet). */
static long readyz(const proc *p)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)p->admin_port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return 0;
    }
    static const char req[] = "GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    char buf[512];
    ssize_t n = write(fd, req, sizeof req - 1) == (ssize_t)sizeof req - 1
                    ? read(fd, buf, sizeof buf - 1)
                    : -1;
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    long st = 0;
    sscanf(buf, "HTTP/1.1 %ld", &st);
    return st;
}

/* The process under test, killed by the group teardown if an assertion ends the test early. */
static pid_t running;

static int kill_running(void **state)
{
    (void)state;
    if (running > 0) {
        kill(running, SIGKILL);
        waitpid(running, NULL, 0);
        running = 0;
    }
    return 0;
}

static bool alive(const proc *p)
{
    return waitpid(p->pid, NULL, WNOHANG) == 0;
}

static void start(proc *p, const target *t, th_keys *keys)
{
    memset(p, 0, sizeof *p);
    p->dsn = th_pg_fresh_db(t->name);
    int me = (int)getpid();
    snprintf(p->cfg, sizeof p->cfg, "/tmp/confetti-nest-%d-%s.yaml", me, t->name);
    snprintf(p->log, sizeof p->log, "/tmp/confetti-nest-%d-%s.log", me, t->name);
    snprintf(p->jwks, sizeof p->jwks, "/tmp/confetti-nest-%d-%s.jwks", me, t->name);
    th_ipc_url(p->url, sizeof p->url, t->name);
    p->admin_port = th_free_port();
    write_file(p->jwks, th_keys_jwks(keys));
    char *yaml = xasprintf("rpc:\n  listen: [\"%s\"]\n  workers: 2\n"
                           "admin:\n  listen: http://127.0.0.1:%d\n"
                           "log:\n  level: warn\n"
                           "auth:\n  jwks_file: %s\n  issuer: %s\n  audience: %s\n%s"
                           "events:\n  bus: \"\"\n%s%s",
                           p->url, p->admin_port, p->jwks, TH_ISSUER, TH_AUDIENCE,
                           strcmp(t->name, "rooms") == 0 ? "  urls: []\n" : "",
                           strcmp(t->name, "rooms") == 0 ? "  subscribe: \"\"\n" : "", t->yaml);
    write_file(p->cfg, yaml);
    free(yaml);

    const char *argv[] = {t->bin, "--config", p->cfg, NULL};
    p->pid = th_spawn_logged(argv, p->dsn, p->log);
    running = p->pid;

    long st = 0;
    for (int i = 0; i < 500 && st != 200 && alive(p); i++, nng_msleep(40))
        st = readyz(p);
    if (st != 200)
        fail_msg("%s never ready (last %ld); log:\n%s", t->name, st, slurp(p->log));
}

/* SIGTERM: the process drains and exits 0 (a sanitizer report or a leak makes it non-zero). */
static void stop(proc *p, const target *t)
{
    kill(p->pid, SIGTERM);
    int st = 0, rc = -1;
    for (int waited = 0; waited < 20000; waited += 20, nng_msleep(20)) {
        if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
            rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            break;
        }
    }
    if (rc == -1) {
        kill(p->pid, SIGKILL);
        waitpid(p->pid, NULL, 0);
    }
    running = 0;
    if (rc != 0)
        fail_msg("%s exited %d; log:\n%s", t->name, rc, slurp(p->log));
    unlink(p->cfg);
    unlink(p->log);
    unlink(p->jwks);
    th_pg_drop_db(p->dsn);
    free(p->dsn);
}

/* Sends one raw envelope and returns the reply's code; its message into msg. */
static cf_code call_raw(const proc *p, const char *method, const char *token,
                        const uint8_t *payload, size_t len, char *msg, size_t msglen)
{
    nng_socket s;
    assert_int_equal(nng_req0_open(&s), 0);
    nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 30000);
    nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, 8 << 20);
    assert_int_equal(nng_dial(s, p->url, NULL, 0), 0);

    Rpc__V1__MetadataEntry auth = RPC__V1__METADATA_ENTRY__INIT, *mdp[1] = {&auth};
    char *bearer = token ? xasprintf("Bearer %s", token) : NULL;
    auth.key = "authorization";
    auth.value = bearer;
    Rpc__V1__Request req = RPC__V1__REQUEST__INIT;
    req.method = (char *)method;
    req.payload.data = (uint8_t *)payload;
    req.payload.len = len;
    req.metadata = mdp;
    req.n_metadata = token ? 1 : 0;
    req.timeout_ms = 20000;
    size_t n = rpc__v1__request__get_packed_size(&req);
    uint8_t *buf = xmalloc(n);
    rpc__v1__request__pack(&req, buf);
    assert_int_equal(nng_send(s, buf, n, 0), 0);
    free(buf);
    free(bearer);

    nng_msg *m;
    int rv = nng_recvmsg(s, &m, 0);
    if (rv != 0)
        fail_msg("%s: no reply (%s)", method, nng_strerror(rv));
    Rpc__V1__Reply *rep = rpc__v1__reply__unpack(NULL, nng_msg_len(m), nng_msg_body(m));
    assert_non_null(rep);
    cf_code code = cf_code_from_int(rep->code);
    snprintf(msg, msglen, "%s", rep->message ? rep->message : "");
    rpc__v1__reply__free_unpacked(rep, NULL);
    nng_msg_free(m);
    nng_close(s);
    return code;
}

static void deep_structs_are_refused_and_services_stay_up(void **state)
{
    (void)state;
    static const size_t depths[] = {100, PB_MAX_DEPTH, PB_MAX_DEPTH + 1, 1000, 10000, 100000};
    th_keys *keys = th_keys_new("RS256");
    char *token = th_token(keys, "nest-user", 600, false);
    for (size_t ti = 0; ti < sizeof targets / sizeof *targets; ti++) {
        const target *t = &targets[ti];
        proc p;
        start(&p, t, keys);
        for (size_t di = 0; di < sizeof depths / sizeof *depths; di++) {
            uint8_t *b;
            size_t n;
            th_pb_deep_struct_field(t->field, depths[di], &b, &n);
            for (int with_token = 0; with_token < 2; with_token++) {
                char msg[512];
                cf_code code =
                    call_raw(&p, t->method, with_token ? token : NULL, b, n, msg, sizeof msg);
                if (!alive(&p))
                    fail_msg("%s died on depth %zu; log:\n%s", t->name, depths[di], slurp(p.log));
                bool refused = strstr(msg, "nested deeper than 256 levels") != NULL;
                if (depths[di] > PB_MAX_DEPTH && (code != CF_INVALID_ARGUMENT || !refused))
                    fail_msg("%s depth %zu token %d: %s \"%s\"", t->name, depths[di], with_token,
                             cf_code_name(code), msg);
                if (depths[di] <= PB_MAX_DEPTH && refused)
                    fail_msg("%s depth %zu within the bound refused: \"%s\"", t->name, depths[di],
                             msg);
                /* within the bound the method itself answers: anonymous callers are turned
                 * away by it, not by the decoder */
                if (depths[di] <= PB_MAX_DEPTH && !with_token && code != CF_UNAUTHENTICATED)
                    fail_msg("%s depth %zu anonymous: %s \"%s\"", t->name, depths[di],
                             cf_code_name(code), msg);
            }
            free(b);
            assert_int_equal(readyz(&p), 200);
        }
        stop(&p, t);
    }
    free(token);
    th_keys_free(keys);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(deep_structs_are_refused_and_services_stay_up, kill_running),
    };
    return cmocka_run_group_tests_name("hostile_nesting", tests, NULL, NULL);
}
