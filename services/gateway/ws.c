/* ws.c — see ws.h. A connection is driven by three aios: the reader (frames in, one client
 * message handled at a time; it parks while a subscribe's GetRoom is in flight), the writer (one
 * write in flight, up to TX_BATCH queued frames per write) and a timer (auth deadline, pings,
 * token re-check, close linger). Each holds a reference while armed; the last reference hands
 * the connection to the reaper thread, which closes the socket and frees — nng_aio_free waits
 * for nng, so it never runs in a callback. The socket is the one the HTTP server hands over
 * after the 101 (http.h, gw_http_upgrade); fdio.c reads and writes it with the same aios.
 *
 * Memory: the largest message is bounded by PREAUTH_MAX_MESSAGE (an auth message with the
 * longest token) before authentication and by ws.max_message after. The read buffer starts at
 * RBUF_START and grows (doubling) only while one frame does not fit, up to that bound plus a
 * frame head; once what is left in it fits RBUF_START again it shrinks back. So an idle
 * connection holds RBUF_START, not ws.max_message (issue 17: <= 16 KiB per idle socket), and
 * the room list grows with the subscriptions (at most MAX_SUBS). */
#include "ws.h"
#include "fdio.h"
#include "base/clock.h"
#include "base/cuid.h"
#include "base/log.h"
#include "base/xmalloc.h"
#include "rooms/v1/rooms.pb-c.h"

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define SUBPROTOCOL     "confetti.v1"
#define MAX_SUBS        100 /* rooms per connection */
#define ROOM_ID_MAX     63
#define TX_BATCH        4 /* frames per write (nng guarantees 4 iovs) */
#define CLOSE_LINGER_MS 1000
#define GETROOM_MS      5000
/* {"type":"auth","token":"…"} with the longest token we accept */
#define PREAUTH_MAX_MESSAGE (AUTHN_TOKEN_MAX + 256)
#define FRAME_SLACK         (14 + 256)
#define RBUF_START          2048 /* a subscribe, a ping, a short auth message */
#define USER_BUCKETS        1024 /* the by-user index: 8 KiB per gateway */

typedef struct wsub {
    char room[ROOM_ID_MAX + 1];
    gw_feed_sub *sub;
} wsub;

typedef struct wconn {
    gw_ws *w;
    struct wconn *prev, *next; /* w's list (w->mu) */
    /* w's index of authenticated connections by user (w->mu; gw_ws_notify_user) */
    struct wconn *uprev, *unext;
    bool indexed;
    struct wconn *reap_next;
    atomic_int refs;
    gw_fdconn *fc; /* the upgraded socket (NULL until the 101 went out) */
    nng_aio *rxaio, *txaio, *tmaio;
    pthread_mutex_t mu;

    /* the reader flow (one logical thread: the read callback or the GetRoom completion) */
    uint8_t *rbuf;
    size_t rlen, rcap;
    ws_decoder dec; /* frames → messages (wsframe.c) */
    wsub *subs;
    size_t nsubs, capsubs;
    char *bearer; /* token from the subprotocol, verified after the handshake */
    rpc_ccall cc; /* GetRoom */
    char *authz;
    char pending_room[ROOM_ID_MAX + 1];
    int64_t pending_resume[GW_FEED_NSRC];
    uint64_t pending_stamp; /* the room's access stamp before GetRoom (feed.h) */
    atomic_llong last_rx_ns;

    /* under mu */
    bool paused, parked; /* GetRoom in flight; the reader stopped for it */
    char *token;
    char sub[128];
    bool authed;
    bool admin;    /* the token's platform-admin role */
    int64_t exp_s; /* the token's exp (seconds since the epoch): the connection ends then */
    gw_frame **q;  /* ring of frames to send */
    size_t qhead, qn, qcap;
    gw_frame *txf[TX_BATCH];
    size_t ntx;
    bool tx_busy, handshake_done, closing, hard;
    int64_t opened_ns, last_ping_ns, close_deadline_ns;
} wconn;

struct gw_ws {
    gw_ws_config cfg;
    gw_ws_stats own_stats;
    gw_ws_stats *st;
    unsigned getroom_index;
    int64_t tick_ms;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    wconn *conns;
    size_t nconns;
    wconn *users[USER_BUCKETS]; /* authenticated connections by hash of the user id */
    wconn *reapq;
    bool shutting, stop;
    pthread_t reaper;
    gw_fdloop *loop; /* the upgraded sockets' reads and writes */
};

static void process(wconn *c);

/* ---------------------------------------------------------------- lifetime of a connection */

static void conn_ref(wconn *c)
{
    atomic_fetch_add(&c->refs, 1);
}

