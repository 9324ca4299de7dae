/* test_maintenance.c — issue 18 item 7: the service runtime's maintenance jobs
 * (common/svc/maint.h; docs/operations.md, "Maintenance jobs") against the private PostgreSQL:
 *   - auth's jobs purge the expired revocations, sessions and login states and nothing that is
 *     still needed (a revocation whose token has not expired, or expired within the verifiers'
 *     leeway; a live session; a login still in flight);
 *   - the outbox job purges relayed rows past events.retention, never a row not yet relayed,
 *     whatever its age;
 *   - a run goes in batches of maintenance.<job>_batch, stops at maintenance.max_batches, and
 *     skips while another process (a replica) holds the job's advisory lock; two runs at once
 *     purge each row once;
 *   - a serving process (catalog in-process) runs its jobs on schedule and counts the rows on
 *     /metrics (confetti_maintenance_rows_total{job}). */
#include "th.h"
#include "pg.h"
#include "service.h"
#include "auth.h"
#include "catalog.h"
#include "svc/maint.h"
#include "events/relay.h"
#include "db/migrate.h"
#include "th_http.h"
#include "base/xmalloc.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

DB_MIGRATIONS_DECLARE(auth_migrations);

static char *dsn;   /* a fresh database with the auth schema */
static PGconn *pg;  /* the test's own session on it */
static db_conn *db; /* the connection the jobs run on, as the runtime's thread */

static void sql_ok(const char *sql)
{
    PGresult *r = PQexec(pg, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(pg));
    PQclear(r);
}

static long count_on(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    long n = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return n;
}

static long count(const char *sql)
{
    return count_on(pg, sql);
}

static const svc_maint_job *auth_job(const char *name)
{
    for (size_t i = 0; i < auth_maint_njobs; i++)
        if (strcmp(auth_maint_jobs[i].name, name) == 0)
            return &auth_maint_jobs[i];
    fail_msg("auth has no maintenance job %s", name);
    return NULL;
}

static svc_maint_result run(const svc_maint_job *job, int64_t batch, int64_t max_batches)
{
    svc_maint_result res;
    cf_code code =
        svc_maint_run(db, "auth", job, (int64_t)time(NULL), batch, max_batches, NULL, &res);
    if (code != CF_OK)
        fail_msg("%s: %s", job->name, cf_code_name(code));
    return res;
}

static void add_states(int expired, int live)
{
    static int k;
    char sql[512];
    for (int i = 0; i < expired + live; i++) {
        snprintf(sql, sizeof sql,
                 "INSERT INTO login_states (state_hash, provider, redirect_uri, expires_at) "
                 "VALUES ('st-%d', 'dev', 'http://x/cb', now() %s interval '10 minutes')",
                 k++, i < expired ? "-" : "+");
        sql_ok(sql);
    }
}

