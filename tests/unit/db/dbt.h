/* dbt.h — setup shared by the db tests: a fresh database holding the test schema
 * (tests/unit/db/schema) in schema "app", and one-value queries for assertions. */
#ifndef CONFETTI_TESTS_UNIT_DB_DBT_H
#define CONFETTI_TESTS_UNIT_DB_DBT_H

#include <libpq-fe.h>

#include "db/migrate.h"

DB_MIGRATIONS_DECLARE(db_test_migrations);

/* A fresh database with the test migrations applied to schema "app"; its conninfo (free it). */
char *dbt_fresh_app_db(const char *prefix);

/* Runs sql (no parameters, one row, one column) on pg; returns the value as text in a static
 * buffer ("<NULL>" for NULL). Fails the test on any error. */
const char *dbt_value(PGconn *pg, const char *sql);

/* Same with one text parameter. */
const char *dbt_value1(PGconn *pg, const char *sql, const char *param);

#endif