/* Never with c->mu held. */
static void conn_unref(wconn *c)
{
    if (atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    gw_ws *w = c->w;
    pthread_mutex_lock(&w->mu);
    c->reap_next = w->reapq;
    w->reapq = c;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void conn_destroy(wconn *c)
{
    nng_aio_free(c->rxaio);
    nng_aio_free(c->txaio);
    nng_aio_free(c->tmaio);
    if (c->fc) /* every operation finished: the socket goes back to the HTTP server */
        gw_fdconn_close(c->fc);
    for (size_t i = 0; i < c->qn; i++)
        gw_frame_unref(c->q[(c->qhead + i) % c->qcap]);
    for (size_t i = 0; i < c->ntx; i++)
        gw_frame_unref(c->txf[i]);
    free(c->q);
    free(c->rbuf);
    ws_decoder_fini(&c->dec);
    free(c->subs);
    free(c->bearer);
    free(c->token);
    free(c->authz);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* ---------------------------------------------------------------- the index by user */

static size_t user_bucket(const char *user)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)user; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h % USER_BUCKETS;
}

/* Under w->mu. c->sub is set before c is indexed and never changes after (do_auth refuses a
 * token for another user), so the index may read it under w->mu alone. */
static void user_link_locked(gw_ws *w, wconn *c)
{
    if (c->indexed)
        return;
    wconn **head = &w->users[user_bucket(c->sub)];
    c->uprev = NULL;
    c->unext = *head;
    if (*head)
        (*head)->uprev = c;
    *head = c;
    c->indexed = true;
}

static void user_unlink_locked(gw_ws *w, wconn *c)
{
    if (!c->indexed)
        return;
    if (c->uprev)
        c->uprev->unext = c->unext;
    else
        w->users[user_bucket(c->sub)] = c->unext;
    if (c->unext)
        c->unext->uprev = c->uprev;
    c->indexed = false;
}

static void *reaper(void *arg)
{
    gw_ws *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->reapq && !w->stop)
            pthread_cond_wait(&w->cv, &w->mu);
        if (!w->reapq)
            break;
        wconn *c = w->reapq;
        w->reapq = c->reap_next;
        if (c->prev)
            c->prev->next = c->next;
        else
            w->conns = c->next;
        if (c->next)
            c->next->prev = c->prev;
        w->nconns--;
        user_unlink_locked(w, c);
        pthread_mutex_unlock(&w->mu);
        conn_destroy(c);
        atomic_fetch_sub(&w->st->open, 1);
        pthread_mutex_lock(&w->mu);
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* Aborts every pending operation; their callbacks drop their references. Under c->mu. */
static void hard_locked(wconn *c)
{
    if (c->hard)
        return;
    c->hard = true;
    nng_aio_cancel(c->rxaio);
    nng_aio_cancel(c->txaio);
    nng_aio_cancel(c->tmaio);
}

/* ---------------------------------------------------------------- writing */

static void on_tx(void *arg);

static void kick_locked(wconn *c)
{
    if (c->tx_busy || c->hard || !c->handshake_done || c->qn == 0)
        return;
    nng_iov iov[TX_BATCH];
    size_t k = c->qn < TX_BATCH ? c->qn : TX_BATCH;
    for (size_t i = 0; i < k; i++) {
        gw_frame *f = c->q[c->qhead];
        c->qhead = (c->qhead + 1) % c->qcap;
        c->qn--;
        c->txf[i] = f;
        iov[i] = (nng_iov){.iov_buf = f->data, .iov_len = f->len};
    }
    c->ntx = k;
    c->tx_busy = true;
    conn_ref(c);
    gw_fdconn_write_all(c->fc, iov, (unsigned)k, c->txaio);
}

static void push_locked(wconn *c, gw_frame *f)
{
    if (c->qn == c->qcap) {
        size_t ncap = c->qcap ? 2 * c->qcap : 16;
        gw_frame **nq = xmalloc(ncap * sizeof *nq);
        for (size_t i = 0; i < c->qn; i++)
            nq[i] = c->q[(c->qhead + i) % c->qcap];
        free(c->q);
        c->q = nq;
        c->qcap = ncap;
        c->qhead = 0;
    }
    c->q[(c->qhead + c->qn) % c->qcap] = f;
    c->qn++;
}

/* The orderly close: what is still queued is dropped, {"type":"close",…} and a close frame go
 * out; the connection ends when they are written or after CLOSE_LINGER_MS. */
static void close_locked(wconn *c, int code, const char *reason)
{
    if (c->closing || c->hard)
        return;
    c->closing = true;
    c->close_deadline_ns = cf_mono_ns() + (int64_t)CLOSE_LINGER_MS * 1000000;
    while (c->qn) {
        gw_frame_unref(c->q[c->qhead]);
        c->qhead = (c->qhead + 1) % c->qcap;
        c->qn--;
    }
    json_t *m = json_pack("{s:s,s:i,s:s}", "type", "close", "code", code, "reason", reason);
    char *text = m ? json_dumps(m, JSON_COMPACT) : NULL;
    json_decref(m);
    if (text) {
        push_locked(c, gw_frame_new(WS_OP_TEXT, text, strlen(text)));
        free(text);
    }
    push_locked(c, gw_frame_close((uint16_t)code, reason));
    if (code == GW_WS_TOO_SLOW)
        atomic_fetch_add(&c->w->st->dropped_slow, 1);
    /* The read stays (the client's close frame may come): the reader ends at the hard close
     * (or the next frame). */
    kick_locked(c);
}

static void conn_close(wconn *c, int code, const char *reason)
{
    pthread_mutex_lock(&c->mu);
    close_locked(c, code, reason);
    pthread_mutex_unlock(&c->mu);
}

/* Queues f (a reference is taken). Over ws.send_queue the client is too slow: 4029. */
static void send_locked(wconn *c, gw_frame *f)
{
    if (c->closing || c->hard)
        return;
    if (c->qn >= c->w->cfg.send_queue) {
        close_locked(c, GW_WS_TOO_SLOW, "too slow: send queue full");
        return;
    }
    push_locked(c, gw_frame_ref(f));
    kick_locked(c);
}

static void send_frame(wconn *c, gw_frame *f)
{
    pthread_mutex_lock(&c->mu);
    send_locked(c, f);
    pthread_mutex_unlock(&c->mu);
}

/* Sends a JSON object (stolen). */
static void send_json(wconn *c, json_t *m)
{
    char *text = m ? json_dumps(m, JSON_COMPACT) : NULL;
    json_decref(m);
    if (!text)
        return;
    gw_frame *f = gw_frame_new(WS_OP_TEXT, text, strlen(text));
    free(text);
    send_frame(c, f);
    gw_frame_unref(f);
}

static void send_error(wconn *c, cf_code code, const char *message, const char *room)
{
    json_t *m =
        json_pack("{s:s,s:s,s:s}", "type", "error", "code", cf_code_name(code), "message", message);
    if (m && room)
        json_object_set_new(m, "roomId", json_string(room));
    send_json(c, m);
}

static void on_tx(void *arg)
{
    wconn *c = arg;
    int rv = nng_aio_result(c->txaio);
    pthread_mutex_lock(&c->mu);
    c->tx_busy = false;
    bool closed = false;
    long texts = 0;
    for (size_t i = 0; i < c->ntx; i++) {
        if (c->txf[i]->opcode == WS_OP_CLOSE)
            closed = true;
        else if (c->txf[i]->opcode == WS_OP_TEXT)
            texts++;
        gw_frame_unref(c->txf[i]);
    }
    c->ntx = 0;
    if (rv == 0)
        atomic_fetch_add(&c->w->st->sent, texts);
    if (rv != 0 || closed)
        hard_locked(c);
    else
        kick_locked(c);
    pthread_mutex_unlock(&c->mu);
    conn_unref(c);
}

/* ---------------------------------------------------------------- the feed's sink */

static void sink_send(void *owner, gw_frame *f)
{
    send_frame(owner, f);
}

static void sink_fail(void *owner, cf_code code, const char *message)
{
    conn_close(owner, code == CF_OUT_OF_RANGE ? GW_WS_RESUME_TOO_OLD : GW_WS_TRY_AGAIN, message);
}

/* The feed ended the subscription (access re-checked and refused, or the room deleted): the
 * client is told; the entry in c->subs is removed by the reader flow (purge_ended). */
static void sink_ended(void *owner, const char *room, const char *reason)
{
    send_json(owner,
              json_pack("{s:s,s:s,s:s}", "type", "unsubscribed", "roomId", room, "reason", reason));
}

static char *sink_authz(void *owner)
{
    wconn *c = owner;
    pthread_mutex_lock(&c->mu);
    char *a = c->token ? xasprintf("Bearer %s", c->token) : NULL;
    pthread_mutex_unlock(&c->mu);
    return a;
}

/* ---------------------------------------------------------------- messages */

static void do_auth(wconn *c, const char *token)
{
    gw_ws *w = c->w;
    authn_identity id;
    const char *reason = "token verification is not configured";
    cf_code code = CF_UNAUTHENTICATED;
    if (token && *token && w->cfg.verifier)
        code = authn_verify(w->cfg.verifier, token, &id, &reason);
    else if (!token || !*token)
        reason = "a token is required";
    if (code != CF_OK) {
        char why[160];
        snprintf(why, sizeof why, "invalid access token: %s", reason);
        conn_close(c, GW_WS_UNAUTHENTICATED, why);
        return;
    }
    pthread_mutex_lock(&c->mu);
    if (c->authed && strcmp(c->sub, id.sub) != 0) {
        pthread_mutex_unlock(&c->mu);
        send_error(c, CF_INVALID_ARGUMENT, "the token is for another user", NULL);
        return;
    }
    free(c->token);
    c->token = xstrdup(token);
    snprintf(c->sub, sizeof c->sub, "%s", id.sub);
    c->admin = id.is_admin;
    c->authed = true;
    c->exp_s = id.exp;
    pthread_mutex_unlock(&c->mu);
    send_json(c, json_pack("{s:s,s:s}", "type", "ready", "userId", id.sub));
    pthread_mutex_lock(&w->mu); /* lock order: w->mu before c->mu, so after it */
    user_link_locked(w, c);
    pthread_mutex_unlock(&w->mu);
}

/* Drops the subscriptions the feed has ended. The reader flow only. */
static void purge_ended(wconn *c)
{
    for (size_t i = 0; i < c->nsubs;) {
        if (gw_feed_ended(c->w->cfg.feed, c->subs[i].sub)) {
            gw_feed_unsubscribe(c->w->cfg.feed, c->subs[i].sub);
            c->subs[i] = c->subs[--c->nsubs];
        } else {
            i++;
        }
    }
}

static wsub *find_sub(wconn *c, const char *room)
{
    purge_ended(c);
    for (size_t i = 0; i < c->nsubs; i++)
        if (strcmp(c->subs[i].room, room) == 0)
            return &c->subs[i];
    return NULL;
}

static const char *room_arg(wconn *c, json_t *j)
{
    const char *room = json_string_value(json_object_get(j, "roomId"));
    if (!room || !*room || strlen(room) > ROOM_ID_MAX) {
        send_error(c, CF_INVALID_ARGUMENT, "roomId: must be a room id", NULL);
        return NULL;
    }
    return room;
}

/* resume → positions (-1 = none); false (error sent) when malformed. */
static bool parse_resume(wconn *c, json_t *resume, const char *room, int64_t out[GW_FEED_NSRC])
{
    for (size_t i = 0; i < GW_FEED_NSRC; i++)
        out[i] = -1;
    if (!resume || json_is_null(resume))
        return true;
    if (!json_is_object(resume)) {
        send_error(c, CF_INVALID_ARGUMENT, "resume: must be an object", room);
        return false;
    }
    const char *key;
    json_t *v;
    json_object_foreach(resume, key, v)
    {
        size_t i = 0;
        while (i < GW_FEED_NSRC && strcmp(key, gw_feed_sources[i]) != 0)
            i++;
        long long n = -1;
        if (json_is_integer(v)) {
            n = json_integer_value(v);
        } else if (json_is_string(v)) {
            const char *s = json_string_value(v);
            size_t len = strlen(s);
            if (len >= 1 && len <= 18 && strspn(s, "0123456789") == len)
                n = strtoll(s, NULL, 10);
        }
        if (i == GW_FEED_NSRC || n < 0) {
            char why[128];
            snprintf(why, sizeof why, "resume.%.40s: %s", key,
                     i == GW_FEED_NSRC ? "unknown event source" : "must be a sequence number");
            send_error(c, CF_INVALID_ARGUMENT, why, room);
            return false;
        }
        out[i] = n;
    }
    return true;
}

static void on_getroom(rpc_ccall *cc, void *arg)
{
    wconn *c = arg;
    gw_ws *w = c->w;
    if (cc->code != CF_OK) {
        bool internal =
            cc->code == CF_INTERNAL || cc->code == CF_UNKNOWN || cc->code == CF_DATA_LOSS;
        send_error(c, cc->code, internal ? "internal error" : cc->message, c->pending_room);
    } else {
        pthread_mutex_lock(&c->mu);
        bool closing = c->closing || c->hard;
        pthread_mutex_unlock(&c->mu);
        if (!closing) {
            gw_feed_sink sink = {.send = sink_send,
                                 .fail = sink_fail,
                                 .ended = sink_ended,
                                 .authz = sink_authz,
                                 .owner = c};
            char user[sizeof c->sub];
            pthread_mutex_lock(&c->mu);
            memcpy(user, c->sub, sizeof user);
            bool admin = c->admin;
            pthread_mutex_unlock(&c->mu);
            wsub *s = &c->subs[c->nsubs++];
            snprintf(s->room, sizeof s->room, "%s", c->pending_room);
            int64_t since = gw_feed_visible_since(cc->response, admin);
            s->sub = gw_feed_subscribe(w->cfg.feed, c->pending_room, user, c->pending_stamp, since,
                                       c->pending_resume, &sink);
        }
    }
    rpc_ccall_free(&c->cc);
    free(c->authz);
    c->authz = NULL;
    pthread_mutex_lock(&c->mu);
    c->paused = false;
    bool parked = c->parked;
    c->parked = false;
    pthread_mutex_unlock(&c->mu);
    if (parked)
        process(c);
}

static void do_subscribe(wconn *c, json_t *j)
{
    gw_ws *w = c->w;
    const char *room = room_arg(c, j);
    if (!room)
        return;
    int64_t resume[GW_FEED_NSRC];
    if (!parse_resume(c, json_object_get(j, "resume"), room, resume))
        return;
    if (!w->cfg.feed || !w->cfg.rooms)
        return send_error(c, CF_UNAVAILABLE, "live events are not configured", room);
    if (find_sub(c, room))
        return send_error(c, CF_ALREADY_EXISTS, "already subscribed", room);
    if (c->nsubs >= MAX_SUBS)
        return send_error(c, CF_RESOURCE_EXHAUSTED, "too many subscriptions", room);
    if (c->nsubs == c->capsubs) { /* room for the one this subscribe adds */
        size_t n = c->capsubs ? 2 * c->capsubs : 2;
        c->capsubs = n < MAX_SUBS ? n : MAX_SUBS;
        c->subs = xrealloc(c->subs, c->capsubs * sizeof *c->subs);
    }
    snprintf(c->pending_room, sizeof c->pending_room, "%s", room);
    memcpy(c->pending_resume, resume, sizeof resume);
    c->pending_stamp = gw_feed_stamp(w->cfg.feed, room); /* before the check: feed.h */
    pthread_mutex_lock(&c->mu);
    c->paused = true;
    c->authz = xasprintf("Bearer %s", c->token);
    pthread_mutex_unlock(&c->mu);
    /* visibility exactly as GET /v1/rooms/{id}: a private room is NOT_FOUND to a non-member */
    Rooms__V1__GetRoomRequest req = ROOMS__V1__GET_ROOM_REQUEST__INIT;
    req.room_id = c->pending_room;
    rpc_ccall_init(&c->cc, NULL);
    c->cc.timeout_ms = GETROOM_MS;
    rpc_ccall_md(&c->cc, "authorization", c->authz);
    rpc_client_invoke_async(w->cfg.rooms, &rooms__v1__rooms__descriptor, w->getroom_index,
                            &req.base, &c->cc, on_getroom, c);
}

static void do_unsubscribe(wconn *c, json_t *j)
{
    const char *room = room_arg(c, j);
    if (!room)
        return;
    wsub *s = find_sub(c, room);
    if (!s)
        return send_error(c, CF_NOT_FOUND, "not subscribed", room);
    gw_feed_unsubscribe(c->w->cfg.feed, s->sub);
    *s = c->subs[--c->nsubs];
    send_json(c, json_pack("{s:s,s:s}", "type", "unsubscribed", "roomId", room));
}

static void handle_message(wconn *c, const uint8_t *data, size_t len)
{
    json_t *j = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, NULL);
    const char *type = json_string_value(json_object_get(j, "type"));
    if (!json_is_object(j) || !type) {
        json_decref(j);
        conn_close(c, GW_WS_POLICY, "malformed message: a JSON object with a type is expected");
        return;
    }
    pthread_mutex_lock(&c->mu);
    bool authed = c->authed;
    pthread_mutex_unlock(&c->mu);
    if (strcmp(type, "ping") == 0)
        send_json(c, json_pack("{s:s}", "type", "pong"));
    else if (strcmp(type, "pong") == 0)
        ; /* its arrival is what counts (last_rx) */
    else if (strcmp(type, "auth") == 0)
        do_auth(c, json_string_value(json_object_get(j, "token")));
    else if (!authed)
        conn_close(c, GW_WS_UNAUTHENTICATED, "authenticate first");
    else if (strcmp(type, "subscribe") == 0)
        do_subscribe(c, j);
    else if (strcmp(type, "unsubscribe") == 0)
        do_unsubscribe(c, j);
    else
        send_error(c, CF_INVALID_ARGUMENT, "unknown message type", NULL);
    json_decref(j);
}

