/* oidc.c — the test OpenID provider process. */
#include "oidc.h"
#include "service.h"
#include "th.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
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
    o->pid = fork();
    if (o->pid == 0) {
        if (!freopen("/dev/null", "w", stdout))
            _exit(126);
        if (auto_login)
            execlp("node", "node", script, port, redirect_uris, "--auto", (char *)NULL);
        else
            execlp("node", "node", script, port, redirect_uris, (char *)NULL);
        _exit(127);
    }
    /* node starting oidc-provider takes seconds on a loaded machine: a generous 30 s */
    for (int i = 0; i < 300; i++) {
        if (accepts(o->port))
            return;
        usleep(100000);
    }
    th_oidc_stop(o);
    fail_msg("the OpenID provider (%s) did not start", script);
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
