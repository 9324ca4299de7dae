/* audit.h — the audit log (issue 18 item 5; docs/audit.md): the one module every service uses
 * to write a row into its own schema's audit_log (audit.sql) inside the transaction of the
 * change it records, and to answer its ListAudit RPC. The gateway uses the paging half to
 * merge the four services' answers (services/gateway/audit.c).
 *
 * Who, from where and which request come from the RPC call (audit_ctx_of): the verified caller's
 * subject, the client's address the gateway passes as the x-peer-address metadata, the verified
 * calling service, the x-request-id. What comes from the store (audit_row). */
#ifndef CONFETTI_AUDIT_AUDIT_H
#define CONFETTI_AUDIT_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/status.h"
#include "db/db.h"
#include "audit/v1/audit.pb-c.h"

struct rpc_call;

/* The metadata key the gateway fills with the client's address (clientaddr.c's answer). */
#define AUDIT_PEER_MD "x-peer-address"
/* Longest peer text kept (an IPv6 address with zone fits); a longer one, or one that is not
 * printable ASCII, is not kept ("" in the row). */
#define AUDIT_PEER_MAX 64

/* The call's side of a row. Strings are borrowed (from the call: valid while it runs). */
typedef struct audit_ctx {
    const char *actor_id;   /* verified caller's sub; "" = anonymous */
    const char *peer;       /* x-peer-address as sent, "" when absent or not an address */
    const char *via;        /* verified calling service, "" when none */
    const char *request_id; /* the call's request id */
} audit_ctx;

/* The context of the running call. Pure (reads the call). */
audit_ctx audit_ctx_of(const struct rpc_call *call);

/* The store's side of a row. NULL strings are stored as "". */
typedef struct audit_row {
    const char *action; /* required: "room.status_changed" (docs/audit.md lists them) */
    const char *room_id;
    const char *target_type, *target_id;
    const char *detail;
    const char *actor_id; /* NULL: ctx->actor_id (a login names the user it signed in) */
} audit_row;

/* Inserts one row into audit_log of the connection's schema. Call it INSIDE the db_tx body that
 * makes the change (asserted), so the row commits with the change or not at all; errors as
 * db_exec, and the caller's transaction then rolls back. ctx NULL = an action the service takes
 * on its own (no caller, no request). Blocks (libpq). */
cf_code audit_write(db_conn *c, const audit_ctx *ctx, const audit_row *row);

/* For a store that writes the row inside a statement of its own (draw's one-statement
 * allocation): the column list of the insert, in this order. */
#define AUDIT_INSERT_COLUMNS                                                                       \
    "id, action, actor_id, room_id, target_type, target_id, detail, peer, via, request_id"

/* --- reading (ListAudit) --- */

/* Who may read what (docs/audit.md, "Who reads"): a platform admin (a user token with the admin
 * role) reads everything (*all = true); another user only with room_id set (*all = false: the
 * service then checks that the caller may edit that room and since when). No caller is
 * UNAUTHENTICATED; an app token, or a user without room_id, PERMISSION_DENIED. Also checks the
 * request's fields (INVALID_ARGUMENT naming the field). */
cf_code audit_admit(struct rpc_call *call, const Audit__V1__ListAuditRequest *req, bool *all);

/* Answers a page of this service's rows, newest first (occurred_at DESC, id DESC), filtered by
 * req and, when floor_us != INT64_MIN, by occurred_at >= floor_us (the reader's role began
 * then: no row from before a reader could see it). service names the rows ("rooms"). A
 * malformed page token is INVALID_ARGUMENT naming pageToken. Blocks (libpq). */
cf_code audit_list(struct rpc_call *call, db_conn *c, const char *service,
                   const Audit__V1__ListAuditRequest *req, int64_t floor_us,
                   Audit__V1__ListAuditResponse *resp);

/* The paging every side shares (the gateway's merge makes tokens the services read): the
 * filter fingerprint of a request, and a token naming the keyset (occurred_at µs, id) of the
 * last entry returned. Both in a. Pure. */
char *audit_filters(arena *a, const Audit__V1__ListAuditRequest *req);
char *audit_page_token(arena *a, const Audit__V1__ListAuditRequest *req, int64_t us,
                       const char *id);
/* An entry's time in epoch microseconds (0 when it has none). Pure. */
int64_t audit_entry_us(const Audit__V1__AuditEntry *e);
/* Newest first: < 0 when x comes before y in a page (later time, then greater id). Pure. */
int audit_entry_cmp(const Audit__V1__AuditEntry *x, const Audit__V1__AuditEntry *y);

#endif
