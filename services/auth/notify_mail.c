/* notify_mail.c — "a winner is told they won" (notify.h): draw's winner.drawn events become
 * rows of notification_mails, and a sender thread mails them.
 *
 * Exactly one mail per (draw, winner): the consumer writes the row (ON CONFLICT DO NOTHING)
 * and the saved position in one transaction, so an event handled again — Replay after a loss,
 * a restart, the same event reaching another replica — finds the row and adds nothing. The
 * sender claims one due row at a time (FOR UPDATE SKIP LOCKED, replicas never take the same
 * row), sends, and marks it sent only if its claim is still the current one. The one window
 * left is a crash between the server accepting the mail and that mark: the claim's lease ends
 * and the mail goes again (SMTP offers no way to ask whether a mail was taken). */
#include "auth.h"
#include "notify.h"
#include "store.h"

#include <errno.h>
#include <stdatomic.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "base/random.h"
#include "base/xmalloc.h"
#include "db/tx.h"
#include "draw/v1/draw.pb-c.h"
#include "events/subscriber.h"
#include "svc/startwait.h"
#include "rooms/v1/rooms.pb-c.h"

/* A claimed mail's lease: a sender that dies mid-mail leaves it to another after this. */
#define LEASE_S 300
/* The first retry's delay; each next one doubles, up to notify.retry_max. */
#define RETRY_FIRST_S 5

struct auth_notifier {
    auth_ctx *ctx;
    db_conn *sub_db;  /* the subscriber thread's */
    db_conn *send_db; /* the sender thread's */
    events_sub *sub;
    rpc_client *draw, *rooms;
    mailer *mailer;
    pthread_t sender;
    bool sender_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stopping, kicked;
    _Atomic uint64_t sent, retried, failed; /* /metrics */
};

static void kick(auth_notifier *n)
{
    pthread_mutex_lock(&n->mu);
    n->kicked = true;
    pthread_cond_signal(&n->cv);
    pthread_mutex_unlock(&n->mu);
}

/* ---- the consumer: draw's events ---- */

typedef struct consumed {
    auth_notifier *n;
    const Events__V1__Event *ev;
    int64_t now;
    size_t added;
} consumed;

static cf_code consume_tx(db_conn *db, void *arg)
{
    consumed *c = arg;
    const Events__V1__Event *ev = c->ev;
    c->added = 0;
    cf_code code = CF_OK;
    if (ev->body_case == EVENTS__V1__EVENT__BODY_WINNER_DRAWN && ev->winner_drawn && *ev->room_id &&
        *ev->winner_drawn->draw_id) {
        const Events__V1__WinnerDrawn *w = ev->winner_drawn;
        char now[24];
        snprintf(now, sizeof now, "%" PRId64, c->now);
        for (size_t i = 0; code == CF_OK && i < w->n_winners; i++) {
            const char *user = w->winners[i]->user_id;
            bool on = false;
            char email[320];
            code = notify_won_email(db, user, ev->room_id, &on, email);
            if (code == CF_NOT_FOUND) { /* no such user here (deleted, or not ours) */
                code = CF_OK;
                continue;
            }
            if (code != CF_OK || !on || !*email)
                continue;
            const char *p[] = {w->draw_id, user, ev->room_id, w->prize_id, ev->id, now};
            PGresult *r = NULL;
            code = db_exec_sql(db,
                               "INSERT INTO notification_mails (draw_id, user_id, room_id, "
                               "prize_id, event_id, state, next_at) VALUES ($1, $2, $3, $4, $5, "
                               "'pending', $6::bigint) ON CONFLICT (draw_id, user_id) DO NOTHING "
                               "RETURNING 1",
                               6, p, &r);
            if (code == CF_OK) {
                c->added += (size_t)PQntuples(r);
                PQclear(r);
            }
        }
    } else if (ev->body_case == EVENTS__V1__EVENT__BODY_WINNER_REVOKED && ev->winner_revoked) {
        /* a win revoked before its mail went: the mail does not go (one being sent right now
         * may still go; its sender's mark then finds the row failed and leaves it so) */
        const char *p[] = {ev->winner_revoked->prize_id, ev->winner_revoked->user_id};
        code = db_exec_sql(db,
                           "UPDATE notification_mails SET state = 'failed', last_error = "
                           "'the win was revoked', updated_at = now() WHERE prize_id = $1 AND "
                           "user_id = $2 AND state IN ('pending', 'sending')",
                           2, p, NULL);
    }
    if (code != CF_OK)
        return code;
    char seq[24];
    snprintf(seq, sizeof seq, "%" PRId64, ev->seq);
    const char *p[] = {ev->source, seq};
    /* replicas share the row: it never goes back */
    return db_exec_sql(db,
                       "INSERT INTO event_positions (source, seq) VALUES ($1, $2::bigint) ON "
                       "CONFLICT (source) DO UPDATE SET seq = GREATEST(event_positions.seq, "
                       "excluded.seq)",
                       2, p, NULL);
}

