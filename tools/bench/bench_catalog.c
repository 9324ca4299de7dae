/* bench_catalog.c — confetti-catalog through real RPC on the private PostgreSQL: GetApp and
 * ValidateSettings latency (p50, p99) and throughput at 1 and 32 concurrent callers, with
 * health.v1.Health/Check on the same server in the same run as the baseline (the cost of the
 * RPC layer alone). Usage: bench_catalog [seconds-per-cell]   (default 2) */
#include "th.h"
#include "pg.h"
#include "service.h"
#include "testsvc.h"
#include "bench.h"
#include "th_ident.h"
#include "catalog.h"
#include "pbjson/pbjson.h"
#include "health/v1/health.pb-c.h"
#include "base/clock.h"
#include "base/xmalloc.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct cell {
    const ProtobufCServiceDescriptor *svc;
    const char *method;
    const ProtobufCMessage *req;
} cell;

/* Calls that failed in any cell: a table of refusals is no measurement (the bench exits 1). */
static size_t failed_calls;

static void measure(rpc_client *client, const cell *c, const char *bearer, int callers, double secs)
{
    th_bench_call call = {.svc = c->svc, .method = c->method, .req = c->req, .bearer = bearer};
    th_bench_result r = th_bench_rpc(client, &call, callers, secs);
    printf("| %-34s | %7d | %9.0f | %9.0f | %10.0f | %6zu |\n", c->method, callers, r.p50_us,
           r.p99_us, r.per_s, r.errors);
    fflush(stdout);
    failed_calls += r.errors;
}

