/* strbuf.h — a growable, always NUL-terminated string being written: the metrics renderer's
 * output and the JSON writer's (pbjson). The caller owns p (free it); {0} is an empty buffer. */
#ifndef CONFETTI_BASE_STRBUF_H
#define CONFETTI_BASE_STRBUF_H

#include <stddef.h>
#include <string.h>

#include "base/xmalloc.h"

typedef struct strbuf {
    char *p; /* NULL until the first write or reserve */
    size_t len, cap;
} strbuf;

/* Room for `more` bytes past len plus the NUL (doubling; aborts on out of memory). */
static inline void strbuf_reserve(strbuf *b, size_t more)
{
    if (b->len + more + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more + 1)
        cap *= 2;
    b->p = xrealloc(b->p, cap);
    b->cap = cap;
}

static inline void strbuf_putn(strbuf *b, const char *s, size_t n)
{
    strbuf_reserve(b, n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static inline void strbuf_puts(strbuf *b, const char *s)
{
    strbuf_putn(b, s, strlen(s));
}

static inline void strbuf_putc(strbuf *b, char c)
{
    strbuf_reserve(b, 1);
    b->p[b->len++] = c;
    b->p[b->len] = '\0';
}

__attribute__((format(printf, 2, 3))) void strbuf_printf(strbuf *b, const char *fmt, ...);

#endif
