/* rpc_password.c — PasswordSignUp, PasswordVerify, PasswordLogin, PasswordResetStart,
 * PasswordResetFinish (docs/auth.md, "E-mail and password"). What a client learns never
 * depends on whether an address has an account: sign-up and reset answer the same and mail
 * the address either way; a login with an unknown address verifies a dummy hash and fails with
 * the same message. Passwords and tokens are never logged, and never in an error message. */
#include "auth.h"
#include "password.h"
#include "store.h"
#include "store_password.h"
#include "base/log.h"
#include "base/name.h"
#include "base/random.h"
#include "confetti_proto_handlers.h"
#include "rpc/rpc.h"

#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

static const char *client_ip(const Auth__V1__ClientInfo *c)
{
    return c && c->ip_address ? c->ip_address : "";
}

/* UNIMPLEMENTED while password.enabled is off. */
static cf_code require_enabled(rpc_call *call, auth_ctx *ctx)
{
    if (auth_password_enabled(ctx->password))
        return CF_OK;
    return rpc_error(call, CF_UNIMPLEMENTED, "e-mail and password sign-in is not enabled");
}

static cf_code check_email(rpc_call *call, const char *email)
{
    if (!mailer_address_ok(email))
        return rpc_violation(call, "email",
                             "must be an e-mail address (3-254 characters, "
                             "printable ASCII, one @)");
    return CF_OK;
}

static cf_code check_password(rpc_call *call, const char *pw)
{
    if (!auth_password_length_ok(strlen(pw)))
        return rpc_violation(call, "password", "must be %d-%d bytes", PASSWORD_MIN_BYTES,
                             PASSWORD_MAX_BYTES);
    return CF_OK;
}

static cf_code check_token(rpc_call *call, const char *token)
{
    size_t n = strlen(token);
    if (n == 0 || n > PASSWORD_TOKEN_MAX)
        return rpc_violation(call, "token", "must be 1-%d characters", PASSWORD_TOKEN_MAX);
    return CF_OK;
}

static cf_code hash_error(rpc_call *call, cf_code code)
{
    if (code == CF_RESOURCE_EXHAUSTED) /* password.max_concurrent */
        return rpc_retry_after(call, rpc_error(call, code, "too many sign-ins at once; retry"), 1);
    return rpc_error(call, code, "cannot hash the password");
}

/* ---- mails ---- */

typedef enum { MAIL_VERIFY, MAIL_EXISTS, MAIL_RESET, MAIL_NO_ACCOUNT } mail_kind;

static const char *const kind_names[] = {"verify", "exists", "reset", "no_account"};

/* The mail of kind to email (token: the secret of verify and reset). */
static cf_code compose_and_send(rpc_call *call, auth_ctx *ctx, mail_kind k, const char *email,
                                const char *token)
{
    const auth_password_config *c = &ctx->cfg->password;
    const char *subject = "", *body = "";
    switch (k) {
    case MAIL_VERIFY:
        subject = "Confirm your e-mail address";
        body = rpc_printf(call,
                          "Someone, hopefully you, signed up with this address.\n\n"
                          "To confirm it and sign in, open:\n%s%s\n\n"
                          "(or send this code to POST /v1/auth/password/verify: %s)\n\n"
                          "The code expires in %lld minutes. If it was not you, ignore this "
                          "mail: no account is made without it.\n",
                          c->verify_url, token, token, (long long)(c->verify_ttl / 60000));
        break;
    case MAIL_EXISTS:
        subject = "You already have an account";
        body = "Someone, hopefully you, tried to sign up with this address, but it already has "
               "an account.\n\nSign in as you usually do. To sign in with a password (or if "
               "you forgot it), ask for a password reset with this address.\n\n"
               "If it was not you, ignore this mail: nothing has changed.\n";
        break;
    case MAIL_RESET:
        subject = "Reset your password";
        body = rpc_printf(call,
                          "Someone, hopefully you, asked to reset the password of the account "
                          "of this address.\n\nTo choose a new password, open:\n%s%s\n\n"
                          "(or send this code with the new password to POST "
                          "/v1/auth/password/reset/finish: %s)\n\n"
                          "The code expires in %lld minutes; it signs out every other session. "
                          "If it was not you, ignore this mail: nothing has changed.\n",
                          c->reset_url, token, token, (long long)(c->reset_ttl / 60000));
        break;
    case MAIL_NO_ACCOUNT:
        subject = "Password reset";
        body = "Someone, hopefully you, asked to reset the password of an account with this "
               "address, but there is no account with it.\n\nIf it was you, you may sign up "
               "with this address. If it was not, ignore this mail.\n";
        break;
    }
    mail_msg m = {.to = email, .subject = subject, .body = body};
    char err[256];
    cf_code code = mailer_send(auth_password_mailer(ctx->password), &m, err, sizeof err);
    if (code != CF_OK) {
        log_warn("password: %s mail not sent: %s", kind_names[k], err);
        return rpc_error(call, CF_UNAVAILABLE, "cannot send mail now; try again later");
    }
    return CF_OK;
}

