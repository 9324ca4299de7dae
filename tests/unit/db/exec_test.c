/* exec_test.c — db_conn and db_exec against real PostgreSQL: prepared statements, parameters,
 * SQLSTATE translation, reconnection, and statements that do not prepare. */
#include "th.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "dbt.h"
#include "pg.h"

static const db_stmt stmts[] = {
    {"item_put", "INSERT INTO items (id, name, qty) VALUES ($1, $2, $3)"},
    {"item_name", "SELECT name FROM items WHERE id = $1"},
    {"item_del", "DELETE FROM items WHERE id = $1"},
    {"part_put", "INSERT INTO parts (id, item_id) VALUES ($1, $2)"},
    {"backend_pid", "SELECT pg_backend_pid()"},
    {"whoami", "SELECT current_setting('application_name'), current_schemas(false)::text"},
};
#define NSTMTS (sizeof stmts / sizeof stmts[0])

typedef struct fixture {
    char *conninfo;
    db_conn *c;
    PGconn *peek; /* a second connection, to look at tables from outside */
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->conninfo = dbt_fresh_app_db("exec");
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

static void put(fixture *f, const char *id, const char *name)
{
    const char *const v[] = {id, name, "1"};
    assert_code(CF_OK, db_exec(f->c, "item_put", 3, v, NULL));
}

static void test_ensure_prepares_and_sets_up_the_session(void **state)
{
    fixture *f = *state;
    assert_false(db_conn_ok(f->c)); /* db_conn_new does no I/O */
    assert_string_equal(dbt_value(f->peek, "SELECT current_database() LIKE 'exec_%'"), "t");
    assert_null(db_conn_pg(f->c));
    assert_code(CF_OK, db_conn_ensure(f->c));
    assert_true(db_conn_ok(f->c));
    PGresult *res = NULL;
    assert_code(CF_OK, db_exec(f->c, "whoami", 0, NULL, &res));
    assert_string_equal(PQgetvalue(res, 0, 0), "confetti-app");
    assert_string_equal(PQgetvalue(res, 0, 1), "{app,public}");
    PQclear(res);
    assert_string_equal(dbt_value(f->peek, "SELECT count(*) FROM pg_prepared_statements"),
                        "0"); /* other conn */
    res = NULL;
    /* the table's statements, and the statement timeout db_exec_tx/db_tx use */
    assert_code(CF_OK, db_exec_sql(f->c,
                                   "SELECT count(*), count(*) FILTER (WHERE name = "
                                   "'confetti_db_timeout') FROM pg_prepared_statements",
                                   0, NULL, &res));
    char want[16];
    snprintf(want, sizeof want, "%zu", NSTMTS + 1);
    assert_string_equal(PQgetvalue(res, 0, 0), want);
    assert_string_equal(PQgetvalue(res, 0, 1), "1");
    PQclear(res);
}

static void test_parameters_with_sql_metacharacters_are_stored_verbatim(void **state)
{
    fixture *f = *state;
    static const char *const names[] = {
        "'; DROP TABLE items; --",
        "Robert'); DELETE FROM items WHERE ('1'='1",
        "back\\slash $1 \"dq\" E'\\x00' ; -- /* */ é ✓",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char id[8];
        snprintf(id, sizeof id, "%zu", i + 1);
        put(f, id, names[i]);
    }
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char id[8];
        snprintf(id, sizeof id, "%zu", i + 1);
        const char *const v[] = {id};
        PGresult *res = NULL;
        assert_code(CF_OK, db_exec(f->c, "item_name", 1, v, &res));
        assert_int_equal(PQntuples(res), 1);
        assert_string_equal(PQgetvalue(res, 0, 0), names[i]);
        PQclear(res);
    }
    assert_string_equal(dbt_value(f->peek, "SELECT count(*) FROM app.items"), "3");
}

/* db_exec_row: one row by key, or NOT_FOUND with nothing to clear. */
static void test_exec_row_finds_one_or_reports_not_found(void **state)
{
    fixture *f = *state;
    put(f, "7", "seven");
    const char *const hit[] = {"7"}, *const miss[] = {"8"};
    PGresult *res = NULL;
    assert_code(CF_OK, db_exec_row(f->c, "item_name", 1, hit, &res));
    assert_string_equal(PQgetvalue(res, 0, 0), "seven");
    PQclear(res);
    res = (PGresult *)1;
    assert_code(CF_NOT_FOUND, db_exec_row(f->c, "item_name", 1, miss, &res));
    assert_null(res);
    const char *const bad[] = {"not-a-number"};
    assert_code(CF_INVALID_ARGUMENT, db_exec_row(f->c, "item_name", 1, bad, &res));
}

