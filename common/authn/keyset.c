/* keyset.c — JWKS loading and the snapshot swap that lets keys rotate under running verifiers.
 * A snapshot is immutable once published; readers hold a reference for one verify, so a load
 * never waits for a signature check and a verifier never sees a half-built set. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authn/internal.h"
#include "base/log.h"
#include "base/xmalloc.h"

struct authn_keyset {
    pthread_mutex_t mu; /* guards cur and the reference taken on it */
    authn_keys *cur;
    atomic_uint_fast64_t gen;
};

bool authn_alg_parse(const char *name, authn_alg *out)
{
    if (strcmp(name, "RS256") == 0)
        *out = AUTHN_ALG_RS256;
    else if (strcmp(name, "ES256") == 0)
        *out = AUTHN_ALG_ES256;
    else
        return false;
    return true;
}

const char *authn_alg_name(authn_alg alg)
{
    return alg == AUTHN_ALG_ES256 ? "ES256" : "RS256";
}

static authn_keys *keys_new(size_t cap, uint64_t gen)
{
    authn_keys *k = xcalloc(1, sizeof *k);
    atomic_init(&k->refs, 1);
    k->gen = gen;
    k->keys = cap ? xcalloc(cap, sizeof *k->keys) : NULL;
    return k;
}

static void keys_destroy(authn_keys *k)
{
    for (size_t i = 0; i < k->n; i++)
        EVP_PKEY_free(k->keys[i].pkey);
    free(k->keys);
    free(k);
}

void keys_release(authn_keys *k)
{
    if (k && atomic_fetch_sub_explicit(&k->refs, 1, memory_order_acq_rel) == 1)
        keys_destroy(k);
}

authn_keys *keyset_acquire(authn_keyset *ks)
{
    pthread_mutex_lock(&ks->mu);
    authn_keys *k = ks->cur;
    atomic_fetch_add_explicit(&k->refs, 1, memory_order_relaxed);
    pthread_mutex_unlock(&ks->mu);
    return k;
}

const authn_key *keys_find(const authn_keys *k, const char *kid)
{
    for (size_t i = 0; i < k->n; i++)
        if (strcmp(k->keys[i].kid, kid) == 0)
            return &k->keys[i];
    return NULL;
}

uint64_t keyset_generation(authn_keyset *ks)
{
    return atomic_load_explicit(&ks->gen, memory_order_acquire);
}

cf_code authn_keyset_new(authn_keyset **out)
{
    authn_keyset *ks = xcalloc(1, sizeof *ks);
    pthread_mutex_init(&ks->mu, NULL);
    atomic_init(&ks->gen, 1);
    ks->cur = keys_new(0, 1);
    *out = ks;
    return CF_OK;
}

void authn_keyset_free(authn_keyset *ks)
{
    if (!ks)
        return;
    keys_release(ks->cur);
    pthread_mutex_destroy(&ks->mu);
    free(ks);
}

/* Appends "kid: reason" to err, "; "-separated, truncating at errcap. */
static void note(char *err, size_t errcap, const char *kid, const char *reason)
{
    if (!err || errcap == 0)
        return;
    size_t used = strlen(err);
    if (used + 1 < errcap)
        snprintf(err + used, errcap - used, "%s%s: %s", used ? "; " : "", kid, reason);
}

static cf_code fail(char *err, size_t errcap, const char *why)
{
    if (err && errcap)
        snprintf(err, errcap, "%s", why);
    return CF_INVALID_ARGUMENT;
}

/* Parses the document into a new snapshot (not yet published). */
static cf_code parse_jwks(const char *json, size_t len, authn_keys **out, char *err, size_t errcap)
{
    if (len > AUTHN_JWKS_MAX_BYTES)
        return fail(err, errcap, "JWKS document too large");
    json_error_t jerr;
    json_t *doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc)
        return fail(err, errcap, "JWKS is not valid JSON");
    json_t *arr = json_object_get(doc, "keys");
    if (!json_is_object(doc) || !json_is_array(arr)) {
        json_decref(doc);
        return fail(err, errcap, "JWKS has no \"keys\" array");
    }
    size_t n = json_array_size(arr);
    if (n > AUTHN_JWKS_MAX_KEYS) {
        json_decref(doc);
        return fail(err, errcap, "JWKS has too many keys");
    }
    authn_keys *k = keys_new(n, 0);
    char skipped[512] = "";
    cf_code rc = CF_OK;
    for (size_t i = 0; i < n && rc == CF_OK; i++) {
        json_t *jwk = json_array_get(arr, i);
        if (!json_is_object(jwk)) {
            rc = fail(err, errcap, "JWKS key is not an object");
            break;
        }
        authn_key key;
        const char *why = jwk_to_key(jwk, &key);
        if (why) {
            note(skipped, sizeof skipped, key.kid[0] ? key.kid : "(no kid)", why);
            continue;
        }
        if (keys_find(k, key.kid)) {
            EVP_PKEY_free(key.pkey);
            /* Two keys under one kid would make the pinned algorithm ambiguous. */
            rc = fail(err, errcap, "JWKS has a duplicate kid");
            break;
        }
        k->keys[k->n++] = key;
    }
    json_decref(doc);
    if (rc == CF_OK && k->n == 0)
        rc = fail(err, errcap, skipped[0] ? skipped : "JWKS has no keys");
    if (rc != CF_OK) {
        keys_destroy(k);
        return rc;
    }
    if (err && errcap)
        snprintf(err, errcap, "%s", skipped);
    if (skipped[0])
        log_warn("authn: JWKS keys skipped: %s", skipped);
    *out = k;
    return CF_OK;
}

cf_code authn_keyset_load_json(authn_keyset *ks, const char *json, size_t len, char *err,
                               size_t errcap)
{
    authn_keys *k;
    cf_code rc = parse_jwks(json, len, &k, err, errcap);
    if (rc != CF_OK)
        return rc;
    pthread_mutex_lock(&ks->mu);
    authn_keys *old = ks->cur;
    k->gen = atomic_load_explicit(&ks->gen, memory_order_relaxed) + 1;
    ks->cur = k;
    /* Bumped under the lock with the swap: a cache entry stamped with the new generation was
     * verified with the new keys. */
    atomic_store_explicit(&ks->gen, k->gen, memory_order_release);
    pthread_mutex_unlock(&ks->mu);
    keys_release(old);
    return CF_OK;
}

cf_code authn_keyset_load_file(authn_keyset *ks, const char *path, char *err, size_t errcap)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (err && errcap)
            snprintf(err, errcap, "cannot open %s: %s", path, strerror(errno));
        return CF_NOT_FOUND;
    }
    char *buf = xmalloc(AUTHN_JWKS_MAX_BYTES + 1);
    size_t n = fread(buf, 1, AUTHN_JWKS_MAX_BYTES + 1, f);
    bool bad = ferror(f);
    fclose(f);
    cf_code rc = bad ? fail(err, errcap, "cannot read the JWKS file")
                     : authn_keyset_load_json(ks, buf, n, err, errcap);
    free(buf);
    return rc;
}

size_t authn_keyset_size(authn_keyset *ks)
{
    authn_keys *k = keyset_acquire(ks);
    size_t n = k->n;
    keys_release(k);
    return n;
}

bool authn_keyset_has(authn_keyset *ks, const char *kid, authn_alg *alg)
{
    authn_keys *k = keyset_acquire(ks);
    const authn_key *key = keys_find(k, kid);
    if (key && alg)
        *alg = key->alg;
    keys_release(k);
    return key != NULL;
}
