/* subscriber.c — the subscriber thread: live events from the bus, gaps filled from Replay (see
 * subscriber.h). */
#include "subscriber.h"
#include "events.h"

#include <inttypes.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/pbwire.h"
#include "base/xmalloc.h"
#include "rpc/client.h"
#include "rpc/closer.h"
#include "rpc/resolve.h"

typedef struct source {
    char *name;
    rpc_client *client;
    _Atomic int64_t last; /* last seq handed over */
    int64_t heard_ms;     /* monotonic ms of the last live event or check */
    bool stalled;         /* the consumer refused: wait for the next check */
    bool tail;            /* live events came since the last check: check after tail_ms */
    bool failing;         /* Replay failed last time (logged once per outage) */
} source;

struct events_sub {
    nng_socket sock;
    resolve_set *dialers; /* every broker the bus name resolves to (resolve.h) */
    source *src;
    size_t nsrc;
    events_consume_fn consume;
    void *arg;
    int replay_limit, check_ms, tail_ms, timeout_ms;
    atomic_bool stop;
    pthread_t thread;
    _Atomic uint64_t delivered, duplicates, gaps, replayed, lost, forged;
    rpc_ident *ident; /* borrowed: verifies live events, signs Replay calls */
};

/* A sequence number a publisher can have given: 1, 2, 3 … Anything else (0, negative, or
 * INT64_MAX, after which "the next one" does not exist and last + 1 overflows everywhere
 * positions are kept) comes from a broken or hostile peer and is refused. */
static bool seq_ok(int64_t seq)
{
    return seq >= 1 && seq < INT64_MAX;
}

static int64_t now_ms(void)
{
    return cf_mono_ns() / 1000000;
}

static source *find(events_sub *s, const char *name)
{
    for (size_t i = 0; i < s->nsrc; i++)
        if (strcmp(s->src[i].name, name) == 0)
            return &s->src[i];
    return NULL;
}

/* Hands ev over if it is the next one. Returns false when the consumer refused it. */
static bool deliver(events_sub *s, source *src, const Events__V1__Event *ev)
{
    if (s->consume(s->arg, ev) != CF_OK) {
        src->stalled = true;
        return false;
    }
    atomic_store(&src->last, ev->seq);
    atomic_fetch_add(&s->delivered, 1);
    return true;
}

/* Replays from last+1 until the source has nothing newer (or `until` is reached, when > 0).
 * Stops early on an RPC error (logged) or a refusing consumer; the next check resumes. */
static void catch_up(events_sub *s, source *src, int64_t until)
{
    src->stalled = false;
    for (;;) {
        int64_t last = atomic_load(&src->last);
        if (until > 0 && last >= until)
            return;
        Events__V1__ReplayRequest req = EVENTS__V1__REPLAY_REQUEST__INIT;
        req.from_seq = last + 1;
        req.limit = s->replay_limit;
        rpc_ccall cc;
        rpc_ccall_init(&cc, NULL);
        cc.timeout_ms = s->timeout_ms;
        events__v1__events__replay(rpc_client_service(src->client, &events__v1__events__descriptor),
                                   &req, NULL, &cc);
        if (cc.code != CF_OK) {
            if (!src->failing)
                log_warn("events: replay from %s at %" PRId64 ": %s (%s)", src->name, last + 1,
                         cf_code_name(cc.code), cc.message);
            src->failing = true;
            rpc_ccall_free(&cc);
            return;
        }
        const Events__V1__ReplayResponse *resp = (const Events__V1__ReplayResponse *)cc.response;
        /* an answer with an impossible number is not trusted at all: a failed Replay */
        for (size_t i = 0; i < resp->n_events; i++) {
            if (!seq_ok(resp->events[i]->seq)) {
                if (!src->failing)
                    log_warn("events: replay from %s answered sequence %" PRId64 ": refused",
                             src->name, resp->events[i]->seq);
                src->failing = true;
                rpc_ccall_free(&cc);
                return;
            }
        }
        if (src->failing)
            log_info("events: replay from %s works again", src->name);
        src->failing = false;
        bool progress = false;
        for (size_t i = 0; i < resp->n_events && !atomic_load(&s->stop); i++) {
            Events__V1__Event *ev = resp->events[i];
            int64_t have = atomic_load(&src->last);
            if (ev->seq <= have)
                continue;
            if (ev->seq > have + 1) { /* the source no longer keeps these */
                log_error("events: %s events %" PRId64 "..%" PRId64 " are past retention: lost",
                          src->name, have + 1, ev->seq - 1);
                atomic_fetch_add(&s->lost, (uint64_t)(ev->seq - have - 1));
            }
            if (!deliver(s, src, ev)) {
                rpc_ccall_free(&cc);
                return;
            }
            atomic_fetch_add(&s->replayed, 1);
            progress = true;
        }
        bool more = progress && atomic_load(&src->last) < resp->last_seq;
        rpc_ccall_free(&cc);
        if (!more || atomic_load(&s->stop))
            return;
    }
}

