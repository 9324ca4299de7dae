/* ident.c — service identity: keys, service tokens, the call policy, event signatures (see
 * ident.h). Ed25519 through OpenSSL 3 (keys parsed once at start). */
#include "ident.h"
#include "base/b64url.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/xmalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_TRUSTED    64
#define MAX_AUDIENCES  16
#define VERIFY_SLOTS   512
#define MAX_TTL_MS     (60 * 60 * 1000) /* a token promising more is refused */
#define SKEW_MS        (60 * 1000)      /* clock difference tolerated between pods */
#define DEFAULT_TTL_MS (10 * 60 * 1000)
#define TOKEN_CONTEXT  "confetti-service-token-v1\n"

typedef struct trusted {
    char name[RPC_IDENT_NAME_MAX + 1];
    EVP_PKEY *key;
} trusted;

typedef struct rule {
    char *method; /* "pkg.Svc/Method" */
    char *names;  /* ",a,b," for a membership test by strstr */
} rule;

typedef struct minted { /* client side: a token kept per audience */
    char audience[128];
    char token[RPC_IDENT_TOKEN_MAX];
    int64_t renew_ms;
} minted;

typedef struct verified { /* server side: a token already verified */
    char token[RPC_IDENT_TOKEN_MAX];
    int64_t exp_ms;
    const char *who;
} verified;

struct rpc_ident {
    char name[RPC_IDENT_NAME_MAX + 1];
    EVP_PKEY *key; /* NULL = no identity */
    trusted trust[MAX_TRUSTED];
    size_t ntrust;
    rule *rules;
    size_t nrules;
    char *operators; /* ",a,b," */
    bool require;
    int64_t ttl_ms;
    pthread_mutex_t mint_lock;
    minted mint[MAX_AUDIENCES];
    size_t nmint;
    pthread_mutex_t verify_lock;
    verified *cache; /* VERIFY_SLOTS */
};

static bool name_ok(const char *s, size_t n)
{
    if (n == 0 || n > RPC_IDENT_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return false;
    return true;
}

static EVP_PKEY *read_key(const char *path, bool private, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    EVP_PKEY *k =
        private ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : PEM_read_PUBKEY(f, NULL, NULL, NULL);
    fclose(f);
    if (!k) {
        snprintf(err, errlen, "%s: not a PEM %s key", path, private ? "private" : "public");
        return NULL;
    }
    if (EVP_PKEY_id(k) != EVP_PKEY_ED25519) {
        EVP_PKEY_free(k);
        snprintf(err, errlen, "%s: not an Ed25519 key", path);
        return NULL;
    }
    return k;
}

static cf_code load_trust(rpc_ident *id, const char *dir, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "ident.trust_dir %s: %s", dir, strerror(errno));
        return CF_INVALID_ARGUMENT;
    }
    cf_code code = CF_OK;
    for (struct dirent *e; code == CF_OK && (e = readdir(d));) {
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 4, ".pub") != 0)
            continue; /* Kubernetes' ..data links and anything else */
        if (!name_ok(e->d_name, n - 4)) {
            snprintf(err, errlen, "ident.trust_dir %s: %s: the name must be [a-z0-9-]{1,32}", dir,
                     e->d_name);
            code = CF_INVALID_ARGUMENT;
            break;
        }
        if (id->ntrust == MAX_TRUSTED) {
            snprintf(err, errlen, "ident.trust_dir %s: more than %d keys", dir, MAX_TRUSTED);
            code = CF_INVALID_ARGUMENT;
            break;
        }
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        trusted *t = &id->trust[id->ntrust];
        if (!(t->key = read_key(path, false, err, errlen))) {
            code = CF_INVALID_ARGUMENT;
            break;
        }
        memcpy(t->name, e->d_name, n - 4);
        t->name[n - 4] = 0;
        id->ntrust++;
    }
    closedir(d);
    return code;
}

/* ",a,b," from "a b" (names separated by spaces: a config list is comma-separated in the
 * environment) after checking each name. */
static char *name_set(const char *list, char *err, size_t errlen, const char *what)
{
    size_t n = strlen(list);
    char *out = xmalloc(n + 3);
    snprintf(out, n + 3, ",%s,", list);
    for (char *q = out; *q; q++)
        if (*q == ' ')
            *q = ',';
    for (const char *p = list; *p;) {
        const char *c = strchr(p, ' ');
        size_t l = c ? (size_t)(c - p) : strlen(p);
        if (!name_ok(p, l)) {
            snprintf(err, errlen, "%s: \"%.*s\" is not a service name ([a-z0-9-]{1,32})", what,
                     (int)l, p);
            free(out);
            return NULL;
        }
        p += l + (c ? 1 : 0);
    }
    return out;
}

