/* pbjson.h — the proto3 JSON mapping of any protobuf-c message, driven by its descriptor, in
 * both directions, on jansson (https://protobuf.dev/programming-guides/proto3/#json).
 * Output emits unpopulated fields the way grpc-gateway v2 does (EmitUnpopulated). The gateway,
 * the `confetti call` CLI and the services' JSON columns (google.protobuf.Struct) use it. */
#ifndef CONFETTI_PBJSON_PBJSON_H
#define CONFETTI_PBJSON_PBJSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

#include "base/status.h"
#include "google/protobuf/struct.pb-c.h"

/* Deepest JSON nesting (objects and arrays, the top level counting as 1) accepted or emitted. */
#define PBJSON_MAX_DEPTH 64
/* Buffer size for pbjson_timestamp_format ("9999-12-31T23:59:59.999999999Z" and NUL). */
#define PBJSON_TIMESTAMP_MAX 40

/* Where and why a conversion failed. path is the JSON path of the offending value, in
 * lowerCamelCase or as given in the input: "inner.name", "tags[2]", "meta.a.b" ("" = top). */
typedef struct pbjson_error {
    char path[256];
    char message[256];
} pbjson_error;

/* The JSON form of msg: a new reference, never NULL (a NULL msg gives JSON null). Unset singular
 * message fields are null, repeated fields [], scalars their defaults; unselected oneof members
 * are left out. Invalid UTF-8 in strings is replaced by U+FFFD; a nesting deeper than
 * PBJSON_MAX_DEPTH, an out-of-range Timestamp or a non-finite Value number is emitted as null. */
json_t *pbjson_to_json(const ProtobufCMessage *msg);

/* pbjson_to_json, dumped as compact JSON. The caller frees the string with free(). */
char *pbjson_to_string(const ProtobufCMessage *msg);

/* Builds a message of type desc from json. On CF_OK *out is a message laid out exactly as
 * protobuf_c_message_unpack would make it, every block from alloc (NULL = protobuf-c's default):
 * release it with protobuf_c_message_free_unpacked(*out, alloc). On error (always
 * CF_INVALID_ARGUMENT) *out is NULL, nothing is left allocated, and err (may be NULL) names the
 * path and the reason. json is borrowed. Does not block. */
cf_code pbjson_from_json(const ProtobufCMessageDescriptor *desc, const json_t *json,
                         ProtobufCAllocator *alloc, ProtobufCMessage **out, pbjson_error *err);

/* pbjson_from_json on the JSON text[0..len): the top level must be an object, duplicate keys are
 * rejected, invalid JSON (or UTF-8) is CF_INVALID_ARGUMENT with jansson's line and column. */
cf_code pbjson_from_string(const ProtobufCMessageDescriptor *desc, const char *text, size_t len,
                           ProtobufCAllocator *alloc, ProtobufCMessage **out, pbjson_error *err);

/* A Struct as a plain JSON object (new reference; NULL s gives {}). */
json_t *pbjson_struct_to_json(const Google__Protobuf__Struct *s);

/* A plain JSON object as a Struct; ownership and errors as pbjson_from_json. */
cf_code pbjson_struct_from_json(const json_t *object, ProtobufCAllocator *alloc,
                                Google__Protobuf__Struct **out, pbjson_error *err);

/* RFC 3339 in UTC with 0, 3, 6 or 9 fractional digits into out; false if seconds is outside
 * 0001-01-01..9999-12-31 or nanos outside 0..999999999. */
bool pbjson_timestamp_format(int64_t seconds, int32_t nanos, char out[PBJSON_TIMESTAMP_MAX]);

/* Parses an RFC 3339 time ("2026-11-27T09:31:27.5+01:00": 0-9 fractional digits, 'Z' or ±hh:mm)
 * of length len; false if malformed or outside 0001-01-01..9999-12-31 UTC. */
bool pbjson_timestamp_parse(const char *text, size_t len, int64_t *seconds, int32_t *nanos);

#endif
