/* rpc_prizes.c — CreatePrize, GetPrize, ListPrizes, UpdatePrize, DeletePrize, and the
 * conversions every handler of the service shares (store rows → draw.v1 messages). */
#include "base/name.h"
#include "draw.h"
#include "confetti_proto_handlers.h"
#include "svc/idem.h"
#include "base/cuid.h"
#include "page/page.h"
#include "pbjson/pbjson.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_NAME = 200, MAX_DESCRIPTION = 4000, MAX_METADATA = 16384 };

/* --- shared conversions --- */

Google__Protobuf__Timestamp *draw_ts(rpc_call *call, int64_t us)
{
    Google__Protobuf__Timestamp *t = rpc_alloc(call, sizeof *t);
    google__protobuf__timestamp__init(t);
    int64_t s = us / 1000000, rem = us % 1000000;
    if (rem < 0) {
        s -= 1;
        rem += 1000000;
    }
    t->seconds = s;
    t->nanos = (int32_t)(rem * 1000);
    return t;
}

Google__Protobuf__Struct *draw_struct(rpc_call *call, const char *json)
{
    json_t *j = json_loads(json, 0, NULL);
    Google__Protobuf__Struct *s = NULL;
    if (!json_is_object(j) ||
        pbjson_struct_from_json(j, arena_allocator(rpc_arena(call)), &s, NULL) != CF_OK)
        s = NULL;
    json_decref(j);
    return s;
}

static void prize_msg(rpc_call *call, const store_prize *p, Draw__V1__Prize *out)
{
    out->prize_id = p->id;
    out->room_id = p->room_id;
    out->name = p->name;
    out->description = p->description;
    out->quantity = p->quantity;
    out->quantity_remaining = p->remaining;
    out->metadata = draw_struct(call, p->metadata_json);
    out->created_at = draw_ts(call, p->created_us);
    out->updated_at = draw_ts(call, p->updated_us);
}

void draw_winner_msg(rpc_call *call, const store_winner *w, Draw__V1__Winner *out)
{
    out->winner_id = w->id;
    out->room_id = w->room_id;
    out->prize_id = w->prize_id;
    out->participant_id = w->participant_id;
    out->user_id = w->user_id;
    out->draw_id = w->draw_id;
    out->metadata = draw_struct(call, w->metadata_json);
    out->created_at = draw_ts(call, w->created_us);
    if (w->revoked_reason) {
        out->revoked_reason = w->revoked_reason;
        out->revoked_at = draw_ts(call, w->revoked_us);
    }
}

void draw_record_msg(rpc_call *call, const store_draw *d, Draw__V1__DrawRecord *out)
{
    out->draw_id = d->id;
    out->room_id = d->room_id;
    out->prize_id = d->prize_id;
    out->draw_number = d->number;
    out->algorithm = d->algorithm;
    out->seed = d->seed_hex;
    out->eligible_digest = d->digest_hex;
    out->eligible_count = d->eligible_count;
    out->count = d->count;
    out->n_winner_participant_ids = d->nwinners;
    out->winner_participant_ids = d->winners;
    out->idempotency_key = d->idem_key;
    out->drawn_by = d->drawn_by;
    out->created_at = draw_ts(call, d->created_us);
}

cf_code draw_store_error(rpc_call *call, cf_code code, const char *what)
{
    switch (code) {
    case CF_NOT_FOUND:
        return rpc_error(call, CF_NOT_FOUND, "%s not found", what);
    case CF_UNAVAILABLE:
        return rpc_error(call, CF_UNAVAILABLE, "database unavailable");
    case CF_DEADLINE_EXCEEDED:
        return rpc_error(call, CF_DEADLINE_EXCEEDED, "deadline exceeded");
    case CF_INVALID_ARGUMENT: /* the database refused a value (a CHECK, a range) */
    case CF_FAILED_PRECONDITION:
        return rpc_refuse(call, code, what, "the %s was refused by a database rule (%s)", what,
                          code == CF_INVALID_ARGUMENT ? "a value out of range" : "a reference");
    default:
        return rpc_error(call, code == CF_OK ? CF_INTERNAL : code, "%s: store error %s", what,
                         cf_code_name(code));
    }
}

cf_code draw_check_id(rpc_call *call, const char *field, const char *value)
{
    if (!*value)
        return rpc_violation(call, field, "must not be empty");
    if (strlen(value) > 128)
        return rpc_violation(call, field, "must be at most 128 bytes");
    return CF_OK;
}

