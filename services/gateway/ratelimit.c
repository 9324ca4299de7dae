/* ratelimit.c — per-client token buckets in a fixed-size table (memory bounded whatever the
 * clients do): a key hashes to a slot and probes a few neighbours; when all are taken by other
 * keys, the fullest bucket is evicted (a full bucket is one whose client has been quiet, so
 * forgetting it loses nothing). Striped mutexes keep threads apart. The table is allocated
 * whole at start (ratelimit.max_clients slots): its bytes never change, and the clients it
 * tracks and the buckets it had to evict are counted for /metrics (issue 24 item 1). */
#include "gateway.h"
#include "base/xmalloc.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#define KEY_MAX 96
#define PROBES  8
#define STRIPES 64

typedef struct bucket {
    char key[KEY_MAX]; /* "" = free */
    double tokens;
    int64_t last_ns;
} bucket;

struct gw_ratelimit {
    double rate, burst;
    size_t mask;
    bucket *slots;
    pthread_mutex_t locks[STRIPES];
    atomic_ullong used, evictions;
};

gw_ratelimit *gw_ratelimit_new(double rate, double burst, size_t slots)
{
    gw_ratelimit *rl = xcalloc(1, sizeof *rl);
    rl->rate = rate;
    rl->burst = burst < 1 ? 1 : burst;
    size_t n = 64;
    while (n < slots)
        n <<= 1;
    rl->mask = n - 1;
    rl->slots = xcalloc(n, sizeof *rl->slots);
    for (int i = 0; i < STRIPES; i++)
        pthread_mutex_init(&rl->locks[i], NULL);
    return rl;
}

void gw_ratelimit_free(gw_ratelimit *rl)
{
    if (!rl)
        return;
    for (int i = 0; i < STRIPES; i++)
        pthread_mutex_destroy(&rl->locks[i]);
    free(rl->slots);
    free(rl);
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static double level(const gw_ratelimit *rl, const bucket *b, int64_t now_ns)
{
    double t = b->tokens + (double)(now_ns - b->last_ns) / 1e9 * rl->rate;
    return t > rl->burst ? rl->burst : t;
}

bool gw_ratelimit_take(gw_ratelimit *rl, const char *key, int64_t now_ns, int *retry_after_s)
{
    if (rl->rate <= 0)
        return true;
    char k[KEY_MAX];
    snprintf(k, sizeof k, "%s", key);
    uint64_t h = fnv1a(k);
    /* the probe window lies inside one stripe: slots are striped by (index / PROBES) */
    size_t base = (size_t)h & rl->mask & ~(size_t)(PROBES - 1);
    pthread_mutex_t *lock = &rl->locks[(base / PROBES) % STRIPES];
    pthread_mutex_lock(lock);
    bucket *b = NULL, *victim = NULL;
    double victim_level = -1;
    for (size_t i = 0; i < PROBES; i++) {
        bucket *s = &rl->slots[(base + i) & rl->mask];
        if (strcmp(s->key, k) == 0) {
            b = s;
            break;
        }
        double lv = s->key[0] ? level(rl, s, now_ns) : rl->burst + 1;
        if (lv > victim_level) {
            victim_level = lv;
            victim = s;
        }
    }
    if (!b) {
        b = victim;
        if (b->key[0])
            atomic_fetch_add(&rl->evictions, 1);
        else
            atomic_fetch_add(&rl->used, 1);
        memcpy(b->key, k, sizeof k);
        b->tokens = rl->burst;
        b->last_ns = now_ns;
    }
    double t = level(rl, b, now_ns);
    b->last_ns = now_ns;
    bool ok = t >= 1.0;
    b->tokens = ok ? t - 1.0 : t;
    pthread_mutex_unlock(lock);
    if (!ok && retry_after_s) {
        double wait = (1.0 - t) / rl->rate;
        int s = (int)ceil(wait);
        *retry_after_s = s < 1 ? 1 : s;
    }
    return ok;
}

gw_ratelimit_stats gw_ratelimit_stats_get(gw_ratelimit *rl)
{
    return (gw_ratelimit_stats){.clients = atomic_load(&rl->used),
                                .slots = rl->mask + 1,
                                .bytes = sizeof *rl + (rl->mask + 1) * sizeof(bucket),
                                .evictions = atomic_load(&rl->evictions)};
}
