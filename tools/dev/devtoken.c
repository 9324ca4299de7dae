/* devtoken.c — confetti-devtoken: development-only access tokens for a local platform, until
 * (and besides) logging in through confetti-auth.
 *   confetti-devtoken init DIR              make DIR/signing.pem (RS256) and DIR/jwks.json
 *   confetti-devtoken mint DIR SUB [--admin] [--ttl SECONDS]
 * `make run` runs `init var/dev` and points every service's auth.jwks_file at var/dev/jwks.json,
 * so tokens minted here verify everywhere. Never deploy var/dev: anyone holding signing.pem can
 * be anyone. */
#include "authn/sign.h"
#include "base/xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

static int spill(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(text, f);
    fclose(f);
    return chmod(path, mode);
}

static int init(const char *dir)
{
    char key[512], jwks[512];
    snprintf(key, sizeof key, "%s/signing.pem", dir);
    snprintf(jwks, sizeof jwks, "%s/jwks.json", dir);
    mkdir(dir, 0700);
    char *pem = slurp(key);
    if (!pem) {
        if (authn_generate_key("RS256", &pem) != CF_OK || spill(key, pem, 0600) != 0) {
            fprintf(stderr, "cannot write %s\n", key);
            return 1;
        }
    }
    authn_signer *s;
    char *doc = NULL;
    if (authn_signer_new_pem(pem, "dev", "RS256", &s) != CF_OK ||
        authn_signer_jwks(s, &doc) != CF_OK || spill(jwks, doc, 0644) != 0) {
        fprintf(stderr, "cannot make %s\n", jwks);
        return 1;
    }
    free(doc);
    authn_signer_free(s);
    free(pem);
    return 0;
}

static int mint(const char *dir, const char *sub, int argc, char **argv)
{
    bool admin = false;
    long ttl = 3600;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--admin") == 0)
            admin = true;
        else if (strcmp(argv[i], "--ttl") == 0 && i + 1 < argc)
            ttl = atol(argv[++i]);
    }
    char key[512];
    snprintf(key, sizeof key, "%s/signing.pem", dir);
    char *pem = slurp(key);
    authn_signer *s;
    if (!pem || authn_signer_new_pem(pem, "dev", "RS256", &s) != CF_OK) {
        fprintf(stderr, "no usable %s (run: confetti-devtoken init %s)\n", key, dir);
        return 1;
    }
    const char *roles[] = {"admin"};
    authn_claims c = {
        .iss = getenv("CONFETTI_AUTH_ISSUER") ? getenv("CONFETTI_AUTH_ISSUER") : "confetti",
        .aud = getenv("CONFETTI_AUTH_AUDIENCE") ? getenv("CONFETTI_AUTH_AUDIENCE") : "confetti",
        .sub = sub,
        .ttl_seconds = ttl,
        .roles = admin ? roles : NULL,
        .nroles = admin ? 1 : 0};
    char *tok;
    int rc = authn_sign(s, &c, &tok) == CF_OK ? 0 : 1;
    if (rc == 0) {
        printf("%s\n", tok);
        free(tok);
    }
    authn_signer_free(s);
    free(pem);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "init") == 0)
        return init(argv[2]);
    if (argc >= 4 && strcmp(argv[1], "mint") == 0)
        return mint(argv[2], argv[3], argc - 4, argv + 4);
    fprintf(stderr, "usage: confetti-devtoken init DIR | mint DIR SUB [--admin] [--ttl S]\n");
    return 64;
}
