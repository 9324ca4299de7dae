/* throttle_rpc.c — how the auth RPCs use the failure throttle (throttle.h): the gate that
 * refuses with a Retry-After, the source of a call, and the throttle's /metrics. */
#include "auth.h"
#include "rpc/rpc.h"

cf_code auth_throttle_gate(rpc_call *call, auth_ctx *ctx, const throttle_key *k)
{
    int64_t wait = throttle_wait(ctx->throttle, k, auth_now(ctx));
    if (wait <= 0)
        return CF_OK;
    return rpc_retry_after(call,
                           rpc_error(call, CF_RESOURCE_EXHAUSTED,
                                     "too many failed attempts from this address; retry in %lld s",
                                     (long long)wait),
                           wait);
}

static double entries_fn(void *arg)
{
    return (double)throttle_get_stats(arg).entries;
}

static double capacity_fn(void *arg)
{
    return (double)throttle_get_stats(arg).capacity;
}

static double evictions_fn(void *arg)
{
    return (double)throttle_get_stats(arg).evictions;
}

static double refusals_fn(void *arg)
{
    return (double)throttle_get_stats(arg).refusals;
}

void auth_throttle_metrics(throttle *t, metrics *m)
{
    metrics_gauge_fn(m, "confetti_auth_throttle_entries",
                     "Slots of the failed-attempt throttle in use.", entries_fn, t);
    metrics_gauge_fn(m, "confetti_auth_throttle_capacity",
                     "Slots of the failed-attempt throttle (throttle.max_entries).", capacity_fn,
                     t);
    metrics_gauge_fn(m, "confetti_auth_throttle_evictions_total",
                     "Live throttle slots taken for another key (table full).", evictions_fn, t);
    metrics_gauge_fn(m, "confetti_auth_throttle_refusals_total",
                     "Credential checks refused while a failure delay ran (429).", refusals_fn, t);
}
