/* deny.c — revoked token ids (jti) until the tokens would expire anyway. Revocations are rare and
 * every verify checks, so readers share a rwlock and an empty set costs one atomic load. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "authn/internal.h"
#include "base/xmalloc.h"

#define BUCKETS 256 /* power of two */

typedef struct deny_entry {
    struct deny_entry *next;
    int64_t until;
    char jti[sizeof((authn_identity *)0)->jti];
} deny_entry;

struct denyset {
    pthread_rwlock_t lock;
    atomic_size_t count; /* lets verifies skip the lock while nothing is revoked */
    deny_entry *buckets[BUCKETS];
};

/* FNV-1a: short ids, no adversarial pressure worth more (entries come from our own events). */
static size_t bucket_of(const char *jti)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)jti; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h & (BUCKETS - 1);
}

denyset *denyset_new(void)
{
    denyset *d = xcalloc(1, sizeof *d);
    pthread_rwlock_init(&d->lock, NULL);
    atomic_init(&d->count, 0);
    return d;
}

void denyset_free(denyset *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < BUCKETS; i++) {
        for (deny_entry *e = d->buckets[i], *next; e; e = next) {
            next = e->next;
            free(e);
        }
    }
    pthread_rwlock_destroy(&d->lock);
    free(d);
}

void denyset_add(denyset *d, const char *jti, int64_t until, int64_t now)
{
    size_t b = bucket_of(jti);
    pthread_rwlock_wrlock(&d->lock);
    for (deny_entry **pp = &d->buckets[b]; *pp;) {
        deny_entry *e = *pp;
        if (e->until <= now) {
            *pp = e->next;
            free(e);
            atomic_fetch_sub(&d->count, 1);
        } else {
            pp = &e->next;
        }
    }
    deny_entry *e = d->buckets[b];
    while (e && strcmp(e->jti, jti) != 0)
        e = e->next;
    if (e) {
        if (until > e->until)
            e->until = until;
    } else if (until > now) {
        e = xcalloc(1, sizeof *e);
        memcpy(e->jti, jti, strlen(jti) + 1);
        e->until = until;
        e->next = d->buckets[b];
        d->buckets[b] = e;
        atomic_fetch_add(&d->count, 1);
    }
    pthread_rwlock_unlock(&d->lock);
}

bool denyset_has(denyset *d, const char *jti, int64_t now)
{
    if (!*jti || atomic_load_explicit(&d->count, memory_order_acquire) == 0)
        return false;
    bool hit = false;
    pthread_rwlock_rdlock(&d->lock);
    for (deny_entry *e = d->buckets[bucket_of(jti)]; e && !hit; e = e->next)
        hit = e->until > now && strcmp(e->jti, jti) == 0;
    pthread_rwlock_unlock(&d->lock);
    return hit;
}
