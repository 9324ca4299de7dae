/* password.c — argon2id hashing with a bound on concurrent hashes, the dummy hash, and the
 * mailer's setup (password.h). */
#include "password.h"
#include "base/log.h"
#include "base/random.h"
#include "base/xmalloc.h"

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *const auth_mail_senders[] = {"none", "smtp", "file", NULL};
const char *const auth_mail_tls[] = {"required", "none", NULL};

/* How long a hash waits for a slot before RESOURCE_EXHAUSTED. */
#define HASH_WAIT_SECONDS 5

struct auth_password {
    bool enabled;
    unsigned long long ops;
    size_t mem;
    mailer *mailer;
    char dummy[crypto_pwhash_STRBYTES];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int64_t free_slots;
};

cf_code auth_password_new(const auth_password_config *c, auth_password **out, char *err,
                          size_t errlen)
{
    *out = NULL;
    bool has_mail = strcmp(c->mail_sender, "none") != 0;
    if (c->enabled && !has_mail) {
        snprintf(err, errlen, "password.enabled needs a mail sender (mail.sender smtp or file)");
        return CF_INVALID_ARGUMENT;
    }
    if (!c->enabled && !has_mail)
        return CF_OK;
    if (sodium_init() < 0) {
        snprintf(err, errlen, "libsodium cannot start");
        return CF_INTERNAL;
    }
    auth_password *p = xcalloc(1, sizeof *p);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->enabled = c->enabled;
    p->ops = (unsigned long long)c->ops_limit;
    p->mem = (size_t)c->mem_limit;
    p->free_slots = c->max_concurrent;
    mailer_config mc = {.sender = c->mail_sender,
                        .from = c->mail_from,
                        .smtp_url = c->smtp_url,
                        .smtp_tls = c->smtp_tls,
                        .smtp_ca_file = c->smtp_ca_file,
                        .smtp_user = c->smtp_user,
                        .smtp_password = c->smtp_password,
                        .timeout_ms = c->mail_timeout,
                        .file = c->mail_file};
    p->mailer = mailer_new(&mc, err, errlen);
    if (!p->mailer) {
        auth_password_free(p);
        return CF_INVALID_ARGUMENT;
    }
    if (p->enabled) {
        /* unknown e-mails are checked against this, so that they cost what a real check does */
        char pw[48];
        cf_random_token(pw, 32);
        if (crypto_pwhash_str_alg(p->dummy, pw, strlen(pw), p->ops, p->mem,
                                  crypto_pwhash_ALG_ARGON2ID13) != 0) {
            snprintf(err, errlen, "password.mem_limit: cannot hash with %zu bytes", p->mem);
            auth_password_free(p);
            return CF_INVALID_ARGUMENT;
        }
    }
    *out = p;
    return CF_OK;
}

void auth_password_free(auth_password *p)
{
    if (!p)
        return;
    mailer_free(p->mailer);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
}

bool auth_password_enabled(const auth_password *p)
{
    return p && p->enabled;
}

mailer *auth_password_mailer(const auth_password *p)
{
    return p ? p->mailer : NULL;
}

bool auth_password_length_ok(size_t len)
{
    return len >= PASSWORD_MIN_BYTES && len <= PASSWORD_MAX_BYTES;
}

/* password.max_concurrent: a hash holds mem_limit bytes; past the bound, wait for a slot. */
static bool slot_take(auth_password *p)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += HASH_WAIT_SECONDS;
    pthread_mutex_lock(&p->mu);
    int rc = 0;
    while (p->free_slots == 0 && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&p->cv, &p->mu, &until);
    bool ok = p->free_slots > 0;
    if (ok)
        p->free_slots--;
    pthread_mutex_unlock(&p->mu);
    return ok;
}

static void slot_give(auth_password *p)
{
    pthread_mutex_lock(&p->mu);
    p->free_slots++;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

cf_code auth_password_hash(auth_password *p, const char *pw, size_t len, char *out)
{
    if (!slot_take(p))
        return CF_RESOURCE_EXHAUSTED;
    int rc = crypto_pwhash_str_alg(out, pw, len, p->ops, p->mem, crypto_pwhash_ALG_ARGON2ID13);
    slot_give(p);
    return rc == 0 ? CF_OK : CF_INTERNAL;
}

cf_code auth_password_verify(auth_password *p, const char *hash, const char *pw, size_t len,
                             bool *match, bool *rehash)
{
    bool dummy = !hash || !*hash;
    *match = false;
    *rehash = false;
    if (!slot_take(p))
        return CF_RESOURCE_EXHAUSTED;
    int rc = crypto_pwhash_str_verify(dummy ? p->dummy : hash, pw, len);
    slot_give(p);
    if (dummy)
        return CF_OK;
    *match = rc == 0;
    /* an argon2id hash of other parameters (or anything else) is made again at login */
    *rehash = strncmp(hash, "$argon2id$", 10) != 0 ||
              crypto_pwhash_str_needs_rehash(hash, p->ops, p->mem) != 0;
    return CF_OK;
}
