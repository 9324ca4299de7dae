/* test_bounds.c — issue 24 item 1, "everything a client can grow is bounded in bytes, and what
 * expires is freed", for the gateway's structures keyed by what clients send, end to end: a real
 * bus and rooms (in-process, private PostgreSQL), a gateway in-process following the bus, its
 * /metrics read from the registry it fills. docs/operations.md, "Limits and hostile input",
 * "Memory a client can grow".
 *
 * - the response cache (cache.h): one answer is held once however its request is spelled (the
 *   key is the transcoded request); an unknown parameter is 400 naming it; distinct requests
 *   never hold more than cache.max_bytes; expired entries are freed with nobody asking;
 * - rooms' search.max_ranked as a client sees it: `searchTruncated` in the JSON of ?q=;
 * - the rate-limit buckets (ratelimit.c): clients from 200 addresses never make more than
 *   ratelimit.max_clients buckets;
 * - the WebSocket feed's resume ring (feed.c): never more than ws.ring_bytes of events. */
#include "th.h"
#include "service.h"
#include "tokens.h"
#include "testsvc.h"
#include "gateway.h"
#include "rooms.h"
#include "bus.h"
#include "th_ident.h"
#include "base/clock.h"
#include "base/xmalloc.h"
#include "th_http.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern const ProtobufCServiceDescriptor *const confetti_services[];

enum {
    WAIT_MS = 15000,
    MAX_BYTES = 64 << 10,
    MAX_CLIENTS = 64,
    RING_BYTES = 64 << 10,
    SEARCH_MAX_RANKED = 5 /* rooms' search.max_ranked: the 20 rooms below are more */
};

static th_keys *keys;
static authn_verifier *verifier;
static th_service *bus, *rooms;
static metrics *mx;
static char bus_pub[128], bus_sub[128];
static gw_config cfg;
static cfg_schema schema;
static gw *g;
static int port;

/* ---------------------------------------------------------------- helpers */

static th_http_resp call(const char *method, const char *path, const char *token, const char *body,
                         const char *source)
{
    char url[1024];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    return th_http(&(th_http_req){
        .method = method, .url = url, .bearer = token, .body = body, .source = source});
}

static json_t *ok(const char *method, const char *path, const char *token, const char *body)
{
    th_http_resp r = call(method, path, token, body, NULL);
    if (r.status != 200)
        fail_msg("%s %s: %ld %s", method, path, r.status, r.body);
    json_t *j = json_loads(r.body, 0, NULL);
    th_http_free(&r);
    return j;
}

/* The value of metric `name` on /metrics (the registry the gateway fills); -1 when absent. */
static double metric(const char *name)
{
    char *text = metrics_render(mx, NULL);
    char pat[128];
    snprintf(pat, sizeof pat, "\n%s{", name);
    const char *p = strstr(text, pat);
    double v = p ? atof(strchr(p, '}') + 1) : -1;
    free(text);
    return v;
}

/* ---------------------------------------------------------------- setup */

