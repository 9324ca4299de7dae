/* semver.h — Semantic Versioning 2.0.0 (https://semver.org): strict parsing and precedence.
 * Pure functions, no allocation: a parsed version points into the string it came from. */
#ifndef CONFETTI_CATALOG_SEMVER_H
#define CONFETTI_CATALOG_SEMVER_H

#include <stdbool.h>
#include <stddef.h>

/* Longest version string accepted (a manifest's "version"; also bounds the stored column). */
#define SEMVER_MAX_LEN 128

/* A parsed version: each part is [ptr, ptr+len) inside the original string (borrowed). */
typedef struct semver {
    const char *major, *minor, *patch, *pre, *build;
    size_t major_len, minor_len, patch_len, pre_len, build_len; /* pre/build: 0 = absent */
} semver;

/* Parses s as MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]: numbers without leading zeros (any
 * magnitude: compared as digit strings, never overflowing), dot-separated non-empty
 * identifiers of [0-9A-Za-z-], numeric pre-release identifiers without leading zeros, at most
 * SEMVER_MAX_LEN bytes. Returns false (out untouched) on anything else, including a leading
 * "v" or whitespace. */
bool semver_parse(const char *s, semver *out);

/* semver_parse without keeping the result. */
bool semver_valid(const char *s);

/* Precedence (semver §11): <0, 0 or >0 as a is lower than, equal to or higher than b. Build
 * metadata is ignored, so "1.0.0+a" and "1.0.0+b" are equal. */
int semver_cmp(const semver *a, const semver *b);

#endif
