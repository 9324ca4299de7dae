/* bench.h — measuring an RPC method under N concurrent callers for the benchmarks
 * (tools/bench/): latency percentiles and throughput through real RPC. */
#ifndef CONFETTI_TESTS_BENCH_H
#define CONFETTI_TESTS_BENCH_H

#include <stddef.h>
#include <stdint.h>

#include "rpc/client.h"

typedef struct th_bench_call {
    const ProtobufCServiceDescriptor *svc;
    const char *method; /* short name: "GetApp" */
    const ProtobufCMessage *req;
    const char *bearer; /* "Bearer …" sent as authorization, or NULL */
} th_bench_call;

typedef struct th_bench_result {
    size_t calls, errors;
    double p50_us, p99_us, per_s;
} th_bench_result;

/* `callers` threads call c as fast as they can for `secs` seconds on client. */
th_bench_result th_bench_rpc(rpc_client *client, const th_bench_call *c, int callers, double secs);

/* Pins the calling thread (and the threads it starts later) to one CPU; cpu < 0: no-op. Best
 * effort: the tables that pin say where they ran. */
void th_pin_cpu(int cpu);

/* Sorts ns[0..n) and returns its median and 99th percentile in µs (0 when n is 0). */
void th_percentiles(int64_t *ns, size_t n, double *p50_us, double *p99_us);

#endif
