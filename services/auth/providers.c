/* providers.c — the login providers in force (issue 18 item 1): the three fixed config slots of
 * service.c, then any number of named providers, one per file of oauth.provider_files. A file
 * names a preset (google, yandex, vk, oidc, oauth2) that supplies the defaults; the file sets
 * the rest (client id, secret, redirect URIs, and anything it overrides). Plain OAuth 2.0
 * providers (kind oauth2: Yandex ID, VK ID) have no id_token: their identity is read from the
 * user-info endpoint, which must be https (docs/auth.md, "Providers"). */
#include "auth.h"
#include "base/log.h"
#include "base/xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const presets[] = {"oidc", "oauth2", "google", "yandex", "vk", NULL};
static const char *const kinds[] = {"oidc", "oauth2", NULL};
static const char *const formats[] = {"openid", "yandex", "vk", NULL};
static const char *const token_auths[] = {"client_secret_basic", "client_secret_post", "none",
                                          NULL};

/* The defaults each preset gives (as cfg text). The endpoints are the providers' documented
 * ones: Yandex ID https://yandex.ru/dev/id/doc/, VK ID https://id.vk.com/about/business/go/docs. */
typedef struct preset {
    const char *name, *display_name, *kind, *issuer, *discovery, *authorize, *token, *userinfo,
        *format, *scopes, *token_auth, *trusted_email;
} preset;

static const preset preset_table[] = {
    {"oidc", "", "oidc", "", "true", "", "", "", "openid", "openid email profile",
     "client_secret_basic", "false"},
    {"oauth2", "", "oauth2", "", "false", "", "", "", "openid", "openid email profile",
     "client_secret_basic", "false"},
    {"google", "Google", "oidc", "https://accounts.google.com", "true", "", "", "", "openid",
     "openid email profile", "client_secret_basic", "true"},
    {"yandex", "Yandex ID", "oauth2", "", "false", "https://oauth.yandex.ru/authorize",
     "https://oauth.yandex.ru/token", "https://login.yandex.ru/info?format=json", "yandex",
     "login:email login:info login:avatar", "client_secret_post", "false"},
    {"vk", "VK ID", "oauth2", "", "false", "https://id.vk.com/authorize",
     "https://id.vk.com/oauth2/auth", "https://id.vk.com/oauth2/user_info", "vk",
     "vkid.personal_info email", "none", "false"},
};

#define P(key, type, member, ...)                                                                  \
    CFG_FIELD("provider", key, type, auth_provider_config, member, __VA_ARGS__)

/* The file's keys; the .def of the preset-dependent ones is replaced per preset (fields()). */
static const cfg_field file_fields[] = {
    {"provider", "preset", CFG_ENUM, offsetof(auth_provider_config, preset), "oidc", 0, 0, false,
     presets, "the defaults this provider starts from"},
    P("enabled", CFG_BOOL, enabled, .def = "true", .help = "offer this provider for login"),
    P("name", CFG_STR, name, .def = "",
      .help = "its {provider} in /v1/auth/{provider}/login (default: the file's base name)"),
    P("display_name", CFG_STR, display_name, .def = "", .help = "shown on login buttons"),
    {"provider", "kind", CFG_ENUM, offsetof(auth_provider_config, kind), "oidc", 0, 0, false, kinds,
     "oidc: identity from a verified id_token; oauth2: from the user-info endpoint"},
    P("issuer", CFG_STR, issuer, .def = "", .help = "exact iss of its id_tokens (oidc)"),
    P("discovery", CFG_BOOL, discovery, .def = "true",
      .help = "read endpoints from <issuer>/.well-known/openid-configuration (oidc)"),
    P("authorization_endpoint", CFG_STR, authorization_endpoint, .def = "",
      .help = "where the browser is sent (without discovery)"),
    P("token_endpoint", CFG_STR, token_endpoint, .def = "",
      .help = "where the code is exchanged (without discovery; https for oauth2)"),
    P("jwks_uri", CFG_STR, jwks_uri, .def = "", .help = "the id_tokens' keys (oidc, no discovery)"),
    P("userinfo_endpoint", CFG_STR, userinfo_endpoint, .def = "",
      .help = "the identity of an oauth2 provider (https only)"),
    {"provider", "userinfo_format", CFG_ENUM, offsetof(auth_provider_config, userinfo_format),
     "openid", 0, 0, false, formats, "the user-info request and answer: openid, yandex, vk"},
    P("client_id", CFG_STR, client_id, .def = "", .help = "OAuth client"),
    P("client_secret", CFG_SECRET, client_secret, .def = "",
      .help = "OAuth client secret (or client_secret_file)"),
    P("redirect_uris", CFG_STRLIST, redirect_uris, .def = "",
      .help = "allowed redirect URIs (the gateway's callback); the first is the default"),
    P("scopes", CFG_STR, scopes, .def = "", .help = "requested scopes"),
    {"provider", "token_auth", CFG_ENUM, offsetof(auth_provider_config, token_auth),
     "client_secret_basic", 0, 0, false, token_auths,
     "client authentication at the token endpoint (none: PKCE only, VK ID)"},
    P("trusted_email", CFG_BOOL, trusted_email, .def = "false",
      .help = "its e-mails link to an existing account and bootstrap admins.emails"),
    P("ca_file", CFG_STR, ca_file, .def = "",
      .help = "PEM file of the CAs trusted for its TLS (\"\" = the system's)"),
};
#undef P
#define NFILE_FIELDS (sizeof file_fields / sizeof *file_fields)

