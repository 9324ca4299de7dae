/* test_service_process.c — a whole service process (confetti-echo, run by svc_main) against the
 * private PostgreSQL: config file + env, migrations at start and --migrate-only, a database
 * connection per worker, /readyz and /metrics, SIGTERM draining a call in flight, exit codes,
 * and config errors naming file, line and key. */
#include "th.h"
#include "th_proc.h"
#include "pg.h"
#include "testsvc.h"
#include "base/xmalloc.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

extern char **environ;

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

/* GET path on 127.0.0.1:port; returns the HTTP status (0 if no answer) and the body. */
static int http_get(int port, const char *path, char *body, size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return 0;
    }
    char req[256];
    int n =
        snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return 0;
    }
    static char buf[1 << 20];
    size_t got = 0;
    ssize_t r;
    while (got < sizeof buf - 1 && (r = read(fd, buf + got, sizeof buf - 1 - got)) > 0)
        got += (size_t)r;
    close(fd);
    buf[got] = '\0';
    int status = 0;
    sscanf(buf, "HTTP/1.1 %d", &status);
    const char *b = strstr(buf, "\r\n\r\n");
    if (body)
        snprintf(body, cap, "%s", b ? b + 4 : "");
    return status;
}

typedef struct proc {
    pid_t pid;
    char cfg[128], log[128], url[128];
    int admin_port;
} proc;

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static pid_t spawn(proc *p, const char *dsn, const char *extra_arg)
{
    const char *argv[] = {ECHO_BIN, "--config", p->cfg, extra_arg, NULL};
    return th_spawn_logged(argv, dsn, p->log);
}

