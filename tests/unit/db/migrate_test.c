/* migrate_test.c — db_migrate against real PostgreSQL, and the migrations that
 * cmake/Migrations.cmake embeds from tests/unit/db/schema. */
#include "th.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db/migrate.h"
#include "pg.h"

DB_MIGRATIONS_DECLARE(db_test_migrations);

static const char *value(PGconn *pg, const char *sql)
{
    static char buf[1024];
    PGresult *res = PQexec(pg, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        snprintf(buf, sizeof buf, "%s", PQerrorMessage(pg));
        PQclear(res);
        fail_msg("%s: %s", sql, buf);
    }
    snprintf(buf, sizeof buf, "%s", PQgetisnull(res, 0, 0) ? "<NULL>" : PQgetvalue(res, 0, 0));
    PQclear(res);
    return buf;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = calloc(1, 65536);
    size_t n = fread(buf, 1, 65535, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static void test_embedded_migrations_are_the_files_in_version_order(void **state)
{
    (void)state;
    assert_int_equal(db_test_migrations_count, 2);
    assert_int_equal(db_test_migrations[0].version, 1);
    assert_string_equal(db_test_migrations[0].name, "001_create.sql");
    assert_int_equal(db_test_migrations[1].version, 2);
    assert_string_equal(db_test_migrations[1].name, "002_more.sql");
    for (size_t i = 0; i < db_test_migrations_count; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", DB_TEST_SCHEMA_DIR, db_test_migrations[i].name);
        char *file = slurp(path);
        assert_string_equal(db_test_migrations[i].sql, file);
        free(file);
    }
}

static void test_migrations_apply_in_order_and_are_recorded(void **state)
{
    (void)state;
    char *ci = th_pg_fresh_db("mig_apply");
    char err[512] = "untouched";
    assert_code(CF_OK, db_migrate(ci, "app", db_test_migrations, db_test_migrations_count, err,
                                  sizeof err));
    assert_string_equal(err, "");
    PGconn *pg = th_pg_connect(ci);
    assert_string_equal(value(pg, "SELECT string_agg(version || ':' || name, ',' ORDER BY version)"
                                  " FROM app.schema_migrations"),
                        "1:001_create.sql,2:002_more.sql");
    /* unqualified names in the files landed in the service's schema, not in public */
    assert_string_equal(value(pg, "SELECT to_regclass('app.items') IS NOT NULL"
                                  " AND to_regclass('public.items') IS NULL"),
                        "t");
    /* the embedded bytes reached the server intact: quotes, backslash, ??=, tab, UTF-8 */
    assert_string_equal(value(pg, "SELECT body FROM app.notes"),
                        "quote' dq\" backslash\\ ?\?= tab\t é ✓ */ /*");
    PQfinish(pg);
    th_pg_drop_db(ci);
    free(ci);
}

static void test_rerun_applies_nothing(void **state)
{
    (void)state;
    char *ci = th_pg_fresh_db("mig_rerun");
    assert_code(CF_OK,
                db_migrate(ci, "app", db_test_migrations, db_test_migrations_count, NULL, 0));
    PGconn *pg = th_pg_connect(ci);
    char before[128];
    snprintf(before, sizeof before, "%s",
             value(pg, "SELECT max(applied_at)::text FROM app.schema_migrations"));
    assert_code(CF_OK,
                db_migrate(ci, "app", db_test_migrations, db_test_migrations_count, NULL, 0));
    /* 002 inserts a row: running it again would make two */
    assert_string_equal(value(pg, "SELECT count(*) FROM app.notes"), "1");
    assert_string_equal(value(pg, "SELECT count(*) FROM app.schema_migrations"), "2");
    assert_string_equal(value(pg, "SELECT max(applied_at)::text FROM app.schema_migrations"),
                        before);
    PQfinish(pg);
    th_pg_drop_db(ci);
    free(ci);
}

static void test_failing_migration_rolls_back_the_run_and_names_the_file(void **state)
{
    (void)state;
    static const db_migration first[] = {{1, "001_a.sql", "CREATE TABLE a (id int);"}};
    static const db_migration all[] = {
        {1, "001_a.sql", "CREATE TABLE a (id int);"},
        {2, "002_b.sql", "CREATE TABLE b (id int); INSERT INTO a VALUES (1);"},
        {3, "003_broken.sql", "CREATE TABLE c (id int); SELEC 1;"},
    };
    char *ci = th_pg_fresh_db("mig_fail");
    char err[512];
    assert_code(CF_OK, db_migrate(ci, "svc", first, 1, err, sizeof err));
    assert_code(CF_INTERNAL, db_migrate(ci, "svc", all, 3, err, sizeof err));
    assert_non_null(strstr(err, "003_broken.sql"));
    assert_non_null(strstr(err, "42601"));
    PGconn *pg = th_pg_connect(ci);
    /* 002 succeeded inside the failed run, yet nothing of it remains */
    assert_string_equal(value(pg, "SELECT to_regclass('svc.b') IS NULL AND to_regclass('svc.c')"
                                  " IS NULL AND (SELECT count(*) FROM svc.a) = 0"),
                        "t");
    assert_string_equal(value(pg, "SELECT string_agg(name, ',') FROM svc.schema_migrations"),
                        "001_a.sql");
    PQfinish(pg);

    /* the first run of a brand-new schema fails as a whole, schema included */
    char *ci2 = th_pg_fresh_db("mig_fail_new");
    assert_code(CF_INTERNAL, db_migrate(ci2, "svc", all, 3, err, sizeof err));
    pg = th_pg_connect(ci2);
    assert_string_equal(value(pg, "SELECT to_regnamespace('svc') IS NULL"), "t");
    PQfinish(pg);
    th_pg_drop_db(ci2);
    th_pg_drop_db(ci);
    free(ci2);
    free(ci);
}

typedef struct racer {
    const char *conninfo;
    cf_code code;
    char err[256];
} racer;

/* The first migration holds its transaction open a while, so the second migrator arrives
 * while the first is still applying. */
static const db_migration slow[] = {
    {1, "001_slow.sql", "CREATE TABLE t (x int); SELECT pg_sleep(0.5);"},
    {2, "002_row.sql", "INSERT INTO t VALUES (1);"},
};

static void *race(void *arg)
{
    racer *r = arg;
    r->code = db_migrate(r->conninfo, "race", slow, 2, r->err, sizeof r->err);
    return NULL;
}

static void test_concurrent_migrators_apply_once_and_both_succeed(void **state)
{
    (void)state;
    char *ci = th_pg_fresh_db("mig_race");
    racer r[2] = {{.conninfo = ci}, {.conninfo = ci}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, race, &r[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 2; i++)
        if (r[i].code != CF_OK)
            fail_msg("migrator %d: %s: %s", i, cf_code_name(r[i].code), r[i].err);
    PGconn *pg = th_pg_connect(ci);
    assert_string_equal(value(pg, "SELECT count(*) FROM race.t"), "1");
    assert_string_equal(value(pg, "SELECT count(*) FROM race.schema_migrations"), "2");
    PQfinish(pg);
    th_pg_drop_db(ci);
    free(ci);
}

static void test_schema_name_is_an_identifier_not_sql(void **state)
{
    (void)state;
    static const db_migration m[] = {{1, "001_t.sql", "CREATE TABLE t (x int);"}};
    char *ci = th_pg_fresh_db("mig_ident");
    const char *schema = "Odd \"name\"; DROP SCHEMA public; --";
    assert_code(CF_OK, db_migrate(ci, schema, m, 1, NULL, 0));
    PGconn *pg = th_pg_connect(ci);
    assert_string_equal(value(pg, "SELECT count(*) FROM pg_namespace WHERE nspname IN"
                                  " ('public', 'Odd \"name\"; DROP SCHEMA public; --')"),
                        "2");
    assert_string_equal(
        value(pg, "SELECT count(*) FROM \"Odd \"\"name\"\"; DROP SCHEMA public; --\".t"), "0");
    PQfinish(pg);
    th_pg_drop_db(ci);
    free(ci);
}

/* Issue 15, least privilege: db_ensure_owner makes the service's role (from its DSN's user and
 * password) the owner of its schema only; the migrations then create the tables as that role;
 * the role cannot read another service's schema; rerunning changes the password and keeps
 * everything else. */
static void test_each_service_role_owns_only_its_schema(void **state)
{
    (void)state;
    static const db_migration m[] = {{1, "001_t.sql", "CREATE TABLE t (x int);"}};
    char *admin = th_pg_fresh_db("mig_owner");
    char role[64], svc[1024], err[512];
    snprintf(role, sizeof role, "confetti_test_%ld", (long)getpid());
    snprintf(svc, sizeof svc, "%s user=%s password=first-secret", admin, role);
    /* another service's schema and table, owned by the administrator */
    PGconn *pg = th_pg_connect(admin);
    PQclear(PQexec(pg, "CREATE SCHEMA other; CREATE TABLE other.secret (x int)"));

    assert_code(CF_OK, db_ensure_owner(admin, svc, "mine", err, sizeof err));
    assert_code(CF_OK, db_migrate(svc, "mine", m, 1, err, sizeof err));
    char q[512];
    snprintf(q, sizeof q,
             "SELECT nspowner::regrole::text = '%s' FROM pg_namespace WHERE nspname = 'mine'",
             role);
    assert_string_equal(value(pg, q), "t");
    snprintf(q, sizeof q,
             "SELECT count(*) = 2 AND bool_and(tableowner = '%s') FROM pg_tables"
             " WHERE schemaname = 'mine'",
             role);
    assert_string_equal(value(pg, q), "t"); /* t and schema_migrations */
    snprintf(q, sizeof q,
             "SELECT rolcanlogin AND NOT rolsuper AND NOT rolcreaterole AND NOT rolcreatedb"
             " AND rolpassword LIKE 'SCRAM-SHA-256$%%' FROM pg_authid WHERE rolname = '%s'",
             role);
    assert_string_equal(value(pg, q), "t");
    char *first = strdup(value(pg, "SELECT rolpassword FROM pg_authid WHERE rolname ~ "
                                   "'^confetti_test_' ORDER BY oid DESC LIMIT 1"));

    /* as the role: its own table yes, the other schema no (42501 insufficient_privilege) */
    PGconn *as = th_pg_connect(svc);
    PGresult *r = PQexec(as, "SELECT count(*) FROM mine.t");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    PQclear(r);
    r = PQexec(as, "SELECT count(*) FROM other.secret");
    assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
    assert_string_equal(PQresultErrorField(r, PG_DIAG_SQLSTATE), "42501");
    PQclear(r);
    r = PQexec(as, "CREATE TABLE public.intruder (x int)");
    assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
    PQclear(r);
    PQfinish(as);

    /* rerun with a new password (rotation): same owner, new verifier, migrations a no-op */
    snprintf(svc, sizeof svc, "%s user=%s password=second-secret", admin, role);
    assert_code(CF_OK, db_ensure_owner(admin, svc, "mine", err, sizeof err));
    assert_code(CF_OK, db_migrate(svc, "mine", m, 1, err, sizeof err));
    snprintf(q, sizeof q, "SELECT rolpassword <> '%s' FROM pg_authid WHERE rolname = '%s'", first,
             role);
    assert_string_equal(value(pg, q), "t");
    free(first);

    /* a DSN without user= is refused, naming why */
    assert_code(CF_INVALID_ARGUMENT, db_ensure_owner(admin, "dbname=x", "mine", err, sizeof err));
    assert_non_null(strstr(err, "no user"));

    PQfinish(pg);
    th_pg_drop_db(admin);
    free(admin);
    /* the cluster outlives the database: drop the role too */
    char drop[128];
    snprintf(drop, sizeof drop, "DROP ROLE IF EXISTS %s", role);
    char *postgres = th_pg_fresh_db("mig_owner_drop");
    pg = th_pg_connect(postgres);
    PQclear(PQexec(pg, drop));
    PQfinish(pg);
    th_pg_drop_db(postgres);
    free(postgres);
}

static void test_unreachable_server_is_unavailable(void **state)
{
    (void)state;
    char err[256];
    assert_code(CF_UNAVAILABLE,
                db_migrate("host=127.0.0.1 port=1 dbname=x connect_timeout=2", "app",
                           db_test_migrations, db_test_migrations_count, err, sizeof err));
    assert_non_null(strstr(err, "cannot connect"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_embedded_migrations_are_the_files_in_version_order),
        cmocka_unit_test(test_migrations_apply_in_order_and_are_recorded),
        cmocka_unit_test(test_rerun_applies_nothing),
        cmocka_unit_test(test_failing_migration_rolls_back_the_run_and_names_the_file),
        cmocka_unit_test(test_concurrent_migrators_apply_once_and_both_succeed),
        cmocka_unit_test(test_schema_name_is_an_identifier_not_sql),
        cmocka_unit_test(test_each_service_role_owns_only_its_schema),
        cmocka_unit_test(test_unreachable_server_is_unavailable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