static int setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_ALL);
    keys = th_keys_new("ES256");
    verifier = th_verifier_new(keys, NULL);
    th_ipc_url(bus_pub, sizeof bus_pub, "bounds-bus-pub");
    th_ipc_url(bus_sub, sizeof bus_sub, "bounds-bus-sub");
    char *benv[] = {xasprintf("CONFETTI_BUS_PUBLISHERS=%s", bus_pub),
                    xasprintf("CONFETTI_BUS_SUBSCRIBERS=%s", bus_sub), NULL};
    bus = th_service_start(bus_service_def(),
                           &(th_service_opts){.dsn = "n/a", .env = (const char *const *)benv});
    char *renv[] = {xasprintf("CONFETTI_EVENTS_BUS=%s", bus_pub),
                    xasprintf("CONFETTI_EVENTS_POLL=20ms"),
                    xasprintf("CONFETTI_SEARCH_MAX_RANKED=%d", SEARCH_MAX_RANKED), NULL};
    rooms = th_service_start(rooms_service_def(),
                             &(th_service_opts){.keys = keys, .env = (const char *const *)renv});
    for (int i = 0; benv[i]; i++)
        free(benv[i]);
    for (int i = 0; renv[i]; i++)
        free(renv[i]);

    mx = metrics_new("gateway");
    char e[11][256];
    snprintf(e[0], 256, "CONFETTI_HTTP_LISTEN=http://127.0.0.1:%d", th_free_port());
    snprintf(e[1], 256, "CONFETTI_SERVICES_ROOMS=%s", rooms->url);
    snprintf(e[2], 256, "CONFETTI_EVENTS_SUBSCRIBE=%s", bus_sub);
    snprintf(e[3], 256, "CONFETTI_AUTH_REVOKED_REFRESH=0");
    snprintf(e[4], 256, "CONFETTI_CACHE_MAX_BYTES=%d", MAX_BYTES);
    snprintf(e[5], 256, "CONFETTI_CACHE_TTL=2s");
    snprintf(e[6], 256, "CONFETTI_SERVICES_HEALTH_INTERVAL=100ms"); /* the sweep's period */
    snprintf(e[7], 256, "CONFETTI_RATELIMIT_MAX_CLIENTS=%d", MAX_CLIENTS);
    snprintf(e[8], 256, "CONFETTI_RATELIMIT_RATE=1000");
    snprintf(e[9], 256, "CONFETTI_RATELIMIT_BURST=100000");
    snprintf(e[10], 256, "CONFETTI_WS_RING_BYTES=%d", RING_BYTES);
    const char *env[12];
    for (int i = 0; i < 11; i++)
        env[i] = e[i];
    env[11] = NULL;
    static const ProtobufCServiceDescriptor *const *const registries[] = {confetti_services, NULL};
    schema = (cfg_schema){gw_config_fields, gw_config_nfields, &cfg};
    char err[512];
    if (cfg_load(&schema, 1, NULL, (char *const *)env, err, sizeof err) != CF_OK)
        fail_msg("%s", err);
    gw_backend_def b[4];
    gw_params p = {.cfg = &cfg,
                   .routes = gw_routes,
                   .nroutes = gw_nroutes,
                   .registries = registries,
                   .backends = b,
                   .nbackends = gw_default_backends(&cfg, b),
                   .verifier = verifier,
                   .ident = th_ident("gateway"), /* Replay answers it, the bus's events verify */
                   .metrics = mx};
    if (gw_new(&p, &g, err, sizeof err) != CF_OK || gw_start(g, err, sizeof err) != CF_OK)
        fail_msg("%s", err);
    port = gw_port(g);
    for (int i = 0; i < 600 && !gw_ready(g); i++)
        usleep(50000); /* rooms' first database probe */

    /* 20 public active rooms with long names: a listing of them is ~10 KB */
    char *org = th_token(keys, "bounds-org", 600, false);
    for (int i = 0; i < 20; i++) {
        char body[256], path[128];
        snprintf(body, sizeof body,
                 "{\"name\":\"Bounds room %02d with a name long enough to make the listing "
                 "weigh something %0120d\",\"isPublic\":true}",
                 i, i);
        json_t *j = ok("POST", "/v1/rooms", org, body);
        snprintf(path, sizeof path, "/v1/rooms/%s:activate",
                 json_string_value(json_object_get(j, "roomId")));
        json_decref(j);
        json_decref(ok("POST", path, org, NULL));
    }
    free(org);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    gw_free(g);
    cfg_free(&schema, 1);
    th_service_stop(rooms);
    th_service_free(bus);
    metrics_free(mx);
    authn_verifier_free(verifier);
    th_keys_free(keys);
    curl_global_cleanup();
    return 0;
}

/* Waits (at most WAIT_MS) until the cache holds nothing: what the last test stored expired and
 * the sweep freed it. */
