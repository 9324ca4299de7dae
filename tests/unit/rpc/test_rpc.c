/* test_rpc.c — the RPC layer over real nng sockets with testsvc.v1.Echo: round trip, request
 * ids, every status code, deadlines, size limits, garbage, unknown methods, caller identity,
 * load spreading, 32 concurrent clients, graceful drain, health. */
#include "th.h"
#include "testsvc.h"
#include "tokens.h"
#include "base/xmalloc.h"
#include "health/v1/health.pb-c.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/util/platform.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct fixture {
    char url[128];
    int id;
    rpc_server *server;
    rpc_client *client;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    th_ipc_url(f->url, sizeof f->url, "rpc");
    f->id = 1;
    f->server = th_echo_server(f->url, 4, &f->id, NULL, NULL);
    const char *u = f->url;
    f->client = th_client(&u, 1, 15000);
    if (!f->server || !f->client)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    rpc_client_free(f->client);
    rpc_server_free(f->server);
    free(f);
    return 0;
}

static ProtobufCService *echo_svc(rpc_client *c)
{
    return rpc_client_service(c, &testsvc__v1__echo__descriptor);
}

static void test_round_trip_echoes_text_and_metadata(void **state)
{
    fixture *f = *state;
    Testsvc__V1__EchoRequest req = TESTSVC__V1__ECHO_REQUEST__INIT;
    req.text = "hello, confetti";
    rpc_ccall cc;
    rpc_ccall_init(&cc, NULL);
    rpc_ccall_md(&cc, "x-test", "meta-value");
    rpc_ccall_md(&cc, "x-request-id", "req-123");
    testsvc__v1__echo__echo(echo_svc(f->client), &req, NULL, &cc);
    assert_code(CF_OK, cc.code);
    const Testsvc__V1__EchoReply *r = (const void *)cc.response;
    assert_string_equal(r->text, "hello, confetti");
    assert_string_equal(r->metadata_value, "meta-value");
    assert_string_equal(r->request_id, "req-123");
    assert_string_equal(r->subject, "");
    assert_int_equal(r->worker, 1);
    rpc_ccall_free(&cc);
}

static void test_request_id_generated_when_absent_or_insane(void **state)
{
    fixture *f = *state;
    const char *sent[] = {NULL, "bad id with spaces", ""};
    for (size_t i = 0; i < 3; i++) {
        Testsvc__V1__EchoRequest req = TESTSVC__V1__ECHO_REQUEST__INIT;
        rpc_ccall cc;
        rpc_ccall_init(&cc, NULL);
        if (sent[i])
            rpc_ccall_md(&cc, "x-request-id", sent[i]);
        testsvc__v1__echo__echo(echo_svc(f->client), &req, NULL, &cc);
        assert_code(CF_OK, cc.code);
        const Testsvc__V1__EchoReply *r = (const void *)cc.response;
        assert_int_equal(strlen(r->request_id), 25); /* a CUID */
        assert_int_equal(r->request_id[0], 'c');
        rpc_ccall_free(&cc);
    }
}

/* Every gRPC status a handler returns reaches the client with its number and message. */
static void test_every_status_code_reaches_the_client(void **state)
{
    fixture *f = *state;
    for (int code = 1; code < CF_CODE_COUNT; code++) {
        Testsvc__V1__EchoRequest req = TESTSVC__V1__ECHO_REQUEST__INIT;
        req.fail_code = code;
        req.text = "reason text";
        rpc_ccall cc;
        rpc_ccall_init(&cc, NULL);
        testsvc__v1__echo__fail(echo_svc(f->client), &req, NULL, &cc);
        assert_code(code, cc.code);
        assert_null(cc.response);
        if (code == CF_INTERNAL)
            assert_string_equal(cc.message, "internal error"); /* internals never leak */
        else
            assert_string_equal(cc.message, "reason text");
        rpc_ccall_free(&cc);
    }
}

