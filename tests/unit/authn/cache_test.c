/* cache_test.c — the verified-token cache and the deny set: a repeated token is answered from the
 * cache with the same identity, never past its exp, never with another token's identity, and a
 * revoked jti fails whether cached or not. */
#include "th.h"
#include "tokens.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xmalloc.h"

#define T0 1750000000

static int64_t fixed_now(const cf_clock *c)
{
    return c->offset;
}

typedef struct fixture {
    th_keys *keys;
    cf_clock clock;
    authn_verifier *v;
} fixture;

static int setup(void **state)
{
    fixture *f = xcalloc(1, sizeof *f);
    f->keys = th_keys_new("RS256");
    f->clock = (cf_clock){fixed_now, T0};
    f->v = th_verifier_new(f->keys, &f->clock);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    authn_verifier_free(f->v);
    th_keys_free(f->keys);
    free(f);
    return 0;
}

/* A token issued at T0 for ttl seconds, with this jti. */
static char *token(fixture *f, const char *sub, const char *jti, int ttl)
{
    static const char *const roles[] = {"admin"};
    authn_claims c = {.sub = sub,
                      .sid = "s",
                      .jti = jti,
                      .iat = T0,
                      .ttl_seconds = ttl,
                      .roles = roles,
                      .nroles = 1,
                      .scope = "a b"};
    return th_token_claims(f->keys, &c);
}

static void repeated_token_is_answered_from_the_cache(void **state)
{
    fixture *f = *state;
    char *tok = token(f, "u1", "j1", 600);
    authn_identity first, second;
    uint64_t hits, full;
    assert_code(CF_OK, authn_verify(f->v, tok, &first, NULL));
    assert_code(CF_OK, authn_verify(f->v, tok, &second, NULL));
    authn_verifier_stats(f->v, &hits, &full);
    assert_int_equal(hits, 1);
    assert_int_equal(full, 1);
    assert_memory_equal(&first, &second, sizeof first);
    assert_string_equal(second.sub, "u1");
    assert_true(second.is_admin);
    free(tok);
}

static void cached_token_expires_with_its_exp(void **state)
{
    fixture *f = *state;
    char *tok = token(f, "u2", "j2", 100);
    authn_identity id;
    const char *why;
    assert_code(CF_OK, authn_verify(f->v, tok, &id, NULL));
    f->clock.offset = T0 + 100 + AUTHN_LEEWAY_DEFAULT - 1;
    assert_code(CF_OK, authn_verify(f->v, tok, &id, NULL));
    f->clock.offset = T0 + 100 + AUTHN_LEEWAY_DEFAULT;
    assert_code(CF_UNAUTHENTICATED, authn_verify(f->v, tok, &id, &why));
    assert_string_equal(why, "token expired");
    uint64_t hits;
    authn_verifier_stats(f->v, &hits, NULL);
    assert_int_equal(hits, 1); /* the last verify was not a hit */
    f->clock.offset = T0;
    free(tok);
}

static void revoked_jti_fails_even_when_cached(void **state)
{
    fixture *f = *state;
    char *tok = token(f, "u3", "j3", 600), *other = token(f, "u3", "j3b", 600);
    authn_identity id;
    const char *why;
    assert_code(CF_OK, authn_verify(f->v, tok, &id, NULL));
    assert_code(CF_OK, authn_verify(f->v, other, &id, NULL));
    assert_code(CF_OK, authn_verifier_revoke(f->v, "j3", id.exp));
    assert_code(CF_UNAUTHENTICATED, authn_verify(f->v, tok, &id, &why));
    assert_string_equal(why, "token revoked");
    assert_string_equal(id.sub, "");
    assert_code(CF_OK, authn_verify(f->v, other, &id, NULL)); /* only that jti */
    uint64_t hits;
    authn_verifier_stats(f->v, &hits, NULL);
    assert_true(hits >= 2); /* the refusal came through the cache path */
    free(tok);
    free(other);
}

