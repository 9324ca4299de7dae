/* draw.h — what the draw service's files share: its config, its context (the rooms client),
 * the calls to rooms, and the conversions from store rows to draw.v1 messages. */
#ifndef CONFETTI_DRAW_DRAW_H
#define CONFETTI_DRAW_DRAW_H

#include <stdbool.h>
#include <stdint.h>

#include "svc/svc.h"
#include "rpc/rpc.h"
#include "rpc/client.h"
#include "draw/v1/draw.pb-c.h"
#include "rooms/v1/rooms.pb-c.h"
#include "store.h"
#include "group.h"
#include "eligible.h"
#include "excluded.h"

/* The service's own config table (deploy/config/draw.yaml). */
typedef struct draw_config {
    cfg_strlist rooms_urls; /* rooms.urls */
    int64_t rooms_timeout;  /* rooms.timeout (ms) */
    int64_t max_eligible;   /* draw.max_eligible */
    int64_t max_count;      /* draw.max_count */
    int64_t cache_ids;      /* draw.eligible_cache_ids */
    int64_t excl_ids;       /* draw.excluded_cache_ids */
    bool group;             /* draw.group_allocation */
} draw_config;

typedef struct draw_ctx {
    rpc_client *rooms;
    draw_cache *cache;     /* eligible lists by room, checked against rooms' stamp */
    draw_excl_cache *excl; /* each prize's past winners, brought up to date by a delta */
    draw_group *group;     /* concurrent draws of a prize allocated together, or NULL */
    int64_t max_eligible;
    int32_t max_count;
} draw_ctx;

/* The definition confetti-draw runs (tests start it in-process). Built once; never NULL. */
const svc_def *draw_service_def(void);

/* What app tokens may call on the service (scopes.c; docs/auth.md, "App scopes"). */
extern const rpc_scope_table draw_scopes;

/* --- rooms (rooms.c) --- */

/* What CheckPermission said about the caller in a room. */
typedef struct draw_room {
    bool allowed;
    Rooms__V1__Role role;
    Rooms__V1__RoomStatus status;
    Rooms__V1__DrawPolicy policy;
    char *eligible_version; /* rooms' stamp of the eligible list ("" = unknown), call's arena */
    int64_t role_since_us;  /* EDIT: when the caller's role began; INT64_MIN = not said */
} draw_room;

/* Asks rooms whether the caller may do `action` in room_id, forwarding the caller's
 * authorization. CF_OK with *out filled when allowed. Otherwise the answer for the caller:
 * NOT_FOUND (no such room, or a private room the caller may not see — never a hint),
 * PERMISSION_DENIED, UNAUTHENTICATED, UNAVAILABLE / DEADLINE_EXCEEDED (rooms unreachable).
 * Blocks (one RPC). */
cf_code draw_room_check(rpc_call *call, const char *room_id, Rooms__V1__Action action,
                        draw_room *out);

/* draw_room_check(MANAGE_PRIZES) that also asks rooms for the eligible list's stamp
 * (out->eligible_version), for the draw's cache. */
cf_code draw_room_check_draw(rpc_call *call, const char *room_id, draw_room *out);

/* The room's live PARTICIPANTs, all pages (compact form; submessages from an older rooms),
 * ordered bytewise by participant id and without duplicates (sorted here if rooms' order
 * differs), as a new list (*out, one reference: draw_list_release) whose version is rooms'
 * stamp when every page carried the same one, else "". FAILED_PRECONDITION past
 * ctx->max_eligible; rooms' errors as draw_room_check. Blocks. */
cf_code draw_room_eligible(rpc_call *call, const char *room_id, draw_list **out);
/* "ACTIVE": a room status's proto name, for refusals ("?" if unknown). */
const char *draw_status_name(int status);

/* --- conversions (rpc_prizes.c) --- */
Google__Protobuf__Timestamp *draw_ts(rpc_call *call, int64_t us);
/* JSON text of a jsonb column → Struct in the call's arena (NULL on a malformed column). */
Google__Protobuf__Struct *draw_struct(rpc_call *call, const char *json);
void draw_winner_msg(rpc_call *call, const store_winner *w, Draw__V1__Winner *out);
void draw_record_msg(rpc_call *call, const store_draw *d, Draw__V1__DrawRecord *out);
/* A store error as the caller sees it: `what` names the missing thing for NOT_FOUND. */
cf_code draw_store_error(rpc_call *call, cf_code code, const char *what);
/* Validates an id-shaped request field (non-empty, at most 128 bytes). */
cf_code draw_check_id(rpc_call *call, const char *field, const char *value);

#endif