static void test_field_violation_details(void **state)
{
    fixture *f = *state;
    Testsvc__V1__EchoRequest req = TESTSVC__V1__ECHO_REQUEST__INIT;
    req.fail_field = "settings.maxWinners";
    req.text = "must be at least 1";
    rpc_ccall cc;
    rpc_ccall_init(&cc, NULL);
    testsvc__v1__echo__fail(echo_svc(f->client), &req, NULL, &cc);
    assert_code(CF_INVALID_ARGUMENT, cc.code);
    assert_int_equal(cc.ndetails, 1);
    assert_string_equal(cc.details[0]->field, "settings.maxWinners");
    assert_string_equal(cc.details[0]->description, "must be at least 1");
    rpc_ccall_free(&cc);
}

static void test_client_deadline_exceeded(void **state)
{
    fixture *f = *state;
    Testsvc__V1__EchoRequest req = TESTSVC__V1__ECHO_REQUEST__INIT;
    req.sleep_ms = 2000; /* far past the deadline, so "did not wait" has room on a busy machine */
    rpc_ccall cc;
    rpc_ccall_init(&cc, NULL);
    cc.timeout_ms = 100;
    nng_time t0 = nng_clock();
    testsvc__v1__echo__echo(echo_svc(f->client), &req, NULL, &cc);
    nng_time took = nng_clock() - t0;
    assert_code(CF_DEADLINE_EXCEEDED, cc.code);
    assert_true(took < 1500); /* the client did not wait for the handler */
    rpc_ccall_free(&cc);
}

/* --- raw envelopes, as a hostile or buggy peer would send them --- */

static Rpc__V1__Reply *raw_call(const char *url, const void *bytes, size_t len, int timeout_ms)
{
    nng_socket s;
    assert_int_equal(nng_req0_open(&s), 0);
    nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, timeout_ms);
    nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, timeout_ms);
    nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, 0);
    assert_int_equal(nng_dial(s, url, NULL, 0), 0);
    assert_int_equal(nng_send(s, (void *)bytes, len, 0), 0);
    void *buf = NULL;
    size_t n = 0;
    int rv = nng_recv(s, &buf, &n, NNG_FLAG_ALLOC);
    nng_close(s);
    if (rv != 0)
        return NULL;
    Rpc__V1__Reply *r = rpc__v1__reply__unpack(NULL, n, buf);
    nng_free(buf, n);
    return r;
}

static Rpc__V1__Reply *raw_envelope(const char *url, const char *method, const void *payload,
                                    size_t plen, uint32_t timeout_ms)
{
    Rpc__V1__Request req = RPC__V1__REQUEST__INIT;
    req.method = (char *)method;
    req.payload.data = (uint8_t *)payload;
    req.payload.len = plen;
    req.timeout_ms = timeout_ms;
    size_t n = rpc__v1__request__get_packed_size(&req);
    uint8_t *buf = malloc(n);
    rpc__v1__request__pack(&req, buf);
    Rpc__V1__Reply *r = raw_call(url, buf, n, 15000);
    free(buf);
    return r;
}

static void test_garbage_bytes_are_invalid_argument(void **state)
{
    fixture *f = *state;
    const char garbage[] = "\xff\xff\xff\xff\x0f this is not protobuf";
    Rpc__V1__Reply *r = raw_call(f->url, garbage, sizeof garbage, 15000);
    assert_non_null(r);
    assert_code(CF_INVALID_ARGUMENT, r->code);
    /* the refusal names what was wrong (issue 21 item 5) */
    assert_int_equal(r->n_details, 1);
    assert_string_equal(r->details[0]->field, "envelope");
    rpc__v1__reply__free_unpacked(r, NULL);

    /* a valid envelope around a payload that is not the method's request message */
    r = raw_envelope(f->url, "testsvc.v1.Echo/Echo", garbage, sizeof garbage, 0);
    assert_non_null(r);
    assert_code(CF_INVALID_ARGUMENT, r->code);
    assert_int_equal(r->n_details, 1);
    assert_string_equal(r->details[0]->field, "payload");
    rpc__v1__reply__free_unpacked(r, NULL);

    /* empty message: an empty envelope names no method */
    r = raw_call(f->url, "", 0, 15000);
    assert_non_null(r);
    assert_code(CF_UNIMPLEMENTED, r->code);
    rpc__v1__reply__free_unpacked(r, NULL);
}