static void revoked_jti_fails_on_first_sight_without_cache(void **state)
{
    fixture *f = *state;
    authn_config c = th_keys_config(f->keys);
    c.cache_entries = 0;
    c.clock = &f->clock;
    authn_verifier *v;
    assert_code(CF_OK, authn_verifier_new(&c, th_keys_keyset(f->keys), &v));
    char *tok = token(f, "u4", "j4", 600);
    assert_code(CF_OK, authn_verifier_revoke(v, "j4", T0 + 600));
    authn_identity id;
    const char *why;
    assert_code(CF_UNAUTHENTICATED, authn_verify(v, tok, &id, &why));
    assert_string_equal(why, "token revoked");
    /* Still refused inside the leeway after exp: a revocation outlives what it revokes. */
    f->clock.offset = T0 + 600 + AUTHN_LEEWAY_DEFAULT - 1;
    assert_code(CF_UNAUTHENTICATED, authn_verify(v, tok, &id, &why));
    assert_string_equal(why, "token revoked");
    f->clock.offset = T0;
    authn_verifier_free(v);
    free(tok);
}

static void revoke_rejects_bad_jti(void **state)
{
    fixture *f = *state;
    char long_jti[65];
    memset(long_jti, 'j', 64);
    long_jti[64] = '\0';
    assert_code(CF_INVALID_ARGUMENT, authn_verifier_revoke(f->v, "", T0 + 10));
    assert_code(CF_INVALID_ARGUMENT, authn_verifier_revoke(f->v, NULL, T0 + 10));
    assert_code(CF_INVALID_ARGUMENT, authn_verifier_revoke(f->v, long_jti, T0 + 10));
}

/* A tiny cache (64 slots) under 300 tokens: evictions everywhere, but every answer is the
 * token's own identity. */
static void full_cache_never_answers_with_another_identity(void **state)
{
    fixture *f = *state;
    authn_config c = th_keys_config(f->keys);
    c.cache_entries = 1;
    c.clock = &f->clock;
    authn_verifier *v;
    assert_code(CF_OK, authn_verifier_new(&c, th_keys_keyset(f->keys), &v));
    enum { N = 300 };
    char *toks[N];
    for (int i = 0; i < N; i++) {
        char sub[16];
        snprintf(sub, sizeof sub, "user-%d", i);
        toks[i] = token(f, sub, NULL, 600);
    }
    /* pass 1: each token twice in a row — the second is always a hit */
    for (int i = 0; i < N; i++) {
        char sub[16];
        snprintf(sub, sizeof sub, "user-%d", i);
        for (int k = 0; k < 2; k++) {
            authn_identity id;
            assert_code(CF_OK, authn_verify(v, toks[i], &id, NULL));
            assert_string_equal(id.sub, sub);
        }
    }
    uint64_t hits, full;
    authn_verifier_stats(v, &hits, &full);
    assert_int_equal(hits, N);
    assert_int_equal(full, N);
    /* pass 2: 300 tokens cannot all still be in 64 slots, and whatever is answered from the
     * cache is that token's own identity (the random jti makes which ones vary: the bounds do
     * not) */
    for (int i = 0; i < N; i++) {
        authn_identity id;
        char sub[16];
        snprintf(sub, sizeof sub, "user-%d", i);
        assert_code(CF_OK, authn_verify(v, toks[i], &id, NULL));
        assert_string_equal(id.sub, sub);
    }
    authn_verifier_stats(v, &hits, &full);
    assert_int_equal(hits + full, 3 * N);
    assert_true(full >= N + (N - 64));
    for (int i = 0; i < N; i++)
        free(toks[i]);
    authn_verifier_free(v);
}

/* Issue 13 item 5: exp is a verified claim but may sit at the top of int64; the cache compares
 * it with the leeway added, which overflowed (UBSan: signed integer overflow in cache.c). Each
 * token is verified twice: the full path, then the cache; both accept it. */
static void cached_exp_near_int64_max_does_not_overflow(void **state)
{
    fixture *f = *state;
    static const int64_t exps[] = {
        INT64_MAX,
        INT64_MAX - 1,
        INT64_MAX - AUTHN_LEEWAY_DEFAULT + 1,
        INT64_MAX - AUTHN_LEEWAY_DEFAULT,
        INT64_MAX - AUTHN_LEEWAY_DEFAULT - 1,
        T0 + 1,
    };
    char header[160];
    snprintf(header, sizeof header, "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"%s\"}",
             th_keys_kid(f->keys));
    for (size_t i = 0; i < sizeof exps / sizeof *exps; i++) {
        char payload[256];
        snprintf(payload, sizeof payload,
                 "{\"iss\":\"%s\",\"aud\":\"%s\",\"sub\":\"edge\",\"sid\":\"s\","
                 "\"jti\":\"edge-%zu\",\"iat\":%d,\"exp\":%lld}",
                 TH_ISSUER, TH_AUDIENCE, i, T0, (long long)exps[i]);
        char *tok = th_token_raw(f->keys, header, payload);
        uint64_t hits0, hits1;
        authn_verifier_stats(f->v, &hits0, NULL);
        for (int k = 0; k < 2; k++) {
            authn_identity id;
            const char *why = NULL;
            if (authn_verify(f->v, tok, &id, &why) != CF_OK)
                fail_msg("exp %lld, pass %d: refused (%s)", (long long)exps[i], k, why);
            assert_int_equal(id.exp, exps[i]);
        }
        authn_verifier_stats(f->v, &hits1, NULL);
        assert_int_equal(hits1, hits0 + 1); /* the second answer came from the cache */
        free(tok);
    }
}