/* Metadata as JSON text for a jsonb column ("{}" when absent), bounded in size. */
static cf_code metadata_json(rpc_call *call, const Google__Protobuf__Struct *s, char **out)
{
    json_t *j = pbjson_struct_to_json(s);
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!text)
        return rpc_violation(call, "metadata", "cannot be encoded");
    size_t len = strlen(text);
    if (len > MAX_METADATA) {
        free(text);
        return rpc_violation(call, "metadata", "must be at most %d bytes as JSON", MAX_METADATA);
    }
    *out = rpc_strdup(call, text);
    free(text);
    return CF_OK;
}

/* A room in which prizes may change: DRAFT or ACTIVE (COMPLETED and CANCELLED are final). */
static cf_code manage(rpc_call *call, const char *room_id)
{
    draw_room room;
    cf_code code = draw_room_check(call, room_id, ROOMS__V1__ACTION__MANAGE_PRIZES, &room);
    if (code != CF_OK)
        return code;
    if (room.status != ROOMS__V1__ROOM_STATUS__DRAFT &&
        room.status != ROOMS__V1__ROOM_STATUS__ACTIVE)
        return rpc_refuse(call, CF_FAILED_PRECONDITION, "room.status",
                          "prizes change only while the room is DRAFT or ACTIVE (it is %s)",
                          draw_status_name(room.status));
    return CF_OK;
}

/* The one rule for names (base/name.h): *out is the canonical name. */
static cf_code check_name(rpc_call *call, const char *field, const char *name, char **out)
{
    const char *why;
    if (!cf_name_check(rpc_arena(call), name, MAX_NAME, out, &why))
        return rpc_violation(call, field, "%s", why);
    return CF_OK;
}

static cf_code check_description(rpc_call *call, const char *d)
{
    if (strlen(d) > MAX_DESCRIPTION)
        return rpc_violation(call, "description", "must be at most %d bytes", MAX_DESCRIPTION);
    return CF_OK;
}

/* --- handlers --- */

RPC_HANDLER(rpc_draw_create_prize)
{
    cf_code code;
    if ((code = rpc_require_caller(call)) != CF_OK)
        return code;
    char *name;
    if ((code = draw_check_id(call, "roomId", req->room_id)) != CF_OK ||
        (code = check_name(call, "name", req->name, &name)) != CF_OK ||
        (code = check_description(call, req->description)) != CF_OK)
        return code;
    if (req->quantity < 1)
        return rpc_violation(call, "quantity", "must be at least 1");
    store_prize in = {.room_id = req->room_id,
                      .name = name,
                      .description = req->description,
                      .quantity = req->quantity};
    if ((code = metadata_json(call, req->metadata, &in.metadata_json)) != CF_OK)
        return code;
    if ((code = manage(call, req->room_id)) != CF_OK)
        return code;
    char id[CUID_LEN + 1];
    cuid_new(id);
    in.id = id;
    store_prize p;
    bool key_reused;
    /* keys are per room (docs/rpc.md, "Idempotency") */
    svc_idem idem;
    if ((code = svc_idem_begin(call, rpc_worker(call), req->room_id, &req->base, &idem)) != CF_OK)
        return code;
    code = store_prize_create(rpc_worker(call), rpc_arena(call), &in, idem.key, idem.fingerprint,
                              &p, &key_reused);
    svc_idem_end(rpc_worker(call), &idem);
    if (key_reused)
        return rpc_idempotency_reused(call);
    if (code != CF_OK)
        return draw_store_error(call, code, "prize");
    prize_msg(call, &p, resp);
    return CF_OK;
}

RPC_HANDLER(rpc_draw_get_prize)
{
    cf_code code;
    if ((code = draw_check_id(call, "roomId", req->room_id)) != CF_OK ||
        (code = draw_check_id(call, "prizeId", req->prize_id)) != CF_OK)
        return code;
    draw_room room;
    if ((code = draw_room_check(call, req->room_id, ROOMS__V1__ACTION__VIEW, &room)) != CF_OK)
        return code;
    store_prize p;
    code = store_prize_get(rpc_worker(call), rpc_arena(call), req->room_id, req->prize_id, &p);
    if (code != CF_OK)
        return draw_store_error(call, code, "prize");
    prize_msg(call, &p, resp);
    return CF_OK;
}