static void test_unknown_method_is_unimplemented(void **state)
{
    fixture *f = *state;
    const char *methods[] = {"testsvc.v1.Echo/Nope", "nope.v1.Nope/Echo",
                             "testsvc.v1.Echo",      "/Echo",
                             "testsvc.v1.Echo/",     "'; DROP TABLE rooms; --"};
    for (size_t i = 0; i < sizeof methods / sizeof *methods; i++) {
        Rpc__V1__Reply *r = raw_envelope(f->url, methods[i], NULL, 0, 0);
        assert_non_null(r);
        assert_code(CF_UNIMPLEMENTED, r->code);
        rpc__v1__reply__free_unpacked(r, NULL);
    }
}

static void test_oversized_request_is_resource_exhausted(void **state)
{
    fixture *f = *state;
    size_t big = RPC_DEFAULT_MAX_MESSAGE + 1;
    uint8_t *blob = calloc(1, big);

    /* the client refuses to send it */
    Testsvc__V1__EchoRequest req = TESTSVC__V1__ECHO_REQUEST__INIT;
    req.blob.data = blob;
    req.blob.len = big;
    rpc_ccall cc;
    rpc_ccall_init(&cc, NULL);
    testsvc__v1__echo__echo(echo_svc(f->client), &req, NULL, &cc);
    assert_code(CF_RESOURCE_EXHAUSTED, cc.code);
    rpc_ccall_free(&cc);

    /* a peer that sends it anyway gets RESOURCE_EXHAUSTED from the server, not a hang */
    Rpc__V1__Reply *r = raw_envelope(f->url, "testsvc.v1.Echo/Echo", blob, big, 0);
    assert_non_null(r);
    assert_code(CF_RESOURCE_EXHAUSTED, r->code);
    rpc__v1__reply__free_unpacked(r, NULL);

    /* just under the limit still works */
    req.blob.len = RPC_DEFAULT_MAX_MESSAGE - 64;
    rpc_ccall_init(&cc, NULL);
    testsvc__v1__echo__echo(echo_svc(f->client), &req, NULL, &cc);
    assert_code(CF_OK, cc.code);
    assert_int_equal(((Testsvc__V1__EchoReply *)cc.response)->blob.len, req.blob.len);
    rpc_ccall_free(&cc);
    free(blob);
}

/* A handler that outlives the caller's deadline answers DEADLINE_EXCEEDED, and a request that
 * arrives already expired is not run. */
static void test_server_enforces_deadline(void **state)
{
    fixture *f = *state;
    Testsvc__V1__EchoRequest req = TESTSVC__V1__ECHO_REQUEST__INIT;
    req.sleep_ms = 150;
    uint8_t buf[64];
    size_t n = testsvc__v1__echo_request__pack(&req, buf);
    Rpc__V1__Reply *r = raw_envelope(f->url, "testsvc.v1.Echo/Echo", buf, n, 50);
    assert_non_null(r);
    assert_code(CF_DEADLINE_EXCEEDED, r->code);
    rpc__v1__reply__free_unpacked(r, NULL);
}

