/* keyset_test.c — JWKS loading: malformed documents are refused whole (keeping the current keys),
 * keys this module cannot use are skipped with their reason, each key is pinned to one
 * algorithm, and files load like text. */
#include "th.h"
#include "tokens.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>

#include "base/b64url.h"
#include "base/xmalloc.h"

typedef struct fixture {
    th_keys *rs, *es;
    json_t *rs_jwk, *es_jwk; /* the good public JWKs */
    authn_keyset *ks;
} fixture;

static json_t *first_jwk(th_keys *k)
{
    json_t *doc = json_loads(th_keys_jwks(k), 0, NULL);
    json_t *jwk = json_deep_copy(json_array_get(json_object_get(doc, "keys"), 0));
    json_decref(doc);
    return jwk;
}

static int setup(void **state)
{
    fixture *f = xcalloc(1, sizeof *f);
    f->rs = th_keys_new("RS256");
    f->es = th_keys_new("ES256");
    f->rs_jwk = first_jwk(f->rs);
    f->es_jwk = first_jwk(f->es);
    assert_code(CF_OK, authn_keyset_new(&f->ks));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    json_decref(f->rs_jwk);
    json_decref(f->es_jwk);
    authn_keyset_free(f->ks);
    th_keys_free(f->rs);
    th_keys_free(f->es);
    free(f);
    return 0;
}

static cf_code load(fixture *f, const char *doc, char *err, size_t cap)
{
    return authn_keyset_load_json(f->ks, doc, strlen(doc), err, cap);
}

static void signer_jwks_loads_with_pinned_algorithms(void **state)
{
    fixture *f = *state;
    char *doc = th_jwks_merge(f->rs, f->es);
    char err[256] = "x";
    authn_alg alg;
    assert_code(CF_OK, load(f, doc, err, sizeof err));
    assert_string_equal(err, "");
    assert_int_equal(authn_keyset_size(f->ks), 2);
    assert_true(authn_keyset_has(f->ks, th_keys_kid(f->rs), &alg));
    assert_int_equal(alg, AUTHN_ALG_RS256);
    assert_true(authn_keyset_has(f->ks, th_keys_kid(f->es), &alg));
    assert_int_equal(alg, AUTHN_ALG_ES256);
    assert_false(authn_keyset_has(f->ks, "nope", NULL));
    free(doc);
}

static void jwk_without_alg_is_pinned_by_its_kty(void **state)
{
    fixture *f = *state;
    json_t *jwk = json_deep_copy(f->es_jwk);
    json_object_del(jwk, "alg");
    json_object_del(jwk, "use");
    json_t *root = json_pack("{s:[o]}", "keys", jwk);
    char *doc = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    authn_alg alg;
    assert_code(CF_OK, load(f, doc, NULL, 0));
    assert_true(authn_keyset_has(f->ks, th_keys_kid(f->es), &alg));
    assert_int_equal(alg, AUTHN_ALG_ES256);
    free(doc);
}

static void malformed_documents_are_refused_whole(void **state)
{
    fixture *f = *state;
    char *good = th_jwks_merge(f->rs, f->es);
    assert_code(CF_OK, load(f, good, NULL, 0));
    char *one = json_dumps(f->rs_jwk, JSON_COMPACT);
    char *dup_kid = xasprintf("{\"keys\":[%s,%s]}", one, one);
    free(one);
    /* 65 keys, all valid JSON objects: over the count bound. */
    char *many = xstrdup("{\"keys\":[");
    for (int i = 0; i < AUTHN_JWKS_MAX_KEYS + 1; i++) {
        char *next = xasprintf("%s%s{\"kty\":\"oct\",\"kid\":\"k%d\"}", many, i ? "," : "", i);
        free(many);
        many = next;
    }
    char *more = xasprintf("%s]}", many);
    size_t big_len = AUTHN_JWKS_MAX_BYTES + 1;
    char *big = xmalloc(big_len + 1);
    memset(big, ' ', big_len);
    memcpy(big + big_len - strlen(good), good, strlen(good));
    big[big_len] = '\0';
    const struct {
        const char *name, *doc, *reason;
    } cases[] = {
        {"empty", "", "JSON"},
        {"not JSON", "keys: []", "JSON"},
        {"truncated JSON", "{\"keys\":[", "JSON"},
        {"array at the top", "[]", "keys"},
        {"no keys member", "{}", "keys"},
        {"keys not an array", "{\"keys\":{}}", "keys"},
        {"no keys at all", "{\"keys\":[]}", "no keys"},
        {"key not an object", "{\"keys\":[1]}", "not an object"},
        {"duplicate member", "{\"keys\":[],\"keys\":[]}", "JSON"},
        {"only unusable keys", "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"h\",\"k\":\"AAAA\"}]}",
         "unsupported kty"},
        {"duplicate kid", dup_kid, "duplicate kid"},
        {"too many keys", more, "too many"},
        {"too large", big, "too large"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char err[256] = "";
        cf_code rc = load(f, cases[i].doc, err, sizeof err);
        if (rc != CF_INVALID_ARGUMENT || !strstr(err, cases[i].reason))
            fail_msg("%s: %s (%s), expected \"%s\"", cases[i].name, cf_code_name(rc), err,
                     cases[i].reason);
        /* The keys loaded before are untouched. */
        assert_int_equal(authn_keyset_size(f->ks), 2);
    }
    free(good);
    free(dup_kid);
    free(many);
    free(more);
    free(big);
}

/* ---- keys skipped with a reason ---- */

static void set_str(json_t *jwk, const char *k, const char *v)
{
    json_object_set_new(jwk, k, json_string(v));
}

static void kty_oct(json_t *j)
{
    set_str(j, "kty", "oct");
}
static void alg_rs384(json_t *j)
{
    set_str(j, "alg", "RS384");
}
static void alg_es256_on_rsa(json_t *j)
{
    set_str(j, "alg", "ES256");
}
static void alg_none(json_t *j)
{
    set_str(j, "alg", "none");
}
static void use_enc(json_t *j)
{
    set_str(j, "use", "enc");
}
static void private_d(json_t *j)
{
    set_str(j, "d", "AAAA");
}
static void crv_p384(json_t *j)
{
    set_str(j, "crv", "P-384");
}
static void n_not_b64(json_t *j)
{
    set_str(j, "n", "!!!!");
}
static void e_missing(json_t *j)
{
    json_object_del(j, "e");
}
static void x_short(json_t *j)
{
    const char *x = json_string_value(json_object_get(j, "x"));
    char *s = xstrdup(x + 4);
    set_str(j, "x", s);
    free(s);
}
static void point_off_curve(json_t *j)
{
    char *y = xstrdup(json_string_value(json_object_get(j, "y")));
    y[5] = y[5] == 'A' ? 'B' : 'A';
    set_str(j, "y", y);
    free(y);
}
static void rsa_1024(json_t *j)
{
    EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    BIGNUM *n = NULL;
    assert_true(pk && EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_N, &n));
    unsigned char buf[128];
    BN_bn2binpad(n, buf, sizeof buf);
    char *s = b64url_encode_new(buf, sizeof buf);
    set_str(j, "n", s);
    free(s);
    BN_free(n);
    EVP_PKEY_free(pk);
}