/* ---------------------------------------------------------------- reading */

static void reader_end(wconn *c)
{
    for (size_t i = 0; i < c->nsubs; i++)
        gw_feed_unsubscribe(c->w->cfg.feed, c->subs[i].sub);
    c->nsubs = 0;
    conn_unref(c);
}

static bool closing(wconn *c)
{
    pthread_mutex_lock(&c->mu);
    bool v = c->closing || c->hard;
    pthread_mutex_unlock(&c->mu);
    return v;
}

/* Acts on what the decoder found (the payload is borrowed). */
static void handle_decoded(wconn *c, ws_dec_kind k, const ws_dec_result *r)
{
    switch (k) {
    case WS_DEC_PING: {
        gw_frame *f = gw_frame_new(WS_OP_PONG, r->data, r->len);
        send_frame(c, f);
        gw_frame_unref(f);
        return;
    }
    case WS_DEC_PONG:
    case WS_DEC_MORE:
        return;
    case WS_DEC_CLOSE: {
        uint16_t code = r->close_code == 1005 ? 1000 : r->close_code;
        pthread_mutex_lock(&c->mu);
        if (!c->closing && !c->hard) { /* echo it (RFC 6455 §5.5.1), then end */
            c->closing = true;
            c->close_deadline_ns = cf_mono_ns() + (int64_t)CLOSE_LINGER_MS * 1000000;
            push_locked(c, gw_frame_close(code, ""));
            kick_locked(c);
        }
        pthread_mutex_unlock(&c->mu);
        return;
    }
    case WS_DEC_ERROR:
        conn_close(c, r->close_code, r->why);
        return;
    case WS_DEC_MESSAGE:
        if (r->opcode == WS_OP_BINARY)
            conn_close(c, GW_WS_POLICY, "text messages only");
        else
            handle_message(c, r->data, r->len);
        return;
    }
}