/* Records the mail's row (token hash, or a random one for notices) and sends it, unless a mail
 * went to the address within password.mail_interval: then nothing is sent and the answer is
 * the same (the per-address bound). password_hash, name: the sign-up's (verify). */
static cf_code mail(rpc_call *call, auth_ctx *ctx, mail_kind k, const char *email,
                    const char *user_id, const char *password_hash, const char *name)
{
    const auth_password_config *c = &ctx->cfg->password;
    int64_t now = auth_now(ctx);
    bool recent = false;
    cf_code code = CF_OK;
    if (c->mail_interval > 0)
        code =
            store_pw_recent_mail(rpc_worker(call), email, now - c->mail_interval / 1000, &recent);
    if (code != CF_OK)
        return rpc_error(call, code, "cannot read the mail log");
    if (recent)
        return CF_OK;
    char token[48], hash[65];
    cf_random_token(token, 32);
    auth_sha256_hex(token, hash);
    /* the row lives as long as its token, and at least the interval it bounds */
    int64_t ttl = k == MAIL_VERIFY ? c->verify_ttl : k == MAIL_RESET ? c->reset_ttl : 0;
    if (ttl < c->mail_interval)
        ttl = c->mail_interval;
    store_pw_token t = {.token_hash = hash,
                        .kind = kind_names[k],
                        .email = email,
                        .user_id = user_id,
                        .password_hash = password_hash,
                        .name = name,
                        .now = now,
                        .expires_at = now + (ttl > 0 ? ttl : 1000) / 1000};
    if ((code = store_pw_token_add(rpc_worker(call), &t)) != CF_OK)
        return rpc_error(call, code, "cannot record the mail");
    code = compose_and_send(call, ctx, k, email, token);
    sodium_memzero(token, sizeof token);
    return code;
}

/* The throttle of mails: every mail asked for from a source to an address counts as a
 * failure of (source, address), so one source cannot flood one address (or many). */
static cf_code mail_gate(rpc_call *call, auth_ctx *ctx, const Auth__V1__ClientInfo *client,
                         const char *email, throttle_key *tk, char src[64])
{
    throttle_source(client_ip(client), src);
    *tk = (throttle_key){.kind = "mail", .source = src, .credential = email};
    cf_code gate = auth_throttle_gate(call, ctx, tk);
    if (gate == CF_OK)
        throttle_failed(ctx->throttle, tk, auth_now(ctx));
    return gate;
}

