/* clock.h — monotonic and wall time in one place. Injectable clocks for tests live with the
 * modules that need them (a `cf_clock` pointer passed down), never as globals. */
#ifndef CONFETTI_BASE_CLOCK_H
#define CONFETTI_BASE_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Monotonic time in nanoseconds (CLOCK_MONOTONIC), for deadlines and latency. */
static inline int64_t cf_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Wall-clock time in milliseconds since the epoch (CLOCK_REALTIME). */
static inline int64_t cf_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A clock a test can replace: now() returns seconds since the epoch. */
typedef struct cf_clock {
    int64_t (*now)(const struct cf_clock *self);
    int64_t offset; /* for test clocks: seconds added to the real time */
} cf_clock;

/* The real clock (offset honoured, so a test may shift it). */
int64_t cf_clock_real_now(const cf_clock *self);
#define CF_CLOCK_REAL                                                                              \
    {                                                                                              \
        cf_clock_real_now, 0                                                                       \
    }

#endif
