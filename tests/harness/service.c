/* service.c — in-process services for integration tests. */
#include "service.h"
#include "th.h"
#include "th_ident.h"
#include "pg.h"
#include "testsvc.h"
#include "base/xmalloc.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int th_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0)
        fail_msg("bind: no free port");
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

bool th_port_open(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

th_service *th_service_start(const svc_def *def, const th_service_opts *opts)
{
    static const th_service_opts none = {0};
    if (!opts)
        opts = &none;
    th_service *s = xcalloc(1, sizeof *s);
    if (opts->dsn) {
        s->dsn = xstrdup(opts->dsn);
    } else {
        s->dsn = th_pg_fresh_db(def->name);
        s->own_db = true;
    }
    if (opts->url)
        snprintf(s->url, sizeof s->url, "%s", opts->url);
    else
        th_ipc_url(s->url, sizeof s->url, def->name);
    s->admin_port = th_free_port();

    /* Environment: ours first (the process environment is not consulted). */
    char *env[64];
    size_t n = 0;
    env[n++] = xasprintf("CONFETTI_RPC_LISTEN=%s", s->url);
    env[n++] = xasprintf("CONFETTI_RPC_WORKERS=4");
    env[n++] = xasprintf("CONFETTI_ADMIN_LISTEN=http://127.0.0.1:%d", s->admin_port);
    env[n++] = xasprintf("CONFETTI_DB_DSN=%s", s->dsn);
    env[n++] = xasprintf("CONFETTI_LOG_LEVEL=%s", th_env("CONFETTI_TEST_LOG", "warn"));
    if (opts->keys) {
        snprintf(s->jwks_path, sizeof s->jwks_path, "/tmp/confetti-jwks-%d-%s.json", (int)getpid(),
                 def->name);
        FILE *f = fopen(s->jwks_path, "w");
        fputs(th_keys_jwks(opts->keys), f);
        fclose(f);
        env[n++] = xasprintf("CONFETTI_AUTH_JWKS_FILE=%s", s->jwks_path);
        authn_config c = th_keys_config(opts->keys);
        env[n++] = xasprintf("CONFETTI_AUTH_ISSUER=%s", c.issuer);
        env[n++] = xasprintf("CONFETTI_AUTH_AUDIENCE=%s", c.audience);
    }
    th_ident_env(def->name, env, &n); /* before the test's own: those win */
    for (size_t i = 0; opts->env && opts->env[i] && n < 62; i++)
        env[n++] = xstrdup(opts->env[i]);
    env[n] = NULL;

    svc_options so = {.env = env, .clock = opts->clock};
    char err[1024];
    cf_code code = svc_start(def, &so, &s->rt, err, sizeof err);
    for (size_t i = 0; i < n; i++)
        free(env[i]);
    if (code != CF_OK)
        fail_msg("%s did not start: %s", def->name, err);
    const char *u = s->url;
    s->client = th_client(&u, 1, 5000);
    return s;
}

void th_service_halt(th_service *s)
{
    if (!s || !s->rt)
        return;
    rpc_client_free(s->client);
    s->client = NULL;
    svc_stop(s->rt);
    s->rt = NULL;
}

void th_service_free(th_service *s)
{
    if (!s)
        return;
    th_service_halt(s);
    if (*s->jwks_path)
        unlink(s->jwks_path);
    free(s->dsn);
    free(s);
}

void th_service_stop(th_service *s)
{
    if (!s)
        return;
    th_service_halt(s);
    if (s->own_db)
        th_pg_drop_db(s->dsn);
    th_service_free(s);
}
