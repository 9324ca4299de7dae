/* oidc.c — one OpenID Connect provider: discovery, the code exchange (libcurl) and id_token
 * verification. The id_token's signature, iss, aud and exp are checked by common/authn's
 * verifier on a key set loaded from the provider's JWKS (so alg none, HS256-with-a-public-key
 * and unknown kids are refused by the same code as our own tokens); the nonce and the profile
 * claims are read here afterwards, from the verified payload. */
#include "auth.h"
#include "base/b64url.h"
#include "base/log.h"
#include "base/xmalloc.h"

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Largest HTTP response read from a provider. */
#define OIDC_MAX_RESPONSE (1024 * 1024)
/* An unknown kid refetches the JWKS at most this often (seconds). */
#define OIDC_JWKS_REFETCH 30

struct oidc_provider {
    const auth_provider_config *cfg;
    const cf_clock *clock;
    int64_t timeout_ms;
    pthread_mutex_t mu; /* guards the endpoints and the fetch times; never held across HTTP */
    char *authorize, *token, *jwks_uri;
    int64_t jwks_fetched_at;
    bool jwks_loaded;
    authn_keyset *keys;
    authn_verifier *verifier;
};

typedef struct buf {
    char *data;
    size_t len;
    bool overflow;
} buf;

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
    buf *b = arg;
    size_t add = size * n;
    if (b->len + add > OIDC_MAX_RESPONSE) {
        b->overflow = true;
        return 0;
    }
    b->data = xrealloc(b->data, b->len + add + 1);
    memcpy(b->data + b->len, p, add);
    b->len += add;
    b->data[b->len] = '\0';
    return add;
}

/* GET (form == NULL) or POST form; *status gets the HTTP status. The body (NUL-terminated) is
 * returned in a new string, or NULL when the server could not be reached. With `auth` (a whole
 * header line) instead of the client's credentials: a user-info call. */
static char *http_as(oidc_provider *p, const char *url, const char *form, const char *auth,
                     long *status);

static char *http(oidc_provider *p, const char *url, const char *form, long *status)
{
    return http_as(p, url, form, NULL, status);
}

static char *http_as(oidc_provider *p, const char *url, const char *form, const char *auth,
                     long *status)
{
    CURL *c = curl_easy_init();
    buf b = {0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)p->timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    /* a plain OAuth 2.0 provider's answers are signed by nothing but TLS (providers.c) */
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR,
                     auth_provider_is_oauth2(p->cfg) ? "https" : "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    if (p->cfg->ca_file && *p->cfg->ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, p->cfg->ca_file);
    struct curl_slist *hdr = curl_slist_append(NULL, "Accept: application/json");
    if (auth)
        hdr = curl_slist_append(hdr, auth);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    if (form) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, form);
        if (!auth && strcmp(p->cfg->token_auth, "client_secret_basic") == 0) {
            /* RFC 6749 §2.3.1: both parts form-urlencoded before Basic encoding */
            char *u = curl_easy_escape(c, p->cfg->client_id, 0);
            char *pw = curl_easy_escape(c, p->cfg->client_secret ? p->cfg->client_secret : "", 0);
            curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
            curl_easy_setopt(c, CURLOPT_USERNAME, u);
            curl_easy_setopt(c, CURLOPT_PASSWORD, pw);
            curl_free(u);
            curl_free(pw);
        }
    }
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    curl_slist_free_all(hdr);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK || b.overflow) {
        log_warn("provider %s: %s: %s", p->cfg->name, url,
                 b.overflow ? "response too large" : curl_easy_strerror(rc));
        free(b.data);
        return NULL;
    }
    if (!b.data)
        b.data = xstrdup("");
    return b.data;
}

