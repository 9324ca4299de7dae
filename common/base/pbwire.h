/* pbwire.h — the one way Confetti unpacks protobuf bytes it did not make. protobuf-c 1.4
 * unpacks sub-messages by recursion with no depth limit, so a few tens of KB of nested
 * google.protobuf.Value/ListValue overflow the stack of whoever unpacks them. pb_unpack first
 * walks the wire format without building anything (pbwire_scan: iterative, an explicit stack of
 * at most PB_MAX_DEPTH frames, one pass over the bytes) and calls protobuf-c only when the
 * nesting is within the bound. Every unpack outside tests goes through pb_unpack; the test
 * lint_no_raw_unpack fails if a call site bypasses it. */
#ifndef CONFETTI_BASE_PBWIRE_H
#define CONFETTI_BASE_PBWIRE_H

#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

#include "base/status.h"

/* Deepest message nesting accepted on the wire, the outermost message counting as 1. A JSON
 * document within PBJSON_MAX_DEPTH (64) is at most 1 + 63 * 3 = 190 levels as protobuf (each
 * JSON object is Struct -> FieldsEntry -> Value), so whatever the gateway accepts as JSON fits;
 * and 256 levels of protobuf-c's unpack take well under 1 MiB of stack (docs/operations.md,
 * "Limits and hostile input"). */
#define PB_MAX_DEPTH 256

typedef enum pbwire_result {
    PBWIRE_OK = 0,
    PBWIRE_TOO_DEEP,  /* well formed as far as read, but nested deeper than max_depth */
    PBWIRE_MALFORMED, /* a bad varint, a length past its end, a group, an unknown wire type */
} pbwire_result;

/* Walks data[0..len) as a message of type desc, descending only into fields desc (and the
 * descriptors below it) declares as messages; unknown fields, packed scalars, strings and bytes
 * are skipped as protobuf-c keeps them, unparsed. Nothing is allocated; the cost is linear in
 * len. max_depth must be 1..PB_MAX_DEPTH. Groups (wire types 3 and 4) are MALFORMED: protobuf-c
 * 1.4 refuses them too. A MALFORMED answer may come before a TOO_DEEP one further on; an OK
 * one does not mean protobuf-c will accept the bytes (required fields, UTF-8 are its business).
 * Does not block. */
pbwire_result pbwire_scan(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len,
                          unsigned max_depth);

/* Unpacks data[0..len) as desc into alloc (NULL = protobuf-c's default allocator), after
 * pbwire_scan with PB_MAX_DEPTH. On CF_OK *out is the message (release it as any unpacked
 * message). Otherwise *out is NULL, the code is CF_INVALID_ARGUMENT and *why (may be NULL) is a
 * static text: "nested deeper than 256 levels" or "malformed". Callers that did not get the
 * bytes from a client (RPC replies, stored events) map the failure to their own code. */
cf_code pb_unpack(const ProtobufCMessageDescriptor *desc, ProtobufCAllocator *alloc,
                  const uint8_t *data, size_t len, ProtobufCMessage **out, const char **why);

#endif
