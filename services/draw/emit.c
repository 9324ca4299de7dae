/* emit.c — building draw's events and adding them to the outbox (see emit.h). */
#include "emit.h"

#include <stdlib.h>

#include "base/xmalloc.h"
#include "events/events.h"

static cf_code add(db_conn *db, const char *room_id, Events__V1__Event *ev)
{
    ev->source = "draw";
    ev->room_id = (char *)room_id;
    return events_outbox_add(db, ev);
}

static cf_code prize_event(db_conn *db, const store_prize *p, bool created)
{
    Events__V1__PrizeCreated c = EVENTS__V1__PRIZE_CREATED__INIT;
    Events__V1__PrizeUpdated u = EVENTS__V1__PRIZE_UPDATED__INIT;
    Events__V1__Event ev = EVENTS__V1__EVENT__INIT;
    if (created) {
        c.prize_id = p->id;
        c.name = p->name;
        c.quantity = p->quantity;
        ev.body_case = EVENTS__V1__EVENT__BODY_PRIZE_CREATED;
        ev.prize_created = &c;
    } else {
        u.prize_id = p->id;
        u.name = p->name;
        u.quantity = p->quantity;
        ev.body_case = EVENTS__V1__EVENT__BODY_PRIZE_UPDATED;
        ev.prize_updated = &u;
    }
    return add(db, p->room_id, &ev);
}

cf_code emit_prize_created(db_conn *db, const store_prize *p)
{
    return prize_event(db, p, true);
}

cf_code emit_prize_updated(db_conn *db, const store_prize *p)
{
    return prize_event(db, p, false);
}

cf_code emit_prize_deleted(db_conn *db, const char *room_id, const char *prize_id)
{
    Events__V1__PrizeDeleted b = EVENTS__V1__PRIZE_DELETED__INIT;
    b.prize_id = (char *)prize_id;
    Events__V1__Event ev = EVENTS__V1__EVENT__INIT;
    ev.body_case = EVENTS__V1__EVENT__BODY_PRIZE_DELETED;
    ev.prize_deleted = &b;
    return add(db, room_id, &ev);
}

/* The winner.drawn event of one draw (SPEC §5); its arrays are owned, drawn_free frees them. */
typedef struct drawn {
    Events__V1__WinnerDrawn__Winner *w;
    Events__V1__WinnerDrawn__Winner **wp;
    Events__V1__WinnerDrawn body;
    Events__V1__Event ev;
} drawn;

static void drawn_init(drawn *d, const char *room_id, const char *prize_id, const char *draw_id,
                       const char *const *winner_ids, const char *const *user_ids, size_t k)
{
    d->w = xcalloc(k ? k : 1, sizeof *d->w);
    d->wp = xcalloc(k ? k : 1, sizeof *d->wp);
    for (size_t i = 0; i < k; i++) {
        events__v1__winner_drawn__winner__init(&d->w[i]);
        d->w[i].winner_id = (char *)winner_ids[i];
        d->w[i].user_id = (char *)user_ids[i];
        d->wp[i] = &d->w[i];
    }
    events__v1__winner_drawn__init(&d->body);
    d->body.draw_id = (char *)draw_id;
    d->body.prize_id = (char *)prize_id;
    d->body.winners = d->wp;
    d->body.n_winners = k;
    events__v1__event__init(&d->ev);
    d->ev.body_case = EVENTS__V1__EVENT__BODY_WINNER_DRAWN;
    d->ev.winner_drawn = &d->body;
    d->ev.source = "draw";
    d->ev.room_id = (char *)room_id;
}

static void drawn_free(drawn *d)
{
    free(d->wp);
    free(d->w);
}

cf_code emit_winner_drawn(db_conn *db, const char *room_id, const char *prize_id,
                          const char *draw_id, const char *const *winner_ids,
                          const char *const *user_ids, size_t k)
{
    drawn d;
    drawn_init(&d, room_id, prize_id, draw_id, winner_ids, user_ids, k);
    cf_code code = events_outbox_add(db, &d.ev);
    drawn_free(&d);
    return code;
}

void emit_winner_drawn_row(const char *room_id, const char *prize_id, const char *draw_id,
                           const char *const *winner_ids, const char *const *user_ids, size_t k,
                           events_outbox_row *row)
{
    drawn d;
    drawn_init(&d, room_id, prize_id, draw_id, winner_ids, user_ids, k);
    events_outbox_row_make(&d.ev, row);
    drawn_free(&d);
}

cf_code emit_winner_revoked(db_conn *db, const char *room_id, const char *prize_id,
                            const char *winner_id, const char *user_id, const char *reason)
{
    Events__V1__WinnerRevoked b = EVENTS__V1__WINNER_REVOKED__INIT;
    b.winner_id = (char *)winner_id;
    b.prize_id = (char *)prize_id;
    b.user_id = (char *)user_id;
    b.reason = (char *)(reason ? reason : "");
    Events__V1__Event ev = EVENTS__V1__EVENT__INIT;
    ev.body_case = EVENTS__V1__EVENT__BODY_WINNER_REVOKED;
    ev.winner_revoked = &b;
    return add(db, room_id, &ev);
}
