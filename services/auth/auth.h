/* auth.h — what the files of confetti-auth share: its configuration, the service context made
 * by init (signing keys, providers, throttle, catalog client), and the functions each file
 * offers the others. Nothing outside services/auth includes it (tests and the bench do). */
#ifndef CONFETTI_AUTH_AUTH_H
#define CONFETTI_AUTH_AUTH_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "auth/v1/auth.pb-c.h"
#include "authn/authn.h"
#include "authn/sign.h"
#include "base/clock.h"
#include "base/status.h"
#include "cfg/cfg.h"
#include "db/db.h"
#include "rpc/client.h"
#include "svc/svc.h"
#include "phone.h"

#include "notify.h"
#include "password.h"
#include "throttle.h"

/* ---- configuration (service.c: the table; docs/auth.md: every key) ---- */

/* One OpenID Connect provider slot (sections provider_google, provider_dev, provider_oidc). */
typedef struct auth_provider_config {
    bool enabled;
    char *name;         /* the {provider} in URLs; defaults to the slot's name */
    char *display_name; /* for login buttons */
    char *issuer;       /* exact `iss` of its id_tokens */
    bool discovery;     /* fetch <issuer>/.well-known/openid-configuration for the endpoints */
    char *authorization_endpoint, *token_endpoint, *jwks_uri; /* when discovery is off */
    char *client_id;
    char *client_secret; /* secret: client_secret_file */
    cfg_strlist redirect_uris;
    char *scopes;       /* space-separated, must contain openid */
    char *token_auth;   /* client_secret_basic or client_secret_post */
    bool trusted_email; /* its verified e-mails may link accounts and bootstrap admins */
    /* Issue 18 item 1 (providers.c; NULL in the fixed slots = the OpenID defaults): */
    char *preset;            /* google, yandex, vk, oidc, oauth2: the defaults it starts from */
    char *kind;              /* "oidc" (id_token) or "oauth2" (identity from userinfo) */
    char *userinfo_endpoint; /* kind oauth2: https only */
    char *userinfo_format;   /* openid, yandex, vk: the request and the answer's shape */
    char *ca_file;           /* PEM CAs trusted for this provider's TLS ("" = the system's) */
} auth_provider_config;

/* Is this provider plain OAuth 2.0 (identity from its user-info endpoint)? */
static inline bool auth_provider_is_oauth2(const auth_provider_config *c)
{
    return c->kind && strcmp(c->kind, "oauth2") == 0;
}

#define AUTH_PROVIDER_SLOTS 3

typedef struct auth_config {
    cfg_strlist signing_keys; /* "kid=path/to/private.pem", first = current */
    int64_t access_ttl, refresh_ttl, refresh_grace, app_ttl, jwks_max_age; /* ms */
    char *secret;             /* tokens.secret: derives refresh successors, PKCE, nonce */
    cfg_strlist admin_emails; /* admins.emails */
    int64_t state_ttl;        /* oauth.state_ttl (ms) */
    int64_t max_pending;      /* oauth.max_pending: logins begun and not yet expired */
    int64_t http_timeout;     /* oauth.http_timeout (ms) */
    int64_t throttle_max, throttle_per_source; /* free failures: per (source, credential), per
                                                * source (throttle.h) */
    int64_t throttle_window;                   /* ms: failures forgotten after; longest delay */
    int64_t throttle_entries;                  /* the throttle table's slots */
    cfg_strlist catalog_urls;
    int64_t catalog_timeout; /* ms */
    char *events_subscribe;  /* events.subscribe: catalog's app.tokens_revoked ("" = none) */
    auth_provider_config providers[AUTH_PROVIDER_SLOTS];
    cfg_strlist provider_files; /* oauth.provider_files: one named provider per file */
    auth_phone_config phone;    /* phone sign-in (phone.h) */

    auth_password_config password; /* sections password and mail (password.h) */
    auth_notify_config notify;     /* section notify: winner mails (notify.h) */
} auth_config;

/* ---- catalog's events (consumer.c) ---- */

/* Follows catalog's app.tokens_revoked (Replay from catalog.urls) into auth's revocation list;
 * the position is saved with each reaction. UNAVAILABLE if the saved position cannot be read. */
typedef struct auth_consumer auth_consumer;
struct auth_ctx;
cf_code auth_consumer_start(const struct auth_ctx *ctx, const char *bus, auth_consumer **out,
                            char *err, size_t errlen);
void auth_consumer_stop(auth_consumer *c);

/* The service definition (service.c) svc_main and the tests run. */
const svc_def *auth_service_def(void);

/* What app tokens may call on the service (scopes.c; docs/auth.md, "App scopes"). */
extern const rpc_scope_table auth_scopes;
/* The user methods' check (scopes.c): a signed-in caller (UNAUTHENTICATED otherwise) that is a
 * user, not an app (PERMISSION_DENIED "not for app tokens"). */
