/* rpc_draws.c — DrawWinners and GetDraw.
 *
 * A draw: check the caller's right and the room's status with rooms → claim the idempotency
 * key (common/svc/idem.h) → replay if it is known → read the prize and (same statement) its past
 * winners → read the eligible list from rooms (once) → [remove past winners → digest → fresh
 * 256-bit seed from the OS CSPRNG → select (algorithm.c) → allocate in one short transaction
 * (store_draw_commit)]. Everything in brackets runs before the prize row is
 * locked, so the lock is held only for the allocation's few statements. If a pick won the
 * prize in a concurrent draw meanwhile, the unique index refuses it, the whole transaction
 * rolls back, and the bracket runs again with a fresh exclusion list and a fresh seed
 * (docs/draw.md, "Why retrying keeps the draw fair"). */
#include "draw.h"
#include "algorithm.h"
#include "filter.h"
#include "confetti_proto_handlers.h"
#include "svc/idem.h"
#include "base/cuid.h"
#include "base/log.h"
#include "base/random.h"

#include <assert.h>
#include <string.h>

enum { DRAW_ATTEMPTS = 8, TX_DEFAULT_MS = 10000 };

/* The draw response from a stored record (first run or replay). */
static cf_code respond(rpc_call *call, const store_draw *d, const store_winner *w, size_t n,
                       Draw__V1__DrawWinnersResponse *resp)
{
    Draw__V1__DrawRecord *rec = rpc_alloc(call, sizeof *rec);
    draw__v1__draw_record__init(rec);
    draw_record_msg(call, d, rec);
    resp->draw = rec;
    resp->winners = rpc_alloc(call, (n + 1) * sizeof *resp->winners);
    for (size_t i = 0; i < n; i++) {
        Draw__V1__Winner *m = rpc_alloc(call, sizeof *m);
        draw__v1__winner__init(m);
        draw_winner_msg(call, &w[i], m);
        resp->winners[i] = m;
    }
    resp->n_winners = n;
    return CF_OK;
}

/* The fingerprint of a DrawWinners request (rpc_idempotency_fingerprint), the key itself left
 * out so that a key sent in the field and the same key in the metadata fingerprint alike. A
 * stored draw keeps every other field of the request that made it (room, prize, count), so the
 * first request's fingerprint is recomputed from the draw row: a field added to
 * DrawWinnersRequest must be stored with the draw and added here. */
static const char *draw_fingerprint(rpc_call *call, const char *room_id, const char *prize_id,
                                    int32_t count)
{
    Draw__V1__DrawWinnersRequest r = DRAW__V1__DRAW_WINNERS_REQUEST__INIT;
    r.room_id = (char *)room_id;
    r.prize_id = (char *)prize_id;
    r.count = count;
    return rpc_idempotency_fingerprint(call, &r.base);
}

/* The first result of a known idempotency key, provided it was the same request (fp). */
static cf_code replay(rpc_call *call, const store_draw *d, const char *fp,
                      Draw__V1__DrawWinnersResponse *resp)
{
    if (!rpc_idempotency_matches(draw_fingerprint(call, d->room_id, d->prize_id, d->count), fp))
        return rpc_idempotency_reused(call);
    store_winner *w;
    size_t n;
    cf_code code = store_winners_of_draw(rpc_worker(call), rpc_arena(call), d->id, &w, &n);
    if (code != CF_OK)
        return draw_store_error(call, code, "draw");
    return respond(call, d, w, n, resp);
}

static cf_code draw_from(rpc_call *call, const Draw__V1__DrawWinnersRequest *req,
                         const draw_room *room, const svc_idem *idem, const draw_list *L,
                         draw_excl *first, Draw__V1__DrawWinnersResponse *resp);
static cf_code draw_winners(rpc_call *call, const Draw__V1__DrawWinnersRequest *req,
                            const draw_room *room, const svc_idem *idem,
                            Draw__V1__DrawWinnersResponse *resp);

/* base (the prize's cached snapshot, or NULL; its reference is consumed) completed with the
 * delta add[0..nadd) read at `mark`, and published for the next draw. A new reference. */
static draw_excl *excluded_advance(draw_excl_cache *c, const char *prize_id, draw_excl *base,
                                   char **add, size_t nadd, int64_t mark)
{
    if (base && nadd == 0)
        return base;
    draw_excl *e = draw_excl_merge(base, (const char *const *)add, nadd, mark);
    draw_excl_release(base);
    draw_excl_cache_put(c, prize_id, e);
    return e;
}

