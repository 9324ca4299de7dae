/* maint.c — the scheduled maintenance jobs of a service (see maint.h). */
#include "maint.h"
#include "base/log.h"
#include "base/xmalloc.h"

#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- configuration ---- */

cfg_field *svc_maint_fields(const svc_maint_job *jobs, size_t njobs, size_t *nfields,
                            svc_maint_settings *s)
{
    size_t n = 2 * njobs + 1;
    s->v = xcalloc(n, sizeof *s->v);
    s->njobs = njobs;
    cfg_field *f = xcalloc(n, sizeof *f);
    for (size_t i = 0; i < njobs; i++) {
        f[2 * i] = (cfg_field){.section = "maintenance",
                               .key = xasprintf("%s_interval", jobs[i].name),
                               .type = CFG_DURATION,
                               .offset = (2 * i) * sizeof(int64_t),
                               .def = jobs[i].interval,
                               .min = 0,
                               .max = 7 * 86400000LL,
                               .help = xasprintf("%s: time between runs (0 = never in this "
                                                 "process)",
                                                 jobs[i].help)};
        f[2 * i + 1] = (cfg_field){.section = "maintenance",
                                   .key = xasprintf("%s_batch", jobs[i].name),
                                   .type = CFG_INT,
                                   .offset = (2 * i + 1) * sizeof(int64_t),
                                   .def = jobs[i].batch,
                                   .min = 1,
                                   .max = 100000,
                                   .help = xasprintf("%s: rows per statement (one short "
                                                     "transaction each)",
                                                     jobs[i].name)};
    }
    f[n - 1] = (cfg_field){.section = "maintenance",
                           .key = "max_batches",
                           .type = CFG_INT,
                           .offset = 2 * njobs * sizeof(int64_t),
                           .def = "1000",
                           .min = 1,
                           .max = 1000000,
                           .help = "statements one run of a job makes at most (the rest is left "
                                   "for its next run)"};
    *nfields = n;
    return f;
}

void svc_maint_fields_free(cfg_field *fields, size_t nfields, svc_maint_settings *s)
{
    free(s->v);
    s->v = NULL;
    if (!fields)
        return;
    for (size_t i = 0; i + 1 < nfields; i++) {
        free((char *)fields[i].key);
        free((char *)fields[i].help);
    }
    free(fields);
}

/* ---- one run ---- */