static void test_caller_identity_is_verified(void **state)
{
    (void)state;
    th_keys *keys = th_keys_new("RS256");
    authn_verifier *v = th_verifier_new(keys, NULL);
    char url[128];
    th_ipc_url(url, sizeof url, "authn");
    int id = 7;
    rpc_server *s = th_echo_server(url, 2, &id, v, NULL);
    const char *u = url;
    rpc_client *c = th_client(&u, 1, 15000);

    char *good = th_token(keys, "user-42", 60, false);
    authn_claims old = {.sub = "user-42", .iat = time(NULL) - 7200, .ttl_seconds = 900};
    char *expired = th_token_claims(keys, &old);
    th_keys *other = th_keys_new("RS256");
    char *foreign = th_token(other, "user-42", 60, false);
    struct {
        const char *auth;
        cf_code code;
        const char *sub;
    } cases[] = {
        {NULL, CF_OK, ""},
        {NULL, CF_OK, "user-42"}, /* filled below with "Bearer good" */
        {"Bearer not.a.jwt", CF_UNAUTHENTICATED, NULL},
        {"Basic dXNlcjpwYXNz", CF_UNAUTHENTICATED, NULL},
        {NULL, CF_UNAUTHENTICATED, NULL}, /* expired */
        {NULL, CF_UNAUTHENTICATED, NULL}, /* signed by another key */
    };
    char *bearer_good = xasprintf("Bearer %s", good);
    char *bearer_expired = xasprintf("Bearer %s", expired);
    char *bearer_foreign = xasprintf("Bearer %s", foreign);
    cases[1].auth = bearer_good;
    cases[4].auth = bearer_expired;
    cases[5].auth = bearer_foreign;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        Testsvc__V1__EchoRequest req = TESTSVC__V1__ECHO_REQUEST__INIT;
        rpc_ccall cc;
        rpc_ccall_init(&cc, NULL);
        if (cases[i].auth)
            rpc_ccall_md(&cc, "authorization", cases[i].auth);
        testsvc__v1__echo__echo(echo_svc(c), &req, NULL, &cc);
        assert_code(cases[i].code, cc.code);
        if (cases[i].code == CF_OK)
            assert_string_equal(((Testsvc__V1__EchoReply *)cc.response)->subject, cases[i].sub);
        rpc_ccall_free(&cc);
    }
    /* metadata keys are case-insensitive (issue 25 item 3): a token under "Authorization"
     * authenticates, never silently anonymous; a bad one under any case is refused */
    const char *keys_cased[] = {"Authorization", "AUTHORIZATION", "aUtHoRiZaTiOn"};
    for (size_t i = 0; i < 3; i++) {
        Testsvc__V1__EchoRequest req = TESTSVC__V1__ECHO_REQUEST__INIT;
        rpc_ccall cc;
        rpc_ccall_init(&cc, NULL);
        rpc_ccall_md(&cc, keys_cased[i], bearer_good);
        rpc_ccall_md(&cc, "X-Request-Id", "cased-key-id");
        testsvc__v1__echo__echo(echo_svc(c), &req, NULL, &cc);
        assert_code(CF_OK, cc.code);
        assert_string_equal(((Testsvc__V1__EchoReply *)cc.response)->subject, "user-42");
        assert_string_equal(((Testsvc__V1__EchoReply *)cc.response)->request_id, "cased-key-id");
        rpc_ccall_free(&cc);

        rpc_ccall_init(&cc, NULL);
        rpc_ccall_md(&cc, keys_cased[i], bearer_foreign);
        testsvc__v1__echo__echo(echo_svc(c), &req, NULL, &cc);
        assert_code(CF_UNAUTHENTICATED, cc.code);
        rpc_ccall_free(&cc);
    }
    free(bearer_good);
    free(bearer_expired);
    free(bearer_foreign);
    free(good);
    free(expired);
    free(foreign);
    rpc_client_free(c);
    rpc_server_free(s);
    authn_verifier_free(v);
    th_keys_free(other);
    th_keys_free(keys);
}

static void test_health_check_serving_then_not_while_draining(void **state)
{
    fixture *f = *state;
    Health__V1__CheckRequest req = HEALTH__V1__CHECK_REQUEST__INIT;
    rpc_ccall cc;
    rpc_ccall_init(&cc, NULL);
    health__v1__health__check(rpc_client_service(f->client, &health__v1__health__descriptor), &req,
                              NULL, &cc);
    assert_code(CF_OK, cc.code);
    assert_int_equal(((Health__V1__CheckResponse *)cc.response)->status,
                     HEALTH__V1__CHECK_RESPONSE__SERVING_STATUS__SERVING);
    rpc_ccall_free(&cc);
}

/* One client dialing two endpoints of a service spreads calls over both. */
/* gRPC's health protocol (issue 25 item 2): "" and the server's own full service names are
 * answered, any other name is NOT_FOUND (names are exact, as gRPC's). */
