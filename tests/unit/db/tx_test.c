/* tx_test.c — db_tx against real PostgreSQL: commit, rollback, retry after a serialization
 * failure, statement deadlines, connection loss inside a transaction, leftovers on reuse; and
 * db_exec_tx, one statement as its own transaction in one round trip. */
#include "th.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/tx.h"
#include "dbt.h"
#include "pg.h"

static const db_stmt stmts[] = {
    {"item_put", "INSERT INTO items (id, name, qty) VALUES ($1, $2, $3)"},
    {"item_qty", "SELECT qty FROM items WHERE id = $1"},
    {"item_add", "UPDATE items SET qty = qty + $2 WHERE id = $1"},
    {"sleep", "SELECT pg_sleep($1::float8)"},
    {"backend_pid", "SELECT pg_backend_pid()"},
    /* one statement that writes two rows: the second fails when $3 is an existing id */
    {"items_put_two", "INSERT INTO items (id, name, qty) VALUES ($1, $2, 1), ($3, $2 || '-b', 1) "
                      "RETURNING id"},
    {"item_take", "UPDATE items SET qty = qty - 1 WHERE id = $1 RETURNING qty"},
};

typedef struct fixture {
    char *conninfo;
    db_conn *c;
    PGconn *other; /* a second client: the concurrent transaction, the observer */
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->conninfo = dbt_fresh_app_db("tx");
    f->c = db_conn_new(f->conninfo, "app", stmts, sizeof stmts / sizeof stmts[0]);
    f->other = th_pg_connect(f->conninfo);
    PQclear(PQexec(f->other, "SET search_path = app"));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    PQfinish(f->other);
    db_conn_free(f->c);
    th_pg_drop_db(f->conninfo);
    free(f->conninfo);
    free(f);
    return 0;
}

static void other_exec(fixture *f, const char *sql)
{
    PGresult *res = PQexec(f->other, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s", PQerrorMessage(f->other));
        PQclear(res);
        fail_msg("%s: %s", sql, msg);
    }
    PQclear(res);
}

static const char *count_items(fixture *f)
{
    return dbt_value(f->other, "SELECT count(*) FROM items");
}

typedef struct body {
    fixture *f;
    int attempts;
    int interfere;  /* attempts during which the other client commits a conflicting update */
    cf_code result; /* what the body returns after its statements */
    bool ignore_errors;
} body;

static cf_code insert_two(db_conn *c, void *arg)
{
    body *b = arg;
    b->attempts++;
    const char *const one[] = {"1", "one", "1"};
    const char *const two[] = {"2", "two", "1"};
    cf_code code = db_exec(c, "item_put", 3, one, NULL);
    if (code != CF_OK && !b->ignore_errors)
        return code;
    code = db_exec(c, "item_put", 3, two, NULL);
    if (code != CF_OK && !b->ignore_errors)
        return code;
    return b->result;
}

static void test_tx_commits_when_the_body_succeeds(void **state)
{
    fixture *f = *state;
    body b = {.f = f, .result = CF_OK};
    assert_code(CF_OK, db_tx(f->c, insert_two, &b));
    assert_int_equal(b.attempts, 1);
    assert_string_equal(count_items(f), "2");
    assert_int_equal(PQtransactionStatus(db_conn_pg(f->c)), PQTRANS_IDLE);
}

static void test_tx_rolls_back_and_returns_the_body_code(void **state)
{
    fixture *f = *state;
    body b = {.f = f, .result = CF_FAILED_PRECONDITION};
    assert_code(CF_FAILED_PRECONDITION, db_tx(f->c, insert_two, &b));
    assert_string_equal(count_items(f), "0");
    assert_int_equal(PQtransactionStatus(db_conn_pg(f->c)), PQTRANS_IDLE);
    b.result = CF_OK;
    assert_code(CF_OK, db_tx(f->c, insert_two, &b)); /* reusable */
    assert_string_equal(count_items(f), "2");
}

static void test_tx_fails_when_the_body_ignores_a_failed_statement(void **state)
{
    fixture *f = *state;
    other_exec(f, "INSERT INTO items (id, name) VALUES (1, 'one')");
    body b = {.f = f, .result = CF_OK, .ignore_errors = true};
    assert_code(CF_ALREADY_EXISTS, db_tx(f->c, insert_two, &b));
    assert_string_equal(count_items(f), "1");
    assert_int_equal(b.attempts, 1);
}