/* The address as matched: lower-case (ASCII, as mailer_address_ok requires). */
static char *lower(rpc_call *call, const char *s)
{
    char *o = rpc_strdup(call, s);
    for (char *p = o; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return o;
}

/* ---- the RPCs ---- */

static bool is_admin_email(const void *ctx, const char *email)
{
    return auth_is_admin_email(ctx, email);
}

RPC_HANDLER(rpc_auth_password_sign_up)
{
    (void)resp;
    auth_ctx *ctx = rpc_service_ctx(call);
    cf_code code = require_enabled(call, ctx);
    if (code != CF_OK || (code = check_email(call, req->email)) != CF_OK ||
        (code = check_password(call, req->password)) != CF_OK)
        return code;
    /* optional; when given, the one rule for names (base/name.h: trimmed, not blank, NFC) */
    const char *name = "", *why = "";
    char *canon = NULL;
    if (*req->name) {
        if (!cf_name_check(rpc_arena(call), req->name, PASSWORD_NAME_MAX, &canon, &why))
            return rpc_violation(call, "name", "%s", why);
        name = canon;
    }
    char *email = lower(call, req->email), src[64];
    throttle_key tk;
    if ((code = mail_gate(call, ctx, req->client, email, &tk, src)) != CF_OK)
        return code;
    /* hashed whether or not the address has an account: the same time either way */
    char hash[crypto_pwhash_STRBYTES];
    if ((code = auth_password_hash(ctx->password, req->password, strlen(req->password), hash)) !=
        CF_OK)
        return hash_error(call, code);
    char user_id[64], old[256];
    bool found = false;
    if ((code = store_pw_user(rpc_worker(call), email, user_id, old, &found)) != CF_OK)
        return rpc_error(call, code, "cannot read the account");
    if (found)
        return mail(call, ctx, MAIL_EXISTS, email, user_id, "", "");
    return mail(call, ctx, MAIL_VERIFY, email, "", hash, name);
}

RPC_HANDLER(rpc_auth_password_verify)
{
    auth_ctx *ctx = rpc_service_ctx(call);
    cf_code code = require_enabled(call, ctx);
    if (code != CF_OK || (code = check_token(call, req->token)) != CF_OK)
        return code;
    /* the token is itself the secret: its source alone is counted (throttle.h) */
    char src[64];
    throttle_source(client_ip(req->client), src);
    throttle_key tk = {.kind = "mailtoken", .source = src, .credential = ""};
    if ((code = auth_throttle_gate(call, ctx, &tk)) != CF_OK)
        return code;
    char hash[65], user_id[64];
    auth_sha256_hex(req->token, hash);
    bool admin = false;
    audit_ctx au = audit_ctx_of(call);
    code = store_pw_verify(rpc_worker(call), hash, auth_now(ctx), is_admin_email, ctx, &au, user_id,
                           &admin);
    if (code == CF_UNAUTHENTICATED) {
        throttle_failed(ctx->throttle, &tk, auth_now(ctx));
        return rpc_error(call, code, "verification code unknown, already used or expired");
    }
    if (code == CF_FAILED_PRECONDITION)
        return rpc_refuse(call, code, "email",
                          "this address already has an account: sign in, or reset its password");
    if (code != CF_OK)
        return rpc_error(call, code, "cannot verify the address");
    if ((code = auth_open_session(call, ctx, user_id, admin, req->client, resp)) != CF_OK)
        return code;
    resp->user = rpc_alloc(call, sizeof *resp->user);
    auth__v1__user__init(resp->user);
    code = store_user_get(rpc_worker(call), rpc_arena(call), user_id, resp->user);
    return code == CF_OK ? CF_OK : rpc_error(call, code, "cannot read the user");
}

RPC_HANDLER(rpc_auth_password_login)
{
    auth_ctx *ctx = rpc_service_ctx(call);
    cf_code code = require_enabled(call, ctx);
    if (code != CF_OK || (code = check_email(call, req->email)) != CF_OK ||
        (code = check_password(call, req->password)) != CF_OK)
        return code;
    char *email = lower(call, req->email), src[64];
    /* failures per source and per (source, address): a source that has not failed is never
     * slowed (throttle.h; issue 24 item 2) */
    throttle_source(client_ip(req->client), src);
    throttle_key tk = {.kind = "password", .source = src, .credential = email};
    if ((code = auth_throttle_gate(call, ctx, &tk)) != CF_OK)
        return code;
    char user_id[64], hash[256] = "";
    bool found = false;
    if ((code = store_pw_user(rpc_worker(call), email, user_id, hash, &found)) != CF_OK)
        return rpc_error(call, code, "cannot read the account");
    /* an unknown address (or an account without a password) costs a dummy verification */
    bool match = false, rehash = false;
    code = auth_password_verify(ctx->password, found ? hash : NULL, req->password,
                                strlen(req->password), &match, &rehash);
    if (code != CF_OK)
        return hash_error(call, code);
    int64_t now = auth_now(ctx);
    if (!match) {
        throttle_failed(ctx->throttle, &tk, now);
        return rpc_error(call, CF_UNAUTHENTICATED, "wrong e-mail or password");
    }
    throttle_succeeded(ctx->throttle, &tk, now);
    if (rehash) {
        /* password.ops_limit/mem_limit changed since this hash was made: upgrade it now */
        char fresh[crypto_pwhash_STRBYTES];
        if (auth_password_hash(ctx->password, req->password, strlen(req->password), fresh) ==
                CF_OK &&
            store_pw_rehash(rpc_worker(call), user_id, hash, fresh, now) != CF_OK)
            log_warn("password: the upgraded hash of user %s was not stored", user_id);
    }
    /* the login is recorded like any other (last_login_at, admins.emails) */
    Auth__V1__User *u = rpc_alloc(call, sizeof *u);
    auth__v1__user__init(u);
    if ((code = store_user_get(rpc_worker(call), rpc_arena(call), user_id, u)) != CF_OK)
        return rpc_error(call, code, "cannot read the user");
    store_login in = {.provider = "password",
                      .provider_id = email,
                      .email = u->email,
                      .name = u->name,
                      .picture = u->avatar_url,
                      .email_verified = true,
                      .bootstrap_admin = auth_is_admin_email(ctx, u->email),
                      .now = now};
    audit_ctx au = audit_ctx_of(call);
    in.au = &au;
    char uid[64];
    bool admin = false;
    if ((code = store_login_user(rpc_worker(call), &in, uid, &admin)) != CF_OK)
        return rpc_error(call, code, "cannot record the login");
    if ((code = auth_open_session(call, ctx, uid, admin, req->client, resp)) != CF_OK)
        return code;
    resp->user = rpc_alloc(call, sizeof *resp->user);
    auth__v1__user__init(resp->user);
    code = store_user_get(rpc_worker(call), rpc_arena(call), uid, resp->user);
    return code == CF_OK ? CF_OK : rpc_error(call, code, "cannot read the user");
}

RPC_HANDLER(rpc_auth_password_reset_start)
{
    (void)resp;
    auth_ctx *ctx = rpc_service_ctx(call);
    cf_code code = require_enabled(call, ctx);
    if (code != CF_OK || (code = check_email(call, req->email)) != CF_OK)
        return code;
    char *email = lower(call, req->email), src[64];
    throttle_key tk;
    if ((code = mail_gate(call, ctx, req->client, email, &tk, src)) != CF_OK)
        return code;
    char user_id[64], hash[256];
    bool found = false;
    if ((code = store_pw_user(rpc_worker(call), email, user_id, hash, &found)) != CF_OK)
        return rpc_error(call, code, "cannot read the account");
    if (!found)
        return mail(call, ctx, MAIL_NO_ACCOUNT, email, "", "", "");
    return mail(call, ctx, MAIL_RESET, email, user_id, "", "");
}

RPC_HANDLER(rpc_auth_password_reset_finish)
{
    auth_ctx *ctx = rpc_service_ctx(call);
    cf_code code = require_enabled(call, ctx);
    if (code != CF_OK || (code = check_token(call, req->token)) != CF_OK ||
        (code = check_password(call, req->password)) != CF_OK)
        return code;
    char src[64];
    throttle_source(client_ip(req->client), src);
    throttle_key tk = {.kind = "mailtoken", .source = src, .credential = ""};
    if ((code = auth_throttle_gate(call, ctx, &tk)) != CF_OK)
        return code;
    char fresh[crypto_pwhash_STRBYTES], hash[65], user_id[64];
    if ((code = auth_password_hash(ctx->password, req->password, strlen(req->password), fresh)) !=
        CF_OK)
        return hash_error(call, code);
    auth_sha256_hex(req->token, hash);
    int64_t now = auth_now(ctx);
    code = store_pw_reset(rpc_worker(call), hash, fresh, now, user_id);
    if (code == CF_UNAUTHENTICATED) {
        throttle_failed(ctx->throttle, &tk, now);
        return rpc_error(call, code, "reset code unknown, already used or expired");
    }
    if (code != CF_OK)
        return rpc_error(call, code, "cannot reset the password");
    /* whoever knew the old password is signed out everywhere */
    int revoked = 0;
    audit_ctx au = audit_ctx_of(call); /* recorded like any "sign out everywhere" */
    code = store_sessions_revoke_all(rpc_worker(call), user_id, "", now,
                                     ctx->cfg->access_ttl / 1000, &revoked, &au);
    if (code != CF_OK)
        return rpc_error(call, code, "cannot revoke the sessions");
    auth_sync_revocations(ctx, rpc_worker(call), now);
    Auth__V1__User *u = rpc_alloc(call, sizeof *u);
    auth__v1__user__init(u);
    if ((code = store_user_get(rpc_worker(call), rpc_arena(call), user_id, u)) != CF_OK)
        return rpc_error(call, code, "cannot read the user");
    if ((code = auth_open_session(call, ctx, user_id, u->is_admin, req->client, resp)) != CF_OK)
        return code;
    resp->user = u;
    return CF_OK;
}
