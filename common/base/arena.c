/* arena.c — bump allocator over a chain of blocks. */
#include "arena.h"
#include "xmalloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct arena_block {
    arena_block *prev;
    size_t size, used;
    max_align_t data[];
};

#define ALIGN (_Alignof(max_align_t))

void arena_init(arena *a, size_t block_size)
{
    a->head = NULL;
    a->block_size = block_size ? block_size : 8192;
    a->pb.alloc = NULL;
}

void *arena_alloc(arena *a, size_t n)
{
    n = (n + ALIGN - 1) & ~(ALIGN - 1);
    if (n == 0)
        n = ALIGN;
    arena_block *b = a->head;
    if (!b || b->size - b->used < n) {
        size_t size = n > a->block_size ? n : a->block_size;
        arena_block *nb = xmalloc(sizeof(*nb) + size);
        nb->size = size;
        nb->used = 0;
        if (b && n > a->block_size) {
            /* big allocation: tuck it behind the current block so its free space stays usable */
            nb->prev = b->prev;
            b->prev = nb;
            nb->used = n;
            return (char *)nb->data;
        }
        nb->prev = b;
        a->head = b = nb;
    }
    void *p = (char *)b->data + b->used;
    b->used += n;
    return p;
}

void *arena_zalloc(arena *a, size_t n)
{
    void *p = arena_alloc(a, n);
    memset(p, 0, n);
    return p;
}

char *arena_strndup(arena *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *arena_strdup(arena *a, const char *s)
{
    return arena_strndup(a, s, strlen(s));
}

char *arena_printf(arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *p = arena_alloc(a, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

void arena_reset(arena *a)
{
    arena_block *b = a->head;
    if (!b)
        return;
    /* keep the oldest ordinary block */
    while (b->prev) {
        arena_block *p = b->prev;
        free(b);
        b = p;
    }
    if (b->size != a->block_size) {
        free(b);
        a->head = NULL;
        return;
    }
    b->used = 0;
    a->head = b;
}

void arena_release(arena *a)
{
    arena_block *b = a->head;
    while (b) {
        arena_block *p = b->prev;
        free(b);
        b = p;
    }
    a->head = NULL;
}

static void *pb_alloc(void *data, size_t n)
{
    return arena_alloc(data, n);
}

static void pb_free(void *data, void *p)
{
    (void)data;
    (void)p;
}

ProtobufCAllocator *arena_allocator(arena *a)
{
    a->pb.alloc = pb_alloc;
    a->pb.free = pb_free;
    a->pb.allocator_data = a;
    return &a->pb;
}
