/* envelope_fuzz.c — libFuzzer target: bytes as an RPC server receives them, through the real
 * dispatcher (common/rpc/dispatch.c) with every service descriptor of proto/ registered (catalog,
 * rooms, draw, auth, events, health: the generated registry, so a new service is fuzzed without
 * an edit here). Bound, envelope decode, deadline, request id, method lookup, token verification
 * (a real verifier over the fuzz key), request decode with the method's real input descriptor,
 * reply encode: everything a service does before its handler. The handler is a stand-in (no
 * database): it re-encodes the decoded request and checks that the encoding decodes again, then
 * answers with an empty response.
 *
 * Checked on every input (SPEC §4: malformed input gets a status, a service never crashes, leaks
 * or hangs): no crash, leak or UB (ASan/UBSan); the reply envelope decodes; its code is a known
 * status; an undecodable envelope is INVALID_ARGUMENT; the reply is OK only when the handler ran,
 * and a handler that ran (the stand-in always answers OK) gives OK, or DEADLINE_EXCEEDED when the
 * deadline passed meanwhile: no refused call runs, no handler's answer is lost. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>

#include "base/log.h"
#include "fuzz_common.h"
#include "rpc/dispatch.h"
#include "rpc/rpc.h"
#include "rpc/v1/envelope.pb-c.h"

extern const ProtobufCServiceDescriptor *const confetti_services[];

/* rpc.max_message for this dispatcher: below -max_len (4096), so "exceeds the limit" is reached,
 * and above most inputs, so decoding is too. */
#define FUZZ_MAX_MESSAGE 3000
/* The request "arrived" this long before dispatch, so a timeout_ms of 1 or 2 has always expired
 * and "deadline expired before the call started" is reached on purpose. */
#define FUZZ_QUEUED_NS 2000000

static bool invoked;

static void stand_in_invoke(ProtobufCService *service, unsigned method_index,
                            const ProtobufCMessage *input, ProtobufCClosure closure,
                            void *closure_data)
{
    rpc_call *call = closure_data;
    const ProtobufCMethodDescriptor *md = &service->descriptor->methods[method_index];
    if (input->descriptor != md->input)
        abort(); /* the dispatcher decoded with another type than the method's */
    /* What a handler may read must be there. */
    if (!rpc_method(call) || !rpc_request_id(call) || !*rpc_request_id(call))
        abort();
    (void)rpc_md_get(call, "idempotency-key");
    (void)rpc_caller(call);
    (void)rpc_remaining_ms(call);

    /* protobuf-c must be able to read back what it writes of a message it accepted. */
    size_t n = protobuf_c_message_get_packed_size(input);
    uint8_t *buf = rpc_alloc(call, n ? n : 1);
    if (protobuf_c_message_pack(input, buf) != n)
        abort();
    ProtobufCMessage *again = protobuf_c_message_unpack(md->input, NULL, n, buf);
    if (!again)
        abort();
    protobuf_c_message_free_unpacked(again, NULL);

    invoked = true;
    rpc_call_set_code(call, CF_OK);
    closure(rpc_call_response(call), closure_data);
}

static rpc_dispatcher dispatcher;
static ProtobufCService services[RPC_MAX_SERVICES];
static arena worker_arena;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    log_setup("fuzz", LOG_ERROR + 1); /* quiet: the handler's INTERNALs are expected here */
    authn_keyset *ks;
    authn_verifier *v;
    fuzz_verifier_new(64, &ks, &v); /* kept for the process lifetime */
    dispatcher.max_message = FUZZ_MAX_MESSAGE;
    dispatcher.verifier = v;
    size_t n = 0;
    for (const ProtobufCServiceDescriptor *const *sd = confetti_services; *sd; sd++) {
        if (n == RPC_MAX_SERVICES)
            abort(); /* more services than one dispatcher holds: raise the bound */
        services[n] = (ProtobufCService){*sd, stand_in_invoke, NULL};
        rpc_dispatcher_add(&dispatcher, &services[n], NULL);
        n++;
    }
    arena_init(&worker_arena, 16384);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    nng_msg *reply;
    if (nng_msg_alloc(&reply, 0) != 0)
        abort();
    bool envelope_ok;
    {
        Rpc__V1__Request *req = rpc__v1__request__unpack(NULL, size, data);
        envelope_ok = req != NULL;
        rpc__v1__request__free_unpacked(req, NULL);
    }
    invoked = false;
    rpc_dispatch(&dispatcher, data, size, cf_mono_ns() - FUZZ_QUEUED_NS, NULL, &worker_arena,
                 reply);
    arena_reset(&worker_arena);

    Rpc__V1__Reply *r = rpc__v1__reply__unpack(NULL, nng_msg_len(reply), nng_msg_body(reply));
    if (!r)
        abort(); /* our own reply must decode */
    if (r->code < 0 || r->code > CF_UNAUTHENTICATED || !r->message)
        abort();
    if (!envelope_ok && r->code != CF_INVALID_ARGUMENT)
        abort();
    if ((r->code == CF_OK && !invoked) ||
        (invoked && r->code != CF_OK && r->code != CF_DEADLINE_EXCEEDED)) /* ran past it */
        abort();
    rpc__v1__reply__free_unpacked(r, NULL);
    nng_msg_free(reply);
    return 0;
}
