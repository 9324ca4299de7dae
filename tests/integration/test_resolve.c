/* test_resolve.c — issue 15 item 5, "every replica gets traffic": a peer name that resolves to
 * several addresses (a Kubernetes headless Service) is dialed at every address, kept current on
 * an interval, and replicas that drain lose no call.
 *
 * Real confetti-echo processes (svc_main: config, db per worker, SIGTERM drain) listen on
 * 127.0.0.2…4 at one port, like pods behind one Service; the name echo.resolve.test resolves
 * through a hosts file the test rewrites (rpc.hosts_file, the resolver's test facility). The
 * client is the real rpc_client over real nng sockets; EchoReply.worker names the replica (its
 * pid). */
#include "th.h"
#include "th_proc.h"
#include "pg.h"
#include "testsvc.h"
#include "base/clock.h"
#include "base/xmalloc.h"
#include "rpc/resolve.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

#define NAME        "echo.resolve.test"
#define INTERVAL_MS 300
#define NREP        3

typedef struct replica {
    /* atomic: the load threads read it (whose answer was this?) while the main thread restarts
     * the replica (a race ThreadSanitizer found, 2026-12-07) */
    _Atomic pid_t pid;
    char addr[32], cfg[128], log[128];
} replica;

static char *dsn;
static int port;
static char hosts[128];
static replica rep[NREP];

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(fd, (struct sockaddr *)&a, sizeof a);
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

static void write_file(const char *path, const char *text)
{
    char tmp[160];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(rename(tmp, path), 0); /* readers see the old or the new file whole */
}

/* The name resolves to the replicas whose bit is set in mask. */
static void publish(unsigned mask)
{
    char text[512] = "# written by test_resolve\n";
    for (int i = 0; i < NREP; i++)
        if (mask & (1u << i))
            snprintf(text + strlen(text), sizeof text - strlen(text), "%s  other.name %s\n",
                     rep[i].addr, NAME);
    write_file(hosts, text);
}

static void start_replica(int i)
{
    replica *r = &rep[i];
    snprintf(r->addr, sizeof r->addr, "127.0.0.%d", 2 + i);
    snprintf(r->cfg, sizeof r->cfg, "/tmp/confetti-resolve-%d-%d.yaml", (int)getpid(), i);
    snprintf(r->log, sizeof r->log, "/tmp/confetti-resolve-%d-%d.log", (int)getpid(), i);
    char *yaml = xasprintf("rpc:\n  listen: [\"tcp://%s:%d\"]\n  workers: 4\n"
                           "admin:\n  listen: http://127.0.0.1:%d\n"
                           "log:\n  level: info\n",
                           r->addr, port, free_port());
    write_file(r->cfg, yaml);
    free(yaml);
    const char *argv[] = {ECHO_BIN, "--config", r->cfg, NULL};
    r->pid = th_spawn_logged(argv, dsn, r->log);
}

static int wait_exit(pid_t pid, int timeout_ms)
{
    for (int waited = 0; waited < timeout_ms; waited += 20) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        nng_msleep(20);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

/* One call; returns the answering replica's index, -1 on failure (code in *code). */
static int call(rpc_client *c, unsigned sleep_ms, cf_code *code)
{
    Testsvc__V1__EchoRequest req = TESTSVC__V1__ECHO_REQUEST__INIT;
    req.text = "hello";
    req.sleep_ms = sleep_ms;
    rpc_ccall cc;
    rpc_ccall_init(&cc, NULL);
    testsvc__v1__echo__echo(rpc_client_service(c, &testsvc__v1__echo__descriptor), &req, NULL, &cc);
    int who = -2;
    *code = cc.code;
    if (cc.code == CF_OK) {
        pid_t pid = (pid_t)((Testsvc__V1__EchoReply *)cc.response)->worker;
        for (int i = 0; i < NREP; i++)
            if (rep[i].pid == pid)
                who = i;
    } else {
        who = -1;
        fprintf(stderr, "call failed: %s %s\n", cf_code_name(cc.code), cc.message);
    }
    rpc_ccall_free(&cc);
    return who;
}

/* Calls until every replica in want has answered; fails after 30 s. Returns the ms it took. */
static int64_t until_all(rpc_client *c, unsigned want)
{
    int64_t t0 = cf_mono_ns();
    unsigned seen = 0;
    while ((seen & want) != want) {
        if (cf_mono_ns() - t0 > 30 * 1000000000LL)
            fail_msg("replicas %#x never all answered (saw %#x)", want, seen);
        cf_code code;
        int who = call(c, 0, &code);
        if (who >= 0)
            seen |= 1u << who;
        else
            nng_msleep(20); /* not up yet */
    }
    return (cf_mono_ns() - t0) / 1000000;
}

/* Calls until 3 × NREP × 10 calls in a row avoid every replica outside keep; fails after 30 s.
 * Then 60 more must avoid them too. Returns the ms until the first run started. */
static int64_t until_only(rpc_client *c, unsigned keep)
{
    int64_t t0 = cf_mono_ns(), settled = -1;
    int run = 0;
    while (run < 3 * NREP * 10) {
        if (cf_mono_ns() - t0 > 30 * 1000000000LL)
            fail_msg("calls still reach replicas outside %#x", keep);
        cf_code code;
        int who = call(c, 0, &code);
        assert_code(CF_OK, code);
        if (who >= 0 && (keep & (1u << who))) {
            if (run++ == 0)
                settled = (cf_mono_ns() - t0) / 1000000;
        } else {
            run = 0;
        }
    }
    for (int i = 0; i < 60; i++) {
        cf_code code;
        int who = call(c, 0, &code);
        assert_code(CF_OK, code);
        assert_true(who >= 0 && (keep & (1u << who)));
    }
    return settled;
}

static int setup(void **state)
{
    (void)state;
    dsn = th_pg_fresh_db("resolve");
    port = free_port();
    snprintf(hosts, sizeof hosts, "/tmp/confetti-resolve-%d.hosts", (int)getpid());
    for (int i = 0; i < NREP; i++) {
        start_replica(i);
        /* one at a time: each applies the migrations under the advisory lock */
        nng_msleep(50);
    }
    publish(0);
    /* the test's own client uses the same facility the services get from rpc.hosts_file */
    resolve_setup(INTERVAL_MS, hosts);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < NREP; i++)
        if (rep[i].pid > 0) {
            kill(rep[i].pid, SIGTERM);
            wait_exit(rep[i].pid, 20000);
        }
    unlink(hosts);
    for (int i = 0; i < NREP; i++)
        unlink(rep[i].cfg), unlink(rep[i].log);
    resolve_setup(0, NULL);
    return 0;
}

