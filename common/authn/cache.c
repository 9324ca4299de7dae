/* cache.c — verified-token cache: SHA-256 of a token → the identity it proved, until its exp.
 * Direct-mapped slots behind striped locks: a hit costs a hash and one short critical section,
 * a collision simply evicts. Tokens themselves are never stored. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "authn/internal.h"
#include "base/xmalloc.h"

#define STRIPES 64 /* power of two */

typedef struct slot {
    unsigned char digest[32];
    uint64_t gen; /* 0 = empty; key-set generations start at 1 */
    authn_identity id;
} slot;

struct tcache {
    size_t mask;
    slot *slots;
    pthread_mutex_t locks[STRIPES];
};

tcache *tcache_new(size_t entries)
{
    if (entries == 0)
        return NULL;
    size_t n = STRIPES;
    while (n < entries)
        n <<= 1;
    tcache *c = xcalloc(1, sizeof *c);
    c->mask = n - 1;
    c->slots = xcalloc(n, sizeof *c->slots);
    for (size_t i = 0; i < STRIPES; i++)
        pthread_mutex_init(&c->locks[i], NULL);
    return c;
}

void tcache_free(tcache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < STRIPES; i++)
        pthread_mutex_destroy(&c->locks[i]);
    free(c->slots);
    free(c);
}

static size_t slot_of(const tcache *c, const unsigned char digest[32])
{
    uint64_t h;
    memcpy(&h, digest, sizeof h);
    return (size_t)h & c->mask;
}

bool tcache_get(tcache *c, const unsigned char digest[32], uint64_t gen, int64_t now,
                int64_t leeway, authn_identity *out)
{
    if (!c)
        return false;
    size_t i = slot_of(c, digest);
    pthread_mutex_t *mu = &c->locks[i & (STRIPES - 1)];
    bool hit = false;
    pthread_mutex_lock(mu);
    slot *s = &c->slots[i];
    if (s->gen == gen && memcmp(s->digest, digest, 32) == 0) {
        /* exp is a verified claim, but nothing stops it being INT64_MAX: saturate */
        int64_t until;
        if (__builtin_add_overflow(s->id.exp, leeway, &until))
            until = leeway > 0 ? INT64_MAX : INT64_MIN;
        if (now < until) {
            *out = s->id;
            hit = true;
        } else {
            s->gen = 0;
        }
    }
    pthread_mutex_unlock(mu);
    return hit;
}

void tcache_put(tcache *c, const unsigned char digest[32], uint64_t gen, const authn_identity *id)
{
    if (!c)
        return;
    size_t i = slot_of(c, digest);
    pthread_mutex_t *mu = &c->locks[i & (STRIPES - 1)];
    pthread_mutex_lock(mu);
    slot *s = &c->slots[i];
    memcpy(s->digest, digest, 32);
    s->gen = gen;
    s->id = *id;
    pthread_mutex_unlock(mu);
}