/* The file's fields with the preset's defaults. */
static void fields_for(const preset *pr, cfg_field out[NFILE_FIELDS])
{
    memcpy(out, file_fields, sizeof file_fields);
    for (size_t i = 0; i < NFILE_FIELDS; i++) {
        const char *k = out[i].key, *d = NULL;
        if (strcmp(k, "preset") == 0)
            d = pr->name;
        else if (strcmp(k, "display_name") == 0)
            d = pr->display_name;
        else if (strcmp(k, "kind") == 0)
            d = pr->kind;
        else if (strcmp(k, "issuer") == 0)
            d = pr->issuer;
        else if (strcmp(k, "discovery") == 0)
            d = pr->discovery;
        else if (strcmp(k, "authorization_endpoint") == 0)
            d = pr->authorize;
        else if (strcmp(k, "token_endpoint") == 0)
            d = pr->token;
        else if (strcmp(k, "userinfo_endpoint") == 0)
            d = pr->userinfo;
        else if (strcmp(k, "userinfo_format") == 0)
            d = pr->format;
        else if (strcmp(k, "scopes") == 0)
            d = pr->scopes;
        else if (strcmp(k, "token_auth") == 0)
            d = pr->token_auth;
        else if (strcmp(k, "trusted_email") == 0)
            d = pr->trusted_email;
        if (d)
            out[i].def = d;
    }
}

static bool is_https(const char *url)
{
    return url && strncmp(url, "https://", 8) == 0 && url[8];
}

bool auth_provider_check(auth_provider_config *p, const char *where, const char *fallback_name,
                         char *err, size_t errlen)
{
    if (!p->name || !*p->name) {
        free(p->name);
        p->name = xstrdup(fallback_name);
    }
    if (!p->display_name || !*p->display_name) {
        free(p->display_name);
        p->display_name = xstrdup(p->name);
    }
    const char *why = NULL;
    bool oauth2 = auth_provider_is_oauth2(p);
    size_t nlen = strlen(p->name);
    if (nlen == 0 || nlen > 64 || strspn(p->name, "abcdefghijklmnopqrstuvwxyz0123456789-_") != nlen)
        why = "name must be 1-64 characters of a-z 0-9 - _";
    else if (!oauth2 && !*p->issuer)
        why = "issuer is required";
    else if (!*p->client_id)
        why = "client_id is required";
    else if (p->redirect_uris.n == 0)
        why = "redirect_uris is required";
    else if (!oauth2 && !strstr(p->scopes, "openid"))
        why = "scopes must include openid";
    else if (!oauth2 && !p->discovery &&
             (!*p->authorization_endpoint || !*p->token_endpoint || !*p->jwks_uri))
        why = "without discovery, authorization_endpoint, token_endpoint and jwks_uri are required";
    else if (oauth2 && p->discovery)
        why = "kind oauth2 has no discovery: set authorization_endpoint, token_endpoint and "
              "userinfo_endpoint";
    else if (oauth2 && !*p->authorization_endpoint)
        why = "authorization_endpoint is required";
    /* Without an id_token nothing is signed: the identity is only as good as the channel it
     * comes over, so the access token and the user-info answer travel over TLS only. A test
     * trusts its own self-signed certificate through ca_file; there is no plain-http escape. */
    else if (oauth2 && !is_https(p->token_endpoint))
        why = "token_endpoint must be an https:// URL (kind oauth2)";
    else if (oauth2 && !is_https(p->userinfo_endpoint))
        why = "userinfo_endpoint must be an https:// URL (kind oauth2)";
    if (why)
        snprintf(err, errlen, "%s: %s", where, why);
    return why == NULL;
}

/* The file's base name without .yaml/.yml. */
static char *base_name(const char *path)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    char *n = xstrdup(b);
    char *dot = strrchr(n, '.');
    if (dot && (strcmp(dot, ".yaml") == 0 || strcmp(dot, ".yml") == 0))
        *dot = '\0';
    return n;
}

