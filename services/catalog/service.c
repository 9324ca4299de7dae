/* service.c — confetti-catalog's definition: schema and migrations, statements, its config
 * table, the generated binding of catalog.v1.Catalog to the rpc_catalog_* handlers, and the
 * service context (clock, grace, size limit, rooms hook, compiled patterns). */
#include "catalog.h"
#include "confetti_proto_handlers.h"
#include "base/xmalloc.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

DB_MIGRATIONS_DECLARE(catalog_migrations);

static catalog_config config;

static const cfg_field catalog_fields[] = {
    CFG_FIELD("catalog", "secret_grace", CFG_DURATION, catalog_config, secret_grace, .def = "24h",
              .min = 0, .max = 30LL * 24 * 3600 * 1000,
              .help = "how long the previous app secret keeps working after RegenerateSecret"),
    CFG_FIELD("catalog", "idempotency_ttl", CFG_DURATION, catalog_config, idempotency_ttl,
              .def = "24h", .min = 60000, .max = 30LL * 24 * 3600 * 1000,
              .help = "how long an idempotency key of RegisterApp/RegenerateSecret is remembered "
                      "(older ones are forgotten: the same key then makes a new call)"),
    CFG_FIELD("catalog", "max_document", CFG_SIZE, catalog_config, max_document, .def = "256KiB",
              .min = 1024, .max = 4 << 20,
              .help = "largest manifest or settings document (protobuf-encoded bytes)"),
    CFG_FIELD("catalog", "pattern_steps", CFG_INT, catalog_config, pattern_steps, .def = "1000000",
              .min = 1000, .max = 1000000000,
              .help = "settingsSchema pattern matching work per validation (steps: 1 + characters "
                      "moved); past it the value is reported as not checkable"),
    CFG_FIELD("catalog", "pattern_cpu", CFG_DURATION, catalog_config, pattern_cpu, .def = "50ms",
              .min = 1, .max = 10000,
              .help = "settingsSchema pattern matching CPU time per validation (backstop to "
                      "pattern_steps)"),
    CFG_FIELD("catalog", "pattern_cache", CFG_SIZE, catalog_config, pattern_cache, .def = "8MiB",
              .min = 64 << 10, .max = 1LL << 30,
              .help = "memory for compiled settingsSchema patterns (least recently used go)"),
    CFG_FIELD("rooms", "urls", CFG_STRLIST, catalog_config, rooms_urls, .def = "",
              .help = "rooms service endpoints DeleteApp asks; empty = no rooms check"),
};

/* Maintenance (common/svc/maint.h): idempotency keys older than catalog.idempotency_ttl, which
 * no claim would honour any more (each claim also frees a few; this keeps an idle catalog
 * clean). */
static cf_code idempotency_job(db_conn *db, const void *arg, int64_t now, int batch, int64_t *n)
{
    const catalog_config *c = arg;
    /* $1: the cut, now less the TTL (the claims' own rule: rpc_apps.c expired_before) */
    return svc_maint_exec(db,
                          "DELETE FROM idempotency_keys WHERE (caller, method, key) IN (SELECT "
                          "caller, method, key FROM idempotency_keys WHERE created_at < "
                          "to_timestamp($1::bigint) ORDER BY created_at "
                          "LIMIT $2::int FOR UPDATE SKIP LOCKED)",
                          now - c->idempotency_ttl / 1000, batch, n);
}

static const svc_maint_job catalog_jobs[] = {
    {.name = "idempotency_keys",
     .interval = "10m",
     .batch = "1000",
     .help = "idempotency keys older than catalog.idempotency_ttl",
     .run = idempotency_job,
     .arg = &config},
};

static Catalog__V1__Catalog_Service catalog_binding = CATALOG__V1__CATALOG__INIT(rpc_catalog_);

/* The rooms hook while no rooms service is configured: nothing uses any app. */
static cf_code rooms_none_in_use(catalog_rooms *self, rpc_call *call, const char *app_id,
                                 bool *in_use)
{
    (void)self, (void)call, (void)app_id;
    *in_use = false;
    return CF_OK;
}

static void rooms_none_free(catalog_rooms *self)
{
    (void)self;
}

static catalog_rooms rooms_none = {rooms_none_in_use, rooms_none_free};

int64_t catalog_now(const catalog_ctx *ctx)
{
    return ctx->clock->now(ctx->clock);
}

static cf_code catalog_init(svc_runtime *rt, void **out, char *err, size_t errlen)
{
    catalog_rooms *rooms = &rooms_none;
    if (config.rooms_urls.n > 0) {
        char why[256];
        if (catalog_rooms_client_new(&config.rooms_urls, svc_ident(rt), &rooms, why, sizeof why) !=
            CF_OK) {
            snprintf(err, errlen, "rooms.urls: %s", why);
            return CF_INVALID_ARGUMENT;
        }
    }
    catalog_ctx *ctx = xcalloc(1, sizeof *ctx);
    ctx->clock = svc_clock(rt);
    ctx->secret_grace_s = config.secret_grace / 1000;
    ctx->idempotency_ttl_s = config.idempotency_ttl / 1000;
    ctx->max_document = config.max_document;
    ctx->rooms = rooms;
    ctx->patterns = pattern_cache_new(&(pattern_limits){.steps = config.pattern_steps,
                                                        .cpu_ms = config.pattern_cpu,
                                                        .cache_bytes = config.pattern_cache});
    *out = ctx;
    return CF_OK;
}

static void catalog_fini(svc_runtime *rt, void *p)
{
    (void)rt;
    catalog_ctx *ctx = p;
    if (!ctx)
        return;
    ctx->rooms->free(ctx->rooms);
    pattern_cache_free(ctx->patterns);
    free(ctx);
}

/* The definition is built once, on first use: the embedded migrations' count is a link-time
 * constant (generated file), not a compile-time one, so it cannot sit in a static initializer. */
static svc_def catalog_def;
static pthread_once_t catalog_def_once = PTHREAD_ONCE_INIT;

static void catalog_def_build(void)
{
    catalog_def = (svc_def){
        .name = "catalog",
        .schema = "catalog",
        .migrations = catalog_migrations,
        .nmigrations = catalog_migrations_count,
        .stmts = catalog_stmts,
        .nstmts = catalog_nstmts,
        .fields = catalog_fields,
        .nfields = sizeof catalog_fields / sizeof *catalog_fields,
        .config = &config,
        .service = &catalog_binding.base,
        .scopes = &catalog_scopes,
        .init = catalog_init,
        .fini = catalog_fini,
        .publishes = true,
        .maint_jobs = catalog_jobs,
        .nmaint_jobs = sizeof catalog_jobs / sizeof *catalog_jobs,
    };
}

const svc_def *catalog_service_def(void)
{
    pthread_once(&catalog_def_once, catalog_def_build);
    return &catalog_def;
}
