/* service.c — confetti-auth's svc_def: its configuration table, schema, statements, the
 * generated auth.v1.Auth binding, and init/fini (signing keys, providers, throttle, catalog
 * client, the revocation-sync thread) and its maintenance jobs (maint.c); `confetti-auth
 * --cleanup` runs them once, like --maintenance. */
#include "auth.h"
#include "store.h"
#include "store_password.h"
#include "base/log.h"
#include "base/random.h"
#include "base/xmalloc.h"
#include "confetti_proto_handlers.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

DB_MIGRATIONS_DECLARE(auth_migrations);

static auth_config auth_cfg;

static const char *const token_auths[] = {"client_secret_basic", "client_secret_post", NULL};

#define F(sec, key, type, member, ...) CFG_FIELD(sec, key, type, auth_config, member, __VA_ARGS__)
#define PROVIDER(slot, i, issuer_def, disc_def, trusted_def)                                       \
    F(slot, "enabled", CFG_BOOL, providers[i].enabled, .def = "false",                             \
      .help = "offer this provider for login"),                                                    \
        F(slot, "trusted_email", CFG_BOOL, providers[i].trusted_email, .def = trusted_def,         \
          .help = "its verified e-mails are trusted: they link to an existing account with that "  \
                  "e-mail and bootstrap admins.emails (else the e-mail is not recorded)"),         \
        F(slot, "name", CFG_STR, providers[i].name, .def = "",                                     \
          .help = "its {provider} in /v1/auth/{provider}/login (default: the slot name)"),         \
        F(slot, "display_name", CFG_STR, providers[i].display_name, .def = "",                     \
          .help = "shown on login buttons"),                                                       \
        F(slot, "issuer", CFG_STR, providers[i].issuer, .def = issuer_def,                         \
          .help = "exact iss of its id_tokens"),                                                   \
        F(slot, "discovery", CFG_BOOL, providers[i].discovery, .def = disc_def,                    \
          .help = "read endpoints from <issuer>/.well-known/openid-configuration"),                \
        F(slot, "authorization_endpoint", CFG_STR, providers[i].authorization_endpoint, .def = "", \
          .help = "when discovery is off"),                                                        \
        F(slot, "token_endpoint", CFG_STR, providers[i].token_endpoint, .def = "",                 \
          .help = "when discovery is off"),                                                        \
        F(slot, "jwks_uri", CFG_STR, providers[i].jwks_uri, .def = "",                             \
          .help = "when discovery is off"),                                                        \
        F(slot, "client_id", CFG_STR, providers[i].client_id, .def = "", .help = "OAuth client"),  \
        F(slot, "client_secret", CFG_SECRET, providers[i].client_secret, .def = "",                \
          .help = "OAuth client secret (or client_secret_file)"),                                  \
        F(slot, "redirect_uris", CFG_STRLIST, providers[i].redirect_uris, .def = "",               \
          .help = "allowed redirect URIs (the gateway's callback); the first is the default"),     \
        F(slot, "scopes", CFG_STR, providers[i].scopes, .def = "openid email profile",             \
          .help = "requested scopes"),                                                             \
    {                                                                                              \
        slot, "token_auth", CFG_ENUM, offsetof(auth_config, providers[i].token_auth),              \
            "client_secret_basic", 0, 0, false, token_auths,                                       \
            "client authentication at the token endpoint"                                          \
    }