static void test_health_check_knows_its_service_names(void **state)
{
    fixture *f = *state;
    struct {
        const char *service;
        cf_code code;
    } cases[] = {
        {"", CF_OK},
        {"testsvc.v1.Echo", CF_OK},
        {"health.v1.Health", CF_OK},
        {"no.such.Service", CF_NOT_FOUND},
        {"testsvc.v1.echo", CF_NOT_FOUND},
        {"testsvc.v1.Echo/Echo", CF_NOT_FOUND},
        {"testsvc.v1", CF_NOT_FOUND},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        Health__V1__CheckRequest req = HEALTH__V1__CHECK_REQUEST__INIT;
        req.service = (char *)cases[i].service;
        rpc_ccall cc;
        rpc_ccall_init(&cc, NULL);
        health__v1__health__check(rpc_client_service(f->client, &health__v1__health__descriptor),
                                  &req, NULL, &cc);
        assert_code(cases[i].code, cc.code);
        if (cases[i].code == CF_OK)
            assert_int_equal(((Health__V1__CheckResponse *)cc.response)->status,
                             HEALTH__V1__CHECK_RESPONSE__SERVING_STATUS__SERVING);
        rpc_ccall_free(&cc);
    }
}

static bool is_cuid(const char *s)
{
    return s && strlen(s) == 25 && s[0] == 'c';
}

/* Every reply envelope names its request (issue 25 item 4): the caller's x-request-id when it
 * sent a sane one, else the id the service made (the one its handler and its log line use) —
 * on success, on every failed status, and on refusals before the method is known. */
static void test_every_reply_carries_the_request_id(void **state)
{
    fixture *f = *state;
    for (int code = 0; code < CF_CODE_COUNT; code++) {
        for (int sent = 0; sent < 2; sent++) {
            Testsvc__V1__EchoRequest req = TESTSVC__V1__ECHO_REQUEST__INIT;
            req.fail_code = code;
            req.text = "reason";
            char rid[32];
            snprintf(rid, sizeof rid, "rid-%d", code);
            rpc_ccall cc;
            rpc_ccall_init(&cc, NULL);
            if (sent)
                rpc_ccall_md(&cc, "x-request-id", rid);
            if (code == CF_OK)
                testsvc__v1__echo__echo(echo_svc(f->client), &req, NULL, &cc);
            else
                testsvc__v1__echo__fail(echo_svc(f->client), &req, NULL, &cc);
            assert_code(code, cc.code);
            if (sent)
                assert_string_equal(cc.request_id, rid);
            else
                assert_true(is_cuid(cc.request_id));
            if (code == CF_OK) /* the id the handler saw, which the service logs with */
                assert_string_equal(((Testsvc__V1__EchoReply *)cc.response)->request_id,
                                    cc.request_id);
            rpc_ccall_free(&cc);
        }
    }

    /* refusals before method lookup: an envelope that does not parse, an unknown method, a
     * malformed payload, an insane x-request-id */
    const char garbage[] = "\xff\xff\xff\xff\x0f not protobuf";
    Rpc__V1__Reply *r = raw_call(f->url, garbage, sizeof garbage, 15000);
    assert_non_null(r);
    assert_code(CF_INVALID_ARGUMENT, r->code);
    assert_true(is_cuid(r->request_id));
    rpc__v1__reply__free_unpacked(r, NULL);
    r = raw_envelope(f->url, "nope.v1.Nope/Nope", NULL, 0, 0);
    assert_non_null(r);
    assert_code(CF_UNIMPLEMENTED, r->code);
    assert_true(is_cuid(r->request_id));
    rpc__v1__reply__free_unpacked(r, NULL);
    r = raw_envelope(f->url, "testsvc.v1.Echo/Echo", garbage, sizeof garbage, 0);
    assert_non_null(r);
    assert_code(CF_INVALID_ARGUMENT, r->code);
    assert_true(is_cuid(r->request_id));
    rpc__v1__reply__free_unpacked(r, NULL);

    Rpc__V1__MetadataEntry md = RPC__V1__METADATA_ENTRY__INIT, *mdp = &md;
    md.key = "X-Request-Id";
    md.value = "caller-id-on-an-unknown-method";
    Rpc__V1__Request req = RPC__V1__REQUEST__INIT;
    req.method = "nope.v1.Nope/Nope";
    req.metadata = &mdp;
    req.n_metadata = 1;
    uint8_t buf[256];
    size_t n = rpc__v1__request__pack(&req, buf);
    r = raw_call(f->url, buf, n, 15000);
    assert_non_null(r);
    assert_code(CF_UNIMPLEMENTED, r->code);
    assert_string_equal(r->request_id, "caller-id-on-an-unknown-method");
    rpc__v1__reply__free_unpacked(r, NULL);
}