static bool in_set(const char *set, const char *name)
{
    char key[RPC_IDENT_NAME_MAX + 3];
    snprintf(key, sizeof key, ",%s,", name);
    return set && strstr(set, key) != NULL;
}

static cf_code parse_rules(rpc_ident *id, const rpc_ident_config *cfg, char *err, size_t errlen)
{
    id->rules = xcalloc(cfg->nallow ? cfg->nallow : 1, sizeof *id->rules);
    for (size_t i = 0; i < cfg->nallow; i++) {
        const char *e = cfg->allow[i];
        const char *eq = strchr(e, '=');
        const char *slash = strchr(e, '/');
        if (!eq || !slash || slash > eq || slash == e || slash + 1 == eq) {
            snprintf(err, errlen, "ident.allow \"%s\": expected \"pkg.Service/Method=svc svc\"", e);
            return CF_INVALID_ARGUMENT;
        }
        char what[320];
        snprintf(what, sizeof what, "ident.allow \"%.256s\"", e);
        char *names = name_set(eq + 1, err, errlen, what);
        if (!names)
            return CF_INVALID_ARGUMENT;
        rule *r = &id->rules[id->nrules++];
        r->method = xstrndup(e, (size_t)(eq - e));
        r->names = names;
    }
    return CF_OK;
}

cf_code rpc_ident_new(const rpc_ident_config *cfg, rpc_ident **out, char *err, size_t errlen)
{
    rpc_ident *id = xcalloc(1, sizeof *id);
    pthread_mutex_init(&id->mint_lock, NULL);
    pthread_mutex_init(&id->verify_lock, NULL);
    id->cache = xcalloc(VERIFY_SLOTS, sizeof *id->cache);
    id->require = cfg->require;
    id->ttl_ms = cfg->token_ttl_ms > 0 ? cfg->token_ttl_ms : DEFAULT_TTL_MS;
    if (id->ttl_ms > MAX_TTL_MS)
        id->ttl_ms = MAX_TTL_MS;
    const char *name = cfg->name ? cfg->name : "";
    cf_code code = CF_INVALID_ARGUMENT;
    if (!name_ok(name, strlen(name))) {
        snprintf(err, errlen, "ident.name \"%s\": must be [a-z0-9-]{1,32}", name);
        goto fail;
    }
    strcpy(id->name, name);
    char why[512];
    if (cfg->key_file && *cfg->key_file &&
        !(id->key = read_key(cfg->key_file, true, why, sizeof why))) {
        snprintf(err, errlen, "ident.key_file %s", why);
        goto fail;
    }
    if (cfg->trust_dir && *cfg->trust_dir &&
        (code = load_trust(id, cfg->trust_dir, err, errlen)) != CF_OK)
        goto fail;
    code = CF_INVALID_ARGUMENT;
    if (parse_rules(id, cfg, err, errlen) != CF_OK)
        goto fail;
    size_t len = 1;
    for (size_t i = 0; i < cfg->noperators; i++)
        len += strlen(cfg->operators[i]) + 1;
    char *ops = xcalloc(1, len);
    for (size_t i = 0; i < cfg->noperators; i++) {
        if (i)
            strcat(ops, " ");
        strcat(ops, cfg->operators[i]);
    }
    id->operators = name_set(ops, err, errlen, "ident.operators");
    free(ops);
    if (!id->operators)
        goto fail;
    *out = id;
    return CF_OK;
fail:
    rpc_ident_free(id);
    return code;
}

void rpc_ident_free(rpc_ident *id)
{
    if (!id)
        return;
    EVP_PKEY_free(id->key);
    for (size_t i = 0; i < id->ntrust; i++)
        EVP_PKEY_free(id->trust[i].key);
    for (size_t i = 0; i < id->nrules; i++)
        free(id->rules[i].method), free(id->rules[i].names);
    free(id->rules);
    free(id->operators);
    free(id->cache);
    pthread_mutex_destroy(&id->mint_lock);
    pthread_mutex_destroy(&id->verify_lock);
    free(id);
}

const char *rpc_ident_name(const rpc_ident *id)
{
    return id->name;
}

bool rpc_ident_can_sign(const rpc_ident *id)
{
    return id && id->key;
}

size_t rpc_ident_ntrusted(const rpc_ident *id)
{
    return id->ntrust;
}

