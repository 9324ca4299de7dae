/* A database step at start retried while the database is out of reach (startwait.h). */
#include "startwait.h"
#include "base/clock.h"
#include "base/log.h"

#include <signal.h>
#include <stdbool.h>
#include <time.h>

bool svc_stop_pending(void)
{
    sigset_t p;
    return sigpending(&p) == 0 && (sigismember(&p, SIGTERM) == 1 || sigismember(&p, SIGINT) == 1);
}

static bool retryable(cf_code code)
{
    return code == CF_UNAVAILABLE || code == CF_DEADLINE_EXCEEDED;
}

/* Sleeps ms, in slices of 50 ms so a pending stop signal ends it soon; false if one did. */
static bool pause_ms(int64_t ms)
{
    while (ms > 0) {
        if (svc_stop_pending())
            return false;
        int64_t slice = ms < 50 ? ms : 50;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = slice * 1000000};
        nanosleep(&ts, NULL);
        ms -= slice;
    }
    return !svc_stop_pending();
}

cf_code svc_start_retry(int64_t wait_ms, const char *what, svc_start_step step, void *arg,
                        char *err, size_t errlen)
{
    int64_t end = cf_mono_ns() + (wait_ms > 0 ? wait_ms : 0) * 1000000;
    int64_t pause = 100;
    for (int attempt = 1;; attempt++) {
        cf_code code = step(arg, err, errlen);
        if (code == CF_OK || !retryable(code))
            return code;
        int64_t left_ns = end - cf_mono_ns();
        if (left_ns <= 0) {
            if (attempt > 1)
                log_error("%s: gave up after %d attempts (db.start_wait): %s", what, attempt, err);
            return code;
        }
        int64_t left = (left_ns + 999999) / 1000000; /* rounded up: never give up early */
        log_warn("%s: attempt %d failed (%s), trying again for up to %lld ms (db.start_wait)", what,
                 attempt, err, (long long)left);
        if (!pause_ms(pause < left ? pause : left))
            return code;
        pause = pause * 2 > 2000 ? 2000 : pause * 2;
    }
}
