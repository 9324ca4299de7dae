/* rooms.c — what the draw service asks rooms.v1.Rooms: permission checks and the eligible
 * participants, always as the caller (its `authorization` is forwarded, so rooms answers for
 * the verified end user, SPEC §4). */
#include "draw.h"
#include "base/xmalloc.h"

#include <stdlib.h>
#include <string.h>

/* Rooms' answer as our caller sees it. */
static cf_code rooms_error(rpc_call *call, const rpc_ccall *cc)
{
    switch (cc->code) {
    case CF_NOT_FOUND:
        return rpc_error(call, CF_NOT_FOUND, "room not found");
    case CF_PERMISSION_DENIED:
    case CF_UNAUTHENTICATED:
    case CF_INVALID_ARGUMENT:
    case CF_DEADLINE_EXCEEDED:
    case CF_FAILED_PRECONDITION:
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

cf_code draw_room_check(rpc_call *call, const char *room_id, Rooms__V1__Action action,
                        draw_room *out)
{
    draw_ctx *ctx = rpc_service_ctx(call);
    Rooms__V1__CheckPermissionRequest req = ROOMS__V1__CHECK_PERMISSION_REQUEST__INIT;
    req.room_id = (char *)room_id;
    req.action = action;
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

typedef struct entry {
    char *pid, *uid;
} entry;

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const entry *)a)->pid, ((const entry *)b)->pid);
}

enum { ELIGIBLE_PAGE = 10000 };

cf_code draw_room_eligible(rpc_call *call, const char *room_id, char ***pids, char ***uids,
                           size_t *n)
{
    draw_ctx *ctx = rpc_service_ctx(call);
    ProtobufCService *rooms = rpc_client_service(ctx->rooms, &rooms__v1__rooms__descriptor);
    size_t cap = 1024, len = 0;
    entry *e = xmalloc(cap * sizeof *e);
    char *token = rpc_strdup(call, "");
    cf_code code = CF_OK;
    bool sorted = true;
    for (;;) {
        Rooms__V1__ListEligibleParticipantsRequest req =
            ROOMS__V1__LIST_ELIGIBLE_PARTICIPANTS_REQUEST__INIT;
        req.room_id = (char *)room_id;
        req.page_size = ELIGIBLE_PAGE;
        req.ids_only = true;
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
        if (len + r->n_participants > (size_t)ctx->max_eligible) {
            rpc_ccall_free(&cc);
            code = rpc_error(call, CF_FAILED_PRECONDITION,
                             "the room has more than %lld eligible participants",
                             (long long)ctx->max_eligible);
            break;
        }
        if (len + r->n_participants > cap) {
            while (len + r->n_participants > cap)
                cap *= 2;
            e = xrealloc(e, cap * sizeof *e);
        }
        for (size_t i = 0; i < r->n_participants; i++) {
            const Rooms__V1__Participant *p = r->participants[i];
            if (!*p->participant_id || strlen(p->participant_id) > 128) {
                code = rpc_error(call, CF_INTERNAL, "rooms returned a malformed participant id");
                break;
            }
            e[len].pid = rpc_strdup(call, p->participant_id);
            e[len].uid = rpc_strdup(call, p->user_id);
            if (len > 0 && strcmp(e[len - 1].pid, e[len].pid) >= 0)
                sorted = false;
            len++;
        }
        bool more = code == CF_OK && *r->next_page_token && strcmp(r->next_page_token, token) != 0;
        if (more)
            token = rpc_strdup(call, r->next_page_token);
        rpc_ccall_free(&cc);
        if (!more)
            break;
    }
    if (code == CF_OK && !sorted) {
        /* the list's order is part of the audit record: make it canonical (bytewise, unique) */
        qsort(e, len, sizeof *e, entry_cmp);
        size_t w = 0;
        for (size_t i = 0; i < len; i++)
            if (w == 0 || strcmp(e[w - 1].pid, e[i].pid) != 0)
                e[w++] = e[i];
        len = w;
    }
    if (code == CF_OK) {
        *pids = rpc_alloc(call, (len + 1) * sizeof **pids);
        *uids = rpc_alloc(call, (len + 1) * sizeof **uids);
        for (size_t i = 0; i < len; i++) {
            (*pids)[i] = e[i].pid;
            (*uids)[i] = e[i].uid;
        }
        *n = len;
    }
    free(e);
    return code;
}