static void skipped_keys_are_reported_not_fatal(void **state)
{
    fixture *f = *state;
    const struct {
        const char *name;
        bool ec;
        void (*mutate)(json_t *);
        const char *reason;
    } cases[] = {
        {"symmetric key", false, kty_oct, "unsupported kty"},
        {"RS384", false, alg_rs384, "unsupported alg"},
        {"alg none", false, alg_none, "unsupported alg"},
        {"ES256 on an RSA key", false, alg_es256_on_rsa, "does not fit kty"},
        {"encryption key", false, use_enc, "use"},
        {"private material", false, private_d, "private"},
        {"bad n", false, n_not_b64, "n/e"},
        {"no e", false, e_missing, "n/e"},
        {"RSA 1024", false, rsa_1024, "2048"},
        {"P-384", true, crv_p384, "P-256"},
        {"short x", true, x_short, "x/y"},
        {"point off the curve", true, point_off_curve, "OpenSSL"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        json_t *bad = json_deep_copy(cases[i].ec ? f->es_jwk : f->rs_jwk);
        set_str(bad, "kid", "bad-key");
        cases[i].mutate(bad);
        json_t *doc = json_pack("{s:[O,o]}", "keys", f->rs_jwk, bad);
        char *text = json_dumps(doc, JSON_COMPACT);
        char err[256] = "";
        cf_code rc = load(f, text, err, sizeof err);
        if (rc != CF_OK || !strstr(err, "bad-key: ") || !strstr(err, cases[i].reason))
            fail_msg("%s: %s (%s), expected a skip for \"%s\"", cases[i].name, cf_code_name(rc),
                     err, cases[i].reason);
        assert_int_equal(authn_keyset_size(f->ks), 1);
        assert_false(authn_keyset_has(f->ks, "bad-key", NULL));
        free(text);
        json_decref(doc);
    }
}

static void keys_without_kid_are_skipped(void **state)
{
    fixture *f = *state;
    json_t *bad = json_deep_copy(f->es_jwk);
    json_object_del(bad, "kid");
    json_t *doc = json_pack("{s:[O,o]}", "keys", f->rs_jwk, bad);
    char *text = json_dumps(doc, JSON_COMPACT);
    char err[256] = "";
    assert_code(CF_OK, load(f, text, err, sizeof err));
    assert_non_null(strstr(err, "(no kid): no usable kid"));
    assert_int_equal(authn_keyset_size(f->ks), 1);
    free(text);
    json_decref(doc);
}

static void jwks_file_loads_and_missing_file_is_not_found(void **state)
{
    fixture *f = *state;
    char path[] = "/tmp/authn_jwks_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *doc = th_keys_jwks(f->es);
    assert_int_equal(write(fd, doc, strlen(doc)), (ssize_t)strlen(doc));
    close(fd);
    assert_code(CF_OK, authn_keyset_load_file(f->ks, path, NULL, 0));
    assert_true(authn_keyset_has(f->ks, th_keys_kid(f->es), NULL));
    unlink(path);
    char err[256];
    assert_code(CF_NOT_FOUND, authn_keyset_load_file(f->ks, path, err, sizeof err));
    assert_non_null(strstr(err, path));
    assert_int_equal(authn_keyset_size(f->ks), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(signer_jwks_loads_with_pinned_algorithms, setup, teardown),
        cmocka_unit_test_setup_teardown(jwk_without_alg_is_pinned_by_its_kty, setup, teardown),
        cmocka_unit_test_setup_teardown(malformed_documents_are_refused_whole, setup, teardown),
        cmocka_unit_test_setup_teardown(skipped_keys_are_reported_not_fatal, setup, teardown),
        cmocka_unit_test_setup_teardown(keys_without_kid_are_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(jwks_file_loads_and_missing_file_is_not_found, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
