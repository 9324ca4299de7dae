/* svc.c — process lifecycle of a service (see svc.h). */
#include "svc.h"
#include "base/cpus.h"
#include "base/log.h"
#include "base/xmalloc.h"
#include "admin/admin.h"
#include "rpc/resolve.h"
#include "rpc/server.h"
#include "rpc/ident.h"
#include "keys.h"
#include "events/relay.h"
#include "events/replay.h"
#include "revocations.h"
#include "startwait.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

static const char *const log_levels[] = {"debug", "info", "warn", "error", NULL};

#define F(sec, key, type, field, def, min, max, help)                                              \
    {                                                                                              \
        sec, key, type, offsetof(svc_common_config, field), def, min, max, false, NULL, help       \
    }
/* rpc.workers 0: the service's workers per core times the cores this process may use: the
 * container's cgroup CPU limit, not the node's cores (cpus.h). */
int svc_default_workers(const svc_def *def, const char *cgroup_root, const char *cgroup_path)
{
    int per = def->workers_per_core > 0 ? def->workers_per_core : 2;
    return per * cf_usable_cpus(cgroup_root, cgroup_path);
}

/* The internal methods (not routed by the gateway) and who calls them: docs/operations.md,
 * "What each service may call". Replay and ListRevokedTokens: every token verifier, since
 * revocations reach each of them (SPEC §3). */
#define IDENT_DEFAULT_ALLOW                                                                        \
    "events.v1.Events/Replay=gateway rooms catalog draw auth,"                                     \
    "auth.v1.Auth/ListRevokedTokens=gateway rooms catalog draw,"                                   \
    "catalog.v1.Catalog/VerifyAppCredentials=auth,"                                                \
    "rooms.v1.Rooms/CheckPermission=draw,"                                                         \
    "rooms.v1.Rooms/ListEligibleParticipants=draw,"                                                \
    "rooms.v1.Rooms/AppInUse=catalog"

