/* pg.h — private PostgreSQL databases for tests declared with confetti_test(... PG): each
 * test makes brand-new databases in the fixture's cluster (tests/harness/pg.sh). */
#ifndef CONFETTI_TESTS_PG_H
#define CONFETTI_TESTS_PG_H

#include <libpq-fe.h>
#include <stdbool.h>

/* Creates a new, empty database named <prefix>_<pid>_<counter> in the cluster whose conninfo
 * is in the file named by CONFETTI_TEST_PG, and returns its conninfo (free() it). prefix is
 * lowercased and reduced to [a-z0-9_]. Fails the current cmocka test with a clear message if
 * CONFETTI_TEST_PG is unset or the cluster is unreachable. Thread-safe. Blocks. */
char *th_pg_fresh_db(const char *prefix);

/* The database `name` on the test cluster, made if it does not exist (*created tells which):
 * for benches that keep a large seed between runs. The caller frees the conninfo. */
char *th_pg_kept_db(const char *name, bool *created);

/* Drops the database a th_pg_fresh_db conninfo names, disconnecting whoever still uses it.
 * Fails the current test if the cluster is unreachable. */
void th_pg_drop_db(const char *conninfo);

/* Connects to conninfo (caller PQfinish'es), failing the current test if it cannot. */
PGconn *th_pg_connect(const char *conninfo);

#endif