/* Reads the quantity (the snapshot), lets the other client commit an update of the same row in
 * its own SERIALIZABLE transaction, then updates the row: PostgreSQL must abort with 40001. */
static cf_code add_one(db_conn *c, void *arg)
{
    body *b = arg;
    b->attempts++;
    const char *const id[] = {"1"};
    PGresult *res = NULL;
    cf_code code = db_exec(c, "item_qty", 1, id, &res);
    if (code != CF_OK)
        return code;
    PQclear(res);
    if (b->attempts <= b->interfere)
        other_exec(b->f, "BEGIN ISOLATION LEVEL SERIALIZABLE;"
                         " UPDATE items SET qty = qty + 10 WHERE id = 1; COMMIT");
    const char *const add[] = {"1", "1"};
    code = db_exec(c, "item_add", 2, add, NULL);
    if (code != CF_OK)
        return code;
    return b->result;
}

static void test_tx_retries_after_a_serialization_failure(void **state)
{
    fixture *f = *state;
    other_exec(f, "INSERT INTO items (id, name, qty) VALUES (1, 'one', 1)");
    body b = {.f = f, .interfere = 1, .result = CF_OK};
    assert_code(CF_OK, db_tx_level(f->c, DB_SERIALIZABLE, add_one, &b));
    assert_int_equal(b.attempts, 2);
    assert_string_equal(dbt_value(f->other, "SELECT qty FROM items WHERE id = 1"), "12");
    assert_int_equal(PQtransactionStatus(db_conn_pg(f->c)), PQTRANS_IDLE);
}

static void test_tx_gives_up_after_three_attempts_and_stays_usable(void **state)
{
    fixture *f = *state;
    other_exec(f, "INSERT INTO items (id, name, qty) VALUES (1, 'one', 1)");
    body b = {.f = f, .interfere = 100, .result = CF_OK};
    assert_code(CF_ABORTED, db_tx_level(f->c, DB_SERIALIZABLE, add_one, &b));
    assert_int_equal(b.attempts, 3);
    assert_string_equal(db_last_sqlstate(f->c), "40001");
    assert_int_equal(PQtransactionStatus(db_conn_pg(f->c)), PQTRANS_IDLE); /* rolled back */
    assert_string_equal(dbt_value(f->other, "SELECT qty FROM items WHERE id = 1"), "31");
    const char *const id[] = {"1"};
    PGresult *res = NULL;
    assert_code(CF_OK, db_exec(f->c, "item_qty", 1, id, &res));
    assert_string_equal(PQgetvalue(res, 0, 0), "31");
    PQclear(res);
}

