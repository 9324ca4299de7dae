/* test_pending_logins.c — issue 24 item 1 for auth's OpenID logins in flight (login_states, one
 * row per BeginLogin, which anyone may call): at most oauth.max_pending logins not yet expired
 * (BeginLogin past it: RESOURCE_EXHAUSTED, nothing stored), and expired ones are freed by the
 * next logins, not only by the periodic cleanup. confetti-auth through real RPC on the private
 * PostgreSQL, against the real OpenID provider of tests/oidc; an injected clock. */
#include "th.h"
#include "service.h"
#include "oidc.h"
#include "pg.h"
#include "auth.h"
#include "auth/v1/auth.pb-c.h"
#include "base/xmalloc.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { MAX_PENDING = 5 };

static int64_t test_now(const cf_clock *c)
{
    return cf_wall_ms() / 1000 + c->offset;
}
static cf_clock clk = {test_now, 0};

static th_keys *keys;
static th_service *svc;
static th_oidc oidc;
static char redirect[128], keyfile[128];

static cf_code begin_login(void)
{
    Auth__V1__BeginLoginRequest b = AUTH__V1__BEGIN_LOGIN_REQUEST__INIT;
    b.provider = "dev";
    rpc_ccall cc;
    rpc_ccall_init(&cc, NULL);
    rpc_client_invoke(svc->client, &auth__v1__auth__descriptor,
                      (unsigned)(protobuf_c_service_descriptor_get_method_by_name(
                                     &auth__v1__auth__descriptor, "BeginLogin") -
                                 auth__v1__auth__descriptor.methods),
                      &b.base, &cc);
    cf_code code = cc.code;
    if (code == CF_RESOURCE_EXHAUSTED)
        assert_non_null(strstr(cc.message, "too many logins in progress"));
    rpc_ccall_free(&cc);
    return code;
}

static long login_rows(void)
{
    PGconn *c = th_pg_connect(svc->dsn);
    PGresult *r = PQexec(c, "SELECT count(*) FROM auth.login_states");
    long n = PQresultStatus(r) == PGRES_TUPLES_OK ? atol(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    PQfinish(c);
    return n;
}

static int setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    keys = th_keys_new("RS256");
    snprintf(keyfile, sizeof keyfile, "/tmp/confetti-auth-pending-%d.pem", (int)getpid());
    FILE *f = fopen(keyfile, "w");
    fputs(th_keys_private_pem(keys), f);
    fclose(f);
    snprintf(redirect, sizeof redirect, "http://127.0.0.1:%d/v1/auth/dev/callback", th_free_port());
    th_oidc_start(&oidc, OIDC_DIR, redirect);
    char *env[] = {
        xasprintf("CONFETTI_SIGNING_KEYS=%s=%s", th_keys_kid(keys), keyfile),
        xasprintf("CONFETTI_PROVIDER_DEV_ENABLED=true"),
        xasprintf("CONFETTI_PROVIDER_DEV_ISSUER=%s", oidc.issuer),
        xasprintf("CONFETTI_PROVIDER_DEV_CLIENT_ID=confetti"),
        xasprintf("CONFETTI_PROVIDER_DEV_CLIENT_SECRET=confetti-dev-secret"),
        xasprintf("CONFETTI_PROVIDER_DEV_REDIRECT_URIS=%s", redirect),
        xasprintf("CONFETTI_CATALOG_URLS=ipc:///tmp/confetti-no-catalog-%d", (int)getpid()),
        xasprintf("CONFETTI_OAUTH_MAX_PENDING=%d", MAX_PENDING),
        xasprintf("CONFETTI_OAUTH_STATE_TTL=10m"),
        xasprintf("CONFETTI_MAINTENANCE_LOGIN_STATES_INTERVAL=0"), /* only the logins free rows */
        NULL,
    };
    svc = th_service_start(auth_service_def(),
                           &(th_service_opts){.keys = keys, .clock = &clk, .env = (void *)env});
    for (int i = 0; env[i]; i++)
        free(env[i]);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    th_service_stop(svc);
    th_oidc_stop(&oidc);
    unlink(keyfile);
    th_keys_free(keys);
    curl_global_cleanup();
    return 0;
}

/* A flood of BeginLogin: MAX_PENDING succeed, the rest are RESOURCE_EXHAUSTED (HTTP 429 through
 * the gateway) and store nothing; once those logins expired, new ones go through and the expired
 * rows are gone without any cleanup run, so the table never holds more than the bound. */
static void pending_logins_are_bounded_and_expired_ones_freed(void **state)
{
    (void)state;
    for (int round = 0; round < 3; round++) {
        int ok = 0, refused = 0;
        for (int i = 0; i < 4 * MAX_PENDING; i++) {
            cf_code c = begin_login();
            if (c == CF_OK)
                ok++;
            else if (c == CF_RESOURCE_EXHAUSTED)
                refused++;
            else
                fail_msg("BeginLogin: %s", cf_code_name(c));
            long rows = login_rows();
            if (rows > MAX_PENDING)
                fail_msg("round %d: %ld login rows, bound %d", round, rows, MAX_PENDING);
        }
        assert_int_equal(ok, MAX_PENDING);
        assert_int_equal(refused, 3 * MAX_PENDING);
        clk.offset += 11 * 60; /* past oauth.state_ttl: every login of this round expired */
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pending_logins_are_bounded_and_expired_ones_freed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