const cfg_field svc_common_fields[] = {
    F("rpc", "listen", CFG_STRLIST, rpc_listen, "tcp://127.0.0.1:7100", 0, 0,
      "nng URLs the RPC server listens on"),
    F("rpc", "workers", CFG_INT, rpc_workers, "0", 0, 1024,
      "worker threads, each with its own db connection (0 = the service's default: 2 x cores, "
      "draw 16 x cores)"),
    F("rpc", "max_message", CFG_SIZE, rpc_max_message, "4MiB", 1024, 64 << 20,
      "largest request or response payload"),
    F("rpc", "resolve_interval", CFG_DURATION, rpc_resolve_ms, "5s", 100, 3600000,
      "how often every peer's name (a headless Service) is resolved again to dial its new "
      "replicas and drop gone ones; also soon after a connection to a peer ends"),
    F("rpc", "hosts_file", CFG_STR, rpc_hosts_file, "", 0, 0,
      "test/development only: hosts(5)-format file consulted before DNS for peers' names"),
    F("admin", "listen", CFG_STR, admin_listen, "http://127.0.0.1:9100", 0, 0,
      "admin HTTP: /healthz /readyz /metrics"),
    F("db", "dsn", CFG_SECRET, db_dsn, "", 0, 0, "libpq connection string (or db.dsn_file)"),
    F("db", "admin_dsn", CFG_SECRET, db_admin_dsn, "", 0, 0,
      "administrator DSN: before migrating, create db.dsn's role owning the service's schema "
      "(or db.admin_dsn_file; migration Jobs only)"),
    F("db", "connect_timeout", CFG_DURATION, db_connect_timeout, "5s", 100, 300000,
      "longest wait to connect and set a session up (also bounded by the call's deadline)"),
    F("db", "statement_timeout", CFG_DURATION, db_statement_timeout, "30s", 100, 3600000,
      "server statement_timeout, and longest wait for a result when a call has no deadline"),
    F("db", "keepalives_idle", CFG_DURATION, db_keepalives_idle, "30s", 1000, 3600000,
      "TCP keepalive: idle time before the first probe"),
    F("db", "keepalives_interval", CFG_DURATION, db_keepalives_interval, "10s", 1000, 600000,
      "TCP keepalive: time between probes"),
    F("db", "keepalives_count", CFG_INT, db_keepalives_count, "3", 1, 100,
      "TCP keepalive: unanswered probes before the connection is dropped"),
    F("db", "tcp_user_timeout", CFG_DURATION, db_tcp_user_timeout, "30s", 0, 3600000,
      "sent data unacknowledged this long drops the connection (0 = the kernel's default)"),
    F("db", "client_check_interval", CFG_DURATION, db_client_check, "1s", 0, 600000,
      "server client_connection_check_interval: a backend stops a statement whose client left"),
    F("db", "start_wait", CFG_DURATION, db_start_wait, "60s", 0, 3600000,
      "how long a database step at start (migrations, saved event positions) is retried while "
      "the database is out of reach before the process exits (0 = one attempt)"),
    {"log", "level", CFG_ENUM, offsetof(svc_common_config, log_level), "info", 0, 0, false,
     log_levels, "debug, info, warn or error"},
    F("auth", "jwks_file", CFG_STR, auth_jwks_file, "", 0, 0,
      "JWKS file with the public keys that verify access tokens"),
    F("auth", "jwks_urls", CFG_STRLIST, auth_jwks_urls, "", 0, 0,
      "confetti-auth endpoints: GetJwks keeps the key set current (rotation), "
      "ListRevokedTokens the revocation list (tokens are refused until it is loaded)"),
    F("auth", "jwks_refetch", CFG_DURATION, auth_jwks_refetch, "10s", 1000, 3600000,
      "least time between refetches triggered by an unknown kid"),
    F("auth", "issuer", CFG_STR, auth_issuer, "confetti", 0, 0, "required iss of access tokens"),
    F("auth", "audience", CFG_STR, auth_audience, "confetti", 0, 0,
      "required aud of access tokens"),
    F("auth", "leeway", CFG_DURATION, auth_leeway, "60s", 0, 300000, "allowed clock skew"),
    F("auth", "events", CFG_STR, auth_events, "", 0, 0,
      "the bus's subscriber URL: auth's revocation events reach the verifier within a second "
      "(\"\" = only the periodic re-read of auth.revoked_refresh)"),
    F("auth", "revoked_refresh", CFG_DURATION, auth_revoked_refresh, "15s", 0, 86400000,
      "how often the revocation list is re-read from auth.jwks_urls (safety net; 0 = only at "
      "start)"),
    F("ident", "name", CFG_STR, ident_name, "", 0, 0,
      "this process's service identity (empty = the service's name)"),
    F("ident", "key_file", CFG_STR, ident_key_file, "", 0, 0,
      "Ed25519 private key (PEM) that signs this process's calls and events"),
    F("ident", "trust_dir", CFG_STR, ident_trust_dir, "", 0, 0,
      "directory of <service>.pub public keys: the services whose calls and events are trusted"),
    F("ident", "require", CFG_BOOL, ident_require, "false", 0, 0,
      "every method needs a verified service identity (not only those in ident.allow)"),
    F("ident", "allow", CFG_STRLIST, ident_allow, IDENT_DEFAULT_ALLOW, 0, 0,
      "internal methods and the services that may call them: \"pkg.Svc/Method=svc svc\""),
    F("ident", "operators", CFG_STRLIST, ident_operators, "", 0, 0,
      "identities that may call every method (confetti call with an operator key)"),
    F("ident", "token_ttl", CFG_DURATION, ident_token_ttl, "10m", 10000, 3600000,
      "lifetime of the service tokens this process makes (renewed at half)"),
};
#undef F
const size_t svc_common_nfields = sizeof svc_common_fields / sizeof *svc_common_fields;

/* Every Confetti process's environment scope (its svc_def.name): CONFETTI_<SCOPE>__<SECTION>_<KEY>
 * addresses one process, and a scope in none of them is a typo every process refuses
 * (docs/operations.md, "One environment for every process"). */
static const char *const svc_scopes[] = {"auth",    "bus",   "catalog", "draw",
                                         "gateway", "rooms", NULL};

