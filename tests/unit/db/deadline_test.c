/* deadline_test.c — issue 14 item 5: a call's deadline bounds its database time, and every
 * connection carries the configured limits (statement_timeout, client check, TCP keepalives).
 * Against the private PostgreSQL; the server that stops answering altogether (SIGSTOP, restart)
 * is tests/integration/faults. */
#include "th.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/clock.h"
#include "db/db.h"
#include "db/tx.h"
#include "dbt.h"
#include "pg.h"

static const db_stmt stmts[] = {
    {"sleep", "SELECT pg_sleep($1::float8)"},
    {"item_put", "INSERT INTO items (id, name, qty) VALUES ($1, $2, 1)"},
    {"item_bump", "UPDATE items SET qty = qty + 1 WHERE id = $1"},
    {"backend_pid", "SELECT pg_backend_pid()"},
    {"setting", "SELECT current_setting($1)"},
};
#define NSTMTS (sizeof stmts / sizeof stmts[0])

typedef struct fixture {
    char *conninfo;
    db_conn *c;
    PGconn *peek;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->conninfo = dbt_fresh_app_db("deadline");
    f->c = db_conn_new(f->conninfo, "app", stmts, NSTMTS);
    f->peek = th_pg_connect(f->conninfo);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    PQfinish(f->peek);
    db_conn_free(f->c);
    th_pg_drop_db(f->conninfo);
    free(f->conninfo);
    free(f);
    return 0;
}

/* A loopback TCP port nothing listens on (bound, read, closed). */
static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

static int64_t ms_since(int64_t t0)
{
    return (cf_mono_ns() - t0) / 1000000;
}

