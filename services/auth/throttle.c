/* throttle.c — failed credential checks counted per source and per (source, credential), with
 * a growing delay, in a fixed table (throttle.h has the rule; docs/auth.md, "Failed attempts"). */
#include "throttle.h"
#include "base/random.h"
#include "base/xmalloc.h"

#include <arpa/inet.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROBE       16
#define DIGEST      16
#define MIN_ENTRIES 64
#define SHIFT_MAX   30 /* 2^30 s is past any window: the delay is capped before */

typedef struct slot {
    unsigned char key[DIGEST]; /* all zero: free */
    int64_t failures;
    int64_t last;  /* the last failure (s) */
    int64_t until; /* attempts wait until then (s) */
} slot;

struct throttle {
    pthread_mutex_t mu;
    throttle_config cfg;
    unsigned char seed[32];
    slot *slots;
    size_t mask, used;
    uint64_t evictions, refusals;
};

throttle *throttle_new(const throttle_config *cfg)
{
    throttle *t = xcalloc(1, sizeof *t);
    pthread_mutex_init(&t->mu, NULL);
    t->cfg = *cfg;
    if (t->cfg.window_s < 1)
        t->cfg.window_s = 1;
    if (t->cfg.max_per_source < 1)
        t->cfg.max_per_source = 1;
    size_t n = MIN_ENTRIES;
    while (n < cfg->max_entries && n < ((size_t)1 << 30))
        n <<= 1;
    t->cfg.max_entries = n;
    t->mask = n - 1;
    t->slots = xcalloc(n, sizeof *t->slots);
    cf_random_bytes(t->seed, sizeof t->seed);
    return t;
}

void throttle_free(throttle *t)
{
    if (!t)
        return;
    pthread_mutex_destroy(&t->mu);
    free(t->slots);
    free(t);
}

void throttle_source(const char *addr, char out[64])
{
    unsigned char a[16];
    snprintf(out, 64, "%s", addr ? addr : "");
    if (!addr || !strchr(addr, ':') || inet_pton(AF_INET6, addr, a) != 1)
        return;
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(a, mapped, 12) == 0) { /* ::ffff:1.2.3.4 is the IPv4 client 1.2.3.4 */
        inet_ntop(AF_INET, a + 12, out, 64);
        return;
    }
    memset(a + 8, 0, 8); /* one /64 is one subscriber: its 2^64 addresses are one source */
    char text[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, a, text, sizeof text);
    snprintf(out, 64, "%s/64", text);
}

/* The slot key of (kind, source[, credential]): keyed SHA-256, never all zero. */
static void digest(const throttle *t, const throttle_key *k, bool pair, unsigned char out[DIGEST])
{
    const char *parts[3] = {k->kind ? k->kind : "", k->source ? k->source : "",
                            pair && k->credential ? k->credential : ""};
    size_t len = sizeof t->seed + 1;
    for (int i = 0; i < 3; i++)
        len += strlen(parts[i]) + 1;
    unsigned char *buf = xmalloc(len), *p = buf;
    memcpy(p, t->seed, sizeof t->seed);
    p += sizeof t->seed;
    for (int i = 0; i < 3; i++) { /* each with its NUL: unambiguous */
        size_t n = strlen(parts[i]) + 1;
        memcpy(p, parts[i], n);
        p += n;
    }
    *p = pair ? 'p' : 's';
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256(buf, len, d);
    free(buf);
    memcpy(out, d, DIGEST);
    out[0] |= 1;
}

static bool is_free(const slot *s)
{
    return s->key[0] == 0;
}

/* Forgotten: a whole window passed, after the last failure and after its delay, without a
 * failure (so waiting out each delay keeps the count, and the delay stays at its cap). */
static bool expired(const throttle *t, const slot *s, int64_t now)
{
    int64_t quiet = s->until > s->last ? s->until : s->last;
    return now - quiet >= t->cfg.window_s;
}

/* The slot of key (mu held): its own; else, when create, a free one, an expired one, or the
 * one in the probe run whose last failure is oldest (evicted). NULL when absent and !create. */