static bool ed_sign(EVP_PKEY *key, const void *data, size_t len, uint8_t sig[RPC_IDENT_SIG_LEN])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t n = RPC_IDENT_SIG_LEN;
    bool ok = ctx && EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) == 1 &&
              EVP_DigestSign(ctx, sig, &n, data, len) == 1 && n == RPC_IDENT_SIG_LEN;
    EVP_MD_CTX_free(ctx);
    return ok;
}

static bool ed_verify(EVP_PKEY *key, const void *data, size_t len,
                      const uint8_t sig[RPC_IDENT_SIG_LEN])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) == 1 &&
              EVP_DigestVerify(ctx, sig, RPC_IDENT_SIG_LEN, data, len) == 1;
    EVP_MD_CTX_free(ctx);
    return ok;
}

static const trusted *find_trusted(const rpc_ident *id, const char *name, size_t n)
{
    for (size_t i = 0; i < id->ntrust; i++)
        if (strlen(id->trust[i].name) == n && memcmp(id->trust[i].name, name, n) == 0)
            return &id->trust[i];
    return NULL;
}

bool rpc_ident_sign(const rpc_ident *id, const void *data, size_t len,
                    uint8_t sig[RPC_IDENT_SIG_LEN])
{
    return id && id->key && ed_sign(id->key, data, len, sig);
}

bool rpc_ident_verify(const rpc_ident *id, const char *name, const void *data, size_t len,
                      const uint8_t sig[RPC_IDENT_SIG_LEN])
{
    const trusted *t = id ? find_trusted(id, name, strlen(name)) : NULL;
    return t && ed_verify(t->key, data, len, sig);
}

/* ---- service tokens ---- */

/* "v1:<name>:<aud>:<exp>:" + b64url(Ed25519(TOKEN_CONTEXT "<name>\n<aud>\n<exp>")) */
static bool mint(rpc_ident *id, const char *audience, int64_t exp, char *buf, size_t len)
{
    char msg[256];
    int mn = snprintf(msg, sizeof msg, TOKEN_CONTEXT "%s\n%s\n%" PRId64, id->name, audience, exp);
    if (mn <= 0 || (size_t)mn >= sizeof msg)
        return false;
    uint8_t sig[RPC_IDENT_SIG_LEN];
    if (!ed_sign(id->key, msg, (size_t)mn, sig))
        return false;
    char s[b64url_encoded_len(RPC_IDENT_SIG_LEN) + 1];
    b64url_encode(s, sig, sizeof sig);
    int n = snprintf(buf, len, "v1:%s:%s:%" PRId64 ":%s", id->name, audience, exp, s);
    return n > 0 && (size_t)n < len;
}

bool rpc_ident_token(rpc_ident *id, const char *audience, char *buf, size_t len)
{
    if (!id || !id->key || strlen(audience) >= sizeof id->mint[0].audience)
        return false;
    int64_t now = cf_wall_ms();
    pthread_mutex_lock(&id->mint_lock);
    minted *m = NULL;
    for (size_t i = 0; i < id->nmint && !m; i++)
        if (strcmp(id->mint[i].audience, audience) == 0)
            m = &id->mint[i];
    bool ok = true;
    if (!m && id->nmint < MAX_AUDIENCES) {
        m = &id->mint[id->nmint++];
        snprintf(m->audience, sizeof m->audience, "%s", audience);
        m->renew_ms = 0;
    }
    if (m && now >= m->renew_ms) {
        ok = mint(id, audience, now + id->ttl_ms, m->token, sizeof m->token);
        m->renew_ms = ok ? now + id->ttl_ms / 2 : 0;
    }
    if (ok && m)
        ok = snprintf(buf, len, "%s", m->token) < (int)len;
    pthread_mutex_unlock(&id->mint_lock);
    if (!m) /* more audiences than slots: sign each time */
        ok = mint(id, audience, now + id->ttl_ms, buf, len);
    return ok;
}