static void test_client_spreads_over_endpoints(void **state)
{
    (void)state;
    char u1[128], u2[128];
    int id1 = 1, id2 = 2;
    rpc_server *s1 = th_echo_server(th_ipc_url(u1, sizeof u1, "lb"), 2, &id1, NULL, NULL);
    rpc_server *s2 = th_echo_server(th_ipc_url(u2, sizeof u2, "lb"), 2, &id2, NULL, NULL);
    const char *urls[] = {u1, u2};
    rpc_client *c = th_client(urls, 2, 15000);
    int seen[3] = {0};
    /* both connections up: call until each endpoint has answered once (a fixed 200 ms sleep was
     * not always enough on a loaded machine, and every call then went to the first) */
    for (int i = 0; i < 3000 && !(seen[1] && seen[2]); i++) {
        Testsvc__V1__EchoRequest req = TESTSVC__V1__ECHO_REQUEST__INIT;
        rpc_ccall cc;
        rpc_ccall_init(&cc, NULL);
        testsvc__v1__echo__echo(echo_svc(c), &req, NULL, &cc);
        if (cc.code == CF_OK)
            seen[((Testsvc__V1__EchoReply *)cc.response)->worker]++;
        rpc_ccall_free(&cc);
        if (!(seen[1] && seen[2]))
            nng_msleep(10);
    }
    seen[1] = seen[2] = 0;
    for (int i = 0; i < 100; i++) {
        Testsvc__V1__EchoRequest req = TESTSVC__V1__ECHO_REQUEST__INIT;
        rpc_ccall cc;
        rpc_ccall_init(&cc, NULL);
        testsvc__v1__echo__echo(echo_svc(c), &req, NULL, &cc);
        assert_code(CF_OK, cc.code);
        seen[((Testsvc__V1__EchoReply *)cc.response)->worker]++;
        rpc_ccall_free(&cc);
    }
    /* nng's req socket alternates between idle pipes; one slow to come back lets the other take
     * a few more, so the bound is a share of the calls far below half, not an exact split */
    assert_true(seen[1] >= 10);
    assert_true(seen[2] >= 10);

    /* one endpoint down: calls still succeed on the other */
    rpc_server_free(s1);
    nng_msleep(100);
    for (int i = 0; i < 20; i++) {
        Testsvc__V1__EchoRequest req = TESTSVC__V1__ECHO_REQUEST__INIT;
        rpc_ccall cc;
        rpc_ccall_init(&cc, NULL);
        testsvc__v1__echo__echo(echo_svc(c), &req, NULL, &cc);
        assert_code(CF_OK, cc.code);
        assert_int_equal(((Testsvc__V1__EchoReply *)cc.response)->worker, 2);
        rpc_ccall_free(&cc);
    }
    rpc_client_free(c);
    rpc_server_free(s2);
}

static void test_no_server_is_unavailable(void **state)
{
    (void)state;
    char url[128];
    const char *u = th_ipc_url(url, sizeof url, "nobody");
    rpc_client *c = th_client(&u, 1, 200);
    Testsvc__V1__EchoRequest req = TESTSVC__V1__ECHO_REQUEST__INIT;
    rpc_ccall cc;
    rpc_ccall_init(&cc, NULL);
    testsvc__v1__echo__echo(echo_svc(c), &req, NULL, &cc);
    assert_code(CF_UNAVAILABLE, cc.code);
    rpc_ccall_free(&cc);
    rpc_client_free(c);
}

