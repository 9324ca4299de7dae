/* http.c — see http.h. libmicrohttpd (MHD) 0.9.75 runs the sockets: epoll, a thread pool, the
 * HTTP/1.1 parser, keep-alive, chunked request bodies, suspend/resume and the upgrade. What it
 * does not do, we add here (docs/gateway.md, "The HTTP edge"):
 *   - strict framing (RFC 9112) on the raw bytes of every request, before MHD parses them
 *     (rawguard.h, edgeparse.h): what MHD would normalize or refuse with its own HTML page or a
 *     silent close reaches the handler as a request with early_status, answered in the SPEC
 *     error shape;
 *   - 413 that the client reads: a refused body is read and dropped up to max_drain;
 *   - the header and body deadlines with a 408 (MHD's timeout closes silently): the sweeper;
 *   - the connection cap with a clear 503 (MHD's limit drops silently): the cap is ours, MHD's
 *     a hard backstop above it.
 *
 * Threads: MHD's pool threads call on_access / the notifications; gw_http_respond may come from
 * any thread and meets the handler under the request's mutex (suspend / resume). The sweeper
 * thread walks the connections under the server's mutex. Lock order: server → request. */
#include "http.h"
#include "gateway.h"
#include "rawguard.h"
#include "mhdpool.h"
#include "base/clock.h"
#include "base/log.h"
#include "admin/metrics.h"
#include "base/xmalloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { PEER_BUCKETS = 4096, LINGER_MS = 2000 };

/* A socket closed after a refusal (MHD has sent the answer and a FIN): what the client still
 * sends is read and dropped until it closes, LINGER_MS pass or max_drain bytes came, so that
 * the close does not reset the answer away on the client (nginx's lingering_close). */
typedef struct lingering {
    struct lingering *next;
    int fd; /* our dup of MHD's socket: MHD's close does not end the connection */
    int64_t until_ns;
    size_t left;
} lingering;

typedef struct peer_count {
    struct peer_count *next;
    unsigned n;
    char peer[GW_HTTP_ADDR_MAX];
} peer_count;

/* IDLE: no request line yet (new connection, or after the last answer); HEAD: the request line
 * is in (MHD's URI callback), the fields are not; BODY: the head is in, the body is being read;
 * APP: the application has the request. */
typedef enum { PH_IDLE, PH_HEAD, PH_BODY, PH_APP, PH_UPGRADED } phase;

/* One TCP connection (MHD's socket context): from NOTIFY_STARTED to NOTIFY_CLOSED. */
typedef struct hconn {
    struct hconn *prev, *next; /* s->conns (s->mu) */
    struct gw_http *s;
    int fd;
    char peer[GW_HTTP_ADDR_MAX];
    bool refused;       /* over the connection cap: its first request is answered 503 */
    bool peer_refused;  /* over the per-peer cap: its first request is answered 429 */
    gw_guard guard;     /* the raw bytes' check (MHD's thread) */
    atomic_bool linger; /* closed after a refusal: keep reading (and dropping) a little */
    unsigned nreq;      /* requests MHD began on this connection (MHD's thread) */
    /* under s->mu */
    phase ph;
    int64_t since_ns; /* when ph began */
    bool timed_out;   /* the sweeper answered 408 and shut the socket */
    bool used;        /* a request has begun on it (it left PH_IDLE once) */
} hconn;

struct gw_http {
    struct MHD_Daemon *d;
    gw_http_config cfg;
    int port;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    hconn *conns;
    size_t nconns;
    struct peer_count *peers[PEER_BUCKETS]; /* open connections per peer address (s->mu) */
    gw_http_stats own_stats, *st;
    struct lingering *lingering; /* sockets read and dropped before the last close (s->mu) */
    size_t nlingering;
    bool stop;
    pthread_t sweeper;
    atomic_bool close_after_answer; /* draining: every answer closes its connection */
    size_t pool_limit;              /* MHD_OPTION_CONNECTION_MEMORY_LIMIT */
    bool release_pool;              /* give an upgraded connection's pool back (mhdpool.h) */
    int quiesced_fd;                /* the listening socket once quiesced (closed at stop), or -1 */
    bool gate_closed;               /* no request reaches the application any more (s->mu) */
};

/* One request. refs: MHD's (until the request completes) and the application's (until it
 * answers); the last one frees. */