static void wait_cache_empty(void)
{
    int64_t end = cf_mono_ns() + WAIT_MS * 1000000LL;
    while (metric("confetti_gateway_cache_entries") != 0 ||
           metric("confetti_gateway_cache_bytes") != 0) {
        if (cf_mono_ns() > end)
            fail_msg("the cache still holds %.0f entries, %.0f bytes after %d ms",
                     metric("confetti_gateway_cache_entries"),
                     metric("confetti_gateway_cache_bytes"), WAIT_MS);
        usleep(50000);
    }
}

/* ---------------------------------------------------------------- tests */

/* SPEC §6 GET /v1/rooms (anonymous): every spelling of one request — empty parameters, leading
 * zeros, another order, percent-encoding — is one cache entry, answered from it; the issue's
 * `pageSize=50&&&…` no longer stores the same answer under a new key per `&`. */
static void one_request_is_one_entry_however_spelled(void **state)
{
    (void)state;
    wait_cache_empty();
    static const char *const spellings[] = {
        "/v1/rooms?status=ACTIVE&pageSize=50",
        "/v1/rooms?status=ACTIVE&pageSize=50&&&",
        "/v1/rooms?&&&&&&&&&&&&&&&&&&&&&&&&&&&&status=ACTIVE&pageSize=50",
        "/v1/rooms?pageSize=050&status=ACTIVE",
        "/v1/rooms?pageSize=0050&status=%41CTIVE&",
        "/v1/rooms?pageSize=50&&status=ACTIVE&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&",
    };
    double h0 = metric("confetti_gateway_cache_hits_total");
    char *first = NULL;
    for (int round = 0; round < 5; round++)
        for (size_t i = 0; i < sizeof spellings / sizeof *spellings; i++) {
            th_http_resp r = call("GET", spellings[i], NULL, NULL, NULL);
            assert_int_equal(r.status, 200);
            if (!first)
                first = xstrdup(r.body);
            assert_string_equal(r.body, first); /* one answer */
            th_http_free(&r);
            double n = metric("confetti_gateway_cache_entries");
            if (n > 1)
                fail_msg("%s: %.0f cache entries for one request", spellings[i], n);
        }
    /* 30 requests, one key: at most one miss per TTL (2 s) or rooms event */
    assert_true(metric("confetti_gateway_cache_hits_total") - h0 >= 15);
    free(first);
}

/* ListRooms?q= (issue 18 item 4): q is a field of the request, so it is part of the cache key
 * (docs/gateway.md, "Response cache"): two searches are two entries and each gets its own
 * rooms, however often they alternate; two spellings of one q are one entry. */
static void search_text_is_part_of_the_key(void **state)
{
    (void)state;
    wait_cache_empty();
    static const char *const paths[] = {"/v1/rooms?q=room+07", "/v1/rooms?q=room%2012",
                                        "/v1/rooms?&q=room%2007&&"};
    static const char *const want[] = {"Bounds room 07 ", "Bounds room 12 ", "Bounds room 07 "};
    for (int round = 0; round < 4; round++)
        for (size_t i = 0; i < 3; i++) {
            json_t *j = ok("GET", paths[i], NULL, NULL);
            json_t *list = json_object_get(j, "rooms");
            if (json_array_size(list) != 1 ||
                !strstr(json_string_value(json_object_get(json_array_get(list, 0), "name")),
                        want[i]))
                fail_msg("%s (round %d): %s", paths[i], round, json_dumps(j, 0));
            json_decref(j);
        }
    double n = metric("confetti_gateway_cache_entries");
    /* ?q=room+07 and ?&q=room%2007&& are one request (an entry may have expired: TTL) */
    if (n > 2)
        fail_msg("%.0f cache entries for two searches", n);
}

