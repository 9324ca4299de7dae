/* migrate.h — schema migrations: each service embeds its schema/NNN_*.sql files (see
 * cmake/Migrations.cmake) and applies the missing ones at start-up, in one transaction. */
#ifndef CONFETTI_DB_MIGRATE_H
#define CONFETTI_DB_MIGRATE_H

#include <stddef.h>

#include "base/status.h"

/* One migration: version = the file's NNN, name = its file name, sql = its contents. The SQL
 * runs inside the migration transaction: no BEGIN/COMMIT, no CREATE INDEX CONCURRENTLY. */
typedef struct db_migration {
    int version;
    const char *name;
    const char *sql;
} db_migration;

/* Declares the arrays confetti_embed_migrations(... SYMBOL name) generates. */
#define DB_MIGRATIONS_DECLARE(sym)                                                                 \
    extern const db_migration sym[];                                                               \
    extern const size_t sym##_count

/* Brings `schema` up to date on its own connection: in one transaction, under an advisory lock
 * per schema, creates the schema and <schema>.schema_migrations if missing, then applies, in
 * order and with search_path = schema, public, every migration whose version is not recorded,
 * and records it. Concurrent callers serialize on the lock: one applies, the others then find
 * nothing to do. On any failure nothing of this run is kept; err (may be NULL) receives a
 * message naming the migration file and the SQLSTATE. Returns CF_UNAVAILABLE if the server
 * cannot be reached, CF_INTERNAL for a failing migration. Versions in m must be strictly
 * increasing and positive (asserted: it is a build error). Blocks, possibly waiting on
 * another migrator. */
cf_code db_migrate(const char *conninfo, const char *schema, const db_migration *m, size_t n,
                   char *err, size_t errlen);

/* Least privilege (one PostgreSQL role per service): over the administrator's connection
 * (admin_conninfo: a role that may CREATE ROLE, or a superuser), creates the role named by
 * service_conninfo's user= if missing, else updates it, setting its password= (as a SCRAM
 * verifier) when the DSN has one, with LOGIN and no other attribute; creates `schema` owned
 * by it (an existing schema is handed to it) and revokes PUBLIC's rights on the schema. The
 * role gets nothing on other schemas. Then db_migrate(service_conninfo, ...) creates the
 * tables as that role. One transaction, serialized per role. CF_INVALID_ARGUMENT when the
 * service DSN names no user or does not parse, CF_UNAVAILABLE when the server cannot be
 * reached, CF_INTERNAL for a refused statement (err says which). Blocks. */
cf_code db_ensure_owner(const char *admin_conninfo, const char *service_conninfo,
                        const char *schema, char *err, size_t errlen);

#endif
