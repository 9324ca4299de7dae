/* testsvc.c — handlers of testsvc.v1.Echo and helpers to run it. */
#include "testsvc.h"
#include "th.h"
#include "confetti_testproto_handlers.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

RPC_HANDLER(rpc_echo_echo)
{
    if (req->sleep_ms)
        nng_msleep(req->sleep_ms);
    const authn_identity *who = rpc_caller(call);
    const char *x = rpc_md_get(call, "x-test");
    resp->text = (char *)req->text;
    resp->request_id = (char *)rpc_request_id(call);
    resp->subject = who ? (char *)who->sub : "";
    resp->metadata_value = x ? (char *)x : "";
    resp->worker = (uint32_t) * (int *)rpc_service_ctx(call);
    resp->blob = req->blob;
    return CF_OK;
}

RPC_HANDLER(rpc_echo_fail)
{
    (void)resp;
    if (req->sleep_ms)
        nng_msleep(req->sleep_ms);
    if (req->fail_field && *req->fail_field)
        return rpc_violation(call, req->fail_field, "%s", req->text);
    return rpc_error(call, cf_code_from_int(req->fail_code), "%s", req->text);
}

static Testsvc__V1__Echo_Service echo_service = TESTSVC__V1__ECHO__INIT(rpc_echo_);

rpc_server *th_echo_server(const char *url, int workers, int *server_id, authn_verifier *verifier,
                           metrics *m)
{
    rpc_server_config cfg = {
        .listen = &url, .nlisten = 1, .workers = workers, .verifier = verifier, .metrics = m};
    rpc_server *s;
    if (rpc_server_new(&cfg, &s) != CF_OK)
        return NULL;
    rpc_server_add_service(s, &echo_service.base, server_id);
    char err[256];
    if (rpc_server_start(s, err, sizeof err) != CF_OK) {
        fprintf(stderr, "echo server: %s\n", err);
        rpc_server_free(s);
        return NULL;
    }
    return s;
}

rpc_client *th_client(const char *const *urls, size_t n, int timeout_ms)
{
    rpc_client_config cfg = {.urls = urls, .nurls = n, .timeout_ms = timeout_ms};
    rpc_client *c;
    char err[256];
    if (rpc_client_new(&cfg, &c, err, sizeof err) != CF_OK) {
        fprintf(stderr, "client: %s\n", err);
        return NULL;
    }
    return c;
}

const char *th_ipc_url(char *buf, size_t len, const char *tag)
{
    static int counter; /* tests are single-process; a plain counter suffices */
    snprintf(buf, len, "ipc:///tmp/confetti-test-%d-%s-%d.sock", (int)getpid(), tag, counter++);
    return buf;
}
