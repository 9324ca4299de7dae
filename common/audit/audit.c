/* audit.c — the audit log's row write and read, shared by every service (audit.h). */
#include "audit.h"
#include "base/cuid.h"
#include "page/page.h"
#include "pbjson/pbjson.h"
#include "rpc/rpc.h"

#include <assert.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#define US(col) "(extract(epoch FROM " col ") * 1000000)::int8"
#define TS(p)   "('epoch'::timestamptz + " p "::int8 * interval '1 microsecond')"

static const char insert_sql[] = "INSERT INTO audit_log (" AUDIT_INSERT_COLUMNS
                                 ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

/* One statement for every filter shape, not prepared (db_exec_sql): the planner sees which
 * filters are set and picks the index that fits (time, room or actor). Ids compare in the C
 * collation, as the gateway's merge (audit_entry_cmp) does. */
static const char list_sql[] =
    "SELECT id, action, actor_id, room_id, target_type, target_id, detail, peer, via, "
    "request_id, " US(
        "occurred_at") " FROM audit_log "
                       "WHERE ($1 = '' OR actor_id = $1) AND ($2 = '' OR action = $2) "
                       "AND ($3 = '' OR room_id = $3) "
                       "AND occurred_at >= coalesce(" TS(
                           "$4") ", '-infinity') "
                                 "AND occurred_at < coalesce(" TS(
                                     "$5") ", 'infinity') "
                                           "AND (occurred_at, id COLLATE \"C\") < "
                                           "(coalesce(" TS(
                                               "$6") ", 'infinity'), $7::text COLLATE \"C\") "
                                                     "ORDER BY occurred_at DESC, id COLLATE \"C\" "
                                                     "DESC LIMIT $8";

static const char *nz(const char *s)
{
    return s ? s : "";
}

/* An address as text: printable ASCII without spaces, at most AUDIT_PEER_MAX bytes. Anything
 * else is not kept (a caller's bytes must never make the audited change fail to store). */
static const char *peer_ok(const char *p)
{
    if (!p || strlen(p) > AUDIT_PEER_MAX)
        return "";
    for (const char *s = p; *s; s++)
        if (*s < 0x21 || *s > 0x7e)
            return "";
    return p;
}

audit_ctx audit_ctx_of(const rpc_call *call)
{
    const authn_identity *me = rpc_caller(call);
    return (audit_ctx){.actor_id = me ? me->sub : "",
                       .peer = peer_ok(rpc_md_get(call, AUDIT_PEER_MD)),
                       .via = nz(rpc_caller_service(call)),
                       .request_id = nz(rpc_request_id(call))};
}

cf_code audit_write(db_conn *c, const audit_ctx *ctx, const audit_row *row)
{
    assert(PQtransactionStatus(db_conn_pg(c)) != PQTRANS_IDLE);
    assert(row->action && *row->action);
    static const audit_ctx none = {"", "", "", ""};
    if (!ctx)
        ctx = &none;
    char id[CUID_LEN + 1];
    cuid_new(id);
    char peer[AUDIT_PEER_MAX + 1];
    snprintf(peer, sizeof peer, "%s", nz(ctx->peer));
    const char *v[] = {id,
                       row->action,
                       row->actor_id ? row->actor_id : nz(ctx->actor_id),
                       nz(row->room_id),
                       nz(row->target_type),
                       nz(row->target_id),
                       nz(row->detail),
                       peer,
                       nz(ctx->via),
                       nz(ctx->request_id)};
    return db_exec_sql(c, insert_sql, 10, v, NULL);
}

/* ---------------------------------------------------------------- reading */

/* Bounds of the text filters: ids and action names are short. */
#define FILTER_MAX 128

cf_code audit_admit(rpc_call *call, const Audit__V1__ListAuditRequest *req, bool *all)
{
    cf_code code = rpc_require_caller(call);
    if (code != CF_OK)
        return code;
    static const struct {
        const char *field;
        size_t off;
    } text[] = {
        {"actorId", offsetof(Audit__V1__ListAuditRequest, actor_id)},
        {"action", offsetof(Audit__V1__ListAuditRequest, action)},
        {"roomId", offsetof(Audit__V1__ListAuditRequest, room_id)},
    };
    for (size_t i = 0; i < sizeof text / sizeof *text; i++) {
        const char *s = *(const char *const *)((const char *)req + text[i].off);
        if (strlen(s) > FILTER_MAX)
            return rpc_violation(call, text[i].field, "must be at most %d bytes", FILTER_MAX);
    }
    int size;
    if (page_size(req->page_size, &size) != CF_OK)
        return rpc_violation(call, "pageSize", "must not be negative");
    char buf[PBJSON_TIMESTAMP_MAX];
    if (req->since && !pbjson_timestamp_format(req->since->seconds, req->since->nanos, buf))
        return rpc_violation(call, "since", "must be between 0001-01-01 and 9999-12-31");
    if (req->until && !pbjson_timestamp_format(req->until->seconds, req->until->nanos, buf))
        return rpc_violation(call, "until", "must be between 0001-01-01 and 9999-12-31");
    const authn_identity *me = rpc_caller(call);
    if (me->is_app)
        return rpc_error(call, CF_PERMISSION_DENIED, "apps do not read the audit log");
    *all = me->is_admin;
    if (!*all && !*req->room_id)
        return rpc_refuse(call, CF_PERMISSION_DENIED, "roomId",
                          "only platform admins read the whole audit log; a room's organizers "
                          "read their room's with roomId");
    return CF_OK;
}

