/* pbjson_fuzz.c — libFuzzer target for the proto3 JSON mapping (common/pbjson), in both
 * directions, over every message type the platform exchanges: each request and response type of
 * every service in proto/ (the generated registry), google.protobuf.Struct, and testsvc.v1.Kitchen
 * (every field type in one message).
 *
 * Input: byte 0 picks the message type (modulo their number, in registry order), byte 1's low bit
 * the direction, the rest is the document:
 *   0  JSON → message, as the gateway decodes a request body. Whatever is accepted must encode to
 *      JSON that is accepted again and encodes the same way, and its binary encoding must decode.
 *   1  binary → JSON, as the gateway encodes a service's reply: the message is unpacked, encoded
 *      to JSON, and that JSON must be accepted again.
 * Any input must be accepted or refused without a crash, a leak or UB. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pbjson/pbjson.h"
#include "testsvc/v1/echo.pb-c.h"

extern const ProtobufCServiceDescriptor *const confetti_services[];

#define MAX_TYPES 512
static const ProtobufCMessageDescriptor *types[MAX_TYPES];
static size_t ntypes;

static void add_type(const ProtobufCMessageDescriptor *d)
{
    for (size_t i = 0; i < ntypes; i++)
        if (types[i] == d)
            return;
    if (ntypes == MAX_TYPES)
        abort(); /* raise MAX_TYPES */
    types[ntypes++] = d;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    add_type(&testsvc__v1__kitchen__descriptor);
    add_type(&google__protobuf__struct__descriptor);
    for (const ProtobufCServiceDescriptor *const *sd = confetti_services; *sd; sd++)
        for (unsigned m = 0; m < (*sd)->n_methods; m++) {
            add_type((*sd)->methods[m].input);
            add_type((*sd)->methods[m].output);
        }
    return 0;
}

static void fail(const char *what, const char *a, const char *b)
{
    fprintf(stderr, "pbjson_fuzz: %s\n  first:  %s\n  second: %s\n", what, a ? a : "", b ? b : "");
    abort();
}

static void json_to_message(const ProtobufCMessageDescriptor *desc, const char *text, size_t len)
{
    ProtobufCMessage *m = NULL, *again = NULL;
    pbjson_error err;
    if (pbjson_from_string(desc, text, len, NULL, &m, &err) != CF_OK) {
        if (m)
            fail("refused input left a message", err.path, err.message);
        return;
    }
    char *first = pbjson_to_string(m);
    if (pbjson_from_string(desc, first, strlen(first), NULL, &again, &err) != CF_OK)
        fail("our own output is refused", first, err.message);
    char *second = pbjson_to_string(again);
    if (strcmp(first, second) != 0)
        fail("output changes on a round trip", first, second);

    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(n ? n : 1);
    if (protobuf_c_message_pack(m, buf) != n)
        fail("packed size differs", first, NULL);
    ProtobufCMessage *bin = protobuf_c_message_unpack(desc, NULL, n, buf);
    if (!bin)
        fail("the binary form of an accepted message does not decode", first, NULL);
    protobuf_c_message_free_unpacked(bin, NULL);
    free(buf);
    free(first);
    free(second);
    protobuf_c_message_free_unpacked(m, NULL);
    protobuf_c_message_free_unpacked(again, NULL);
}

static void binary_to_json(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len)
{
    ProtobufCMessage *m = protobuf_c_message_unpack(desc, NULL, len, data);
    if (!m)
        return;
    char *text = pbjson_to_string(m);
    ProtobufCMessage *again = NULL;
    pbjson_error err;
    if (pbjson_from_string(desc, text, strlen(text), NULL, &again, &err) != CF_OK)
        fail("JSON made from a decoded message is refused", text, err.message);
    protobuf_c_message_free_unpacked(again, NULL);
    free(text);
    protobuf_c_message_free_unpacked(m, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    const ProtobufCMessageDescriptor *desc = types[data[0] % ntypes];
    if (data[1] & 1)
        binary_to_json(desc, data + 2, size - 2);
    else
        json_to_message(desc, (const char *)data + 2, size - 2);
    return 0;
}