static void on_rx(void *arg);

/* Sizes the read buffer for the next read (the reader flow): full of one unfinished frame →
 * doubled, up to the largest message plus a frame head (the decoder refuses a frame above the
 * largest message from its head, so a full buffer at the top cannot happen); what is left fits
 * RBUF_START → back to RBUF_START. */
static void rbuf_fit(wconn *c)
{
    size_t top = c->dec.max_message + FRAME_SLACK, cap = c->rcap;
    if (c->rlen == cap && cap < top)
        cap = 2 * cap < top ? 2 * cap : top;
    else if (cap > RBUF_START && c->rlen <= RBUF_START)
        cap = RBUF_START;
    if (cap != c->rcap) {
        c->rbuf = xrealloc(c->rbuf, cap);
        c->rcap = cap;
    }
}

/* Handles every complete frame in the buffer, then reads more (or parks while a GetRoom is in
 * flight, or ends when the connection is closing). The reader flow's only entry point. */
static void process(wconn *c)
{
    if (c->bearer) { /* the subprotocol's token, once, before any message */
        char *t = c->bearer;
        c->bearer = NULL;
        do_auth(c, t);
        free(t);
    }
    size_t off = 0;
    for (;;) {
        if (closing(c))
            break;
        pthread_mutex_lock(&c->mu);
        if (c->paused) {
            c->parked = true;
            pthread_mutex_unlock(&c->mu);
            memmove(c->rbuf, c->rbuf + off, c->rlen - off);
            c->rlen -= off;
            return; /* on_getroom resumes */
        }
        pthread_mutex_unlock(&c->mu);
        size_t used;
        ws_dec_result r;
        ws_dec_kind k = ws_decode(&c->dec, c->rbuf + off, c->rlen - off, &used, &r);
        off += used;
        if (k == WS_DEC_MORE)
            break;
        handle_decoded(c, k, &r);
    }
    memmove(c->rbuf, c->rbuf + off, c->rlen - off);
    c->rlen -= off;
    pthread_mutex_lock(&c->mu);
    if (c->closing || c->hard) {
        pthread_mutex_unlock(&c->mu);
        reader_end(c);
        return;
    }
    if (c->authed && c->dec.max_message < c->w->cfg.max_message)
        c->dec.max_message = c->w->cfg.max_message; /* authenticated: ws.max_message from now */
    pthread_mutex_unlock(&c->mu);
    rbuf_fit(c);
    gw_fdconn_read(c->fc, c->rbuf + c->rlen, c->rcap - c->rlen, c->rxaio);
}

