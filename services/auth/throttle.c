/* throttle.c — temporary throttling of failed attempts (refresh, app tokens) per key ("ip:…",
 * "app:…"): a fixed window per key; max failures inside it block the key until the window ends.
 * Never permanent: a window always ends. Bounded memory: a full table evicts expired windows,
 * then the oldest. */
#include "auth.h"
#include "base/xmalloc.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define THROTTLE_SLOTS 4096
#define THROTTLE_KEY   96

typedef struct slot {
    char key[THROTTLE_KEY];
    int64_t window_start;
    int64_t failures;
} slot;

struct throttle {
    pthread_mutex_t mu;
    int64_t max, window;
    slot slots[THROTTLE_SLOTS];
};

throttle *throttle_new(int64_t max_failures, int64_t window_s)
{
    throttle *t = xcalloc(1, sizeof *t);
    pthread_mutex_init(&t->mu, NULL);
    t->max = max_failures;
    t->window = window_s > 0 ? window_s : 1;
    return t;
}

void throttle_free(throttle *t)
{
    if (!t)
        return;
    pthread_mutex_destroy(&t->mu);
    free(t);
}

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

/* The slot of key (mu held): its own, or a free/expired one, or the oldest of its probe run. */
static slot *find(throttle *t, const char *key, int64_t now, bool create)
{
    uint64_t h = hash(key);
    slot *victim = NULL;
    for (int i = 0; i < 16; i++) {
        slot *s = &t->slots[(h + (uint64_t)i) % THROTTLE_SLOTS];
        if (strncmp(s->key, key, THROTTLE_KEY - 1) == 0 && s->key[0])
            return s;
        bool stale = !s->key[0] || now - s->window_start >= t->window;
        if (stale) {
            if (!victim || victim->key[0])
                victim = s; /* prefer a free or expired slot */
        } else if (!victim || (victim->key[0] && s->window_start < victim->window_start &&
                               now - victim->window_start < t->window)) {
            victim = s; /* else the oldest live window */
        }
    }
    if (!create)
        return NULL;
    if (!victim)
        victim = &t->slots[h % THROTTLE_SLOTS];
    memset(victim, 0, sizeof *victim);
    strncpy(victim->key, key, THROTTLE_KEY - 1);
    victim->window_start = now;
    return victim;
}

bool throttle_blocked(throttle *t, const char *key, int64_t now)
{
    if (t->max <= 0 || !*key)
        return false;
    pthread_mutex_lock(&t->mu);
    slot *s = find(t, key, now, false);
    bool blocked = s && now - s->window_start < t->window && s->failures >= t->max;
    pthread_mutex_unlock(&t->mu);
    return blocked;
}

void throttle_fail(throttle *t, const char *key, int64_t now)
{
    if (t->max <= 0 || !*key)
        return;
    pthread_mutex_lock(&t->mu);
    slot *s = find(t, key, now, true);
    if (now - s->window_start >= t->window) {
        s->window_start = now;
        s->failures = 0;
    }
    s->failures++;
    pthread_mutex_unlock(&t->mu);
}