static void test_tx_does_not_retry_aborted_from_the_body_itself(void **state)
{
    fixture *f = *state;
    other_exec(f, "INSERT INTO items (id, name, qty) VALUES (1, 'one', 1)");
    body b = {.f = f, .result = CF_ABORTED};
    assert_code(CF_ABORTED, db_tx(f->c, add_one, &b));
    assert_int_equal(b.attempts, 1);
    assert_string_equal(dbt_value(f->other, "SELECT qty FROM items WHERE id = 1"), "1");
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static cf_code sleep_past_deadline(db_conn *c, void *arg)
{
    int64_t *ms = arg;
    cf_code code = db_set_local_timeout(c, *ms);
    if (code != CF_OK)
        return code;
    const char *const v[] = {"3"};
    return db_exec(c, "sleep", 1, v, NULL);
}

static void test_local_timeout_bounds_statements_of_the_transaction_only(void **state)
{
    fixture *f = *state;
    int64_t ms = 100;
    double t0 = now_s();
    assert_code(CF_DEADLINE_EXCEEDED, db_tx(f->c, sleep_past_deadline, &ms));
    assert_true(now_s() - t0 < 2.0);
    assert_string_equal(db_last_sqlstate(f->c), "57014");
    assert_int_equal(PQtransactionStatus(db_conn_pg(f->c)), PQTRANS_IDLE);
    ms = 0; /* deadline already past */
    assert_code(CF_DEADLINE_EXCEEDED, db_tx(f->c, sleep_past_deadline, &ms));
    /* SET LOCAL ended with the transaction: a longer statement now runs to completion */
    const char *const v[] = {"0.3"};
    assert_code(CF_OK, db_exec(f->c, "sleep", 1, v, NULL));
}

static cf_code killed_midway(db_conn *c, void *arg)
{
    body *b = arg;
    b->attempts++;
    const char *const one[] = {"1", "one", "1"};
    cf_code code = db_exec(c, "item_put", 3, one, NULL);
    if (code != CF_OK)
        return code;
    char pid[16];
    snprintf(pid, sizeof pid, "%d", PQbackendPID(db_conn_pg(c)));
    assert_string_equal(dbt_value1(b->f->other, "SELECT pg_terminate_backend($1::int, 5000)", pid),
                        "t");
    const char *const two[] = {"2", "two", "1"};
    return db_exec(c, "item_put", 3, two, NULL);
}

static void test_connection_lost_inside_a_tx_is_unavailable_and_not_retried(void **state)
{
    fixture *f = *state;
    body b = {.f = f};
    assert_code(CF_UNAVAILABLE, db_tx(f->c, killed_midway, &b));
    assert_int_equal(b.attempts, 1);
    assert_string_equal(count_items(f), "0");
    /* the next call outside a transaction reconnects */
    b.result = CF_OK;
    assert_code(CF_OK, db_tx(f->c, insert_two, &b));
    assert_string_equal(count_items(f), "2");
}

static void test_transaction_left_open_is_rolled_back_before_reuse(void **state)
{
    fixture *f = *state;
    /* someone used the escape hatch and left a transaction open */
    assert_code(CF_OK, db_conn_ensure(f->c));
    PQclear(PQexec(db_conn_pg(f->c), "BEGIN; INSERT INTO items (id, name) VALUES (9, 'nine')"));
    assert_int_equal(PQtransactionStatus(db_conn_pg(f->c)), PQTRANS_INTRANS);
    /* the next use must not run inside that transaction, nor commit it */
    const char *const one[] = {"1", "one", "1"};
    assert_code(CF_OK, db_conn_ensure(f->c));
    assert_int_equal(PQtransactionStatus(db_conn_pg(f->c)), PQTRANS_IDLE);
    assert_string_equal(count_items(f), "0");
    assert_code(CF_OK, db_exec(f->c, "item_put", 3, one, NULL));
    assert_string_equal(count_items(f), "1");
}

/* --- db_exec_tx: one statement, its own transaction, one round trip --- */

static void test_exec_tx_commits_and_returns_the_rows(void **state)
{
    fixture *f = *state;
    const char *const v[] = {"1", "pair", "2"};
    PGresult *r;
    assert_code(CF_OK, db_exec_tx(f->c, 5000, "items_put_two", 3, v, &r));
    assert_int_equal(PQntuples(r), 2);
    assert_string_equal(PQgetvalue(r, 1, 0), "2");
    PQclear(r);
    assert_int_equal(PQtransactionStatus(db_conn_pg(f->c)), PQTRANS_IDLE);
    assert_string_equal(count_items(f), "2"); /* committed: another session sees both */
}

static void test_exec_tx_rolls_back_a_failed_statement_whole(void **state)
{
    fixture *f = *state;
    other_exec(f, "INSERT INTO items (id, name, qty) VALUES (2, 'two', 1)");
    const char *const v[] = {"1", "pair", "2"}; /* row 1 is new, row 2 collides */
    PGresult *r = (PGresult *)1;
    assert_code(CF_ALREADY_EXISTS, db_exec_tx(f->c, 5000, "items_put_two", 3, v, &r));
    assert_null(r);
    assert_string_equal(db_last_sqlstate(f->c), "23505");
    assert_string_equal(count_items(f), "1"); /* row 1 did not survive */
    assert_int_equal(PQtransactionStatus(db_conn_pg(f->c)), PQTRANS_IDLE);
    const char *const ok[] = {"3", "pair", "4"};
    assert_code(CF_OK, db_exec_tx(f->c, 5000, "items_put_two", 3, ok, NULL)); /* reusable */
    assert_string_equal(count_items(f), "3");
}

static void test_exec_tx_bounds_the_statement_by_its_timeout_only(void **state)
{
    fixture *f = *state;
    const char *const slow[] = {"3"};
    double t0 = now_s();
    assert_code(CF_DEADLINE_EXCEEDED, db_exec_tx(f->c, 100, "sleep", 1, slow, NULL));
    assert_true(now_s() - t0 < 2.0);
    assert_string_equal(db_last_sqlstate(f->c), "57014");
    assert_code(CF_DEADLINE_EXCEEDED, db_exec_tx(f->c, 0, "sleep", 1, slow, NULL));
    /* the timeout was local to that transaction: a longer statement now runs to completion */
    const char *const v[] = {"0.3"};
    assert_code(CF_OK, db_exec(f->c, "sleep", 1, v, NULL));
}

/* The reason it exists: when it returns, the row lock its statement took is released (no
 * transaction left open across a round trip), so another session updates the row at once. */
static void test_exec_tx_holds_no_lock_after_it_returns(void **state)
{
    fixture *f = *state;
    other_exec(f, "INSERT INTO items (id, name, qty) VALUES (1, 'one', 5)");
    const char *const v[] = {"1"};
    PGresult *r;
    assert_code(CF_OK, db_exec_tx(f->c, 5000, "item_take", 1, v, &r));
    assert_string_equal(PQgetvalue(r, 0, 0), "4");
    PQclear(r);
    other_exec(f, "SET lock_timeout = '200ms'");
    other_exec(f, "UPDATE items SET qty = qty - 1 WHERE id = 1");
    assert_string_equal(dbt_value(f->other, "SELECT qty FROM items WHERE id = 1"), "3");
}

static void test_exec_tx_reconnects_a_connection_found_dead_before_sending(void **state)
{
    fixture *f = *state;
    assert_code(CF_OK, db_conn_ensure(f->c));
    char pid[16];
    snprintf(pid, sizeof pid, "%d", PQbackendPID(db_conn_pg(f->c)));
    assert_string_equal(dbt_value1(f->other, "SELECT pg_terminate_backend($1::int, 5000)", pid),
                        "t");
    const char *const v[] = {"1", "pair", "2"};
    assert_code(CF_OK, db_exec_tx(f->c, 5000, "items_put_two", 3, v, NULL));
    assert_string_equal(count_items(f), "2");
}

static void test_pipeline_steps_see_each_other_and_fail_together(void **state)
{
    fixture *f = *state;
    const char *const put5[] = {"5", "five", "1"}, *const take5[] = {"5"};
    PGresult *a = NULL, *b = NULL;
    db_step ok[] = {{.stmt = "item_put", .nparams = 3, .values = put5, .out = &a},
                    {.stmt = "item_take", .nparams = 1, .values = take5, .out = &b},
                    {.stmt = "SELECT count(*) FROM items", .sql = true, .out = NULL}};
    assert_code(CF_OK, db_pipeline_tx(f->c, 5000, ok, 3));
    assert_non_null(a);
    assert_string_equal(PQgetvalue(b, 0, 0), "0"); /* the second saw the first's row */
    PQclear(a), PQclear(b);
    /* the third step fails: the first two are rolled back, and no result is handed out */
    const char *const put6[] = {"6", "six", "1"}, *const take6[] = {"6"};
    db_step bad[] = {{.stmt = "item_put", .nparams = 3, .values = put6, .out = &a},
                     {.stmt = "item_take", .nparams = 1, .values = take6, .out = &b},
                     {.stmt = "item_put", .nparams = 3, .values = put5, .out = NULL}};
    assert_code(CF_ALREADY_EXISTS, db_pipeline_tx(f->c, 5000, bad, 3));
    assert_null(a);
    assert_null(b);
    assert_string_equal(count_items(f), "1");
    assert_int_equal(PQtransactionStatus(db_conn_pg(f->c)), PQTRANS_IDLE);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_tx_commits_when_the_body_succeeds),
        T(test_tx_rolls_back_and_returns_the_body_code),
        T(test_tx_fails_when_the_body_ignores_a_failed_statement),
        T(test_tx_retries_after_a_serialization_failure),
        T(test_tx_gives_up_after_three_attempts_and_stays_usable),
        T(test_tx_does_not_retry_aborted_from_the_body_itself),
        T(test_local_timeout_bounds_statements_of_the_transaction_only),
        T(test_connection_lost_inside_a_tx_is_unavailable_and_not_retried),
        T(test_transaction_left_open_is_rolled_back_before_reuse),
        T(test_exec_tx_commits_and_returns_the_rows),
        T(test_exec_tx_rolls_back_a_failed_statement_whole),
        T(test_exec_tx_bounds_the_statement_by_its_timeout_only),
        T(test_exec_tx_holds_no_lock_after_it_returns),
        T(test_exec_tx_reconnects_a_connection_found_dead_before_sending),
        T(test_pipeline_steps_see_each_other_and_fail_together),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