static cf_code consume(void *arg, const Events__V1__Event *ev)
{
    auth_notifier *n = arg;
    consumed c = {.n = n, .ev = ev, .now = auth_now(n->ctx)};
    cf_code code = db_conn_ensure(n->sub_db);
    if (code == CF_OK)
        code = db_tx(n->sub_db, consume_tx, &c);
    if (code == CF_OK && c.added)
        kick(n);
    return code;
}

/* ---- the sender ---- */

typedef struct claimed {
    char draw_id[64], user_id[64], room_id[128], prize_id[128];
    int attempts;
} claimed;

/* Claims the oldest due mail: true with *m filled, false when none is due (or on an error). */
static bool claim(auth_notifier *n, int64_t now, claimed *m)
{
    char t[24], lease[24];
    snprintf(t, sizeof t, "%" PRId64, now);
    snprintf(lease, sizeof lease, "%" PRId64, now + LEASE_S);
    const char *p[] = {t, lease};
    PGresult *r = NULL;
    if (db_exec_sql(n->send_db,
                    "UPDATE notification_mails m SET state = 'sending', attempts = m.attempts + 1, "
                    "next_at = $2::bigint, updated_at = now() FROM (SELECT draw_id, user_id FROM "
                    "notification_mails WHERE state IN ('pending', 'sending') AND next_at <= "
                    "$1::bigint ORDER BY next_at LIMIT 1 FOR UPDATE SKIP LOCKED) d WHERE "
                    "m.draw_id = d.draw_id AND m.user_id = d.user_id RETURNING m.draw_id, "
                    "m.user_id, m.room_id, m.prize_id, m.attempts",
                    2, p, &r) != CF_OK)
        return false;
    bool got = PQntuples(r) == 1;
    if (got) {
        snprintf(m->draw_id, sizeof m->draw_id, "%s", PQgetvalue(r, 0, 0));
        snprintf(m->user_id, sizeof m->user_id, "%s", PQgetvalue(r, 0, 1));
        snprintf(m->room_id, sizeof m->room_id, "%s", PQgetvalue(r, 0, 2));
        snprintf(m->prize_id, sizeof m->prize_id, "%s", PQgetvalue(r, 0, 3));
        m->attempts = atoi(PQgetvalue(r, 0, 4));
    }
    PQclear(r);
    return got;
}

/* Ends a claim: sent, failed for good, or due again after a delay (state pending). Only the
 * claim still current (same attempts, still sending) is changed. */
static void finish(auth_notifier *n, const claimed *m, const char *state, int64_t next_at,
                   const char *why)
{
    char att[16], next[24];
    snprintf(att, sizeof att, "%d", m->attempts);
    snprintf(next, sizeof next, "%" PRId64, next_at);
    const char *p[] = {m->draw_id, m->user_id, att, state, next, why ? why : ""};
    if (db_exec_sql(n->send_db,
                    "UPDATE notification_mails SET state = $4, next_at = $5::bigint, last_error "
                    "= $6, updated_at = now() WHERE draw_id = $1 AND user_id = $2 AND attempts = "
                    "$3::integer AND state = 'sending'",
                    6, p, NULL) != CF_OK)
        log_warn("notify: cannot record the mail of draw %s to %s as %s", m->draw_id, m->user_id,
                 state);
}

