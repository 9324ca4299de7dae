/* rpc_login.c — ListProviders, BeginLogin, FinishLogin: the OpenID Connect authorization-code
 * flow with PKCE (S256), a single-use state (only its hash stored, short TTL) and a nonce; the
 * PKCE verifier and the nonce are derived from the state with the server secret (tokens.c). */
#include "auth.h"
#include "store.h"
#include "base/b64url.h"
#include "base/cuid.h"
#include "base/random.h"
#include "base/xmalloc.h"
#include "confetti_proto_handlers.h"
#include "rpc/rpc.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Longest code or state accepted. */
#define LOGIN_PARAM_MAX 2048

RPC_HANDLER(rpc_auth_list_providers)
{
    (void)req;
    auth_ctx *ctx = rpc_service_ctx(call);
    resp->providers = rpc_alloc(call, (ctx->nproviders + 1) * sizeof *resp->providers);
    for (size_t i = 0; i < ctx->nproviders; i++) {
        const auth_provider_config *c = oidc_provider_config(ctx->providers[i]);
        Auth__V1__Provider *p = rpc_alloc(call, sizeof *p);
        auth__v1__provider__init(p);
        p->name = c->name;
        p->display_name = c->display_name;
        resp->providers[resp->n_providers++] = p;
    }
    return CF_OK;
}

/* Appends key=percent-encoded(value) to the URL being built in the arena. */
static char *q_add(rpc_call *call, char *url, const char *key, const char *value)
{
    size_t n = strlen(value);
    char *enc = rpc_alloc(call, 3 * n + 1), *o = enc;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)value[i];
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
            strchr("-._~", ch))
            *o++ = (char)ch;
        else
            o += sprintf(o, "%%%02X", ch);
    }
    *o = '\0';
    return rpc_printf(call, "%s%s%s=%s", url, strchr(url, '?') ? "&" : "?", key, enc);
}

RPC_HANDLER(rpc_auth_begin_login)
{
    auth_ctx *ctx = rpc_service_ctx(call);
    oidc_provider *p = auth_provider_find(ctx, req->provider);
    if (!p)
        return rpc_error(call, CF_NOT_FOUND, "no such login provider");
    const auth_provider_config *c = oidc_provider_config(p);
    const char *redirect = c->redirect_uris.items[0];
    if (*req->redirect_uri) {
        redirect = NULL;
        for (size_t i = 0; i < c->redirect_uris.n; i++)
            if (strcmp(req->redirect_uri, c->redirect_uris.items[i]) == 0)
                redirect = c->redirect_uris.items[i];
        if (!redirect)
            return rpc_violation(call, "redirectUri", "is not registered for this provider");
    }
    char *endpoint = NULL;
    if (oidc_authorize_endpoint(p, &endpoint) != CF_OK)
        return rpc_error(call, CF_UNAVAILABLE, "login provider unreachable");
    char *url = rpc_strdup(call, endpoint);
    free(endpoint);

    char state[48], verifier[44], nonce[44], challenge[44], hash[65];
    cf_random_token(state, 32);
    auth_derive(ctx->secret, "pkce", state, verifier);
    auth_derive(ctx->secret, "nonce", state, nonce);
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)verifier, strlen(verifier), d);
    b64url_encode(challenge, d, sizeof d);
    auth_sha256_hex(state, hash);
    if (strlen(req->browser_binding) > LOGIN_PARAM_MAX)
        return rpc_violation(call, "browserBinding", "must be at most %d characters",
                             LOGIN_PARAM_MAX);
    char binding[65] = "";
    if (*req->browser_binding)
        auth_sha256_hex(req->browser_binding, binding);
    int64_t now = auth_now(ctx), exp = now + ctx->cfg->state_ttl / 1000;
    cf_code code = store_state_create(rpc_worker(call), hash, c->name, redirect, now, exp, binding,
                                      ctx->cfg->max_pending);
    if (code == CF_RESOURCE_EXHAUSTED) /* oauth.max_pending (issue 24 item 1) */
        return rpc_error(call, code, "too many logins in progress; try again in a minute");
    if (code != CF_OK)
        return rpc_error(call, code, "cannot record the login");

    url = q_add(call, url, "response_type", "code");
    url = q_add(call, url, "client_id", c->client_id);
    url = q_add(call, url, "redirect_uri", redirect);
    url = q_add(call, url, "scope", c->scopes);
    url = q_add(call, url, "state", state);
    if (!auth_provider_is_oauth2(c)) /* OpenID only: no id_token to carry it otherwise */
        url = q_add(call, url, "nonce", nonce);
    url = q_add(call, url, "code_challenge", challenge);
    url = q_add(call, url, "code_challenge_method", "S256");
    resp->authorize_url = url;
    resp->state = rpc_strdup(call, state);
    resp->expires_at = rpc_alloc(call, sizeof *resp->expires_at);
    google__protobuf__timestamp__init(resp->expires_at);
    resp->expires_at->seconds = exp;
    return CF_OK;
}

