/* svc.h — the runtime every Confetti service process runs: services/<svc>/main.c is one call
 * to svc_main() with the service's definition.
 *
 * svc_main: parse flags → load YAML config (common tables + the service's own) → logging →
 * migrations (the service's embedded schema/NNN_*.sql, under an advisory lock) → key set and
 * token verifier → metrics and admin HTTP port (/healthz, /readyz, /metrics) → RPC server with
 * one database connection per worker → wait for SIGTERM/SIGINT → drain (readyz red, finish calls
 * in flight) → exit 0.
 *
 * Flags: --config FILE (or env CONFETTI_CONFIG), --migrate-only (apply migrations and exit: a
 * Kubernetes Job), --maintenance (run every maintenance job once and exit: a CronJob),
 * --check-config (print the effective config, secrets redacted, and exit),
 * the service's own task flag if it has one (svc_def.task_flag), --help. */
#ifndef CONFETTI_SVC_SVC_H
#define CONFETTI_SVC_SVC_H

#include <stdbool.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

#include "base/status.h"
#include "cfg/cfg.h"
#include "db/db.h"
#include "db/migrate.h"
#include "authn/authn.h"
#include "admin/metrics.h"
#include "rpc/scope.h"
#include "maint.h"

/* Keys every process has (deploy/config/<svc>.yaml; env CONFETTI_<SECTION>_<KEY>). */
typedef struct svc_common_config {
    cfg_strlist rpc_listen;     /* rpc.listen: nng URLs */
    int64_t rpc_workers;        /* rpc.workers */
    int64_t rpc_max_message;    /* rpc.max_message */
    int64_t rpc_resolve_ms;     /* rpc.resolve_interval (ms): peers' names resolved again */
    char *rpc_hosts_file;       /* rpc.hosts_file: test/dev name overrides (rpc/resolve.h) */
    char *admin_listen;         /* admin.listen: http://host:port */
    char *db_dsn;               /* db.dsn (secret: db.dsn_file) */
    char *db_admin_dsn;         /* db.admin_dsn (secret: db.admin_dsn_file): migration Jobs */
    int64_t db_connect_timeout; /* db.connect_timeout (ms) … the db_limits of every connection */
    int64_t db_statement_timeout;   /* db.statement_timeout (ms) */
    int64_t db_keepalives_idle;     /* db.keepalives_idle (ms, whole seconds used) */
    int64_t db_keepalives_interval; /* db.keepalives_interval (ms, whole seconds used) */
    int64_t db_keepalives_count;    /* db.keepalives_count */
    int64_t db_tcp_user_timeout;    /* db.tcp_user_timeout (ms) */
    int64_t db_client_check;        /* db.client_check_interval (ms) */
    int64_t db_start_wait;          /* db.start_wait (ms): start steps retried (startwait.h) */
    char *log_level;                /* log.level */
    char *auth_jwks_file;           /* auth.jwks_file: public keys that verify access tokens */
    cfg_strlist auth_jwks_urls;     /* auth.jwks_urls: confetti-auth endpoints serving GetJwks */
    int64_t auth_jwks_refetch;      /* auth.jwks_refetch (ms): least time between miss refetches */
    char *auth_issuer;              /* auth.issuer */
    char *auth_audience;            /* auth.audience */
    int64_t auth_leeway;            /* auth.leeway (ms; whole seconds used) */
    char *auth_events;              /* auth.events: the bus's subscriber URL for revocations */
    int64_t auth_revoked_refresh;   /* auth.revoked_refresh (ms): re-read of the revocation list */
    char *ident_name;        /* ident.name: this process's service identity ("" = svc_def.name) */
    char *ident_key_file;    /* ident.key_file: its Ed25519 private key (PEM) */
    char *ident_trust_dir;   /* ident.trust_dir: <service>.pub public keys it trusts */
    bool ident_require;      /* ident.require: every method needs a service identity */
    cfg_strlist ident_allow; /* ident.allow: "pkg.Svc/Method=svc,svc": internal methods */
    cfg_strlist ident_operators; /* ident.operators: identities that may call every method */
    int64_t ident_token_ttl;     /* ident.token_ttl (ms): lifetime of this process's tokens */
} svc_common_config;

/* The config table of svc_common_config (the keys above; the fuzz target of the loader uses
 * it). */
extern const cfg_field svc_common_fields[];
extern const size_t svc_common_nfields;

typedef struct svc_runtime svc_runtime;