/* The prize's past winners as of a snapshot taken now (ONE_WIN_PER_PRIZE): the cached snapshot
 * plus the winners of the prize's draws numbered past its mark, read in one statement; the
 * result is published for the next draw (excluded.h says why that is the whole set). *out is a
 * new reference. Blocks (one query). A draw's first attempt reads the same delta together with
 * the prize (prize_and_excluded); this is for its retries. */
static cf_code excluded_now(draw_excl_cache *c, db_conn *db, arena *a, const char *prize_id,
                            draw_excl **out)
{
    draw_excl *base = draw_excl_cache_get(c, prize_id);
    char **add;
    size_t nadd;
    int64_t mark;
    cf_code code = store_excluded_since(db, a, prize_id, base ? base->mark : 0, &add, &nadd, &mark);
    if (code != CF_OK) {
        draw_excl_release(base);
        return code;
    }
    *out = excluded_advance(c, prize_id, base, add, nadd, mark);
    return CF_OK;
}

/* The live prize and, as excluded_now, its past winners, in ONE statement (one round trip,
 * one snapshot taken at draw start: docs/draw.md, "The exclusion cache"). On CF_OK *out is a
 * new reference; on any error (CF_NOT_FOUND: no such live prize in the room) nothing is held.
 * Blocks (one query). */
static cf_code prize_and_excluded(draw_excl_cache *c, db_conn *db, arena *a, const char *room_id,
                                  const char *prize_id, store_prize *prize, draw_excl **out)
{
    draw_excl *base = draw_excl_cache_get(c, prize_id);
    char **add;
    size_t nadd;
    int64_t mark;
    cf_code code = store_prize_get_since(db, a, room_id, prize_id, base ? base->mark : 0, prize,
                                         &add, &nadd, &mark);
    if (code != CF_OK) {
        draw_excl_release(base);
        return code;
    }
    *out = excluded_advance(c, prize_id, base, add, nadd, mark);
    return CF_OK;
}

/* DrawWinners' idempotency key: the request field or the metadata (the same syntax, the one
 * rule: rpc_idempotency_key); both present must agree. *key NULL when none. */
static cf_code draw_key(rpc_call *call, const Draw__V1__DrawWinnersRequest *req, const char **key)
{
    const char *md;
    cf_code code = rpc_idempotency_key(call, &md);
    if (code != CF_OK)
        return code;
    *key = md;
    if (!*req->idempotency_key)
        return CF_OK;
    if (!rpc_idempotency_key_ok(req->idempotency_key))
        return rpc_violation(call, "idempotencyKey",
                             "must be 1 to %d printable ASCII characters without spaces",
                             RPC_IDEMPOTENCY_KEY_MAX);
    if (md && strcmp(md, req->idempotency_key) != 0)
        return rpc_violation(call, "idempotencyKey",
                             "differs from the idempotency-key metadata; send one key");
    *key = req->idempotency_key;
    return CF_OK;
}

RPC_HANDLER(rpc_draw_draw_winners)
{
    draw_ctx *ctx = rpc_service_ctx(call);
    cf_code code;
    if ((code = rpc_require_caller(call)) != CF_OK)
        return code;
    if ((code = draw_check_id(call, "roomId", req->room_id)) != CF_OK ||
        (code = draw_check_id(call, "prizeId", req->prize_id)) != CF_OK)
        return code;
    if (req->count < 1 || req->count > ctx->max_count)
        return rpc_violation(call, "count", "must be between 1 and %d", (int)ctx->max_count);
    const char *key;
    if ((code = draw_key(call, req, &key)) != CF_OK)
        return code;

    draw_room room;
    if ((code = draw_room_check_draw(call, req->room_id, &room)) != CF_OK)
        return code;
    if (room.status != ROOMS__V1__ROOM_STATUS__ACTIVE)
        return rpc_refuse(call, CF_FAILED_PRECONDITION, "room.status",
                          "draws happen only in an ACTIVE room (it is %s)",
                          draw_status_name(room.status));
    /* keys are per room; the claim spans the whole draw (docs/rpc.md, "Idempotency") */
    svc_idem idem;
    if ((code = svc_idem_claim(call, rpc_worker(call), req->room_id, key,
                               key ? draw_fingerprint(call, req->room_id, req->prize_id, req->count)
                                   : NULL,
                               &idem)) != CF_OK)
        return code;
    code = draw_winners(call, req, &room, &idem, resp);
    svc_idem_end(rpc_worker(call), &idem);
    return code;
}