cf_code svc_maint_exec(db_conn *db, const char *sql, int64_t now, int batch, int64_t *n)
{
    char t[24], b[16];
    snprintf(t, sizeof t, "%" PRId64, now);
    snprintf(b, sizeof b, "%d", batch);
    const char *p[] = {t, b};
    PGresult *r = NULL;
    cf_code code = db_exec_sql(db, sql, 2, p, &r);
    if (code != CF_OK)
        return code;
    *n = strtoll(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return CF_OK;
}

cf_code svc_maint_sql(db_conn *db, const void *sql, int64_t now, int batch, int64_t *n)
{
    return svc_maint_exec(db, sql, now, batch, n);
}

static cf_code lock_sql(db_conn *db, const char *sql, const char *key, bool *got)
{
    const char *p[] = {key};
    PGresult *r = NULL;
    cf_code code = db_exec_sql(db, sql, 1, p, &r);
    if (code != CF_OK)
        return code;
    if (got)
        *got = PQntuples(r) == 1 && PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    return CF_OK;
}

cf_code svc_maint_run(db_conn *db, const char *schema, const svc_maint_job *job, int64_t now,
                      int64_t batch, int64_t max_batches, const atomic_bool *stop,
                      svc_maint_result *out)
{
    *out = (svc_maint_result){0};
    char key[160];
    snprintf(key, sizeof key, "%s.%s", schema, job->name);
    bool got = false;
    cf_code code = lock_sql(
        db, "SELECT pg_try_advisory_lock(hashtext('confetti.maint'), hashtext($1))", key, &got);
    if (code != CF_OK)
        return code;
    if (!got) {
        out->skipped = true;
        return CF_OK;
    }
    for (;;) {
        if (stop && atomic_load(stop))
            break;
        if (out->batches >= max_batches) {
            out->exhausted = true;
            break;
        }
        int64_t n = 0;
        code = job->run(db, job->arg, now, (int)batch, &n);
        if (code != CF_OK)
            break;
        out->batches++;
        out->rows += n;
        if (n < batch)
            break;
    }
    /* a failed statement may have lost the connection: the lock went with it */
    cf_code unlock = lock_sql(
        db, "SELECT pg_advisory_unlock(hashtext('confetti.maint'), hashtext($1))", key, NULL);
    if (code == CF_OK && unlock != CF_OK && db_conn_ok(db))
        code = unlock;
    return code;
}

/* ---- the thread ---- */

typedef struct job_state {
    const svc_maint_job *job;
    int64_t interval_ms, batch;
    int64_t next_ns; /* monotonic time of the next run */
    _Atomic int64_t rows, failures, last_ok_ms;
    svc_maint *owner;
} job_state;

struct svc_maint {
    char *dsn, *schema;
    db_limits limits;
    const cf_clock *clock;
    int64_t max_batches;
    size_t njobs;
    job_state *jobs;
    atomic_bool stop;
    bool started;
    int wake[2];
    pthread_t thread;
};

static double g_rows(void *arg)
{
    return (double)atomic_load(&((job_state *)arg)->rows);
}
static double g_failures(void *arg)
{
    return (double)atomic_load(&((job_state *)arg)->failures);
}
static double g_last_ok(void *arg)
{
    return (double)atomic_load(&((job_state *)arg)->last_ok_ms) / 1000.0;
}

static void run_job(svc_maint *m, db_conn *db, job_state *j)
{
    int64_t now = m->clock->now(m->clock);
    svc_maint_result res;
    int64_t t0 = cf_mono_ns();
    cf_code code =
        svc_maint_run(db, m->schema, j->job, now, j->batch, m->max_batches, &m->stop, &res);
    int64_t ms = (cf_mono_ns() - t0) / 1000000;
    if (code != CF_OK) {
        atomic_fetch_add(&j->failures, 1);
        log_warn("maintenance %s: failed after %" PRId64 " rows: %s", j->job->name, res.rows,
                 cf_code_name(code));
        return;
    }
    atomic_fetch_add(&j->rows, res.rows);
    atomic_store(&j->last_ok_ms, cf_wall_ms());
    if (res.skipped)
        log_debug("maintenance %s: another replica holds the job", j->job->name);
    else if (res.rows > 0 || res.exhausted)
        log_info("maintenance %s: %" PRId64 " rows in %d batches, %" PRId64 " ms%s", j->job->name,
                 res.rows, res.batches, ms,
                 res.exhausted ? " (maintenance.max_batches reached: more left for the next run)"
                               : "");
}

static void *maint_main(void *arg)
{
    svc_maint *m = arg;
    db_conn *db = db_conn_new(m->dsn, m->schema, NULL, 0);
    db_conn_set_limits(db, &m->limits);
    while (!atomic_load(&m->stop)) {
        int64_t now = cf_mono_ns(), next = INT64_MAX;
        for (size_t i = 0; i < m->njobs && !atomic_load(&m->stop); i++) {
            job_state *j = &m->jobs[i];
            if (j->interval_ms <= 0)
                continue;
            if (j->next_ns <= now) {
                if (db_conn_ensure(db) == CF_OK) {
                    run_job(m, db, j);
                    j->next_ns = cf_mono_ns() + j->interval_ms * 1000000;
                } else {
                    atomic_fetch_add(&j->failures, 1);
                    j->next_ns = cf_mono_ns() + 5000000000LL; /* the database: again in 5 s */
                }
                now = cf_mono_ns();
            }
            if (j->next_ns < next)
                next = j->next_ns;
        }
        if (atomic_load(&m->stop))
            break;
        int64_t wait_ms = next == INT64_MAX ? 60000 : (next - cf_mono_ns()) / 1000000 + 1;
        if (wait_ms > 60000)
            wait_ms = 60000;
        if (wait_ms > 0) {
            struct pollfd p = {.fd = m->wake[0], .events = POLLIN};
            poll(&p, 1, (int)wait_ms);
        }
    }
    db_conn_free(db);
    return NULL;
}

static svc_maint *maint_new(const svc_maint_config *cfg)
{
    svc_maint *m = xcalloc(1, sizeof *m);
    m->dsn = xstrdup(cfg->dsn);
    m->schema = xstrdup(cfg->schema);
    m->limits = cfg->db_limits ? *cfg->db_limits : (db_limits)DB_LIMITS_DEFAULT;
    m->clock = cfg->clock;
    m->max_batches = cfg->settings->v[2 * cfg->njobs];
    m->njobs = cfg->njobs;
    m->jobs = xcalloc(cfg->njobs ? cfg->njobs : 1, sizeof *m->jobs);
    m->wake[0] = m->wake[1] = -1;
    int64_t start = cf_mono_ns();
    for (size_t i = 0; i < cfg->njobs; i++) {
        job_state *j = &m->jobs[i];
        j->job = &cfg->jobs[i];
        j->owner = m;
        j->interval_ms = cfg->settings->v[2 * i];
        j->batch = cfg->settings->v[2 * i + 1];
        int64_t first_ms = j->interval_ms / 10 < 60000 ? j->interval_ms / 10 : 60000;
        j->next_ns = start + first_ms * 1000000;
    }
    return m;
}

static void maint_free(svc_maint *m)
{
    if (m->wake[0] >= 0) {
        close(m->wake[0]);
        close(m->wake[1]);
    }
    free(m->jobs);
    free(m->dsn);
    free(m->schema);
    free(m);
}

void svc_maint_start(const svc_maint_config *cfg, svc_maint **out)
{
    *out = NULL;
    svc_maint *m = maint_new(cfg);
    bool any = false;
    for (size_t i = 0; i < m->njobs; i++) {
        job_state *j = &m->jobs[i];
        any |= j->interval_ms > 0;
        log_info("maintenance %s: %s", j->job->name,
                 j->interval_ms > 0 ? "scheduled" : "off (interval 0)");
    }
    if (cfg->metrics) {
        static const struct {
            const char *name, *help;
            double (*fn)(void *);
        } series[] = {
            {"confetti_maintenance_rows_total",
             "Rows the maintenance job purged or archived in this process.", g_rows},
            {"confetti_maintenance_failures_total",
             "Runs of the maintenance job that failed (database unreachable, ...).", g_failures},
            {"confetti_maintenance_last_success_timestamp_seconds",
             "Wall clock of the job's last successful run in this process, skipped runs "
             "included (0: none yet).",
             g_last_ok},
        };
        for (size_t s = 0; s < sizeof series / sizeof *series; s++)
            for (size_t i = 0; i < m->njobs; i++)
                metrics_gauge_fn_labeled(cfg->metrics, series[s].name, "job", m->jobs[i].job->name,
                                         series[s].help, series[s].fn, &m->jobs[i]);
    }
    if (!any) {
        /* the metrics point into m: keep it (stopped) until svc_maint_stop */
        *out = m;
        return;
    }
    if (pipe(m->wake) != 0)
        m->wake[0] = m->wake[1] = -1; /* poll on -1 just times out */
    pthread_create(&m->thread, NULL, maint_main, m);
    m->started = true;
    *out = m;
}

void svc_maint_stop(svc_maint *m)
{
    if (!m)
        return;
    if (m->started) {
        atomic_store(&m->stop, true);
        if (m->wake[1] >= 0 && write(m->wake[1], "x", 1) < 0)
            log_debug("maintenance: wake pipe: write failed");
        pthread_join(m->thread, NULL);
    }
    maint_free(m);
}

int svc_maint_run_all(const svc_maint_config *cfg)
{
    svc_maint *m = maint_new(cfg);
    db_conn *db = db_conn_new(m->dsn, m->schema, NULL, 0);
    db_conn_set_limits(db, &m->limits);
    int status = 0;
    if (db_conn_ensure(db) != CF_OK) {
        log_error("maintenance: database unreachable");
        status = 1;
    }
    for (size_t i = 0; i < m->njobs && status == 0; i++) {
        run_job(m, db, &m->jobs[i]);
        if (atomic_load(&m->jobs[i].failures))
            status = 1;
        else
            log_info("maintenance %s: done, %" PRId64 " rows", m->jobs[i].job->name,
                     atomic_load(&m->jobs[i].rows));
    }
    db_conn_free(db);
    maint_free(m);
    return status;
}
