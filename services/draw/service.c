/* service.c — confetti-draw's definition: schema and migrations, statements, its config table,
 * the generated binding of draw.v1.Draw to the rpc_draw_* handlers, and the service context
 * (the rooms client). */
#include "draw.h"
#include "confetti_proto_handlers.h"
#include "base/xmalloc.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

DB_MIGRATIONS_DECLARE(draw_migrations);

static draw_config config;

static const cfg_field draw_fields[] = {
    CFG_FIELD("rooms", "urls", CFG_STRLIST, draw_config, rooms_urls, .def = "tcp://127.0.0.1:7103",
              .help = "rooms service endpoints (permission checks, eligible participants)"),
    CFG_FIELD("rooms", "timeout", CFG_DURATION, draw_config, rooms_timeout, .def = "5s", .min = 10,
              .max = 60000,
              .help = "deadline of one call to rooms (capped by the caller's remaining time)"),
    CFG_FIELD("draw", "max_eligible", CFG_INT, draw_config, max_eligible, .def = "2000000",
              .min = 1, .max = 50000000,
              .help = "largest eligible list a draw accepts (memory per draw ~100 B each)"),
    CFG_FIELD("draw", "max_count", CFG_INT, draw_config, max_count, .def = "1000", .min = 1,
              .max = 100000, .help = "most winners one DrawWinners call may ask for"),
    CFG_FIELD("draw", "eligible_cache_ids", CFG_INT, draw_config, cache_ids, .def = "2000000",
              .min = 0, .max = 50000000,
              .help = "participants kept in all in the per-room eligible list cache (~100 B "
                      "each; 0 = no cache: every draw reads the list from rooms)"),
    CFG_FIELD("draw", "excluded_cache_ids", CFG_INT, draw_config, excl_ids, .def = "2000000",
              .min = 0, .max = 50000000,
              .help = "past winners kept in all in the per-prize exclusion cache (~40 B each; "
                      "0 = no cache: every draw reads all the prize's winners)"),
    CFG_FIELD("draw", "group_allocation", CFG_BOOL, draw_config, group, .def = "true",
              .help = "allocate concurrent draws of one prize (count 1, no idempotency key) "
                      "with one statement (docs/draw.md, \"Group allocation\")"),
};

static Draw__V1__Draw_Service draw_binding = DRAW__V1__DRAW__INIT(rpc_draw_);

static cf_code draw_init(svc_runtime *rt, void **out, char *err, size_t errlen)
{
    if (config.rooms_urls.n == 0) {
        snprintf(err, errlen, "rooms.urls: at least one rooms endpoint is needed");
        return CF_INVALID_ARGUMENT;
    }
    rpc_client_config cc = {
        .urls = (const char *const *)config.rooms_urls.items,
        .nurls = config.rooms_urls.n,
        .timeout_ms = (int)config.rooms_timeout,
        .ident = svc_ident(rt),
    };
    draw_ctx *ctx = xcalloc(1, sizeof *ctx);
    cf_code code = rpc_client_new(&cc, &ctx->rooms, err, errlen);
    if (code != CF_OK) {
        free(ctx);
        return code;
    }
    ctx->cache = draw_cache_new((size_t)config.cache_ids);
    ctx->excl = draw_excl_cache_new((size_t)config.excl_ids);
    ctx->group = config.group ? draw_group_new() : NULL;
    if (ctx->group && svc_metrics(rt))
        draw_group_metrics_register(ctx->group, svc_metrics(rt));
    ctx->max_eligible = config.max_eligible;
    ctx->max_count = (int32_t)config.max_count;
    *out = ctx;
    return CF_OK;
}

static void draw_fini(svc_runtime *rt, void *p)
{
    (void)rt;
    draw_ctx *ctx = p;
    if (!ctx)
        return;
    rpc_client_free(ctx->rooms);
    draw_cache_free(ctx->cache);
    draw_excl_cache_free(ctx->excl);
    draw_group_free(ctx->group);
    free(ctx);
}

/* Built once, on first use: the embedded migrations' count is a link-time constant. */
static svc_def draw_def;
static pthread_once_t draw_def_once = PTHREAD_ONCE_INIT;

static void draw_def_build(void)
{
    draw_def = (svc_def){
        .name = "draw",
        .schema = "draw",
        .migrations = draw_migrations,
        .nmigrations = draw_migrations_count,
        .stmts = draw_stmts,
        .nstmts = draw_nstmts,
        .fields = draw_fields,
        .nfields = sizeof draw_fields / sizeof *draw_fields,
        .config = &config,
        .service = &draw_binding.base,
        .scopes = &draw_scopes,
        .init = draw_init,
        .fini = draw_fini,
        .publishes = true,
        .workers_per_core = 16, /* a draw mostly waits: measured in docs/draw.md */
    };
}

const svc_def *draw_service_def(void)
{
    pthread_once(&draw_def_once, draw_def_build);
    return &draw_def;
}