static slot *find(throttle *t, const unsigned char key[DIGEST], int64_t now, bool create)
{
    uint64_t h;
    memcpy(&h, key + 8, sizeof h);
    slot *victim = NULL;
    int victim_rank = 3; /* 0 free, 1 expired, 2 live */
    for (size_t i = 0; i < PROBE; i++) {
        slot *s = &t->slots[(h + i) & t->mask];
        if (!is_free(s) && memcmp(s->key, key, DIGEST) == 0)
            return s;
        int rank = is_free(s) ? 0 : expired(t, s, now) ? 1 : 2;
        if (rank < victim_rank || (rank == 2 && victim_rank == 2 && s->last < victim->last)) {
            victim = s;
            victim_rank = rank;
        }
    }
    if (!create)
        return NULL;
    if (victim_rank == 0)
        t->used++;
    else if (victim_rank == 2)
        t->evictions++;
    memset(victim, 0, sizeof *victim);
    memcpy(victim->key, key, DIGEST);
    return victim;
}

/* Seconds k's slot still makes attempts wait (mu held). */
static int64_t wait_of(throttle *t, const unsigned char key[DIGEST], int64_t now)
{
    slot *s = find(t, key, now, false);
    return s && now < s->until ? s->until - now : 0;
}

int64_t throttle_wait(throttle *t, const throttle_key *k, int64_t now)
{
    if (t->cfg.max_failures <= 0)
        return 0;
    unsigned char src[DIGEST], pair[DIGEST];
    digest(t, k, false, src);
    digest(t, k, true, pair);
    bool has_pair = k->credential && *k->credential;
    pthread_mutex_lock(&t->mu);
    int64_t w = wait_of(t, src, now);
    if (has_pair) {
        int64_t wp = wait_of(t, pair, now);
        w = wp > w ? wp : w;
    }
    if (w > 0)
        t->refusals++;
    pthread_mutex_unlock(&t->mu);
    return w;
}

/* One more failure on slot key with `free_failures` free ones (mu held). */
static void fail_one(throttle *t, const unsigned char key[DIGEST], int64_t free_failures,
                     int64_t now)
{
    slot *s = find(t, key, now, true);
    if (s->failures && expired(t, s, now))
        s->failures = 0;
    s->failures++;
    s->last = now;
    if (s->failures < free_failures)
        return;
    int64_t over = s->failures - free_failures;
    int64_t delay = (int64_t)1 << (over < SHIFT_MAX ? over : SHIFT_MAX);
    if (delay > t->cfg.window_s)
        delay = t->cfg.window_s;
    s->until = now + delay;
}

void throttle_failed(throttle *t, const throttle_key *k, int64_t now)
{
    if (t->cfg.max_failures <= 0)
        return;
    unsigned char src[DIGEST], pair[DIGEST];
    digest(t, k, false, src);
    digest(t, k, true, pair);
    pthread_mutex_lock(&t->mu);
    fail_one(t, src, t->cfg.max_per_source, now);
    if (k->credential && *k->credential)
        fail_one(t, pair, t->cfg.max_failures, now);
    pthread_mutex_unlock(&t->mu);
}

void throttle_succeeded(throttle *t, const throttle_key *k, int64_t now)
{
    if (t->cfg.max_failures <= 0 || !k->credential || !*k->credential)
        return;
    unsigned char pair[DIGEST];
    digest(t, k, true, pair);
    pthread_mutex_lock(&t->mu);
    slot *s = find(t, pair, now, false);
    if (s) {
        memset(s, 0, sizeof *s);
        t->used--;
    }
    pthread_mutex_unlock(&t->mu);
}

throttle_stats throttle_get_stats(throttle *t)
{
    pthread_mutex_lock(&t->mu);
    throttle_stats st = {.entries = t->used,
                         .capacity = t->cfg.max_entries,
                         .evictions = t->evictions,
                         .refusals = t->refusals};
    pthread_mutex_unlock(&t->mu);
    return st;
}
