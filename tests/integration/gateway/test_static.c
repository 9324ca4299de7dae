/* test_static.c — the page at "/" over real HTTP (libcurl) from a real gateway with no backends:
 * the embedded files with their types, validators and security headers, HEAD like GET without a
 * body, 304 on a matching If-None-Match, 405 for other methods, unknown files left to the API's
 * 404; and the pure lookup (static.c) on the cases HTTP clients rarely send. */
#include "th.h"
#include "service.h"
#include "th_http.h"
#include "gateway.h"
#include "static.h"
#include "base/xmalloc.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static th_service *gwsvc;
static char base[64];

typedef th_http_resp resp;

static resp http(const char *method, const char *path, const char *header)
{
    char url[256];
    snprintf(url, sizeof url, "%s%s", base, path);
    const char *hs[] = {header, NULL};
    return th_http(&(th_http_req){
        .method = method, .url = url, .headers = header ? hs : NULL, .timeout_s = 10});
}

/* The value of header name in r (case-insensitive name), copied into out; "" when absent. */
static const char *header(const resp *r, const char *name, char *out, size_t len)
{
    th_http_header(r, name, out, len);
    return out;
}

static int setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_ALL);
    snprintf(base, sizeof base, "http://127.0.0.1:%d", th_free_port());
    char *env[] = {xasprintf("CONFETTI_HTTP_LISTEN=%s", base), NULL};
    gwsvc = th_service_start(gateway_service_def(),
                             &(th_service_opts){.dsn = "n/a", .env = (const char *const *)env});
    free(env[0]);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    th_service_stop(gwsvc);
    curl_global_cleanup();
    return 0;
}

static void test_each_file_with_its_type_and_headers(void **state)
{
    (void)state;
    static const struct {
        const char *path, *type, *contains;
    } files[] = {
        {"/", "text/html; charset=utf-8", "<!doctype html>"},
        {"/index.html", "text/html; charset=utf-8", "<script src=\"/app.js\""},
        {"/app.js", "text/javascript; charset=utf-8", "/v1/ws"},
        {"/style.css", "text/css; charset=utf-8", ":root"},
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        resp r = http("GET", files[i].path, NULL);
        char v[1024];
        if (r.status != 200)
            fail_msg("GET %s: %ld", files[i].path, r.status);
        assert_string_equal(header(&r, "Content-Type", v, sizeof v), files[i].type);
        assert_string_equal(header(&r, "Cache-Control", v, sizeof v), "no-cache");
        assert_string_equal(header(&r, "X-Content-Type-Options", v, sizeof v), "nosniff");
        assert_string_equal(header(&r, "Referrer-Policy", v, sizeof v), "no-referrer");
        header(&r, "Content-Security-Policy", v, sizeof v);
        assert_non_null(strstr(v, "default-src 'none'"));
        assert_non_null(strstr(v, "script-src 'self'"));
        assert_non_null(strstr(v, "connect-src 'self'"));
        assert_non_null(strstr(v, "frame-ancestors 'none'"));
        assert_null(strstr(v, "unsafe")); /* no inline script or eval, ever */
        header(&r, "ETag", v, sizeof v);
        assert_int_equal(strlen(v), 34); /* "<32 hex digits>" */
        assert_non_null(strstr(r.body, files[i].contains));
        th_http_free(&r);
    }
    /* "/" is index.html: same bytes, same validator */
    resp a = http("GET", "/", NULL), b = http("GET", "/index.html", NULL);
    char ea[64], eb[64];
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.body, b.body, a.len);
    assert_string_equal(header(&a, "ETag", ea, sizeof ea), header(&b, "ETag", eb, sizeof eb));
    th_http_free(&a);
    th_http_free(&b);
}

static void test_head_is_get_without_the_body(void **state)
{
    (void)state;
    resp g = http("GET", "/app.js", NULL), h = http("HEAD", "/app.js", NULL);
    char v[128], w[128];
    assert_int_equal(h.status, 200);
    assert_int_equal(h.len, 0);
    snprintf(w, sizeof w, "%zu", g.len);
    assert_string_equal(header(&h, "Content-Length", v, sizeof v), w);
    assert_string_equal(header(&h, "Content-Type", v, sizeof v), "text/javascript; charset=utf-8");
    assert_string_equal(header(&h, "ETag", v, sizeof v), header(&g, "ETag", w, sizeof w));
    th_http_free(&g);
    th_http_free(&h);
}