oidc_provider *oidc_provider_new(const auth_provider_config *cfg, const cf_clock *clock,
                                 int64_t http_timeout_ms)
{
    oidc_provider *p = xcalloc(1, sizeof *p);
    p->cfg = cfg;
    p->clock = clock;
    p->timeout_ms = http_timeout_ms > 0 ? http_timeout_ms : 5000;
    pthread_mutex_init(&p->mu, NULL);
    if (!cfg->discovery) {
        p->authorize = xstrdup(cfg->authorization_endpoint);
        p->token = xstrdup(cfg->token_endpoint);
        p->jwks_uri = xstrdup(cfg->jwks_uri ? cfg->jwks_uri : "");
    }
    authn_keyset_new(&p->keys);
    if (auth_provider_is_oauth2(cfg))
        return p; /* no id_token: nothing to verify */
    authn_config ac = AUTHN_CONFIG_INIT;
    ac.issuer = cfg->issuer;
    ac.audience = cfg->client_id;
    ac.clock = clock;
    ac.cache_entries = 0;
    if (authn_verifier_new(&ac, p->keys, &p->verifier) != CF_OK)
        log_error("provider %s: bad issuer or client id", cfg->name);
    return p;
}

void oidc_provider_free(oidc_provider *p)
{
    if (!p)
        return;
    authn_verifier_free(p->verifier);
    authn_keyset_free(p->keys);
    free(p->authorize);
    free(p->token);
    free(p->jwks_uri);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

const auth_provider_config *oidc_provider_config(const oidc_provider *p)
{
    return p->cfg;
}

/* Reads the discovery document into new strings; no lock held (an HTTP call). */
static cf_code discover(oidc_provider *p, char **authorize, char **token, char **jwks_uri)
{
    char *url = xasprintf("%s%s/.well-known/openid-configuration", p->cfg->issuer,
                          p->cfg->issuer[strlen(p->cfg->issuer) - 1] == '/' ? "" : "");
    if (url[strlen(p->cfg->issuer) - 1] == '/') /* issuer with a trailing slash */
        memmove(url + strlen(p->cfg->issuer) - 1, url + strlen(p->cfg->issuer),
                strlen(url + strlen(p->cfg->issuer)) + 1);
    long status = 0;
    char *body = http(p, url, NULL, &status);
    free(url);
    if (!body)
        return CF_UNAVAILABLE;
    json_t *j = status == 200 ? json_loads(body, 0, NULL) : NULL;
    free(body);
    const char *iss = json_string_value(json_object_get(j, "issuer"));
    const char *a = json_string_value(json_object_get(j, "authorization_endpoint"));
    const char *t = json_string_value(json_object_get(j, "token_endpoint"));
    const char *k = json_string_value(json_object_get(j, "jwks_uri"));
    cf_code code = CF_OK;
    if (!iss || strcmp(iss, p->cfg->issuer) != 0 || !a || !t || !k) {
        log_warn("provider %s: unusable discovery document (status %ld)", p->cfg->name, status);
        code = CF_UNAVAILABLE;
    } else {
        *authorize = xstrdup(a);
        *token = xstrdup(t);
        *jwks_uri = xstrdup(k);
    }
    json_decref(j);
    return code;
}

/* Copies of the endpoints (any out pointer may be NULL), discovered on first use. The lock is
 * held only to read or install them, never across the provider's HTTP call: a slow or
 * black-holed provider makes each caller wait its own oauth.http_timeout at most, instead of
 * queueing every login behind one another's timeout (issue 14 item 6). Two first uses at once
 * may both fetch the document; the first to finish installs it. */
static cf_code endpoints(oidc_provider *p, char **authorize, char **token, char **jwks_uri)
{
    pthread_mutex_lock(&p->mu);
    bool have = p->authorize && p->token && p->jwks_uri;
    pthread_mutex_unlock(&p->mu);
    if (!have) {
        char *a = NULL, *t = NULL, *k = NULL;
        cf_code code = discover(p, &a, &t, &k);
        if (code != CF_OK)
            return code;
        pthread_mutex_lock(&p->mu);
        if (!p->authorize) { /* installed once, all three together; freed with the provider */
            p->authorize = a;
            p->token = t;
            p->jwks_uri = k;
            a = t = k = NULL;
        }
        pthread_mutex_unlock(&p->mu);
        free(a);
        free(t);
        free(k);
    }
    pthread_mutex_lock(&p->mu);
    if (authorize)
        *authorize = xstrdup(p->authorize);
    if (token)
        *token = xstrdup(p->token);
    if (jwks_uri)
        *jwks_uri = xstrdup(p->jwks_uri);
    pthread_mutex_unlock(&p->mu);
    return CF_OK;
}

cf_code oidc_authorize_endpoint(oidc_provider *p, char **out)
{
    return endpoints(p, out, NULL, NULL);
}

cf_code oidc_provider_set_jwks(oidc_provider *p, const char *jwks)
{
    char err[256];
    cf_code code = authn_keyset_load_json(p->keys, jwks, strlen(jwks), err, sizeof err);
    if (code == CF_OK) {
        pthread_mutex_lock(&p->mu);
        p->jwks_loaded = true;
        p->jwks_fetched_at = p->clock->now(p->clock);
        pthread_mutex_unlock(&p->mu);
    }
    return code;
}

/* Loads the provider's JWKS: on first use, and when a token names a kid we do not have (at
 * most once per OIDC_JWKS_REFETCH seconds, so forged kids cannot make us hammer it). */
static void refresh_jwks(oidc_provider *p, bool unknown_kid)
{
    pthread_mutex_lock(&p->mu);
    int64_t now = p->clock->now(p->clock);
    bool due = !p->jwks_loaded || (unknown_kid && now - p->jwks_fetched_at >= OIDC_JWKS_REFETCH);
    if (due)
        p->jwks_fetched_at = now; /* claimed: concurrent callers do not fetch it again */
    pthread_mutex_unlock(&p->mu);
    char *uri = NULL;
    if (!due || endpoints(p, NULL, NULL, &uri) != CF_OK)
        return;

    long status = 0; /* no lock held: the key set swaps atomically when it loads */
    char *body = http(p, uri, NULL, &status);
    free(uri);
    char err[256] = "";
    if (body && status == 200 &&
        authn_keyset_load_json(p->keys, body, strlen(body), err, sizeof err) == CF_OK) {
        pthread_mutex_lock(&p->mu);
        p->jwks_loaded = true;
        pthread_mutex_unlock(&p->mu);
    } else {
        log_warn("provider %s: JWKS not loaded (status %ld) %s", p->cfg->name, status, err);
    }
    free(body);
}

/* The header's kid (into kid[]), or false if the header does not parse. */
static bool header_kid(const char *token, char kid[AUTHN_KID_MAX + 1])
{
    const char *dot = strchr(token, '.');
    if (!dot || dot - token > 2048)
        return false;
    unsigned char raw[1600];
    size_t n = 0;
    if (!b64url_decode(token, (size_t)(dot - token), raw, &n))
        return false;
    json_t *h = json_loadb((const char *)raw, n, JSON_REJECT_DUPLICATES, NULL);
    const char *k = json_string_value(json_object_get(h, "kid"));
    bool ok = k && strlen(k) <= AUTHN_KID_MAX;
    if (ok)
        snprintf(kid, AUTHN_KID_MAX + 1, "%s", k);
    json_decref(h);
    return ok;
}

/* Copies a string claim; false if present but not a string or too long. */
static bool claim(json_t *c, const char *name, char *dst, size_t cap)
{
    json_t *v = json_object_get(c, name);
    dst[0] = '\0';
    if (!v || json_is_null(v))
        return true;
    if (!json_is_string(v) || json_string_length(v) >= cap)
        return false;
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
    return true;
}

cf_code oidc_verify_id_token(oidc_provider *p, const char *id_token, const char *nonce,
                             oidc_identity *out, const char **reason)
{
    memset(out, 0, sizeof *out);
    const char *why = NULL;
    char kid[AUTHN_KID_MAX + 1];
    if (!id_token || strlen(id_token) > AUTHN_TOKEN_MAX || !header_kid(id_token, kid)) {
        *reason = "id_token malformed or without kid";
        return CF_UNAUTHENTICATED;
    }
    if (!authn_keyset_has(p->keys, kid, NULL))
        refresh_jwks(p, true);
    authn_identity id;
    if (!p->verifier || authn_verify(p->verifier, id_token, &id, &why) != CF_OK) {
        *reason = why ? why : "id_token does not verify";
        return CF_UNAUTHENTICATED;
    }
    /* Verified: read the payload. */
    const char *d1 = strchr(id_token, '.'), *d2 = strchr(d1 + 1, '.');
    size_t n = (size_t)(d2 - d1 - 1), len = 0;
    unsigned char *raw = xmalloc(b64url_decoded_max(n) + 1);
    json_t *c = NULL;
    if (b64url_decode(d1 + 1, n, raw, &len))
        c = json_loadb((const char *)raw, len, JSON_REJECT_DUPLICATES, NULL);
    free(raw);
    cf_code code = CF_UNAUTHENTICATED;
    const char *tn = json_string_value(json_object_get(c, "nonce"));
    json_t *ev = json_object_get(c, "email_verified");
    if (!c) {
        *reason = "id_token payload unreadable";
    } else if (!tn || strlen(tn) != strlen(nonce) || CRYPTO_memcmp(tn, nonce, strlen(nonce))) {
        *reason = "id_token nonce mismatch";
    } else if (!claim(c, "sub", out->sub, sizeof out->sub) || !*out->sub ||
               !claim(c, "email", out->email, sizeof out->email) ||
               !claim(c, "name", out->name, sizeof out->name) ||
               !claim(c, "picture", out->picture, sizeof out->picture)) {
        *reason = "id_token claims malformed";
    } else {
        /* Some providers send "true" as a string. */
        out->email_verified =
            json_is_true(ev) || (json_is_string(ev) && strcmp(json_string_value(ev), "true") == 0);
        code = CF_OK;
    }
    json_decref(c);
    if (code != CF_OK)
        memset(out, 0, sizeof *out);
    return code;
}

static void form_add(CURL *c, char **form, const char *key, const char *value)
{
    char *v = curl_easy_escape(c, value, 0);
    char *next = xasprintf("%s%s%s=%s", *form ? *form : "", *form ? "&" : "", key, v);
    curl_free(v);
    free(*form);
    *form = next;
}

cf_code oidc_exchange(oidc_provider *p, const char *code, const char *redirect_uri,
                      const char *code_verifier, const char *nonce, oidc_identity *out,
                      const char **reason)
{
    char *token_url = NULL;
    cf_code rc = endpoints(p, NULL, &token_url, NULL);
    if (rc != CF_OK) {
        *reason = "provider unreachable";
        return rc;
    }
    CURL *c = curl_easy_init();
    char *form = NULL;
    form_add(c, &form, "grant_type", "authorization_code");
    form_add(c, &form, "code", code);
    form_add(c, &form, "redirect_uri", redirect_uri);
    form_add(c, &form, "code_verifier", code_verifier);
    form_add(c, &form, "client_id", p->cfg->client_id);
    if (strcmp(p->cfg->token_auth, "client_secret_post") == 0)
        form_add(c, &form, "client_secret", p->cfg->client_secret ? p->cfg->client_secret : "");
    curl_easy_cleanup(c);

    long status = 0;
    char *body = http(p, token_url, form, &status);
    free(token_url);
    free(form);
    if (!body) {
        *reason = "provider unreachable";
        return CF_UNAVAILABLE;
    }
    json_t *j = json_loads(body, JSON_REJECT_DUPLICATES, NULL);
    free(body);
    const char *idt = json_string_value(json_object_get(j, "id_token"));
    if (status != 200 || !idt) {
        log_info("provider %s refused the code (status %ld, %s)", p->cfg->name, status,
                 json_string_value(json_object_get(j, "error")) ?: "no id_token");
        json_decref(j);
        *reason = "the provider refused the authorization code";
        return CF_UNAUTHENTICATED;
    }
    cf_code v = oidc_verify_id_token(p, idt, nonce, out, reason);
    json_decref(j);
    return v;
}

/* The user-info call of each format: Bearer (OpenID Connect Core §5.3.1), Yandex's
 * "Authorization: OAuth <token>", VK ID's form POST of client_id and access_token. */
static char *userinfo_call(oidc_provider *p, const char *access_token, long *status)
{
    const char *fmt = p->cfg->userinfo_format ? p->cfg->userinfo_format : "openid";
    char *body = NULL;
    if (strcmp(fmt, "vk") == 0) {
        CURL *c = curl_easy_init();
        char *form = NULL;
        form_add(c, &form, "client_id", p->cfg->client_id);
        form_add(c, &form, "access_token", access_token);
        curl_easy_cleanup(c);
        body = http_as(p, p->cfg->userinfo_endpoint, form, "Cache-Control: no-store", status);
        free(form);
    } else {
        char *auth = xasprintf("Authorization: %s %s",
                               strcmp(fmt, "yandex") == 0 ? "OAuth" : "Bearer", access_token);
        body = http_as(p, p->cfg->userinfo_endpoint, NULL, auth, status);
        memset(auth, 0, strlen(auth));
        free(auth);
    }
    return body;
}

cf_code oidc_exchange_oauth2(oidc_provider *p, const char *code, const char *redirect_uri,
                             const char *code_verifier, const char *state, const char *device_id,
                             oidc_identity *out, const char **reason)
{
    memset(out, 0, sizeof *out);
    const char *fmt = p->cfg->userinfo_format ? p->cfg->userinfo_format : "openid";
    bool vk = strcmp(fmt, "vk") == 0;
    if (vk && (!device_id || !*device_id)) {
        *reason = "the callback has no device_id (VK ID)";
        return CF_UNAUTHENTICATED;
    }
    CURL *c = curl_easy_init();
    char *form = NULL;
    form_add(c, &form, "grant_type", "authorization_code");
    form_add(c, &form, "code", code);
    form_add(c, &form, "redirect_uri", redirect_uri);
    form_add(c, &form, "code_verifier", code_verifier);
    form_add(c, &form, "client_id", p->cfg->client_id);
    if (strcmp(p->cfg->token_auth, "client_secret_post") == 0)
        form_add(c, &form, "client_secret", p->cfg->client_secret ? p->cfg->client_secret : "");
    if (vk) { /* VK ID: the device the code was issued to, and the state (its docs) */
        form_add(c, &form, "device_id", device_id);
        form_add(c, &form, "state", state);
    }
    curl_easy_cleanup(c);
    long status = 0;
    char *body = http(p, p->cfg->token_endpoint, form, &status);
    memset(form, 0, strlen(form));
    free(form);
    if (!body) {
        *reason = "provider unreachable";
        return CF_UNAVAILABLE;
    }
    json_t *j = json_loads(body, JSON_REJECT_DUPLICATES, NULL);
    memset(body, 0, strlen(body));
    free(body);
    const char *at = json_string_value(json_object_get(j, "access_token"));
    if (status != 200 || !at || !*at || strlen(at) > 8192) {
        log_info("provider %s refused the code (status %ld, %s)", p->cfg->name, status,
                 json_string_value(json_object_get(j, "error")) ?: "no access_token");
        json_decref(j);
        *reason = "the provider refused the authorization code";
        return CF_UNAUTHENTICATED;
    }
    char *token = xstrdup(at);
    json_decref(j);
    body = userinfo_call(p, token, &status);
    memset(token, 0, strlen(token));
    free(token);
    if (!body) {
        *reason = "provider unreachable";
        return CF_UNAVAILABLE;
    }
    cf_code rc = CF_UNAUTHENTICATED;
    if (status != 200) {
        log_info("provider %s: user-info answered %ld", p->cfg->name, status);
        *reason = "the provider refused the user-info request";
    } else {
        rc = auth_userinfo_parse(fmt, body, out, reason);
    }
    free(body);
    return rc;
}