static const cfg_field auth_fields[] = {
    F("signing", "keys", CFG_STRLIST, signing_keys, .def = "",
      .help = "\"kid=private.pem\" entries: the first signs, all are published (rotation)"),
    F("tokens", "access_ttl", CFG_DURATION, access_ttl, .def = "15m", .min = 60000, .max = 86400000,
      .help = "access token lifetime"),
    F("tokens", "refresh_ttl", CFG_DURATION, refresh_ttl, .def = "30d", .min = 60000,
      .max = 31536000000, .help = "refresh token lifetime (renewed at each rotation)"),
    F("tokens", "refresh_grace", CFG_DURATION, refresh_grace, .def = "10s", .min = 0, .max = 300000,
      .help = "the previous refresh token returns the same pair this long"),
    F("tokens", "app_ttl", CFG_DURATION, app_ttl, .def = "10m", .min = 60000, .max = 86400000,
      .help = "app token lifetime"),
    F("tokens", "jwks_max_age", CFG_DURATION, jwks_max_age, .def = "5m", .min = 0, .max = 86400000,
      .help = "how long verifiers may cache GetJwks"),
    F("tokens", "secret", CFG_SECRET, secret, .def = "",
      .help = "derives refresh successors, PKCE verifiers, nonces; same on every replica "
              "(or secret_file; unset = random per process)"),
    F("admins", "emails", CFG_STRLIST, admin_emails, .def = "",
      .help = "verified e-mails that become platform admins at login"),
    F("oauth", "state_ttl", CFG_DURATION, state_ttl, .def = "10m", .min = 10000, .max = 3600000,
      .help = "how long a login may take"),
    F("oauth", "max_pending", CFG_INT, max_pending, .def = "100000", .min = 1, .max = 100000000,
      .help = "logins begun and not yet expired, platform-wide (BeginLogin past it: "
              "RESOURCE_EXHAUSTED, HTTP 429)"),
    F("oauth", "provider_files", CFG_STRLIST, provider_files, .def = "",
      .help = "more login providers, one YAML file each (section provider: preset google, "
              "yandex, vk, oidc or oauth2; docs/auth.md)"),
    F("oauth", "http_timeout", CFG_DURATION, http_timeout, .def = "5s", .min = 100, .max = 60000,
      .help = "timeout of calls to providers"),
    F("throttle", "max_failures", CFG_INT, throttle_max, .def = "10", .min = 0, .max = 1000000,
      .help = "free failed checks of one credential (app id) from one source (0 = off)"),
    F("throttle", "max_failures_per_source", CFG_INT, throttle_per_source, .def = "100", .min = 1,
      .max = 1000000, .help = "free failed checks of a kind from one source, all credentials"),
    F("throttle", "window", CFG_DURATION, throttle_window, .def = "5m", .min = 1000,
      .max = 86400000, .help = "failures forgotten this long after the last; longest delay"),
    F("throttle", "max_entries", CFG_INT, throttle_entries, .def = "65536", .min = 64,
      .max = 16777216, .help = "slots of the failure table (40 B each, allocated at start)"),
    F("catalog", "urls", CFG_STRLIST, catalog_urls, .def = "tcp://127.0.0.1:7101",
      .help = "catalog service (VerifyAppCredentials)"),
    F("catalog", "timeout", CFG_DURATION, catalog_timeout, .def = "3s", .min = 100, .max = 60000,
      .help = "deadline of calls to catalog"),
    F("events", "subscribe", CFG_STR, events_subscribe, .def = "",
      .help = "the bus's subscriber URL: catalog's app.tokens_revoked become revoked app "
              "credentials (\"\" = app tokens live their app_ttl after a secret regeneration, "
              "deactivation or deletion)"),
    PROVIDER("provider_google", 0, "https://accounts.google.com", "true", "true"),
    PROVIDER("provider_dev", 1, "", "true", "false"),
    PROVIDER("provider_oidc", 2, "", "true", "false"),
    AUTH_PHONE_FIELDS,
    AUTH_PASSWORD_FIELDS(F),
    AUTH_NOTIFY_FIELDS(F),
};
#undef F

static const char *const slot_names[AUTH_PROVIDER_SLOTS] = {"google", "dev", "oidc"};

/* The blacklist into this process's verifier, so a token revoked through another replica is
 * refused here too: auth reads its own database (the source of truth) rather than its own
 * token.revoked events, which the gateway follows. */
cf_code auth_sync_revocations(auth_ctx *ctx, db_conn *db, int64_t now)
{
    authn_verifier *v = svc_verifier(ctx->rt);
    if (!v)
        return CF_OK;
    arena a;
    arena_init(&a, 16384);
    char exp[24] = "", id[64] = "";
    cf_code code = CF_OK;
    for (;;) {
        Auth__V1__RevokedToken **rows;
        char **ids;
        size_t n = 0;
        code = store_revoked_list(db, &a, now, exp, id, 500, &rows, &ids, &n);
        if (code != CF_OK)
            break;
        for (size_t i = 0; i < n && i < 500; i++) {
            if (*rows[i]->jti)
                authn_verifier_revoke(v, rows[i]->jti, rows[i]->expires_at->seconds);
            else
                authn_verifier_revoke_session(v, rows[i]->session_id, rows[i]->expires_at->seconds);
        }
        if (n <= 500)
            break;
        snprintf(exp, sizeof exp, "%lld", (long long)rows[499]->expires_at->seconds);
        snprintf(id, sizeof id, "%s", ids[499]);
        arena_reset(&a);
    }
    arena_release(&a);
    return code;
}