static void make_config(proc *p, const char *extra_yaml)
{
    snprintf(p->cfg, sizeof p->cfg, "/tmp/confetti-echo-%d.yaml", (int)getpid());
    snprintf(p->log, sizeof p->log, "/tmp/confetti-echo-%d.log", (int)getpid());
    th_ipc_url(p->url, sizeof p->url, "svc");
    p->admin_port = free_port();
    char *yaml = xasprintf("rpc:\n  listen: [\"%s\"]\n  workers: 3\n"
                           "admin:\n  listen: http://127.0.0.1:%d\n"
                           "log:\n  level: info\n%s",
                           p->url, p->admin_port, extra_yaml);
    write_file(p->cfg, yaml);
    free(yaml);
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

static char *slurp(const char *path)
{
    static char buf[65536];
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    return buf;
}

typedef struct slow {
    const char *url;
    cf_code code;
    char text[64];
} slow;

static void *slow_call(void *arg)
{
    slow *s = arg;
    rpc_client *c = th_client(&s->url, 1, 5000);
    Testsvc__V1__EchoRequest req = TESTSVC__V1__ECHO_REQUEST__INIT;
    req.text = "in flight";
    req.sleep_ms = 1500; /* long enough to be seen in flight, then signalled, on a busy machine */
    rpc_ccall cc;
    rpc_ccall_init(&cc, NULL);
    testsvc__v1__echo__echo(rpc_client_service(c, &testsvc__v1__echo__descriptor), &req, NULL, &cc);
    s->code = cc.code;
    if (cc.code == CF_OK)
        snprintf(s->text, sizeof s->text, "%s", ((Testsvc__V1__EchoReply *)cc.response)->text);
    rpc_ccall_free(&cc);
    rpc_client_free(c);
    return NULL;
}

static void test_service_serves_migrates_and_drains_on_sigterm(void **state)
{
    (void)state;
    char *dsn = th_pg_fresh_db("svc");
    proc p;
    make_config(&p, "");
    p.pid = spawn(&p, dsn, NULL);

    char body[4096];
    int status = 0;
    for (int i = 0; i < 750 && status != 200; i++, nng_msleep(40))
        status = http_get(p.admin_port, "/readyz", body, sizeof body);
    if (status != 200)
        fail_msg("never ready (last %d); log:\n%s", status, slurp(p.log));
    assert_int_equal(http_get(p.admin_port, "/healthz", NULL, 0), 200);

    /* a call through the worker's own database connection */
    const char *u = p.url;
    rpc_client *c = th_client(&u, 1, 3000);
    Testsvc__V1__EchoRequest req = TESTSVC__V1__ECHO_REQUEST__INIT;
    req.text = "db:it's; a \"test\" -- of quoting";
    rpc_ccall cc;
    rpc_ccall_init(&cc, NULL);
    testsvc__v1__echo__echo(rpc_client_service(c, &testsvc__v1__echo__descriptor), &req, NULL, &cc);
    assert_code(CF_OK, cc.code);
    assert_string_equal(((Testsvc__V1__EchoReply *)cc.response)->text,
                        "it's; a \"test\" -- of quoting");
    rpc_ccall_free(&cc);
    rpc_client_free(c);

    /* migrations ran at start and are recorded in the service's own schema */
    PGconn *pg = th_pg_connect(dsn);
    PGresult *r = PQexec(pg, "SELECT version, name FROM echo.schema_migrations ORDER BY 1");
    assert_int_equal(PQntuples(r), 1);
    assert_string_equal(PQgetvalue(r, 0, 1), "001_pings.sql");
    PQclear(r);
    r = PQexec(pg, "SELECT count(*) FROM echo.pings");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    PQclear(r);
    PQfinish(pg);

    /* the call above is counted on /metrics */
    static char metrics[1 << 16];
    assert_int_equal(http_get(p.admin_port, "/metrics", metrics, sizeof metrics), 200);
    assert_non_null(strstr(metrics, "method=\"testsvc.v1.Echo/Echo\""));

    /* SIGTERM while a call is in flight: the call completes, the process exits 0 */
    slow s = {.url = p.url, .code = CF_UNKNOWN};
    pthread_t t;
    pthread_create(&t, NULL, slow_call, &s);
    /* the call is in the handler before the signal: read from /metrics, not assumed after a sleep
     */
    bool inflight = false;
    for (int i = 0; i < 1500 && !inflight; i++) {
        char *g = http_get(p.admin_port, "/metrics", metrics, sizeof metrics) == 200
                      ? strstr(metrics, "\nconfetti_rpc_inflight{")
                      : NULL;
        inflight = g && (g = strchr(g, '}')) && strncmp(g, "} 1\n", 4) == 0;
        if (!inflight)
            nng_msleep(20);
    }
    assert_true(inflight);
    kill(p.pid, SIGTERM);
    int rc = wait_exit(p.pid, 10000);
    pthread_join(t, NULL);
    assert_code(CF_OK, s.code);
    assert_string_equal(s.text, "in flight");
    if (rc != 0)
        fail_msg("exit %d; log:\n%s", rc, slurp(p.log));
    assert_non_null(strstr(slurp(p.log), "draining"));
    unlink(p.cfg);
    unlink(p.log);
    th_pg_drop_db(dsn);
    free(dsn);
}

static void test_migrate_only_applies_and_exits(void **state)
{
    (void)state;
    char *dsn = th_pg_fresh_db("svcmig");
    proc p;
    make_config(&p, "");
    for (int round = 0; round < 2; round++) { /* the second run finds nothing to do */
        p.pid = spawn(&p, dsn, "--migrate-only");
        int rc = wait_exit(p.pid, 20000);
        if (rc != 0)
            fail_msg("exit %d; log:\n%s", rc, slurp(p.log));
    }
    PGconn *pg = th_pg_connect(dsn);
    PGresult *r = PQexec(pg, "SELECT count(*) FROM echo.schema_migrations");
    assert_string_equal(PQgetvalue(r, 0, 0), "1");
    PQclear(r);
    PQfinish(pg);
    /* nothing was served: the admin port is closed */
    assert_int_equal(http_get(p.admin_port, "/healthz", NULL, 0), 0);
    unlink(p.cfg);
    unlink(p.log);
    th_pg_drop_db(dsn);
    free(dsn);
}

/* --maintenance (issue 18 item 7): every maintenance job of the service once, then exit 0 —
 * what a Kubernetes CronJob runs; rows past their age go, the others stay, nothing is served. */
static void test_maintenance_runs_the_jobs_once_and_exits(void **state)
{
    (void)state;
    char *dsn = th_pg_fresh_db("svcmaint");
    proc p;
    make_config(&p, "");
    p.pid = spawn(&p, dsn, "--migrate-only");
    assert_int_equal(wait_exit(p.pid, 20000), 0);
    PGconn *pg = th_pg_connect(dsn);
    PGresult *r = PQexec(pg, "INSERT INTO echo.pings (text, created_at) SELECT 'old', "
                             "now() - interval '2 days' FROM generate_series(1, 250); "
                             "INSERT INTO echo.pings (text) VALUES ('new')");
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    p.pid = spawn(&p, dsn, "--maintenance");
    int rc = wait_exit(p.pid, 20000);
    if (rc != 0)
        fail_msg("exit %d; log:\n%s", rc, slurp(p.log));
    r = PQexec(pg, "SELECT string_agg(text, ',') FROM echo.pings");
    assert_string_equal(PQgetvalue(r, 0, 0), "new"); /* 250 old ones in batches of 100 */
    PQclear(r);
    PQfinish(pg);
    assert_non_null(strstr(slurp(p.log), "maintenance pings: done, 250 rows"));
    assert_int_equal(http_get(p.admin_port, "/healthz", NULL, 0), 0);
    unlink(p.cfg);
    unlink(p.log);
    th_pg_drop_db(dsn);
    free(dsn);
}

/* Bad configuration stops the process at start, naming file, line and key. */
static void test_bad_config_stops_with_file_line_and_key(void **state)
{
    (void)state;
    struct {
        const char *yaml, *expect, *line;
    } cases[] = {
        {"db:\n  dns: x\n", "db.dns", ":9:"},                 /* typo: unknown key */
        {"rpc2:\n  workers: 3\n", "rpc2", ":8:"},             /* unknown section */
        {"auth:\n  leeway: forever\n", "auth.leeway", ":9:"}, /* not a duration */
        {"rpc:\n  workers: 5000\n", "rpc", ":8:"},            /* section given twice */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        proc p;
        make_config(&p, cases[i].yaml);
        p.pid = spawn(&p, "host=/nonexistent", NULL);
        int rc = wait_exit(p.pid, 10000);
        assert_int_equal(rc, 1);
        const char *log = slurp(p.log);
        if (!strstr(log, cases[i].expect) || !strstr(log, p.cfg) || !strstr(log, cases[i].line))
            fail_msg("case %zu: error should name %s, %s and line %s; got:\n%s", i, p.cfg,
                     cases[i].expect, cases[i].line, log);
        unlink(p.cfg);
        unlink(p.log);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_service_serves_migrates_and_drains_on_sigterm),
        cmocka_unit_test(test_migrate_only_applies_and_exits),
        cmocka_unit_test(test_maintenance_runs_the_jobs_once_and_exits),
        cmocka_unit_test(test_bad_config_stops_with_file_line_and_key),
    };
    return cmocka_run_group_tests_name("service_process", tests, NULL, NULL);
}
