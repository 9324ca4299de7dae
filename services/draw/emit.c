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

cf_code emit_winner_drawn(db_conn *db, const char *room_id, const char *prize_id,
                          const char *draw_id, const char *const *winner_ids,
                          const char *const *user_ids, size_t k)
{
    Events__V1__WinnerDrawn__Winner *w = xcalloc(k ? k : 1, sizeof *w);
    Events__V1__WinnerDrawn__Winner **wp = xcalloc(k ? k : 1, sizeof *wp);
    for (size_t i = 0; i < k; i++) {
        events__v1__winner_drawn__winner__init(&w[i]);
        w[i].winner_id = (char *)winner_ids[i];
        w[i].user_id = (char *)user_ids[i];
        wp[i] = &w[i];
    }
    Events__V1__WinnerDrawn b = EVENTS__V1__WINNER_DRAWN__INIT;
    b.draw_id = (char *)draw_id;
    b.prize_id = (char *)prize_id;
    b.winners = wp;
    b.n_winners = k;
    Events__V1__Event ev = EVENTS__V1__EVENT__INIT;
    ev.body_case = EVENTS__V1__EVENT__BODY_WINNER_DRAWN;
    ev.winner_drawn = &b;
    cf_code code = add(db, room_id, &ev);
    free(wp);
    free(w);
    return code;
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