RPC_HANDLER(rpc_draw_list_prizes)
{
    cf_code code;
    int limit;
    if ((code = draw_check_id(call, "roomId", req->room_id)) != CF_OK)
        return code;
    if (page_size(req->page_size, &limit) != CF_OK)
        return rpc_violation(call, "pageSize", "must not be negative");
    int64_t after_us = -1;
    char *after_id = "";
    code = page_keyset_decode(rpc_arena(call), req->page_token, req->room_id, &after_us, &after_id);
    if (code != CF_OK && code != CF_NOT_FOUND)
        return rpc_violation(call, "pageToken", "is not valid for this list");
    draw_room room;
    if ((code = draw_room_check(call, req->room_id, ROOMS__V1__ACTION__VIEW, &room)) != CF_OK)
        return code;
    store_prize *rows;
    size_t n;
    code = store_prize_list(rpc_worker(call), rpc_arena(call), req->room_id, after_us, after_id,
                            limit + 1, &rows, &n);
    if (code != CF_OK)
        return draw_store_error(call, code, "prizes");
    size_t shown = n > (size_t)limit ? (size_t)limit : n;
    resp->prizes = rpc_alloc(call, (shown + 1) * sizeof *resp->prizes);
    for (size_t i = 0; i < shown; i++) {
        Draw__V1__Prize *m = rpc_alloc(call, sizeof *m);
        draw__v1__prize__init(m);
        prize_msg(call, &rows[i], m);
        resp->prizes[i] = m;
    }
    resp->n_prizes = shown;
    if (n > shown) {
        resp->next_page_token = page_keyset_encode(rpc_arena(call), req->room_id,
                                                   rows[shown - 1].created_us, rows[shown - 1].id);
    }
    return CF_OK;
}

RPC_HANDLER(rpc_draw_update_prize)
{
    cf_code code;
    if ((code = rpc_require_caller(call)) != CF_OK)
        return code;
    if (!req->prize)
        return rpc_violation(call, "prize", "must be given");
    const Draw__V1__Prize *p = req->prize;
    if ((code = draw_check_id(call, "prize.roomId", p->room_id)) != CF_OK ||
        (code = draw_check_id(call, "prize.prizeId", p->prize_id)) != CF_OK)
        return code;
    if (!req->update_mask || req->update_mask->n_paths == 0)
        return rpc_violation(call, "updateMask", "must name the fields to change");
    unsigned set = 0;
    store_prize in = {.id = p->prize_id};
    for (size_t i = 0; i < req->update_mask->n_paths; i++) {
        const char *path = req->update_mask->paths[i];
        if (strcmp(path, "name") == 0) {
            if ((code = check_name(call, "name", p->name, &in.name)) != CF_OK)
                return code;
            set |= STORE_SET_NAME;
        } else if (strcmp(path, "description") == 0) {
            if ((code = check_description(call, p->description)) != CF_OK)
                return code;
            set |= STORE_SET_DESCRIPTION;
            in.description = p->description;
        } else if (strcmp(path, "quantity") == 0) {
            if (p->quantity < 1)
                return rpc_violation(call, "prize.quantity", "must be at least 1");
            set |= STORE_SET_QUANTITY;
            in.quantity = p->quantity;
        } else if (strcmp(path, "metadata") == 0) {
            if ((code = metadata_json(call, p->metadata, &in.metadata_json)) != CF_OK)
                return code;
            set |= STORE_SET_METADATA;
        } else {
            return rpc_violation(call, "updateMask",
                                 "%s cannot be changed (name, description, quantity, metadata)",
                                 path);
        }
    }
    if ((code = manage(call, p->room_id)) != CF_OK)
        return code;
    store_prize out;
    code = store_prize_update(rpc_worker(call), rpc_arena(call), p->room_id, &in, set, &out);
    if (code == CF_FAILED_PRECONDITION)
        return rpc_refuse(call, code, "quantity", "cannot go below the units already allocated");
    if (code != CF_OK)
        return draw_store_error(call, code, "prize");
    prize_msg(call, &out, resp);
    return CF_OK;
}

RPC_HANDLER(rpc_draw_delete_prize)
{
    (void)resp;
    cf_code code;
    if ((code = rpc_require_caller(call)) != CF_OK)
        return code;
    if ((code = draw_check_id(call, "roomId", req->room_id)) != CF_OK ||
        (code = draw_check_id(call, "prizeId", req->prize_id)) != CF_OK)
        return code;
    if ((code = manage(call, req->room_id)) != CF_OK)
        return code;
    code = store_prize_delete(rpc_worker(call), req->room_id, req->prize_id);
    if (code == CF_FAILED_PRECONDITION)
        return rpc_refuse(call, code, "prize.winners",
                          "the prize has live winners: revoke them first");
    if (code != CF_OK)
        return draw_store_error(call, code, "prize");
    return CF_OK;
}