struct svc_runtime {
    const svc_def *def;
    svc_common_config cfg;
    authn_keyset *keys;
    svc_keys *key_source; /* GetJwks refresher, when auth.jwks_urls is set */
    authn_verifier *verifier;
    rpc_ident *ident;
    metrics *metrics;
    admin_server *admin;
    rpc_server *server;
    void *ctx;
    atomic_bool db_ready;
    atomic_bool stop_monitor;
    pthread_t monitor;
    bool monitor_started;
    events_publisher_config events_cfg;
    events_relay *relay;
    revsync *revocations; /* when auth.jwks_urls is set */
    cfg_schema schemas[4];
    size_t nschemas;
    svc_maint_job *jobs; /* def->maint_jobs, then `outbox` when the service publishes */
    size_t njobs;
    cfg_field *maint_fields;
    size_t nmaint_fields;
    svc_maint_settings maint_settings;
    svc_maint *maint;
    cf_clock real_clock;
    const cf_clock *clock;
    db_limits db_limits;
};

const svc_common_config *svc_config(const svc_runtime *rt)
{
    return &rt->cfg;
}

authn_verifier *svc_verifier(const svc_runtime *rt)
{
    return rt->verifier;
}

const db_limits *svc_db_limits(const svc_runtime *rt)
{
    return &rt->db_limits;
}

/* A new connection to the service's own schema with the configured limits. */
static db_conn *own_conn(svc_runtime *rt)
{
    db_conn *c = db_conn_new(rt->cfg.db_dsn, rt->def->schema, rt->def->stmts, rt->def->nstmts);
    db_conn_set_limits(c, &rt->db_limits);
    return c;
}

/* The reply has to travel back before the caller's own timer fires (its deadline started a
 * little earlier than ours): the database gets the call's deadline less this. */
#define DB_REPLY_MARGIN_NS (50 * 1000000LL)

/* rpc_server_config.call_deadline: each call's deadline bounds the worker's database time. */
static void worker_deadline(void *state, int64_t deadline_ns)
{
    if (state)
        db_conn_set_deadline(state, deadline_ns ? deadline_ns - DB_REPLY_MARGIN_NS : 0);
}

rpc_ident *svc_ident(const svc_runtime *rt)
{
    return rt->ident;
}

/* The process's service identity from the ident section (docs/operations.md, "Service
 * identity"). A process without a key makes unsigned calls, one without trusted keys verifies
 * nobody: both are allowed (a dev setup, a tool) but said at start. */
static cf_code ident_start(svc_runtime *rt, char *err, size_t errlen)
{
    const svc_common_config *c = &rt->cfg;
    rpc_ident_config ic = {.name = *c->ident_name ? c->ident_name : rt->def->name,
                           .key_file = c->ident_key_file,
                           .trust_dir = c->ident_trust_dir,
                           .allow = (const char *const *)c->ident_allow.items,
                           .nallow = c->ident_allow.n,
                           .operators = (const char *const *)c->ident_operators.items,
                           .noperators = c->ident_operators.n,
                           .require = c->ident_require,
                           .token_ttl_ms = c->ident_token_ttl};
    if (rpc_ident_new(&ic, &rt->ident, err, errlen) != CF_OK)
        return CF_INVALID_ARGUMENT;
    if (!rpc_ident_can_sign(rt->ident))
        log_warn("ident.key_file not set: this process's calls and events carry no identity, "
                 "so internal methods and the bus refuse them");
    if (rpc_ident_ntrusted(rt->ident) == 0)
        log_warn("ident.trust_dir not set: no service can be verified, so internal methods "
                 "answer nobody");
    else
        log_info("ident: %s, %zu trusted service keys%s", rpc_ident_name(rt->ident),
                 rpc_ident_ntrusted(rt->ident), c->ident_require ? ", identity required" : "");
    return CF_OK;
}

/* The relay on /metrics: an operator alerts on a stale last pass or on failing passes. */
static double relay_published_seq(void *arg)
{
    events_relay_stats st;
    events_relay_stats_get(arg, &st);
    return (double)st.published_seq;
}

static double relay_last_ok(void *arg)
{
    events_relay_stats st;
    events_relay_stats_get(arg, &st);
    return (double)st.last_ok_ms / 1000.0;
}

