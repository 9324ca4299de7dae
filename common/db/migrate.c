/* migrate.c — applies a service's embedded migrations in one transaction, serialized across
 * processes by an advisory lock per schema. */
#include "db/migrate.h"

#include <assert.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "base/log.h"
#include "base/xmalloc.h"
#include "db/db.h"

typedef struct migrator {
    PGconn *pg;
    const char *schema;
    char *err;
    size_t errlen;
} migrator;

static void set_err(migrator *mg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_err(migrator *mg, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    log_error("db: migrating schema %s: %s", mg->schema, buf);
    if (mg->err && mg->errlen)
        snprintf(mg->err, mg->errlen, "%s", buf);
}

/* Judges one step; on failure explains it in terms of `what`. Migrations carry no parameters,
 * so the server's message is safe to report in full. */
static cf_code step(migrator *mg, PGresult *res, const char *what, PGresult **out)
{
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        if (out)
            *out = res;
        else
            PQclear(res);
        return CF_OK;
    }
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (!msg)
        msg = PQerrorMessage(mg->pg);
    bool lost = PQstatus(mg->pg) != CONNECTION_OK;
    set_err(mg, "%s failed: SQLSTATE %s: %.*s", what, state ? state : "-", (int)strcspn(msg, "\n"),
            msg);
    PQclear(res);
    return lost ? CF_UNAVAILABLE : CF_INTERNAL;
}

static cf_code exec_params(migrator *mg, const char *sql, int n, const char *const *v,
                           const char *what, PGresult **out)
{
    return step(mg, PQexecParams(mg->pg, sql, n, NULL, v, NULL, NULL, 0), what, out);
}

/* Versions already recorded, ascending, into *out (caller frees); count in *n. */
static cf_code applied_versions(migrator *mg, const char *ident, int **out, size_t *n)
{
    char *sql = xasprintf("SELECT version FROM %s.schema_migrations ORDER BY version", ident);
    PGresult *res = NULL;
    cf_code code = step(mg, PQexec(mg->pg, sql), "reading schema_migrations", &res);
    free(sql);
    if (code != CF_OK)
        return code;
    *n = (size_t)PQntuples(res);
    *out = xcalloc(*n + 1, sizeof **out);
    for (size_t i = 0; i < *n; i++)
        (*out)[i] = atoi(PQgetvalue(res, (int)i, 0));
    PQclear(res);
    return CF_OK;
}

static cf_code apply_missing(migrator *mg, const char *ident, const db_migration *m, size_t n)
{
    int *done = NULL;
    size_t ndone = 0, j = 0, applied = 0;
    cf_code code = applied_versions(mg, ident, &done, &ndone);
    char *insert =
        xasprintf("INSERT INTO %s.schema_migrations (version, name) VALUES ($1, $2)", ident);
    for (size_t i = 0; code == CF_OK && i < n; i++) {
        while (j < ndone && done[j] < m[i].version)
            j++;
        if (j < ndone && done[j] == m[i].version)
            continue;
        char what[300];
        snprintf(what, sizeof what, "migration %s", m[i].name);
        code = step(mg, PQexec(mg->pg, m[i].sql), what, NULL);
        if (code != CF_OK)
            break;
        char ver[16];
        snprintf(ver, sizeof ver, "%d", m[i].version);
        const char *const v[] = {ver, m[i].name};
        code = exec_params(mg, insert, 2, v, what, NULL);
        applied++;
    }
    if (code == CF_OK && applied)
        log_info("db: schema %s: applied %zu migration(s), now at version %d", mg->schema, applied,
                 m[n - 1].version);
    free(insert);
    free(done);
    return code;
}

/* Everything after BEGIN; the caller commits or rolls back. The schema name is the one part
 * of this SQL that cannot be a parameter: it is quoted with PQescapeIdentifier. */
