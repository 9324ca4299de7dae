/* rooms.h — confetti-rooms' service definition and what its handlers share: the config, the
 * service context, the visibility/permission gate every method goes through, the catalog calls,
 * and rows → messages. Internal to services/rooms and its tests. */
#ifndef CONFETTI_ROOMS_ROOMS_H
#define CONFETTI_ROOMS_ROOMS_H

#include <stdbool.h>
#include <stdint.h>

#include "svc/svc.h"
#include "rpc/rpc.h"
#include "rpc/client.h"
#include "rooms/v1/rooms.pb-c.h"
#include "policy.h"
#include "store.h"

/* The service as svc_main and the tests run it (built on first call; thread-safe). */
const svc_def *rooms_service_def(void);

/* What app tokens may call on the service (scopes.c; docs/auth.md, "App scopes"). */
extern const rpc_scope_table rooms_scopes;

/* rooms' own keys (deploy/config/rooms.yaml; env CONFETTI_CATALOG_URLS, CONFETTI_ROOMS_*). */
typedef struct rooms_config {
    cfg_strlist catalog_urls;  /* catalog.urls: the catalog service's endpoints */
    int64_t catalog_timeout;   /* catalog.timeout (ms): per call, capped by the caller's */
    int64_t max_document;      /* rooms.max_document (bytes): settings / metadata JSON */
    char *events_subscribe;    /* events.subscribe: the broker's subscriber-side URL */
    cfg_strlist auth_urls;     /* auth.urls: auth's endpoints (its events' Replay) */
    int64_t archive_after;     /* rooms.archive_after (ms): finished this long → archived */
    int64_t search_max_ranked; /* search.max_ranked: matches one search ranks at most */
} rooms_config;

/* The maintenance job `archive` (maint.c; svc_maint_fn): arg points at the archive_after ms. */
cf_code rooms_archive_batch(db_conn *db, const void *arg, int64_t now, int batch, int64_t *n);

/* The handlers' shared state (rpc_service_ctx), immutable while serving. */
typedef struct rooms_consumer rooms_consumer;

typedef struct rooms_ctx {
    rpc_client *catalog;      /* thread-safe: any worker calls through it */
    rooms_consumer *consumer; /* user.deleted → participations left (consumer.c) */
    int catalog_timeout_ms;
    int64_t max_document;
    int search_max_ranked;        /* search.max_ranked (rpc_search.c) */
    int64_t statement_timeout_ms; /* db.statement_timeout: statements run as their own
                                     transaction (db_pipeline_tx) are bounded by it */
} rooms_ctx;

#define ROOMS_NAME_MAX         200
#define ROOMS_DESCRIPTION_MAX  5000
#define ROOMS_ID_MAX           64  /* room ids are CUIDs (25); longer is not ours */
#define ROOMS_USER_ID_MAX      127 /* a token's sub fits authn_identity.sub */
#define ROOMS_ELIGIBLE_DEFAULT 1000
#define ROOMS_ELIGIBLE_MAX     10000

/* --- rpc_common.c --- */

/* Field checks: INVALID_ARGUMENT on `field` if empty, too long, or not printable ASCII. */
cf_code rooms_check_id(rpc_call *call, const char *field, const char *id, size_t max);

/* The gate of every method that names a room: requires a caller, loads the live room with the
 * caller's role, and asks the role table for `action` (ACTION_UNSPECIFIED: visibility only).
 * NOT_FOUND for a missing room and for a private room the caller is not in (the same message:
 * never a hint), PERMISSION_DENIED / FAILED_PRECONDITION as policy_check says. On CF_OK, *room
 * and *who are filled. */
cf_code rooms_gate(rpc_call *call, const char *room_id, Rooms__V1__Action action, store_room *room,
                   policy_subject *who);
/* FAILED_PRECONDITION (explained) when the room is archived: read-only (docs/rooms.md,
 * "Archive"); rooms_gate applies it to every action but VIEW, handlers that change a room after
 * a VIEW gate call it themselves. */
cf_code rooms_writable(rpc_call *call, const store_room *room);

/* A Timestamp in the call's arena from epoch µs; NULL for STORE_NO_TIME. */
Google__Protobuf__Timestamp *rooms_ts_msg(rpc_call *call, int64_t us);

/* The caller's user id (the verified token's sub); "" without a caller. */
const char *rooms_caller_id(rpc_call *call);

/* Rows → messages (arena allocations). */
cf_code rooms_fill_room(rpc_call *call, const store_room *row, Rooms__V1__Room *out);
Rooms__V1__Room *rooms_room_msg(rpc_call *call, const store_room *row);
Rooms__V1__Participant *rooms_participant_msg(rpc_call *call, const store_participant *row);

/* A Struct as compact JSON text in the arena (NULL struct → NULL), refusing documents over the
 * configured size (INVALID_ARGUMENT on field). */
cf_code rooms_struct_text(rpc_call *call, const char *field, const Google__Protobuf__Struct *s,
                          char **out);

/* Timestamp ⇄ epoch µs (NULL ⇄ STORE_NO_TIME); INVALID_ARGUMENT on field when out of range. */
cf_code rooms_ts_us(rpc_call *call, const char *field, const Google__Protobuf__Timestamp *ts,
                    int64_t *out);

/* Maps a store error to the answer: codes that explain themselves pass, others are INTERNAL. */
cf_code rooms_store_error(rpc_call *call, cf_code code, const char *what);

/* --- rpc_search.c: ListRooms?q= (docs/rooms.md, "Search") --- */

#define ROOMS_SEARCH_MAX 200 /* q: at most this many code points after trimming */

/* ListRooms' q: *text NULL when there is no search (empty or only white space), else the
 * trimmed NFC text (in the call's arena); INVALID_ARGUMENT on "q" when too long, not UTF-8 or
 * holding control characters. */
cf_code rooms_search_text(rpc_call *call, const char *q, char **text);

/* Answers ListRooms with the rooms matching text that the listing q describes would show,
 * best first; the page token (token in, next_page_token out) is a (rank, id) keyset bound to
 * filters. */
cf_code rooms_search(rpc_call *call, store_room_query *q, const char *text, const char *filters,
                     const char *token, int size, Rooms__V1__ListRoomsResponse *resp);

/* --- catalog.c: the calls to catalog.v1 (the caller's `authorization` is forwarded) --- */

/* The current manifest version of an active app. NOT_FOUND / FAILED_PRECONDITION (inactive),
 * UNAVAILABLE when catalog cannot be reached. *version in the call's arena. */
cf_code rooms_catalog_current_version(rpc_call *call, const char *app_id, char **version);

/* Validates settings against that exact version: CF_OK, INVALID_ARGUMENT with one violation per
 * problem ("appSettings.<path>"), or the catalog's failure as above. */
cf_code rooms_catalog_validate(rpc_call *call, const char *app_id, const char *version,
                               const Google__Protobuf__Struct *settings);

#endif