/* --- concurrency --- */

typedef struct worker_arg {
    rpc_client *client;
    int index, calls, ok, wrong;
} worker_arg;

static void *hammer(void *p)
{
    worker_arg *a = p;
    for (int i = 0; i < a->calls; i++) {
        char text[64];
        snprintf(text, sizeof text, "client %d call %d", a->index, i);
        Testsvc__V1__EchoRequest req = TESTSVC__V1__ECHO_REQUEST__INIT;
        req.text = text;
        rpc_ccall cc;
        rpc_ccall_init(&cc, NULL);
        cc.timeout_ms = 10000;
        testsvc__v1__echo__echo(rpc_client_service(a->client, &testsvc__v1__echo__descriptor), &req,
                                NULL, &cc);
        if (cc.code == CF_OK && strcmp(((Testsvc__V1__EchoReply *)cc.response)->text, text) == 0)
            a->ok++;
        else
            a->wrong++;
        rpc_ccall_free(&cc);
    }
    return NULL;
}

static void test_32_concurrent_clients_1000_calls_each(void **state)
{
    fixture *f = *state;
    enum { N = 32, CALLS = 1000 };
    pthread_t t[N];
    worker_arg a[N];
    const char *u = f->url;
    for (int i = 0; i < N; i++) {
        a[i] = (worker_arg){
            .client = i % 2 ? f->client : th_client(&u, 1, 10000), .index = i, .calls = CALLS};
        pthread_create(&t[i], NULL, hammer, &a[i]);
    }
    int ok = 0, wrong = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        ok += a[i].ok;
        wrong += a[i].wrong;
        if (i % 2 == 0)
            rpc_client_free(a[i].client);
    }
    assert_int_equal(wrong, 0);
    assert_int_equal(ok, N * CALLS);
}

/* --- graceful drain --- */

typedef struct slow_arg {
    rpc_client *client;
    cf_code code;
} slow_arg;

static void *slow_call(void *p)
{
    slow_arg *a = p;
    Testsvc__V1__EchoRequest req = TESTSVC__V1__ECHO_REQUEST__INIT;
    req.sleep_ms = 300;
    req.text = "slow";
    rpc_ccall cc;
    rpc_ccall_init(&cc, NULL);
    testsvc__v1__echo__echo(rpc_client_service(a->client, &testsvc__v1__echo__descriptor), &req,
                            NULL, &cc);
    a->code = cc.code;
    rpc_ccall_free(&cc);
    return NULL;
}

static void test_drain_finishes_calls_in_flight(void **state)
{
    (void)state;
    char url[128];
    int id = 3;
    rpc_server *s = th_echo_server(th_ipc_url(url, sizeof url, "drain"), 4, &id, NULL, NULL);
    const char *u = url;
    rpc_client *c = th_client(&u, 1, 3000);
    enum { N = 4 };
    pthread_t t[N];
    slow_arg a[N];
    for (int i = 0; i < N; i++) {
        a[i] = (slow_arg){.client = c, .code = CF_UNKNOWN};
        pthread_create(&t[i], NULL, slow_call, &a[i]);
    }
    while (rpc_server_inflight(s) < N)
        nng_msleep(5);
    rpc_server_drain(s); /* blocks until the 4 calls have answered */
    assert_int_equal(rpc_server_inflight(s), 0);
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        assert_code(CF_OK, a[i].code);
    }
    /* nothing is served after the drain */
    rpc_client_free(c);
    c = th_client(&u, 1, 200);
    slow_arg after = {.client = c};
    slow_call(&after);
    assert_code(CF_UNAVAILABLE, after.code);
    rpc_client_free(c);
    rpc_server_free(s);
}

/* --- asynchronous calls (what the gateway uses) --- */

typedef struct async_state {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int done, ok, wrong;
    cf_code last;
} async_state;

typedef struct async_one {
    rpc_ccall cc;
    char text[32];
    async_state *st;
} async_one;