/* Rows past their age go; rows still needed stay (each table of auth). */
static void auth_jobs_purge_only_what_is_over(void **state)
{
    (void)state;
    sql_ok("INSERT INTO users (id, provider, provider_id) VALUES ('u1', 'dev', 'u1')");
    sql_ok("INSERT INTO sessions (id, user_id, refresh_token_hash, access_jti, access_iat, "
           "expires_at) VALUES "
           "('s-old', 'u1', 'h-old', 'j1', 0, now() - interval '1 minute'), "
           "('s-live', 'u1', 'h-live', 'j2', 0, now() + interval '1 day'), "
           "('s-revoked', 'u1', 'h-rev', 'j3', 0, now() + interval '1 day')");
    sql_ok("UPDATE sessions SET revoked_at = now() WHERE id = 's-revoked'");
    sql_ok("INSERT INTO refresh_history (token_hash, session_id, generation, superseded_at) "
           "VALUES ('old-1', 's-old', 0, now()), ('live-1', 's-live', 0, now())");
    /* revocations: the token expired 10 min ago (gone), 1 min ago (kept: verifiers accept a
     * token up to their leeway, at most 5 min, past exp), not yet (kept) */
    sql_ok("INSERT INTO token_blacklist (id, token_hash, jti, user_id, reason, expires_at) VALUES "
           "('b-old', 'th1', 'jti1', 'u1', 'logout', now() - interval '10 minutes'), "
           "('b-leeway', 'th2', 'jti2', 'u1', 'logout', now() - interval '1 minute'), "
           "('b-live', 'th3', 'jti3', 'u1', 'logout', now() + interval '10 minutes')");
    add_states(1, 1);

    svc_maint_result r = run(auth_job("blacklist"), 1000, 1000);
    assert_int_equal(r.rows, 1);
    assert_int_equal(count("SELECT count(*) FROM token_blacklist WHERE id = 'b-old'"), 0);
    assert_int_equal(count("SELECT count(*) FROM token_blacklist"), 2);

    r = run(auth_job("sessions"), 1000, 1000);
    assert_int_equal(r.rows, 1);
    assert_int_equal(count("SELECT count(*) FROM sessions WHERE id = 's-old'"), 0);
    /* a revoked session not yet expired is kept (its expiry still bounds its tokens) */
    assert_int_equal(count("SELECT count(*) FROM sessions"), 2);
    assert_int_equal(count("SELECT count(*) FROM refresh_history"), 1); /* with its session */

    r = run(auth_job("login_states"), 1000, 1000);
    assert_int_equal(r.rows, 1);
    assert_int_equal(count("SELECT count(*) FROM login_states"), 1);

    /* a second run finds nothing: the jobs are idempotent */
    for (size_t i = 0; i < auth_maint_njobs; i++)
        assert_int_equal(run(&auth_maint_jobs[i], 1000, 1000).rows, 0);
    sql_ok("DELETE FROM login_states");
}

/* A run goes in batches, and stops at max_batches with the rest for the next run. */
static void batches_and_max_batches(void **state)
{
    (void)state;
    sql_ok("DELETE FROM login_states");
    add_states(5, 2);
    svc_maint_result r = run(auth_job("login_states"), 2, 1000);
    assert_int_equal(r.rows, 5);
    assert_int_equal(r.batches, 3); /* 2 + 2 + 1: the short batch ends the run */
    assert_false(r.exhausted);
    add_states(5, 0);
    r = run(auth_job("login_states"), 2, 2);
    assert_int_equal(r.rows, 4);
    assert_true(r.exhausted);
    assert_int_equal(count("SELECT count(*) FROM login_states"), 3);
    r = run(auth_job("login_states"), 2, 2);
    assert_int_equal(r.rows, 1);
    assert_int_equal(count("SELECT count(*) FROM login_states"), 2); /* the live ones */
    sql_ok("DELETE FROM login_states");
}

/* Advisory locks held in this database (other tests' databases share the cluster). */
#define HELD_LOCKS                                                                                 \
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = "                    \
    "(SELECT oid FROM pg_database WHERE datname = current_database())"

/* Replicas do not fight: while another session holds the job's lock, a run skips; once free,
 * it runs. Another job's lock does not stop it. */
static void replicas_skip_a_held_job(void **state)
{
    (void)state;
    sql_ok("DELETE FROM login_states");
    add_states(3, 0);
    PGconn *other = th_pg_connect(dsn);
    PGresult *got = PQexec(other, "SELECT pg_try_advisory_lock(hashtext('confetti.maint'), "
                                  "hashtext('auth.login_states'))");
    assert_string_equal(PQgetvalue(got, 0, 0), "t");
    PQclear(got);
    svc_maint_result r = run(auth_job("login_states"), 1000, 1000);
    assert_true(r.skipped);
    assert_int_equal(r.rows, 0);
    assert_int_equal(count("SELECT count(*) FROM login_states"), 3);
    assert_false(run(auth_job("sessions"), 1000, 1000).skipped);
    PQfinish(other); /* the lock goes with the session, as a replica's that dies */
    /* the server ends that backend (and frees its lock) a moment after the client left */
    for (int i = 0; i < 300 && count(HELD_LOCKS) > 0; i++)
        usleep(100000);
    assert_int_equal(count(HELD_LOCKS), 0);
    r = run(auth_job("login_states"), 1000, 1000);
    assert_false(r.skipped);
    assert_int_equal(r.rows, 3);
    /* the run released its lock */
    assert_int_equal(count(HELD_LOCKS), 0);
}

typedef struct racer {
    svc_maint_result res;
    cf_code code;
} racer;

