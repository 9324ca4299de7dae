/* pbdeep.h — hostile protobuf bytes for the nesting tests: messages nested to any depth, built
 * back to front in one pass (linear in the output, so 10^5 levels cost nothing). */
#ifndef CONFETTI_TESTS_PBDEEP_H
#define CONFETTI_TESTS_PBDEEP_H

#include <stddef.h>
#include <stdint.h>

/* A buffer filled from its end towards its start: what is written last comes first. */
typedef struct th_pbw {
    uint8_t *buf;
    size_t cap, pos; /* the bytes are buf[pos..cap) */
} th_pbw;

/* An empty writer with room for cap bytes (aborts the test if more are written). */
void th_pbw_init(th_pbw *w, size_t cap);
void th_pbw_free(th_pbw *w);
const uint8_t *th_pbw_data(const th_pbw *w);
size_t th_pbw_len(const th_pbw *w);

/* Prepends raw bytes / a varint. */
void th_pbw_raw(th_pbw *w, const void *p, size_t n);
void th_pbw_varint(th_pbw *w, uint64_t v);
/* Prepends a field header: tag (field << 3 | wire) and, for wire type 2, the length of
 * everything written after `mark` (a th_pbw_len taken before) — i.e. wraps that content. */
void th_pbw_wrap(th_pbw *w, uint32_t field, size_t mark);
/* Prepends a string field (wire type 2). */
void th_pbw_string(th_pbw *w, uint32_t field, const char *s);

/* Prepends a google.protobuf.Value nested `levels` messages deep (levels >= 1): Value ->
 * ListValue -> Value -> … , the innermost one empty. */
void th_pbw_deep_value(th_pbw *w, size_t levels);

/* The bytes of a message whose field `field` is a google.protobuf.Struct holding {"k": <Value>}
 * so that the whole message is `depth` levels deep (depth >= 4: message, Struct, FieldsEntry,
 * Value…). Caller frees *out with free(). */
void th_pb_deep_struct_field(uint32_t field, size_t depth, uint8_t **out, size_t *len);

#endif
