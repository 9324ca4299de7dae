/* feed.c — see feed.h. One mutex guards the rings, the positions and the room → subscribers
 * map; the consumer holds it only to append one event and hand its (already encoded) frame to
 * each subscriber's queue. */
#include "feed.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/xmalloc.h"
#include "events/subscriber.h"
#include "pbjson/pbjson.h"
#include "rooms/v1/rooms.pb-c.h"

#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *const gw_feed_sources[GW_FEED_NSRC] = {"rooms", "draw"};

#define ROOM_MAX     64
#define NBUCKETS     1024
#define REPLAY_LIMIT 1000
#define REPLAY_MS    5000
#define CHECK_MS     5000 /* the default of gw_feed_config.check_ms */
#define HOLD_MAX     1024 /* events held for one subscription while its access is re-checked */
#define USER_MAX     128

typedef struct ring_ent {
    int64_t seq;
    int64_t time_us; /* the event's time (ev_time_us) */
    char room[ROOM_MAX];
    gw_frame *frame;
} ring_ent;

/* A frame waiting for its client (replayed, or held during a re-check) and its event's time:
 * the history bound is applied when it goes out. */
typedef struct pend_ent {
    gw_frame *frame;
    int64_t time_us;
} pend_ent;

typedef struct ring {
    ring_ent *e;
    size_t cap, head, n;     /* head: the oldest entry */
    size_t bytes, max_bytes; /* the frames' bytes; at most max_bytes (0 = no cap) */
} ring;

typedef struct room_node {
    struct room_node *next;
    char id[ROOM_MAX];
    gw_feed_sub **subs;
    size_t n, cap;
} room_node;

typedef enum { SUB_PENDING, SUB_LIVE, SUB_FAILED, SUB_ENDED } sub_state;

struct gw_feed_sub {
    gw_feed *feed;
    gw_feed_sink sink;
    char room[ROOM_MAX];
    char user[USER_MAX];
    sub_state state;
    bool cancelled; /* unsubscribed while an RPC was in flight: the completion frees */
    bool rpc_busy;  /* a Replay (before live) or a GetRoom re-check (live) is in flight */
    bool held;      /* access being re-checked: frames go to pend, not to the client */
    bool again;     /* another access change came during the re-check: check once more */
    bool overflow;  /* more than HOLD_MAX frames came while held: end the subscription */
    uint64_t stamp; /* the room's access stamp when the subscriber's access was checked */
    int64_t since;  /* no event older than this (µs; INT64_MIN: none) reaches the client */
    char *authz;    /* the re-check's authorization metadata */
    int64_t from[GW_FEED_NSRC];  /* the client has every event of the room up to here */
    bool replay[GW_FEED_NSRC];   /* still to fetch from the source (the ring lacks it) */
    int64_t after[GW_FEED_NSRC]; /* live: only seq > after is sent */
    pend_ent *pend;              /* replayed or held frames waiting for the client */
    size_t npend, cappend;
    size_t cur; /* the source being replayed */
    rpc_ccall cc;
};

struct gw_feed {
    pthread_mutex_t mu;
    events_sub *sub;
    rpc_client *replay[GW_FEED_NSRC];
    ring rings[GW_FEED_NSRC];
    int64_t hi[GW_FEED_NSRC];           /* the last seq received per source */
    int64_t covered_from[GW_FEED_NSRC]; /* the ring holds every room event with seq >= this */
    room_node *buckets[NBUCKETS];
    uint64_t stamps[NBUCKETS]; /* access stamps, per bucket of room ids (gw_feed_stamp) */
    size_t inflight;           /* subscriptions with rpc_busy: gw_feed_stop waits for none */
    unsigned getroom_index;
    size_t resume_max; /* gw_feed_config.resume_max */
    int64_t check_ms;  /* gw_feed_config.check_ms, or CHECK_MS */
    void (*on_event)(void *arg, const Events__V1__Event *ev);
    void *on_event_arg;
};

static size_t source_index(const char *name)
{
    for (size_t i = 0; i < GW_FEED_NSRC; i++)
        if (strcmp(name, gw_feed_sources[i]) == 0)
            return i;
    return GW_FEED_NSRC;
}

