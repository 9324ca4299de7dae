/* fuzz_common.c — see fuzz_common.h. */
#include "fuzz_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Generated for the fuzz targets only (openssl ecparam -name prime256v1 -genkey | pkcs8); it
 * signs nothing anywhere else. */
const char fuzz_key_pem[] = "-----BEGIN PRIVATE KEY-----\n"
                            "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgoFKFfbtaDrqH0uSb\n"
                            "YopGeeMOgVqcybgsOGmafLL1WAShRANCAAQWLz8C6+mMSfsStWy6Vb4Gt3I3Jzcj\n"
                            "8nlqy9H+rLWeMZ6/DsH0AeaRNCl20h9mgxjp5BkgqIp4bm1WbWqEOdVs\n"
                            "-----END PRIVATE KEY-----\n";

static int64_t fixed_now(const cf_clock *self)
{
    (void)self;
    return FUZZ_NOW;
}

static const cf_clock fixed_clock = {fixed_now, 0};

static void die(const char *what)
{
    fprintf(stderr, "fuzz harness: %s\n", what);
    abort();
}

authn_signer *fuzz_signer_new(void)
{
    authn_signer *s = NULL;
    if (authn_signer_new_pem(fuzz_key_pem, FUZZ_KID, "ES256", &s) != CF_OK)
        die("the fuzz key does not load");
    return s;
}

void fuzz_verifier_new(size_t cache_entries, authn_keyset **ks, authn_verifier **v)
{
    authn_signer *s = fuzz_signer_new();
    char *jwks = NULL;
    if (authn_signer_jwks(s, &jwks) != CF_OK)
        die("no JWKS for the fuzz key");
    char err[256];
    if (authn_keyset_new(ks) != CF_OK ||
        authn_keyset_load_json(*ks, jwks, strlen(jwks), err, sizeof err) != CF_OK)
        die("the fuzz JWKS does not load");
    free(jwks);
    authn_signer_free(s);
    authn_config cfg = AUTHN_CONFIG_INIT;
    cfg.issuer = FUZZ_ISSUER;
    cfg.audience = FUZZ_AUDIENCE;
    cfg.clock = &fixed_clock;
    cfg.cache_entries = cache_entries;
    if (authn_verifier_new(&cfg, *ks, v) != CF_OK)
        die("no verifier");
}