static void on_message(events_sub *s, nng_msg *m)
{
    const char *name;
    const uint8_t *body;
    size_t blen;
    const uint8_t *sig;
    if (events_frame_split(nng_msg_body(m), nng_msg_len(m), &name, &body, &blen, &sig) != CF_OK)
        return;
    source *src = find(s, name);
    if (!src)
        return;
    /* only what the named source signed (rpc/ident.h): a forged event never reaches the
     * consumer, nor moves the position (it would make the real one a "duplicate") */
    if (events_frame_verify(s->ident, nng_msg_body(m), nng_msg_len(m), &name, &body, &blen) !=
        CF_OK) {
        uint64_t n = atomic_fetch_add(&s->forged, 1);
        if (n % 1000 == 0)
            log_warn("events: event claiming source %s without its signature dropped (%" PRIu64
                     " so far)",
                     src->name, n + 1);
        return;
    }
    /* bus frames come from anyone who can reach the bus: bounded like any request */
    ProtobufCMessage *pm;
    const char *why;
    if (pb_unpack(&events__v1__event__descriptor, NULL, body, blen, &pm, &why) != CF_OK) {
        log_warn("events: undecodable event from %s dropped (%s)", src->name, why);
        return;
    }
    Events__V1__Event *ev = (Events__V1__Event *)pm;
    if (strcmp(ev->source, src->name) != 0) { /* signed by one source, claiming another */
        atomic_fetch_add(&s->forged, 1);
        log_warn("events: event from %s claiming source %.64s dropped", src->name, ev->source);
        events__v1__event__free_unpacked(ev, NULL);
        return;
    }
    if (!seq_ok(ev->seq)) {
        log_warn("events: event from %s with sequence %" PRId64 " dropped", src->name, ev->seq);
        events__v1__event__free_unpacked(ev, NULL);
        return;
    }
    src->heard_ms = now_ms();
    src->tail = true;
    int64_t last = atomic_load(&src->last);
    if (ev->seq <= last) {
        atomic_fetch_add(&s->duplicates, 1);
    } else if (ev->seq == last + 1 && !src->stalled) {
        deliver(s, src, ev);
    } else {
        /* a loss: fetch what is missing, up to and including this one (it is committed, so
         * Replay has it) */
        if (!src->stalled)
            atomic_fetch_add(&s->gaps, 1);
        catch_up(s, src, ev->seq);
    }
    events__v1__event__free_unpacked(ev, NULL);
}

static void *sub_main(void *arg)
{
    events_sub *s = arg;
    for (size_t i = 0; i < s->nsrc; i++)
        s->src[i].heard_ms = INT64_MIN / 2; /* check every source at once: catch up at start */
    while (!atomic_load(&s->stop)) {
        int64_t t = now_ms();
        for (size_t i = 0; i < s->nsrc && !atomic_load(&s->stop); i++) {
            source *src = &s->src[i];
            /* the tail check: the last events of a burst may have been dropped, and no later
             * event would reveal it before check_ms */
            if (t - src->heard_ms >= s->check_ms ||
                (src->tail && t - src->heard_ms >= s->tail_ms)) {
                src->tail = false;
                catch_up(s, src, 0);
                src->heard_ms = now_ms();
            }
        }
        nng_msg *m;
        int rv = nng_recvmsg(s->sock, &m, 0); /* bounded by NNG_OPT_RECVTIMEO */
        if (rv == 0) {
            on_message(s, m);
            nng_msg_free(m);
        } else if (rv != NNG_ETIMEDOUT && rv != NNG_ECLOSED) {
            log_warn("events: bus receive: %s", nng_strerror(rv));
        }
    }
    return NULL;
}

static void sub_free(events_sub *s)
{
    for (size_t i = 0; i < s->nsrc; i++) {
        rpc_client_free(s->src[i].client);
        free(s->src[i].name);
    }
    free(s->src);
    free(s);
}

