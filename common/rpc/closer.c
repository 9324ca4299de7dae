/* closer.c — nng_close on its own thread, waited for with a bound (closer.h). */
#include "rpc/closer.h"

#include "base/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#if defined(__SANITIZE_ADDRESS__)
#define CF_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CF_LSAN 1
#endif
#endif
#ifdef CF_LSAN
#include <sanitizer/lsan_interface.h>
#endif

typedef struct close_job {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    int refs; /* the waiter and the closing thread: the last one frees the job */
    nng_socket sock;
    int (*close_fn)(nng_socket);
} close_job;

static atomic_long abandoned;

static void job_release(close_job *j)
{
    pthread_mutex_lock(&j->mu);
    bool last = --j->refs == 0;
    pthread_mutex_unlock(&j->mu);
    if (last) {
        pthread_cond_destroy(&j->cv);
        pthread_mutex_destroy(&j->mu);
        free(j);
    }
}

static void *close_main(void *arg)
{
    close_job *j = arg;
    j->close_fn(j->sock);
    pthread_mutex_lock(&j->mu);
    j->done = true;
    pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&j->mu);
    job_release(j);
    return NULL;
}

bool rpc_close_bounded_with(nng_socket s, const char *what, int bound_ms,
                            int (*close_fn)(nng_socket))
{
    close_job *j = calloc(1, sizeof *j);
    if (!j) {
        close_fn(s);
        return true;
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&j->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&j->mu, NULL);
    j->refs = 2;
    j->sock = s;
    j->close_fn = close_fn;
    pthread_attr_t ta;
    pthread_attr_init(&ta);
    pthread_attr_setdetachstate(&ta, PTHREAD_CREATE_DETACHED);
    pthread_t th;
    int rc = pthread_create(&th, &ta, close_main, j);
    pthread_attr_destroy(&ta);
    if (rc != 0) { /* no thread to spare: close here, unbounded, as before */
        j->refs = 1;
        job_release(j);
        close_fn(s);
        return true;
    }
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += bound_ms / 1000;
    until.tv_nsec += (long)(bound_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&j->mu);
    while (!j->done)
        if (pthread_cond_timedwait(&j->cv, &j->mu, &until) == ETIMEDOUT)
            break;
    bool done = j->done;
    pthread_mutex_unlock(&j->mu);
    job_release(j);
    if (!done) {
        atomic_fetch_add(&abandoned, 1);
        log_error("shutdown: closing the %s socket did not finish in %d ms (nng 1.5.2 close "
                  "hang, nanomsg/nng#1543): left open, the shutdown goes on",
                  what, bound_ms);
    }
    return done;
}

bool rpc_close_bounded(nng_socket s, const char *what)
{
    return rpc_close_bounded_with(s, what, RPC_CLOSE_BOUND_MS, nng_close);
}

long rpc_close_abandoned(void)
{
    return atomic_load(&abandoned);
}

void rpc_abandon(const void *p)
{
#ifdef CF_LSAN
    if (p)
        __lsan_ignore_object(p);
#else
    (void)p;
#endif
}
