/* th_phase.c — see th_phase.h. One watcher thread, started by the first th_phase. */
#include "th_phase.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static char phase[160];
static int64_t started_s, deadline_s; /* CLOCK_MONOTONIC seconds; deadline 0: none */
static int bound_s;

static int64_t mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

static void *watch(void *arg)
{
    (void)arg;
    for (;;) {
        sleep(1);
        pthread_mutex_lock(&mu);
        if (deadline_s && mono_s() > deadline_s) {
            /* the test's own thread is stuck: report from here and end the process (cmocka's
             * failure jump belongs to the test's thread) */
            fprintf(stderr, "th_phase: FAILED: \"%s\" still running after %d s (its bound)\n",
                    phase, bound_s);
            fflush(NULL);
            _exit(1);
        }
        pthread_mutex_unlock(&mu);
    }
    return NULL;
}

static void start_watch(void)
{
    pthread_t t;
    if (pthread_create(&t, NULL, watch, NULL) == 0)
        pthread_detach(t);
}

int th_time_scale(void)
{
    const char *v = getenv("CONFETTI_TEST_TIME_SCALE");
    int n = v ? atoi(v) : 1;
    return n >= 1 && n <= 100 ? n : 1;
}

void th_phase(const char *what, int seconds)
{
    seconds *= th_time_scale();
    pthread_once(&once, start_watch);
    pthread_mutex_lock(&mu);
    int64_t now = mono_s();
    if (deadline_s)
        fprintf(stderr, "th_phase: \"%s\" took %lld s\n", phase, (long long)(now - started_s));
    snprintf(phase, sizeof phase, "%s", what);
    started_s = now;
    bound_s = seconds;
    deadline_s = now + seconds;
    char ts[32];
    time_t wall = time(NULL);
    struct tm tm;
    strftime(ts, sizeof ts, "%H:%M:%S", gmtime_r(&wall, &tm));
    fprintf(stderr, "th_phase: %s \"%s\" (bound %d s)\n", ts, what, seconds);
    pthread_mutex_unlock(&mu);
}

void th_phase_end(void)
{
    pthread_mutex_lock(&mu);
    if (deadline_s)
        fprintf(stderr, "th_phase: \"%s\" took %lld s\n", phase, (long long)(mono_s() - started_s));
    deadline_s = 0;
    pthread_mutex_unlock(&mu);
}
