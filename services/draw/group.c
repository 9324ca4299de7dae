/* group.c — group allocation of concurrent draws of one prize (see group.h). */
#include "group.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/xmalloc.h"

#define STRIPES 64 /* prizes hash to stripes; a group holds draws of one prize only */

/* One draw waiting for its allocation; lives on its worker's stack. */
typedef struct item {
    const store_new_draw *in;
    struct item *next;
    bool done;         /* the allocation ran: code, number, created_us are set */
    bool lead;         /* handed the stripe: run the next groups */
    pthread_cond_t cv; /* its worker waits here: woken alone, not with every waiter */
    cf_code code;
    int64_t number, created_us;
} item;

typedef struct stripe {
    pthread_mutex_t mu;
    item *head; /* waiting, oldest first */
    bool running;
} stripe;

struct draw_group {
    stripe s[STRIPES];
    atomic_uint_fast64_t groups, draws;
    atomic_int waiting; /* queued, not yet taken by an allocation */
};

draw_group *draw_group_new(void)
{
    draw_group *g = xcalloc(1, sizeof *g);
    for (size_t i = 0; i < STRIPES; i++)
        pthread_mutex_init(&g->s[i].mu, NULL);
    return g;
}

void draw_group_free(draw_group *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < STRIPES; i++)
        pthread_mutex_destroy(&g->s[i].mu);
    free(g);
}

void draw_group_stats(draw_group *g, uint64_t *groups, uint64_t *draws)
{
    *groups = atomic_load(&g->groups);
    *draws = atomic_load(&g->draws);
}

int draw_group_waiting(draw_group *g)
{
    return atomic_load(&g->waiting);
}

static double waiting_fn(void *arg)
{
    return (double)draw_group_waiting(arg);
}

static double groups_fn(void *arg)
{
    return (double)atomic_load(&((draw_group *)arg)->groups);
}

static double grouped_draws_fn(void *arg)
{
    return (double)atomic_load(&((draw_group *)arg)->draws);
}

void draw_group_metrics_register(draw_group *g, metrics *m)
{
    metrics_gauge_fn(m, "confetti_draw_group_waiting",
                     "Draws queued for a group allocation not yet taken.", waiting_fn, g);
    metrics_gauge_fn(m, "confetti_draw_groups_total", "Allocations that ran grouped (n > 1).",
                     groups_fn, g);
    metrics_gauge_fn(m, "confetti_draw_grouped_draws_total",
                     "Draws committed by grouped allocations.", grouped_draws_fn, g);
}

static bool groupable(const store_new_draw *in)
{
    return in->count == 1 && !in->room_policy && !(in->idem_key && *in->idem_key);
}

static stripe *stripe_of(draw_group *g, const char *prize_id)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)prize_id; *p; p++)
        h = (h ^ *p) * 16777619u;
    return &g->s[h % STRIPES];
}

/* Unlinks the oldest waiting draw and up to STORE_GROUP_MAX − 1 more of its prize, in arrival
 * order. Under the stripe's lock; the queue is not empty. */
static size_t take(draw_group *g, stripe *s, item **out)
{
    const char *prize = s->head->in->prize_id;
    size_t n = 0;
    for (item **pp = &s->head; *pp && n < STORE_GROUP_MAX;) {
        item *it = *pp;
        if (strcmp(it->in->prize_id, prize) == 0) {
            *pp = it->next;
            out[n++] = it;
        } else {
            pp = &it->next;
        }
    }
    atomic_fetch_sub(&g->waiting, (int)n);
    return n;
}

/* One draw alone (store_draw_commit), its record made in the runner's arena. */
static void run_one(db_conn *db, arena *a, item *it)
{
    store_draw d;
    store_winner w;
    it->code = store_draw_commit(db, a, it->in, &d, &w);
    if (it->code == CF_OK) {
        it->number = d.number;
        it->created_us = d.created_us;
    }
}

/* Allocates the n draws of one prize; sets each one's code (and number, created_us). */
static void run(draw_group *g, db_conn *db, arena *a, item **items, size_t n)
{
    if (n > 1) {
        const store_new_draw *in[STORE_GROUP_MAX];
        int64_t numbers[STORE_GROUP_MAX], created[STORE_GROUP_MAX], timeout = INT64_MAX;
        for (size_t i = 0; i < n; i++) {
            in[i] = items[i]->in;
            if (in[i]->timeout_ms < timeout)
                timeout = in[i]->timeout_ms;
        }
        cf_code code = store_draw_commit_group(db, a, in, n, timeout, numbers, created);
        /* fewer units left than the group needs, or the shortest deadline of the group ran
         * out: each alone, so exactly those that fit (in their own deadline) win */
        if (code != CF_FAILED_PRECONDITION && code != CF_DEADLINE_EXCEEDED) {
            for (size_t i = 0; i < n; i++) {
                items[i]->code = code;
                items[i]->number = numbers[i];
                items[i]->created_us = created[i];
            }
            if (code == CF_OK) {
                atomic_fetch_add(&g->groups, 1);
                atomic_fetch_add(&g->draws, n);
            }
            return;
        }
    }
    for (size_t i = 0; i < n; i++)
        run_one(db, a, items[i]);
}

cf_code draw_group_commit(draw_group *g, db_conn *db, arena *a, const store_new_draw *in,
                          store_draw *out, store_winner *winners)
{
    if (!g || !groupable(in))
        return store_draw_commit(db, a, in, out, winners);
    stripe *s = stripe_of(g, in->prize_id);
    item me = {.in = in};
    pthread_cond_init(&me.cv, NULL);
    pthread_mutex_lock(&s->mu);
    item **tail = &s->head;
    while (*tail)
        tail = &(*tail)->next;
    *tail = &me;
    atomic_fetch_add(&g->waiting, 1);
    while (!me.done && !me.lead && s->running)
        pthread_cond_wait(&me.cv, &s->mu);
    if (!me.done) { /* this worker runs groups until its own draw is allocated */
        s->running = true;
        me.lead = false;
        while (!me.done) {
            item *batch[STORE_GROUP_MAX];
            size_t n = take(g, s, batch);
            pthread_mutex_unlock(&s->mu);
            run(g, db, a, batch, n);
            pthread_mutex_lock(&s->mu);
            for (size_t i = 0; i < n; i++) {
                batch[i]->done = true;
                if (batch[i] != &me)
                    pthread_cond_signal(&batch[i]->cv);
            }
        }
        if (s->head) { /* the oldest waiting draw runs the next groups */
            s->head->lead = true;
            pthread_cond_signal(&s->head->cv);
        } else {
            s->running = false;
        }
    }
    pthread_mutex_unlock(&s->mu);
    pthread_cond_destroy(&me.cv);
    if (me.code == CF_OK)
        store_draw_committed(a, in, me.number, me.created_us, out, winners);
    return me.code;
}