/* search.max_ranked (docs/rooms.md, "Search"; docs/api.md, "Searching rooms"): a search
 * matching more rooms than rooms ranks says `searchTruncated: true` in its JSON and holds only
 * the best of the first max_ranked matches; a narrower search says false. */
static void a_truncated_search_says_so(void **state)
{
    (void)state;
    json_t *j = ok("GET", "/v1/rooms?q=bounds&pageSize=100", NULL, NULL);
    if (!json_is_true(json_object_get(j, "searchTruncated")) ||
        json_array_size(json_object_get(j, "rooms")) != SEARCH_MAX_RANKED)
        fail_msg("q=bounds (20 matches): %s", json_dumps(j, 0));
    json_decref(j);
    j = ok("GET", "/v1/rooms?q=room+07", NULL, NULL);
    if (!json_is_false(json_object_get(j, "searchTruncated")) ||
        json_array_size(json_object_get(j, "rooms")) != 1)
        fail_msg("q=room 07 (one match): %s", json_dumps(j, 0));
    json_decref(j);
}

/* An unknown query parameter is refused by the transcoder before the cache (400 naming it),
 * so it cannot make a new key either (docs/gateway.md, "Response cache"). */
static void an_unknown_parameter_is_refused_and_not_cached(void **state)
{
    (void)state;
    wait_cache_empty();
    for (int i = 0; i < 20; i++) {
        char path[128];
        snprintf(path, sizeof path, "/v1/rooms?status=ACTIVE&pageSize=50&junk%d=1", i);
        th_http_resp r = call("GET", path, NULL, NULL, NULL);
        assert_int_equal(r.status, 400);
        char want[32];
        snprintf(want, sizeof want, "\"junk%d\"", i);
        if (!strstr(r.body, want) || !strstr(r.body, "unknown field"))
            fail_msg("%s: %s", path, r.body);
        th_http_free(&r);
    }
    assert_true(metric("confetti_gateway_cache_entries") == 0);
}

/* cache.max_bytes: 100 distinct listings (pageSize 1…100, ~0.5–10 KB each, ~700 KB together)
 * never make the cache hold more than its 64 KiB; the least recently used go (counted). */
static void distinct_requests_stay_within_the_byte_budget(void **state)
{
    (void)state;
    wait_cache_empty();
    double ev0 = metric("confetti_gateway_cache_evictions_total");
    size_t answered = 0;
    for (int i = 1; i <= 100; i++) {
        char path[128];
        snprintf(path, sizeof path, "/v1/rooms?status=ACTIVE&pageSize=%d", i);
        th_http_resp r = call("GET", path, NULL, NULL, NULL);
        assert_int_equal(r.status, 200);
        answered += r.len;
        th_http_free(&r);
        double bytes = metric("confetti_gateway_cache_bytes");
        if (bytes > MAX_BYTES || bytes < 0)
            fail_msg("pageSize=%d: the cache holds %.0f bytes, budget %d", i, bytes, MAX_BYTES);
    }
    print_message("answers %zu bytes, cache %.0f bytes in %.0f entries, %.0f evictions\n", answered,
                  metric("confetti_gateway_cache_bytes"), metric("confetti_gateway_cache_entries"),
                  metric("confetti_gateway_cache_evictions_total") - ev0);
    assert_true(answered > 4 * MAX_BYTES); /* the test did go past the budget */
    assert_true(metric("confetti_gateway_cache_evictions_total") > ev0);
}

/* Expired entries are freed by the sweep with nobody asking for them again: the cache is empty
 * within the TTL (2 s) plus a sweep period, while no request comes. */
static void expired_entries_are_freed_unasked(void **state)
{
    (void)state;
    for (int i = 1; i <= 5; i++) {
        char path[128];
        snprintf(path, sizeof path, "/v1/rooms?status=ACTIVE&pageSize=%d", i);
        th_http_resp r = call("GET", path, NULL, NULL, NULL);
        assert_int_equal(r.status, 200);
        th_http_free(&r);
    }
    assert_true(metric("confetti_gateway_cache_entries") >= 1);
    double x0 = metric("confetti_gateway_cache_expired_total");
    wait_cache_empty();
    assert_true(metric("confetti_gateway_cache_expired_total") > x0);
}

