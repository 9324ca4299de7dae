/* rpc_search.c — ListRooms?q=: full-text search over rooms' name and description (issue 18
 * item 4; docs/rooms.md, "Search"). rpc_rooms_list_rooms checks the listing's own filters and
 * visibility inputs, then hands a non-empty q here; store_rooms_search applies the listing's
 * visibility rule (store.c VISIBLE_*), so search never shows a room the listing would not, and
 * ranks at most search.max_ranked matches (the answer's searchTruncated says when more match). */
#include "base/name.h"
#include "rooms.h"
#include "page/page.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

cf_code rooms_search_text(rpc_call *call, const char *q, char **text)
{
    *text = NULL;
    if (!q || !*q)
        return CF_OK;
    const char *why;
    if (cf_name_check(rpc_arena(call), q, ROOMS_SEARCH_MAX, text, &why))
        return CF_OK;
    *text = NULL;
    /* only white space: no search, as an empty q (the rule's trimming, name.h) */
    if (strcmp(why, "must not be empty or only white space") == 0)
        return CF_OK;
    return rpc_violation(call, "q", "%s", why);
}

/* A token's rank part: what float4's text output makes (finite, not negative). */
static bool rank_ok(const char *s)
{
    if (!*s)
        return false;
    errno = 0;
    char *end;
    float f = strtof(s, &end);
    return errno == 0 && *end == '\0' && isfinite(f) && f >= 0;
}

cf_code rooms_search(rpc_call *call, store_room_query *q, const char *text, const char *filters,
                     const char *token, int size, Rooms__V1__ListRoomsResponse *resp)
{
    arena *a = rpc_arena(call);
    /* the token: the (rank, id) of the last room returned, bound to the filters, the caller
     * and the query text */
    char *parts[2];
    cf_code code = page_token_decode(a, token, filters, parts, 2);
    if (code == CF_OK) {
        if (!rank_ok(parts[0]) || !*parts[1] || strlen(parts[1]) > ROOMS_ID_MAX)
            return rpc_violation(call, "pageToken", "is not valid for this list");
        q->after_rank = parts[0];
        q->after_id = parts[1];
    } else if (code != CF_NOT_FOUND) {
        return rpc_violation(call, "pageToken", "is not valid for this list");
    }
    const rooms_ctx *ctx = rpc_service_ctx(call);
    store_room *rows;
    size_t n;
    bool truncated;
    if ((code = store_rooms_search(rpc_worker(call), a, q, text, ctx->search_max_ranked,
                                   ctx->statement_timeout_ms, &rows, &n, &truncated)) != CF_OK)
        return rooms_store_error(call, code, "search rooms");
    resp->search_truncated = truncated;
    bool more = n > (size_t)size;
    if (more)
        n = (size_t)size;
    resp->rooms = rpc_alloc(call, (n ? n : 1) * sizeof *resp->rooms);
    resp->n_rooms = n;
    for (size_t i = 0; i < n; i++)
        resp->rooms[i] = rooms_room_msg(call, &rows[i]);
    if (more) {
        const char *last[] = {rows[n - 1].rank, rows[n - 1].id};
        resp->next_page_token = page_token_encode(a, filters, last, 2);
    }
    return CF_OK;
}