static void async_done(rpc_ccall *cc, void *arg)
{
    async_one *o = arg;
    pthread_mutex_lock(&o->st->lock);
    if (cc->code == CF_OK && strcmp(((Testsvc__V1__EchoReply *)cc->response)->text, o->text) == 0)
        o->st->ok++;
    else
        o->st->wrong++;
    o->st->last = cc->code;
    o->st->done++;
    pthread_cond_signal(&o->st->cond);
    pthread_mutex_unlock(&o->st->lock);
}

static void run_async(rpc_client *c, int n, uint32_t sleep_ms, int timeout_ms, async_state *st)
{
    async_one *calls = calloc((size_t)n, sizeof *calls);
    *st = (async_state){.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    for (int i = 0; i < n; i++) {
        async_one *o = &calls[i];
        o->st = st;
        snprintf(o->text, sizeof o->text, "async %d", i);
        rpc_ccall_init(&o->cc, NULL);
        o->cc.timeout_ms = timeout_ms;
        Testsvc__V1__EchoRequest req = TESTSVC__V1__ECHO_REQUEST__INIT;
        req.text = o->text;
        req.sleep_ms = sleep_ms;
        rpc_client_invoke_async(c, &testsvc__v1__echo__descriptor, 0, &req.base, &o->cc, async_done,
                                o);
    }
    pthread_mutex_lock(&st->lock);
    while (st->done < n)
        pthread_cond_wait(&st->cond, &st->lock);
    pthread_mutex_unlock(&st->lock);
    for (int i = 0; i < n; i++)
        rpc_ccall_free(&calls[i].cc);
    free(calls);
}

static void test_async_calls_complete_once_each(void **state)
{
    fixture *f = *state;
    async_state st;
    run_async(f->client, 500, 0, 15000, &st);
    assert_int_equal(st.ok, 500);
    assert_int_equal(st.wrong, 0);

    /* past the deadline: every call completes with DEADLINE_EXCEEDED, none hangs */
    run_async(f->client, 8, 300, 50, &st);
    assert_int_equal(st.done, 8);
    assert_int_equal(st.ok, 0);
    assert_code(CF_DEADLINE_EXCEEDED, st.last);

    /* contexts are pooled (docs/decisions.md, "Uncached request paths"): calls made while the
     * late replies of the calls above arrive each get their own reply, never a stale one, and
     * the pool serves many more calls than it keeps */
    run_async(f->client, 50, 350, 15000, &st);
    assert_int_equal(st.ok, 50);
    assert_int_equal(st.wrong, 0);
    run_async(f->client, 600, 0, 15000, &st);
    assert_int_equal(st.ok, 600);

    /* nobody listening: UNAVAILABLE */
    char url[128];
    const char *u = th_ipc_url(url, sizeof url, "async-nobody");
    rpc_client *c = th_client(&u, 1, 100);
    run_async(c, 3, 0, 100, &st);
    assert_int_equal(st.done, 3);
    assert_code(CF_UNAVAILABLE, st.last);
    rpc_client_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip_echoes_text_and_metadata, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_id_generated_when_absent_or_insane, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_every_status_code_reaches_the_client, setup, teardown),
        cmocka_unit_test_setup_teardown(test_field_violation_details, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_deadline_exceeded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage_bytes_are_invalid_argument, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_method_is_unimplemented, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oversized_request_is_resource_exhausted, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_server_enforces_deadline, setup, teardown),
        cmocka_unit_test(test_caller_identity_is_verified),
        cmocka_unit_test_setup_teardown(test_health_check_serving_then_not_while_draining, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_health_check_knows_its_service_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_reply_carries_the_request_id, setup, teardown),
        cmocka_unit_test(test_client_spreads_over_endpoints),
        cmocka_unit_test(test_no_server_is_unavailable),
        cmocka_unit_test_setup_teardown(test_32_concurrent_clients_1000_calls_each, setup,
                                        teardown),
        cmocka_unit_test(test_drain_finishes_calls_in_flight),
        cmocka_unit_test_setup_teardown(test_async_calls_complete_once_each, setup, teardown),
    };
    return cmocka_run_group_tests_name("rpc", tests, NULL, NULL);
}