static cf_code migrate_in_tx(migrator *mg, const db_migration *m, size_t n)
{
    const char *const sv[] = {mg->schema};
    cf_code code = exec_params(
        mg,
        "SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('confetti.migrate.' || $1))",
        1, sv, "taking the migration lock", NULL);
    if (code != CF_OK)
        return code;

    char *ident = PQescapeIdentifier(mg->pg, mg->schema, strlen(mg->schema));
    if (!ident) {
        set_err(mg, "bad schema name");
        return CF_INTERNAL;
    }
    char *create_schema = xasprintf("CREATE SCHEMA IF NOT EXISTS %s", ident);
    char *create_table = xasprintf("CREATE TABLE IF NOT EXISTS %s.schema_migrations ("
                                   " version int PRIMARY KEY,"
                                   " name text NOT NULL,"
                                   " applied_at timestamptz NOT NULL DEFAULT now())",
                                   ident);
    char *path = xasprintf("%s, public", ident);
    const char *const pv[] = {path};
    /* CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even when the schema exists: a
     * service's own role (db_ensure_owner) owns its schema but may not create schemas */
    PGresult *res = NULL;
    code = exec_params(mg, "SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1", 1, sv,
                       "looking up the schema", &res);
    if (code == CF_OK) {
        bool exists = PQntuples(res) > 0;
        PQclear(res);
        if (!exists)
            code = step(mg, PQexec(mg->pg, create_schema), "creating the schema", NULL);
    }
    if (code == CF_OK)
        code = step(mg, PQexec(mg->pg, create_table), "creating schema_migrations", NULL);
    if (code == CF_OK)
        code = exec_params(mg, "SELECT pg_catalog.set_config('search_path', $1, true)", 1, pv,
                           "setting search_path", NULL);
    if (code == CF_OK)
        code = apply_missing(mg, ident, m, n);
    free(path);
    free(create_table);
    free(create_schema);
    PQfreemem(ident);
    return code;
}

static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

cf_code db_migrate(const char *conninfo, const char *schema, const db_migration *m, size_t n,
                   char *err, size_t errlen)
{
    assert(conninfo && schema && *schema && (m || n == 0));
    for (size_t i = 0; i < n; i++) {
        assert(m[i].name && m[i].sql && m[i].version > 0);
        assert((i == 0 || m[i].version > m[i - 1].version) && "versions must increase");
    }
    if (err && errlen)
        err[0] = '\0';
    migrator mg = {.schema = schema, .err = err, .errlen = errlen};
    const char *const keys[] = {"connect_timeout", "fallback_application_name", "dbname", NULL};
    const char *const vals[] = {"10", "confetti-migrate", conninfo, NULL};
    mg.pg = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(mg.pg) != CONNECTION_OK) {
        const char *msg = PQerrorMessage(mg.pg);
        set_err(&mg, "cannot connect: %.*s", (int)strcspn(msg, "\n"), msg);
        PQfinish(mg.pg);
        return CF_UNAVAILABLE;
    }
    /* Notices ("schema … already exists, skipping") would go to stderr unstructured. */
    PQsetNoticeProcessor(mg.pg, ignore_notice, NULL);
    cf_code code = step(&mg, PQexec(mg.pg, "BEGIN"), "BEGIN", NULL);
    if (code == CF_OK) {
        code = migrate_in_tx(&mg, m, n);
        code = code == CF_OK ? step(&mg, PQexec(mg.pg, "COMMIT"), "COMMIT", NULL) : code;
        if (code != CF_OK && PQstatus(mg.pg) == CONNECTION_OK)
            PQclear(PQexec(mg.pg, "ROLLBACK"));
    }
    PQfinish(mg.pg);
    return code;
}

/* The role named by the service's DSN (user=, password=), created or updated over the
 * administrator's connection, owning `schema` (issue 15: one role per service, owning only its
 * schema). The password travels as a SCRAM verifier (PQencryptPasswordConn), never in clear
 * text in a statement the server might log. */
