/* jwt_fuzz.c — libFuzzer target for access-token verification (common/authn/verify.c) and the
 * JWKS loader (common/authn/keyset.c, jwk.c).
 *
 * A forged token stops at the signature, so random bytes never reach the claims. This target
 * holds the fuzz signing key (fuzz_common.c) and signs what the fuzzer writes, so the header and
 * claims parsers see arbitrary JSON behind a valid signature. Input: byte 0 picks the part:
 *   0  a raw token (the bytes after "Bearer "), verified as is;
 *   1  header JSON, a NUL byte, claims JSON: encoded, signed with the fuzz key (ES256), verified
 *      (no NUL: the whole input is the claims under {"alg":"ES256","kid":<fuzz kid>,"typ":"JWT"});
 *   2  a JWKS document, loaded into a key set (as fetched from auth's GetJwks).
 * Each token is verified twice, the second time through the verified-token cache, which must
 * give the same answer. Checked: no crash, leak or UB; a refusal has a reason and leaves the
 * identity zeroed; an accepted identity's strings fit and it carries an exp. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "base/b64url.h"
#include "fuzz_common.h"

static authn_keyset *keyset;
static authn_verifier *verifier;
static EVP_PKEY *key;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_verifier_new(256, &keyset, &verifier);
    BIO *b = BIO_new_mem_buf(fuzz_key_pem, -1);
    key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
    BIO_free(b);
    if (!key)
        abort();
    return 0;
}

static void check(bool ok)
{
    if (!ok)
        abort();
}

static bool zeroed(const authn_identity *id)
{
    static const authn_identity zero;
    return memcmp(id, &zero, sizeof zero) == 0;
}

static bool fits(const char *s, size_t cap)
{
    return memchr(s, '\0', cap) != NULL;
}

static void verify(const char *token)
{
    authn_identity a, b;
    const char *why_a = NULL, *why_b = NULL;
    cf_code ra = authn_verify(verifier, token, &a, &why_a);
    cf_code rb = authn_verify(verifier, token, &b, &why_b); /* the cache answers now */
    check(ra == rb);
    if (ra != CF_OK) {
        check(ra == CF_UNAUTHENTICATED && why_a && why_b && zeroed(&a) && zeroed(&b));
        return;
    }
    check(memcmp(&a, &b, sizeof a) == 0);
    check(fits(a.sub, sizeof a.sub) && a.sub[0] && fits(a.sid, sizeof a.sid) &&
          fits(a.jti, sizeof a.jti) && fits(a.scopes, sizeof a.scopes) && a.exp > 0);
    check(a.is_app == (strncmp(a.sub, "app:", 4) == 0));
}

/* ES256 over header.payload: the DER signature OpenSSL makes, as JWS's r||s. */
static char *sign(const char *input, size_t len)
{
    unsigned char der[128];
    size_t dlen = sizeof der;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) != 1 ||
        EVP_DigestSign(ctx, der, &dlen, (const unsigned char *)input, len) != 1)
        abort();
    EVP_MD_CTX_free(ctx);
    const unsigned char *p = der;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)dlen);
    unsigned char raw[64];
    if (!es || BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, 32) != 32 ||
        BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + 32, 32) != 32)
        abort();
    ECDSA_SIG_free(es);
    return b64url_encode_new(raw, sizeof raw);
}

static void signed_token(const uint8_t *data, size_t size)
{
    static const char default_header[] =
        "{\"alg\":\"ES256\",\"kid\":\"" FUZZ_KID "\",\"typ\":\"JWT\"}";
    const uint8_t *nul = memchr(data, '\0', size);
    const void *hdr = default_header, *claims = data;
    size_t hlen = sizeof default_header - 1, clen = size;
    if (nul) {
        hdr = data;
        hlen = (size_t)(nul - data);
        claims = nul + 1;
        clen = size - hlen - 1;
    }
    char *h = b64url_encode_new(hdr, hlen), *c = b64url_encode_new(claims, clen);
    size_t hl = strlen(h), cl = strlen(c);
    char *token = malloc(hl + 1 + cl + 1 + 128);
    memcpy(token, h, hl);
    token[hl] = '.';
    memcpy(token + hl + 1, c, cl);
    token[hl + 1 + cl] = '\0';
    char *s = sign(token, hl + 1 + cl);
    token[hl + 1 + cl] = '.';
    strcpy(token + hl + 1 + cl + 1, s);
    verify(token);
    free(s);
    free(token);
    free(h);
    free(c);
}

static void jwks(const uint8_t *data, size_t size)
{
    authn_keyset *ks;
    if (authn_keyset_new(&ks) != CF_OK)
        abort();
    char err[256];
    memset(err, 'x', sizeof err); /* the loader must terminate it in every case */
    cf_code rc = authn_keyset_load_json(ks, (const char *)data, size, err, sizeof err);
    check(rc == CF_OK ? authn_keyset_size(ks) > 0 : rc == CF_INVALID_ARGUMENT);
    check(memchr(err, '\0', sizeof err) != NULL);
    authn_keyset_free(ks);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t part = data[0] % 3;
    data++, size--;
    if (part == 0) {
        char *token = malloc(size + 1);
        memcpy(token, data, size);
        token[size] = '\0';
        verify(token);
        free(token);
    } else if (part == 1) {
        signed_token(data, size);
    } else {
        jwks(data, size);
    }
    return 0;
}