static size_t bucket_of(const char *room)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)room; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h & (NBUCKETS - 1);
}

static room_node *room_find(gw_feed *f, const char *room, bool create)
{
    room_node **pp = &f->buckets[bucket_of(room)];
    for (room_node *n = *pp; n; n = n->next)
        if (strcmp(n->id, room) == 0)
            return n;
    if (!create)
        return NULL;
    room_node *n = xcalloc(1, sizeof *n);
    snprintf(n->id, sizeof n->id, "%s", room);
    n->next = *pp;
    *pp = n;
    return n;
}

static void room_remove(gw_feed *f, gw_feed_sub *s)
{
    room_node **pp = &f->buckets[bucket_of(s->room)];
    for (; *pp; pp = &(*pp)->next) {
        room_node *n = *pp;
        if (strcmp(n->id, s->room) != 0)
            continue;
        for (size_t i = 0; i < n->n; i++)
            if (n->subs[i] == s) {
                n->subs[i] = n->subs[--n->n];
                break;
            }
        if (n->n == 0) {
            *pp = n->next;
            free(n->subs);
            free(n);
        }
        return;
    }
}

/* Sets s->rpc_busy, counting the RPCs in flight: a completion may touch the feed until it has
 * cleared the flag, so gw_feed_stop waits for the count to reach zero. Under the lock. */
static void busy_locked(gw_feed_sub *s, bool busy)
{
    gw_feed *f = s->feed;
    if (busy == s->rpc_busy)
        return;
    s->rpc_busy = busy;
    if (busy)
        f->inflight++;
    else
        f->inflight--;
}

/* An event's time in epoch µs; INT64_MIN when it has none (then only an unbounded reader — a
 * platform admin — gets it). */
static int64_t ev_time_us(const Events__V1__Event *ev)
{
    if (!ev->time)
        return INT64_MIN;
    return ev->time->seconds * 1000000 + ev->time->nanos / 1000;
}

