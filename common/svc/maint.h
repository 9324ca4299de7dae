/* maint.h — the scheduled maintenance of a service (issue 18 item 7; docs/operations.md,
 * "Maintenance jobs"): periodic jobs that purge what has outlived its use (expired revocations,
 * sessions and login states, relayed outbox rows, old idempotency keys) or archive it (rooms
 * finished long ago), in small batches, on one thread and one connection of the process.
 *
 * A job is a function that handles at most `batch` rows in one statement (its own short
 * transaction, so no lock is held long) and says how many it handled. A run of a job repeats it
 * until a batch comes back short (nothing more is due) or maintenance.max_batches is reached.
 *
 * Replicas: every replica schedules every job; a run first takes the job's PostgreSQL session
 * advisory lock (pg_try_advisory_lock on (hashtext('confetti.maint'), hashtext(schema.job)))
 * without waiting, and a replica that does not get it skips that run: one replica works, the
 * others do not queue behind it. The jobs are idempotent besides (a DELETE/UPDATE of rows chosen
 * by their age, FOR UPDATE SKIP LOCKED), so two runs overlapping — a lock lost with its
 * connection — only do the work once.
 *
 * Configuration (section `maintenance`, svc.c adds it for a service that has jobs):
 *   maintenance.<job>_interval  time between runs (0 = the job never runs in this process)
 *   maintenance.<job>_batch     rows per statement
 *   maintenance.max_batches     statements per run at most (the rest waits for the next run)
 * Metrics (labels service, job): confetti_maintenance_rows_total,
 * confetti_maintenance_failures_total, confetti_maintenance_last_success_timestamp_seconds.
 *
 * Lifetime: svc_maint_start (thread) → svc_maint_stop. svc_maint_run is the one run of a job, on
 * a caller's connection (the thread's, `--maintenance`, tests). */
#ifndef CONFETTI_SVC_MAINT_H
#define CONFETTI_SVC_MAINT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "admin/metrics.h"
#include "base/clock.h"
#include "base/status.h"
#include "cfg/cfg.h"
#include "db/db.h"

/* One batch of a job: handles at most `batch` rows that are due at `now` (seconds since the
 * epoch, the service's clock) on db (search_path = the service's schema) and sets *n to how many.
 * Must be idempotent and safe to run concurrently with itself. arg: svc_maint_job.arg. */
typedef cf_code (*svc_maint_fn)(db_conn *db, const void *arg, int64_t now, int batch, int64_t *n);

typedef struct svc_maint_job {
    const char *name;     /* [a-z_]+: the config keys, the metric label, the lock key */
    const char *interval; /* default of maintenance.<name>_interval ("10m") */
    const char *batch;    /* default of maintenance.<name>_batch ("1000") */
    const char *help;     /* what it does (the config dump's comment) */
    svc_maint_fn run;
    const void *arg; /* borrowed, outlives the job */
} svc_maint_job;

/* The settings of a service's jobs as the configuration fills them: v holds, for job i,
 * v[2i] = maintenance.<job>_interval (ms) and v[2i+1] = maintenance.<job>_batch, then
 * v[2 njobs] = maintenance.max_batches. */
typedef struct svc_maint_settings {
    int64_t *v; /* the config schema's target */
    size_t njobs;
} svc_maint_settings;

/* The config table of jobs (2*njobs + 1 fields; allocates s->v, their target): free both with
 * svc_maint_fields_free after cfg_free. */
cfg_field *svc_maint_fields(const svc_maint_job *jobs, size_t njobs, size_t *nfields,
                            svc_maint_settings *s);
void svc_maint_fields_free(cfg_field *fields, size_t nfields, svc_maint_settings *s);

/* What one run did. */
typedef struct svc_maint_result {
    int64_t rows;   /* rows the job handled */
    int batches;    /* statements run */
    bool skipped;   /* another process holds the job's lock: nothing was done */
    bool exhausted; /* stopped at max_batches with more due */
} svc_maint_result;

/* One run of job on db: the advisory lock (or skipped), then batches of `batch` rows until one
 * comes back short, max_batches ran, or *stop (may be NULL) turns true; the lock is released.
 * schema: the service's, part of the lock key. Blocks. */
cf_code svc_maint_run(db_conn *db, const char *schema, const svc_maint_job *job, int64_t now,
                      int64_t batch, int64_t max_batches, const atomic_bool *stop,
                      svc_maint_result *out);

/* The usual body of a job: runs sql — a constant of the service, $1 = now (seconds since the
 * epoch, bigint), $2 = batch (int) — and sets *n to the rows it changed. */
cf_code svc_maint_exec(db_conn *db, const char *sql, int64_t now, int batch, int64_t *n);
/* A job that is only that statement: .run = svc_maint_sql, .arg = the SQL (a constant). */
cf_code svc_maint_sql(db_conn *db, const void *sql, int64_t now, int batch, int64_t *n);

typedef struct svc_maint_config {
    const char *dsn;            /* copied */
    const db_limits *db_limits; /* copied; NULL = DB_LIMITS_DEFAULT */
    const char *schema;         /* copied */
    const cf_clock *clock;      /* borrowed, outlives the thread */
    const svc_maint_job *jobs;  /* borrowed, outlive the thread */
    size_t njobs;
    const svc_maint_settings *settings; /* borrowed */
    metrics *metrics;                   /* registers its series here (start-up); NULL = none */
} svc_maint_config;

typedef struct svc_maint svc_maint;

/* Starts the thread (nothing if no job has an interval: *out NULL). Each job runs a first time
 * soon after start (within a tenth of its interval, at most a minute: replicas that start
 * together spread), then every interval after the previous run ended. Never fails. */
void svc_maint_start(const svc_maint_config *cfg, svc_maint **out);
/* Stops the thread after the current batch and frees. NULL is a no-op. Blocks. */
void svc_maint_stop(svc_maint *m);

/* Runs every job once (on a new connection): `confetti-<svc> --maintenance`. 0 or 1 for the
 * process's exit status. */
int svc_maint_run_all(const svc_maint_config *cfg);

#endif
