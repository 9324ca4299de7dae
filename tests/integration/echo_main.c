/* echo_main.c — confetti-echo: testsvc.v1.Echo run by the real service runtime (svc_main), so
 * tests can drive a whole process: config, migrations, db per worker, admin port, signals. */
#include "svc/svc.h"
#include "testsvc.h"

#include <unistd.h>

DB_MIGRATIONS_DECLARE(echo_migrations);

static const db_stmt echo_stmts[] = {
    {"echo_ping", "SELECT $1::text"},
};

/* EchoReply.worker is the process id: tests with several replicas see which one answered. */
static int echo_pid;

static cf_code echo_init(svc_runtime *rt, void **ctx, char *err, size_t errlen)
{
    (void)rt, (void)err, (void)errlen;
    echo_pid = (int)getpid();
    *ctx = &echo_pid;
    return CF_OK;
}

int main(int argc, char **argv)
{
    svc_def def = {
        .name = "echo",
        .schema = "echo",
        .migrations = echo_migrations,
        .nmigrations = echo_migrations_count,
        .stmts = echo_stmts,
        .nstmts = sizeof echo_stmts / sizeof *echo_stmts,
        .service = th_echo_service(),
        .init = echo_init,
    };
    return svc_main(&def, argc, argv);
}