cf_code auth_require_user(rpc_call *call);

/* ---- signing keys (keys.c) ---- */

typedef struct auth_keys auth_keys;
/* Loads "kid=path" entries (first = current, the rest only published). Algorithm from the key
 * type: RSA → RS256, P-256 → ES256. INVALID_ARGUMENT with err on any bad entry. */
cf_code auth_keys_load(const cfg_strlist *entries, auth_keys **out, char *err, size_t errlen);
void auth_keys_free(auth_keys *k);
/* Signs with the current key. *token is a new string the caller frees. */
cf_code auth_keys_sign(auth_keys *k, const authn_claims *c, char **token);
/* The JWKS document of every key ({"keys":[...]}); borrowed, immutable. */
const char *auth_keys_jwks(const auth_keys *k);

/* ---- OpenID Connect providers (oidc.c) ---- */

typedef struct oidc_provider oidc_provider;

/* What a verified id_token says (strings NUL-terminated; oversized claims refuse the token). */
typedef struct oidc_identity {
    char sub[128];
    char email[320];
    bool email_verified;
    char name[256];
    char picture[1024];
} oidc_identity;

/* Makes a provider from its config slot (borrowed; outlives it). No I/O: endpoints and keys
 * are fetched on first use. */
/* Plain OAuth 2.0 (kind oauth2): exchanges the code (PKCE verifier; VK ID also wants the state
 * and the callback's device_id), then reads the identity from the user-info endpoint over TLS
 * in the provider's userinfo_format. Blocks (HTTP). Codes as oidc_exchange. */
cf_code oidc_exchange_oauth2(oidc_provider *p, const char *code, const char *redirect_uri,
                             const char *code_verifier, const char *state, const char *device_id,
                             oidc_identity *out, const char **reason);

/* ---- user-info answers (userinfo.c) ---- */

/* Reads a user-info answer of format ("openid", "yandex", "vk") into out. UNAUTHENTICATED with a
 * static *reason when it is not JSON, has no subject, or a field is of the wrong type or too
 * long. Pure. */
cf_code auth_userinfo_parse(const char *format, const char *body, oidc_identity *out,
                            const char **reason);

/* ---- the providers in force (providers.c) ---- */

/* Loads one provider file (section `provider:`; its `preset` gives the defaults, the file the
 * rest) into *out (zeroed first; auth_provider_file_free frees it). name defaults to the file's
 * base name without .yaml. INVALID_ARGUMENT with err when it does not load or is unusable
 * (auth_provider_check). */
cf_code auth_provider_file_load(const char *path, auth_provider_config *out, char *err,
                                size_t errlen);
void auth_provider_file_free(auth_provider_config *c);
/* A provider's config is usable, or err says why ("<where>: ..."). Fills name and display_name
 * defaults (fallback_name). */
bool auth_provider_check(auth_provider_config *p, const char *where, const char *fallback_name,
                         char *err, size_t errlen);

oidc_provider *oidc_provider_new(const auth_provider_config *cfg, const cf_clock *clock,
                                 int64_t http_timeout_ms);
void oidc_provider_free(oidc_provider *p);
const auth_provider_config *oidc_provider_config(const oidc_provider *p);
/* The authorization endpoint (discovery on first use). Returns a copy in *out (caller frees).
 * UNAVAILABLE if the provider cannot be reached. Blocks (HTTP). */
cf_code oidc_authorize_endpoint(oidc_provider *p, char **out);
/* Exchanges an authorization code for an id_token (token endpoint, PKCE verifier, client
 * authentication), then verifies it (oidc_verify_id_token). Blocks (HTTP). UNAUTHENTICATED if
 * the provider refuses or the token does not verify; UNAVAILABLE if it cannot be reached. */
cf_code oidc_exchange(oidc_provider *p, const char *code, const char *redirect_uri,
                      const char *code_verifier, const char *nonce, oidc_identity *out,
                      const char **reason);
/* Verifies an id_token against the provider's JWKS (the key its kid names, pinned algorithm;
 * an unknown kid refetches the JWKS at most once per 30 s), iss, aud (= client_id), exp/iat,
 * sub, and nonce (exact). UNAUTHENTICATED with a static *reason on any failure. */
cf_code oidc_verify_id_token(oidc_provider *p, const char *id_token, const char *nonce,
                             oidc_identity *out, const char **reason);
/* Test hook: the provider's keys from a JWKS document instead of its jwks_uri. */
cf_code oidc_provider_set_jwks(oidc_provider *p, const char *jwks);

/* ---- hashing and derivations (tokens.c) ---- */

/* Lower-case hex SHA-256 of s into out[65]. */
void auth_sha256_hex(const char *s, char out[65]);
/* base64url(HMAC-SHA256(secret, label ":" input)) into out[44]: the deterministic secrets
 * (refresh successor, PKCE verifier, nonce). */