static Google__Protobuf__Struct *st(const char *json)
{
    json_t *j = json_loads(json, 0, NULL);
    Google__Protobuf__Struct *s = NULL;
    if (!j || pbjson_struct_from_json(j, NULL, &s, NULL) != CF_OK)
        abort();
    json_decref(j);
    return s;
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 2;
    if (secs <= 0)
        secs = 2;
    th_keys *keys = th_keys_new("RS256");
    /* the service as th_service_start runs it, but with the production worker count */
    char url[128], jwks[128];
    th_ipc_url(url, sizeof url, "benchcat");
    snprintf(jwks, sizeof jwks, "/tmp/confetti-bench-jwks-%d.json", (int)getpid());
    FILE *f = fopen(jwks, "w");
    fputs(th_keys_jwks(keys), f);
    fclose(f);
    char *dsn = th_pg_fresh_db("bench_catalog");
    char *env[] = {xasprintf("CONFETTI_DB_DSN=%s", dsn),
                   xasprintf("CONFETTI_RPC_LISTEN=%s", url),
                   xasprintf("CONFETTI_ADMIN_LISTEN=http://127.0.0.1:%d", th_free_port()),
                   xasprintf("CONFETTI_AUTH_JWKS_FILE=%s", jwks),
                   xasprintf("CONFETTI_AUTH_ISSUER=%s", TH_ISSUER),
                   xasprintf("CONFETTI_AUTH_AUDIENCE=%s", TH_AUDIENCE),
                   xasprintf("CONFETTI_LOG_LEVEL=warn"),
                   NULL,
                   NULL,
                   NULL,
                   NULL};
    /* its service identity, trusting the harness's client ("test"): without it every call is
     * refused (service not trusted) and the table measures refusals */
    size_t nenv = 7;
    th_ident_env("catalog", env, &nenv);
    svc_runtime *rt;
    char err[512];
    if (svc_start(catalog_service_def(), &(svc_options){.env = env}, &rt, err, sizeof err) !=
        CF_OK) {
        fprintf(stderr, "catalog did not start: %s\n", err);
        return 1;
    }
    for (char **e = env; *e; e++)
        free(*e);
    const char *u = url;
    th_service svc_ = {.client = th_client(&u, 1, 5000)}, *svc = &svc_;
    char *tok = th_token(keys, "bench-user", 3600, false);
    char *bearer = xasprintf("Bearer %s", tok);

    /* one app with a realistic settings schema */
    const char *manifest =
        "{\"name\":\"Wheel\",\"version\":\"1.0.0\",\"permissions\":[\"rooms:read\"],"
        "\"settingsSchema\":{\"type\":\"object\",\"required\":[\"maxWinners\"],"
        "\"additionalProperties\":false,\"properties\":{"
        "\"maxWinners\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":100},"
        "\"theme\":{\"enum\":[\"dark\",\"light\"]},"
        "\"title\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":80,\"pattern\":\"^[^<>]*$\"},"
        "\"tiers\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"required\":[\"label\"],"
        "\"properties\":{\"label\":{\"type\":\"string\"},\"weight\":{\"type\":\"number\"}}}}}}}";
    Catalog__V1__RegisterAppRequest rr = CATALOG__V1__REGISTER_APP_REQUEST__INIT;
    rr.name = "Bench app";
    rr.manifest = st(manifest);
    rpc_ccall cc;
    rpc_ccall_init(&cc, NULL);
    rpc_ccall_md(&cc, "authorization", bearer);
    catalog__v1__catalog__register_app(
        rpc_client_service(svc->client, &catalog__v1__catalog__descriptor), &rr, NULL, &cc);
    if (cc.code != CF_OK) {
        fprintf(stderr, "RegisterApp: %s %s\n", cf_code_name(cc.code), cc.message);
        return 1;
    }
    char *app_id = xstrdup(((Catalog__V1__RegisterAppResponse *)cc.response)->app->app_id);
    rpc_ccall_free(&cc);

    Health__V1__CheckRequest hreq = HEALTH__V1__CHECK_REQUEST__INIT;
    Catalog__V1__GetAppRequest greq = CATALOG__V1__GET_APP_REQUEST__INIT;
    greq.app_id = app_id;
    Catalog__V1__ValidateSettingsRequest vreq = CATALOG__V1__VALIDATE_SETTINGS_REQUEST__INIT;
    vreq.app_id = app_id;
    vreq.settings = st("{\"maxWinners\":5,\"theme\":\"dark\",\"title\":\"Summer draw\","
                       "\"tiers\":[{\"label\":\"gold\",\"weight\":1},{\"label\":\"silver\"}]}");
    const cell cells[] = {
        {&health__v1__health__descriptor, "Check", &hreq.base},
        {&catalog__v1__catalog__descriptor, "GetApp", &greq.base},
        {&catalog__v1__catalog__descriptor, "ValidateSettings", &vreq.base},
    };
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    double load[3] = {0};
    getloadavg(load, 3);
    printf("## catalog (real RPC over ipc, PostgreSQL, RS256 tokens; %ld cores, 2 x cores workers, "
           "load %.2f, %.0f s per cell)\n\n",
           cores, load[0], secs);
    printf("| method                             | callers | p50 (µs)  | p99 (µs)  | calls/s    | "
           "errors |\n");
    printf("|------------------------------------|---------|-----------|-----------|------------|"
           "--------|\n");
    int conc[] = {1, 32};
    for (size_t i = 0; i < sizeof cells / sizeof *cells; i++)
        for (size_t j = 0; j < 2; j++)
            measure(svc->client, &cells[i], bearer, conc[j], secs);
    printf("\nCheck is the baseline: the same server, envelope, dispatch and token verification, "
           "no handler work.\n");

    protobuf_c_message_free_unpacked(&rr.manifest->base, NULL);
    protobuf_c_message_free_unpacked(&vreq.settings->base, NULL);
    free(app_id);
    free(bearer);
    free(tok);
    rpc_client_free(svc->client);
    svc_stop(rt);
    th_pg_drop_db(dsn);
    free(dsn);
    unlink(jwks);
    th_keys_free(keys);
    if (failed_calls) {
        fprintf(stderr, "%s: %zu calls failed: the table is not a measurement\n", argv[0],
                failed_calls);
        return 1;
    }
    return 0;
}