typedef struct hreq {
    gw_http_req r; /* first: the handler sees &q->r */
    gw_http *s;
    struct MHD_Connection *mc;
    hconn *hc;
    char method[16];
    char *uri;
    unsigned index;     /* the request's place on its connection, from 0 */
    bool upgrade_asked; /* the head had Upgrade: the guard stopped checking after it */
    atomic_int refs;
    pthread_mutex_t mu;
    bool started, dispatched, discard;
    size_t cap;      /* body buffer size */
    size_t received; /* body bytes seen (kept or dropped) */
    /* under mu */
    bool suspended, mhd_done;
    struct MHD_Response *resp;
    unsigned status;
    gw_http_upgrade_cb up;
    bool upgrade, upgraded;
} hreq;

static void req_unref(hreq *q)
{
    if (atomic_fetch_sub(&q->refs, 1) != 1)
        return;
    if (q->resp)
        MHD_destroy_response(q->resp);
    pthread_mutex_destroy(&q->mu);
    free(q->uri);
    free(q->r.body);
    free(q);
}

static void set_phase(gw_http *s, hconn *hc, phase ph)
{
    if (!hc)
        return;
    pthread_mutex_lock(&s->mu);
    hc->ph = ph;
    hc->since_ns = cf_mono_ns();
    pthread_mutex_unlock(&s->mu);
}

void gw_http_addr_text(const void *sockaddr, char *out)
{
    const struct sockaddr *sa = sockaddr;
    out[0] = '\0';
    if (!sa)
        return;
    if (sa->sa_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, GW_HTTP_ADDR_MAX);
    } else if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a)) /* ::ffff:1.2.3.4 is the IPv4 client 1.2.3.4 */
            inet_ntop(AF_INET, &a->s6_addr[12], out, GW_HTTP_ADDR_MAX);
        else
            inet_ntop(AF_INET6, a, out, GW_HTTP_ADDR_MAX);
    }
}

/* ---------------------------------------------------------------- the head */

/* The framing of the head was checked on the raw bytes (edgeparse.h): one Content-Length of
 * digits at most, no Transfer-Encoding but chunked, never both. What is left: the refusals
 * decided before the head reached MHD, and the connection caps. 0, or the status to answer
 * with (and r->early_why). *content_length: the declared body size, or -1. */
static int check_head(hreq *q, long long *content_length)
{
    *content_length = -1;
    hconn *hc = q->hc;
    if (hc && hc->guard.refused && q->index == hc->guard.p.refused_msg) {
        /* the request MHD parsed is the guard's stand-in for the refused one */
        snprintf(q->method, sizeof q->method, "-");
        free(q->uri);
        q->uri = xstrdup("-");
        q->r.uri = q->uri;
        q->r.early_why = hc->guard.p.why;
        return hc->guard.p.status;
    }
    if (hc && hc->refused) {
        q->r.early_why = "too many connections";
        return 503;
    }
    if (hc && hc->peer_refused) {
        q->r.early_why = "too many connections from this address";
        return 429;
    }
    const char *cl = MHD_lookup_connection_value(q->mc, MHD_HEADER_KIND, "Content-Length");
    if (cl)
        *content_length = strtoll(cl, NULL, 10);
    return 0;
}

/* ---------------------------------------------------------------- the request path */

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *mc)
{
    gw_http *s = cls;
    hreq *q = xcalloc(1, sizeof *q);
    q->s = s;
    q->mc = mc;
    q->uri = xstrdup(uri ? uri : "");
    atomic_init(&q->refs, 2);
    pthread_mutex_init(&q->mu, NULL);
    q->r.server = s;
    q->r.uri = q->uri;
    q->r.method = q->method;
    q->r.start_ns = cf_mono_ns();
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    hconn *hc = ci ? ci->socket_context : NULL;
    if (hc) {
        q->index = hc->nreq++;
        /* MHD sees a head only once it is whole (the guard holds it): the header deadline
         * began at its request line (head_started) */
        pthread_mutex_lock(&s->mu);
        if (hc->ph == PH_IDLE) {
            hc->ph = PH_HEAD;
            hc->since_ns = cf_mono_ns();
        }
        hc->used = true;
        pthread_mutex_unlock(&s->mu);
    }
    return q;
}

static void on_completed(void *cls, struct MHD_Connection *mc, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    gw_http *s = cls;
    (void)mc;
    (void)toe;
    hreq *q = *con_cls;
    if (!q)
        return;
    *con_cls = NULL;
    pthread_mutex_lock(&q->mu);
    q->mhd_done = true;
    bool failed_upgrade = q->upgrade && !q->upgraded;
    bool upgraded = q->upgraded;
    pthread_mutex_unlock(&q->mu);
    if (!upgraded)
        set_phase(s, q->hc, PH_IDLE);
    if (failed_upgrade && q->up.on_failed)
        q->up.on_failed(q->up.arg);
    if (!q->dispatched)
        req_unref(q); /* the application's reference: it never got the request */
    req_unref(q);
}