static void on_rx(void *arg)
{
    wconn *c = arg;
    int rv = nng_aio_result(c->rxaio);
    if (rv != 0) {
        pthread_mutex_lock(&c->mu);
        if (rv != NNG_ECANCELED || !c->closing)
            hard_locked(c); /* the peer went away; a cancel by close_locked lets it finish */
        pthread_mutex_unlock(&c->mu);
        reader_end(c);
        return;
    }
    c->rlen += gw_fdconn_nread(c->fc);
    atomic_store(&c->last_rx_ns, cf_mono_ns());
    process(c);
}

/* ---------------------------------------------------------------- the timer */

static void on_timer(void *arg)
{
    wconn *c = arg;
    gw_ws *w = c->w;
    int rv = nng_aio_result(c->tmaio);
    char *token = NULL;
    pthread_mutex_lock(&c->mu);
    if (rv != 0 || c->hard) {
        pthread_mutex_unlock(&c->mu);
        conn_unref(c);
        return;
    }
    int64_t now = cf_mono_ns();
    if (c->closing) {
        if (now >= c->close_deadline_ns)
            hard_locked(c);
    } else if (!c->authed) {
        if (now - c->opened_ns >= w->cfg.auth_ms * 1000000)
            close_locked(c, GW_WS_UNAUTHENTICATED, "no valid token within auth_timeout");
    } else if (c->exp_s > 0 && cf_wall_ms() / 1000 >= c->exp_s) {
        /* at the token's own exp (within a tick), not at the next ping: a client that wants
         * to stay sends {"type":"auth"} with a fresh token before then */
        close_locked(c, GW_WS_UNAUTHENTICATED, "access token expired");
    } else if (now - c->last_ping_ns >= w->cfg.ping_ms * 1000000) {
        if (c->last_ping_ns && atomic_load(&c->last_rx_ns) < c->last_ping_ns) {
            close_locked(c, GW_WS_POLICY, "no pong within ping_interval");
        } else {
            static const char ping[] = "{\"type\":\"ping\"}";
            gw_frame *f = gw_frame_new(WS_OP_TEXT, ping, sizeof ping - 1);
            send_locked(c, f);
            gw_frame_unref(f);
            c->last_ping_ns = now;
            token = xstrdup(c->token); /* re-checked below: expiry and revocation */
        }
    }
    bool rearm = !c->hard;
    if (rearm)
        nng_sleep_aio((nng_duration)w->tick_ms, c->tmaio);
    pthread_mutex_unlock(&c->mu);
    if (token) {
        authn_identity id;
        const char *reason = "";
        if (!w->cfg.verifier || authn_verify(w->cfg.verifier, token, &id, &reason) != CF_OK) {
            char why[160];
            snprintf(why, sizeof why, "token no longer valid: %s", reason);
            conn_close(c, GW_WS_UNAUTHENTICATED, why);
        }
        free(token);
    }
    if (!rearm)
        conn_unref(c);
}