static double relay_failed(void *arg)
{
    events_relay_stats st;
    events_relay_stats_get(arg, &st);
    return (double)st.failed_passes;
}

static void relay_metrics(svc_runtime *rt)
{
    metrics_gauge_fn(rt->metrics, "confetti_events_published_seq",
                     "Sequence number of the last event this process's relay published.",
                     relay_published_seq, rt->relay);
    metrics_gauge_fn(rt->metrics, "confetti_events_relay_last_pass_timestamp_seconds",
                     "Wall clock of the relay's last successful pass (0: none yet).", relay_last_ok,
                     rt->relay);
    metrics_gauge_fn(rt->metrics, "confetti_events_relay_failed_passes_total",
                     "Relay passes that failed (database unreachable, ...).", relay_failed,
                     rt->relay);
}

/* The job every publisher has: published outbox rows older than events.retention. */
static cf_code outbox_job(db_conn *db, const void *arg, int64_t now, int batch, int64_t *n)
{
    (void)now; /* the rows' created_at is the database's now(): so is the cut */
    const events_publisher_config *ec = arg;
    return events_prune_batch(db, ec->retention_ms, batch, n);
}

static svc_maint_config maint_config(svc_runtime *rt)
{
    return (svc_maint_config){.dsn = rt->cfg.db_dsn,
                              .db_limits = &rt->db_limits,
                              .schema = rt->def->schema,
                              .clock = rt->clock,
                              .jobs = rt->jobs,
                              .njobs = rt->njobs,
                              .settings = &rt->maint_settings,
                              .metrics = rt->metrics};
}

int svc_run_maintenance(svc_runtime *rt)
{
    if (!rt->def->schema || rt->njobs == 0) {
        log_info("maintenance: %s has no jobs", rt->def->name);
        return 0;
    }
    svc_maint_config mc = maint_config(rt);
    mc.metrics = NULL;
    return svc_maint_run_all(&mc);
}

metrics *svc_metrics(const svc_runtime *rt)
{
    return rt->metrics;
}

const cf_clock *svc_clock(const svc_runtime *rt)
{
    return rt->clock;
}

static void *worker_init(void *arg, int index)
{
    (void)index;
    svc_runtime *rt = arg;
    if (!rt->def->schema)
        return NULL;
    db_conn *c = own_conn(rt);
    if (db_conn_ensure(c) != CF_OK)
        log_warn("worker %d: database not reachable yet; will retry on first use", index);
    return c;
}

static void worker_fini(void *arg, void *state)
{
    (void)arg;
    db_conn_free(state);
}

static bool is_ready(void *arg)
{
    svc_runtime *rt = arg;
    if (rt->def->ready && !(rt->ctx && rt->def->ready(rt->ctx)))
        return false;
    if (!revsync_loaded(rt->revocations)) /* tokens are held until the list is in */
        return false;
    return atomic_load(&rt->db_ready);
}

/* Readiness of the database, probed off the request path so /readyz stays a flag read: a
 * connection of its own that prepares every statement (a broken statement keeps it red). */
static void *db_monitor(void *arg)
{
    svc_runtime *rt = arg;
    db_conn *c = own_conn(rt);
    while (!atomic_load(&rt->stop_monitor)) {
        bool ok = db_conn_ensure(c) == CF_OK && db_exec_sql(c, "SELECT 1", 0, NULL, NULL) == CF_OK;
        if (ok != atomic_load(&rt->db_ready))
            log_info("database %s", ok ? "ready" : "not ready");
        atomic_store(&rt->db_ready, ok);
        for (int i = 0; i < 20 && !atomic_load(&rt->stop_monitor); i++)
            usleep(100000);
    }
    db_conn_free(c);
    return NULL;
}

