/* admin.c — the admin HTTP port: one catch-all nng HTTP handler routing /healthz, /readyz and
 * /metrics from a table. Handlers run on nng's I/O threads and never block. */
#include "admin.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/supplemental/http/http.h>

#include "base/xmalloc.h"

/* Bodies of other methods are read (and ignored) up to this size so a keep-alive connection
 * stays in step; a larger one gets nng's 400. */
#define ADMIN_MAX_BODY 4096

struct admin_server {
    nng_http_server *http;
    nng_http_handler *handler;
    int port;
    metrics *metrics;
    bool (*ready)(void *arg);
    void *ready_arg;
    atomic_bool draining;
    /* Set by the handler's destructor, which nng runs once no request holds the handler:
     * admin_stop waits for it before freeing what the handler reads. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool handler_gone;
};

/* What a route answers. body is either static text or owned (freed after copying). */
typedef struct admin_reply {
    uint16_t status;
    const char *content_type;
    const char *body;
    size_t len;
    char *owned;
} admin_reply;

static const char text_plain[] = "text/plain; charset=utf-8";

static void reply_text(admin_reply *r, uint16_t status, const char *body)
{
    r->status = status;
    r->content_type = text_plain;
    r->body = body;
    r->len = strlen(body);
}

static void serve_healthz(admin_server *s, admin_reply *r)
{
    (void)s;
    reply_text(r, 200, "ok");
}

static void serve_readyz(admin_server *s, admin_reply *r)
{
    bool ready = !atomic_load_explicit(&s->draining, memory_order_acquire) &&
                 (s->ready == NULL || s->ready(s->ready_arg));
    if (ready)
        reply_text(r, 200, "ready");
    else
        reply_text(r, 503, "not ready");
}

static void serve_metrics(admin_server *s, admin_reply *r)
{
    r->status = 200;
    r->content_type = "text/plain; version=0.0.4; charset=utf-8";
    if (s->metrics == NULL) {
        r->body = "";
        return;
    }
    r->owned = metrics_render(s->metrics, &r->len);
    r->body = r->owned;
}

static const struct {
    const char *path;
    void (*serve)(admin_server *s, admin_reply *r);
} routes[] = {
    {"/healthz", serve_healthz},
    {"/readyz", serve_readyz},
    {"/metrics", serve_metrics},
};

static void route(admin_server *s, nng_http_req *req, admin_reply *r, bool *allow)
{
    const char *uri = nng_http_req_get_uri(req);
    const char *method = nng_http_req_get_method(req);
    size_t plen = strcspn(uri, "?");
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (strlen(routes[i].path) != plen || memcmp(routes[i].path, uri, plen) != 0)
            continue;
        if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
            reply_text(r, 405, "method not allowed");
            *allow = true;
            return;
        }
        routes[i].serve(s, r);
        return;
    }
    reply_text(r, 404, "not found");
}

/* The nng handler callback (any method, any path). Runs on an nng I/O thread: everything it
 * does is bounded and lock-free, apart from the caller's ready flag. nng strips the body of a
 * HEAD reply and keeps its Content-Length. */
static void admin_handle(nng_aio *aio)
{
    nng_http_req *req = nng_aio_get_input(aio, 0);
    nng_http_handler *h = nng_aio_get_input(aio, 1);
    admin_server *s = nng_http_handler_get_data(h);
    admin_reply r = {0};
    bool allow = false;
    route(s, req, &r, &allow);

    nng_http_res *res;
    int rv = nng_http_res_alloc(&res);
    if (rv == 0) {
        if ((rv = nng_http_res_set_status(res, r.status)) == 0 &&
            (rv = nng_http_res_set_header(res, "Content-Type", r.content_type)) == 0 &&
            (rv = nng_http_res_set_header(res, "Cache-Control", "no-store")) == 0 &&
            (!allow || (rv = nng_http_res_set_header(res, "Allow", "GET, HEAD")) == 0) &&
            r.len > 0) /* nng cannot copy 0 bytes (ENOMEM): an empty body is the default */
            rv = nng_http_res_copy_data(res, r.body, r.len);
        else if (rv == 0)
            /* and then says nothing about the length: a keep-alive client would wait */
            rv = nng_http_res_set_header(res, "Content-Length", "0");
        if (rv != 0)
            nng_http_res_free(res);
    }
    free(r.owned);
    if (rv != 0) {
        /* nng closes the connection: the probe fails, which is what an out-of-memory
         * process should look like. */
        nng_aio_finish(aio, rv);
        return;
    }
    nng_aio_set_output(aio, 0, res);
    nng_aio_finish(aio, 0);
}