void auth_revoke_session_here(auth_ctx *ctx, const char *sid, int64_t now)
{
    if (svc_verifier(ctx->rt) && sid && *sid)
        authn_verifier_revoke_session(svc_verifier(ctx->rt), sid,
                                      now + ctx->cfg->access_ttl / 1000);
}

/* How often the revocation list is re-read from the database. */
#define AUTH_SYNC_SECONDS 2

static void *cleaner(void *arg)
{
    auth_ctx *ctx = arg;
    db_conn *db = db_conn_new(svc_config(ctx->rt)->db_dsn, "auth", auth_stmts, auth_nstmts);
    db_conn_set_limits(db, svc_db_limits(ctx->rt));
    pthread_mutex_lock(&ctx->stop_mu);
    while (!ctx->stopping) {
        pthread_mutex_unlock(&ctx->stop_mu);
        int64_t now = auth_now(ctx);
        if (db_conn_ensure(db) == CF_OK)
            auth_sync_revocations(ctx, db, now);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += AUTH_SYNC_SECONDS;
        pthread_mutex_lock(&ctx->stop_mu);
        while (!ctx->stopping &&
               pthread_cond_timedwait(&ctx->stop_cv, &ctx->stop_mu, &until) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&ctx->stop_mu);
    db_conn_free(db);
    return NULL;
}

static void auth_fini(svc_runtime *rt, void *p)
{
    (void)rt;
    auth_ctx *ctx = p;
    if (ctx->cleaner_started) {
        pthread_mutex_lock(&ctx->stop_mu);
        ctx->stopping = true;
        pthread_cond_signal(&ctx->stop_cv);
        pthread_mutex_unlock(&ctx->stop_mu);
        pthread_join(ctx->cleaner, NULL);
    }
    auth_consumer_stop(ctx->consumer); /* before the cleaner's lock goes */
    auth_notifier_stop(ctx->notifier);
    pthread_mutex_destroy(&ctx->stop_mu);
    pthread_cond_destroy(&ctx->stop_cv);
    auth_providers_free(ctx);
    auth_phone_free(ctx->phone);
    throttle_free(ctx->throttle);
    auth_password_free(ctx->password);
    rpc_client_free(ctx->catalog);
    auth_keys_free(ctx->keys);
    if (ctx->secret) {
        memset(ctx->secret, 0, strlen(ctx->secret));
        free(ctx->secret);
    }
    free(ctx);
}

static void curl_setup(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static cf_code auth_init(svc_runtime *rt, void **out, char *err, size_t errlen)
{
    static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
    pthread_once(&curl_once, curl_setup);
    auth_ctx *ctx = xcalloc(1, sizeof *ctx);
    pthread_mutex_init(&ctx->stop_mu, NULL);
    pthread_cond_init(&ctx->stop_cv, NULL);
    ctx->rt = rt;
    ctx->cfg = &auth_cfg;
    ctx->clock = svc_clock(rt);
    cf_code code = auth_keys_load(&auth_cfg.signing_keys, &ctx->keys, err, errlen);
    if (code != CF_OK) {
        auth_fini(rt, ctx);
        return code;
    }
    /* The current key must verify here: auth.jwks_file has to publish it (else every call
     * carrying our own tokens would fail). */
    authn_verifier *v = svc_verifier(rt);
    if (v) {
        authn_claims c = {.iss = svc_config(rt)->auth_issuer,
                          .aud = svc_config(rt)->auth_audience,
                          .sub = "auth-self-check",
                          .iat = auth_now(ctx),
                          .ttl_seconds = 60};
        char *tok = NULL;
        authn_identity id;
        const char *why = NULL;
        if (auth_keys_sign(ctx->keys, &c, &tok) != CF_OK ||
            authn_verify(v, tok, &id, &why) != CF_OK) {
            snprintf(err, errlen,
                     "the current signing key does not verify with auth.jwks_file (%s)",
                     why ? why : "signing failed");
            free(tok);
            auth_fini(rt, ctx);
            return CF_INVALID_ARGUMENT;
        }
        free(tok);
    }
    if (*auth_cfg.secret) {
        ctx->secret = xstrdup(auth_cfg.secret);
    } else {
        ctx->secret = xmalloc(64);
        cf_random_token(ctx->secret, 32);
        log_warn("tokens.secret not set: a random one per process (refresh grace and logins in "
                 "flight do not survive a restart or cross replicas)");
    }
    code = auth_providers_init(ctx, &auth_cfg, slot_names, err, errlen);
    if (code == CF_OK)
        code = auth_phone_new(ctx, &ctx->phone, err, errlen);
    if (code != CF_OK) {
        auth_fini(rt, ctx);
        return code;
    }
    if (auth_password_new(&auth_cfg.password, &ctx->password, err, errlen) != CF_OK) {
        auth_fini(rt, ctx);
        return CF_INVALID_ARGUMENT;
    }
    throttle_config tc = {.max_failures = auth_cfg.throttle_max,
                          .max_per_source = auth_cfg.throttle_per_source,
                          .window_s = auth_cfg.throttle_window / 1000,
                          .max_entries = (size_t)auth_cfg.throttle_entries};
    ctx->throttle = throttle_new(&tc);
    if (svc_metrics(rt))
        auth_throttle_metrics(ctx->throttle, svc_metrics(rt));
    rpc_client_config cc = {.urls = (const char *const *)auth_cfg.catalog_urls.items,
                            .nurls = auth_cfg.catalog_urls.n,
                            .timeout_ms = (int)auth_cfg.catalog_timeout,
                            .ident = svc_ident(rt)};
    if (cc.nurls && rpc_client_new(&cc, &ctx->catalog, err, errlen) != CF_OK) {
        auth_fini(rt, ctx);
        return CF_INVALID_ARGUMENT;
    }
    *out = ctx;
    return CF_OK;
}

/* confetti-auth --cleanup (kept for existing CronJobs): every maintenance job once, as
 * --maintenance does. */
static int auth_cleanup_task(svc_runtime *rt, void *p)
{
    (void)p;
    return svc_run_maintenance(rt);
}

/* init, plus the thread that re-reads the blacklist every few seconds. */
static cf_code auth_init_serving(svc_runtime *rt, void **out, char *err, size_t errlen)
{
    cf_code code = auth_init(rt, out, err, errlen);
    if (code != CF_OK)
        return code;
    auth_ctx *ctx = *out;
    pthread_create(&ctx->cleaner, NULL, cleaner, ctx);
    ctx->cleaner_started = true;
    if (*auth_cfg.events_subscribe && auth_cfg.catalog_urls.n > 0) {
        code = auth_consumer_start(ctx, auth_cfg.events_subscribe, &ctx->consumer, err, errlen);
        if (code != CF_OK) {
            auth_fini(rt, ctx);
            *out = NULL;
            return code;
        }
    } else {
        log_warn("events.subscribe or catalog.urls not set: app tokens outlive the revocation of "
                 "their credentials (up to tokens.app_ttl)");
    }
    /* winner mails (notify.h): draw's events, a mailer, and where draw is */
    bool mail = ctx->password && auth_password_mailer(ctx->password);
    if (*auth_cfg.events_subscribe && auth_cfg.notify.draw_urls.n > 0 && mail) {
        code = auth_notifier_start(ctx, auth_cfg.events_subscribe, &ctx->notifier, err, errlen);
        if (code != CF_OK) {
            auth_fini(rt, ctx);
            *out = NULL;
            return code;
        }
    } else if (auth_cfg.notify.draw_urls.n > 0) {
        log_warn("notify.draw_urls is set but events.subscribe or mail.sender is not: winners "
                 "are not told by e-mail");
    }
    return CF_OK;
}

static Auth__V1__Auth_Service auth_binding = AUTH__V1__AUTH__INIT(rpc_auth_);

static svc_def auth_def = {
    .name = "auth",
    .schema = "auth",
    .migrations = auth_migrations,
    .stmts = auth_stmts,
    .fields = auth_fields,
    .nfields = sizeof auth_fields / sizeof *auth_fields,
    .config = &auth_cfg,
    .service = &auth_binding.base,
    .scopes = &auth_scopes,
    .init = auth_init_serving,
    .fini = auth_fini,
    .task_flag = "--cleanup",
    .task = auth_cleanup_task,
    .publishes = true,
};

const svc_def *auth_service_def(void)
{
    /* the counts are extern constants of other translation units, not constant expressions */
    auth_def.nmigrations = auth_migrations_count;
    auth_def.nstmts = auth_nstmts;
    auth_def.maint_jobs = auth_maint_jobs;
    auth_def.nmaint_jobs = auth_maint_njobs;
    return &auth_def;
}
