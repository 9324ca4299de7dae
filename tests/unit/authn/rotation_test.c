/* rotation_test.c — replacing the key set at runtime: a kid verifies exactly while it is loaded
 * (cached tokens included), a failed load changes nothing, and verifiers on other threads keep
 * working while the set is swapped under them (run under ASan). */
#include "th.h"
#include "tokens.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/xmalloc.h"

typedef struct fixture {
    th_keys *a, *b;
    char *jwks_ab, *jwks_b;
    authn_keyset *ks;
    authn_verifier *v;
} fixture;

static int setup(void **state)
{
    fixture *f = xcalloc(1, sizeof *f);
    f->a = th_keys_new("RS256");
    f->b = th_keys_new("ES256");
    f->jwks_ab = th_jwks_merge(f->a, f->b);
    f->jwks_b = xstrdup(th_keys_jwks(f->b));
    assert_code(CF_OK, authn_keyset_new(&f->ks));
    assert_code(CF_OK, authn_keyset_load_json(f->ks, f->jwks_ab, strlen(f->jwks_ab), NULL, 0));
    authn_config c = th_keys_config(f->a);
    assert_code(CF_OK, authn_verifier_new(&c, f->ks, &f->v));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    authn_verifier_free(f->v);
    authn_keyset_free(f->ks);
    free(f->jwks_ab);
    free(f->jwks_b);
    th_keys_free(f->a);
    th_keys_free(f->b);
    free(f);
    return 0;
}

static cf_code verify(fixture *f, const char *tok, const char **why)
{
    authn_identity id;
    return authn_verify(f->v, tok, &id, why);
}

static void kid_verifies_exactly_while_loaded(void **state)
{
    fixture *f = *state;
    char *ta = th_token(f->a, "ua", 600, false), *tb = th_token(f->b, "ub", 600, false);
    const char *why;
    assert_code(CF_OK, verify(f, ta, NULL)); /* now cached */
    assert_code(CF_OK, verify(f, tb, NULL));

    assert_code(CF_OK, authn_keyset_load_json(f->ks, f->jwks_b, strlen(f->jwks_b), NULL, 0));
    assert_false(authn_keyset_has(f->ks, th_keys_kid(f->a), NULL));
    assert_code(CF_UNAUTHENTICATED, verify(f, ta, &why));
    assert_string_equal(why, "unknown kid");
    assert_code(CF_OK, verify(f, tb, NULL));

    assert_code(CF_OK, authn_keyset_load_json(f->ks, f->jwks_ab, strlen(f->jwks_ab), NULL, 0));
    assert_code(CF_OK, verify(f, ta, NULL));
    free(ta);
    free(tb);
}

static void failed_load_keeps_the_current_keys(void **state)
{
    fixture *f = *state;
    char *ta = th_token(f->a, "ua", 600, false);
    char err[128];
    assert_code(CF_INVALID_ARGUMENT,
                authn_keyset_load_json(f->ks, "{\"keys\":[]}", 11, err, sizeof err));
    assert_true(strlen(err) > 0);
    assert_int_equal(authn_keyset_size(f->ks), 2);
    assert_code(CF_OK, verify(f, ta, NULL));
    free(ta);
}

enum { THREADS = 4, TOKENS = 8 };

typedef struct race {
    fixture *f;
    char *ta[TOKENS], *tb[TOKENS];
    atomic_bool stop;
    atomic_int wrong; /* answers no key set state could explain */
    atomic_int a_ok, a_gone, verifies;
} race;

static void *verifier_thread(void *arg)
{
    race *r = arg;
    for (unsigned i = 0; !atomic_load(&r->stop); i++) {
        authn_identity id;
        const char *why;
        if (authn_verify(r->f->v, r->tb[i % TOKENS], &id, &why) != CF_OK ||
            strcmp(id.sub, "ub") != 0)
            atomic_fetch_add(&r->wrong, 1);
        cf_code rc = authn_verify(r->f->v, r->ta[i % TOKENS], &id, &why);
        if (rc == CF_OK && strcmp(id.sub, "ua") == 0)
            atomic_fetch_add(&r->a_ok, 1);
        else if (rc == CF_UNAUTHENTICATED && strcmp(why, "unknown kid") == 0)
            atomic_fetch_add(&r->a_gone, 1);
        else
            atomic_fetch_add(&r->wrong, 1);
        atomic_fetch_add(&r->verifies, 2);
    }
    return NULL;
}

static void concurrent_verifies_survive_key_set_swaps(void **state)
{
    fixture *f = *state;
    race *r = xcalloc(1, sizeof *r);
    r->f = f;
    for (int i = 0; i < TOKENS; i++) {
        r->ta[i] = th_token(f->a, "ua", 600, false);
        r->tb[i] = th_token(f->b, "ub", 600, false);
    }
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(0, pthread_create(&t[i], NULL, verifier_thread, r));
    /* swap until the verifiers have seen both states (a pass must not depend on the scheduler
     * letting them run during the first swaps); 60 s is only a bound against a hang */
    int64_t end = cf_mono_ns() + 60 * 1000000000LL;
    for (int i = 0; i < 100 || atomic_load(&r->verifies) < 2000 || atomic_load(&r->a_ok) == 0 ||
                    atomic_load(&r->a_gone) == 0;
         i++) {
        if (cf_mono_ns() > end)
            break;
        const char *doc = i % 2 ? f->jwks_ab : f->jwks_b;
        assert_code(CF_OK, authn_keyset_load_json(f->ks, doc, strlen(doc), NULL, 0));
    }
    atomic_store(&r->stop, true);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(atomic_load(&r->wrong), 0);
    /* Both states were actually observed by the verifiers. */
    assert_true(atomic_load(&r->a_ok) > 0);
    assert_true(atomic_load(&r->a_gone) > 0);
    for (int i = 0; i < TOKENS; i++) {
        free(r->ta[i]);
        free(r->tb[i]);
    }
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(kid_verifies_exactly_while_loaded, setup, teardown),
        cmocka_unit_test_setup_teardown(failed_load_keeps_the_current_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(concurrent_verifies_survive_key_set_swaps, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