static void admin_handler_gone(void *arg)
{
    admin_server *s = arg;
    pthread_mutex_lock(&s->mu);
    s->handler_gone = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static cf_code fail(char *err, size_t errlen, cf_code code, const char *what, const char *url,
                    int rv)
{
    if (errlen > 0)
        snprintf(err, errlen, "admin: %s %s: %s", what, url, nng_strerror(rv));
    return code;
}

/* Makes the catch-all handler: tree at "/", every method, s as its data. */
static int handler_new(admin_server *s, nng_http_handler **out)
{
    nng_http_handler *h;
    int rv = nng_http_handler_alloc(&h, "/", admin_handle);
    if (rv != 0)
        return rv;
    if ((rv = nng_http_handler_set_method(h, NULL)) != 0 ||
        (rv = nng_http_handler_set_tree(h)) != 0 ||
        (rv = nng_http_handler_collect_body(h, true, ADMIN_MAX_BODY)) != 0 ||
        (rv = nng_http_handler_set_data(h, s, admin_handler_gone)) != 0) {
        nng_http_handler_free(h);
        return rv;
    }
    *out = h;
    return 0;
}

/* Frees s, which must own no nng object any more. */
static void admin_free(admin_server *s)
{
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* Removes the handler and waits until no request is still inside it. */
static void handler_retire(admin_server *s)
{
    nng_http_server_del_handler(s->http, s->handler);
    nng_http_handler_free(s->handler);
    s->handler = NULL;
    pthread_mutex_lock(&s->mu);
    while (!s->handler_gone)
        pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
}

cf_code admin_start(const admin_config *cfg, admin_server **out, char *err, size_t errlen)
{
    if (cfg->url == NULL)
        return fail(err, errlen, CF_INVALID_ARGUMENT, "no url", "", NNG_EADDRINVAL);
    nng_url *url;
    int rv = nng_url_parse(&url, cfg->url);
    if (rv != 0)
        return fail(err, errlen, CF_INVALID_ARGUMENT, "bad url", cfg->url, rv);
    if (strcmp(url->u_scheme, "http") != 0 || url->u_hostname[0] == '\0' ||
        (url->u_path[0] != '\0' && strcmp(url->u_path, "/") != 0)) {
        nng_url_free(url);
        return fail(err, errlen, CF_INVALID_ARGUMENT, "url must be http://host:port, not", cfg->url,
                    NNG_EADDRINVAL);
    }

    admin_server *s = xcalloc(1, sizeof *s);
    s->metrics = cfg->metrics;
    s->ready = cfg->ready;
    s->ready_arg = cfg->ready_arg;
    atomic_init(&s->draining, false);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);

    rv = nng_http_server_hold(&s->http, url);
    nng_url_free(url);
    if (rv != 0) {
        admin_free(s);
        return fail(err, errlen, CF_UNAVAILABLE, "cannot serve", cfg->url, rv);
    }
    if ((rv = handler_new(s, &s->handler)) != 0) {
        nng_http_server_release(s->http);
        admin_free(s);
        return fail(err, errlen, CF_INTERNAL, "cannot make handler for", cfg->url, rv);
    }
    if ((rv = nng_http_server_add_handler(s->http, s->handler)) != 0) {
        /* The handler never reached the server: its destructor runs right here. */
        nng_http_handler_free(s->handler);
        nng_http_server_release(s->http);
        admin_free(s);
        return fail(err, errlen, CF_UNAVAILABLE, "address already served", cfg->url, rv);
    }

    nng_sockaddr sa;
    if ((rv = nng_http_server_start(s->http)) != 0 ||
        (rv = nng_http_server_get_addr(s->http, &sa)) != 0) {
        handler_retire(s);
        nng_http_server_release(s->http);
        admin_free(s);
        return fail(err, errlen, CF_UNAVAILABLE, "cannot listen on", cfg->url, rv);
    }
    s->port = sa.s_family == NNG_AF_INET6 ? ntohs(sa.s_in6.sa_port) : ntohs(sa.s_in.sa_port);
    *out = s;
    return CF_OK;
}

int admin_port(admin_server *s)
{
    return s->port;
}

void admin_set_draining(admin_server *s, bool draining)
{
    atomic_store_explicit(&s->draining, draining, memory_order_release);
}

void admin_stop(admin_server *s)
{
    if (s == NULL)
        return;
    nng_http_server_stop(s->http);
    handler_retire(s);
    nng_http_server_release(s->http);
    admin_free(s);
}
