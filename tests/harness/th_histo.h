/* th_histo.h — a service's own latency histogram (confetti_rpc_request_duration_seconds, the
 * dispatcher's time from receiving a request to its reply being packed) read from its metrics
 * registry, for benchmarks that report latency "at the service" beside the caller's round trip:
 * take a snapshot before and after a run, and estimate quantiles of the calls in between. */
#ifndef CONFETTI_TESTS_TH_HISTO_H
#define CONFETTI_TESTS_TH_HISTO_H

#include <stddef.h>
#include <stdint.h>

#include "admin/metrics.h"

enum { TH_HISTO_MAX = 32 };

typedef struct th_histo {
    size_t n;                   /* buckets read (the last is +Inf) */
    double le[TH_HISTO_MAX];    /* upper bounds, seconds */
    uint64_t cum[TH_HISTO_MAX]; /* cumulative counts */
} th_histo;

/* Reads method's histogram ("rooms.v1.Rooms/ListRooms") from m; n = 0 when it has none. */
void th_histo_read(metrics *m, const char *method, th_histo *out);

/* The q-quantile (0 < q < 1) in µs of the calls counted between before and after, interpolated
 * linearly inside its bucket (Prometheus' histogram_quantile); -1 when none was counted. The
 * answer is only as fine as the buckets (…, 100, 250, 500, 1000 µs, …). */
double th_histo_quantile_us(const th_histo *before, const th_histo *after, double q);

/* The share (0..1) of those calls that took at most le_s seconds (a bucket bound); -1 if none. */
double th_histo_share_within(const th_histo *before, const th_histo *after, double le_s);

#endif