static void test_revalidation_answers_304(void **state)
{
    (void)state;
    resp g = http("GET", "/style.css", NULL);
    char etag[64], hdr[160], v[64];
    header(&g, "ETag", etag, sizeof etag);
    th_http_free(&g);
    snprintf(hdr, sizeof hdr, "If-None-Match: \"other\", W/%s", etag);
    resp r = http("GET", "/style.css", hdr);
    assert_int_equal(r.status, 304);
    assert_int_equal(r.len, 0);
    assert_string_equal(header(&r, "ETag", v, sizeof v), etag);
    th_http_free(&r);
    /* a stale validator gets the file */
    r = http("GET", "/style.css", "If-None-Match: \"0123\"");
    assert_int_equal(r.status, 200);
    assert_true(r.len > 0);
    th_http_free(&r);
}

static void test_only_get_and_head(void **state)
{
    (void)state;
    static const char *methods[] = {"POST", "PUT", "DELETE", "PATCH"};
    for (size_t i = 0; i < 4; i++) {
        resp r = http(methods[i], "/", NULL);
        char v[64];
        if (r.status != 405)
            fail_msg("%s /: %ld", methods[i], r.status);
        assert_string_equal(header(&r, "Allow", v, sizeof v), "GET, HEAD");
        assert_non_null(strstr(r.body, "\"status\":\"UNIMPLEMENTED\""));
        th_http_free(&r);
    }
}

static void test_unknown_files_are_the_apis_404(void **state)
{
    (void)state;
    static const char *paths[] = {"/nope.js",       "/index.htm", "/web/app.js",
                                  "/%2e%2e/app.js", "/app.js/",   "//app.js"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        resp r = http("GET", paths[i], NULL);
        if (r.status != 404)
            fail_msg("GET %s: %ld", paths[i], r.status);
        assert_non_null(strstr(r.body, "\"status\":\"NOT_FOUND\""));
        th_http_free(&r);
    }
    /* the API is still there behind the page */
    resp r = http("GET", "/healthz", NULL);
    assert_int_equal(r.status, 200);
    th_http_free(&r);
}

/* The pure part: types by extension, and If-None-Match lists as RFC 9110 writes them. */
static void test_lookup(void **state)
{
    (void)state;
    assert_string_equal(gw_static_type("/a.HTML"), "text/html; charset=utf-8");
    assert_string_equal(gw_static_type("/a.svg"), "image/svg+xml");
    assert_string_equal(gw_static_type("/noext"), "application/octet-stream");
    gw_static_answer a;
    assert_false(gw_static_lookup("GET", "/v1/rooms", NULL, &a));
    assert_true(gw_static_lookup("GET", "/", "*", &a));
    assert_int_equal(a.status, 304);
    assert_true(gw_static_lookup("GET", "/", " \"a\" ,\t\"b\" ", &a));
    assert_int_equal(a.status, 200);
    assert_true(gw_static_lookup("HEAD", "/app.js", "", &a));
    assert_int_equal(a.status, 200);
    assert_true(a.len > 0);
    assert_true(gw_static_lookup("OPTIONS", "/app.js", NULL, &a));
    assert_int_equal(a.status, 405);
    for (size_t i = 0; i < gw_web_files_count; i++) {
        char inm[64];
        snprintf(inm, sizeof inm, "%s", gw_web_files[i].etag);
        assert_true(gw_static_lookup("GET", gw_web_files[i].name, inm, &a));
        assert_int_equal(a.status, 304);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_file_with_its_type_and_headers),
        cmocka_unit_test(test_head_is_get_without_the_body),
        cmocka_unit_test(test_revalidation_answers_304),
        cmocka_unit_test(test_only_get_and_head),
        cmocka_unit_test(test_unknown_files_are_the_apis_404),
        cmocka_unit_test(test_lookup),
    };
    return cmocka_run_group_tests_name("gateway_static", tests, setup, teardown);
}
