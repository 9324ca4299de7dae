/* test_browser.c — the page at "/" end to end in a real headless Chromium. This process runs
 * the platform the way `make run` does, in-process on the private PostgreSQL (bus, auth,
 * rooms, draw, gateway with its WebSocket feed) plus the real OpenID provider with its own
 * login pages (tests/oidc/server.mjs without --auto), creates a public room with two
 * participants and a prize through the HTTP API, then runs page.mjs (playwright-core driving
 * /usr/bin/chromium) and asserts it passed. page.mjs signs alice in through the provider's
 * forms, opens the room, makes a join and draws through the API and waits for them on the page.
 * No Chromium, or one that cannot start, fails this test with the reason: it never skips. */
#include "th.h"
#include "service.h"
#include "th_http.h"
#include "th_proc.h"
#include "oidc.h"
#include "testsvc.h"
#include "tokens.h"
#include "auth.h"
#include "bus.h"
#include "draw.h"
#include "gateway.h"
#include "rooms.h"
#include "base/clock.h"
#include "base/xmalloc.h"

#include <curl/curl.h>
#include <ftw.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

static th_keys *keys;
static th_service *bus, *auth, *rooms, *draw, *gwsvc;
static char keyfile[128], base[64];
static th_oidc oidc; /* with its login and consent pages (th_oidc_start_forms) */

/* ---- HTTP ---- */

/* method path with token and JSON body; fails the test unless 200; returns the body (owned). */
static json_t *call(const char *method, const char *path, const char *token, const char *body)
{
    char url[512];
    snprintf(url, sizeof url, "%s%s", base, path);
    th_http_resp r = th_http(
        &(th_http_req){.method = method, .url = url, .bearer = token, .body = body ? body : "{}"});
    if (r.status != 200)
        fail_msg("%s %s: %ld %s", method, path, r.status, r.body);
    json_t *j = json_loads(r.body, 0, NULL);
    th_http_free(&r);
    assert_non_null(j);
    return j;
}

static char *field(json_t *j, const char *key)
{
    const char *v = json_string_value(json_object_get(j, key));
    if (!v)
        fail_msg("no \"%s\" in the answer", key);
    return xstrdup(v);
}

/* ---- the platform ---- */