/* ---------------------------------------------------------------- the upgrade */

static bool has_word(const char *header, const char *word)
{
    size_t wl = strlen(word);
    for (const char *p = header; p && *p;) {
        while (*p == ' ' || *p == ',' || *p == '\t')
            p++;
        size_t n = strcspn(p, ", \t");
        if (n == wl && strncasecmp(p, word, wl) == 0)
            return true;
        p += n;
    }
    return false;
}

/* The 101 went out (an HTTP server thread): the connection starts as the handshake write's
 * completion used to start it. */
static void on_upgraded(void *arg, const gw_http_upgraded *u)
{
    wconn *c = arg;
    c->fc = gw_fdconn_new(c->w->loop, u->fd, gw_http_upgraded_close, u->urh);
    /* frames sent before the 101: room for them (up to one largest pre-auth message) */
    size_t n = u->nextra, top = c->dec.max_message + FRAME_SLACK;
    if (n > top)
        n = top;
    if (n > c->rcap) {
        c->rcap = n;
        c->rbuf = xrealloc(c->rbuf, c->rcap);
    }
    memcpy(c->rbuf, u->extra, n);
    c->rlen = n;
    pthread_mutex_lock(&c->mu);
    c->handshake_done = true;
    c->opened_ns = cf_mono_ns();
    conn_ref(c); /* the timer */
    nng_sleep_aio((nng_duration)c->w->tick_ms, c->tmaio);
    kick_locked(c);
    pthread_mutex_unlock(&c->mu);
    process(c); /* the bearer token first, then the reader */
    conn_unref(c);
}