/* DrawWinners once its key (if any) is claimed: a replay, or a new draw. */
static cf_code draw_winners(rpc_call *call, const Draw__V1__DrawWinnersRequest *req,
                            const draw_room *room, const svc_idem *idem,
                            Draw__V1__DrawWinnersResponse *resp)
{
    draw_ctx *ctx = rpc_service_ctx(call);
    db_conn *db = rpc_worker(call);
    arena *a = rpc_arena(call);
    cf_code code;
    store_draw d;
    if (idem->key) {
        code = store_draw_by_key(db, a, req->room_id, idem->key, &d);
        if (code == CF_OK)
            return replay(call, &d, idem->fingerprint, resp);
        if (code != CF_NOT_FOUND)
            return draw_store_error(call, code, "draw");
    }
    /* the prize; under ONE_WIN_PER_PRIZE its exclusions come with it (first attempt's) */
    store_prize prize;
    draw_excl *excl = NULL;
    if (room->policy == ROOMS__V1__DRAW_POLICY__ONE_WIN_PER_ROOM)
        code = store_prize_get(db, a, req->room_id, req->prize_id, &prize);
    else
        code = prize_and_excluded(ctx->excl, db, a, req->room_id, req->prize_id, &prize, &excl);
    if (code != CF_OK)
        return draw_store_error(call, code, "prize");
    if (prize.remaining < req->count) {
        draw_excl_release(excl);
        return rpc_refuse(call, CF_FAILED_PRECONDITION, "count",
                          "%d asked, only %d of this prize left", (int)req->count,
                          (int)prize.remaining);
    }

    /* the eligible list: the cached one if rooms' stamp says it is still the list, else read */
    draw_list *list = draw_cache_get(ctx->cache, req->room_id, room->eligible_version);
    if (!list) {
        if ((code = draw_room_eligible(call, req->room_id, &list)) != CF_OK) {
            draw_excl_release(excl);
            return code;
        }
        draw_cache_put(ctx->cache, req->room_id, list);
    }
    code = draw_from(call, req, room, idem, list, excl, resp);
    draw_list_release(list);
    return code;
}

/* Steps 5-7 of docs/draw.md on the eligible list L (borrowed): exclusions, digest, seed,
 * selection and the allocation transaction, retried on a conflicting pick. first (consumed,
 * ONE_WIN_PER_PRIZE only, else NULL) is the exclusion snapshot read with the prize, used by
 * the first attempt; a retry reads a fresh one. */