static enum MHD_Result queue(hreq *q)
{
    pthread_mutex_lock(&q->mu);
    struct MHD_Response *resp = q->resp;
    unsigned status = q->status;
    q->resp = NULL;
    pthread_mutex_unlock(&q->mu);
    enum MHD_Result rv = MHD_queue_response(q->mc, status, resp);
    MHD_destroy_response(resp);
    return rv;
}

static enum MHD_Result dispatch(hreq *q)
{
    gw_http *s = q->s;
    /* the gate and the phase under one lock: once gw_http_close_gate returns, no request can
     * enter PH_APP (and be suspended, which MHD_stop_daemon refuses with a panic) unseen */
    pthread_mutex_lock(&s->mu);
    bool gate_closed = s->gate_closed;
    if (q->hc) {
        q->hc->ph = PH_APP;
        q->hc->since_ns = cf_mono_ns();
    }
    pthread_mutex_unlock(&s->mu);
    if (gate_closed && !q->r.early_status) {
        q->r.early_status = 503; /* answered at once, never suspended; the balancer retries */
        q->r.early_why = "shutting down";
    }
    q->dispatched = true;
    if (q->r.body)
        q->r.body[q->r.body_len] = '\0';
    s->cfg.fn(&q->r, s->cfg.arg);
    pthread_mutex_lock(&q->mu);
    if (q->resp) {
        pthread_mutex_unlock(&q->mu);
        return queue(q);
    }
    MHD_suspend_connection(q->mc); /* gw_http_respond resumes it */
    q->suspended = true;
    pthread_mutex_unlock(&q->mu);
    return MHD_YES;
}

static void body_take(hreq *q, const char *data, size_t n)
{
    gw_http *s = q->s;
    q->received += n;
    if (q->discard)
        return;
    if (q->received > s->cfg.max_body) { /* chunked: found out on the way */
        q->discard = true;
        q->r.early_status = 413;
        free(q->r.body);
        q->r.body = NULL;
        q->r.body_len = 0;
        return;
    }
    if (q->r.body_len + n + 1 > q->cap) {
        size_t ncap = q->cap ? q->cap : 4096;
        while (ncap < q->r.body_len + n + 1)
            ncap *= 2;
        if (ncap > s->cfg.max_body + 1)
            ncap = s->cfg.max_body + 1;
        q->r.body = xrealloc(q->r.body, ncap);
        q->cap = ncap;
    }
    memcpy(q->r.body + q->r.body_len, data, n);
    q->r.body_len += n;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *mc, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_size, void **con_cls)
{
    gw_http *s = cls;
    hreq *q = *con_cls;
    if (!q) /* no URI callback ran (never seen): make one */
        *con_cls = q = on_uri(s, url, mc);
    if (!q->started) {
        q->started = true;
        q->mc = mc;
        snprintf(q->method, sizeof q->method, "%s", method);
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        q->hc = ci ? ci->socket_context : NULL;
        if (q->hc)
            memcpy(q->r.peer, q->hc->peer, sizeof q->r.peer);
        set_phase(s, q->hc, PH_BODY);
        (void)version; /* checked on the raw bytes */
        q->upgrade_asked = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Upgrade") != NULL;
        long long cl;
        int st = check_head(q, &cl);
        if (st) {
            q->r.early_status = st;
            return dispatch(q); /* answered now; MHD closes (the body, if any, unread) */
        }
        if (cl > (long long)s->cfg.max_body) {
            q->r.early_status = 413;
            q->discard = true;
            const char *expect = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Expect");
            /* too large to drain, or the client waits for "100 Continue": answer at once */
            if (cl > (long long)s->cfg.max_drain || expect)
                return dispatch(q);
        } else if (cl > 0) {
            q->cap = (size_t)cl + 1;
            q->r.body = xmalloc(q->cap);
        }
        return MHD_YES;
    }
    if (*upload_size) {
        body_take(q, upload_data, *upload_size);
        *upload_size = 0;
        if (q->discard && q->received > s->cfg.max_drain && !q->dispatched)
            return dispatch(q); /* a chunked body past the drain bound */
        return MHD_YES;
    }
    if (q->dispatched) {
        pthread_mutex_lock(&q->mu);
        bool have = q->resp != NULL;
        pthread_mutex_unlock(&q->mu);
        return have ? queue(q) : MHD_NO; /* resumed without an answer: the server stops */
    }
    gw_guard *g = q->hc ? &q->hc->guard : NULL;
    if (g && g->refused && q->index == g->p.refused_msg) {
        /* the chunked body was malformed: MHD got its end from the guard, not the client */
        q->r.early_status = g->p.status;
        q->r.early_why = g->p.why;
        free(q->r.body);
        q->r.body = NULL;
        q->r.body_len = 0;
    }
    return dispatch(q);
}

