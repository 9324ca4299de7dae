/* bench_auth.c — confetti-auth's hot paths, in-process on the private PostgreSQL
 * (CONFETTI_TEST_PG, exported by tools/bench/run.sh): verification of the access tokens it
 * issues (full check and verified-token cache hit), and Refresh through real RPC (one
 * conditional UPDATE + history INSERT, then an RS256 signature), with GetJwks (an RPC round trip
 * that touches no database and signs nothing) as the same-run baseline. Markdown table of p50
 * and p99. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "auth/v1/auth.pb-c.h"
#include "base/clock.h"
#include "base/xmalloc.h"
#include "pg.h"
#include "service.h"
#include "tokens.h"
#include "bench.h"

static void row(const char *what, int64_t *ns, size_t n)
{
    double p50, p99;
    th_percentiles(ns, n, &p50, &p99);
    printf("| %s | %zu | %.1f | %.1f |\n", what, n, p50, p99);
}

static cf_code invoke(rpc_client *c, const char *method, const ProtobufCMessage *in, rpc_ccall *cc)
{
    rpc_ccall_init(cc, NULL);
    const ProtobufCMethodDescriptor *m =
        protobuf_c_service_descriptor_get_method_by_name(&auth__v1__auth__descriptor, method);
    rpc_client_invoke(c, &auth__v1__auth__descriptor,
                      (unsigned)(m - auth__v1__auth__descriptor.methods), in, cc);
    return cc->code;
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 2;
    size_t n = secs >= 2 ? 2000 : 500;
    th_keys *keys = th_keys_new("RS256");
    char keyfile[128];
    snprintf(keyfile, sizeof keyfile, "/tmp/confetti-bench-auth-%d.pem", (int)getpid());
    FILE *f = fopen(keyfile, "w");
    fputs(th_keys_private_pem(keys), f);
    fclose(f);
    char *env[] = {xasprintf("CONFETTI_SIGNING_KEYS=%s=%s", th_keys_kid(keys), keyfile),
                   xasprintf("CONFETTI_CATALOG_URLS="), NULL};
    th_service *svc =
        th_service_start(auth_service_def(), &(th_service_opts){.keys = keys, .env = (void *)env});

    /* One user and one session whose refresh token we know. */
    PGconn *pg = th_pg_connect(svc->dsn);
    char rt[64] = "bench-refresh-token-0000000000000000000000", hash[65];
    auth_sha256_hex(rt, hash);
    char *sql = xasprintf(
        "INSERT INTO auth.users (id, provider, provider_id) VALUES ('cbenchuser', 'dev', 'b');"
        "INSERT INTO auth.sessions (id, user_id, refresh_token_hash, access_jti, access_iat, "
        "expires_at) VALUES ('cbenchsession', 'cbenchuser', '%s', 'j', 0, now() + interval '1 "
        "day')",
        hash);
    PQclear(PQexec(pg, sql));
    free(sql);
    PQfinish(pg);

    int64_t *ns = xmalloc(n * sizeof *ns);
    printf("### auth: token verification and Refresh (µs)\n\n| what | n | p50 | p99 |\n"
           "|---|---|---|---|\n");

    /* Access tokens as auth issues them, verified as every service does. */
    authn_verifier *v = th_verifier_new(keys, NULL);
    char **toks = xmalloc(n * sizeof *toks);
    for (size_t i = 0; i < n; i++)
        toks[i] = th_token(keys, "cbenchuser", 900, false);
    for (size_t i = 0; i < n; i++) {
        authn_identity id;
        const char *why;
        int64_t t0 = cf_mono_ns();
        authn_verify(v, toks[i], &id, &why);
        ns[i] = cf_mono_ns() - t0;
    }
    row("verify a new access token (RS256, full check)", ns, n);
    for (size_t i = 0; i < n; i++) {
        authn_identity id;
        const char *why;
        int64_t t0 = cf_mono_ns();
        authn_verify(v, toks[i], &id, &why);
        ns[i] = cf_mono_ns() - t0;
    }
    row("verify it again (verified-token cache)", ns, n);

    Auth__V1__GetJwksRequest jr = AUTH__V1__GET_JWKS_REQUEST__INIT;
    for (size_t i = 0; i < n; i++) {
        rpc_ccall cc;
        int64_t t0 = cf_mono_ns();
        invoke(svc->client, "GetJwks", &jr.base, &cc);
        ns[i] = cf_mono_ns() - t0;
        rpc_ccall_free(&cc);
    }
    row("baseline: GetJwks RPC (no database, no signing)", ns, n);

    Auth__V1__RefreshRequest rr = AUTH__V1__REFRESH_REQUEST__INIT;
    size_t ok = 0;
    for (size_t i = 0; i < n; i++) {
        rpc_ccall cc;
        rr.refresh_token = rt;
        int64_t t0 = cf_mono_ns();
        cf_code code = invoke(svc->client, "Refresh", &rr.base, &cc);
        ns[i] = cf_mono_ns() - t0;
        if (code == CF_OK) {
            snprintf(rt, sizeof rt, "%s",
                     ((const Auth__V1__TokenResponse *)cc.response)->refresh_token);
            ok++;
        }
        rpc_ccall_free(&cc);
    }
    row("Refresh RPC (rotate + RS256 sign)", ns, n);
    if (ok != n)
        fprintf(stderr, "bench_auth: %zu of %zu refreshes failed\n", n - ok, n);

    for (size_t i = 0; i < n; i++)
        free(toks[i]);
    free(toks);
    free(ns);
    authn_verifier_free(v);
    th_service_stop(svc);
    for (int i = 0; env[i]; i++)
        free(env[i]);
    unlink(keyfile);
    th_keys_free(keys);
    return ok == n ? 0 : 1;
}