static int64_t ts_us(const Google__Protobuf__Timestamp *t)
{
    return t->seconds * 1000000 + t->nanos / 1000;
}

int64_t audit_entry_us(const Audit__V1__AuditEntry *e)
{
    return e->occurred_at ? ts_us(e->occurred_at) : 0;
}

int audit_entry_cmp(const Audit__V1__AuditEntry *x, const Audit__V1__AuditEntry *y)
{
    int64_t a = audit_entry_us(x), b = audit_entry_us(y);
    if (a != b)
        return a > b ? -1 : 1;
    int c = strcmp(x->entry_id, y->entry_id);
    return c > 0 ? -1 : c < 0 ? 1 : 0;
}

char *audit_filters(arena *a, const Audit__V1__ListAuditRequest *req)
{
    return arena_printf(a, "audit|%s|%s|%s|%" PRId64 "|%" PRId64, req->actor_id, req->action,
                        req->room_id, req->since ? ts_us(req->since) : INT64_MIN,
                        req->until ? ts_us(req->until) : INT64_MIN);
}

char *audit_page_token(arena *a, const Audit__V1__ListAuditRequest *req, int64_t us, const char *id)
{
    return page_keyset_encode(a, audit_filters(a, req), us, id);
}

static Google__Protobuf__Timestamp *ts_msg(arena *a, int64_t us)
{
    Google__Protobuf__Timestamp *t = arena_alloc(a, sizeof *t);
    google__protobuf__timestamp__init(t);
    int64_t s = us / 1000000, rem = us % 1000000;
    if (rem < 0) {
        s--;
        rem += 1000000;
    }
    t->seconds = s;
    t->nanos = (int32_t)(rem * 1000);
    return t;
}

cf_code audit_list(rpc_call *call, db_conn *c, const char *service,
                   const Audit__V1__ListAuditRequest *req, int64_t floor_us,
                   Audit__V1__ListAuditResponse *resp)
{
    arena *a = rpc_arena(call);
    int size;
    if (page_size(req->page_size, &size) != CF_OK)
        return rpc_violation(call, "pageSize", "must not be negative");
    int64_t after_us = 0;
    char *after_id = NULL;
    cf_code code =
        page_keyset_decode(a, req->page_token, audit_filters(a, req), &after_us, &after_id);
    if (code == CF_INVALID_ARGUMENT)
        return rpc_violation(call, "pageToken", "is not a token of this list with these filters");
    bool first = code == CF_NOT_FOUND;
    int64_t since = req->since ? ts_us(req->since) : INT64_MIN;
    if (floor_us != INT64_MIN && floor_us > since)
        since = floor_us;
    const char *v[8] = {req->actor_id,
                        req->action,
                        req->room_id,
                        since == INT64_MIN ? NULL : arena_printf(a, "%" PRId64, since),
                        req->until ? arena_printf(a, "%" PRId64, ts_us(req->until)) : NULL,
                        first ? NULL : arena_printf(a, "%" PRId64, after_us),
                        first ? "" : after_id,
                        arena_printf(a, "%d", size + 1)};
    PGresult *r;
    if ((code = db_exec_sql(c, list_sql, 8, v, &r)) != CF_OK)
        return rpc_error(call, code == CF_DEADLINE_EXCEEDED ? code : CF_INTERNAL, "list audit: %s",
                         cf_code_name(code));
    int n = PQntuples(r);
    int keep = n > size ? size : n;
    resp->n_entries = (size_t)keep;
    resp->entries = arena_alloc(a, ((size_t)keep + 1) * sizeof *resp->entries);
    for (int i = 0; i < keep; i++) {
        Audit__V1__AuditEntry *e = arena_alloc(a, sizeof *e);
        audit__v1__audit_entry__init(e);
        e->entry_id = arena_strdup(a, PQgetvalue(r, i, 0));
        e->service = arena_strdup(a, service);
        e->action = arena_strdup(a, PQgetvalue(r, i, 1));
        e->actor_id = arena_strdup(a, PQgetvalue(r, i, 2));
        e->room_id = arena_strdup(a, PQgetvalue(r, i, 3));
        e->target_type = arena_strdup(a, PQgetvalue(r, i, 4));
        e->target_id = arena_strdup(a, PQgetvalue(r, i, 5));
        e->detail = arena_strdup(a, PQgetvalue(r, i, 6));
        e->peer = arena_strdup(a, PQgetvalue(r, i, 7));
        e->via = arena_strdup(a, PQgetvalue(r, i, 8));
        e->request_id = arena_strdup(a, PQgetvalue(r, i, 9));
        e->occurred_at = ts_msg(a, strtoll(PQgetvalue(r, i, 10), NULL, 10));
        resp->entries[i] = e;
    }
    if (n > size && keep > 0) {
        const Audit__V1__AuditEntry *last = resp->entries[keep - 1];
        resp->next_page_token = audit_page_token(a, req, audit_entry_us(last), last->entry_id);
    }
    PQclear(r);
    return CF_OK;
}