static rpc_client *name_client(void)
{
    char url[128];
    snprintf(url, sizeof url, "tcp://%s:%d", NAME, port);
    const char *u = url;
    rpc_client *c = th_client(&u, 1, 10000);
    assert_non_null(c);
    return c;
}

/* Replicas added to the name start getting calls, replicas taken out of it stop, within the
 * interval — while they keep running (nothing but the name changed). */
static void test_replicas_follow_the_name(void **state)
{
    (void)state;
    publish(1u << 0);
    rpc_client *c = name_client();
    until_all(c, 1u << 0);
    /* the other two run, but the name does not give them: no call reaches them */
    for (int i = 0; i < 60; i++) {
        cf_code code;
        assert_int_equal(call(c, 0, &code), 0);
    }

    publish(0x7);
    int64_t up = until_all(c, 0x7);
    print_message("scale up 1 -> 3: every replica answered %lld ms after the name changed "
                  "(interval %d ms)\n",
                  (long long)up, INTERVAL_MS);

    publish((1u << 0) | (1u << 2));
    int64_t down = until_only(c, (1u << 0) | (1u << 2));
    print_message("scale down 3 -> 2: calls left the removed replica after %lld ms\n",
                  (long long)down);
    assert_int_equal(kill(rep[1].pid, 0), 0); /* it was only taken out of the name */

    publish(0x7);
    until_all(c, 0x7);
    rpc_client_free(c);
}

typedef struct load {
    rpc_client *c;
    atomic_bool stop;
    atomic_int ok, failed;
    atomic_uint seen;
} load;

static void *load_main(void *arg)
{
    load *l = arg;
    while (!atomic_load(&l->stop)) {
        cf_code code;
        int who = call(l->c, 40, &code); /* long enough that drains catch calls in flight */
        if (code == CF_OK) {
            atomic_fetch_add(&l->ok, 1);
            if (who >= 0)
                atomic_fetch_or(&l->seen, 1u << who);
        } else {
            atomic_fetch_add(&l->failed, 1);
        }
    }
    return NULL;
}

/* Replicas restarted one at a time the way Kubernetes does it — the address leaves the name and
 * SIGTERM arrives together; the replica finishes its calls in flight and exits; a new one starts
 * on the address and rejoins the name — under constant load: no call fails. A replica
 * SIGTERMed while its address stays in the name (the connection-death path) loses no call
 * either. */
static void test_rolling_restart_under_load_fails_no_call(void **state)
{
    (void)state;
    publish(0x7);
    rpc_client *c = name_client();
    until_all(c, 0x7);

    enum { NLOAD = 6 };
    load l = {.c = c};
    pthread_t th[NLOAD];
    for (int i = 0; i < NLOAD; i++)
        pthread_create(&th[i], NULL, load_main, &l);

    for (int i = 0; i < NREP; i++) {
        /* before the restart, this replica is taking calls */
        atomic_store(&l.seen, 0);
        int64_t t0 = cf_mono_ns();
        while (!(atomic_load(&l.seen) & (1u << i))) {
            if (cf_mono_ns() - t0 > 30 * 1000000000LL)
                fail_msg("replica %d gets no calls under load", i);
            nng_msleep(10);
        }
        bool keep_in_name = i == 1; /* the middle one: only its connection tells */
        if (!keep_in_name)
            publish(0x7 & ~(1u << i));
        assert_int_equal(kill(rep[i].pid, SIGTERM), 0);
        assert_int_equal(wait_exit(rep[i].pid, 30000), 0);
        start_replica(i);
        publish(0x7);
        /* the new process on the same address gets calls again */
        atomic_store(&l.seen, 0);
        t0 = cf_mono_ns();
        while (!(atomic_load(&l.seen) & (1u << i))) {
            if (cf_mono_ns() - t0 > 30 * 1000000000LL)
                fail_msg("restarted replica %d never gets calls", i);
            nng_msleep(10);
        }
    }
    atomic_store(&l.stop, true);
    for (int i = 0; i < NLOAD; i++)
        pthread_join(th[i], NULL);
    print_message("rolling restart of %d replicas under load: %d calls answered, %d failed\n", NREP,
                  atomic_load(&l.ok), atomic_load(&l.failed));
    assert_int_equal(atomic_load(&l.failed), 0);
    assert_true(atomic_load(&l.ok) > 0);
    rpc_client_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replicas_follow_the_name),
        cmocka_unit_test(test_rolling_restart_under_load_fails_no_call),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