static uint32_t fnv1a(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

/* Verifies a token for audience; *who = the trusted name (borrowed from id). */
static const char *verify_token(rpc_ident *id, const char *token, const char *audience,
                                const char **who)
{
    size_t tl = strlen(token);
    if (tl >= RPC_IDENT_TOKEN_MAX)
        return "service token too long";
    int64_t now = cf_wall_ms();
    verified *slot = &id->cache[fnv1a(token) % VERIFY_SLOTS];
    pthread_mutex_lock(&id->verify_lock);
    bool hit = strcmp(slot->token, token) == 0 && now <= slot->exp_ms + SKEW_MS;
    if (hit)
        *who = slot->who;
    pthread_mutex_unlock(&id->verify_lock);
    if (hit) /* the audience is part of the verified token: check it again */
        goto audience;

    /* v1:name:aud:exp:sig */
    char copy[RPC_IDENT_TOKEN_MAX];
    memcpy(copy, token, tl + 1);
    char *part[5], *p = copy;
    for (int i = 0; i < 5; i++) {
        part[i] = p;
        char *c = i < 4 ? strchr(p, ':') : NULL;
        if (i < 4 && !c)
            return "malformed service token";
        if (c)
            *c = 0, p = c + 1;
    }
    if (strcmp(part[0], "v1") != 0)
        return "unknown service token version";
    const trusted *t = find_trusted(id, part[1], strlen(part[1]));
    if (!t)
        return "service not trusted";
    char *end;
    errno = 0;
    long long exp = strtoll(part[3], &end, 10);
    if (errno || *end || end == part[3])
        return "malformed service token";
    if (now > exp + SKEW_MS)
        return "service token expired";
    if (exp > now + MAX_TTL_MS + SKEW_MS)
        return "service token lives too long";
    uint8_t sig[RPC_IDENT_SIG_LEN + 2];
    size_t sl = 0;
    if (strlen(part[4]) > b64url_encoded_len(RPC_IDENT_SIG_LEN) ||
        !b64url_decode(part[4], strlen(part[4]), sig, &sl) || sl != RPC_IDENT_SIG_LEN)
        return "malformed service token";
    char msg[256];
    int mn = snprintf(msg, sizeof msg, TOKEN_CONTEXT "%s\n%s\n%s", part[1], part[2], part[3]);
    if (mn <= 0 || (size_t)mn >= sizeof msg || !ed_verify(t->key, msg, (size_t)mn, sig))
        return "bad service token signature";
    *who = t->name;
    pthread_mutex_lock(&id->verify_lock);
    memcpy(slot->token, token, tl + 1);
    slot->exp_ms = exp;
    slot->who = t->name;
    pthread_mutex_unlock(&id->verify_lock);
audience : {
    /* the audience follows "v1:<name>:" */
    const char *a = token + 3 + strlen(*who) + 1;
    size_t al = strlen(audience);
    if (strncmp(a, audience, al) != 0 || a[al] != ':') {
        *who = NULL;
        return "service token made for another service";
    }
}
    return NULL;
}

static const rule *find_rule(const rpc_ident *id, const char *method)
{
    for (size_t i = 0; i < id->nrules; i++)
        if (strcmp(id->rules[i].method, method) == 0)
            return &id->rules[i];
    return NULL;
}

cf_code rpc_ident_check(rpc_ident *id, const char *method, const char *token, const char **who,
                        const char **why)
{
    *who = NULL;
    *why = NULL;
    if (token && *token) {
        const char *slash = strchr(method, '/');
        char audience[128];
        snprintf(audience, sizeof audience, "%.*s", slash ? (int)(slash - method) : 0, method);
        const char *bad = verify_token(id, token, audience, who);
        if (bad) {
            *why = bad;
            return CF_UNAUTHENTICATED;
        }
    }
    bool operator= * who && in_set(id->operators, *who);
    const rule *r = find_rule(id, method);
    if (r) {
        if (!*who) {
            *why = "an internal method: a service identity is required";
            return CF_UNAUTHENTICATED;
        }
        if (!operator&& !in_set(r->names, *who)) {
            *why = "this service may not call this method";
            return CF_PERMISSION_DENIED;
        }
    } else if (id->require && !*who) {
        *why = "a service identity is required";
        return CF_UNAUTHENTICATED;
    }
    return CF_OK;
}

/* ---- keys for tests and benches ---- */

static cf_code write_pem(const char *path, EVP_PKEY *k, bool private, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, private ? 0600 : 0644);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        if (fd >= 0)
            close(fd);
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return CF_INTERNAL;
    }
    int ok =
        private ? PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) : PEM_write_PUBKEY(f, k);
    if (fclose(f) != 0 || ok != 1) {
        snprintf(err, errlen, "%s: cannot write the key", path);
        return CF_INTERNAL;
    }
    return CF_OK;
}

cf_code rpc_ident_keygen(const char *dir, const char *name, char *err, size_t errlen)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (!k) {
        snprintf(err, errlen, "Ed25519 key generation failed");
        return CF_INTERNAL;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.key", dir, name);
    cf_code code = write_pem(path, k, true, err, errlen);
    snprintf(path, sizeof path, "%s/%s.pub", dir, name);
    if (code == CF_OK)
        code = write_pem(path, k, false, err, errlen);
    EVP_PKEY_free(k);
    return code;
}
