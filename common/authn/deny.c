/* deny.c — revoked token ids (jti) and revoked sessions (sid) until the tokens they name would
 * expire anyway.
 *
 * An open-addressing table (linear probing, power-of-two capacity, load at most 1/2) keyed by
 * (kind, id): a check is one hash and a probe of a few adjacent slots whatever the size — the
 * session-level revocation model keeps one entry per revoked session for an access-token
 * lifetime, and 100,000 of them must cost a verify no more than an empty set (bench_authn).
 * Expired entries are dropped when the table would grow (a rebuild that keeps only live ones),
 * so the size follows the live revocations, not their history. Revocations are rare and every
 * verify checks, so readers share a rwlock and an empty set costs one atomic load. The hash is
 * seeded per set so ids cannot be chosen to collide (ids come from our own events anyway). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "authn/internal.h"
#include "base/random.h"
#include "base/xmalloc.h"

#define MIN_SLOTS 64 /* power of two */

typedef struct slot {
    uint64_t hash; /* 0 = empty (a real hash of 0 is stored as 1) */
    int64_t until;
    char *key; /* kind byte + id, NUL-terminated; owned */
} slot;

struct denyset {
    pthread_rwlock_t lock;
    atomic_size_t count; /* entries, live or not yet purged; lets verifies skip an empty set */
    size_t cap;          /* slots, a power of two */
    slot *slots;
    uint64_t seed;
};

/* FNV-1a 64 over the seed, the kind and the id. */
static uint64_t hash_of(uint64_t seed, char kind, const char *id)
{
    uint64_t h = 14695981039346656037ull ^ seed;
    h = (h ^ (unsigned char)kind) * 1099511628211ull;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    h ^= h >> 29; /* FNV's low bits mix poorly; the index uses them */
    return h ? h : 1;
}

static bool key_is(const slot *s, uint64_t h, char kind, const char *id)
{
    return s->hash == h && s->key[0] == kind && strcmp(s->key + 1, id) == 0;
}

denyset *denyset_new(void)
{
    denyset *d = xcalloc(1, sizeof *d);
    pthread_rwlock_init(&d->lock, NULL);
    atomic_init(&d->count, 0);
    d->cap = MIN_SLOTS;
    d->slots = xcalloc(d->cap, sizeof *d->slots);
    cf_random_bytes(&d->seed, sizeof d->seed);
    return d;
}

void denyset_free(denyset *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->cap; i++)
        free(d->slots[i].key);
    free(d->slots);
    pthread_rwlock_destroy(&d->lock);
    free(d);
}

/* Puts an entry known to be absent into slots[cap]. */
static void place(slot *slots, size_t cap, slot e)
{
    size_t i = e.hash & (cap - 1);
    while (slots[i].hash)
        i = (i + 1) & (cap - 1);
    slots[i] = e;
}

/* Rebuilds into a table sized for the live entries (and one more), dropping expired ones.
 * Write lock held. */
static void rebuild(denyset *d, int64_t now)
{
    size_t live = 0;
    for (size_t i = 0; i < d->cap; i++)
        live += d->slots[i].hash && d->slots[i].until > now;
    size_t cap = MIN_SLOTS;
    while (cap / 2 < live + 1)
        cap *= 2;
    slot *slots = xcalloc(cap, sizeof *slots);
    for (size_t i = 0; i < d->cap; i++) {
        slot *s = &d->slots[i];
        if (!s->hash)
            continue;
        if (s->until > now)
            place(slots, cap, *s);
        else
            free(s->key);
    }
    free(d->slots);
    d->slots = slots;
    d->cap = cap;
    atomic_store(&d->count, live);
}

void denyset_add(denyset *d, char kind, const char *id, int64_t until, int64_t now)
{
    uint64_t h = hash_of(d->seed, kind, id);
    pthread_rwlock_wrlock(&d->lock);
    size_t i = h & (d->cap - 1);
    for (; d->slots[i].hash; i = (i + 1) & (d->cap - 1)) {
        slot *s = &d->slots[i];
        if (key_is(s, h, kind, id)) {
            if (until > s->until)
                s->until = until;
            pthread_rwlock_unlock(&d->lock);
            return;
        }
    }
    if (until > now) {
        size_t n = atomic_load(&d->count) + 1;
        if (n > d->cap / 2) {
            rebuild(d, now);
            n = atomic_load(&d->count) + 1;
        }
        size_t len = strlen(id);
        char *key = xmalloc(len + 2);
        key[0] = kind;
        memcpy(key + 1, id, len + 1);
        place(d->slots, d->cap, (slot){h, until, key});
        atomic_store_explicit(&d->count, n, memory_order_release);
    }
    pthread_rwlock_unlock(&d->lock);
}

/* Read lock held. */
static bool has_locked(denyset *d, char kind, const char *id, int64_t now)
{
    uint64_t h = hash_of(d->seed, kind, id);
    for (size_t i = h & (d->cap - 1); d->slots[i].hash; i = (i + 1) & (d->cap - 1)) {
        if (key_is(&d->slots[i], h, kind, id))
            return d->slots[i].until > now;
    }
    return false;
}

bool denyset_has_any(denyset *d, const char *jti, const char *sid, int64_t now)
{
    if ((!*jti && !*sid) || atomic_load_explicit(&d->count, memory_order_acquire) == 0)
        return false;
    pthread_rwlock_rdlock(&d->lock);
    bool hit =
        (*jti && has_locked(d, DENY_JTI, jti, now)) || (*sid && has_locked(d, DENY_SID, sid, now));
    pthread_rwlock_unlock(&d->lock);
    return hit;
}

size_t denyset_count(denyset *d)
{
    return atomic_load_explicit(&d->count, memory_order_acquire);
}