/* ---------------------------------------------------------------- answering */

static void answer(hreq *q, unsigned status, struct MHD_Response *resp)
{
    pthread_mutex_lock(&q->mu);
    if (q->mhd_done) { /* the connection is gone (shutdown): nothing to answer */
        pthread_mutex_unlock(&q->mu);
        MHD_destroy_response(resp);
        req_unref(q);
        return;
    }
    q->resp = resp;
    q->status = status;
    if (q->suspended) {
        q->suspended = false;
        MHD_resume_connection(q->mc);
    }
    pthread_mutex_unlock(&q->mu);
    req_unref(q);
}

void gw_http_respond(gw_http_req *r, int status, const char *const *headers, const char *body,
                     size_t len, bool close)
{
    hreq *q = (hreq *)r;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)(len ? body : ""), MHD_RESPMEM_MUST_COPY);
    if (!resp)
        abort();
    for (size_t i = 0; headers && headers[i]; i += 2)
        MHD_add_response_header(resp, headers[i], headers[i + 1]);
    /* after any 4xx (and a refusal of the request itself) nothing pipelined behind it is
     * answered (issue 13): the connection closes once the answer is out */
    if (close || q->r.early_status || (status >= 400 && status < 500) ||
        (q->upgrade_asked && status != 101) || atomic_load(&q->s->close_after_answer)) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
        if (q->hc && (q->r.early_status || status >= 400))
            atomic_store(&q->hc->linger, true);
    }
    answer(q, (unsigned)status, resp);
}

static void on_upgrade(void *cls, struct MHD_Connection *mc, void *con_cls, const char *extra_in,
                       size_t extra_in_size, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
    (void)mc;
    (void)con_cls;
    hreq *q = cls;
    pthread_mutex_lock(&q->mu);
    q->upgraded = true;
    pthread_mutex_unlock(&q->mu);
    set_phase(q->s, q->hc, PH_UPGRADED);
    gw_http *s = q->s;
    const void *first = q->hc ? q->hc->guard.first_buf : NULL;
    size_t first_len = q->hc ? q->hc->guard.first_len : 0;
    gw_http_upgraded u = {
        .fd = sock, .extra = (const uint8_t *)extra_in, .nextra = extra_in_size, .urh = urh};
    q->up.on_upgraded(q->up.arg, &u);
    /* The extra bytes are copied now and the head was read before the answer: nothing in MHD's
     * pool is used again until the connection closes (mhdpool.c says what was checked), and
     * this thread is the one that would destroy it. ws.release_upgrade_buffer. */
    if (s->release_pool) {
        size_t n = gw_mhdpool_release(first, first_len, s->pool_limit);
        atomic_fetch_add(n ? &s->st->pool_released : &s->st->pool_kept, 1);
    } else {
        atomic_fetch_add(&s->st->pool_kept, 1);
    }
}

void gw_http_upgrade(gw_http_req *r, const char *const *headers, const gw_http_upgrade_cb *cb)
{
    hreq *q = (hreq *)r;
    struct MHD_Response *resp = MHD_create_response_for_upgrade(on_upgrade, q);
    if (!resp)
        abort();
    for (size_t i = 0; headers && headers[i]; i += 2)
        MHD_add_response_header(resp, headers[i], headers[i + 1]);
    pthread_mutex_lock(&q->mu);
    q->up = *cb;
    q->upgrade = true;
    pthread_mutex_unlock(&q->mu);
    answer(q, MHD_HTTP_SWITCHING_PROTOCOLS, resp);
}

void gw_http_upgraded_close(void *urh)
{
    MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
}

const char *gw_http_header(const gw_http_req *r, const char *name)
{
    const hreq *q = (const hreq *)r;
    return MHD_lookup_connection_value(q->mc, MHD_HEADER_KIND, name);
}

typedef struct join_ctx {
    const char *name;
    char *out;
    size_t len;
} join_ctx;

static enum MHD_Result join_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    (void)kind;
    join_ctx *j = cls;
    if (strcasecmp(key, j->name) != 0 || !value)
        return MHD_YES;
    size_t n = strlen(value);
    j->out = xrealloc(j->out, j->len + n + 3);
    if (j->len) {
        memcpy(j->out + j->len, ", ", 2);
        j->len += 2;
    }
    memcpy(j->out + j->len, value, n + 1);
    j->len += n;
    return MHD_YES;
}

char *gw_http_header_all(const gw_http_req *r, const char *name)
{
    const hreq *q = (const hreq *)r;
    join_ctx j = {.name = name};
    MHD_get_connection_values(q->mc, MHD_HEADER_KIND, join_field, &j);
    return j.out;
}