typedef struct svc_def {
    const char *name;               /* "catalog": logs, metrics, default config path */
    const char *schema;             /* PostgreSQL schema it owns; NULL = no database */
    const db_migration *migrations; /* embedded schema/NNN_*.sql */
    size_t nmigrations;
    const db_stmt *stmts; /* prepared on every worker connection */
    size_t nstmts;
    const cfg_field *fields; /* the service's own config table (may be NULL) */
    size_t nfields;
    void *config;              /* its target struct */
    ProtobufCService *service; /* bound with the generated INIT macro */
    /* Optional: after config and migrations, before serving (e.g. dial other services).
     * Its result becomes the handlers' rpc_service_ctx(). */
    cf_code (*init)(svc_runtime *rt, void **ctx, char *err, size_t errlen);
    void (*fini)(svc_runtime *rt, void *ctx);
    /* Optional: readiness beyond the database (/readyz and health.v1.Health/Check), given the
     * init hook's context; a cheap flag read on an nng thread, never blocking (e.g. the
     * gateway: its backends answer). */
    bool (*ready)(void *ctx);
    /* Optional one-shot task run instead of serving when the process is started with the flag
     * task_flag (e.g. "--cleanup" for a Kubernetes CronJob): config, migrations and init run
     * first, fini after; nothing listens. Returns the process exit status. */
    const char *task_flag;
    int (*task)(svc_runtime *rt, void *ctx);
    /* The service publishes domain events (common/events): its schema has the outbox
     * (schema/NNN_outbox.sql), the process gets the `events` config section, runs the relay
     * thread and serves events.v1.Events/Replay beside `service`. */
    bool publishes;
    /* Worker threads per core when rpc.workers is 0; 0 means 2. A service whose calls mostly
     * wait (on other services, on row locks) wants more: draw waits on rooms' CheckPermission
     * and PostgreSQL for most of a draw. */
    int workers_per_core;
    /* What app tokens may call on `service` (rpc/scope.h; docs/auth.md "App scopes"), checked by
     * the dispatcher; NULL = app tokens are refused by every method. */
    const rpc_scope_table *scopes;
    /* The service's scheduled maintenance (maint.h; docs/operations.md, "Maintenance jobs"):
     * run by one thread of the serving process, and all once by `--maintenance`. A publishing
     * service also gets the job `outbox` (published rows past events.retention). */
    const svc_maint_job *maint_jobs;
    size_t nmaint_jobs;
} svc_def;

/* rpc.workers when it is 0: def->workers_per_core (2 when 0) times the CPUs this process may
 * use, i.e. the container's cgroup CPU limit rounded up (base/cpus.h). cgroup_root NULL = this
 * process's own cgroup; tests pass a directory laid out like /sys/fs/cgroup. */
int svc_default_workers(const svc_def *def, const char *cgroup_root, const char *cgroup_path);

/* What init hooks may read. Borrowed from the runtime. */
const svc_common_config *svc_config(const svc_runtime *rt);
/* The clock services must use for time-dependent rules (tests inject one). Never NULL. */
const cf_clock *svc_clock(const svc_runtime *rt);
authn_verifier *svc_verifier(const svc_runtime *rt);
/* The db.* limits of the configuration, for connections a service opens itself (background
 * threads): db_conn_set_limits(c, svc_db_limits(rt)). Borrowed. */
const db_limits *svc_db_limits(const svc_runtime *rt);

/* The process's service identity (common/rpc/ident.h): give it to every rpc_client and
 * subscriber an init hook makes. Never NULL once started. */
struct rpc_ident *svc_ident(const svc_runtime *rt);
metrics *svc_metrics(const svc_runtime *rt);

/* Runs every maintenance job of the service once (svc_maint_run_all): what `--maintenance`
 * does, for a service's own task. 0 or 1 (an exit status). Blocks. */
int svc_run_maintenance(svc_runtime *rt);

/* Starting a service without flags or signals — what svc_main does between loading the
 * configuration and waiting for a signal; tests run services in-process with it. */
typedef struct svc_options {
    const char *config_path; /* NULL = defaults + env only */
    char *const *env;        /* environ-style overrides (NULL = the process environment) */
    const cf_clock *clock;   /* NULL = the real clock; borrowed, outlives the runtime */
    bool migrate_only;       /* apply migrations, start nothing */
} svc_options;

/* Loads config, migrates, starts admin port and RPC server. On failure returns non-OK with the
 * reason in err and nothing left running. */
cf_code svc_start(const svc_def *def, const svc_options *opts, svc_runtime **out, char *err,
                  size_t errlen);
/* Drains (readyz red, calls in flight finish), stops and frees. NULL is a no-op. */
void svc_stop(svc_runtime *rt);

/* Runs the process; returns its exit status (0 after a clean drain, 1 on a start-up error
 * with the reason logged, 2 on bad flags). Never calls exit(). */
int svc_main(const svc_def *def, int argc, char **argv);

#endif