int64_t gw_feed_visible_since(const void *room, bool admin)
{
    const Rooms__V1__Room *r = room;
    if (r && r->visible_since)
        return r->visible_since->seconds * 1000000 + r->visible_since->nanos / 1000;
    if (admin)
        return INT64_MIN;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* {"type":"event","event":{…}} as one text frame. */
static gw_frame *event_frame(const Events__V1__Event *ev)
{
    json_t *m = json_pack("{s:s,s:o}", "type", "event", "event", pbjson_to_json(&ev->base));
    char *s = m ? json_dumps(m, JSON_COMPACT) : NULL;
    json_decref(m);
    if (!s)
        return NULL; /* not representable (cannot happen with valid UTF-8 from the sources) */
    gw_frame *fr = gw_frame_new(WS_OP_TEXT, s, strlen(s));
    free(s);
    return fr;
}

/* ---------------------------------------------------------------- consumer (bus thread) */

static void ring_push(gw_feed *f, size_t si, int64_t seq, int64_t time_us, const char *room,
                      gw_frame *fr)
{
    ring *r = &f->rings[si];
    /* the oldest go when the ring is full in entries or in bytes (ws.ring, ws.ring_bytes) */
    while (r->n > 0 && (r->n == r->cap || (r->max_bytes && r->bytes + fr->len > r->max_bytes))) {
        ring_ent *old = &r->e[r->head];
        f->covered_from[si] = old->seq + 1;
        r->bytes -= old->frame->len;
        gw_frame_unref(old->frame);
        r->head = (r->head + 1) % r->cap;
        r->n--;
    }
    ring_ent *e = &r->e[(r->head + r->n) % r->cap];
    e->seq = seq;
    e->time_us = time_us;
    snprintf(e->room, sizeof e->room, "%s", room);
    e->frame = gw_frame_ref(fr);
    r->bytes += fr->len;
    r->n++;
}

/* Could the subscriber see the room when an event of this time happened? Under the lock. */
static bool visible_locked(const gw_feed_sub *s, int64_t time_us)
{
    return s->since == INT64_MIN || time_us >= s->since;
}

/* To the client (if the history bound lets it), or into the held queue while the access is
 * re-checked (the bound is applied when it goes out, with the re-check's answer). Under the
 * lock. */
static void deliver_locked(gw_feed_sub *s, gw_frame *fr, int64_t time_us)
{
    if (!s->held) {
        if (visible_locked(s, time_us))
            s->sink.send(s->sink.owner, fr);
        return;
    }
    if (s->npend >= HOLD_MAX) {
        s->overflow = true;
        return;
    }
    if (s->npend == s->cappend) {
        s->cappend = s->cappend ? 2 * s->cappend : 16;
        s->pend = xrealloc(s->pend, s->cappend * sizeof *s->pend);
    }
    s->pend[s->npend++] = (pend_ent){gw_frame_ref(fr), time_us};
}

static void drop_pend(gw_feed_sub *s)
{
    for (size_t k = 0; k < s->npend; k++)
        gw_frame_unref(s->pend[k].frame);
    s->npend = 0;
}

/* The waiting frames out, in order, those the history bound lets through. Under the lock. */
static void flush_pend_locked(gw_feed_sub *s)
{
    for (size_t k = 0; k < s->npend; k++)
        if (visible_locked(s, s->pend[k].time_us))
            s->sink.send(s->sink.owner, s->pend[k].frame);
    drop_pend(s);
}

/* Ends a subscription from the feed's side: nothing more of the room reaches the client.
 * Under the lock. */
static void end_locked(gw_feed *f, gw_feed_sub *s, const char *reason)
{
    if (s->state == SUB_LIVE)
        room_remove(f, s);
    s->state = SUB_ENDED;
    s->held = false;
    drop_pend(s);
    s->sink.ended(s->sink.owner, s->room, reason);
}

/* What an event means for the access to its room: ACCESS_ROOM (everyone's may have changed),
 * ACCESS_USER (*user's may have), ACCESS_GONE (the room was deleted), or ACCESS_SAME. A status
 * change is ACCESS_SAME: status never decides who may see a room (SPEC §3). */
enum { ACCESS_SAME, ACCESS_USER, ACCESS_ROOM, ACCESS_GONE };
static int access_change(const Events__V1__Event *ev, const char **user)
{
    switch (ev->body_case) {
    case EVENTS__V1__EVENT__BODY_PARTICIPANT_LEFT:
        *user = ev->participant_left->user_id;
        return ACCESS_USER;
    case EVENTS__V1__EVENT__BODY_PARTICIPANT_ROLE_CHANGED:
        *user = ev->participant_role_changed->user_id;
        return ACCESS_USER;
    case EVENTS__V1__EVENT__BODY_ROOM_UPDATED: {
        const Events__V1__RoomUpdated *u = ev->room_updated;
        for (size_t i = 0; i < u->n_fields; i++)
            if (strcmp(u->fields[i], "isPublic") == 0 && !u->is_public)
                return ACCESS_ROOM;
        return ACCESS_SAME;
    }
    case EVENTS__V1__EVENT__BODY_ROOM_DELETED:
        return ACCESS_GONE;
    default:
        return ACCESS_SAME;
    }
}

static void start_check(gw_feed_sub *s);

/* After ev was delivered: holds and re-checks (or ends) the subscriptions of the room whose
 * access it may have taken away. Those to start a check for go into out[] (rpc_busy set: they
 * stay allocated); returns how many. Under the lock. */
static size_t access_locked(gw_feed *f, const Events__V1__Event *ev, gw_feed_sub ***out)
{
    const char *user = NULL;
    int what = access_change(ev, &user);
    if (what == ACCESS_SAME)
        return 0;
    f->stamps[bucket_of(ev->room_id)]++;
    room_node *n = room_find(f, ev->room_id, false);
    if (!n)
        return 0;
    gw_feed_sub **subs = xmalloc(n->n * sizeof *subs);
    size_t ns = n->n, nout = 0;
    memcpy(subs, n->subs, ns * sizeof *subs); /* ending one edits n->subs */
    for (size_t i = 0; i < ns; i++) {
        gw_feed_sub *s = subs[i];
        if (what == ACCESS_GONE) {
            end_locked(f, s, "room deleted");
            continue;
        }
        if (what == ACCESS_USER && strcmp(s->user, user) != 0)
            continue;
        s->held = true;
        if (s->rpc_busy) {
            s->again = true; /* the answer in flight may predate this change */
            continue;
        }
        busy_locked(s, true);
        subs[nout++] = s;
    }
    if (nout == 0) {
        free(subs);
        subs = NULL;
    }
    *out = subs;
    return nout;
}

static cf_code consume(void *arg, const Events__V1__Event *ev)
{
    gw_feed *f = arg;
    size_t si = source_index(ev->source);
    if (si == GW_FEED_NSRC)
        return CF_OK;
    gw_frame *fr = NULL;
    if (*ev->room_id && strlen(ev->room_id) < ROOM_MAX)
        fr = event_frame(ev);
    gw_feed_sub **check = NULL;
    size_t ncheck = 0;
    bool fresh = false;
    int64_t t = ev_time_us(ev);
    const char *who = NULL;
    /* a room made private: its own event is held too (it carries the name after the change,
     * which a non-member must not learn); participant changes go out first (they tell the
     * user concerned nothing new) */
    bool hold_first = access_change(ev, &who) == ACCESS_ROOM;
    pthread_mutex_lock(&f->mu);
    if (ev->seq > f->hi[si]) {
        fresh = true;
        f->hi[si] = ev->seq;
        if (fr) {
            ring_push(f, si, ev->seq, t, ev->room_id, fr);
            room_node *n = room_find(f, ev->room_id, false);
            for (size_t i = 0; n && i < n->n; i++) {
                gw_feed_sub *s = n->subs[i];
                if (hold_first)
                    s->held = true;
                if (ev->seq > s->after[si])
                    deliver_locked(s, fr, t);
            }
            ncheck = access_locked(f, ev, &check);
        }
    }
    pthread_mutex_unlock(&f->mu);
    gw_frame_unref(fr);
    if (fresh && f->on_event)
        f->on_event(f->on_event_arg, ev);
    for (size_t i = 0; i < ncheck; i++)
        start_check(check[i]);
    free(check);
    return CF_OK;
}

/* ---------------------------------------------------------------- subscriptions */

static void sub_free(gw_feed_sub *s)
{
    for (size_t i = 0; i < s->npend; i++)
        gw_frame_unref(s->pend[i].frame);
    free(s->pend);
    free(s->authz);
    free(s);
}

/* Is source i's remainder (after s->from[i]) in the ring, or nothing at all? */
static bool ring_covers(const gw_feed *f, const gw_feed_sub *s, size_t i)
{
    return s->from[i] >= f->hi[i] || s->from[i] + 1 >= f->covered_from[i];
}

/* The switch to live, under the lock: replayed frames, then the ring's part, then
 * "subscribed", then the subscriber joins the room's list. If the room's access stamp moved
 * since the caller checked the access, all of it is held and true is returned (rpc_busy set):
 * the caller starts the re-check once unlocked. */
static bool finish_locked(gw_feed *f, gw_feed_sub *s)
{
    bool check = f->stamps[bucket_of(s->room)] != s->stamp;
    s->held = check;
    if (!check)
        flush_pend_locked(s);
    json_t *pos = json_object();
    for (size_t i = 0; i < GW_FEED_NSRC; i++) {
        const ring *r = &f->rings[i];
        if (s->from[i] < f->hi[i])
            for (size_t k = 0; k < r->n; k++) {
                const ring_ent *e = &r->e[(r->head + k) % r->cap];
                if (e->seq > s->from[i] && strcmp(e->room, s->room) == 0)
                    deliver_locked(s, e->frame, e->time_us);
            }
        s->after[i] = s->from[i] > f->hi[i] ? s->from[i] : f->hi[i];
        char num[24];
        snprintf(num, sizeof num, "%" PRId64, s->after[i]);
        json_object_set_new(pos, gw_feed_sources[i], json_string(num));
    }
    json_t *m =
        json_pack("{s:s,s:s,s:o}", "type", "subscribed", "roomId", s->room, "positions", pos);
    char *text = json_dumps(m, JSON_COMPACT);
    json_decref(m);
    gw_frame *fr = gw_frame_new(WS_OP_TEXT, text, strlen(text));
    free(text);
    deliver_locked(s, fr, INT64_MAX); /* "subscribed" is no event: never bounded */
    gw_frame_unref(fr);
    room_node *n = room_find(f, s->room, true);
    if (n->n == n->cap) {
        n->cap = n->cap ? 2 * n->cap : 4;
        n->subs = xrealloc(n->subs, n->cap * sizeof *n->subs);
    }
    n->subs[n->n++] = s;
    s->state = SUB_LIVE;
    if (check)
        busy_locked(s, true);
    return check;
}

/* Picks the next source that still needs Replay (re-checking against the ring, which may have
 * caught up); false when none does. Under the lock. */
static bool next_replay_locked(gw_feed *f, gw_feed_sub *s)
{
    for (size_t i = 0; i < GW_FEED_NSRC; i++) {
        if (s->replay[i] && ring_covers(f, s, i))
            s->replay[i] = false;
        if (s->replay[i]) {
            s->cur = i;
            return true;
        }
    }
    return false;
}

static void fail_locked(gw_feed_sub *s, cf_code code, const char *msg)
{
    s->state = SUB_FAILED;
    s->sink.fail(s->sink.owner, code, msg);
}

static void on_replay(rpc_ccall *cc, void *arg);

/* Starts the Replay of s->cur from s->from+1. Not under the lock (the completion may run
 * synchronously). */
static void start_replay(gw_feed_sub *s)
{
    gw_feed *f = s->feed;
    Events__V1__ReplayRequest req = EVENTS__V1__REPLAY_REQUEST__INIT;
    req.from_seq = s->from[s->cur] + 1;
    req.limit = REPLAY_LIMIT;
    rpc_ccall_init(&s->cc, NULL);
    s->cc.timeout_ms = REPLAY_MS;
    if (!f->replay[s->cur]) {
        s->cc.code = CF_UNAVAILABLE;
        s->cc.message = "source not configured";
        on_replay(&s->cc, s);
        return;
    }
    rpc_client_invoke_async(f->replay[s->cur], &events__v1__events__descriptor, 0, &req.base,
                            &s->cc, on_replay, s);
}

static void on_replay(rpc_ccall *cc, void *arg)
{
    gw_feed_sub *s = arg;
    gw_feed *f = s->feed;
    size_t i = s->cur;
    int64_t next = s->from[i] + 1;
    bool lost = false, at_end = false;
    pend_ent *got = NULL;
    size_t ngot = 0;
    cf_code code = cc->code;
    if (code == CF_OK) {
        const Events__V1__ReplayResponse *r = (const void *)cc->response;
        if (r->n_events == 0) {
            lost = r->last_seq >= next; /* numbered but no longer kept */
            at_end = !lost;
        } else if (r->events[0]->seq > next) {
            lost = true;
        } else {
            got = xcalloc(r->n_events, sizeof *got);
            for (size_t k = 0; k < r->n_events; k++) {
                const Events__V1__Event *ev = r->events[k];
                if (ev->seq < next || ev->seq == INT64_MAX) /* INT64_MAX: no next one */
                    continue;
                if (strcmp(ev->room_id, s->room) == 0) {
                    gw_frame *fr = event_frame(ev);
                    if (fr)
                        got[ngot++] = (pend_ent){fr, ev_time_us(ev)};
                }
                next = ev->seq + 1;
            }
            at_end = next > r->last_seq;
        }
    }
    char msg[160];
    snprintf(msg, sizeof msg, "%s", cc->message);
    rpc_ccall_free(cc);

    pthread_mutex_lock(&f->mu);
    busy_locked(s, false);
    if (s->cancelled) {
        pthread_mutex_unlock(&f->mu);
        for (size_t k = 0; k < ngot; k++)
            gw_frame_unref(got[k].frame);
        free(got);
        sub_free(s);
        return;
    }
    if (code != CF_OK || lost) {
        for (size_t k = 0; k < ngot; k++)
            gw_frame_unref(got[k].frame);
        free(got);
        if (lost) {
            char why[128];
            snprintf(why, sizeof why, "%s events after %" PRId64 " are no longer kept",
                     gw_feed_sources[i], s->from[i]);
            fail_locked(s, CF_OUT_OF_RANGE, why);
        } else {
            log_warn("ws feed: replay from %s: %s: %s", gw_feed_sources[i], cf_code_name(code),
                     msg);
            fail_locked(s, CF_UNAVAILABLE, "events unavailable");
        }
        pthread_mutex_unlock(&f->mu);
        return;
    }
    size_t nvis = 0; /* only what this reader may see counts against the bound (and is kept) */
    for (size_t k = 0; k < ngot; k++)
        nvis += visible_locked(s, got[k].time_us);
    if (f->resume_max && s->npend + nvis > f->resume_max) { /* issue 24 item 1 */
        for (size_t k = 0; k < ngot; k++)
            gw_frame_unref(got[k].frame);
        free(got);
        char why[160];
        snprintf(why, sizeof why,
                 "more than %zu events to resume: subscribe without resume and read the room's "
                 "state",
                 f->resume_max);
        fail_locked(s, CF_OUT_OF_RANGE, why);
        pthread_mutex_unlock(&f->mu);
        return;
    }
    if (s->npend + ngot > s->cappend) {
        s->cappend = s->npend + ngot + 16;
        s->pend = xrealloc(s->pend, s->cappend * sizeof *s->pend);
    }
    for (size_t k = 0; k < ngot; k++) { /* what the reader could not see is not even kept */
        if (visible_locked(s, got[k].time_us))
            s->pend[s->npend++] = got[k];
        else
            gw_frame_unref(got[k].frame);
    }
    free(got);
    /* At the source's end of this answer, the rest is live: but events that came after the
     * answer's snapshot reached the ring meanwhile, and the ring may no longer hold the first
     * of them (ws.ring 1: only the last). So at_end ends the Replay only when this round
     * brought nothing new; otherwise next_replay_locked decides: the ring covers the rest (the
     * usual case, no call), or another round fetches it (issue 13 item 8: a stress run lost
     * the event between; test replay_in_flight_misses_nothing). */
    bool progressed = next > s->from[i] + 1;
    s->from[i] = next - 1;
    if (at_end && !progressed)
        s->replay[i] = false;
    if (!next_replay_locked(f, s)) {
        bool check = finish_locked(f, s);
        pthread_mutex_unlock(&f->mu);
        if (check)
            start_check(s);
        return;
    }
    busy_locked(s, true);
    pthread_mutex_unlock(&f->mu);
    start_replay(s);
}

/* ---------------------------------------------------------------- access re-checks */

static void on_check(rpc_ccall *cc, void *arg);

/* Asks rooms whether s's connection may still see the room (s->rpc_busy is set by the caller,
 * which does not hold the lock). */
static void start_check(gw_feed_sub *s)
{
    gw_feed *f = s->feed;
    pthread_mutex_lock(&f->mu);
    if (s->cancelled) {
        busy_locked(s, false);
        pthread_mutex_unlock(&f->mu);
        sub_free(s);
        return;
    }
    free(s->authz);
    s->authz = s->sink.authz(s->sink.owner); /* the connection lives while s is subscribed */
    pthread_mutex_unlock(&f->mu);
    Rooms__V1__GetRoomRequest req = ROOMS__V1__GET_ROOM_REQUEST__INIT;
    req.room_id = s->room;
    rpc_ccall_init(&s->cc, NULL);
    s->cc.timeout_ms = (int)f->check_ms;
    if (!f->replay[0] || !s->authz) {
        s->cc.code = !s->authz ? CF_UNAUTHENTICATED : CF_UNAVAILABLE;
        s->cc.message = "cannot check";
        on_check(&s->cc, s);
        return;
    }
    rpc_ccall_md(&s->cc, "authorization", s->authz);
    rpc_client_invoke_async(f->replay[0], &rooms__v1__rooms__descriptor, f->getroom_index,
                            &req.base, &s->cc, on_check, s);
}

static void on_check(rpc_ccall *cc, void *arg)
{
    gw_feed_sub *s = arg;
    gw_feed *f = s->feed;
    cf_code code = cc->code;
    /* the reader's history bound now (a member who left and came back sees from the return:
     * nothing of the room while away); an unbounded reader (an admin) stays so */
    int64_t since = INT64_MIN;
    if (code == CF_OK)
        since = gw_feed_visible_since(cc->response, s->since == INT64_MIN);
    rpc_ccall_free(cc);
    pthread_mutex_lock(&f->mu);
    free(s->authz);
    s->authz = NULL;
    busy_locked(s, false);
    if (s->cancelled) {
        pthread_mutex_unlock(&f->mu);
        sub_free(s);
        return;
    }
    if (s->state != SUB_LIVE) { /* ended meanwhile (room deleted) */
        pthread_mutex_unlock(&f->mu);
        return;
    }
    if (code == CF_OK && s->again && !s->overflow) {
        s->again = false;
        busy_locked(s, true);
        pthread_mutex_unlock(&f->mu);
        start_check(s);
        return;
    }
    if (code == CF_OK && !s->overflow) {
        s->held = false;
        s->since = since;
        flush_pend_locked(s);
    } else if (s->overflow) {
        end_locked(f, s, "too many events while access was re-checked");
    } else if (code == CF_NOT_FOUND || code == CF_PERMISSION_DENIED) {
        end_locked(f, s, "no longer allowed to see the room");
    } else if (code == CF_UNAUTHENTICATED) {
        end_locked(f, s, "the token is no longer valid");
    } else {
        log_warn("ws feed: access re-check of room %s: %s", s->room, cf_code_name(code));
        end_locked(f, s, "access could not be re-checked");
    }
    pthread_mutex_unlock(&f->mu);
}

uint64_t gw_feed_stamp(gw_feed *f, const char *room_id)
{
    pthread_mutex_lock(&f->mu);
    uint64_t v = f->stamps[bucket_of(room_id)];
    pthread_mutex_unlock(&f->mu);
    return v;
}

bool gw_feed_ended(gw_feed *f, gw_feed_sub *s)
{
    pthread_mutex_lock(&f->mu);
    bool v = s->state == SUB_ENDED;
    pthread_mutex_unlock(&f->mu);
    return v;
}

gw_feed_sub *gw_feed_subscribe(gw_feed *f, const char *room_id, const char *user_id, uint64_t stamp,
                               int64_t since_us, const int64_t resume[GW_FEED_NSRC],
                               const gw_feed_sink *sink)
{
    gw_feed_sub *s = xcalloc(1, sizeof *s);
    s->feed = f;
    s->sink = *sink;
    s->stamp = stamp;
    s->since = since_us;
    snprintf(s->room, sizeof s->room, "%s", room_id);
    snprintf(s->user, sizeof s->user, "%s", user_id);
    pthread_mutex_lock(&f->mu);
    for (size_t i = 0; i < GW_FEED_NSRC; i++) {
        s->from[i] = resume[i] < 0 ? f->hi[i] : resume[i];
        s->replay[i] = !ring_covers(f, s, i);
    }
    if (!next_replay_locked(f, s)) {
        bool check = finish_locked(f, s);
        pthread_mutex_unlock(&f->mu);
        if (check)
            start_check(s);
        return s;
    }
    s->state = SUB_PENDING;
    busy_locked(s, true);
    pthread_mutex_unlock(&f->mu);
    start_replay(s);
    return s;
}

void gw_feed_unsubscribe(gw_feed *f, gw_feed_sub *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&f->mu);
    if (s->state == SUB_LIVE)
        room_remove(f, s);
    if (s->rpc_busy) {
        s->cancelled = true;
        pthread_mutex_unlock(&f->mu);
        return;
    }
    pthread_mutex_unlock(&f->mu);
    sub_free(s);
}

