/* demo.c — confetti-demo: loads the demo world (demo_world.h) into a running platform through
 * its services' RPCs, as its people, with development tokens (tools/dev/devtoken.c's keys).
 * `make run` runs it once every service is up (tools/dev/run.sh; CONFETTI_DEMO=0 skips it).
 *
 *   confetti-demo --dev DIR --rooms URL --catalog URL --draw URL
 *
 * DIR holds signing.pem (confetti-devtoken init DIR); tokens carry CONFETTI_AUTH_ISSUER and
 * CONFETTI_AUTH_AUDIENCE (default "confetti", as confetti-devtoken's). When
 * CONFETTI_IDENT_KEY_FILE and CONFETTI_IDENT_NAME are set, calls are signed with that service
 * identity (docs/operations.md, "Service identity"). Exit 0: the world is in place, or the
 * platform has rooms of its own and was left alone (said on stderr); 1: a call failed. */
#include "demo_world.h"
#include "authn/sign.h"
#include "base/clock.h"
#include "base/xmalloc.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *buf = xmalloc(65536);
    size_t n = fread(buf, 1, 65535, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static char *mint(void *arg, const char *sub, bool admin)
{
    const char *roles[] = {"admin"};
    const char *iss = getenv("CONFETTI_AUTH_ISSUER"), *aud = getenv("CONFETTI_AUTH_AUDIENCE");
    authn_claims c = {.iss = iss ? iss : "confetti",
                      .aud = aud ? aud : "confetti",
                      .sub = sub,
                      .ttl_seconds = 600,
                      .roles = admin ? roles : NULL,
                      .nroles = admin ? 1 : 0};
    char *tok;
    if (authn_sign(arg, &c, &tok) != CF_OK)
        return NULL;
    char *bearer = xasprintf("Bearer %s", tok);
    free(tok);
    return bearer;
}

static rpc_client *client(const char *url, rpc_ident *ident)
{
    rpc_client *c;
    char err[256];
    rpc_client_config cfg = {.urls = &url, .nurls = 1, .timeout_ms = 30000, .ident = ident};
    if (rpc_client_new(&cfg, &c, err, sizeof err) != CF_OK) {
        fprintf(stderr, "confetti-demo: %s: %s\n", url, err);
        exit(1);
    }
    return c;
}

int main(int argc, char **argv)
{
    const char *dev = NULL, *rooms = NULL, *catalog = NULL, *draw = NULL;
    static const struct option opts[] = {{"dev", required_argument, NULL, 'd'},
                                         {"rooms", required_argument, NULL, 'r'},
                                         {"catalog", required_argument, NULL, 'c'},
                                         {"draw", required_argument, NULL, 'w'},
                                         {NULL, 0, NULL, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'd':
            dev = optarg;
            break;
        case 'r':
            rooms = optarg;
            break;
        case 'c':
            catalog = optarg;
            break;
        case 'w':
            draw = optarg;
            break;
        default:
            dev = NULL;
            optind = argc;
            break;
        }
    }
    if (!dev || !rooms || !catalog || !draw) {
        fprintf(stderr, "usage: confetti-demo --dev DIR --rooms URL --catalog URL --draw URL\n");
        return 2;
    }
    char *path = xasprintf("%s/signing.pem", dev), *pem = slurp(path);
    authn_signer *signer;
    if (!pem || authn_signer_new_pem(pem, "dev", "RS256", &signer) != CF_OK) {
        fprintf(stderr, "confetti-demo: no usable %s (confetti-devtoken init %s)\n", path, dev);
        return 1;
    }
    free(path);
    free(pem);
    rpc_ident *ident = NULL;
    const char *key = getenv("CONFETTI_IDENT_KEY_FILE"), *name = getenv("CONFETTI_IDENT_NAME");
    if (key && *key && name && *name) {
        char err[256];
        rpc_ident_config ic = {.name = name, .key_file = key};
        if (rpc_ident_new(&ic, &ident, err, sizeof err) != CF_OK) {
            fprintf(stderr, "confetti-demo: identity: %s\n", err);
            return 1;
        }
    }
    demo_env e = {.rooms = client(rooms, ident),
                  .catalog = client(catalog, ident),
                  .draw = client(draw, ident),
                  .mint = mint,
                  .mint_arg = signer,
                  .log = stderr};
    /* the services may still be starting: retry while they cannot be reached (60 s) */
    demo_outcome outcome;
    char err[512];
    cf_code code = CF_UNAVAILABLE;
    int64_t end = cf_mono_ns() + 60 * 1000000000LL;
    while ((code = demo_load(&e, &outcome, err, sizeof err)) == CF_UNAVAILABLE &&
           cf_mono_ns() < end)
        sleep(1);
    if (code != CF_OK)
        fprintf(stderr, "confetti-demo: %s\n", err);
    rpc_client_free(e.rooms);
    rpc_client_free(e.catalog);
    rpc_client_free(e.draw);
    rpc_ident_free(ident);
    authn_signer_free(signer);
    return code == CF_OK ? 0 : 1;
}
