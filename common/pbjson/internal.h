/* internal.h — what the two directions of pbjson share: descriptor facts (walk.c) and the
 * text forms of base64, names and UTF-8 (text.c). Not installed; include only from pbjson. */
#ifndef CONFETTI_PBJSON_INTERNAL_H
#define CONFETTI_PBJSON_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

/* A member of a generated message struct at a byte offset. */
#define PBJ_MEMBER(type, msg, off) (*(type *)((char *)(msg) + (off)))

/* Message types whose JSON form is not an object of their fields. */
typedef enum pbj_kind {
    PBJ_PLAIN,
    PBJ_STRUCT,
    PBJ_VALUE,
    PBJ_LIST,
    PBJ_TIMESTAMP,
    PBJ_FIELD_MASK,
} pbj_kind;

pbj_kind pbj_kind_of(const ProtobufCMessageDescriptor *desc);

/* True if f is a map<K,V> field (protoc's nested "<Field>Entry" message with key and value). */
bool pbj_is_map(const ProtobufCMessageDescriptor *parent, const ProtobufCFieldDescriptor *f);

/* True for the two types whose JSON null is a value rather than "unset": Value and NullValue. */
bool pbj_null_is_value(const ProtobufCFieldDescriptor *f);

/* Size of one element of a repeated field of type t. */
size_t pbj_elem_size(ProtobufCType t);

/* lowerCamelCase json_name of a proto field name, as protoc derives it; truncated to cap. */
void pbj_json_name(const char *proto_name, char *out, size_t cap);

/* True if key names f, by its proto name or its json_name. */
bool pbj_field_matches(const ProtobufCFieldDescriptor *f, const char *key);

/* Standard, padded base64 of p[0..n): xmalloc'd. */
char *pbj_base64_encode(const uint8_t *p, size_t n);

/* Decodes standard or URL-safe base64, padded or not, into out (room for n / 4 * 3 + 3 bytes);
 * false if s is not base64. */
bool pbj_base64_decode(const char *s, size_t n, uint8_t *out, size_t *out_len);

/* Length of the valid UTF-8 sequence at s[0..n) (RFC 3629: no overlongs, surrogates or
 * > U+10FFFF), or 0. */
size_t pbj_utf8_seq(const unsigned char *s, size_t n);

/* encode.c's JSON tree of field f of m (write.c hands it the rare cases). */
json_t *pbj_encode_field(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, int depth);

/* A JSON string of s[0..n), each byte of invalid UTF-8 replaced by U+FFFD. */
json_t *pbj_string(const char *s, size_t n);

/* FieldMask paths: snake_case <-> lowerCamelCase, xmalloc'd. */
char *pbj_snake_to_camel(const char *s, size_t n);
char *pbj_camel_to_snake(const char *s, size_t n);
/* Whether a FieldMask path has a JSON form that reads back as itself: not empty, no comma (the
 * separator), no upper-case letter (lowerCamelCase would read it back as "_x"). A mask with a
 * path that has none is written null, as an out-of-range Timestamp is (both encoders). */
bool pbj_mask_path_ok(const char *path);

#endif