cf_code db_ensure_owner(const char *admin_conninfo, const char *service_conninfo,
                        const char *schema, char *err, size_t errlen)
{
    assert(admin_conninfo && service_conninfo && schema && *schema);
    if (err && errlen)
        err[0] = '\0';
    migrator mg = {.schema = schema, .err = err, .errlen = errlen};
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(service_conninfo, &perr);
    if (!opts) {
        set_err(&mg, "db.dsn: %s", perr ? perr : "cannot parse");
        PQfreemem(perr);
        return CF_INVALID_ARGUMENT;
    }
    const char *user = NULL, *password = NULL;
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (strcmp(o->keyword, "user") == 0 && o->val && *o->val)
            user = o->val;
        else if (strcmp(o->keyword, "password") == 0 && o->val && *o->val)
            password = o->val;
    }
    if (!user) {
        set_err(&mg, "db.dsn names no user: the service's own role must be explicit");
        PQconninfoFree(opts);
        return CF_INVALID_ARGUMENT;
    }
    const char *const keys[] = {"connect_timeout", "fallback_application_name", "dbname", NULL};
    const char *const vals[] = {"10", "confetti-migrate", admin_conninfo, NULL};
    mg.pg = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(mg.pg) != CONNECTION_OK) {
        const char *msg = PQerrorMessage(mg.pg);
        set_err(&mg, "db.admin_dsn: cannot connect: %.*s", (int)strcspn(msg, "\n"), msg);
        PQfinish(mg.pg);
        PQconninfoFree(opts);
        return CF_UNAVAILABLE;
    }
    PQsetNoticeProcessor(mg.pg, ignore_notice, NULL);
    char *role = PQescapeIdentifier(mg.pg, user, strlen(user));
    char *sch = PQescapeIdentifier(mg.pg, schema, strlen(schema));
    char *verifier = password ? PQencryptPasswordConn(mg.pg, password, user, NULL) : NULL;
    char *lit = verifier ? PQescapeLiteral(mg.pg, verifier, strlen(verifier)) : NULL;
    cf_code code = CF_INTERNAL;
    const char *const uv[] = {user};
    PGresult *res = NULL;
    if (!role || !sch || (password && !lit)) {
        set_err(&mg, "cannot quote the role, schema or password");
        goto out;
    }
    code = step(&mg, PQexec(mg.pg, "BEGIN"), "BEGIN", NULL);
    /* two migration Jobs of one service may race on CREATE ROLE: serialize on the role */
    if (code == CF_OK)
        code = exec_params(&mg, "SELECT pg_advisory_xact_lock(hashtext('confetti-role:' || $1))", 1,
                           uv, "locking the role", NULL);
    if (code == CF_OK)
        code = exec_params(&mg, "SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1", 1, uv,
                           "looking up the role", &res);
    if (code == CF_OK) {
        bool exists = PQntuples(res) > 0;
        PQclear(res);
        char *sql =
            xasprintf("%s ROLE %s LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE%s%s",
                      exists ? "ALTER" : "CREATE", role, lit ? " PASSWORD " : "", lit ? lit : "");
        code = step(&mg, PQexec(mg.pg, sql), exists ? "ALTER ROLE" : "CREATE ROLE", NULL);
        free(sql);
    }
    /* a non-superuser administrator (CREATEROLE) must be a member to hand the schema over */
    if (code == CF_OK)
        code = step(&mg,
                    PQexec(mg.pg, "SELECT rolsuper FROM pg_catalog.pg_roles "
                                  "WHERE rolname = current_user"),
                    "checking the administrator", &res);
    if (code == CF_OK) {
        bool super = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
        PQclear(res);
        if (!super) {
            char *sql = xasprintf("GRANT %s TO CURRENT_USER", role);
            code = step(&mg, PQexec(mg.pg, sql), "GRANT the role to the administrator", NULL);
            free(sql);
        }
    }
    if (code == CF_OK) {
        char *sql = xasprintf("CREATE SCHEMA IF NOT EXISTS %s AUTHORIZATION %s", sch, role);
        code = step(&mg, PQexec(mg.pg, sql), "CREATE SCHEMA", NULL);
        free(sql);
    }
    if (code == CF_OK) {
        char *sql = xasprintf("ALTER SCHEMA %s OWNER TO %s", sch, role);
        code = step(&mg, PQexec(mg.pg, sql), "ALTER SCHEMA OWNER", NULL);
        free(sql);
    }
    if (code == CF_OK) {
        char *sql = xasprintf("REVOKE ALL ON SCHEMA %s FROM PUBLIC", sch);
        code = step(&mg, PQexec(mg.pg, sql), "REVOKE", NULL);
        free(sql);
    }
    code = code == CF_OK ? step(&mg, PQexec(mg.pg, "COMMIT"), "COMMIT", NULL) : code;
    if (code != CF_OK && PQstatus(mg.pg) == CONNECTION_OK)
        PQclear(PQexec(mg.pg, "ROLLBACK"));
    if (code == CF_OK)
        log_info("db: role %s owns schema %s", user, schema);
out:
    PQfreemem(role);
    PQfreemem(sch);
    PQfreemem(lit);
    PQfreemem(verifier);
    PQfinish(mg.pg);
    PQconninfoFree(opts);
    return code;
}
