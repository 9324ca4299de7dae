/* oidc.c — the test OpenID provider process. */
#include "oidc.h"
#include "th_proc.h"
#include "service.h"
#include "th.h"
#include "base/clock.h"
#include "base/xmalloc.h"

#include <curl/curl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static int accepts(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

static void start(th_oidc *o, const char *dir, const char *redirect_uris, bool auto_login)
{
    o->port = th_free_port();
    snprintf(o->issuer, sizeof o->issuer, "http://127.0.0.1:%d", o->port);
    char port[16], script[512];
    snprintf(port, sizeof port, "%d", o->port);
    snprintf(script, sizeof script, "%s/server.mjs", dir);
    pid_t parent = getpid();
    o->pid = fork();
    if (o->pid == 0) {
        th_child_init(parent);
        if (!freopen("/dev/null", "w", stdout))
            _exit(126);
        if (auto_login)
            execlp("node", "node", script, port, redirect_uris, "--auto", (char *)NULL);
        else
            execlp("node", "node", script, port, redirect_uris, (char *)NULL);
        _exit(127);
    }
    /* node loading oidc-provider took over 30 s beside a busy loop per core at load 35: the
     * bound is 180 s, and a provider that exits is reported at once */
    int64_t end = cf_mono_ns() + 180 * 1000000000LL;
    while (cf_mono_ns() < end) {
        if (accepts(o->port))
            return;
        int st;
        if (waitpid(o->pid, &st, WNOHANG) == o->pid) {
            o->pid = 0;
            fail_msg("the OpenID provider (%s) exited (status %d) before listening", script, st);
        }
        usleep(100000);
    }
    th_oidc_stop(o);
    fail_msg("the OpenID provider (%s) did not listen within 180 s", script);
}

void th_oidc_start(th_oidc *o, const char *dir, const char *redirect_uri)
{
    start(o, dir, redirect_uri, true);
}

void th_oidc_start_forms(th_oidc *o, const char *dir, const char *redirect_uris)
{
    start(o, dir, redirect_uris, false);
}

void th_oidc_stop(th_oidc *o)
{
    if (o->pid > 0) {
        kill(o->pid, SIGTERM);
        waitpid(o->pid, NULL, 0);
        o->pid = 0;
    }
}

/* GETs url without following redirects, keeping cookies in h; the absolute Location. */
static char *hop(CURL *h, const char *url)
{
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_COOKIEFILE, "");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, fwrite);
    FILE *sink = fopen("/dev/null", "w");
    curl_easy_setopt(h, CURLOPT_WRITEDATA, sink);
    CURLcode rc = curl_easy_perform(h);
    fclose(sink);
    if (rc != CURLE_OK)
        fail_msg("GET %s: %s", url, curl_easy_strerror(rc));
    char *loc = NULL;
    curl_easy_getinfo(h, CURLINFO_REDIRECT_URL, &loc);
    return loc ? xstrdup(loc) : NULL;
}

char *th_oidc_authorize(const char *url, const char *redirect, char *state_out, size_t cap)
{
    CURL *h = curl_easy_init();
    char *next = xstrdup(url);
    for (int i = 0; i < 10 && next && strncmp(next, redirect, strlen(redirect)) != 0; i++) {
        char *loc = hop(h, next);
        free(next);
        next = loc;
    }
    curl_easy_cleanup(h);
    if (!next)
        fail_msg("the provider did not redirect back");
    char *code = NULL;
    for (char *p = strchr(next, '?'); p; p = strchr(p + 1, '&')) {
        if (strncmp(p + 1, "code=", 5) == 0)
            code = xstrndup(p + 6, strcspn(p + 6, "&"));
        if (strncmp(p + 1, "state=", 6) == 0)
            snprintf(state_out, cap, "%.*s", (int)strcspn(p + 7, "&"), p + 7);
    }
    free(next);
    assert_non_null(code);
    return code;
}