static cf_code draw_from(rpc_call *call, const Draw__V1__DrawWinnersRequest *req,
                         const draw_room *room, const svc_idem *idem, const draw_list *L,
                         draw_excl *first, Draw__V1__DrawWinnersResponse *resp)
{
    const char *key = idem->key;
    draw_ctx *ctx = rpc_service_ctx(call);
    db_conn *db = rpc_worker(call);
    arena *a = rpc_arena(call);
    cf_code code;
    store_draw d;
    char *const *pids = L->pids, *const *uids = L->uids;
    size_t n = L->n;
    bool room_policy = room->policy == ROOMS__V1__DRAW_POLICY__ONE_WIN_PER_ROOM;
    assert(!room_policy || !first);
    const authn_identity *who = rpc_caller(call);
    size_t k = (size_t)req->count;
    const char **wp = rpc_alloc(call, k * sizeof *wp), **wu = rpc_alloc(call, k * sizeof *wu);
    const char **wid = rpc_alloc(call, k * sizeof *wid);
    uint64_t *pos = rpc_alloc(call, k * sizeof *pos);
    store_winner *winners = rpc_alloc(call, k * sizeof *winners);

    for (int attempt = 1; attempt <= DRAW_ATTEMPTS; attempt++) {
        /* the eligible list: rooms' list minus the excluded, both sorted bytewise. It is never
         * copied: the excluded ids' places in it give its length, its digest (runs of L->lines)
         * and the list index of each pick (filter.h) */
        char **ex = NULL;
        size_t nex = 0;
        draw_excl *held = NULL; /* ONE_WIN_PER_PRIZE: the snapshot ex points into */
        if (room_policy) {      /* not monotonic (a revoke frees a participant): read it whole */
            code = store_excluded(db, a, req->room_id, req->prize_id, true, &ex, &nex);
        } else {
            if (first)
                held = first, first = NULL, code = CF_OK;
            else
                code = excluded_now(ctx->excl, db, a, req->prize_id, &held);
            if (code == CF_OK)
                ex = held->ids, nex = held->n;
        }
        if (code != CF_OK)
            return draw_store_error(call, code, "winners");
        size_t *xpos = rpc_alloc(call, (nex < n ? nex : n) * sizeof *xpos + 1);
        /* a prize's snapshot keeps its places in the list: found once, then carried from one
         * snapshot to the next with the delta (excluded.h) */
        size_t nx = held ? draw_excl_positions(held, (const char *const *)pids, n, L->version, xpos)
                         : draw_filter_positions((const char *const *)pids, n,
                                                 (const char *const *)ex, nex, xpos);
        size_t m = n - nx;
        draw_excl_release(held);
        uint8_t digest[DRAW_DIGEST_LEN], seed[DRAW_SEED_LEN];
        draw_filter_digest(L->lines, L->line_off, n, xpos, nx, digest);
        if (m < k)
            return rpc_refuse(call, CF_FAILED_PRECONDITION, "count",
                              "only %zu eligible participants for %zu winners", m, k);
        cf_random_bytes(seed, sizeof seed);
        if (!draw_select(seed, m, k, pos))
            return rpc_error(call, CF_INTERNAL, "draw_select refused n=%zu k=%zu", m, k);
        for (size_t i = 0; i < k; i++) {
            char *id = rpc_alloc(call, CUID_LEN + 1);
            cuid_new(id);
            wid[i] = id;
            size_t at = draw_filter_index(xpos, nx, (size_t)pos[i]);
            wp[i] = pids[at];
            wu[i] = uids[at];
        }
        char *draw_id = rpc_alloc(call, CUID_LEN + 1), seed_hex[65], digest_hex[65];
        cuid_new(draw_id);
        draw_hex(seed, sizeof seed, seed_hex);
        draw_hex(digest, sizeof digest, digest_hex);
        int64_t left = rpc_remaining_ms(call);
        audit_ctx au = audit_ctx_of(call);
        store_new_draw nd = {
            .id = draw_id,
            .room_id = req->room_id,
            .prize_id = req->prize_id,
            .algorithm = DRAW_ALGORITHM,
            .seed_hex = seed_hex,
            .digest_hex = digest_hex,
            .idem_key = key,
            .drawn_by = who->sub,
            .eligible_count = (int64_t)m,
            .count = req->count,
            .room_policy = room_policy,
            .winner_ids = wid,
            .participant_ids = wp,
            .user_ids = wu,
            .timeout_ms = left == INT64_MAX ? TX_DEFAULT_MS : left,
            .au = &au,
        };
        /* concurrent draws of this prize may share the allocation statement (group.h) */
        code = draw_group_commit(ctx->group, db, a, &nd, &d, winners);
        switch (code) {
        case CF_OK:
            return respond(call, &d, winners, k, resp);
        case CF_ABORTED:
            log_info("draw %s: a pick won meanwhile (attempt %d of %d), drawing again",
                     rpc_request_id(call), attempt, DRAW_ATTEMPTS);
            continue;
        case CF_ALREADY_EXISTS: /* the same key committed first, concurrently */
            if ((code = store_draw_by_key(db, a, req->room_id, key, &d)) != CF_OK)
                return draw_store_error(call, code, "draw");
            return replay(call, &d, idem->fingerprint, resp);
        case CF_FAILED_PRECONDITION:
            return rpc_refuse(call, code, "count", "fewer than %zu of this prize left", k);
        default:
            return draw_store_error(call, code, "draw");
        }
    }
    return rpc_error(call, CF_ABORTED, "the prize is drawn too often right now; try again");
}

RPC_HANDLER(rpc_draw_get_draw)
{
    cf_code code;
    if ((code = draw_check_id(call, "roomId", req->room_id)) != CF_OK ||
        (code = draw_check_id(call, "drawId", req->draw_id)) != CF_OK)
        return code;
    draw_room room;
    if ((code = draw_room_check(call, req->room_id, ROOMS__V1__ACTION__VIEW, &room)) != CF_OK)
        return code;
    store_draw d;
    code = store_draw_get(rpc_worker(call), rpc_arena(call), req->room_id, req->draw_id, &d);
    if (code != CF_OK)
        return draw_store_error(call, code, "draw");
    draw_record_msg(call, &d, resp);
    return CF_OK;
}
