/* status.h — the one status vocabulary of Confetti: gRPC's codes, numbers and meanings, with
 * their names and the HTTP status grpc-gateway maps them to. Defined once, as an X-macro. */
#ifndef CONFETTI_BASE_STATUS_H
#define CONFETTI_BASE_STATUS_H

#include <stdbool.h>

/* X(ENUM, number, "NAME", http_status) */
#define CF_STATUS_MAP(X)                                                                           \
    X(OK, 0, "OK", 200)                                                                            \
    X(CANCELLED, 1, "CANCELLED", 499)                                                              \
    X(UNKNOWN, 2, "UNKNOWN", 500)                                                                  \
    X(INVALID_ARGUMENT, 3, "INVALID_ARGUMENT", 400)                                                \
    X(DEADLINE_EXCEEDED, 4, "DEADLINE_EXCEEDED", 504)                                              \
    X(NOT_FOUND, 5, "NOT_FOUND", 404)                                                              \
    X(ALREADY_EXISTS, 6, "ALREADY_EXISTS", 409)                                                    \
    X(PERMISSION_DENIED, 7, "PERMISSION_DENIED", 403)                                              \
    X(RESOURCE_EXHAUSTED, 8, "RESOURCE_EXHAUSTED", 429)                                            \
    X(FAILED_PRECONDITION, 9, "FAILED_PRECONDITION", 400)                                          \
    X(ABORTED, 10, "ABORTED", 409)                                                                 \
    X(OUT_OF_RANGE, 11, "OUT_OF_RANGE", 400)                                                       \
    X(UNIMPLEMENTED, 12, "UNIMPLEMENTED", 501)                                                     \
    X(INTERNAL, 13, "INTERNAL", 500)                                                               \
    X(UNAVAILABLE, 14, "UNAVAILABLE", 503)                                                         \
    X(DATA_LOSS, 15, "DATA_LOSS", 500)                                                             \
    X(UNAUTHENTICATED, 16, "UNAUTHENTICATED", 401)

typedef enum cf_code {
#define CF_X(e, n, s, h) CF_##e = n,
    CF_STATUS_MAP(CF_X)
#undef CF_X
} cf_code;

#define CF_CODE_COUNT 17

/* Name of a code ("NOT_FOUND"); "UNKNOWN" for a number outside the vocabulary. */
const char *cf_code_name(int code);

/* Parses a name back into a code; false if it is not one. */
bool cf_code_from_name(const char *name, cf_code *out);

/* HTTP status for a code, as grpc-gateway maps it. */
int cf_code_http(int code);

/* Clamps a number from the wire into the vocabulary (anything unknown becomes CF_UNKNOWN). */
cf_code cf_code_from_int(int n);

#endif
