/* arena.h — a memory pool per call (h2o style): allocate freely, release everything at once.
 * Lifetime: arena_init → arena_alloc* → arena_reset/arena_release. Not thread-safe: one owner.
 * arena_allocator() adapts it to protobuf-c, so requests unpack into the call's arena. */
#ifndef CONFETTI_BASE_ARENA_H
#define CONFETTI_BASE_ARENA_H

#include <stddef.h>
#include <protobuf-c/protobuf-c.h>

typedef struct arena_block arena_block;

typedef struct arena {
    arena_block *head;     /* current block (blocks chain backwards) */
    size_t block_size;     /* size of ordinary blocks */
    ProtobufCAllocator pb; /* protobuf-c view of this arena */
} arena;

/* Prepares an empty arena; the first block is allocated lazily. */
void arena_init(arena *a, size_t block_size);

/* Returns n bytes aligned for any type, valid until reset/release. Never NULL (aborts on OOM). */
void *arena_alloc(arena *a, size_t n);
void *arena_zalloc(arena *a, size_t n);
char *arena_strdup(arena *a, const char *s);
char *arena_strndup(arena *a, const char *s, size_t n);
char *arena_printf(arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Frees everything but keeps the first block for reuse (cheap between calls). */
void arena_reset(arena *a);
/* Frees everything. */
void arena_release(arena *a);

/* The arena as a protobuf-c allocator (free is a no-op). Borrowed: lives as long as the arena. */
ProtobufCAllocator *arena_allocator(arena *a);

#endif