bool auth_is_admin_email(const auth_ctx *ctx, const char *email)
{
    for (size_t i = 0; *email && i < ctx->cfg->admin_emails.n; i++)
        if (strcasecmp(ctx->cfg->admin_emails.items[i], email) == 0)
            return true;
    return false;
}

static const char *client_field(const Auth__V1__ClientInfo *c, int which)
{
    if (!c)
        return "";
    const char *v = which == 0 ? c->user_agent : which == 1 ? c->device_info : c->ip_address;
    return v ? v : "";
}

cf_code auth_open_session(rpc_call *call, auth_ctx *ctx, const char *user_id, bool admin,
                          const Auth__V1__ClientInfo *client, Auth__V1__TokenResponse *resp)
{
    char sid[CUID_LEN + 1], jti[CUID_LEN + 1], rt[48], hash[65];
    cuid_new(sid);
    cuid_new(jti);
    cf_random_token(rt, 32);
    auth_sha256_hex(rt, hash);
    int64_t now = auth_now(ctx);
    char ua[512], dev[512], ip[64];
    snprintf(ua, sizeof ua, "%s", client_field(client, 0));
    snprintf(dev, sizeof dev, "%s", client_field(client, 1));
    snprintf(ip, sizeof ip, "%s", client_field(client, 2));
    store_session_new s = {.id = sid,
                           .user_id = user_id,
                           .refresh_hash = hash,
                           .access_jti = jti,
                           .user_agent = ua,
                           .device_info = dev,
                           .ip_address = ip,
                           .now = now,
                           .expires_at = now + ctx->cfg->refresh_ttl / 1000};
    cf_code code = store_session_create(rpc_worker(call), &s);
    if (code != CF_OK)
        return rpc_error(call, code, "cannot open the session");
    char *tok = NULL;
    if (auth_sign_access(ctx, user_id, sid, jti, now, admin, &tok) != CF_OK)
        return rpc_error(call, CF_INTERNAL, "signing failed");
    resp->access_token = rpc_strdup(call, tok);
    free(tok);
    resp->refresh_token = rpc_strdup(call, rt);
    resp->expires_in = ctx->cfg->access_ttl / 1000;
    resp->token_type = "Bearer";
    resp->session_id = rpc_strdup(call, sid);
    return CF_OK;
}