size_t gw_feed_ring_bytes(gw_feed *f)
{
    pthread_mutex_lock(&f->mu);
    size_t v = 0;
    for (size_t i = 0; i < GW_FEED_NSRC; i++)
        v += f->rings[i].bytes;
    pthread_mutex_unlock(&f->mu);
    return v;
}

int64_t gw_feed_position(gw_feed *f, size_t i)
{
    pthread_mutex_lock(&f->mu);
    int64_t v = i < GW_FEED_NSRC ? f->hi[i] : -1;
    pthread_mutex_unlock(&f->mu);
    return v;
}

/* ---------------------------------------------------------------- lifetime */

/* The source's last assigned seq, or -1 if it does not answer. Blocks. */
static int64_t probe_position(rpc_client *c)
{
    if (!c)
        return -1;
    Events__V1__ReplayRequest req = EVENTS__V1__REPLAY_REQUEST__INIT;
    req.from_seq = INT64_MAX / 2;
    req.limit = 1;
    rpc_ccall cc;
    rpc_ccall_init(&cc, NULL);
    cc.timeout_ms = 2000;
    rpc_client_invoke(c, &events__v1__events__descriptor, 0, &req.base, &cc);
    int64_t v = cc.code == CF_OK ? ((Events__V1__ReplayResponse *)cc.response)->last_seq : -1;
    rpc_ccall_free(&cc);
    return v;
}