cf_code events_sub_start(const events_sub_config *cfg, events_sub **out, char *err, size_t errlen)
{
    events_sub *s = xcalloc(1, sizeof *s);
    s->consume = cfg->consume;
    s->arg = cfg->arg;
    s->ident = cfg->ident;
    s->replay_limit = cfg->replay_limit > 0 ? cfg->replay_limit : 500;
    s->check_ms = cfg->check_ms > 0 ? cfg->check_ms : 1000;
    s->tail_ms = cfg->tail_ms > 0 ? cfg->tail_ms : 50;
    s->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 2000;
    s->src = xcalloc(cfg->nsources ? cfg->nsources : 1, sizeof *s->src);
    for (size_t i = 0; i < cfg->nsources; i++) {
        const events_source *in = &cfg->sources[i];
        if (find(s, in->name)) {
            snprintf(err, errlen, "events source %s named twice", in->name);
            sub_free(s);
            return CF_INVALID_ARGUMENT;
        }
        source *src = &s->src[s->nsrc];
        rpc_client_config cc = {.urls = in->replay_urls,
                                .nurls = in->nurls,
                                .timeout_ms = s->timeout_ms,
                                .ident = s->ident};
        if (rpc_client_new(&cc, &src->client, err, errlen) != CF_OK) {
            sub_free(s);
            return CF_INVALID_ARGUMENT;
        }
        src->name = xstrdup(in->name);
        atomic_store(&src->last, in->after_seq > 0 ? in->after_seq : 0);
        s->nsrc++;
    }
    int rv = nng_sub0_open(&s->sock);
    if (rv != 0) {
        snprintf(err, errlen, "sub socket: %s", nng_strerror(rv));
        sub_free(s);
        return CF_INTERNAL;
    }
    for (size_t i = 0; i < s->nsrc; i++) {
        char topic[64];
        size_t tn = events_topic(s->src[i].name, topic, sizeof topic);
        nng_socket_set(s->sock, NNG_OPT_SUB_SUBSCRIBE, topic, tn);
    }
    /* the loop's tick: checks run at most this late */
    nng_socket_set_ms(s->sock, NNG_OPT_RECVTIMEO, s->tail_ms / 2 > 10 ? s->tail_ms / 2 : 10);
    nng_socket_set_ms(s->sock, NNG_OPT_RECONNMINT, 50);
    nng_socket_set_ms(s->sock, NNG_OPT_RECONNMAXT, 1000);
    nng_socket_set_int(s->sock, NNG_OPT_RECVBUF, 1024);
    /* every broker replica: each carries every event, duplicates are dropped by seq */
    char why[256];
    if (resolve_dial(s->sock, &cfg->bus, 1, &s->dialers, why, sizeof why) != CF_OK) {
        snprintf(err, errlen, "events bus: %s", why);
        nng_close(s->sock);
        sub_free(s);
        return CF_INVALID_ARGUMENT;
    }
    pthread_create(&s->thread, NULL, sub_main, s);
    *out = s;
    return CF_OK;
}

void events_sub_stop(events_sub *s)
{
    if (!s)
        return;
    atomic_store(&s->stop, true);
    pthread_join(s->thread, NULL);
    /* nng 1.5.2 sometimes hung in nng_close on a sub socket that had been receiving a fast
     * stream, its receive queue full (about once in ten restarts under load; cf. nanomsg/nng
     * #1543, fixed after 1.5.2). Closing the dialer first (nothing arrives any more) and
     * emptying the queue before the close avoids it. */
    resolve_stop(s->dialers);
    for (nng_msg *m; nng_recvmsg(s->sock, &m, NNG_FLAG_NONBLOCK) == 0;)
        nng_msg_free(m);
    /* ... and when it hangs all the same, it is abandoned after a bound (rpc/closer.h): the
     * socket, its dialers and this structure are left to the exiting process */
    if (!rpc_close_bounded(s->sock, "events subscriber")) {
        rpc_abandon(s);
        return;
    }
    resolve_free(s->dialers);
    sub_free(s);
}

void events_sub_stats_get(events_sub *s, events_sub_stats *out)
{
    out->delivered = atomic_load(&s->delivered);
    out->duplicates = atomic_load(&s->duplicates);
    out->gaps = atomic_load(&s->gaps);
    out->replayed = atomic_load(&s->replayed);
    out->lost = atomic_load(&s->lost);
    out->forged = atomic_load(&s->forged);
}

int64_t events_sub_position(events_sub *s, const char *name)
{
    source *src = find(s, name);
    return src ? atomic_load(&src->last) : -1;
}
