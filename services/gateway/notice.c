/* notice.c — see notice.h. */
#include "notice.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wsframe.h"

/* RFC 3339 in UTC with milliseconds, as the API writes times; "" when the event has none. */
static void rfc3339(const Events__V1__Event *ev, char out[32])
{
    out[0] = '\0';
    if (!ev->time)
        return;
    time_t t = (time_t)ev->time->seconds;
    struct tm tm;
    if (!gmtime_r(&t, &tm))
        return;
    char base[24];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 32, "%s.%03dZ", base, (int)(ev->time->nanos / 1000000) % 1000);
}

static size_t you_won(gw_ws *w, const Events__V1__Event *ev)
{
    const Events__V1__WinnerDrawn *d = ev->winner_drawn;
    char when[32];
    rfc3339(ev, when);
    size_t n = 0;
    for (size_t i = 0; i < d->n_winners; i++) {
        const Events__V1__WinnerDrawn__Winner *win = d->winners[i];
        if (!win->user_id || !*win->user_id)
            continue;
        json_t *m = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "type", "notice", "kind", "youWon",
                              "roomId", ev->room_id, "drawId", d->draw_id, "prizeId", d->prize_id,
                              "winnerId", win->winner_id, "eventId", ev->id);
        if (m && *when)
            json_object_set_new(m, "time", json_string(when));
        char *text = m ? json_dumps(m, JSON_COMPACT) : NULL;
        json_decref(m);
        if (!text)
            continue; /* not valid UTF-8: nothing a source signs */
        gw_frame *f = gw_frame_new(WS_OP_TEXT, text, strlen(text));
        free(text);
        n += gw_ws_notify_user(w, win->user_id, f);
        gw_frame_unref(f);
    }
    return n;
}

size_t gw_notice_event(gw_ws *w, const Events__V1__Event *ev)
{
    if (!w || strcmp(ev->source, "draw") != 0)
        return 0;
    if (ev->body_case == EVENTS__V1__EVENT__BODY_WINNER_DRAWN && ev->winner_drawn)
        return you_won(w, ev);
    return 0;
}