cf_code gw_feed_start(const gw_feed_config *cfg, gw_feed **out, char *err, size_t errlen)
{
    gw_feed *f = xcalloc(1, sizeof *f);
    f->on_event = cfg->on_event;
    f->on_event_arg = cfg->on_event_arg;
    f->resume_max = cfg->resume_max;
    f->check_ms = cfg->check_ms > 0 ? cfg->check_ms : CHECK_MS;
    pthread_mutex_init(&f->mu, NULL);
    const ProtobufCMethodDescriptor *md =
        protobuf_c_service_descriptor_get_method_by_name(&rooms__v1__rooms__descriptor, "GetRoom");
    f->getroom_index = (unsigned)(md - rooms__v1__rooms__descriptor.methods);
    events_source src[GW_FEED_NSRC];
    size_t n = 0;
    for (size_t i = 0; i < GW_FEED_NSRC; i++) {
        f->replay[i] = cfg->replay[i];
        f->rings[i].cap = cfg->ring ? cfg->ring : 1;
        f->rings[i].e = xcalloc(f->rings[i].cap, sizeof *f->rings[i].e);
        f->rings[i].max_bytes = cfg->ring_bytes;
        int64_t pos = probe_position(cfg->replay[i]);
        f->hi[i] = pos > 0 ? pos : 0;
        f->covered_from[i] = f->hi[i] + 1;
        const cfg_strlist *u = cfg->replay_urls[i];
        if (!u || u->n == 0)
            continue;
        src[n++] = (events_source){.name = gw_feed_sources[i],
                                   .replay_urls = (const char *const *)u->items,
                                   .nurls = u->n,
                                   .after_seq = f->hi[i]};
    }
    events_sub_config sc = {.bus = cfg->bus,
                            .sources = src,
                            .nsources = n,
                            .consume = consume,
                            .arg = f,
                            .ident = cfg->ident};
    cf_code c = events_sub_start(&sc, &f->sub, err, errlen);
    if (c != CF_OK) {
        gw_feed_stop(f);
        return c;
    }
    log_info("ws feed: following rooms from %" PRId64 " and draw from %" PRId64 " on %s", f->hi[0],
             f->hi[1], cfg->bus);
    *out = f;
    return CF_OK;
}

void gw_feed_stop(gw_feed *f)
{
    if (!f)
        return;
    events_sub_stop(f->sub);
    /* Replays and re-checks of subscriptions already removed may still be in flight */
    pthread_mutex_lock(&f->mu);
    int64_t deadline = cf_mono_ns() + (f->check_ms + 1000) * 1000000;
    while (f->inflight > 0 && cf_mono_ns() < deadline) {
        pthread_mutex_unlock(&f->mu);
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
        pthread_mutex_lock(&f->mu);
    }
    if (f->inflight)
        log_warn("ws feed: %zu RPCs still in flight at stop", f->inflight);
    pthread_mutex_unlock(&f->mu);
    for (size_t i = 0; i < GW_FEED_NSRC; i++) {
        ring *r = &f->rings[i];
        for (size_t k = 0; k < r->n; k++)
            gw_frame_unref(r->e[(r->head + k) % r->cap].frame);
        free(r->e);
    }
    for (size_t b = 0; b < NBUCKETS; b++)
        while (f->buckets[b]) {
            room_node *n = f->buckets[b];
            f->buckets[b] = n->next;
            free(n->subs);
            free(n);
        }
    pthread_mutex_destroy(&f->mu);
    free(f);
}