static void *race(void *arg)
{
    racer *rc = arg;
    db_conn *c = db_conn_new(dsn, "auth", NULL, 0);
    rc->code = db_conn_ensure(c);
    /* the job's statement alone (no lock): what two replicas whose locks failed would do */
    for (int i = 0; i < 200 && rc->code == CF_OK; i++) {
        int64_t n = 0;
        const svc_maint_job *job = auth_job("login_states");
        rc->code = job->run(c, job->arg, (int64_t)time(NULL), 7, &n);
        rc->res.rows += n;
        if (n == 0)
            break;
    }
    db_conn_free(c);
    return NULL;
}

/* Even without the lock, two runs at once purge each row exactly once (SKIP LOCKED, deletes by
 * key): the jobs are idempotent. */
static void concurrent_runs_purge_each_row_once(void **state)
{
    (void)state;
    sql_ok("DELETE FROM login_states");
    add_states(300, 1);
    racer a = {0}, b = {0};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, race, &a);
    pthread_create(&tb, NULL, race, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    assert_int_equal(a.code, CF_OK);
    assert_int_equal(b.code, CF_OK);
    assert_int_equal(a.res.rows + b.res.rows, 300);
    assert_int_equal(count("SELECT count(*) FROM login_states"), 1);
    sql_ok("DELETE FROM login_states");
}

static cf_code outbox_run(db_conn *c, const void *arg, int64_t now, int batch, int64_t *n)
{
    (void)now;
    return events_prune_batch(c, *(const int64_t *)arg, batch, n);
}

/* The outbox job: relayed rows past the retention go; a row not yet relayed stays, however
 * old (its subscribers have not had it); a relayed row inside the retention stays (Replay). */
static void outbox_keeps_what_is_not_relayed(void **state)
{
    (void)state;
    sql_ok("DELETE FROM outbox");
    sql_ok("INSERT INTO outbox (seq, event_id, body, created_at) VALUES "
           "(1, 'e1', '\\x00', now() - interval '8 days'), "
           "(2, 'e2', '\\x00', now() - interval '8 days'), "
           "(3, 'e3', '\\x00', now() - interval '1 day'), "  /* relayed, kept for Replay */
           "(4, 'e4', '\\x00', now() - interval '8 days'), " /* numbered, not yet published */
           "(NULL, 'e5', '\\x00', now() - interval '8 days')" /* not even numbered */);
    sql_ok("UPDATE outbox_state SET last_seq = 4, published_seq = 3");
    int64_t retention = 7LL * 86400000;
    svc_maint_job job = {.name = "outbox", .run = outbox_run, .arg = &retention};
    svc_maint_result r = run(&job, 1, 1000);
    assert_int_equal(r.rows, 2);
    assert_int_equal(r.batches, 3);
    assert_int_equal(count("SELECT count(*) FROM outbox WHERE event_id IN ('e3', 'e4', 'e5')"), 3);
    assert_int_equal(count("SELECT count(*) FROM outbox"), 3);
    /* published at last: then it goes */
    sql_ok("UPDATE outbox_state SET published_seq = 4");
    assert_int_equal(run(&job, 1000, 1000).rows, 1);
    assert_int_equal(count("SELECT count(*) FROM outbox WHERE event_id = 'e4'"), 0);
}

static double metric(int port, const char *series)
{
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", port);
    th_http_resp m = th_http(&(th_http_req){.method = "GET", .url = url, .timeout_s = 10});
    const char *at = m.status == 200 && m.body ? strstr(m.body, series) : NULL;
    double x = at ? strtod(at + strlen(series), NULL) : -1;
    th_http_free(&m);
    return x;
}

/* A serving process runs its jobs on schedule: catalog in-process, its outbox and idempotency
 * jobs every second; rows it must purge are gone within a bound, those it must keep stay, and
 * /metrics counts them per job. */
