/* page.h — list paging as SPEC §4 fixes it: `page_size` (default 20, max 100) and an opaque
 * `page_token` naming the keyset position after which the next page starts. A token carries the
 * sort key of the last row returned (e.g. created_at and id) plus a fingerprint of the list's
 * filters, so a token replayed with other filters is refused rather than silently wrong
 * (AIP-158). Tokens are opaque to clients, not secret: the server validates every part. */
#ifndef CONFETTI_PAGE_PAGE_H
#define CONFETTI_PAGE_PAGE_H

#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/status.h"

#define PAGE_SIZE_DEFAULT 20
#define PAGE_SIZE_MAX     100
#define PAGE_MAX_PARTS    4
#define PAGE_TOKEN_MAX    512

/* Normalizes a requested page size: 0 → 20, above 100 → 100, negative → INVALID_ARGUMENT. */
cf_code page_size(int32_t requested, int *out);

/* Encodes `n` key parts (no NUL inside; each ≤ 128 bytes) and a filter fingerprint into a
 * token allocated in `a`. */
char *page_token_encode(arena *a, const char *filters, const char *const *parts, size_t n);

/* Decodes a token made by page_token_encode with the same `filters` and exactly `n` parts into
 * parts[] (strings in `a`). An empty token is CF_NOT_FOUND ("first page"); anything malformed,
 * made for other filters or with another number of parts is CF_INVALID_ARGUMENT. */
cf_code page_token_decode(arena *a, const char *token, const char *filters, char **parts, size_t n);

/* The keyset most lists use: a creation time in epoch microseconds and an id (the sort key of
 * the last row returned). */
/* The latest keyset time a token may name: 9999-12-31T23:59:59.999999Z, within every store's
 * timestamp range (PostgreSQL's timestamptz ends in 294276 AD, but its microsecond arithmetic
 * overflows near INT64_MAX). A token past it is CF_INVALID_ARGUMENT. */
#define PAGE_KEYSET_MAX_US 253402300799999999LL

char *page_keyset_encode(arena *a, const char *filters, int64_t after_us, const char *after_id);

/* Decodes such a token: CF_OK with *after_us >= 0 and a non-empty *after_id (in `a`);
 * CF_NOT_FOUND for an empty token (the first page); CF_INVALID_ARGUMENT for anything else. */
cf_code page_keyset_decode(arena *a, const char *token, const char *filters, int64_t *after_us,
                           char **after_id);

#endif
