/* test_dispatch_fuzz.c — hostile bytes through the dispatcher (the code every request crosses):
 * valid envelopes mutated at random (seeded, so a failure replays), truncated, extended and
 * random garbage. Every input must produce a well-formed reply envelope with a status in the
 * vocabulary: no crash, no leak (ASan), no hang. Deterministic: not a libFuzzer run, a
 * regression net that runs in every `make test`. */
#include "th.h"
#include "testsvc.h"
#include "rpc/dispatch.h"

#include <stdlib.h>
#include <string.h>

ProtobufCService *th_echo_service(void);

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next(void)
{
    return th_xorshift(&rng);
}

static size_t valid_envelope(uint8_t *buf, size_t cap)
{
    Testsvc__V1__EchoRequest er = TESTSVC__V1__ECHO_REQUEST__INIT;
    er.text = "hello";
    uint8_t payload[64];
    size_t plen = testsvc__v1__echo_request__pack(&er, payload);
    Rpc__V1__MetadataEntry md = RPC__V1__METADATA_ENTRY__INIT, *mdp = &md;
    md.key = "x-request-id";
    md.value = "fuzz";
    Rpc__V1__Request req = RPC__V1__REQUEST__INIT;
    req.method = (next() & 1) ? "testsvc.v1.Echo/Echo" : "health.v1.Health/Check";
    req.payload.data = payload;
    req.payload.len = plen;
    req.metadata = &mdp;
    req.n_metadata = 1;
    req.timeout_ms = 1000;
    assert_true(rpc__v1__request__get_packed_size(&req) <= cap);
    return rpc__v1__request__pack(&req, buf);
}

static void test_dispatch_survives_mutated_and_random_input(void **state)
{
    (void)state;
    rpc_dispatcher d = {.max_message = 4096};
    int id = 1;
    rpc_dispatcher_add(&d, th_echo_service(), &id);
    arena a;
    arena_init(&a, 4096);
    int counts[CF_CODE_COUNT] = {0};
    for (int iter = 0; iter < 60000; iter++) {
        uint8_t buf[16384];
        size_t n = valid_envelope(buf, sizeof buf);
        switch (iter % 4) {
        case 0: /* flip a few bytes */
            for (int k = 0; k < 1 + (int)(next() % 4); k++)
                buf[next() % n] ^= (uint8_t)(1 + next() % 255);
            break;
        case 1: /* truncate */
            n = next() % n;
            break;
        case 2: /* extend with junk */
            for (size_t k = n, m = n + next() % 64; k < m; k++)
                buf[k] = (uint8_t)next();
            n += next() % 64;
            break;
        default: /* garbage of any length up to 12 KiB (past the limit and its slack) */
            n = next() % 12288;
            for (size_t k = 0; k < n; k++)
                buf[k] = (uint8_t)next();
        }
        nng_msg *reply;
        assert_int_equal(nng_msg_alloc(&reply, 0), 0);
        rpc_dispatch(&d, buf, n, 0, NULL, &a, reply);
        arena_reset(&a);
        Rpc__V1__Reply *r = rpc__v1__reply__unpack(NULL, nng_msg_len(reply), nng_msg_body(reply));
        assert_non_null(r);
        assert_true(r->code >= 0 && r->code < CF_CODE_COUNT);
        counts[r->code]++;
        rpc__v1__reply__free_unpacked(r, NULL);
        nng_msg_free(reply);
    }
    /* the mix really exercised both the happy path and the refusals */
    assert_true(counts[CF_OK] > 0);
    assert_true(counts[CF_INVALID_ARGUMENT] > 0);
    assert_true(counts[CF_UNIMPLEMENTED] > 0);
    assert_true(counts[CF_RESOURCE_EXHAUSTED] > 0);
    arena_release(&a);
    rpc_dispatcher_fini(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dispatch_survives_mutated_and_random_input),
    };
    return cmocka_run_group_tests_name("dispatch_fuzz", tests, NULL, NULL);
}
