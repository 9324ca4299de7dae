/* seqcheck.c — see seqcheck.h. */
#include "seqcheck.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xmalloc.h"

#define MAX_SOURCES 8

struct seqcheck {
    pthread_mutex_t mu;
    char *source[MAX_SOURCES];
    int64_t last[MAX_SOURCES];
    size_t nsources;
    char **names;
    size_t nnames, cap;
    bool broken, sorted;
    char why[256];
};

seqcheck *seqcheck_new(void)
{
    seqcheck *k = xcalloc(1, sizeof *k);
    pthread_mutex_init(&k->mu, NULL);
    return k;
}

void seqcheck_free(seqcheck *k)
{
    if (!k)
        return;
    for (size_t i = 0; i < k->nsources; i++)
        free(k->source[i]);
    for (size_t i = 0; i < k->nnames; i++)
        free(k->names[i]);
    free(k->names);
    pthread_mutex_destroy(&k->mu);
    free(k);
}

static void problem(seqcheck *k, const char *msg)
{
    if (!k->broken)
        snprintf(k->why, sizeof k->why, "%s", msg);
    k->broken = true;
}

cf_code seqcheck_consume(void *arg, const Events__V1__Event *ev)
{
    seqcheck *k = arg;
    pthread_mutex_lock(&k->mu);
    size_t i = 0;
    while (i < k->nsources && strcmp(k->source[i], ev->source) != 0)
        i++;
    if (i == k->nsources && i < MAX_SOURCES)
        k->source[k->nsources++] = xstrdup(ev->source);
    if (i < MAX_SOURCES) {
        if (ev->seq != k->last[i] + 1) {
            char msg[160];
            snprintf(msg, sizeof msg, "%s: seq %" PRId64 " after %" PRId64 " (a %s)", ev->source,
                     ev->seq, k->last[i], ev->seq <= k->last[i] ? "duplicate" : "gap");
            problem(k, msg);
        }
        k->last[i] = ev->seq;
    }
    const char *name = ev->body_case == EVENTS__V1__EVENT__BODY_ROOM_CREATED && ev->room_created
                           ? ev->room_created->name
                           : "";
    if (k->nnames == k->cap) {
        k->cap = k->cap ? 2 * k->cap : 1024;
        k->names = xrealloc(k->names, k->cap * sizeof *k->names);
    }
    k->names[k->nnames++] = xasprintf("%s/%s", ev->source, name);
    k->sorted = false;
    pthread_mutex_unlock(&k->mu);
    return CF_OK;
}

int64_t seqcheck_total(seqcheck *k)
{
    pthread_mutex_lock(&k->mu);
    int64_t n = (int64_t)k->nnames;
    pthread_mutex_unlock(&k->mu);
    return n;
}

int64_t seqcheck_last(seqcheck *k, const char *source)
{
    int64_t last = 0;
    pthread_mutex_lock(&k->mu);
    for (size_t i = 0; i < k->nsources; i++)
        if (strcmp(k->source[i], source) == 0)
            last = k->last[i];
    pthread_mutex_unlock(&k->mu);
    return last;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

bool seqcheck_verify(seqcheck *k, char *why, size_t len)
{
    pthread_mutex_lock(&k->mu);
    qsort(k->names, k->nnames, sizeof *k->names, by_name);
    k->sorted = true;
    for (size_t i = 1; i < k->nnames; i++)
        if (strcmp(k->names[i - 1], k->names[i]) == 0) {
            char msg[200];
            snprintf(msg, sizeof msg, "event %s delivered under two numbers", k->names[i]);
            problem(k, msg);
            break;
        }
    bool ok = !k->broken;
    snprintf(why, len, "%s", k->why);
    pthread_mutex_unlock(&k->mu);
    return ok;
}

bool seqcheck_has(seqcheck *k, const char *name)
{
    pthread_mutex_lock(&k->mu);
    bool found = k->sorted && bsearch(&name, k->names, k->nnames, sizeof *k->names, by_name);
    pthread_mutex_unlock(&k->mu);
    return found;
}
