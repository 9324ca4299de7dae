/* revocations.c — the gateway's revocation list kept current by events: confetti-auth's
 * `token.revoked` and `session.revoked`, received through the bus (and its Replay for what the
 * bus dropped), reach authn_verifier_revoke within a second — instead of waiting for the next
 * ListRevokedTokens poll (auth.revoked_refresh), which remains the safety net. */
#include "gateway.h"
#include "base/clock.h"
#include "base/log.h"
#include "events/subscriber.h"

#include <string.h>

/* Access tokens live 15 minutes (SPEC §3); a session.revoked names its tokens' jtis without
 * their exp, so they are refused for that long plus the verifier's leeway. */
#define ACCESS_TTL_S (15 * 60 + 300)

static cf_code consume(void *arg, const Events__V1__Event *ev)
{
    authn_verifier *v = arg;
    int64_t now = cf_wall_ms() / 1000;
    switch (ev->body_case) {
    case EVENTS__V1__EVENT__BODY_TOKEN_REVOKED: {
        const Events__V1__TokenRevoked *t = ev->token_revoked;
        int64_t exp = t->expires_at ? t->expires_at->seconds : now + ACCESS_TTL_S;
        if (*t->jti && exp > now)
            authn_verifier_revoke(v, t->jti, exp);
        break;
    }
    case EVENTS__V1__EVENT__BODY_SESSION_REVOKED:
        for (size_t i = 0; i < ev->session_revoked->n_jtis; i++)
            authn_verifier_revoke(v, ev->session_revoked->jtis[i], now + ACCESS_TTL_S);
        break;
    default:
        break; /* other auth events are not the gateway's business */
    }
    return CF_OK;
}

cf_code gw_revocations_start(const char *bus, const cfg_strlist *auth_urls, authn_verifier *v,
                             rpc_ident *ident, events_sub **out, char *err, size_t errlen)
{
    /* From the oldest event auth still keeps: ListRevokedTokens already loaded the list, so
     * this only repeats revocations (idempotent) and closes the window between the two. */
    events_source src = {.name = "auth",
                         .replay_urls = (const char *const *)auth_urls->items,
                         .nurls = auth_urls->n,
                         .after_seq = 0};
    events_sub_config cfg = {
        .bus = bus, .sources = &src, .nsources = 1, .consume = consume, .arg = v, .ident = ident};
    cf_code code = events_sub_start(&cfg, out, err, errlen);
    if (code == CF_OK)
        log_info("revocations followed on %s", bus);
    return code;
}
