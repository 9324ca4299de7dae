/* dbt.c — setup shared by the db tests (see dbt.h). */
#include "dbt.h"

#include <stdio.h>

#include "pg.h"
#include "th.h"

char *dbt_fresh_app_db(const char *prefix)
{
    char *conninfo = th_pg_fresh_db(prefix);
    char err[512];
    cf_code code =
        db_migrate(conninfo, "app", db_test_migrations, db_test_migrations_count, err, sizeof err);
    if (code != CF_OK)
        fail_msg("migrating the test schema: %s", err);
    return conninfo;
}

const char *dbt_value1(PGconn *pg, const char *sql, const char *param)
{
    static char buf[1024];
    const char *const v[] = {param};
    PGresult *res = PQexecParams(pg, sql, param ? 1 : 0, NULL, param ? v : NULL, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        snprintf(buf, sizeof buf, "%s", PQerrorMessage(pg));
        PQclear(res);
        fail_msg("%s: %s", sql, buf);
    }
    snprintf(buf, sizeof buf, "%s", PQgetisnull(res, 0, 0) ? "<NULL>" : PQgetvalue(res, 0, 0));
    PQclear(res);
    return buf;
}

const char *dbt_value(PGconn *pg, const char *sql)
{
    return dbt_value1(pg, sql, NULL);
}
