/* xmalloc.h — allocation that never returns NULL: out of memory aborts the process, so error
 * paths elsewhere only handle real errors (STYLE §6). */
#ifndef CONFETTI_BASE_XMALLOC_H
#define CONFETTI_BASE_XMALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* printf into a new string; caller frees. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
