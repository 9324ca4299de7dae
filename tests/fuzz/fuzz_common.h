/* fuzz_common.h — what several fuzz targets and the seed generator share: a fixed signing key
 * (a fuzz-only P-256 key, committed on purpose so committed seeds can carry tokens it signed), a
 * fixed clock so those tokens never expire, and a verifier over that key. */
#ifndef CONFETTI_FUZZ_COMMON_H
#define CONFETTI_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "authn/authn.h"
#include "authn/sign.h"

#define FUZZ_ISSUER   "confetti"
#define FUZZ_AUDIENCE "confetti"
#define FUZZ_KID      "fuzz-es256"
/* The instant every fuzz verifier lives at (2026-12-01T00:00:00Z); seed tokens are issued then. */
#define FUZZ_NOW 1796083200

/* The fuzz key as PKCS#8 PEM (ES256). */
extern const char fuzz_key_pem[];

/* A key set holding the fuzz key's public half and a verifier over it at FUZZ_NOW with a
 * cache of cache_entries slots. Aborts on failure (a broken harness must not fuzz nothing). */
void fuzz_verifier_new(size_t cache_entries, authn_keyset **ks, authn_verifier **v);

/* A signer with the fuzz key. Aborts on failure. */
authn_signer *fuzz_signer_new(void);

#endif
