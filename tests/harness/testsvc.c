/* testsvc.c — handlers of testsvc.v1.Echo and helpers to run it. */
#include "testsvc.h"
#include "th.h"
#include "th_ident.h"
#include "db/db.h"
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
    const int *server_id = rpc_service_ctx(call);
    resp->worker = server_id ? (uint32_t)*server_id : 0;
    /* "db:<text>" round-trips <text> through the worker's database connection, when the
     * server has one (services started by svc_main do). */
    db_conn *db = rpc_worker(call);
    if (db && strncmp(req->text, "db:", 3) == 0) {
        const char *params[] = {req->text + 3};
        PGresult *r;
        cf_code code = db_exec(db, "echo_ping", 1, params, &r);
        if (code != CF_OK)
            return rpc_error(call, code, "database: %s", cf_code_name(code));
        resp->text = rpc_strdup(call, PQgetvalue(r, 0, 0));
        PQclear(r);
    }
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

/* The request, as the response: a message with a Struct both ways (nesting tests). */
RPC_HANDLER(rpc_echo_mirror)
{
    (void)call;
    *resp = *req;
    return CF_OK;
}

static Testsvc__V1__Echo_Service echo_service = TESTSVC__V1__ECHO__INIT(rpc_echo_);

ProtobufCService *th_echo_service(void)
{
    return &echo_service.base;
}

rpc_server *th_echo_server(const char *url, int workers, int *server_id, authn_verifier *verifier,
                           metrics *m)
{
    return th_echo_server_ident(url, workers, server_id, verifier, m, NULL);
}

rpc_server *th_echo_server_ident(const char *url, int workers, int *server_id,
                                 authn_verifier *verifier, metrics *m, rpc_ident *ident)
{
    rpc_server_config cfg = {.listen = &url,
                             .nlisten = 1,
                             .workers = workers,
                             .verifier = verifier,
                             .metrics = m,
                             .ident = ident};
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
    /* the harness's clients call as the operator "test" (th_ident.h) */
    rpc_client_config cfg = {
        .urls = urls, .nurls = n, .timeout_ms = timeout_ms, .ident = th_ident_test()};
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