/* Each row causes a real violation of one class and names the code it must become. */
static void test_server_errors_map_by_sqlstate(void **state)
{
    fixture *f = *state;
    put(f, "1", "taken");
    const char *const part[] = {"1", "1"};
    assert_code(CF_OK, db_exec(f->c, "part_put", 2, part, NULL));

    static const struct {
        const char *rule;
        const char *stmt;
        int n;
        const char *v[3];
        cf_code want;
        const char *sqlstate;
    } cases[] = {
        {"unique name", "item_put", 3, {"2", "taken", "1"}, CF_ALREADY_EXISTS, "23505"},
        {"unique key", "item_put", 3, {"1", "other", "1"}, CF_ALREADY_EXISTS, "23505"},
        {"fk to a missing row", "part_put", 2, {"2", "999"}, CF_FAILED_PRECONDITION, "23503"},
        {"fk restrict on delete", "item_del", 1, {"1"}, CF_FAILED_PRECONDITION, "23503"},
        {"check qty >= 0", "item_put", 3, {"3", "neg", "-1"}, CF_INVALID_ARGUMENT, "23514"},
        {"not null name", "item_put", 3, {"4", NULL, "1"}, CF_INVALID_ARGUMENT, "23502"},
        {"bad int text", "item_put", 3, {"five", "x", "1"}, CF_INVALID_ARGUMENT, "22P02"},
        {"int out of range",
         "item_put",
         3,
         {"99999999999", "x", "1"},
         CF_INVALID_ARGUMENT,
         "22003"},
        {"unknown statement", "no_such_stmt", 0, {0}, CF_INTERNAL, "26000"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        PGresult *res = (PGresult *)&res; /* must come back NULL */
        cf_code got = db_exec(f->c, cases[i].stmt, cases[i].n, cases[i].v, &res);
        if (got != cases[i].want)
            fail_msg("%s: want %s, got %s (SQLSTATE %s)", cases[i].rule,
                     cf_code_name(cases[i].want), cf_code_name(got), db_last_sqlstate(f->c));
        assert_null(res);
        assert_string_equal(db_last_sqlstate(f->c), cases[i].sqlstate);
        /* an error outside a transaction leaves the connection usable */
        const char *const v[] = {"1"};
        assert_code(CF_OK, db_exec(f->c, "item_name", 1, v, NULL));
        assert_string_equal(db_last_sqlstate(f->c), "");
    }
    assert_string_equal(dbt_value(f->peek, "SELECT count(*) FROM app.items"), "1");
}

static void test_unprepared_statements_take_parameters_and_map_errors(void **state)
{
    fixture *f = *state;
    put(f, "1", "one");
    const char *const v[] = {"one"};
    PGresult *res = NULL;
    assert_code(CF_OK, db_exec_sql(f->c, "SELECT id FROM items WHERE name = $1", 1, v, &res));
    assert_string_equal(PQgetvalue(res, 0, 0), "1");
    PQclear(res);
    assert_code(CF_INTERNAL, db_exec_sql(f->c, "SELECT * FROM no_such_table", 0, NULL, NULL));
    assert_string_equal(db_last_sqlstate(f->c), "42P01");
    assert_code(CF_INVALID_ARGUMENT, db_exec_sql(f->c, "SELECT 1 / 0", 0, NULL, NULL));
}

static void test_terminated_connection_is_reestablished_outside_a_transaction(void **state)
{
    fixture *f = *state;
    put(f, "1", "survivor");
    PGresult *res = NULL;
    assert_code(CF_OK, db_exec(f->c, "backend_pid", 0, NULL, &res));
    char pid[16];
    snprintf(pid, sizeof pid, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);

    /* waits (up to 5 s) until the backend is gone: its goodbye is then on our socket */
    assert_string_equal(dbt_value1(f->peek, "SELECT pg_terminate_backend($1::int, 5000)", pid),
                        "t");
    const char *const v[] = {"1"};
    res = NULL;
    assert_code(CF_OK, db_exec(f->c, "item_name", 1, v, &res));
    assert_string_equal(PQgetvalue(res, 0, 0), "survivor");
    PQclear(res);

    res = NULL;
    assert_code(CF_OK, db_exec(f->c, "backend_pid", 0, NULL, &res));
    assert_string_not_equal(PQgetvalue(res, 0, 0), pid);
    PQclear(res);
    assert_true(db_conn_ok(f->c));
}

static void test_statement_that_does_not_prepare_keeps_the_connection_not_ready(void **state)
{
    fixture *f = *state;
    static const db_stmt broken[] = {
        {"fine", "SELECT 1"},
        {"typo", "SELEC name FROM items"},
    };
    static const db_stmt missing[] = {{"gone", "SELECT x FROM no_such_table"}};
    db_conn *c = db_conn_new(f->conninfo, "app", broken, 2);
    assert_code(CF_INTERNAL, db_conn_ensure(c));
    assert_false(db_conn_ok(c));
    assert_string_equal(db_last_sqlstate(c), "42601");
    assert_code(CF_INTERNAL, db_exec(c, "fine", 0, NULL, NULL)); /* still not ready */
    db_conn_free(c);

    c = db_conn_new(f->conninfo, "app", missing, 1);
    assert_code(CF_INTERNAL, db_conn_ensure(c));
    assert_string_equal(db_last_sqlstate(c), "42P01");
    db_conn_free(c);
}

static void test_unreachable_server_is_unavailable(void **state)
{
    (void)state;
    db_conn *c =
        db_conn_new("host=127.0.0.1 port=1 dbname=x connect_timeout=2", "app", stmts, NSTMTS);
    assert_code(CF_UNAVAILABLE, db_conn_ensure(c));
    assert_code(CF_UNAVAILABLE, db_exec(c, "backend_pid", 0, NULL, NULL));
    assert_false(db_conn_ok(c));
    db_conn_free(c);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_ensure_prepares_and_sets_up_the_session),
        T(test_parameters_with_sql_metacharacters_are_stored_verbatim),
        T(test_exec_row_finds_one_or_reports_not_found),
        T(test_server_errors_map_by_sqlstate),
        T(test_unprepared_statements_take_parameters_and_map_errors),
        T(test_terminated_connection_is_reestablished_outside_a_transaction),
        T(test_statement_that_does_not_prepare_keeps_the_connection_not_ready),
        cmocka_unit_test(test_unreachable_server_is_unavailable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