/* The connection ended before the 101 went out. */
static void on_upgrade_failed(void *arg)
{
    wconn *c = arg;
    pthread_mutex_lock(&c->mu);
    hard_locked(c);
    pthread_mutex_unlock(&c->mu);
    conn_unref(c); /* the reader flow never started */
    conn_unref(c);
}

int gw_ws_upgrade(gw_ws *w, gw_http_req *r, const char **why)
{
    const char *upgrade = gw_http_header(r, "Upgrade");
    const char *connection = gw_http_header(r, "Connection");
    const char *version = gw_http_header(r, "Sec-WebSocket-Version");
    const char *key = gw_http_header(r, "Sec-WebSocket-Key");
    const char *proto = gw_http_header(r, "Sec-WebSocket-Protocol");
    char accept[29];
    bool has_proto = false;
    const char *bearer = NULL;
    size_t blen = 0;
    if (proto)
        ws_subprotocols(proto, SUBPROTOCOL, &has_proto, &bearer, &blen);
    if (!upgrade || !has_word(upgrade, "websocket") || !connection ||
        !has_word(connection, "upgrade")) {
        *why = "a WebSocket upgrade is required";
        return 400;
    }
    if (!version || strcmp(version, "13") != 0 || !ws_accept_key(key, accept)) {
        *why = "a WebSocket version 13 handshake is required";
        return 400;
    }
    if (!has_proto) {
        *why = "the subprotocol " SUBPROTOCOL " is required";
        return 400;
    }
    if (r->early_status || r->body_len) {
        *why = "an upgrade request has no body";
        return 400;
    }
    pthread_mutex_lock(&w->mu);
    bool full = w->nconns >= w->cfg.max_conns;
    bool shutting = w->shutting;
    pthread_mutex_unlock(&w->mu);
    if (shutting || full) {
        *why = shutting ? "shutting down" : "too many WebSocket connections";
        return 503;
    }

    wconn *c = xcalloc(1, sizeof *c);
    c->w = w;
    pthread_mutex_init(&c->mu, NULL);
    atomic_init(&c->refs, 2); /* the reader flow, and the handshake */
    size_t first =
        w->cfg.max_message < PREAUTH_MAX_MESSAGE ? w->cfg.max_message : PREAUTH_MAX_MESSAGE;
    c->rcap = RBUF_START;
    c->rbuf = xmalloc(c->rcap);
    ws_decoder_init(&c->dec, first);
    if (bearer && blen <= AUTHN_TOKEN_MAX)
        c->bearer = xstrndup(bearer, blen);
    if (nng_aio_alloc(&c->rxaio, on_rx, c) != 0 || nng_aio_alloc(&c->txaio, on_tx, c) != 0 ||
        nng_aio_alloc(&c->tmaio, on_timer, c) != 0)
        abort();

    pthread_mutex_lock(&w->mu);
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    w->nconns++;
    pthread_mutex_unlock(&w->mu);
    atomic_fetch_add(&w->st->open, 1);
    atomic_fetch_add(&w->st->accepted, 1);

    const char *hdr[] = {
        "Upgrade",   "websocket", "Sec-WebSocket-Accept", accept, "Sec-WebSocket-Protocol",
        SUBPROTOCOL, NULL};
    gw_http_upgrade_cb cb = {.on_upgraded = on_upgraded, .on_failed = on_upgrade_failed, .arg = c};
    gw_http_upgrade(r, hdr, &cb);
    return 0;
}

