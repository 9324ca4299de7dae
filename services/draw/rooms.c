/* rooms.c — what the draw service asks rooms.v1.Rooms: permission checks and the eligible
 * participants, always as the caller (its `authorization` is forwarded, so rooms answers for
 * the verified end user, SPEC §4). */
#include "draw.h"
#include "base/xmalloc.h"

#include <stdlib.h>
#include <string.h>

const char *draw_status_name(int status)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&rooms__v1__room_status__descriptor, status);
    return v ? v->name : "?";
}

/* Rooms' answer as our caller sees it. */
static cf_code rooms_error(rpc_call *call, const rpc_ccall *cc)
{
    switch (cc->code) {
    case CF_NOT_FOUND:
        return rpc_error(call, CF_NOT_FOUND, "room not found");
    case CF_INVALID_ARGUMENT:
    case CF_FAILED_PRECONDITION: /* rooms' details come along */
        return rpc_relay(call, cc, NULL, "roomId");
    case CF_PERMISSION_DENIED:
    case CF_UNAUTHENTICATED:
    case CF_DEADLINE_EXCEEDED:
        return rpc_error(call, cc->code, "%s", cc->message);
    case CF_UNAVAILABLE:
        return rpc_error(call, CF_UNAVAILABLE, "rooms service unavailable: %s", cc->message);
    default:
        /* rooms failed in a way we cannot explain to our caller: a retryable outage */
        return rpc_error(call, CF_UNAVAILABLE, "rooms service failed (%s)", cf_code_name(cc->code));
    }
}

static void ccall_init(rpc_ccall *cc, rpc_call *call)
{
    rpc_ccall_init(cc, call);
    const char *auth = rpc_md_get(call, "authorization");
    if (auth)
        rpc_ccall_md(cc, "authorization", auth);
}

static cf_code room_check(rpc_call *call, const char *room_id, Rooms__V1__Action action,
                          bool with_version, draw_room *out)
{
    draw_ctx *ctx = rpc_service_ctx(call);
    Rooms__V1__CheckPermissionRequest req = ROOMS__V1__CHECK_PERMISSION_REQUEST__INIT;
    req.room_id = (char *)room_id;
    req.action = action;
    req.with_eligible_version = with_version;
    rpc_ccall cc;
    ccall_init(&cc, call);
    rooms__v1__rooms__check_permission(
        rpc_client_service(ctx->rooms, &rooms__v1__rooms__descriptor), &req, NULL, &cc);
    cf_code code = CF_OK;
    if (cc.code != CF_OK) {
        code = rooms_error(call, &cc);
    } else {
        const Rooms__V1__CheckPermissionResponse *r = (const void *)cc.response;
        out->allowed = r->allowed;
        out->role = r->role;
        out->status = r->room ? r->room->status : ROOMS__V1__ROOM_STATUS__ROOM_STATUS_UNSPECIFIED;
        out->policy =
            r->room ? r->room->draw_policy : ROOMS__V1__DRAW_POLICY__DRAW_POLICY_UNSPECIFIED;
        /* a rooms without stamps leaves it empty: then the draw never uses its cache */
        out->eligible_version = rpc_strdup(call, with_version ? r->eligible_version : "");
        out->role_since_us = r->role_since
                                 ? r->role_since->seconds * 1000000 + r->role_since->nanos / 1000
                                 : INT64_MIN;
        if (!r->allowed) {
            /* a caller who may not even view the room must not learn that it exists */
            if (action == ROOMS__V1__ACTION__VIEW || !r->room)
                code = rpc_error(call, CF_NOT_FOUND, "room not found");
            else
                code = rpc_error(call, CF_PERMISSION_DENIED,
                                 "only the room's admins, organizers and moderators may do this");
        }
    }
    rpc_ccall_free(&cc);
    return code;
}

cf_code draw_room_check(rpc_call *call, const char *room_id, Rooms__V1__Action action,
                        draw_room *out)
{
    return room_check(call, room_id, action, false, out);
}

cf_code draw_room_check_draw(rpc_call *call, const char *room_id, draw_room *out)
{
    return room_check(call, room_id, ROOMS__V1__ACTION__MANAGE_PRIZES, true, out);
}

/* Compact pages hold up to 50,000 ids (rooms may send fewer); a rooms that predates the compact
 * form answers 10,000 submessages per page, the most it allows. */
enum { ELIGIBLE_PAGE = 50000 };

cf_code draw_room_eligible(rpc_call *call, const char *room_id, draw_list **out)
{
    draw_ctx *ctx = rpc_service_ctx(call);
    ProtobufCService *rooms = rpc_client_service(ctx->rooms, &rooms__v1__rooms__descriptor);
    draw_list_builder *b = draw_list_builder_new();
    char *token = rpc_strdup(call, "");
    /* the stamp of the whole list: every page must carry the same one (no membership change
     * between pages); otherwise the list is still used for this draw but never cached */
    char *version = NULL;
    cf_code code = CF_OK;
    for (;;) {
        Rooms__V1__ListEligibleParticipantsRequest req =
            ROOMS__V1__LIST_ELIGIBLE_PARTICIPANTS_REQUEST__INIT;
        req.room_id = (char *)room_id;
        req.page_size = ELIGIBLE_PAGE;
        req.ids_only = true;
        req.compact = true;
        req.page_token = token;
        rpc_ccall cc;
        ccall_init(&cc, call);
        rooms__v1__rooms__list_eligible_participants(rooms, &req, NULL, &cc);
        if (cc.code != CF_OK) {
            code = rooms_error(call, &cc);
            rpc_ccall_free(&cc);
            break;
        }
        const Rooms__V1__ListEligibleParticipantsResponse *r = (const void *)cc.response;
        bool compact = r->n_participant_ids > 0;
        size_t got = compact ? r->n_participant_ids : r->n_participants;
        if (compact && r->n_user_ids != r->n_participant_ids) {
            rpc_ccall_free(&cc);
            code = rpc_error(call, CF_INTERNAL, "rooms returned a malformed eligible page");
            break;
        }
        if (draw_list_builder_count(b) + got > (size_t)ctx->max_eligible) {
            rpc_ccall_free(&cc);
            code = rpc_refuse(call, CF_FAILED_PRECONDITION, "draw.max_eligible",
                              "the room has more than %lld eligible participants",
                              (long long)ctx->max_eligible);
            break;
        }
        if (!version)
            version = rpc_strdup(call, r->eligible_version);
        else if (strcmp(version, r->eligible_version) != 0)
            version = "";
        for (size_t i = 0; i < got; i++) {
            const char *pid = compact ? r->participant_ids[i] : r->participants[i]->participant_id;
            const char *uid = compact ? r->user_ids[i] : r->participants[i]->user_id;
            if (!*pid || strlen(pid) > 128) {
                code = rpc_error(call, CF_INTERNAL, "rooms returned a malformed participant id");
                break;
            }
            draw_list_builder_add(b, pid, uid);
        }
        bool more = code == CF_OK && *r->next_page_token && strcmp(r->next_page_token, token) != 0;
        if (more)
            token = rpc_strdup(call, r->next_page_token);
        rpc_ccall_free(&cc);
        if (!more)
            break;
    }
    if (code != CF_OK) {
        draw_list_builder_free(b);
        return code;
    }
    *out = draw_list_builder_finish(b, version ? version : "");
    return CF_OK;
}