static const char *setting(fixture *f, const char *name)
{
    static char buf[64];
    PGresult *r = NULL;
    const char *const v[] = {name};
    assert_code(CF_OK, db_exec(f->c, "setting", 1, v, &r));
    snprintf(buf, sizeof buf, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return buf;
}

static void test_limits_reach_the_session_and_the_socket(void **state)
{
    fixture *f = *state;
    db_limits l = DB_LIMITS_DEFAULT;
    l.statement_timeout_ms = 4321;
    l.client_check_ms = 700;
    l.keepalives_idle_ms = 17000;
    l.keepalives_interval_ms = 3000;
    l.keepalives_count = 4;
    l.tcp_user_timeout_ms = 9000;
    db_conn_set_limits(f->c, &l);
    assert_string_equal(setting(f, "statement_timeout"), "4321ms");
    assert_string_equal(setting(f, "client_connection_check_interval"), "700ms");
    /* keepalives are socket options (TCP only): what libpq was told */
    PQconninfoOption *o = PQconninfo(db_conn_pg(f->c));
    int seen = 0;
    for (PQconninfoOption *p = o; p->keyword; p++) {
        const char *want = !strcmp(p->keyword, "keepalives")            ? "1"
                           : !strcmp(p->keyword, "keepalives_idle")     ? "17"
                           : !strcmp(p->keyword, "keepalives_interval") ? "3"
                           : !strcmp(p->keyword, "keepalives_count")    ? "4"
                           : !strcmp(p->keyword, "tcp_user_timeout")    ? "9000"
                                                                        : NULL;
        if (want) {
            assert_non_null(p->val);
            assert_string_equal(p->val, want);
            seen++;
        }
    }
    PQconninfoFree(o);
    assert_int_equal(seen, 5);
}

static void test_an_expired_deadline_sends_nothing(void **state)
{
    fixture *f = *state;
    assert_code(CF_OK, db_conn_ensure(f->c));
    db_conn_set_deadline(f->c, cf_mono_ns() - 1);
    const char *const v[] = {"1", "one"};
    assert_code(CF_DEADLINE_EXCEEDED, db_exec(f->c, "item_put", 2, v, NULL));
    db_conn_set_deadline(f->c, 0);
    assert_string_equal(dbt_value(f->peek, "SELECT count(*) FROM app.items"), "0");
}

/* A statement still running at the deadline is abandoned with its connection; the server stops
 * it (client_connection_check_interval) and the next call reconnects. */
static void test_a_statement_past_the_deadline_is_abandoned(void **state)
{
    fixture *f = *state;
    PGresult *r = NULL;
    assert_code(CF_OK, db_exec(f->c, "backend_pid", 0, NULL, &r));
    char pid[16];
    snprintf(pid, sizeof pid, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);

    int64_t t0 = cf_mono_ns();
    db_conn_set_deadline(f->c, t0 + 300 * 1000000LL);
    const char *const v[] = {"20"};
    assert_code(CF_DEADLINE_EXCEEDED, db_exec(f->c, "sleep", 1, v, NULL));
    int64_t took = ms_since(t0);
    assert_true(took >= 290);
    assert_true(took < 5000); /* not the 20 s the statement asked for */
    assert_false(db_conn_ok(f->c));
    assert_string_equal(db_last_sqlstate(f->c), "57014");

    /* the server let the abandoned backend go well before its sleep would have ended */
    for (int i = 0; i < 150; i++) {
        if (!strcmp(dbt_value1(f->peek, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1::int",
                               pid),
                    "0"))
            break;
        usleep(100000);
    }
    assert_string_equal(
        dbt_value1(f->peek, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1::int", pid), "0");

    db_conn_set_deadline(f->c, 0);
    assert_code(CF_OK, db_exec(f->c, "backend_pid", 0, NULL, &r)); /* reconnects */
    assert_string_not_equal(PQgetvalue(r, 0, 0), pid);
    PQclear(r);
}

typedef struct bump {
    int calls;
} bump;

static cf_code bump_body(db_conn *c, void *arg)
{
    ((bump *)arg)->calls++;
    const char *const v[] = {"7"};
    return db_exec(c, "item_bump", 1, v, NULL);
}

/* Inside db_tx the deadline travels to the server as statement_timeout: a lock wait ends there
 * with 57014 and the connection is kept. */
static void test_a_transaction_carries_the_deadline_to_the_server(void **state)
{
    fixture *f = *state;
    const char *const v[] = {"7", "seven"};
    assert_code(CF_OK, db_exec(f->c, "item_put", 2, v, NULL));
    PQclear(PQexec(f->peek, "BEGIN"));
    PQclear(PQexec(f->peek, "UPDATE app.items SET qty = 100 WHERE id = 7"));

    int64_t t0 = cf_mono_ns();
    db_conn_set_deadline(f->c, t0 + 2000 * 1000000LL);
    bump b = {0};
    assert_code(CF_DEADLINE_EXCEEDED, db_tx(f->c, bump_body, &b));
    assert_true(ms_since(t0) < 2000); /* the server's bound, before the client's */
    assert_int_equal(b.calls, 1);
    assert_string_equal(db_last_sqlstate(f->c), "57014");
    assert_true(db_conn_ok(f->c)); /* the server answered: nothing to abandon */
    db_conn_set_deadline(f->c, 0);

    PQclear(PQexec(f->peek, "ROLLBACK"));
    assert_string_equal(dbt_value(f->peek, "SELECT qty FROM app.items WHERE id = 7"), "1");
    assert_code(CF_OK, db_tx(f->c, bump_body, &b));
    assert_string_equal(dbt_value(f->peek, "SELECT qty FROM app.items WHERE id = 7"), "2");
}

/* db_exec_tx's own bound never outlives the call's deadline. */
static void test_a_pipeline_bound_is_capped_by_the_deadline(void **state)
{
    fixture *f = *state;
    const char *const v[] = {"8", "eight"};
    assert_code(CF_OK, db_exec(f->c, "item_put", 2, v, NULL));
    PQclear(PQexec(f->peek, "BEGIN"));
    PQclear(PQexec(f->peek, "UPDATE app.items SET qty = 100 WHERE id = 8"));
    int64_t t0 = cf_mono_ns();
    db_conn_set_deadline(f->c, t0 + 300 * 1000000LL);
    const char *const b[] = {"8"};
    assert_code(CF_DEADLINE_EXCEEDED, db_exec_tx(f->c, 60000, "item_bump", 1, b, NULL));
    assert_true(ms_since(t0) < 5000);
    db_conn_set_deadline(f->c, 0);
    /* The abandoned statement is cancelled on the server (a cancel request, then the close);
     * the server acts on it asynchronously: wait until no backend waits on the row lock before
     * releasing it, or a starved machine lets the bump run first (stress run, 2026-12-07). A
     * cancel that never arrives fails here, by name. */
    bool gone = false;
    for (int i = 0; i < 1000 && !gone; i++) {
        const char *n = dbt_value(f->peek, "SELECT count(*) FROM pg_stat_activity WHERE "
                                           "datname = current_database() AND wait_event_type = "
                                           "'Lock' AND query LIKE 'UPDATE items SET qty%'");
        gone = strcmp(n, "0") == 0;
        if (!gone)
            usleep(10000);
    }
    if (!gone)
        fail_msg("the abandoned statement still waits on the lock after 10 s: not cancelled");
    PQclear(PQexec(f->peek, "ROLLBACK"));
    assert_string_equal(dbt_value(f->peek, "SELECT qty FROM app.items WHERE id = 8"), "1");
}

/* Nothing listens on the port: a connect fails at once (UNAVAILABLE), and never waits past the
 * deadline. */
static void test_connect_failures_are_unavailable(void **state)
{
    (void)state;
    char dsn[128];
    snprintf(dsn, sizeof dsn, "host=127.0.0.1 port=%d dbname=x connect_timeout=60", closed_port());
    db_conn *c = db_conn_new(dsn, "app", NULL, 0);
    int64_t t0 = cf_mono_ns();
    assert_code(CF_UNAVAILABLE, db_conn_ensure(c));
    assert_true(ms_since(t0) < 5000);
    db_conn_free(c);
}

/* A listening socket nobody accepts on: the kernel completes TCP handshakes into its backlog
 * and nothing ever answers, as with a SIGSTOPped postmaster. */
static int silent_server(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 16), 0);
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    *port = ntohs(a.sin_port);
    return fd;
}

/* Connections waiting in the silent server's backlog (accepted and closed here). */
static int drain_backlog(int fd)
{
    int n = 0;
    for (int c; (c = accept(fd, NULL, NULL)) >= 0; n++)
        close(c);
    return n;
}

/* A connect the server does not answer ends at the call's deadline, and the next call goes on
 * with the same attempt instead of queueing another connection at the frozen server; past
 * connect_timeout the attempt is given up (UNAVAILABLE) and the next call starts a fresh one. */
static void test_an_unanswered_connect_is_resumed_not_repeated(void **state)
{
    (void)state;
    int port, srv = silent_server(&port);
    char dsn[128];
    snprintf(dsn, sizeof dsn, "host=127.0.0.1 port=%d dbname=x user=x", port);
    db_conn *c = db_conn_new(dsn, "app", NULL, 0);
    db_limits l = DB_LIMITS_DEFAULT;
    l.connect_timeout_ms = 1500;
    db_conn_set_limits(c, &l);
    for (int i = 0; i < 3; i++) {
        int64_t t0 = cf_mono_ns();
        db_conn_set_deadline(c, t0 + 200 * 1000000LL);
        assert_code(CF_DEADLINE_EXCEEDED, db_exec_sql(c, "SELECT 1", 0, NULL, NULL));
        assert_true(ms_since(t0) < 1400);
    }
    db_conn_set_deadline(c, 0);
    assert_int_equal(drain_backlog(srv), 1); /* three calls, one connection */
    int64_t t0 = cf_mono_ns();
    assert_code(CF_UNAVAILABLE, db_conn_ensure(c)); /* the rest of connect_timeout, then given up */
    assert_true(ms_since(t0) < 1400);
    db_conn_set_deadline(c, cf_mono_ns() + 100 * 1000000LL);
    assert_code(CF_DEADLINE_EXCEEDED, db_conn_ensure(c)); /* a fresh attempt */
    usleep(100000);
    assert_int_equal(drain_backlog(srv), 1);
    db_conn_free(c);
    close(srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_limits_reach_the_session_and_the_socket, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_an_expired_deadline_sends_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_statement_past_the_deadline_is_abandoned, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_transaction_carries_the_deadline_to_the_server,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_pipeline_bound_is_capped_by_the_deadline, setup,
                                        teardown),
        cmocka_unit_test(test_connect_failures_are_unavailable),
        cmocka_unit_test(test_an_unanswered_connect_is_resumed_not_repeated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