/* ---------------------------------------------------------------- connections */

/* The guard saw a request line whose head is not whole yet: http.header_timeout from now. */
static void head_started(void *arg)
{
    hconn *hc = arg;
    pthread_mutex_lock(&hc->s->mu);
    if (hc->ph == PH_IDLE) {
        hc->ph = PH_HEAD;
        hc->since_ns = cf_mono_ns();
    }
    hc->used = true;
    pthread_mutex_unlock(&hc->s->mu);
}

static unsigned peer_hash(const char *p)
{
    unsigned h = 2166136261u; /* FNV-1a */
    for (; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return h % PEER_BUCKETS;
}

/* Counts a connection of hc->peer in (+1) or out (-1); the count after. Under s->mu. */
static unsigned peer_add_locked(gw_http *s, const char *peer, int d)
{
    peer_count **pp = &s->peers[peer_hash(peer)];
    for (; *pp; pp = &(*pp)->next)
        if (strcmp((*pp)->peer, peer) == 0)
            break;
    if (!*pp) {
        if (d < 0)
            return 0;
        *pp = xcalloc(1, sizeof **pp);
        snprintf((*pp)->peer, sizeof(*pp)->peer, "%s", peer);
    }
    peer_count *pc = *pp;
    pc->n = d > 0 ? pc->n + 1 : pc->n - 1;
    unsigned n = pc->n;
    if (n == 0) {
        *pp = pc->next;
        free(pc);
    }
    return n;
}

static void on_connection(void *cls, struct MHD_Connection *mc, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    gw_http *s = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        hconn *hc = xcalloc(1, sizeof *hc);
        hc->s = s;
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
        hc->fd = ci ? ci->connect_fd : -1;
        ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        gw_http_addr_text(ci ? ci->client_addr : NULL, hc->peer);
        hc->ph = PH_IDLE;
        hc->since_ns = cf_mono_ns();
        gw_guard_init(&hc->guard, s->cfg.max_uri, s->cfg.max_header, s->cfg.max_drain);
        hc->guard.on_request_line = head_started;
        hc->guard.arg = hc;
        pthread_mutex_lock(&s->mu);
        hc->next = s->conns;
        if (s->conns)
            s->conns->prev = hc;
        s->conns = hc;
        s->nconns++;
        hc->refused = s->nconns > s->cfg.max_conns;
        if (s->cfg.max_conns_peer && peer_add_locked(s, hc->peer, +1) > s->cfg.max_conns_peer)
            hc->peer_refused = true;
        pthread_mutex_unlock(&s->mu);
        atomic_fetch_add(&s->st->open, 1);
        if (hc->refused || hc->peer_refused)
            atomic_fetch_add(hc->refused ? &s->st->refused_cap : &s->st->refused_peer, 1);
        if (hc->fd >= 0) /* before MHD's first read of it: MHD adds it to epoll after this */
            gw_guard_attach(hc->fd, &hc->guard);
        *socket_context = hc;
        return;
    }
    hconn *hc = *socket_context;
    if (!hc)
        return;
    if (hc->fd >= 0)
        gw_guard_detach(hc->fd, &hc->guard);
    if (hc->guard.refused)
        atomic_fetch_add(&s->st->refused_framing, 1);
    /* after a refusal, before MHD's close: a dup keeps the connection for the lingering read */
    int lfd = -1;
    if (hc->fd >= 0 && (atomic_load(&hc->linger) || hc->guard.refused))
        lfd = fcntl(hc->fd, F_DUPFD_CLOEXEC, 0);
    pthread_mutex_lock(&s->mu);
    if (lfd >= 0 && !hc->timed_out && s->nlingering < s->cfg.max_conns && !s->stop) {
        lingering *l = xcalloc(1, sizeof *l);
        l->fd = lfd;
        l->until_ns = cf_mono_ns() + (int64_t)LINGER_MS * 1000000;
        l->left = s->cfg.max_drain;
        l->next = s->lingering;
        s->lingering = l;
        s->nlingering++;
        lfd = -1;
    }
    if (hc->prev)
        hc->prev->next = hc->next;
    else
        s->conns = hc->next;
    if (hc->next)
        hc->next->prev = hc->prev;
    s->nconns--;
    if (s->cfg.max_conns_peer)
        peer_add_locked(s, hc->peer, -1);
    pthread_mutex_unlock(&s->mu);
    if (lfd >= 0)
        close(lfd);
    atomic_fetch_sub(&s->st->open, 1);
    *socket_context = NULL;
    gw_guard_fini(&hc->guard);
    free(hc);
}

