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

/* A maintenance job (common/svc/maint.h): pings older than a day, so `--maintenance` has work. */
static cf_code old_pings(db_conn *db, const void *arg, int64_t now, int batch, int64_t *n)
{
    (void)arg;
    return svc_maint_exec(db,
                          "DELETE FROM pings WHERE id IN (SELECT id FROM pings WHERE created_at < "
                          "to_timestamp($1::bigint - 86400) ORDER BY id LIMIT $2::int "
                          "FOR UPDATE SKIP LOCKED)",
                          now, batch, n);
}

static const svc_maint_job echo_jobs[] = {
    {.name = "pings",
     .interval = "0",
     .batch = "100",
     .help = "pings older than a day",
     .run = old_pings},
};

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
        .maint_jobs = echo_jobs,
        .nmaint_jobs = sizeof echo_jobs / sizeof *echo_jobs,
    };
    return svc_main(&def, argc, argv);
}
