/* consumer.c — auth's reaction to catalog's events: `app.tokens_revoked` (a secret regenerated,
 * an app deactivated or deleted) becomes a revoked sid in auth's own list — the row verifiers
 * load with ListRevokedTokens and the session.revoked event they follow — in one transaction
 * with the saved position, so auth's database stays the one source of truth for revocations. */
#include "auth.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>

#include "base/xmalloc.h"
#include "events/subscriber.h"
#include "svc/startwait.h"

struct auth_consumer {
    db_conn *db; /* used only on the subscriber thread */
    events_sub *sub;
    const auth_ctx *ctx;
};

/* An app token issued from credentials verified just before the generation ended may be signed
 * a moment after this runs: its sid is refused this much longer than app_ttl. */
#define SIGNING_MARGIN_S 60

static cf_code consume(void *arg, const Events__V1__Event *ev)
{
    auth_consumer *c = arg;
    const Events__V1__AppTokensRevoked *a =
        ev->body_case == EVENTS__V1__EVENT__BODY_APP_TOKENS_REVOKED ? ev->app_tokens_revoked : NULL;
    if (a && (!*a->session_id || !*a->app_id))
        a = NULL; /* malformed: nothing to revoke, but the position moves */
    int64_t until = auth_now(c->ctx) + c->ctx->cfg->app_ttl / 1000 + SIGNING_MARGIN_S;
    char *sub = a ? xasprintf("app:%s", a->app_id) : NULL;
    cf_code code = store_catalog_event(c->db, ev->source, ev->seq, a ? a->session_id : NULL, sub,
                                       a ? a->reason : NULL, until);
    free(sub);
    /* this process's own verifier at once (others follow the session.revoked just written) */
    if (code == CF_OK && a && svc_verifier(c->ctx->rt))
        authn_verifier_revoke_session(svc_verifier(c->ctx->rt), a->session_id, until);
    return code;
}

typedef struct {
    db_conn *db;
    int64_t after;
} position_read;

static cf_code read_position(void *arg, char *err, size_t errlen)
{
    position_read *p = arg;
    cf_code code = db_conn_ensure(p->db);
    if (code == CF_OK)
        code = store_catalog_position(p->db, "catalog", &p->after);
    if (code != CF_OK)
        snprintf(err, errlen, "events: cannot read the saved position: %s", cf_code_name(code));
    return code;
}

cf_code auth_consumer_start(const auth_ctx *ctx, const char *bus, auth_consumer **out, char *err,
                            size_t errlen)
{
    auth_consumer *c = xcalloc(1, sizeof *c);
    c->ctx = ctx;
    c->db = db_conn_new(svc_config(ctx->rt)->db_dsn, "auth", auth_stmts, auth_nstmts);
    db_conn_set_limits(c->db, svc_db_limits(ctx->rt));
    position_read pos = {.db = c->db};
    cf_code code =
        svc_start_retry(svc_config(ctx->rt)->db_start_wait, "auth: catalog event position",
                        read_position, &pos, err, errlen);
    if (code != CF_OK) {
        db_conn_free(c->db);
        free(c);
        return CF_UNAVAILABLE;
    }
    int64_t after = pos.after;
    events_source src = {.name = "catalog",
                         .replay_urls = (const char *const *)ctx->cfg->catalog_urls.items,
                         .nurls = ctx->cfg->catalog_urls.n,
                         .after_seq = after};
    events_sub_config cfg = {.bus = bus,
                             .sources = &src,
                             .nsources = 1,
                             .consume = consume,
                             .arg = c,
                             .ident = svc_ident(ctx->rt)};
    if ((code = events_sub_start(&cfg, &c->sub, err, errlen)) != CF_OK) {
        db_conn_free(c->db);
        free(c);
        return code;
    }
    *out = c;
    return CF_OK;
}

void auth_consumer_stop(auth_consumer *c)
{
    if (!c)
        return;
    events_sub_stop(c->sub);
    db_conn_free(c->db);
    free(c);
}