/* The 408 for a head or a body not received in time: written on MHD's socket while MHD has
 * nothing to write on it (no request in the application), then the socket is shut so that MHD
 * closes it. Under s->mu. */
static void time_out_locked(hconn *hc, const char *why)
{
    char *body = gw_error_json(408, CF_DEADLINE_EXCEEDED, why, NULL, 0);
    char *msg = xasprintf("HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\n"
                          "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                          strlen(body), body);
    ssize_t n = send(hc->fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)n; /* best effort: the socket is shut either way */
    free(msg);
    free(body);
    shutdown(hc->fd, SHUT_RDWR);
    hc->timed_out = true;
}

/* Reads and drops what the lingering sockets have; closes those done. Under s->mu (reads
 * never block: MSG_DONTWAIT). */
static void linger_locked(gw_http *s, int64_t now)
{
    for (lingering **pp = &s->lingering; *pp;) {
        lingering *l = *pp;
        bool done = now >= l->until_ns || s->stop;
        char tmp[4096];
        while (!done) {
            ssize_t n = recv(l->fd, tmp, sizeof tmp, MSG_DONTWAIT);
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
                break;
            if (n <= 0 || (size_t)n >= l->left)
                done = true; /* the client closed, an error, or the drain bound */
            else
                l->left -= (size_t)n;
        }
        if (!done) {
            pp = &l->next;
            continue;
        }
        *pp = l->next;
        s->nlingering--;
        close(l->fd);
        free(l);
    }
}

static void *sweeper(void *arg)
{
    gw_http *s = arg;
    int64_t head_ns = (int64_t)s->cfg.header_timeout_ms * 1000000;
    int64_t idle_ns = (int64_t)s->cfg.idle_timeout_ms * 1000000;
    int64_t body_ns = (int64_t)s->cfg.body_timeout_ms * 1000000;
    int64_t tick_ms = (s->cfg.header_timeout_ms < s->cfg.body_timeout_ms ? s->cfg.header_timeout_ms
                                                                         : s->cfg.body_timeout_ms) /
                      10;
    tick_ms = tick_ms < 10 ? 10 : tick_ms > 250 ? 250 : tick_ms;
    pthread_mutex_lock(&s->mu);
    while (!s->stop) {
        int64_t now = cf_mono_ns();
        linger_locked(s, now);
        for (hconn *hc = s->conns; hc; hc = hc->next) {
            if (hc->timed_out || hc->fd < 0)
                continue;
            if (hc->ph == PH_IDLE && now - hc->since_ns > idle_ns)
                time_out_locked(hc, "no request within the idle timeout");
            else if (hc->ph == PH_HEAD && now - hc->since_ns > head_ns)
                time_out_locked(hc, "request head not received in time");
            else if (hc->ph == PH_BODY && now - hc->since_ns > body_ns)
                time_out_locked(hc, "request body not received in time");
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += tick_ms * 1000000;
        ts.tv_sec += ts.tv_nsec / 1000000000;
        ts.tv_nsec %= 1000000000;
        pthread_cond_timedwait(&s->cv, &s->mu, &ts);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---------------------------------------------------------------- metrics */

static double st_open(void *arg)
{
    return (double)atomic_load(&((gw_http_stats *)arg)->open);
}

static double st_cap(void *arg)
{
    return (double)atomic_load(&((gw_http_stats *)arg)->refused_cap);
}

static double st_peer(void *arg)
{
    return (double)atomic_load(&((gw_http_stats *)arg)->refused_peer);
}

static double st_framing(void *arg)
{
    return (double)atomic_load(&((gw_http_stats *)arg)->refused_framing);
}

static double st_pool_released(void *arg)
{
    return (double)atomic_load(&((gw_http_stats *)arg)->pool_released);
}

static double st_pool_kept(void *arg)
{
    return (double)atomic_load(&((gw_http_stats *)arg)->pool_kept);
}

void gw_http_stats_register(metrics *m, gw_http_stats *st)
{
    metrics_gauge_fn(
        m, "confetti_http_connections",
        "HTTP connections open now on the public port (upgraded WebSocket ones included).", st_open,
        st);
    metrics_gauge_fn(m, "confetti_http_refused_connection_cap_total",
                     "Connections answered 503 over http.max_connections (a counter).", st_cap, st);
    metrics_gauge_fn(m, "confetti_http_refused_peer_cap_total",
                     "Connections answered 429 over http.max_connections_per_peer (a counter).",
                     st_peer, st);
    metrics_gauge_fn(
        m, "confetti_http_refused_framing_total",
        "Connections whose bytes broke RFC 9112 framing or the edge's bounds, answered "
        "4xx/5xx and closed (a counter).",
        st_framing, st);
    metrics_gauge_fn(m, "confetti_http_upgrade_pool_released_total",
                     "Upgraded (WebSocket) connections whose HTTP memory pool was given back to "
                     "the kernel (ws.release_upgrade_buffer; a counter).",
                     st_pool_released, st);
    metrics_gauge_fn(m, "confetti_http_upgrade_pool_kept_total",
                     "Upgraded connections that keep their HTTP memory pool until they close: the "
                     "key is off, or libmicrohttpd's pool is not the checked layout (a counter).",
                     st_pool_kept, st);
}

/* ---------------------------------------------------------------- the server */

static bool parse_listen(const char *url, struct sockaddr_storage *ss, socklen_t *len)
{
    if (strncmp(url, "http://", 7) != 0)
        return false;
    const char *h = url + 7;
    char host[256];
    const char *colon;
    if (*h == '[') {
        const char *end = strchr(h, ']');
        if (!end || end[1] != ':' || (size_t)(end - h - 1) >= sizeof host)
            return false;
        snprintf(host, sizeof host, "%.*s", (int)(end - h - 1), h + 1);
        colon = end + 1;
    } else {
        colon = strrchr(h, ':');
        if (!colon || (size_t)(colon - h) >= sizeof host)
            return false;
        snprintf(host, sizeof host, "%.*s", (int)(colon - h), h);
    }
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if ((*end && strcmp(end, "/") != 0) || port < 0 || port > 65535 || end == colon + 1)
        return false;
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    if (strcmp(host, "localhost") == 0) /* not ::1 first: clients dial 127.0.0.1 */
        snprintf(host, sizeof host, "127.0.0.1");
    if (!*host || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "*") == 0) {
        a4->sin_family = AF_INET;
        a4->sin_addr.s_addr = htonl(INADDR_ANY);
        a4->sin_port = htons((uint16_t)port);
        *len = sizeof *a4;
    } else if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        *len = sizeof *a4;
    } else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *len = sizeof *a6;
    } else { /* a name: its first address */
        struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
        if (getaddrinfo(host, NULL, &hints, &ai) != 0 || !ai)
            return false;
        memcpy(ss, ai->ai_addr, ai->ai_addrlen);
        *len = ai->ai_addrlen;
        if (ss->ss_family == AF_INET)
            a4->sin_port = htons((uint16_t)port);
        else
            a6->sin6_port = htons((uint16_t)port);
        freeaddrinfo(ai);
    }
    return true;
}

cf_code gw_http_start(const gw_http_config *cfg, gw_http **out, char *err, size_t errlen)
{
    if (gw_guard_install(err, errlen) != CF_OK)
        return CF_INTERNAL;
    struct sockaddr_storage ss;
    socklen_t sslen;
    if (!parse_listen(cfg->url, &ss, &sslen)) {
        snprintf(err, errlen, "%s: not an http://host:port URL with a known host", cfg->url);
        return CF_INVALID_ARGUMENT;
    }
    /* bound here, so that a busy port is a clear error and port 0 is known */
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, (struct sockaddr *)&ss, sslen) != 0 || listen(fd, 1024) != 0) {
        snprintf(err, errlen, "%s: %s", cfg->url, strerror(errno));
        if (fd >= 0)
            close(fd);
        return CF_UNAVAILABLE;
    }
    socklen_t l = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &l);
    gw_http *s = xcalloc(1, sizeof *s);
    s->cfg = *cfg;
    s->st = cfg->stats ? cfg->stats : &s->own_stats;
    s->port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                            : ((struct sockaddr_in6 *)&ss)->sin6_port);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    /* MHD's own limits are backstops above ours: it refuses silently. Its memory per connection
     * holds a head the guard let through (max_header: request line, fields, trailers), MHD's
     * copy of the Cookie field, and its records for at most EP_MAX_FIELDS fields,
     * EP_MAX_QUERY_PARAMS parameters and EP_MAX_COOKIES cookies (< 64 bytes each), so no head
     * that passed the guard reaches MHD's own 431/414 (test_edge.c). */
    unsigned hard = cfg->max_conns + cfg->max_conns / 4 + 16;
    size_t mem = 2 * cfg->max_header + cfg->max_uri +
                 64 * (EP_MAX_FIELDS + EP_MAX_QUERY_PARAMS + EP_MAX_COOKIES) + 16384;
    unsigned backstop_s =
        (unsigned)((cfg->idle_timeout_ms > cfg->body_timeout_ms ? cfg->idle_timeout_ms
                                                                : cfg->body_timeout_ms) /
                       1000 +
                   30);
    s->quiesced_fd = -1;
    s->pool_limit = mem;
    if (cfg->release_upgrade_pool) {
        char why[256];
        s->release_pool = gw_mhdpool_verified(why, sizeof why);
        if (!s->release_pool)
            log_warn("http: %s", why);
    }
    /* no MHD_USE_TLS: with TLS an upgraded connection's pool holds MHD's forwarding buffers and
     * must not be released (mhdpool.c) */
    /* MHD_USE_ITC: MHD_quiesce_daemon needs it with a thread pool (gw_http_quiesce) */
    unsigned flags =
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_ALLOW_UPGRADE | MHD_USE_ITC;
    s->d = MHD_start_daemon(flags, 0, NULL, NULL, on_access, s, MHD_OPTION_LISTEN_SOCKET, fd,
                            MHD_OPTION_THREAD_POOL_SIZE, cfg->threads ? cfg->threads : 2u,
                            MHD_OPTION_CONNECTION_LIMIT, hard, MHD_OPTION_CONNECTION_TIMEOUT,
                            backstop_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT, mem,
                            MHD_OPTION_STRICT_FOR_CLIENT, 1, MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                            MHD_OPTION_NOTIFY_CONNECTION, on_connection, s, MHD_OPTION_END);
    if (!s->d) {
        snprintf(err, errlen, "%s: libmicrohttpd did not start", cfg->url);
        close(fd);
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cv);
        free(s);
        return CF_UNAVAILABLE;
    }
    pthread_create(&s->sweeper, NULL, sweeper, s);
    *out = s;
    return CF_OK;
}

