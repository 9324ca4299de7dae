/* service.c — confetti-rooms' definition: schema and migrations, statements, its config table,
 * the generated binding of rooms.v1.Rooms to the rpc_rooms_* handlers, and the service context
 * (the catalog client). */
#include "rooms.h"
#include "consumer.h"
#include "base/xmalloc.h"
#include "confetti_proto_handlers.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

DB_MIGRATIONS_DECLARE(rooms_migrations);

static rooms_config config;

static const cfg_field rooms_fields[] = {
    CFG_FIELD("catalog", "urls", CFG_STRLIST, rooms_config, catalog_urls,
              .def = "tcp://127.0.0.1:7101",
              .help = "catalog service endpoints (apps, manifest versions, settings validation)"),
    CFG_FIELD("catalog", "timeout", CFG_DURATION, rooms_config, catalog_timeout, .def = "2s",
              .min = 10, .max = 60000,
              .help = "deadline of one catalog call (capped by what the caller has left)"),
    CFG_FIELD("rooms", "max_document", CFG_SIZE, rooms_config, max_document, .def = "64KiB",
              .min = 1024, .max = 4 << 20,
              .help = "largest appSettings or participant metadata (encoded bytes)"),
    CFG_FIELD("events", "subscribe", CFG_STR, rooms_config, events_subscribe,
              .def = "tcp://127.0.0.1:7111",
              .help = "event broker, subscriber side (user.deleted from auth); empty = none"),
    CFG_FIELD("auth", "urls", CFG_STRLIST, rooms_config, auth_urls, .def = "tcp://127.0.0.1:7102",
              .help = "auth service endpoints (Replay of its events)"),
    CFG_FIELD("rooms", "archive_after", CFG_DURATION, rooms_config, archive_after, .def = "30d",
              .min = 60000, .max = 3650LL * 86400000,
              .help = "a room COMPLETED or CANCELLED (unchanged) this long is archived: hidden "
                      "but from its members (ListRooms archived=true), read-only"),
    CFG_FIELD("search", "max_ranked", CFG_INT, rooms_config, search_max_ranked, .def = "1000",
              .min = 1, .max = 100000,
              .help = "ListRooms?q= ranks at most this many visible matches (the first the index "
                      "yields); past it the answer says searchTruncated"),
};

static const svc_maint_job rooms_jobs[] = {
    {.name = "archive",
     .interval = "1h",
     .batch = "500",
     .help = "rooms finished longer than rooms.archive_after, archived",
     .run = rooms_archive_batch,
     .arg = &config.archive_after},
};

static Rooms__V1__Rooms_Service rooms_binding = ROOMS__V1__ROOMS__INIT(rpc_rooms_);

static cf_code rooms_init(svc_runtime *rt, void **out, char *err, size_t errlen)
{
    if (config.catalog_urls.n == 0) {
        snprintf(err, errlen, "catalog.urls: at least one address is needed");
        return CF_INVALID_ARGUMENT;
    }
    rooms_ctx *ctx = xcalloc(1, sizeof *ctx);
    ctx->catalog_timeout_ms = (int)config.catalog_timeout;
    ctx->max_document = config.max_document;
    ctx->search_max_ranked = (int)config.search_max_ranked;
    ctx->statement_timeout_ms = svc_config(rt)->db_statement_timeout;
    /* nng dials in the background: a catalog that is down now is fine, calls answer
     * UNAVAILABLE until it is up */
    rpc_client_config cc = {.urls = (const char *const *)config.catalog_urls.items,
                            .nurls = config.catalog_urls.n,
                            .timeout_ms = ctx->catalog_timeout_ms,
                            .ident = svc_ident(rt)};
    cf_code code = rpc_client_new(&cc, &ctx->catalog, err, errlen);
    if (code != CF_OK) {
        free(ctx);
        return code;
    }
    /* events.subscribe empty: no consumer (user.deleted then has no effect here) */
    if (*config.events_subscribe)
        code = rooms_consumer_start(svc_config(rt)->db_dsn, svc_db_limits(rt),
                                    svc_config(rt)->db_start_wait, config.events_subscribe,
                                    &config.auth_urls, svc_ident(rt), &ctx->consumer, err, errlen);
    if (code != CF_OK) {
        rpc_client_free(ctx->catalog);
        free(ctx);
        return code;
    }
    *out = ctx;
    return CF_OK;
}

static void rooms_fini(svc_runtime *rt, void *p)
{
    (void)rt;
    rooms_ctx *ctx = p;
    if (!ctx)
        return;
    rooms_consumer_stop(ctx->consumer);
    rpc_client_free(ctx->catalog);
    free(ctx);
}

/* Built once, on first use: the embedded migrations' count is a link-time constant. */
static svc_def rooms_def;
static pthread_once_t rooms_def_once = PTHREAD_ONCE_INIT;

static void rooms_def_build(void)
{
    rooms_def = (svc_def){
        .name = "rooms",
        .schema = "rooms",
        .migrations = rooms_migrations,
        .nmigrations = rooms_migrations_count,
        .stmts = rooms_stmts,
        .nstmts = rooms_nstmts,
        .fields = rooms_fields,
        .nfields = sizeof rooms_fields / sizeof *rooms_fields,
        .config = &config,
        .service = &rooms_binding.base,
        .scopes = &rooms_scopes,
        .init = rooms_init,
        .fini = rooms_fini,
        .publishes = true,
        .maint_jobs = rooms_jobs,
        .nmaint_jobs = sizeof rooms_jobs / sizeof *rooms_jobs,
    };
}

const svc_def *rooms_service_def(void)
{
    pthread_once(&rooms_def_once, rooms_def_build);
    return &rooms_def;
}