/* Threads verifying through a tiny cache while another revokes (what the gateway's workers and
 * its revocation-list follower do at once): every answer is the token's own identity, and a
 * token revoked before a verify starts is refused by it. Run under ThreadSanitizer by
 * `make test-tsan`. */
enum { CT_THREADS = 4, CT_TOKENS = 64, CT_ROUNDS = 40 };

typedef struct conc {
    fixture *f;
    authn_verifier *v;
    char *toks[CT_TOKENS];
    atomic_bool revoked[CT_TOKENS];
    atomic_int wrong;
} conc;

static void *verify_many(void *arg)
{
    conc *c = arg;
    for (int r = 0; r < CT_ROUNDS; r++)
        for (int i = 0; i < CT_TOKENS; i++) {
            bool was_revoked = atomic_load(&c->revoked[i]);
            authn_identity id;
            const char *why = NULL;
            char sub[16];
            snprintf(sub, sizeof sub, "user-%d", i);
            cf_code code = authn_verify(c->v, c->toks[i], &id, &why);
            if (code == CF_OK ? was_revoked || strcmp(id.sub, sub) != 0
                              : strcmp(why, "token revoked") != 0)
                atomic_fetch_add(&c->wrong, 1);
        }
    return NULL;
}

static void concurrent_verifies_and_revocations(void **state)
{
    fixture *f = *state;
    conc *c = xcalloc(1, sizeof *c);
    authn_config cfg = th_keys_config(f->keys);
    cfg.cache_entries = 1; /* the smallest cache: evictions all the time */
    cfg.clock = &f->clock;
    assert_code(CF_OK, authn_verifier_new(&cfg, th_keys_keyset(f->keys), &c->v));
    for (int i = 0; i < CT_TOKENS; i++) {
        char sub[16], jti[16];
        snprintf(sub, sizeof sub, "user-%d", i);
        snprintf(jti, sizeof jti, "cj-%d", i);
        c->toks[i] = token(f, sub, jti, 600);
    }
    pthread_t t[CT_THREADS];
    for (int i = 0; i < CT_THREADS; i++)
        assert_int_equal(0, pthread_create(&t[i], NULL, verify_many, c));
    for (int i = 0; i < CT_TOKENS; i += 2) { /* every other token, while they verify */
        char jti[16];
        snprintf(jti, sizeof jti, "cj-%d", i);
        assert_code(CF_OK, authn_verifier_revoke(c->v, jti, T0 + 600));
        atomic_store(&c->revoked[i], true);
    }
    for (int i = 0; i < CT_THREADS; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(atomic_load(&c->wrong), 0);
    for (int i = 0; i < CT_TOKENS; i++) { /* afterwards: exactly the revoked ones refused */
        authn_identity id;
        assert_code(i % 2 ? CF_OK : CF_UNAUTHENTICATED, authn_verify(c->v, c->toks[i], &id, NULL));
        free(c->toks[i]);
    }
    authn_verifier_free(c->v);
    free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(repeated_token_is_answered_from_the_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(cached_token_expires_with_its_exp, setup, teardown),
        cmocka_unit_test_setup_teardown(cached_exp_near_int64_max_does_not_overflow, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(revoked_jti_fails_even_when_cached, setup, teardown),
        cmocka_unit_test_setup_teardown(revoked_jti_fails_on_first_sight_without_cache, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(revoke_rejects_bad_jti, setup, teardown),
        cmocka_unit_test_setup_teardown(full_cache_never_answers_with_another_identity, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(concurrent_verifies_and_revocations, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
