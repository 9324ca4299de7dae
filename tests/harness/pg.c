/* pg.c — fresh databases in the private test cluster, one per test (or per case). */
#include "pg.h"

#include <ctype.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/xmalloc.h"
#include "th.h"

/* The cluster's admin conninfo, read from $CONFETTI_TEST_PG; caller frees. */
static char *admin_conninfo(void)
{
    const char *file = getenv("CONFETTI_TEST_PG");
    if (!file || !*file)
        fail_msg("CONFETTI_TEST_PG is not set: declare the test with confetti_test(... PG) so "
                 "ctest starts the private PostgreSQL cluster (fixture pg_start)");
    FILE *f = fopen(file, "r");
    if (!f)
        fail_msg("cannot read %s (CONFETTI_TEST_PG): is the pg_start fixture running?", file);
    char line[4096];
    char *ok = fgets(line, sizeof line, f);
    fclose(f);
    if (!ok)
        fail_msg("%s (CONFETTI_TEST_PG) is empty", file);
    line[strcspn(line, "\r\n")] = '\0';
    return xstrdup(line);
}

PGconn *th_pg_connect(const char *conninfo)
{
    PGconn *pg = PQconnectdb(conninfo);
    if (PQstatus(pg) != CONNECTION_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", PQerrorMessage(pg));
        PQfinish(pg);
        fail_msg("cannot connect to the test cluster (%s): %s", conninfo, msg);
    }
    return pg;
}

/* Runs a command on the admin connection; returns the SQLSTATE on failure, NULL on success. */
static const char *admin_exec(PGconn *pg, const char *sql, char state[6])
{
    PGresult *res = PQexec(pg, sql);
    const char *ret = NULL;
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        const char *s = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        snprintf(state, 6, "%s", s ? s : "XX000");
        ret = state;
        fprintf(stderr, "th_pg: %s: %s", sql, PQerrorMessage(pg));
    }
    PQclear(res);
    return ret;
}

/* Runs `before <name> after` with the database name quoted as an identifier; returns the
 * SQLSTATE on failure, NULL on success. */
static const char *admin_db(PGconn *pg, const char *before, const char *name, const char *after,
                            char state[6])
{
    char *ident = PQescapeIdentifier(pg, name, strlen(name));
    char *sql = xasprintf("%s %s%s", before, ident, after);
    PQfreemem(ident);
    const char *err = admin_exec(pg, sql, state);
    free(sql);
    return err;
}

char *th_pg_fresh_db(const char *prefix)
{
    static atomic_uint counter; /* unique names within this process */
    char *admin = admin_conninfo();
    PGconn *pg = th_pg_connect(admin);
    char base[32];
    size_t n = 0;
    for (const char *p = prefix ? prefix : "t"; *p && n < sizeof base - 1; p++)
        if (isalnum((unsigned char)*p) || *p == '_')
            base[n++] = (char)tolower((unsigned char)*p);
    base[n] = '\0';

    char name[64], state[6];
    for (int tries = 0;; tries++) {
        snprintf(name, sizeof name, "%s_%d_%u", n ? base : "t", (int)getpid(),
                 atomic_fetch_add(&counter, 1));
        const char *err = admin_db(pg, "CREATE DATABASE", name, "", state);
        if (!err)
            break;
        /* 42P04: left over from an earlier run whose pid we now have */
        if (strcmp(err, "42P04") != 0 || tries > 100) {
            PQfinish(pg);
            free(admin);
            fail_msg("CREATE DATABASE %s failed, SQLSTATE %s", name, state);
        }
    }
    PQfinish(pg);
    char *conninfo = xasprintf("%s dbname=%s", admin, name);
    free(admin);
    return conninfo;
}

char *th_pg_kept_db(const char *name, bool *created)
{
    char *admin = admin_conninfo();
    PGconn *pg = th_pg_connect(admin);
    char state[6];
    const char *err = admin_db(pg, "CREATE DATABASE", name, "", state);
    PQfinish(pg);
    if (err && strcmp(err, "42P04") != 0) /* 42P04: it exists, kept from an earlier run */
        fail_msg("CREATE DATABASE %s failed, SQLSTATE %s", name, state);
    *created = !err;
    char *conninfo = xasprintf("%s dbname=%s", admin, name);
    free(admin);
    return conninfo;
}

void th_pg_drop_db(const char *conninfo)
{
    PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
    if (!opts)
        fail_msg("th_pg_drop_db: not a conninfo");
    char *name = NULL;
    for (PQconninfoOption *o = opts; o->keyword; o++)
        if (strcmp(o->keyword, "dbname") == 0 && o->val)
            name = xstrdup(o->val);
    PQconninfoFree(opts);
    if (!name || strcmp(name, "postgres") == 0)
        fail_msg("th_pg_drop_db: conninfo names no test database");

    char *admin = admin_conninfo();
    PGconn *pg = th_pg_connect(admin);
    free(admin);
    char state[6];
    const char *err = admin_db(pg, "DROP DATABASE IF EXISTS", name, " WITH (FORCE)", state);
    PQfinish(pg);
    if (err)
        fail_msg("DROP DATABASE %s failed, SQLSTATE %s", name, state);
    free(name);
}