static cf_code load_with(const char *path, const preset *pr, auth_provider_config *out, char *err,
                         size_t errlen)
{
    cfg_field f[NFILE_FIELDS];
    fields_for(pr, f);
    cfg_schema s = {f, NFILE_FIELDS, out};
    return cfg_load(&s, 1, path, NULL, err, errlen);
}

void auth_provider_file_free(auth_provider_config *c)
{
    cfg_schema s = {file_fields, NFILE_FIELDS, c};
    cfg_free(&s, 1);
}

cf_code auth_provider_file_load(const char *path, auth_provider_config *out, char *err,
                                size_t errlen)
{
    memset(out, 0, sizeof *out);
    /* first pass: which preset (the defaults of "oidc"), then again with that preset's */
    cf_code code = load_with(path, &preset_table[0], out, err, errlen);
    if (code != CF_OK)
        return code;
    const preset *pr = NULL;
    for (size_t i = 0; i < sizeof preset_table / sizeof *preset_table; i++)
        if (strcmp(out->preset, preset_table[i].name) == 0)
            pr = &preset_table[i];
    auth_provider_file_free(out);
    if (!pr) { /* cannot happen: the enum's choices are the table's names */
        snprintf(err, errlen, "%s: unknown preset", path);
        return CF_INVALID_ARGUMENT;
    }
    if ((code = load_with(path, pr, out, err, errlen)) != CF_OK)
        return code;
    char *fallback = base_name(path);
    bool ok = auth_provider_check(out, path, fallback, err, errlen);
    free(fallback);
    if (!ok) {
        auth_provider_file_free(out);
        return CF_INVALID_ARGUMENT;
    }
    return CF_OK;
}

oidc_provider *auth_provider_find(auth_ctx *ctx, const char *name)
{
    for (size_t i = 0; i < ctx->nproviders; i++)
        if (strcmp(oidc_provider_config(ctx->providers[i])->name, name) == 0)
            return ctx->providers[i];
    return NULL;
}

static cf_code add(auth_ctx *ctx, const auth_provider_config *c, const char *where, char *err,
                   size_t errlen)
{
    if (auth_provider_find(ctx, c->name)) {
        snprintf(err, errlen, "%s: a provider named \"%s\" is configured twice", where, c->name);
        return CF_INVALID_ARGUMENT;
    }
    ctx->providers[ctx->nproviders++] = oidc_provider_new(c, ctx->clock, ctx->cfg->http_timeout);
    return CF_OK;
}

cf_code auth_providers_init(auth_ctx *ctx, auth_config *cfg, const char *const *slot_names,
                            char *err, size_t errlen)
{
    size_t nfiles = cfg->provider_files.n;
    ctx->providers = xcalloc(AUTH_PROVIDER_SLOTS + nfiles, sizeof *ctx->providers);
    ctx->file_providers = xcalloc(nfiles ? nfiles : 1, sizeof *ctx->file_providers);
    for (int i = 0; i < AUTH_PROVIDER_SLOTS; i++) {
        auth_provider_config *p = &cfg->providers[i];
        if (!p->enabled)
            continue;
        char where[64];
        snprintf(where, sizeof where, "provider_%s", slot_names[i]);
        if (!auth_provider_check(p, where, slot_names[i], err, errlen))
            return CF_INVALID_ARGUMENT;
        cf_code code = add(ctx, p, where, err, errlen);
        if (code != CF_OK)
            return code;
    }
    for (size_t i = 0; i < nfiles; i++) {
        const char *path = cfg->provider_files.items[i];
        auth_provider_config *p = &ctx->file_providers[ctx->nfile_providers];
        cf_code code = auth_provider_file_load(path, p, err, errlen);
        if (code != CF_OK)
            return code;
        ctx->nfile_providers++;
        if (!p->enabled)
            continue;
        if ((code = add(ctx, p, path, err, errlen)) != CF_OK)
            return code;
        log_info("login provider %s (%s, %s) from %s", p->name, p->preset, p->kind, path);
    }
    return CF_OK;
}

void auth_providers_free(auth_ctx *ctx)
{
    for (size_t i = 0; i < ctx->nproviders; i++)
        oidc_provider_free(ctx->providers[i]);
    free(ctx->providers);
    ctx->providers = NULL;
    ctx->nproviders = 0;
    for (size_t i = 0; i < ctx->nfile_providers; i++)
        auth_provider_file_free(&ctx->file_providers[i]);
    free(ctx->file_providers);
    ctx->file_providers = NULL;
    ctx->nfile_providers = 0;
}
