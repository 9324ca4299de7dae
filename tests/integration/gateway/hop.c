/* hop.c — see hop.h. One thread: receive on a rep socket, forward on a req
 * socket, answer. Requests are taken one at a time, so while a reply is held the gateway's
 * other calls to rooms wait behind it (the tests that use it hold for a moment only). */
#include "hop.h"
#include "testsvc.h"
#include "base/xmalloc.h"
#include "rpc/sendmsg.h"
#include "rpc/v1/envelope.pb-c.h"
#include "events/v1/events.pb-c.h"
#include "health/v1/health.pb-c.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

struct hop {
    nng_socket rep, req;
    char url[128];
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool armed, held, released, stop;
    int64_t from_seq;
    atomic_int replays;
    atomic_bool not_serving;
    atomic_int not_serving_answers;
};

typedef enum { CALL_OTHER, CALL_REPLAY, CALL_HEALTH } call_kind;

/* What a request envelope asks; for a Replay, its from_seq in *from. */
static call_kind classify(const void *data, size_t len, int64_t *from)
{
    Rpc__V1__Request *r = rpc__v1__request__unpack(NULL, len, data);
    if (!r)
        return CALL_OTHER;
    call_kind k = CALL_OTHER;
    if (r->method && strcmp(r->method, "health.v1.Health/Check") == 0)
        k = CALL_HEALTH;
    if (r->method && strcmp(r->method, "events.v1.Events/Replay") == 0) {
        Events__V1__ReplayRequest *q =
            events__v1__replay_request__unpack(NULL, r->payload.len, r->payload.data);
        if (q) {
            k = CALL_REPLAY;
            *from = q->from_seq;
            events__v1__replay_request__free_unpacked(q, NULL);
        }
    }
    rpc__v1__request__free_unpacked(r, NULL);
    return k;
}

static void *run(void *arg)
{
    hop *h = arg;
    for (;;) {
        nng_msg *in;
        int rv = nng_recvmsg(h->rep, &in, 0);
        pthread_mutex_lock(&h->mu);
        bool stop = h->stop;
        pthread_mutex_unlock(&h->mu);
        if (stop || rv == NNG_ECLOSED) {
            if (rv == 0)
                nng_msg_free(in);
            return NULL;
        }
        if (rv != 0)
            continue; /* a receive timeout: look at stop again */
        int64_t from = -1;
        call_kind kind = classify(nng_msg_body(in), nng_msg_len(in), &from);
        if (kind == CALL_REPLAY)
            atomic_fetch_add(&h->replays, 1);
        if (kind == CALL_HEALTH && atomic_load(&h->not_serving)) {
            nng_msg_free(in);
            Health__V1__CheckResponse hr = HEALTH__V1__CHECK_RESPONSE__INIT;
            hr.status = HEALTH__V1__CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
            uint8_t pl[16];
            Rpc__V1__Reply rep = RPC__V1__REPLY__INIT;
            rep.code = 0;
            rep.payload = (ProtobufCBinaryData){protobuf_c_message_pack(&hr.base, pl), pl};
            nng_msg *m = rpc_sendmsg_alloc(protobuf_c_message_get_packed_size(&rep.base));
            if (m) {
                protobuf_c_message_pack(&rep.base, nng_msg_body(m));
                if (nng_sendmsg(h->rep, m, 0) != 0)
                    nng_msg_free(m);
                atomic_fetch_add(&h->not_serving_answers, 1);
            }
            continue;
        }
        /* forwarded as copies from rpc/sendmsg.h's allocator (the one loss the sanitizer run
         * forgives, nng 1.5.2's on a closing connection, is then named) */
        nng_msg *fwd = rpc_sendmsg_copy(in), *out = NULL;
        nng_msg_free(in);
        if (!fwd || nng_sendmsg(h->req, fwd, 0) != 0) {
            nng_msg_free(fwd);
            continue; /* the gateway's call times out: what a lost service looks like */
        }
        if (nng_recvmsg(h->req, &in, 0) != 0)
            continue;
        out = rpc_sendmsg_copy(in);
        nng_msg_free(in);
        if (!out)
            continue;
        pthread_mutex_lock(&h->mu);
        if (h->armed && kind == CALL_REPLAY && from == h->from_seq) {
            h->armed = false;
            h->held = true;
            pthread_cond_broadcast(&h->cv);
            while (!h->released && !h->stop)
                pthread_cond_wait(&h->cv, &h->mu);
        }
        pthread_mutex_unlock(&h->mu);
        if (nng_sendmsg(h->rep, out, 0) != 0)
            nng_msg_free(out);
    }
}

hop *hop_new(const char *to)
{
    hop *h = xcalloc(1, sizeof *h);
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    th_ipc_url(h->url, sizeof h->url, "replay-hold");
    if (nng_rep0_open(&h->rep) != 0 || nng_req0_open(&h->req) != 0 ||
        nng_listen(h->rep, h->url, NULL, 0) != 0 || nng_dial(h->req, to, NULL, 0) != 0) {
        nng_close(h->rep);
        nng_close(h->req);
        free(h);
        return NULL;
    }
    nng_socket_set_ms(h->rep, NNG_OPT_RECVTIMEO, 200);
    nng_socket_set_ms(h->req, NNG_OPT_RECVTIMEO, 30000);
    nng_socket_set_ms(h->req, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
    pthread_create(&h->thread, NULL, run, h);
    return h;
}

const char *hop_url(const hop *h)
{
    return h->url;
}

void hop_arm_replay(hop *h, int64_t from_seq)
{
    pthread_mutex_lock(&h->mu);
    h->armed = true;
    h->held = h->released = false;
    h->from_seq = from_seq;
    pthread_mutex_unlock(&h->mu);
}

bool hop_wait_held(hop *h, int timeout_ms)
{
    struct timespec end; /* the run thread broadcasts cv when it holds the reply */
    clock_gettime(CLOCK_REALTIME, &end);
    end.tv_sec += timeout_ms / 1000;
    end.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
    if (end.tv_nsec >= 1000000000) {
        end.tv_sec++;
        end.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&h->mu);
    while (!h->held)
        if (pthread_cond_timedwait(&h->cv, &h->mu, &end) != 0)
            break; /* the timeout */
    bool held = h->held;
    pthread_mutex_unlock(&h->mu);
    return held;
}

void hop_release(hop *h)
{
    pthread_mutex_lock(&h->mu);
    h->released = true;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
}

void hop_set_not_serving(hop *h, bool on)
{
    atomic_store(&h->not_serving, on);
}

int hop_not_serving_answers(hop *h)
{
    return atomic_load(&h->not_serving_answers);
}

int hop_replays(hop *h)
{
    return atomic_load(&h->replays);
}

void hop_free(hop *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->mu);
    h->stop = true;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
    pthread_join(h->thread, NULL);
    nng_close(h->rep);
    nng_close(h->req);
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->mu);
    free(h);
}