static int setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_ALL);
    keys = th_keys_new("RS256");
    snprintf(keyfile, sizeof keyfile, "/tmp/confetti-browser-key-%d.pem", (int)getpid());
    FILE *f = fopen(keyfile, "w");
    assert_non_null(f);
    fputs(th_keys_private_pem(keys), f);
    fclose(f);
    snprintf(base, sizeof base, "http://127.0.0.1:%d", th_free_port());
    /* the page is its own redirect URI (docs/gateway.md, "The page at /"); the callback URI
     * stays registered for API clients */
    char redirects[192];
    snprintf(redirects, sizeof redirects, "%s/v1/auth/dev/callback,%s/", base, base);
    th_oidc_start_forms(&oidc, OIDC_DIR, redirects);

    char bus_pub[128], bus_sub[128];
    th_ipc_url(bus_pub, sizeof bus_pub, "browser-bus-pub");
    th_ipc_url(bus_sub, sizeof bus_sub, "browser-bus-sub");
    char *benv[] = {xasprintf("CONFETTI_BUS_PUBLISHERS=%s", bus_pub),
                    xasprintf("CONFETTI_BUS_SUBSCRIBERS=%s", bus_sub), NULL};
    bus = th_service_start(bus_service_def(),
                           &(th_service_opts){.dsn = "n/a", .env = (const char *const *)benv});
    char *aenv[] = {xasprintf("CONFETTI_EVENTS_BUS=%s", bus_pub),
                    xasprintf("CONFETTI_SIGNING_KEYS=%s=%s", th_keys_kid(keys), keyfile),
                    xasprintf("CONFETTI_PROVIDER_DEV_ENABLED=true"),
                    xasprintf("CONFETTI_PROVIDER_DEV_TRUSTED_EMAIL=true"),
                    xasprintf("CONFETTI_PROVIDER_DEV_ISSUER=%s", oidc.issuer),
                    xasprintf("CONFETTI_PROVIDER_DEV_CLIENT_ID=confetti"),
                    xasprintf("CONFETTI_PROVIDER_DEV_CLIENT_SECRET=confetti-dev-secret"),
                    xasprintf("CONFETTI_PROVIDER_DEV_REDIRECT_URIS=%s", redirects),
                    NULL};
    auth = th_service_start(auth_service_def(),
                            &(th_service_opts){.keys = keys, .env = (const char *const *)aenv});
    char *renv[] = {xasprintf("CONFETTI_EVENTS_BUS=%s", bus_pub), NULL};
    rooms = th_service_start(rooms_service_def(),
                             &(th_service_opts){.keys = keys, .env = (const char *const *)renv});
    char *denv[] = {xasprintf("CONFETTI_EVENTS_BUS=%s", bus_pub),
                    xasprintf("CONFETTI_ROOMS_URLS=%s", rooms->url), NULL};
    draw = th_service_start(draw_service_def(),
                            &(th_service_opts){.keys = keys, .env = (const char *const *)denv});
    char *genv[] = {xasprintf("CONFETTI_HTTP_LISTEN=%s", base),
                    xasprintf("CONFETTI_SERVICES_AUTH=%s", auth->url),
                    xasprintf("CONFETTI_SERVICES_ROOMS=%s", rooms->url),
                    xasprintf("CONFETTI_SERVICES_DRAW=%s", draw->url),
                    xasprintf("CONFETTI_EVENTS_SUBSCRIBE=%s", bus_sub),
                    xasprintf("CONFETTI_RATELIMIT_RATE=0"),
                    NULL};
    gwsvc = th_service_start(gateway_service_def(),
                             &(th_service_opts){.keys = keys, .env = (const char *const *)genv});
    char **envs[] = {benv, aenv, renv, denv, genv};
    for (size_t i = 0; i < sizeof envs / sizeof envs[0]; i++)
        for (size_t k = 0; envs[i][k]; k++)
            free(envs[i][k]);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    th_service_stop(gwsvc);
    th_service_stop(draw);
    th_service_stop(rooms);
    th_service_stop(auth);
    th_service_free(bus);
    th_oidc_stop(&oidc);
    unlink(keyfile);
    th_keys_free(keys);
    curl_global_cleanup();
    return 0;
}

/* Runs page.mjs with env; fails the test unless it exits 0 within timeout_s. */
static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    (void)remove(path); /* best effort: what cannot go stays in /tmp */
    return 0;
}