static void usage(const svc_def *def)
{
    const char *name = def->name;
    if (def->task && def->task_flag)
        fprintf(stderr, "  %s: run the service's one-shot task and exit\n", def->task_flag);
    fprintf(stderr,
            "usage: confetti-%s [--config FILE] [--migrate-only | --maintenance | "
            "--check-config]\n"
            "  --config FILE    YAML configuration (default: $CONFETTI_CONFIG)\n"
            "  --migrate-only   apply database migrations and exit\n"
            "  --maintenance    run every maintenance job once and exit (a CronJob)\n"
            "  --check-config   print the effective configuration and exit\n"
            "Every key is overridable as CONFETTI_<SECTION>_<KEY>.\n",
            name);
}

/* Everything after the configuration is loaded; on failure err says why. */
static cf_code ensure_owner_step(void *arg, char *err, size_t errlen)
{
    const svc_runtime *rt = arg;
    return db_ensure_owner(rt->cfg.db_admin_dsn, rt->cfg.db_dsn, rt->def->schema, err, errlen);
}

static cf_code migrate_step(void *arg, char *err, size_t errlen)
{
    const svc_runtime *rt = arg;
    return db_migrate(rt->cfg.db_dsn, rt->def->schema, rt->def->migrations, rt->def->nmigrations,
                      err, errlen);
}

