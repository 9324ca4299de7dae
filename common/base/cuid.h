/* cuid.h — CUIDs (v1 layout): 25 chars, 'c' + base36 time(ms, 8) + counter(4) +
 * fingerprint(4) + random(8). URL-safe, sortable by creation time to the millisecond,
 * unique across threads (atomic counter) and processes (pid/host fingerprint + CSPRNG bytes). */
#ifndef CONFETTI_BASE_CUID_H
#define CONFETTI_BASE_CUID_H

#include <stdbool.h>

#define CUID_LEN 25

/* Writes a new CUID and a NUL into out[CUID_LEN + 1]. Thread-safe, never fails. */
void cuid_new(char out[CUID_LEN + 1]);

/* True if s has the shape of a CUID (length, leading 'c', base36 lower-case). */
bool cuid_valid(const char *s);

#endif