/* The name of the room or the prize as the winner sees it: CF_OK with *name (new string); the
 * id when the object is gone or hidden (NOT_FOUND, PERMISSION_DENIED) or no client is set; any
 * other failure is returned (the mail is retried). */
static cf_code name_of(auth_notifier *n, rpc_client *c, const ProtobufCServiceDescriptor *d,
                       const char *method, const ProtobufCMessage *req, const char *bearer,
                       const char *id, char **name)
{
    *name = NULL;
    if (!c) {
        *name = xstrdup(id);
        return CF_OK;
    }
    const ProtobufCMethodDescriptor *md =
        protobuf_c_service_descriptor_get_method_by_name(d, method);
    rpc_ccall cc;
    rpc_ccall_init(&cc, NULL);
    cc.timeout_ms = (int)n->ctx->cfg->notify.timeout;
    rpc_ccall_md(&cc, "authorization", bearer);
    rpc_client_invoke(c, d, (unsigned)(md - d->methods), req, &cc);
    cf_code code = cc.code;
    if (code == CF_OK) {
        /* Room and Prize both have `name` as field 2 or 3: read it by name */
        const ProtobufCFieldDescriptor *f =
            protobuf_c_message_descriptor_get_field_by_name(cc.response->descriptor, "name");
        const char *v = f ? *(const char *const *)((const char *)cc.response + f->offset) : NULL;
        *name = xstrdup(v && *v ? v : id);
    } else if (code == CF_NOT_FOUND || code == CF_PERMISSION_DENIED) {
        *name = xstrdup(id);
        code = CF_OK;
    }
    rpc_ccall_free(&cc);
    return code;
}

static cf_code send_one(auth_notifier *n, const claimed *m, const char **why, bool *permanent)
{
    auth_ctx *ctx = n->ctx;
    *permanent = false;
    char email[320];
    bool on = false;
    cf_code code = notify_won_email(n->send_db, m->user_id, m->room_id, &on, email);
    if (code == CF_NOT_FOUND || (code == CF_OK && !*email)) {
        *why = "the user has no address any more";
        *permanent = true;
        return CF_NOT_FOUND;
    }
    if (code != CF_OK) {
        *why = "cannot read the user";
        return code;
    }
    if (!on) { /* turned off since the win: the latest word counts */
        *why = "e-mail turned off before the mail went";
        *permanent = true;
        return CF_FAILED_PRECONDITION;
    }
    /* a token of the winner's own for the names: what the winner may see, nothing more */
    char jti[48];
    cf_random_token(jti, 18);
    char *tok = NULL;
    if (auth_sign_access(ctx, m->user_id, NULL, jti, auth_now(ctx), false, &tok) != CF_OK) {
        *why = "cannot sign a token";
        return CF_INTERNAL;
    }
    char *bearer = xasprintf("Bearer %s", tok);
    free(tok);
    Rooms__V1__GetRoomRequest rr = ROOMS__V1__GET_ROOM_REQUEST__INIT;
    rr.room_id = (char *)m->room_id;
    Draw__V1__GetPrizeRequest pr = DRAW__V1__GET_PRIZE_REQUEST__INIT;
    pr.room_id = (char *)m->room_id;
    pr.prize_id = (char *)m->prize_id;
    char *room = NULL, *prize = NULL;
    code = name_of(n, n->rooms, &rooms__v1__rooms__descriptor, "GetRoom", &rr.base, bearer,
                   m->room_id, &room);
    if (code == CF_OK)
        code = name_of(n, n->draw, &draw__v1__draw__descriptor, "GetPrize", &pr.base, bearer,
                       m->prize_id, &prize);
    free(bearer);
    if (code != CF_OK) {
        *why = "cannot read the room or the prize";
        free(room);
        free(prize);
        return code;
    }
    char *body = xasprintf("Congratulations! You won \"%s\" in the room \"%s\".\n\n"
                           "Room: %s\nPrize: %s\nDraw: %s\n\n"
                           "You get this mail because your notification settings send wins by "
                           "e-mail (GET or PATCH /v1/users/me/notifications to change them).\n",
                           prize, room, m->room_id, m->prize_id, m->draw_id);
    free(room);
    free(prize);
    char err[256];
    /* the subject is fixed: nothing a user chose goes into a header */
    mail_msg msg = {.to = email, .subject = "You won a prize", .body = body};
    code = mailer_send(n->mailer, &msg, err, sizeof err);
    free(body);
    if (code == CF_INVALID_ARGUMENT) {
        *why = "not a deliverable address";
        *permanent = true;
    } else if (code != CF_OK) {
        *why = "the mail server refused or cannot be reached";
        log_warn("notify: the mail of draw %s to user %s: %s", m->draw_id, m->user_id, err);
    }
    return code;
}

