/* keys.c — the verifier's key set kept in step with confetti-auth's GetJwks. */
#include "keys.h"
#include "base/log.h"
#include "base/xmalloc.h"
#include "pbjson/pbjson.h"
#include "rpc/client.h"
#include "auth/v1/auth.pb-c.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_AGE_S 300
#define MIN_MAX_AGE_S     10

struct svc_keys {
    rpc_client *client;
    authn_keyset *ks;
    int64_t min_refetch_ns;
    pthread_mutex_t lock; /* serializes fetches; guards last_fetch_ns, max_age_s */
    int64_t last_fetch_ns;
    int max_age_s;
    atomic_long fetches;
    pthread_t thread;
    pthread_mutex_t wait_lock;
    pthread_cond_t wake;
    bool stop;
};

/* GetJwks → {"keys":[…]} text → the key set. The proto's JSON carries every Jwk field, empty
 * ones included ("crv":"" on an RSA key), and maxAgeSeconds: both are dropped first. */
static bool fetch(svc_keys *k, int timeout_ms)
{
    Auth__V1__GetJwksRequest req = AUTH__V1__GET_JWKS_REQUEST__INIT;
    rpc_ccall cc;
    rpc_ccall_init(&cc, NULL);
    cc.timeout_ms = timeout_ms;
    auth__v1__auth__get_jwks(rpc_client_service(k->client, &auth__v1__auth__descriptor), &req, NULL,
                             &cc);
    bool ok = false;
    if (cc.code == CF_OK) {
        const Auth__V1__GetJwksResponse *r = (const void *)cc.response;
        json_t *doc = pbjson_to_json(cc.response);
        json_object_del(doc, "maxAgeSeconds");
        size_t i;
        json_t *key;
        json_array_foreach(json_object_get(doc, "keys"), i, key)
        {
            const char *name;
            json_t *v;
            void *tmp;
            json_object_foreach_safe(key, tmp, name, v)
            {
                if (json_is_string(v) && json_string_length(v) == 0)
                    json_object_del(key, name);
            }
        }
        char *text = json_dumps(doc, JSON_COMPACT);
        char err[512];
        ok = text && authn_keyset_load_json(k->ks, text, strlen(text), err, sizeof err) == CF_OK;
        if (!ok)
            log_warn("auth GetJwks: unusable key set: %s", err);
        free(text);
        json_decref(doc);
        if (ok) {
            k->max_age_s =
                r->max_age_seconds >= MIN_MAX_AGE_S ? r->max_age_seconds : DEFAULT_MAX_AGE_S;
            atomic_fetch_add(&k->fetches, 1);
        }
    } else {
        log_warn("auth GetJwks: %s: %s", cf_code_name(cc.code), cc.message);
    }
    rpc_ccall_free(&cc);
    return ok;
}

static void *refresher(void *arg)
{
    svc_keys *k = arg;
    pthread_mutex_lock(&k->wait_lock);
    while (!k->stop) {
        pthread_mutex_lock(&k->lock);
        bool have = atomic_load(&k->fetches) > 0;
        int wait_s = have ? k->max_age_s : 2; /* no keys yet: retry soon */
        pthread_mutex_unlock(&k->lock);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += wait_s;
        pthread_cond_timedwait(&k->wake, &k->wait_lock, &until);
        if (k->stop)
            break;
        pthread_mutex_unlock(&k->wait_lock);
        pthread_mutex_lock(&k->lock);
        if (fetch(k, 2000))
            k->last_fetch_ns = cf_mono_ns();
        pthread_mutex_unlock(&k->lock);
        pthread_mutex_lock(&k->wait_lock);
    }
    pthread_mutex_unlock(&k->wait_lock);
    return NULL;
}

cf_code svc_keys_new(const cfg_strlist *urls, rpc_ident *ident, authn_keyset *ks,
                     int64_t min_refetch_ms, svc_keys **out, char *err, size_t errlen)
{
    svc_keys *k = xcalloc(1, sizeof *k);
    rpc_client_config cfg = {
        .urls = (const char *const *)urls->items, .nurls = urls->n, .ident = ident};
    cf_code code = rpc_client_new(&cfg, &k->client, err, errlen);
    if (code != CF_OK) {
        free(k);
        return code;
    }
    k->ks = ks;
    k->min_refetch_ns = min_refetch_ms * 1000000;
    k->max_age_s = DEFAULT_MAX_AGE_S;
    pthread_mutex_init(&k->lock, NULL);
    pthread_mutex_init(&k->wait_lock, NULL);
    pthread_cond_init(&k->wake, NULL);
    if (fetch(k, 2000))
        k->last_fetch_ns = cf_mono_ns();
    else
        log_warn("no signing keys from auth yet: tokens are refused until a fetch succeeds");
    pthread_create(&k->thread, NULL, refresher, k);
    *out = k;
    return CF_OK;
}

bool svc_keys_on_miss(void *arg)
{
    svc_keys *k = arg;
    pthread_mutex_lock(&k->lock);
    bool ok = false;
    int64_t now = cf_mono_ns();
    if (!k->last_fetch_ns || now - k->last_fetch_ns >= k->min_refetch_ns) {
        k->last_fetch_ns = now; /* failed or not, the next try waits its turn */
        ok = fetch(k, 1000);
    }
    pthread_mutex_unlock(&k->lock);
    return ok;
}

long svc_keys_fetches(const svc_keys *k)
{
    return atomic_load(&((svc_keys *)k)->fetches);
}

void svc_keys_free(svc_keys *k)
{
    if (!k)
        return;
    pthread_mutex_lock(&k->wait_lock);
    k->stop = true;
    pthread_cond_signal(&k->wake);
    pthread_mutex_unlock(&k->wait_lock);
    pthread_join(k->thread, NULL);
    rpc_client_free(k->client);
    pthread_cond_destroy(&k->wake);
    pthread_mutex_destroy(&k->wait_lock);
    pthread_mutex_destroy(&k->lock);
    free(k);
}
