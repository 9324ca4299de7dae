/* test_nesting.c — nesting bounds on both sides of an RPC (issue 13 item 1, base/pbwire.h): a
 * request whose Struct is nested past PB_MAX_DEPTH gets INVALID_ARGUMENT from the dispatcher
 * and the server keeps serving; a client given such a reply (a hostile or broken peer) reports
 * INTERNAL instead of overflowing its stack, through the blocking and the async path. */
#include "th.h"
#include "pbdeep.h"
#include "testsvc.h"
#include "base/pbwire.h"
#include "base/xmalloc.h"
#include "rpc/v1/envelope.pb-c.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/util/platform.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIRROR "testsvc.v1.Echo/Mirror"

/* One raw envelope to url; returns the reply's code and message. */
static cf_code call_raw(const char *url, const uint8_t *payload, size_t len, char *msg,
                        size_t msglen)
{
    nng_socket s;
    assert_int_equal(nng_req0_open(&s), 0);
    nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 20000);
    nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, 16 << 20);
    assert_int_equal(nng_dial(s, url, NULL, 0), 0);
    Rpc__V1__Request req = RPC__V1__REQUEST__INIT;
    req.method = MIRROR;
    req.payload.data = (uint8_t *)payload;
    req.payload.len = len;
    size_t n = rpc__v1__request__get_packed_size(&req);
    uint8_t *buf = xmalloc(n);
    rpc__v1__request__pack(&req, buf);
    assert_int_equal(nng_send(s, buf, n, 0), 0);
    free(buf);
    nng_msg *m;
    assert_int_equal(nng_recvmsg(s, &m, 0), 0);
    Rpc__V1__Reply *rep = rpc__v1__reply__unpack(NULL, nng_msg_len(m), nng_msg_body(m));
    assert_non_null(rep);
    cf_code code = cf_code_from_int(rep->code);
    snprintf(msg, msglen, "%s", rep->message);
    rpc__v1__reply__free_unpacked(rep, NULL);
    nng_msg_free(m);
    nng_close(s);
    return code;
}

static void deep_requests_are_refused_and_the_server_keeps_serving(void **state)
{
    (void)state;
    char url[128];
    th_ipc_url(url, sizeof url, "nest");
    int id = 1;
    rpc_server *srv = th_echo_server(url, 2, &id, NULL, NULL);
    assert_non_null(srv);
    static const size_t depths[] = {PB_MAX_DEPTH, PB_MAX_DEPTH + 1, 10000, 100000};
    for (size_t i = 0; i < sizeof depths / sizeof *depths; i++) {
        uint8_t *b;
        size_t n;
        th_pb_deep_struct_field(22, depths[i], &b, &n); /* Kitchen.meta */
        char msg[256];
        cf_code code = call_raw(url, b, n, msg, sizeof msg);
        if (depths[i] <= PB_MAX_DEPTH) {
            assert_code(CF_OK, code);
        } else {
            assert_code(CF_INVALID_ARGUMENT, code);
            assert_string_equal(msg, "testsvc.v1.Kitchen message: nested deeper than 256 levels");
        }
        free(b);
    }
    /* still serving */
    char msg[256];
    assert_code(CF_OK, call_raw(url, (const uint8_t *)"", 0, msg, sizeof msg));
    rpc_server_free(srv);
}

/* A peer that answers one request with OK and `payload` as the response. */
typedef struct peer {
    nng_socket sock;
    const uint8_t *payload;
    size_t len;
} peer;

static void *peer_main(void *arg)
{
    peer *p = arg;
    nng_msg *m;
    if (nng_recvmsg(p->sock, &m, 0) != 0)
        return NULL;
    nng_msg_free(m);
    Rpc__V1__Reply r = RPC__V1__REPLY__INIT;
    r.payload.data = (uint8_t *)p->payload;
    r.payload.len = p->len;
    size_t n = rpc__v1__reply__get_packed_size(&r);
    uint8_t *buf = xmalloc(n);
    rpc__v1__reply__pack(&r, buf);
    nng_send(p->sock, buf, n, 0);
    free(buf);
    return NULL;
}

static unsigned mirror_index(void)
{
    const ProtobufCMethodDescriptor *md =
        protobuf_c_service_descriptor_get_method_by_name(&testsvc__v1__echo__descriptor, "Mirror");
    return (unsigned)(md - testsvc__v1__echo__descriptor.methods);
}

typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
} waiter;

static void on_done(rpc_ccall *cc, void *arg)
{
    (void)cc;
    waiter *w = arg;
    pthread_mutex_lock(&w->mu);
    w->done = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void deep_replies_are_internal_on_the_client(void **state)
{
    (void)state;
    static const size_t depths[] = {PB_MAX_DEPTH, PB_MAX_DEPTH + 1, 10000, 100000};
    for (int async = 0; async < 2; async++) {
        for (size_t i = 0; i < sizeof depths / sizeof *depths; i++) {
            char url[128];
            th_ipc_url(url, sizeof url, "peer");
            peer p = {0};
            assert_int_equal(nng_rep0_open(&p.sock), 0);
            nng_socket_set_size(p.sock, NNG_OPT_RECVMAXSZ, 16 << 20);
            assert_int_equal(nng_listen(p.sock, url, NULL, 0), 0);
            uint8_t *b;
            th_pb_deep_struct_field(22, depths[i], &b, &p.len);
            p.payload = b;
            pthread_t t;
            pthread_create(&t, NULL, peer_main, &p);

            const char *u = url;
            rpc_client *c = th_client(&u, 1, 20000);
            Testsvc__V1__Kitchen req = TESTSVC__V1__KITCHEN__INIT;
            rpc_ccall cc;
            rpc_ccall_init(&cc, NULL);
            ProtobufCService *svc = rpc_client_service(c, &testsvc__v1__echo__descriptor);
            if (!async) {
                testsvc__v1__echo__mirror(svc, &req, NULL, &cc);
            } else {
                waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false};
                rpc_client_invoke_async(c, &testsvc__v1__echo__descriptor, mirror_index(),
                                        &req.base, &cc, on_done, &w);
                pthread_mutex_lock(&w.mu);
                while (!w.done)
                    pthread_cond_wait(&w.cv, &w.mu);
                pthread_mutex_unlock(&w.mu);
            }
            if (depths[i] <= PB_MAX_DEPTH) {
                assert_code(CF_OK, cc.code);
                assert_non_null(((Testsvc__V1__Kitchen *)cc.response)->meta);
            } else {
                assert_code(CF_INTERNAL, cc.code);
                assert_null(cc.response);
                assert_string_equal(cc.message,
                                    "testsvc.v1.Kitchen reply: nested deeper than 256 levels");
            }
            rpc_ccall_free(&cc);
            rpc_client_free(c);
            pthread_join(t, NULL);
            nng_close(p.sock);
            free(b);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(deep_requests_are_refused_and_the_server_keeps_serving),
        cmocka_unit_test(deep_replies_are_internal_on_the_client),
    };
    return cmocka_run_group_tests_name("rpc_nesting", tests, NULL, NULL);
}