int gw_http_port(gw_http *h)
{
    return h->port;
}

void gw_http_close_after_answer(gw_http *h)
{
    atomic_store(&h->close_after_answer, true);
}

void gw_http_close_gate(gw_http *h)
{
    pthread_mutex_lock(&h->mu);
    h->gate_closed = true;
    pthread_mutex_unlock(&h->mu);
}

void gw_http_quiesce(gw_http *h)
{
    pthread_mutex_lock(&h->mu);
    if (h->quiesced_fd < 0) {
        MHD_socket fd = MHD_quiesce_daemon(h->d);
        if (fd != MHD_INVALID_SOCKET) {
            /* MHD no longer accepts from it, but the kernel would still complete handshakes
             * into its backlog: shut, the socket leaves LISTEN and a connect is refused (the
             * client's balancer tries another gateway at once). Closed after MHD_stop_daemon, as
             * MHD asks. */
            shutdown(fd, SHUT_RDWR);
            h->quiesced_fd = fd;
        } else {
            log_warn("http: could not stop accepting (MHD_quiesce_daemon)");
        }
    }
    pthread_mutex_unlock(&h->mu);
}

/* Something to read on fd now (peeked, not taken). */
static bool bytes_waiting(int fd)
{
    char c;
    return recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

size_t gw_http_busy(gw_http *h)
{
    size_t n = 0;
    int64_t now = cf_mono_ns(), fresh_ns = (int64_t)h->cfg.header_timeout_ms * 1000000;
    pthread_mutex_lock(&h->mu);
    for (hconn *hc = h->conns; hc; hc = hc->next) {
        if (hc->timed_out)
            continue;
        if (hc->ph == PH_HEAD || hc->ph == PH_BODY || hc->ph == PH_APP)
            n++;
        /* accepted, no byte of a request yet: a client opened it to send one (during the
         * lame duck, every answer closes its connection and the client opens the next), and
         * its request may be in the socket already; stopping now would reset it. It gets
         * http.header_timeout from its accept (a preconnect that never sends holds the drain
         * that long at most). */
        else if (hc->ph == PH_IDLE && !hc->used && now - hc->since_ns < fresh_ns)
            n++;
        /* idle, but the bytes of its next request are in the socket, not yet read by MHD */
        else if (hc->ph == PH_IDLE && hc->fd >= 0 && bytes_waiting(hc->fd))
            n++;
    }
    pthread_mutex_unlock(&h->mu);
    return n;
}

void gw_http_stop(gw_http *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->mu);
    h->stop = true;
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);
    pthread_join(h->sweeper, NULL);
    MHD_stop_daemon(h->d); /* closes the listening socket too, unless quiesced */
    if (h->quiesced_fd >= 0)
        close(h->quiesced_fd);
    pthread_mutex_lock(&h->mu); /* the sweeper is gone: close what still lingers */
    linger_locked(h, INT64_MAX);
    pthread_mutex_unlock(&h->mu);
    for (size_t i = 0; i < PEER_BUCKETS; i++) /* empty once every connection closed */
        while (h->peers[i]) {
            peer_count *n = h->peers[i]->next;
            free(h->peers[i]);
            h->peers[i] = n;
        }
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->cv);
    free(h);
}