static void service_runs_its_jobs_on_schedule(void **state)
{
    (void)state;
    const char *env[] = {"CONFETTI_MAINTENANCE_OUTBOX_INTERVAL=1s",
                         "CONFETTI_MAINTENANCE_IDEMPOTENCY_KEYS_INTERVAL=1s",
                         "CONFETTI_EVENTS_RETENTION=1h", "CONFETTI_CATALOG_IDEMPOTENCY_TTL=1h",
                         NULL};
    th_service *cat = th_service_start(catalog_service_def(), &(th_service_opts){.env = env});
    PGconn *c = th_pg_connect(cat->dsn);
    PGresult *r = PQexec(c, "SET search_path = catalog, public");
    PQclear(r);
    const char *setup[] = {
        "INSERT INTO apps (id, app_id, app_secret_hash, owner_user_id, name, manifest, "
        "manifest_version) VALUES ('a1', 'app1', sha256('s'), 'u', 'n', '{}', '1.0.0')",
        "INSERT INTO idempotency_keys (caller, method, key, request_hash, app_pk, created_at) "
        "VALUES ('u', 'RegisterApp', 'old', '\\x00', 'a1', now() - interval '2 hours'), "
        "('u', 'RegisterApp', 'new', '\\x00', 'a1', now())",
        /* one relayed row older than the retention (numbered and published in one statement,
         * under the row lock the relay takes), and one the relay has not seen */
        "WITH s AS (UPDATE outbox_state SET last_seq = last_seq + 1, published_seq = last_seq + 1 "
        "WHERE published_seq = last_seq RETURNING last_seq) INSERT INTO outbox (seq, event_id, "
        "body, created_at) SELECT last_seq, 'old', '\\x00', now() - interval '2 hours' FROM s",
    };
    for (size_t i = 0; i < sizeof setup / sizeof *setup; i++) {
        r = PQexec(c, setup[i]);
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            fail_msg("%s: %s", setup[i], PQerrorMessage(c));
        PQclear(r);
    }
    assert_int_equal(count_on(c, "SELECT count(*) FROM outbox WHERE event_id = 'old'"), 1);
    bool gone = false;
    for (int i = 0; i < 600 && !gone; i++) { /* 60 s: a loaded machine, not a speed check */
        gone = count_on(c, "SELECT count(*) FROM outbox WHERE event_id = 'old'") == 0 &&
               count_on(c, "SELECT count(*) FROM idempotency_keys WHERE key = 'old'") == 0;
        if (!gone)
            usleep(100000);
    }
    assert_true(gone);
    assert_int_equal(count_on(c, "SELECT count(*) FROM idempotency_keys WHERE key = 'new'"), 1);
    double rows = -1;
    for (int i = 0; i < 100 && rows < 1; i++) { /* the counter is added after the run commits */
        rows = metric(cat->admin_port,
                      "confetti_maintenance_rows_total{service=\"catalog\",job=\"outbox\"} ");
        if (rows < 1)
            usleep(100000);
    }
    assert_true(rows >= 1);
    assert_true(metric(cat->admin_port, "confetti_maintenance_rows_total{service=\"catalog\","
                                        "job=\"idempotency_keys\"} ") >= 1);
    assert_true(metric(cat->admin_port, "confetti_maintenance_failures_total{service=\"catalog\","
                                        "job=\"outbox\"} ") == 0);
    assert_true(metric(cat->admin_port, "confetti_maintenance_last_success_timestamp_seconds{"
                                        "service=\"catalog\",job=\"outbox\"} ") > 0);
    PQfinish(c);
    th_service_stop(cat);
}

static int setup_all(void **state)
{
    (void)state;
    dsn = th_pg_fresh_db("maint");
    char err[512];
    if (db_migrate(dsn, "auth", auth_migrations, auth_migrations_count, err, sizeof err) != CF_OK)
        fail_msg("migrate: %s", err);
    pg = th_pg_connect(dsn);
    sql_ok("SET search_path = auth, public");
    db = db_conn_new(dsn, "auth", NULL, 0);
    assert_int_equal(db_conn_ensure(db), CF_OK);
    return 0;
}

static int teardown_all(void **state)
{
    (void)state;
    db_conn_free(db);
    PQfinish(pg);
    th_pg_drop_db(dsn);
    free(dsn);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(auth_jobs_purge_only_what_is_over),
        cmocka_unit_test(batches_and_max_batches),
        cmocka_unit_test(replicas_skip_a_held_job),
        cmocka_unit_test(concurrent_runs_purge_each_row_once),
        cmocka_unit_test(outbox_keeps_what_is_not_relayed),
        cmocka_unit_test(service_runs_its_jobs_on_schedule),
    };
    return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
