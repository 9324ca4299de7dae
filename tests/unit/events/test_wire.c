/* test_wire.c — event type names, bus framing, and the outbox migration every publisher
 * copies (one text: common/events/outbox.sql). */
#include "th.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events/events.h"
#include "th_ident.h"

#include <nng/nng.h>

static void test_type_names(void **state)
{
    (void)state;
    Events__V1__Event ev = EVENTS__V1__EVENT__INIT;
    assert_string_equal("", events_type_name(&ev));
    /* every oneof member maps to SPEC §5's spelling */
    static const char *const spec[] = {
        "room.created", "room.updated", "room.status_changed", "room.deleted", "participant.joined",
        "participant.left", "participant.role_changed", "prize.created", "prize.updated",
        "prize.deleted", "winner.drawn", "winner.revoked", "app.manifest_published",
        "app.deactivated", "user.deleted", "token.revoked", "session.revoked",
        /* internal, catalog → auth (issue 14; docs/events.md) */
        "app.tokens_revoked"};
    const ProtobufCMessageDescriptor *d = &events__v1__event__descriptor;
    size_t found = 0;
    for (unsigned i = 0; i < d->n_fields; i++) {
        if (!(d->fields[i].flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
            continue; /* envelope fields */
        ev.body_case = (Events__V1__Event__BodyCase)d->fields[i].id;
        const char *name = events_type_name(&ev);
        bool ok = false;
        for (size_t k = 0; k < sizeof spec / sizeof *spec; k++)
            ok |= strcmp(spec[k], name) == 0;
        if (!ok)
            fail_msg("%s is not an event SPEC §5 lists", name);
        found++;
    }
    assert_int_equal(sizeof spec / sizeof *spec, found);
}

static void test_framing(void **state)
{
    (void)state;
    char msg[128];
    size_t n = events_topic("rooms", msg, sizeof msg);
    assert_int_equal(6, n);
    memcpy(msg + n, "\x10\x05", 2);
    memset(msg + n + 2, 0xab, RPC_IDENT_SIG_LEN);
    const char *src;
    const uint8_t *body, *sig;
    size_t blen, len = n + 2 + RPC_IDENT_SIG_LEN;
    assert_code(CF_OK, events_frame_split(msg, len, &src, &body, &blen, &sig));
    assert_string_equal("rooms", src);
    assert_int_equal(2, blen);
    assert_int_equal(0x10, body[0]);
    assert_ptr_equal(msg + n + 2, sig);
    /* a frame too short to hold a signature is malformed */
    assert_code(CF_INVALID_ARGUMENT,
                events_frame_split(msg, n + RPC_IDENT_SIG_LEN - 1, &src, &body, &blen, &sig));
    assert_code(CF_INVALID_ARGUMENT, events_frame_split("rooms", 5, &src, &body, &blen, &sig));
    assert_code(CF_INVALID_ARGUMENT, events_frame_split("\0x", 2, &src, &body, &blen, &sig));
    assert_code(CF_INVALID_ARGUMENT, events_frame_split("", 0, &src, &body, &blen, &sig));
    assert_int_equal(0, events_topic("rooms", msg, 5));
}

/* Issue 14 item 3: a frame is accepted only with the signature of the source it names. */
static void test_frame_signatures(void **state)
{
    (void)state;
    rpc_ident *verifier = th_ident(NULL); /* trusts every test key, signs nothing */
    const uint8_t event[] = {0x10, 0x05};
    const char *src;
    const uint8_t *body;
    size_t blen;
    struct {
        const char *signer, *source;
        cf_code want;
    } cases[] = {
        {"rooms", "rooms", CF_OK},
        {"catalog", "rooms", CF_UNAUTHENTICATED},   /* a trusted key, another source's name */
        {"intruder", "rooms", CF_UNAUTHENTICATED},  /* a key nobody trusts */
        {NULL, "rooms", CF_UNAUTHENTICATED},        /* no signature at all */
        {"unknown", "unknown", CF_UNAUTHENTICATED}, /* a source without a trusted key */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        rpc_ident *signer = NULL;
        if (cases[i].signer && strcmp(cases[i].signer, "unknown") != 0)
            signer = th_ident(cases[i].signer);
        nng_msg *m = th_event_frame(signer, cases[i].source, event, sizeof event);
        cf_code got =
            events_frame_verify(verifier, nng_msg_body(m), nng_msg_len(m), &src, &body, &blen);
        if (got != cases[i].want)
            fail_msg("case %zu (%s as %s): %s", i, cases[i].signer ? cases[i].signer : "none",
                     cases[i].source, cf_code_name(got));
        if (got == CF_OK) {
            assert_int_equal(2, blen);
            /* any byte changed: refused */
            ((uint8_t *)nng_msg_body(m))[7] ^= 1;
            assert_code(
                CF_UNAUTHENTICATED,
                events_frame_verify(verifier, nng_msg_body(m), nng_msg_len(m), &src, &body, &blen));
        }
        nng_msg_free(m);
    }
    /* without an identity nothing verifies */
    nng_msg *m = th_event_frame(th_ident("rooms"), "rooms", event, sizeof event);
    assert_code(CF_UNAUTHENTICATED,
                events_frame_verify(NULL, nng_msg_body(m), nng_msg_len(m), &src, &body, &blen));
    nng_msg_free(m);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return strdup(buf);
}

/* Each publisher's NNN_outbox.sql is a copy of common/events/outbox.sql (a migration cannot
 * include another file, and migrations are never edited once released). */
static void test_outbox_copies(void **state)
{
    (void)state;
    char *want = slurp(OUTBOX_SQL);
    const char *copies = OUTBOX_COPIES;
    char path[512];
    for (const char *p = copies; *p;) {
        const char *e = strchr(p, '|');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        snprintf(path, sizeof path, "%.*s", (int)len, p);
        char *got = slurp(path);
        if (strcmp(want, got) != 0)
            fail_msg("%s differs from %s", path, OUTBOX_SQL);
        free(got);
        p += len + (e ? 1 : 0);
    }
    free(want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_type_names),
        cmocka_unit_test(test_framing),
        cmocka_unit_test(test_frame_signatures),
        cmocka_unit_test(test_outbox_copies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
