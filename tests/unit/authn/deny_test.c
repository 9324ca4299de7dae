/* deny_test.c — session-level revocation in the verifier (issue 14 item 1): a revoked sid
 * refuses every token carrying it, cached or not, until the session's last token has expired
 * (plus the leeway); the set holds 100,000 entries and still finds each; expired entries are
 * dropped when it grows; a held verifier (revocation list not loaded yet) answers UNAVAILABLE. */
#include "th.h"
#include "tokens.h"

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
    f->keys = th_keys_new("ES256");
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

static char *token(fixture *f, const char *sid, const char *jti, int64_t iat)
{
    authn_claims c = {.sub = "u", .sid = sid, .jti = jti, .iat = iat, .ttl_seconds = 900};
    return th_token_claims(f->keys, &c);
}

static void every_token_of_a_revoked_session_is_refused(void **state)
{
    fixture *f = *state;
    /* A1, A2, A3: one session refreshed twice; B1: another session of the same user */
    char *a1 = token(f, "sess-a", "a1", T0 - 600), *a2 = token(f, "sess-a", "a2", T0 - 300),
         *a3 = token(f, "sess-a", "a3", T0), *b1 = token(f, "sess-b", "b1", T0);
    authn_identity id;
    const char *why;
    assert_code(CF_OK, authn_verify(f->v, a1, &id, NULL)); /* cached from here on */
    assert_code(CF_OK, authn_verify(f->v, a3, &id, NULL));
    assert_code(CF_OK, authn_verifier_revoke_session(f->v, "sess-a", T0 + 900));
    char *toks[] = {a1, a2, a3};
    for (int i = 0; i < 3; i++) {
        assert_code(CF_UNAUTHENTICATED, authn_verify(f->v, toks[i], &id, &why));
        assert_string_equal(why, "token revoked");
    }
    assert_code(CF_OK, authn_verify(f->v, b1, &id, NULL)); /* only that session */
    assert_string_equal(id.sid, "sess-b");
    /* kept through the leeway after the last token's expiry, then forgotten */
    f->clock.offset = T0 + 900 + AUTHN_LEEWAY_DEFAULT - 1;
    assert_code(CF_UNAUTHENTICATED, authn_verify(f->v, a3, &id, &why));
    assert_string_equal(why, "token revoked");
    f->clock.offset = T0;
    free(a1);
    free(a2);
    free(a3);
    free(b1);
}

static void a_jti_and_a_sid_with_the_same_text_are_different_entries(void **state)
{
    fixture *f = *state;
    char *t = token(f, "same", "other", T0);
    authn_identity id;
    assert_code(CF_OK, authn_verifier_revoke(f->v, "same", T0 + 900)); /* a jti "same" */
    assert_code(CF_OK, authn_verify(f->v, t, &id, NULL));
    free(t);
}

static void revoke_session_rejects_bad_sid(void **state)
{
    fixture *f = *state;
    char long_sid[65];
    memset(long_sid, 's', 64);
    long_sid[64] = '\0';
    assert_code(CF_INVALID_ARGUMENT, authn_verifier_revoke_session(f->v, "", T0 + 10));
    assert_code(CF_INVALID_ARGUMENT, authn_verifier_revoke_session(f->v, NULL, T0 + 10));
    assert_code(CF_INVALID_ARGUMENT, authn_verifier_revoke_session(f->v, long_sid, T0 + 10));
}

/* 100,000 revoked sessions (the bench's size): each is found, the others are not refused, and
 * once they have all expired the next growth drops them. */
static void a_hundred_thousand_sessions(void **state)
{
    fixture *f = *state;
    enum { N = 100000 };
    char sid[32];
    for (int i = 0; i < N; i++) {
        snprintf(sid, sizeof sid, "sess-%d", i);
        assert_code(CF_OK, authn_verifier_revoke_session(f->v, sid, T0 + 900));
    }
    assert_int_equal(authn_verifier_revoked_count(f->v), N);
    /* repeats do not add entries */
    assert_code(CF_OK, authn_verifier_revoke_session(f->v, "sess-7", T0 + 900));
    assert_int_equal(authn_verifier_revoked_count(f->v), N);
    static const int probe[] = {0, 1, 4242, 65535, 65536, N - 1};
    authn_identity id;
    for (size_t i = 0; i < sizeof probe / sizeof *probe; i++) {
        snprintf(sid, sizeof sid, "sess-%d", probe[i]);
        char *t = token(f, sid, "x", T0);
        assert_code(CF_UNAUTHENTICATED, authn_verify(f->v, t, &id, NULL));
        free(t);
    }
    char *ok = token(f, "sess-100000", "y", T0);
    assert_code(CF_OK, authn_verify(f->v, ok, &id, NULL));
    free(ok);
    /* all expired: adding enough to grow the table again rebuilds it with the live ones only */
    f->clock.offset = T0 + 900 + AUTHN_LEEWAY_DEFAULT + 1;
    for (int i = 0; i < N + 100; i++) {
        snprintf(sid, sizeof sid, "late-%d", i);
        assert_code(CF_OK, authn_verifier_revoke_session(f->v, sid, T0 + 5000));
        if (authn_verifier_revoked_count(f->v) < N)
            break;
    }
    assert_true(authn_verifier_revoked_count(f->v) < N);
    f->clock.offset = T0;
}

static void a_held_verifier_answers_unavailable(void **state)
{
    fixture *f = *state;
    char *t = token(f, "s1", "j1", T0);
    authn_identity id;
    const char *why = NULL;
    assert_true(authn_verifier_synced(f->v)); /* open when created */
    authn_verifier_set_synced(f->v, false);
    assert_code(CF_UNAVAILABLE, authn_verify(f->v, t, &id, &why));
    assert_string_equal(why, AUTHN_REASON_NOT_SYNCED);
    assert_string_equal(id.sub, "");
    authn_verifier_set_synced(f->v, true);
    assert_code(CF_OK, authn_verify(f->v, t, &id, NULL));
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(every_token_of_a_revoked_session_is_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_jti_and_a_sid_with_the_same_text_are_different_entries,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(revoke_session_rejects_bad_sid, setup, teardown),
        cmocka_unit_test_setup_teardown(a_hundred_thousand_sessions, setup, teardown),
        cmocka_unit_test_setup_teardown(a_held_verifier_answers_unavailable, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