/* ratelimit.max_clients: anonymous clients from 200 addresses (127.0.0.2 …) never make more
 * than 64 buckets, whose bytes are fixed; the table forgets the quietest (counted). */
static void rate_limit_buckets_stay_within_their_bound(void **state)
{
    (void)state;
    double bytes0 = metric("confetti_gateway_ratelimit_bytes");
    assert_true(bytes0 > 0 && bytes0 < 64 << 10);
    for (int i = 2; i < 202; i++) {
        char src[32];
        snprintf(src, sizeof src, "127.0.%d.%d", i / 250, 1 + i % 250);
        th_http_resp r = call("GET", "/v1/rooms?status=ACTIVE&pageSize=1", NULL, NULL, src);
        assert_int_equal(r.status, 200);
        th_http_free(&r);
        double n = metric("confetti_gateway_ratelimit_clients");
        if (n > MAX_CLIENTS || n < 1)
            fail_msg("%s: %.0f rate-limit buckets, bound %d", src, n, MAX_CLIENTS);
    }
    assert_true(metric("confetti_gateway_ratelimit_bytes") == bytes0);
    assert_true(metric("confetti_gateway_ratelimit_evictions_total") >= 200 - MAX_CLIENTS);
}

/* ws.ring_bytes: the recent events the WebSocket feed keeps for resumes (one frame each,
 * ~0.5 KB here) never hold more than 64 KiB (plus the event being added) however many changes
 * clients make: 300 renames are ~150 KB of events. */
static void the_resume_ring_stays_within_its_bytes(void **state)
{
    (void)state;
    char *org = th_token(keys, "bounds-ring", 600, false);
    json_t *j = ok("POST", "/v1/rooms", org, "{\"name\":\"Ring\",\"isPublic\":true}");
    char path[128];
    snprintf(path, sizeof path, "/v1/rooms/%s", json_string_value(json_object_get(j, "roomId")));
    json_decref(j);
    double max_seen = 0;
    for (int i = 0; i < 300; i++) {
        char body[256];
        snprintf(body, sizeof body, "{\"name\":\"Ring %03d %0180d\"}", i, i);
        json_decref(ok("PATCH", path, org, body));
        double b = metric("confetti_ws_ring_bytes");
        max_seen = b > max_seen ? b : max_seen;
        if (b > RING_BYTES + 4096)
            fail_msg("after %d renames the ring holds %.0f bytes, bound %d", i + 1, b, RING_BYTES);
    }
    /* the events reached the feed: the ring did fill up to its bound */
    int64_t end = cf_mono_ns() + WAIT_MS * 1000000LL;
    while (metric("confetti_ws_ring_bytes") < RING_BYTES / 2 && cf_mono_ns() < end)
        usleep(50000);
    print_message("ring %.0f bytes (max seen %.0f)\n", metric("confetti_ws_ring_bytes"), max_seen);
    assert_true(metric("confetti_ws_ring_bytes") >= RING_BYTES / 2);
    assert_true(metric("confetti_ws_ring_bytes") <= RING_BYTES + 4096);
    free(org);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_request_is_one_entry_however_spelled),
        cmocka_unit_test(an_unknown_parameter_is_refused_and_not_cached),
        cmocka_unit_test(search_text_is_part_of_the_key),
        cmocka_unit_test(a_truncated_search_says_so),
        cmocka_unit_test(distinct_requests_stay_within_the_byte_budget),
        cmocka_unit_test(expired_entries_are_freed_unasked),
        cmocka_unit_test(rate_limit_buckets_stay_within_their_bound),
        cmocka_unit_test(the_resume_ring_stays_within_its_bytes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