static cf_code start(svc_runtime *rt, bool migrate_only, char *err, size_t errlen)
{
    const svc_def *def = rt->def;
    char why[512];
    rt->db_limits = (db_limits){.connect_timeout_ms = rt->cfg.db_connect_timeout,
                                .statement_timeout_ms = rt->cfg.db_statement_timeout,
                                .keepalives_idle_ms = rt->cfg.db_keepalives_idle,
                                .keepalives_interval_ms = rt->cfg.db_keepalives_interval,
                                .keepalives_count = rt->cfg.db_keepalives_count,
                                .tcp_user_timeout_ms = rt->cfg.db_tcp_user_timeout,
                                .client_check_ms = rt->cfg.db_client_check};
    if (def->schema) {
        if (!*rt->cfg.db_dsn) {
            snprintf(err, errlen, "db.dsn is required");
            return CF_INVALID_ARGUMENT;
        }
        if (*rt->cfg.db_admin_dsn &&
            svc_start_retry(rt->cfg.db_start_wait, "db.admin_dsn", ensure_owner_step, rt, why,
                            sizeof why) != CF_OK) {
            snprintf(err, errlen, "db.admin_dsn: %s", why);
            return CF_UNAVAILABLE;
        }
        if (svc_start_retry(rt->cfg.db_start_wait, "migrations", migrate_step, rt, why,
                            sizeof why) != CF_OK) {
            snprintf(err, errlen, "migrations failed: %s", why);
            return CF_UNAVAILABLE;
        }
        log_info("schema %s migrated (%zu migrations known)", def->schema, def->nmigrations);
    }
    if (migrate_only)
        return CF_OK;
    if (ident_start(rt, why, sizeof why) != CF_OK) {
        snprintf(err, errlen, "%s", why);
        return CF_INVALID_ARGUMENT;
    }

    if (*rt->cfg.auth_jwks_file || rt->cfg.auth_jwks_urls.n > 0) {
        if (authn_keyset_new(&rt->keys) != CF_OK) {
            snprintf(err, errlen, "cannot create the key set");
            return CF_INTERNAL;
        }
        if (*rt->cfg.auth_jwks_file &&
            authn_keyset_load_file(rt->keys, rt->cfg.auth_jwks_file, why, sizeof why) != CF_OK) {
            snprintf(err, errlen, "auth.jwks_file %s: %s", rt->cfg.auth_jwks_file, why);
            return CF_INVALID_ARGUMENT;
        }
        if (rt->cfg.auth_jwks_urls.n > 0 &&
            svc_keys_new(&rt->cfg.auth_jwks_urls, rt->ident, rt->keys, rt->cfg.auth_jwks_refetch,
                         &rt->key_source, why, sizeof why) != CF_OK) {
            snprintf(err, errlen, "auth.jwks_urls: %s", why);
            return CF_INVALID_ARGUMENT;
        }
        authn_config ac = AUTHN_CONFIG_INIT;
        ac.issuer = rt->cfg.auth_issuer;
        ac.audience = rt->cfg.auth_audience;
        ac.leeway_seconds = (int)(rt->cfg.auth_leeway / 1000);
        ac.clock = rt->clock;
        if (authn_verifier_new(&ac, rt->keys, &rt->verifier) != CF_OK) {
            snprintf(err, errlen, "cannot create the token verifier");
            return CF_INVALID_ARGUMENT;
        }
        /* Revocations from the auth endpoints (auth itself reads its own database). */
        if (rt->cfg.auth_jwks_urls.n > 0) {
            revsync_config rc = {.verifier = rt->verifier,
                                 .auth_urls = (const char *const *)rt->cfg.auth_jwks_urls.items,
                                 .nurls = rt->cfg.auth_jwks_urls.n,
                                 .bus = rt->cfg.auth_events,
                                 .refresh_ms = rt->cfg.auth_revoked_refresh,
                                 .ident = rt->ident};
            if (revsync_start(&rc, &rt->revocations, why, sizeof why) != CF_OK) {
                snprintf(err, errlen, "auth.jwks_urls/auth.events: %s", why);
                return CF_INVALID_ARGUMENT;
            }
        }
    } else {
        log_warn("neither auth.jwks_file nor auth.jwks_urls set: calls carrying a token will be "
                 "refused");
    }

    /* before init, so init hooks can register metrics of their own (the gateway's routes) */
    rt->metrics = metrics_new(def->name);
    if (def->init && def->init(rt, &rt->ctx, why, sizeof why) != CF_OK) {
        snprintf(err, errlen, "init: %s", why);
        return CF_UNAVAILABLE;
    }

    atomic_store(&rt->db_ready, def->schema == NULL);
    if (def->schema) {
        pthread_create(&rt->monitor, NULL, db_monitor, rt);
        rt->monitor_started = true;
    }
    admin_config acfg = {
        .url = rt->cfg.admin_listen, .metrics = rt->metrics, .ready = is_ready, .ready_arg = rt};
    if (admin_start(&acfg, &rt->admin, why, sizeof why) != CF_OK) {
        snprintf(err, errlen, "admin %s: %s", rt->cfg.admin_listen, why);
        return CF_UNAVAILABLE;
    }

    int workers = rt->cfg.rpc_workers > 0 ? (int)rt->cfg.rpc_workers
                                          : svc_default_workers(rt->def, NULL, NULL);
    log_info("rpc: %d workers (%s)", workers,
             rt->cfg.rpc_workers > 0 ? "rpc.workers" : "per core x usable CPUs (cgroup limit)");
    rpc_server_config scfg = {.listen = (const char *const *)rt->cfg.rpc_listen.items,
                              .nlisten = rt->cfg.rpc_listen.n,
                              .workers = workers,
                              .max_message = (size_t)rt->cfg.rpc_max_message,
                              .verifier = rt->verifier,
                              .metrics = rt->metrics,
                              .ident = rt->ident,
                              .worker_init = worker_init,
                              .worker_fini = worker_fini,
                              .worker_arg = rt,
                              .call_deadline = worker_deadline,
                              .key_miss = rt->key_source ? svc_keys_on_miss : NULL,
                              .key_miss_arg = rt->key_source,
                              .ready = is_ready,
                              .ready_arg = rt};
    rpc_server_new(&scfg, &rt->server);
    if (def->service)
        rpc_server_add_service(rt->server, def->service, rt->ctx);
    if (def->service && def->scopes && rpc_server_set_scopes(rt->server, def->scopes) != CF_OK) {
        snprintf(err, errlen, "rpc: the scope table of %s is not sound", def->name);
        return CF_INTERNAL;
    }
    if (def->publishes) {
        events_relay_config ec = {.dsn = rt->cfg.db_dsn,
                                  .db_limits = &rt->db_limits,
                                  .schema = def->schema,
                                  .source = def->name,
                                  .bus = rt->events_cfg.bus,
                                  .retention_ms = rt->events_cfg.retention_ms,
                                  .poll_ms = rt->events_cfg.poll_ms,
                                  .gap_ms = rt->events_cfg.gap_ms,
                                  .batch = (int)rt->events_cfg.batch,
                                  .ident = rt->ident};
        if (events_relay_start(&ec, &rt->relay, why, sizeof why) != CF_OK) {
            snprintf(err, errlen, "%s", why);
            return CF_INVALID_ARGUMENT;
        }
        relay_metrics(rt);
        rpc_server_add_service(rt->server, events_replay_service(), NULL);
    }
    if (def->schema && rt->njobs > 0) {
        svc_maint_config mc = maint_config(rt);
        svc_maint_start(&mc, &rt->maint);
    }
    if (rpc_server_start(rt->server, why, sizeof why) != CF_OK) {
        snprintf(err, errlen, "rpc: %s", why);
        return CF_UNAVAILABLE;
    }
    for (size_t i = 0; i < rt->cfg.rpc_listen.n; i++)
        log_info("serving rpc on %s", rt->cfg.rpc_listen.items[i]);
    log_info("admin on %s", rt->cfg.admin_listen);
    return CF_OK;
}