/* ---------------------------------------------------------------- notices to a user */

size_t gw_ws_notify_user(gw_ws *w, const char *user, gw_frame *f)
{
    size_t n = 0;
    pthread_mutex_lock(&w->mu);
    for (wconn *c = w->users[user_bucket(user)]; c; c = c->unext) {
        if (strcmp(c->sub, user) != 0)
            continue;
        pthread_mutex_lock(&c->mu); /* a closing or ended connection takes nothing */
        if (!c->closing && !c->hard)
            n++;
        send_locked(c, f);
        pthread_mutex_unlock(&c->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return n;
}

/* ---------------------------------------------------------------- the server */

static double stat_open(void *arg)
{
    return (double)atomic_load(&((gw_ws_stats *)arg)->open);
}

static double stat_sent(void *arg)
{
    return (double)atomic_load(&((gw_ws_stats *)arg)->sent);
}

static double stat_slow(void *arg)
{
    return (double)atomic_load(&((gw_ws_stats *)arg)->dropped_slow);
}

void gw_ws_stats_register(metrics *m, gw_ws_stats *st)
{
    metrics_gauge_fn(m, "confetti_ws_connections", "WebSocket feed connections open now.",
                     stat_open, st);
    metrics_gauge_fn(m, "confetti_ws_messages_sent_total",
                     "WebSocket feed messages written to clients (a counter).", stat_sent, st);
    metrics_gauge_fn(m, "confetti_ws_dropped_slow_total",
                     "WebSocket clients closed with 4029 for falling behind (a counter).",
                     stat_slow, st);
}

gw_ws *gw_ws_new(const gw_ws_config *cfg)
{
    gw_ws *w = xcalloc(1, sizeof *w);
    w->cfg = *cfg;
    w->st = cfg->stats ? cfg->stats : &w->own_stats;
    const ProtobufCMethodDescriptor *md =
        protobuf_c_service_descriptor_get_method_by_name(&rooms__v1__rooms__descriptor, "GetRoom");
    w->getroom_index = (unsigned)(md - rooms__v1__rooms__descriptor.methods);
    int64_t t = (cfg->ping_ms < cfg->auth_ms ? cfg->ping_ms : cfg->auth_ms) / 4;
    w->tick_ms = t < 10 ? 10 : t > 1000 ? 1000 : t;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->loop = gw_fdloop_new();
    pthread_create(&w->reaper, NULL, reaper, w);
    return w;
}

/* Waits until no connection is left or the deadline (monotonic ns) passes. Under w->mu. */
static void wait_empty_locked(gw_ws *w, int64_t deadline)
{
    while (w->nconns > 0 && cf_mono_ns() < deadline) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 10000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&w->cv, &w->mu, &ts);
    }
}

void gw_ws_shutdown(gw_ws *w, int64_t timeout_ms)
{
    pthread_mutex_lock(&w->mu);
    w->shutting = true;
    for (wconn *c = w->conns; c; c = c->next) {
        pthread_mutex_lock(&c->mu);
        close_locked(c, GW_WS_GOING_AWAY, "the gateway is shutting down");
        pthread_mutex_unlock(&c->mu);
    }
    wait_empty_locked(w, cf_mono_ns() + timeout_ms * 1000000);
    for (wconn *c = w->conns; c; c = c->next) {
        pthread_mutex_lock(&c->mu);
        hard_locked(c);
        pthread_mutex_unlock(&c->mu);
    }
    wait_empty_locked(w, cf_mono_ns() + (int64_t)GETROOM_MS * 1000000);
    if (w->nconns)
        log_warn("ws: %zu connections still open at shutdown", w->nconns);
    pthread_mutex_unlock(&w->mu);
}

void gw_ws_free(gw_ws *w)
{
    if (!w)
        return;
    gw_ws_shutdown(w, CLOSE_LINGER_MS);
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->reaper, NULL);
    gw_fdloop_free(w->loop);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
}
