/* bench.c — the caller loop every RPC benchmark shares. */
#include "bench.h"
#include "base/clock.h"
#include "base/xmalloc.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SAMPLES 4000000

typedef struct caller {
    rpc_client *client;
    const th_bench_call *c;
    unsigned idx;
    int64_t until;
    int64_t *lat; /* ns */
    size_t n, cap, errors;
} caller;

static void *run_caller(void *arg)
{
    caller *k = arg;
    while (cf_mono_ns() < k->until) {
        rpc_ccall cc;
        rpc_ccall_init(&cc, NULL);
        if (k->c->bearer)
            rpc_ccall_md(&cc, "authorization", k->c->bearer);
        int64_t t0 = cf_mono_ns();
        rpc_client_invoke(k->client, k->c->svc, k->idx, k->c->req, &cc);
        int64_t dt = cf_mono_ns() - t0;
        if (cc.code != CF_OK)
            k->errors++;
        rpc_ccall_free(&cc);
        if (k->n < k->cap)
            k->lat[k->n++] = dt;
    }
    return NULL;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

void th_percentiles(int64_t *ns, size_t n, double *p50_us, double *p99_us)
{
    qsort(ns, n, sizeof *ns, cmp64);
    *p50_us = n ? (double)ns[n / 2] / 1000.0 : 0;
    *p99_us = n ? (double)ns[(size_t)((double)n * 0.99)] / 1000.0 : 0;
}

th_bench_result th_bench_rpc(rpc_client *client, const th_bench_call *c, int callers, double secs)
{
    const ProtobufCMethodDescriptor *m =
        protobuf_c_service_descriptor_get_method_by_name(c->svc, c->method);
    if (!m)
        abort(); /* a benchmark naming a method that does not exist */
    caller *ks = xcalloc((size_t)callers, sizeof *ks);
    pthread_t *t = xcalloc((size_t)callers, sizeof *t);
    int64_t start = cf_mono_ns(), until = start + (int64_t)(secs * 1e9);
    for (int i = 0; i < callers; i++) {
        ks[i] = (caller){.client = client,
                         .c = c,
                         .idx = (unsigned)(m - c->svc->methods),
                         .until = until,
                         .cap = MAX_SAMPLES / (size_t)callers};
        ks[i].lat = xmalloc(ks[i].cap * sizeof *ks[i].lat);
        pthread_create(&t[i], NULL, run_caller, &ks[i]);
    }
    th_bench_result r = {0};
    for (int i = 0; i < callers; i++) {
        pthread_join(t[i], NULL);
        r.calls += ks[i].n;
        r.errors += ks[i].errors;
    }
    double elapsed = (double)(cf_mono_ns() - start) / 1e9;
    int64_t *all = xmalloc((r.calls ? r.calls : 1) * sizeof *all);
    size_t k = 0;
    for (int i = 0; i < callers; i++) {
        memcpy(all + k, ks[i].lat, ks[i].n * sizeof *all);
        k += ks[i].n;
        free(ks[i].lat);
    }
    th_percentiles(all, r.calls, &r.p50_us, &r.p99_us);
    r.per_s = (double)r.calls / elapsed;
    free(all);
    free(ks);
    free(t);
    return r;
}

void th_pin_cpu(int cpu)
{
    if (cpu < 0)
        return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    (void)sched_setaffinity(0, sizeof set, &set);
}
