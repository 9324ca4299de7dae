/* http.c — see http.h. */
#include "http.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/xmalloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct gw_http {
    nng_http_server *server;
    nng_http_handler *handler;
    gw_http_config cfg;
};

static void req_free(gw_http_req *r)
{
    if (r->rxaio)
        nng_aio_reap(r->rxaio); /* may be inside its own callback */
    free(r->body);
    free(r);
}

static void dispatch(gw_http_req *r)
{
    r->server->cfg.fn(r, r->server->cfg.arg);
}

static void body_done(void *arg)
{
    gw_http_req *r = arg;
    int rv = nng_aio_result(r->rxaio);
    if (rv != 0) {
        /* timeout or a connection closed mid-body: answer (if it is still there) and close */
        r->early_status = 408;
    }
    r->body[r->body_len] = '\0';
    dispatch(r);
}

static void on_request(nng_aio *aio)
{
    nng_http_handler *h = nng_aio_get_input(aio, 1);
    gw_http *s = nng_http_handler_get_data(h);
    gw_http_req *r = xcalloc(1, sizeof *r);
    r->aio = aio;
    r->req = nng_aio_get_input(aio, 0);
    r->conn = nng_aio_get_input(aio, 2);
    r->server = s;
    r->method = nng_http_req_get_method(r->req);
    r->uri = nng_http_req_get_uri(r->req);
    r->start_ns = cf_mono_ns();

    if (nng_http_req_get_header(r->req, "Transfer-Encoding")) {
        r->early_status = 411; /* chunked request bodies: not supported by nng 1.5 */
        return dispatch(r);
    }
    const char *cl = nng_http_req_get_header(r->req, "Content-Length");
    if (!cl)
        return dispatch(r);
    char *end;
    errno = 0;
    unsigned long long len = strtoull(cl, &end, 10);
    if (!*cl || *end || errno || cl[0] == '-' || cl[0] == '+') {
        r->early_status = 400;
        return dispatch(r);
    }
    if (len > s->cfg.max_body) {
        r->early_status = 413;
        return dispatch(r);
    }
    if (len == 0)
        return dispatch(r);
    r->body = xmalloc((size_t)len + 1);
    r->body_len = (size_t)len;
    if (nng_aio_alloc(&r->rxaio, body_done, r) != 0)
        abort();
    nng_iov iov = {.iov_buf = r->body, .iov_len = (size_t)len};
    nng_aio_set_iov(r->rxaio, 1, &iov);
    nng_aio_set_timeout(r->rxaio, s->cfg.body_timeout_ms);
    nng_http_conn_read_all(r->conn, r->rxaio);
}

cf_code gw_http_start(const gw_http_config *cfg, gw_http **out, char *err, size_t errlen)
{
    gw_http *s = xcalloc(1, sizeof *s);
    s->cfg = *cfg;
    nng_url *url = NULL;
    int rv = nng_url_parse(&url, cfg->url);
    if (rv != 0 || strcmp(url->u_scheme, "http") != 0) {
        snprintf(err, errlen, "%s: not an http:// URL", cfg->url);
        nng_url_free(url);
        free(s);
        return CF_INVALID_ARGUMENT;
    }
    if ((rv = nng_http_server_hold(&s->server, url)) != 0 ||
        (rv = nng_http_handler_alloc(&s->handler, "/", on_request)) != 0) {
        snprintf(err, errlen, "%s: %s", cfg->url, nng_strerror(rv));
        goto fail;
    }
    nng_http_handler_set_method(s->handler, NULL);
    nng_http_handler_set_tree(s->handler);
    nng_http_handler_collect_body(s->handler, false, 0);
    nng_http_handler_set_data(s->handler, s, NULL);
    if ((rv = nng_http_server_add_handler(s->server, s->handler)) != 0) {
        nng_http_handler_free(s->handler);
        snprintf(err, errlen, "%s: %s", cfg->url, nng_strerror(rv));
        goto fail;
    }
    if ((rv = nng_http_server_start(s->server)) != 0) {
        snprintf(err, errlen, "%s: %s", cfg->url, nng_strerror(rv));
        goto fail;
    }
    nng_url_free(url);
    *out = s;
    return CF_OK;
fail:
    if (s->server)
        nng_http_server_release(s->server);
    nng_url_free(url);
    free(s);
    return CF_UNAVAILABLE;
}

int gw_http_port(gw_http *h)
{
    nng_sockaddr sa;
    if (nng_http_server_get_addr(h->server, &sa) != 0)
        return -1;
    if (sa.s_family == NNG_AF_INET)
        return ntohs(sa.s_in.sa_port);
    if (sa.s_family == NNG_AF_INET6)
        return ntohs(sa.s_in6.sa_port);
    return -1;
}

void gw_http_stop(gw_http *h)
{
    if (!h)
        return;
    nng_http_server_stop(h->server);
    nng_http_server_release(h->server);
    free(h);
}

const char *gw_http_header(const gw_http_req *r, const char *name)
{
    return nng_http_req_get_header(r->req, name);
}

void gw_http_respond(gw_http_req *r, int status, const char *const *headers, const char *body,
                     size_t len, bool close)
{
    nng_http_res *res;
    if (nng_http_res_alloc(&res) != 0)
        abort();
    nng_http_res_set_status(res, (uint16_t)status);
    for (size_t i = 0; headers && headers[i]; i += 2)
        nng_http_res_set_header(res, headers[i], headers[i + 1]);
    if (close)
        nng_http_res_set_header(res, "Connection", "close");
    if (len)
        nng_http_res_copy_data(res, body, len);
    else if (status != 204 && status != 304)
        /* Without it an empty 302 leaves a keep-alive client waiting for a body forever
         * (nng adds no Content-Length when no data was set). */
        nng_http_res_set_header(res, "Content-Length", "0");
    nng_aio *aio = r->aio;
    req_free(r);
    nng_aio_set_output(aio, 0, res);
    nng_aio_finish(aio, 0);
}

nng_http_conn *gw_http_take(gw_http_req *r, nng_http_req **req)
{
    nng_http_conn *conn = r->conn;
    nng_aio *aio = r->aio;
    *req = r->req;
    nng_http_hijack(conn);
    req_free(r);
    nng_aio_set_output(aio, 0, NULL);
    nng_aio_finish(aio, 0);
    return conn;
}