static void remove_tree(const char *dir)
{
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void run_page(char *const *env, int timeout_s)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        th_child_init(parent);
        char *argv[] = {"node", BROWSER_DIR "/page.mjs", NULL};
        execvpe("node", argv, env);
        _exit(127);
    }
    int status = 0;
    int64_t end = cf_mono_ns() + (int64_t)timeout_s * 1000000000;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (cf_mono_ns() > end) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            fail_msg("page.mjs did not finish within %d s", timeout_s);
        }
        usleep(50000);
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
        fail_msg("could not run node (Node.js is needed: tools/deps.sh installs it)");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("the browser test failed (page.mjs exit %d; its reason is printed above)",
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

static void test_the_page_shows_a_room_live(void **state)
{
    (void)state;
    char *org = th_token(keys, "org", 900, false), *bob = th_token(keys, "bob", 900, false),
         *carol = th_token(keys, "carol", 900, false), *dave = th_token(keys, "dave", 900, false);
    json_t *j = call("POST", "/v1/rooms", org,
                     "{\"name\":\"Browser party\",\"description\":\"a room for the browser "
                     "test\",\"isPublic\":true}");
    char *room = field(j, "roomId");
    json_decref(j);
    char path[256];
    snprintf(path, sizeof path, "/v1/rooms/%s:activate", room);
    json_decref(call("POST", path, org, NULL));
    snprintf(path, sizeof path, "/v1/rooms/%s/prizes", room);
    j = call("POST", path, org, "{\"name\":\"Golden ticket\",\"quantity\":3}");
    char *prize = field(j, "prizeId");
    json_decref(j);
    snprintf(path, sizeof path, "/v1/rooms/%s/participants", room);
    json_decref(call("POST", path, bob, "{\"role\":\"PARTICIPANT\"}"));
    json_decref(call("POST", path, carol, "{\"role\":\"PARTICIPANT\"}"));

    const char *chromium = getenv("CHROMIUM") ? getenv("CHROMIUM") : "/usr/bin/chromium";
    /* Chromium and node write under HOME (~/.pki, caches): a throwaway one in /tmp, so that the
     * suite writes nothing outside the checkout and the temporary directory */
    char home[] = "/tmp/confetti-browser-home-XXXXXX";
    assert_non_null(mkdtemp(home));
    char *env[] = {xasprintf("PATH=%s", getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin"),
                   xasprintf("HOME=%s", home),
                   xasprintf("BASE=%s", base),
                   xasprintf("ROOM_ID=%s", room),
                   xasprintf("PRIZE_ID=%s", prize),
                   xasprintf("ORG_TOKEN=%s", org),
                   xasprintf("DAVE_TOKEN=%s", dave),
                   xasprintf("CHROMIUM=%s", chromium),
                   xasprintf("SCREENSHOT=%s", getenv("SCREENSHOT") ? getenv("SCREENSHOT") : ""),
                   NULL};
    run_page(env, 400); /* a bound: ~20 s idle, far more on a starved machine */
    remove_tree(home);
    for (size_t i = 0; env[i]; i++)
        free(env[i]);
    free(room);
    free(prize);
    free(org);
    free(bob);
    free(carol);
    free(dave);
}

/* GET /v1/auth/dev/login?redirect_uri=<uri> without following: the status, Location in loc. */
static long begin_login(const char *redirect_uri, char loc[1024])
{
    CURL *h = curl_easy_init();
    char *esc = curl_easy_escape(h, redirect_uri, 0);
    curl_easy_cleanup(h);
    char url[512];
    snprintf(url, sizeof url, "%s/v1/auth/dev/login?redirect_uri=%s", base, esc);
    curl_free(esc);
    th_http_resp r = th_http(&(th_http_req){.method = "GET", .url = url});
    th_http_header(&r, "Location", loc, 1024);
    long status = r.status;
    th_http_free(&r);
    return status;
}

/* The page is its own redirect URI, so the code can only go where auth's provider config says:
 * the page's origin is accepted, any other page (another origin, another path) is refused
 * before the provider is ever involved. */
static void test_login_returns_only_to_registered_pages(void **state)
{
    (void)state;
    char loc[1024], page[96], enc[160];
    snprintf(page, sizeof page, "%s/", base);
    assert_int_equal(begin_login(page, loc), 302);
    CURL *h = curl_easy_init();
    char *esc = curl_easy_escape(h, page, 0);
    snprintf(enc, sizeof enc, "redirect_uri=%s", esc);
    curl_free(esc);
    curl_easy_cleanup(h);
    const char *at = strstr(loc, enc); /* the exact value: '&' or the end after it */
    if (!at || (at[strlen(enc)] != '&' && at[strlen(enc)] != '\0'))
        fail_msg("the provider is not sent back to the page: %s", loc);
    char other[2][128];
    snprintf(other[0], sizeof other[0], "%s/index.html", base); /* another page of the origin */
    snprintf(other[1], sizeof other[1], "%s", base);            /* not exactly the one */
    const char *refused[] = {"http://evil.example/", "http://127.0.0.1:1/", other[0], other[1]};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        if (begin_login(refused[i], loc) != 400)
            fail_msg("login accepted redirect_uri %s", refused[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_login_returns_only_to_registered_pages),
        cmocka_unit_test(test_the_page_shows_a_room_live),
    };
    return cmocka_run_group_tests_name("browser", tests, setup, teardown);
}
