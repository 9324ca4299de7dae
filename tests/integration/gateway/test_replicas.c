/* test_replicas.c — the gateway in front of a service with several replicas, one of which is not
 * serving (issue 13 item 8: a stress run of the rehearsal saw 20 requests answered 503 while
 * one rooms replica of three restarted). A replica that is starting answers health checks
 * NOT_SERVING (its readiness flag is not up yet) while it already serves calls; the gateway
 * used to take one such answer for the whole service and fail every call of it fast ("service
 * unavailable", 503) until its next check. Here the second "replica" is a real nng hop to the
 * same rooms (hop.c) that answers health checks NOT_SERVING and forwards every other call. A
 * replica's NOT_SERVING no longer makes the gateway fail anything fast (docs/gateway.md,
 * "Operations"); only a service with no replica reachable is down. */
#include "th.h"
#include "testsvc.h"
#include "tokens.h"
#include "service.h"
#include "gateway.h"
#include "gw_start.h"
#include "hop.h"
#include "th_http.h"
#include "rooms.h"
#include "base/xmalloc.h"
#include "base/clock.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static th_keys *keys;
static th_service *rooms;

/* The status of GET path on the gateway at port. */
static long get(int port, const char *path)
{
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    th_http_resp r = th_http(&(th_http_req){.method = "GET", .url = url, .timeout_s = 10});
    long st = r.status;
    th_http_free(&r);
    return st;
}

/* A gateway whose rooms are the given URLs (comma-separated), health checked every 50 ms. */
static gw *start(const char *rooms_urls, gw_config *cfg, cfg_schema *schema,
                 authn_verifier *verifier)
{
    char e[5][600];
    snprintf(e[0], sizeof e[0], "CONFETTI_HTTP_LISTEN=http://127.0.0.1:%d", th_free_port());
    snprintf(e[1], sizeof e[1], "CONFETTI_SERVICES_ROOMS=%s", rooms_urls);
    snprintf(e[2], sizeof e[2], "CONFETTI_SERVICES_HEALTH_INTERVAL=50ms");
    snprintf(e[3], sizeof e[3], "CONFETTI_RATELIMIT_RATE=0");
    snprintf(e[4], sizeof e[4], "CONFETTI_AUTH_REVOKED_REFRESH=0");
    char *env[] = {e[0], e[1], e[2], e[3], e[4], NULL};
    return gw_test_start(env, cfg, schema, verifier, NULL);
}

static void one_replica_not_serving_fails_nothing(void **state)
{
    (void)state;
    hop *h = hop_new(rooms->url);
    assert_non_null(h);
    char urls[600];
    snprintf(urls, sizeof urls, "%s,%s", rooms->url, hop_url(h));
    gw_config cfg;
    cfg_schema schema;
    authn_verifier *verifier = th_verifier_new(keys, NULL);
    gw *g = start(urls, &cfg, &schema, verifier);
    int port = gw_port(g);

    /* the hop is a replica that starts: NOT_SERVING to health checks, calls served */
    hop_set_not_serving(h, true);
    int n = 0, unavailable = 0, other = 0;
    int64_t end = cf_mono_ns() + 3000 * 1000000LL;
    while ((cf_mono_ns() < end || hop_not_serving_answers(h) < 10) && n < 20000) {
        long st = get(port, "/v1/rooms?pageSize=1");
        n++;
        if (st == 503)
            unavailable++;
        else if (st != 200)
            other++;
    }
    printf("%d listings, %d answered 503, %d other; the not-serving replica answered %d health "
           "checks\n",
           n, unavailable, other, hop_not_serving_answers(h));
    assert_true(hop_not_serving_answers(h) >= 10); /* the checks did reach it */
    assert_int_equal(unavailable, 0);
    assert_int_equal(other, 0);
    assert_true(gw_ready(g)); /* one replica serving: the service is */
    gw_free(g);
    cfg_free(&schema, 1);
    authn_verifier_free(verifier);
    hop_free(h);
}

/* The other sides of the same rule. Every replica NOT_SERVING: the gateway is not ready
 * (Kubernetes sends it nothing), yet a call that reaches it still goes to the service, whose own
 * answer counts (here the hop forwards it: 200). No replica reachable at all: the service is
 * down, and its calls are answered 503 at once instead of after their deadlines. */
static void none_serving_not_ready_none_reachable_fails_fast(void **state)
{
    (void)state;
    hop *h = hop_new(rooms->url);
    assert_non_null(h);
    gw_config cfg;
    cfg_schema schema;
    authn_verifier *verifier = th_verifier_new(keys, NULL);
    gw *g = start(hop_url(h), &cfg, &schema, verifier);
    int port = gw_port(g);
    assert_int_equal(get(port, "/v1/rooms?pageSize=1"), 200);

    hop_set_not_serving(h, true);
    for (int i = 0; i < 500 && gw_ready(g); i++)
        usleep(20000);
    assert_false(gw_ready(g));
    assert_int_equal(get(port, "/v1/rooms?pageSize=1"), 200);
    hop_set_not_serving(h, false); /* serving again: so is the gateway */
    for (int i = 0; i < 500 && !gw_ready(g); i++)
        usleep(20000);
    assert_true(gw_ready(g));

    hop_free(h); /* the only replica gone */
    long st = 0;
    for (int i = 0; i < 500 && (st = get(port, "/v1/rooms?pageSize=1")) != 503; i++)
        usleep(20000);
    assert_int_equal(st, 503);
    int64_t t0 = cf_mono_ns();
    assert_int_equal(get(port, "/v1/rooms?pageSize=1"), 503);
    assert_true(cf_mono_ns() - t0 < 2000 * 1000000LL); /* at once: not after a deadline */
    assert_false(gw_ready(g));
    gw_free(g);
    cfg_free(&schema, 1);
    authn_verifier_free(verifier);
}

static int setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_ALL);
    keys = th_keys_new("ES256");
    rooms = th_service_start(rooms_service_def(), &(th_service_opts){.keys = keys});
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    th_service_stop(rooms);
    th_keys_free(keys);
    curl_global_cleanup();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_replica_not_serving_fails_nothing),
        cmocka_unit_test(none_serving_not_ready_none_reachable_fails_fast),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