void auth_derive(const char *secret, const char *label, const char *input, char out[44]);

/* ---- the service context (service.c) ---- */

typedef struct auth_ctx {
    svc_runtime *rt;
    const auth_config *cfg;
    const cf_clock *clock;
    auth_keys *keys;
    oidc_provider **providers; /* enabled slots, then oauth.provider_files (providers.c) */
    size_t nproviders;
    auth_provider_config *file_providers; /* the files' configs (owned) */
    size_t nfile_providers;
    struct auth_phone *phone; /* phone sign-in (phone.c); NULL when off */
    throttle *throttle;
    rpc_client *catalog;
    auth_consumer *consumer; /* catalog's events, when events.subscribe is set */
    char *secret;            /* cfg->secret, or random per process when unset */
    pthread_t cleaner;
    bool cleaner_started;
    pthread_mutex_t stop_mu;
    pthread_cond_t stop_cv;
    bool stopping;
    auth_password *password;        /* e-mail and password sign-in, the mailer (NULL: neither) */
    struct auth_notifier *notifier; /* winner mails (notify_mail.c); NULL when off */
} auth_ctx;

/* The throttle gate of a credential check (throttle.h's rule, applied the same way by
 * IssueAppToken, Refresh and FinishLogin): CF_OK when the attempt may be checked now; else
 * RESOURCE_EXHAUSTED "too many failed attempts" with the seconds to wait (the reply's
 * retry_after_s: the gateway's Retry-After). */
cf_code auth_throttle_gate(rpc_call *call, auth_ctx *ctx, const throttle_key *k);
/* /metrics: confetti_auth_throttle_entries, _capacity, _evictions_total, _refusals_total. */
void auth_throttle_metrics(throttle *t, metrics *m);

static inline int64_t auth_now(const auth_ctx *ctx)
{
    return ctx->clock->now(ctx->clock);
}

/* The same clock in milliseconds: its seconds, plus the wall clock's milliseconds (the clocks
 * in use follow the wall clock, a test's shifted by whole seconds); both read within one wall
 * second so a tick between the two reads cannot add a second. */
static inline int64_t auth_now_ms(const auth_ctx *ctx)
{
    for (;;) {
        int64_t before = cf_wall_ms(), s = ctx->clock->now(ctx->clock), after = cf_wall_ms();
        if (before / 1000 == after / 1000)
            return s * 1000 + after % 1000;
    }
}

/* Opens a session for user_id (rpc_login.c) and fills the token pair of resp (not its user). */
struct Auth__V1__ClientInfo;
struct Auth__V1__TokenResponse;
cf_code auth_open_session(rpc_call *call, auth_ctx *ctx, const char *user_id, bool admin,
                          const struct Auth__V1__ClientInfo *client,
                          struct Auth__V1__TokenResponse *resp);
/* email is in admins.emails (any case). */
bool auth_is_admin_email(const auth_ctx *ctx, const char *email);

/* The enabled provider named name, or NULL. */
oidc_provider *auth_provider_find(auth_ctx *ctx, const char *name);
/* Makes ctx->providers: the enabled fixed slots (slot_names[i] their default names), then every
 * file of cfg->provider_files. Two providers of one name, or an unusable one, is
 * INVALID_ARGUMENT with err. auth_providers_free undoes it. */
cf_code auth_providers_init(auth_ctx *ctx, auth_config *cfg, const char *const *slot_names,
                            char *err, size_t errlen);
void auth_providers_free(auth_ctx *ctx);

/* Opens a session for user_id and fills resp's token pair (rpc_login.c; every login ends
 * here). An rpc_error on failure. */
cf_code auth_open_session(rpc_call *call, auth_ctx *ctx, const char *user_id, bool admin,
                          const Auth__V1__ClientInfo *client, Auth__V1__TokenResponse *resp);

/* Signs an access token for sub (sid and roles optional) with jti and iat; exp = iat + access
 * ttl. *token is a new string the caller frees. */
cf_code auth_sign_access(auth_ctx *ctx, const char *sub, const char *sid, const char *jti,
                         int64_t iat, bool admin, char **token);

/* Loads the live blacklist into this process's verifier (after a revocation here, and every
 * few seconds for those made through other replicas). Blocks (SQL). */
cf_code auth_sync_revocations(auth_ctx *ctx, db_conn *db, int64_t now);
/* This process's verifier refuses every token of session sid at once (the database and the
 * session.revoked event carry it to the others). No-op without a verifier. */
void auth_revoke_session_here(auth_ctx *ctx, const char *sid, int64_t now);

/* The maintenance jobs (maint.c): expired revocations, sessions, login states. */
extern const svc_maint_job auth_maint_jobs[];
extern const size_t auth_maint_njobs;

#endif
