/* rpc_winners.c — ListWinners and RevokeWinner. */
#include "draw.h"
#include "confetti_proto_handlers.h"
#include "page/page.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_REASON = 1000 };

RPC_HANDLER(rpc_draw_list_winners)
{
    cf_code code;
    int limit;
    if ((code = draw_check_id(call, "roomId", req->room_id)) != CF_OK)
        return code;
    if (strlen(req->prize_id) > 128)
        return rpc_violation(call, "prizeId", "must be at most 128 bytes");
    if (page_size(req->page_size, &limit) != CF_OK)
        return rpc_violation(call, "pageSize", "must not be negative");
    /* the token is bound to the room and the prize filter */
    const char *filters = rpc_printf(call, "%s/%s", req->room_id, req->prize_id);
    int64_t after_us = -1;
    char *after_id = "";
    code = page_keyset_decode(rpc_arena(call), req->page_token, filters, &after_us, &after_id);
    if (code != CF_OK && code != CF_NOT_FOUND)
        return rpc_violation(call, "pageToken", "is not valid for this list");
    draw_room room;
    if ((code = draw_room_check(call, req->room_id, ROOMS__V1__ACTION__VIEW, &room)) != CF_OK)
        return code;
    store_winner *rows;
    size_t n;
    code = store_winner_list(rpc_worker(call), rpc_arena(call), req->room_id, req->prize_id,
                             after_us, after_id, limit + 1, &rows, &n);
    if (code != CF_OK)
        return draw_store_error(call, code, "winners");
    size_t shown = n > (size_t)limit ? (size_t)limit : n;
    resp->winners = rpc_alloc(call, (shown + 1) * sizeof *resp->winners);
    for (size_t i = 0; i < shown; i++) {
        Draw__V1__Winner *m = rpc_alloc(call, sizeof *m);
        draw__v1__winner__init(m);
        draw_winner_msg(call, &rows[i], m);
        resp->winners[i] = m;
    }
    resp->n_winners = shown;
    if (n > shown) {
        resp->next_page_token = page_keyset_encode(rpc_arena(call), filters,
                                                   rows[shown - 1].created_us, rows[shown - 1].id);
    }
    return CF_OK;
}

RPC_HANDLER(rpc_draw_revoke_winner)
{
    cf_code code;
    if ((code = rpc_require_caller(call)) != CF_OK)
        return code;
    if ((code = draw_check_id(call, "roomId", req->room_id)) != CF_OK ||
        (code = draw_check_id(call, "winnerId", req->winner_id)) != CF_OK)
        return code;
    if (!*req->reason)
        return rpc_violation(call, "reason", "must not be empty");
    if (strlen(req->reason) > MAX_REASON)
        return rpc_violation(call, "reason", "must be at most %d bytes", MAX_REASON);
    draw_room room;
    code = draw_room_check(call, req->room_id, ROOMS__V1__ACTION__MANAGE_PRIZES, &room);
    if (code != CF_OK)
        return code;
    store_winner w;
    audit_ctx au = audit_ctx_of(call);
    code = store_winner_revoke(rpc_worker(call), rpc_arena(call), req->room_id, req->winner_id,
                               req->reason, &w, &au);
    if (code != CF_OK)
        return draw_store_error(call, code, "winner");
    draw_winner_msg(call, &w, resp);
    return CF_OK;
}