static void runtime_free(svc_runtime *rt);

void svc_stop(svc_runtime *rt)
{
    if (!rt)
        return;
    if (rt->admin)
        admin_set_draining(rt->admin, true);
    if (rt->server) {
        rpc_server_drain(rt->server);
        rpc_server_free(rt->server);
    }
    if (rt->monitor_started) {
        atomic_store(&rt->stop_monitor, true);
        pthread_join(rt->monitor, NULL);
    }
    admin_stop(rt->admin);
    events_relay_stop(rt->relay); /* after the admin port: /metrics reads its counters */
    svc_maint_stop(rt->maint);    /* likewise; before fini: jobs may use the service's state */
    if (rt->def->fini && rt->ctx)
        rt->def->fini(rt, rt->ctx);
    metrics_free(rt->metrics);
    revsync_stop(rt->revocations);
    svc_keys_free(rt->key_source);
    authn_verifier_free(rt->verifier);
    rpc_ident_free(rt->ident);
    authn_keyset_free(rt->keys);
    runtime_free(rt);
}

static void runtime_free(svc_runtime *rt)
{
    cfg_free(rt->schemas, rt->nschemas);
    svc_maint_fields_free(rt->maint_fields, rt->nmaint_fields, &rt->maint_settings);
    free(rt->jobs);
    free(rt);
}

static cf_code load_config(svc_runtime *rt, const char *path, char *const *env, char *err,
                           size_t errlen)
{
    return cfg_load_scoped(rt->def->name, svc_scopes, rt->schemas, rt->nschemas, path, env, err,
                           errlen);
}

static svc_runtime *runtime_new(const svc_def *def, const cf_clock *clock)
{
    svc_runtime *rt = xcalloc(1, sizeof *rt);
    rt->def = def;
    rt->schemas[0] = (cfg_schema){svc_common_fields, svc_common_nfields, &rt->cfg};
    rt->schemas[1] = (cfg_schema){def->fields, def->nfields, def->config};
    rt->nschemas = def->nfields ? 2 : 1;
    if (def->publishes)
        rt->schemas[rt->nschemas++] =
            (cfg_schema){events_publisher_fields, events_publisher_nfields, &rt->events_cfg};
    if (def->schema) {
        rt->jobs = xcalloc(def->nmaint_jobs + 1, sizeof *rt->jobs);
        for (size_t i = 0; i < def->nmaint_jobs; i++)
            rt->jobs[rt->njobs++] = def->maint_jobs[i];
        if (def->publishes)
            rt->jobs[rt->njobs++] =
                (svc_maint_job){.name = "outbox",
                                .interval = "1m",
                                .batch = "1000",
                                .help = "published outbox rows older than events.retention",
                                .run = outbox_job,
                                .arg = &rt->events_cfg};
    }
    if (rt->njobs > 0) {
        rt->maint_fields =
            svc_maint_fields(rt->jobs, rt->njobs, &rt->nmaint_fields, &rt->maint_settings);
        rt->schemas[rt->nschemas++] =
            (cfg_schema){rt->maint_fields, rt->nmaint_fields, rt->maint_settings.v};
    }
    rt->real_clock = (cf_clock)CF_CLOCK_REAL;
    rt->clock = clock ? clock : &rt->real_clock;
    return rt;
}

