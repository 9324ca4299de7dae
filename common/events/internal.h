/* internal.h — helpers shared by the files of common/events; not part of its API. */
#ifndef CONFETTI_EVENTS_INTERNAL_H
#define CONFETTI_EVENTS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* Decodes PostgreSQL's hex bytea output ("\x0a1b…") into buf, which holds strlen(s) / 2 bytes.
 * Returns the length, 0 if s is not hex bytea. */
size_t events__unhex(const char *s, uint8_t *buf);

#endif