RPC_HANDLER(rpc_auth_finish_login)
{
    auth_ctx *ctx = rpc_service_ctx(call);
    if (*req->error) {
        /* The provider said no (the user cancelled, consent refused…): no code to exchange. */
        if (strlen(req->error) > 64)
            return rpc_violation(call, "error", "is too long");
        return rpc_error(call, CF_UNAUTHENTICATED, "the login provider refused the login: %s",
                         req->error);
    }
    if (!*req->code || strlen(req->code) > LOGIN_PARAM_MAX)
        return rpc_violation(call, "code", "must be 1-%d characters", LOGIN_PARAM_MAX);
    if (!*req->state || strlen(req->state) > LOGIN_PARAM_MAX)
        return rpc_violation(call, "state", "must be 1-%d characters", LOGIN_PARAM_MAX);
    oidc_provider *p = auth_provider_find(ctx, req->provider);
    if (!p)
        return rpc_error(call, CF_NOT_FOUND, "no such login provider");
    const auth_provider_config *c = oidc_provider_config(p);
    /* the state is itself the secret: failures are counted per source (throttle.h) */
    char src[64];
    throttle_source(client_field(req->client, 2), src);
    throttle_key tk = {.kind = "login", .source = src, .credential = ""};
    cf_code gate = auth_throttle_gate(call, ctx, &tk);
    if (gate != CF_OK)
        return gate;

    /* The state is consumed first: whatever happens next, it cannot be played again. */
    char hash[65];
    auth_sha256_hex(req->state, hash);
    char *provider = NULL, *redirect = NULL, *bound = NULL;
    int64_t now = auth_now(ctx);
    cf_code code = store_state_take(rpc_worker(call), rpc_arena(call), hash, now, &provider,
                                    &redirect, &bound);
    if (code == CF_UNAUTHENTICATED) {
        throttle_failed(ctx->throttle, &tk, now);
        return rpc_error(call, code, "login state unknown, already used or expired");
    }
    if (code != CF_OK)
        return rpc_error(call, code, "cannot read the login state");
    if (strcmp(provider, c->name) != 0) {
        throttle_failed(ctx->throttle, &tk, now);
        return rpc_error(call, CF_UNAUTHENTICATED, "login state belongs to another provider");
    }
    /* RFC 9207: a provider that names itself on the callback must be the one we sent the user
     * to (an attacker's provider cannot pass its code off as this one's). */
    if (*req->iss && *c->issuer && strcmp(req->iss, c->issuer) != 0) {
        throttle_failed(ctx->throttle, &tk, now);
        return rpc_error(call, CF_UNAUTHENTICATED, "the callback comes from another issuer");
    }
    /* Login CSRF: a login begun by a browser finishes only in that browser (the cookie the
     * gateway set with the redirect to the provider comes back with the callback). */
    if (*bound) {
        char presented[65] = "";
        if (*req->browser_binding && strlen(req->browser_binding) <= LOGIN_PARAM_MAX)
            auth_sha256_hex(req->browser_binding, presented);
        if (strlen(presented) != 64 || strlen(bound) != 64 ||
            CRYPTO_memcmp(presented, bound, 64) != 0) {
            throttle_failed(ctx->throttle, &tk, now);
            return rpc_error(call, CF_UNAUTHENTICATED,
                             "login was started in another browser (or its cookie is gone)");
        }
    }

    char verifier[44], nonce[44];
    auth_derive(ctx->secret, "pkce", req->state, verifier);
    auth_derive(ctx->secret, "nonce", req->state, nonce);
    oidc_identity *id = rpc_alloc(call, sizeof *id);
    const char *why = "";
    if (strlen(req->device_id) > LOGIN_PARAM_MAX)
        return rpc_violation(call, "deviceId", "must be at most %d characters", LOGIN_PARAM_MAX);
    if (auth_provider_is_oauth2(c)) /* no id_token: the identity from the user-info endpoint */
        code = oidc_exchange_oauth2(p, req->code, redirect, verifier, req->state, req->device_id,
                                    id, &why);
    else
        code = oidc_exchange(p, req->code, redirect, verifier, nonce, id, &why);
    if (code == CF_UNAUTHENTICATED)
        throttle_failed(ctx->throttle, &tk, now);
    if (code != CF_OK)
        return rpc_error(call, code, "login refused: %s", why);

    /* Only a provider trusted for e-mail (provider_*.trusted_email) vouches for an address:
     * another's "verified" e-mail is not recorded, links nothing and makes no admin — else any
     * provider able to claim an address could take over the account that has it. */
    bool email_ok = c->trusted_email && id->email_verified;
    store_login in = {.provider = c->name,
                      .provider_id = id->sub,
                      .email = id->email,
                      .name = id->name,
                      .picture = id->picture,
                      .email_verified = email_ok,
                      .bootstrap_admin = email_ok && auth_is_admin_email(ctx, id->email),
                      .now = now};
    audit_ctx au = audit_ctx_of(call);
    in.au = &au;
    char user_id[CUID_LEN + 1];
    bool admin = false;
    code = store_login_user(rpc_worker(call), &in, user_id, &admin);
    if (code != CF_OK)
        return rpc_error(call, code, "cannot record the user");
    if ((code = auth_open_session(call, ctx, user_id, admin, req->client, resp)) != CF_OK)
        return code;
    resp->user = rpc_alloc(call, sizeof *resp->user);
    auth__v1__user__init(resp->user);
    code = store_user_get(rpc_worker(call), rpc_arena(call), user_id, resp->user);
    return code == CF_OK ? CF_OK : rpc_error(call, code, "cannot read the user");
}