cf_code svc_start(const svc_def *def, const svc_options *opts, svc_runtime **out, char *err,
                  size_t errlen)
{
    svc_runtime *rt = runtime_new(def, opts->clock);
    char why[1024];
    if (load_config(rt, opts->config_path, opts->env ? opts->env : environ, why, sizeof why) !=
        CF_OK) {
        snprintf(err, errlen, "configuration: %s", why);
        runtime_free(rt);
        return CF_INVALID_ARGUMENT;
    }
    log_setup(def->name, (log_level)log_level_parse(rt->cfg.log_level));
    resolve_setup((int)rt->cfg.rpc_resolve_ms, rt->cfg.rpc_hosts_file);
    cf_code code = start(rt, opts->migrate_only, err, errlen);
    if (code != CF_OK || opts->migrate_only) {
        svc_stop(rt);
        return code;
    }
    *out = rt;
    return CF_OK;
}

/* `--maintenance`: every job once. */
static int maintenance_task(svc_runtime *rt, void *ctx)
{
    (void)ctx;
    return svc_run_maintenance(rt);
}

/* A one-shot task (svc_def.task, or --maintenance): config, migrations, init, task, fini. The
 * maintenance jobs need no init (they run on their own connection): --maintenance skips it, so
 * a CronJob's run does not dial the service's peers. */
static int run_task(const svc_def *def, const char *config_path, int (*task)(svc_runtime *, void *))
{
    svc_runtime *rt = runtime_new(def, NULL);
    char err[1024];
    if (load_config(rt, config_path, environ, err, sizeof err) != CF_OK) {
        log_error("configuration: %s", err);
        runtime_free(rt);
        return 1;
    }
    log_setup(def->name, (log_level)log_level_parse(rt->cfg.log_level));
    resolve_setup((int)rt->cfg.rpc_resolve_ms, rt->cfg.rpc_hosts_file);
    int status = 1;
    if (start(rt, true, err, sizeof err) != CF_OK)
        log_error("%s", err);
    else if (task != maintenance_task && def->init &&
             def->init(rt, &rt->ctx, err, sizeof err) != CF_OK)
        log_error("init: %s", err);
    else
        status = task(rt, rt->ctx);
    svc_stop(rt);
    return status;
}

int svc_main(const svc_def *def, int argc, char **argv)
{
    svc_options opts = {.config_path = getenv("CONFETTI_CONFIG")};
    bool check_only = false, task = false, maintenance = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            opts.config_path = argv[++i];
        } else if (def->task && def->task_flag && strcmp(argv[i], def->task_flag) == 0) {
            task = true;
        } else if (strcmp(argv[i], "--maintenance") == 0 && def->schema) {
            maintenance = true;
        } else if (strcmp(argv[i], "--migrate-only") == 0) {
            opts.migrate_only = true;
        } else if (strcmp(argv[i], "--check-config") == 0) {
            check_only = true;
        } else {
            usage(def);
            return strcmp(argv[i], "--help") == 0 ? 0 : 2;
        }
    }
    log_setup(def->name, LOG_INFO);
    if (task)
        return run_task(def, opts.config_path, def->task);
    if (maintenance)
        return run_task(def, opts.config_path, maintenance_task);
    char err[1024];
    if (check_only) {
        svc_runtime *rt = runtime_new(def, NULL);
        cf_code code = load_config(rt, opts.config_path, environ, err, sizeof err);
        if (code == CF_OK)
            cfg_dump_scoped(def->name, rt->schemas, rt->nschemas, stdout);
        else
            log_error("configuration: %s", err);
        runtime_free(rt);
        return code == CF_OK ? 0 : 1;
    }

    /* Signals are taken synchronously by this thread only: every thread created from here on
     * inherits the blocked mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    svc_runtime *rt = NULL;
    if (svc_start(def, &opts, &rt, err, sizeof err) != CF_OK) {
        log_error("%s", err);
        return 1;
    }
    if (opts.migrate_only)
        return 0;
    int sig = 0;
    sigwait(&sigs, &sig);
    log_info("signal %d: draining", sig);
    svc_stop(rt);
    log_info("stopped");
    return 0;
}