/* Sends every due mail; true when it did something (look again at once). */
static bool send_due(auth_notifier *n)
{
    if (db_conn_ensure(n->send_db) != CF_OK)
        return false;
    int64_t now = auth_now(n->ctx);
    claimed m;
    if (!claim(n, now, &m))
        return false;
    const char *why = NULL;
    bool permanent = false;
    cf_code code = send_one(n, &m, &why, &permanent);
    if (code == CF_OK) {
        finish(n, &m, "sent", now, NULL);
        atomic_fetch_add(&n->sent, 1);
    } else if (permanent || m.attempts >= n->ctx->cfg->notify.max_attempts) {
        finish(n, &m, "failed", now, why);
        atomic_fetch_add(&n->failed, 1);
    } else {
        atomic_fetch_add(&n->retried, 1);
        int64_t delay = RETRY_FIRST_S, max = n->ctx->cfg->notify.retry_max / 1000;
        for (int i = 1; i < m.attempts && delay < max; i++)
            delay *= 2;
        finish(n, &m, "pending", now + (delay < max ? delay : max), why);
    }
    return true;
}

/* How often due mails are looked for without a kick (retries, other replicas' rows). */
#define POLL_S 1

static void *sender(void *arg)
{
    auth_notifier *n = arg;
    pthread_mutex_lock(&n->mu);
    while (!n->stopping) {
        n->kicked = false;
        pthread_mutex_unlock(&n->mu);
        bool more = send_due(n);
        pthread_mutex_lock(&n->mu);
        if (more)
            continue;
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += POLL_S;
        while (!n->stopping && !n->kicked &&
               pthread_cond_timedwait(&n->cv, &n->mu, &until) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&n->mu);
    return NULL;
}

/* ---- /metrics ---- */

static double sent_fn(void *arg)
{
    return (double)atomic_load(&((auth_notifier *)arg)->sent);
}
static double retried_fn(void *arg)
{
    return (double)atomic_load(&((auth_notifier *)arg)->retried);
}
static double failed_fn(void *arg)
{
    return (double)atomic_load(&((auth_notifier *)arg)->failed);
}

static void notify_metrics(auth_notifier *n, metrics *m)
{
    metrics_gauge_fn(m, "confetti_auth_notify_mails_sent_total", "Winner mails this replica sent.",
                     sent_fn, n);
    metrics_gauge_fn(m, "confetti_auth_notify_mails_retried_total",
                     "Winner mail attempts that failed and will be retried.", retried_fn, n);
    metrics_gauge_fn(m, "confetti_auth_notify_mails_failed_total",
                     "Winner mails given up (notify.max_attempts, no address, turned off).",
                     failed_fn, n);
}

/* ---- start, stop ---- */

static rpc_client *client_of(auth_ctx *ctx, const cfg_strlist *urls, char *err, size_t errlen,
                             cf_code *code)
{
    *code = CF_OK;
    if (!urls->n)
        return NULL;
    rpc_client_config cc = {.urls = (const char *const *)urls->items,
                            .nurls = urls->n,
                            .timeout_ms = (int)ctx->cfg->notify.timeout,
                            .ident = svc_ident(ctx->rt)};
    rpc_client *c = NULL;
    *code = rpc_client_new(&cc, &c, err, errlen);
    return c;
}

typedef struct {
    db_conn *db;
    int64_t after;
} position_read;

/* The saved position of draw's events (0 before the first). */
static cf_code read_position(void *arg, char *err, size_t errlen)
{
    position_read *p = arg;
    PGresult *r = NULL;
    const char *v[] = {"draw"};
    cf_code code = db_conn_ensure(p->db);
    if (code == CF_OK)
        code = db_exec_sql(p->db, "SELECT seq FROM event_positions WHERE source = $1", 1, v, &r);
    if (code != CF_OK) {
        snprintf(err, errlen, "notify: cannot read the saved position: %s", cf_code_name(code));
        return code;
    }
    p->after = PQntuples(r) == 1 ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    PQclear(r);
    return CF_OK;
}

cf_code auth_notifier_start(auth_ctx *ctx, const char *bus, auth_notifier **out, char *err,
                            size_t errlen)
{
    *out = NULL;
    auth_notifier *n = xcalloc(1, sizeof *n);
    n->ctx = ctx;
    n->mailer = ctx->password ? auth_password_mailer(ctx->password) : NULL;
    pthread_mutex_init(&n->mu, NULL);
    pthread_cond_init(&n->cv, NULL);
    cf_code code = CF_OK;
    n->draw = client_of(ctx, &ctx->cfg->notify.draw_urls, err, errlen, &code);
    if (code == CF_OK)
        n->rooms = client_of(ctx, &ctx->cfg->notify.rooms_urls, err, errlen, &code);
    if (code != CF_OK) {
        auth_notifier_stop(n);
        return CF_INVALID_ARGUMENT;
    }
    n->sub_db = db_conn_new(svc_config(ctx->rt)->db_dsn, "auth", auth_stmts, auth_nstmts);
    n->send_db = db_conn_new(svc_config(ctx->rt)->db_dsn, "auth", auth_stmts, auth_nstmts);
    db_conn_set_limits(n->sub_db, svc_db_limits(ctx->rt));
    db_conn_set_limits(n->send_db, svc_db_limits(ctx->rt));
    position_read pos = {.db = n->sub_db};
    if (svc_start_retry(svc_config(ctx->rt)->db_start_wait, "auth: draw event position",
                        read_position, &pos, err, errlen) != CF_OK) {
        auth_notifier_stop(n);
        return CF_UNAVAILABLE;
    }
    int64_t after = pos.after;
    events_source src = {.name = "draw",
                         .replay_urls = (const char *const *)ctx->cfg->notify.draw_urls.items,
                         .nurls = ctx->cfg->notify.draw_urls.n,
                         .after_seq = after};
    events_sub_config cfg = {.bus = bus,
                             .sources = &src,
                             .nsources = 1,
                             .consume = consume,
                             .arg = n,
                             .ident = svc_ident(ctx->rt)};
    if ((code = events_sub_start(&cfg, &n->sub, err, errlen)) != CF_OK) {
        auth_notifier_stop(n);
        return code;
    }
    if (svc_metrics(ctx->rt))
        notify_metrics(n, svc_metrics(ctx->rt));
    pthread_create(&n->sender, NULL, sender, n);
    n->sender_started = true;
    *out = n;
    return CF_OK;
}

void auth_notifier_stop(auth_notifier *n)
{
    if (!n)
        return;
    events_sub_stop(n->sub);
    if (n->sender_started) {
        pthread_mutex_lock(&n->mu);
        n->stopping = true;
        pthread_cond_signal(&n->cv);
        pthread_mutex_unlock(&n->mu);
        pthread_join(n->sender, NULL);
    }
    db_conn_free(n->sub_db);
    db_conn_free(n->send_db);
    rpc_client_free(n->draw);
    rpc_client_free(n->rooms);
    pthread_mutex_destroy(&n->mu);
    pthread_cond_destroy(&n->cv);
    free(n);
}
