/* revocations.c — a verifier's revocation list from confetti-auth (see revocations.h). */
#include "revocations.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/xmalloc.h"
#include "events/subscriber.h"
#include "rpc/client.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A revocation that names no expiry is kept this long: the longest access-token lifetime auth
 * accepts (tokens.access_ttl at most 24 h). */
#define NO_EXPIRY_KEEP_S 86400
/* Retry interval while the list has never been loaded. */
#define RETRY_MS 500

struct revsync {
    authn_verifier *v;
    rpc_client *auth;
    events_sub *events;
    int64_t refresh_ms;
    int timeout_ms;
    atomic_bool loaded;
    bool warned;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    pthread_t thread;
};

bool revsync_apply(authn_verifier *v, const Auth__V1__RevokedToken *t, int64_t now)
{
    int64_t until = t->expires_at ? t->expires_at->seconds : now + NO_EXPIRY_KEEP_S;
    if (t->jti && *t->jti)
        return authn_verifier_revoke(v, t->jti, until) == CF_OK;
    if (t->session_id && *t->session_id)
        return authn_verifier_revoke_session(v, t->session_id, until) == CF_OK;
    return false;
}

void revsync_apply_event(authn_verifier *v, const Events__V1__Event *ev, int64_t now)
{
    switch (ev->body_case) {
    case EVENTS__V1__EVENT__BODY_TOKEN_REVOKED: {
        const Events__V1__TokenRevoked *t = ev->token_revoked;
        int64_t exp = t->expires_at ? t->expires_at->seconds : now + NO_EXPIRY_KEEP_S;
        if (*t->jti && exp > now)
            authn_verifier_revoke(v, t->jti, exp);
        break;
    }
    case EVENTS__V1__EVENT__BODY_SESSION_REVOKED: {
        const Events__V1__SessionRevoked *s = ev->session_revoked;
        int64_t until = s->expires_at ? s->expires_at->seconds : now + NO_EXPIRY_KEEP_S;
        if (*s->session_id)
            authn_verifier_revoke_session(v, s->session_id, until);
        for (size_t i = 0; i < s->n_jtis; i++)
            authn_verifier_revoke(v, s->jtis[i], until);
        break;
    }
    default:
        break; /* other auth events are not a verifier's business */
    }
}

static cf_code consume(void *arg, const Events__V1__Event *ev)
{
    revsync_apply_event(arg, ev, cf_wall_ms() / 1000);
    return CF_OK;
}

/* Reads the whole list into the verifier; the number applied, or -1 on failure. */
static int load(revsync *r)
{
    const ProtobufCMethodDescriptor *md = protobuf_c_service_descriptor_get_method_by_name(
        &auth__v1__auth__descriptor, "ListRevokedTokens");
    unsigned index = (unsigned)(md - auth__v1__auth__descriptor.methods);
    int applied = 0;
    char token[512] = "";
    for (int page = 0; page < 10000; page++) {
        Auth__V1__ListRevokedTokensRequest req = AUTH__V1__LIST_REVOKED_TOKENS_REQUEST__INIT;
        req.page_size = 1000;
        req.page_token = token;
        rpc_ccall cc;
        rpc_ccall_init(&cc, NULL);
        cc.timeout_ms = r->timeout_ms;
        rpc_client_invoke(r->auth, &auth__v1__auth__descriptor, index, &req.base, &cc);
        if (cc.code != CF_OK) {
            if (!r->warned)
                log_warn("revocation list from auth: %s: %s (retrying)", cf_code_name(cc.code),
                         cc.message);
            r->warned = true;
            rpc_ccall_free(&cc);
            return -1;
        }
        const Auth__V1__ListRevokedTokensResponse *res = (const void *)cc.response;
        int64_t now = cf_wall_ms() / 1000;
        for (size_t i = 0; i < res->n_tokens; i++)
            applied += revsync_apply(r->v, res->tokens[i], now);
        bool more = res->next_page_token && *res->next_page_token &&
                    strlen(res->next_page_token) < sizeof token;
        if (more)
            snprintf(token, sizeof token, "%s", res->next_page_token);
        rpc_ccall_free(&cc);
        if (!more)
            break;
    }
    if (r->warned)
        log_info("revocation list from auth: loaded again");
    r->warned = false;
    return applied;
}

static void *run(void *arg)
{
    revsync *r = arg;
    pthread_mutex_lock(&r->mu);
    while (!r->stop) {
        pthread_mutex_unlock(&r->mu);
        bool first = !atomic_load(&r->loaded);
        int n = load(r);
        if (n >= 0 && first) {
            atomic_store(&r->loaded, true);
            authn_verifier_set_synced(r->v, true);
            log_info("revocation list loaded: %d revocations; accepting tokens", n);
        }
        int64_t wait = !atomic_load(&r->loaded) ? RETRY_MS : r->refresh_ms;
        pthread_mutex_lock(&r->mu);
        if (wait <= 0) { /* loaded, no periodic re-read: sleep until stopped */
            while (!r->stop)
                pthread_cond_wait(&r->cv, &r->mu);
            break;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += wait / 1000;
        ts.tv_nsec += (wait % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        while (!r->stop && pthread_cond_timedwait(&r->cv, &r->mu, &ts) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

cf_code revsync_start(const revsync_config *cfg, revsync **out, char *err, size_t errlen)
{
    if (!cfg->verifier || cfg->nurls == 0) {
        snprintf(err, errlen, "no auth endpoint to load revocations from");
        return CF_INVALID_ARGUMENT;
    }
    revsync *r = xcalloc(1, sizeof *r);
    r->v = cfg->verifier;
    r->refresh_ms = cfg->refresh_ms;
    r->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 5000;
    atomic_init(&r->loaded, false);
    rpc_client_config cc = {.urls = cfg->auth_urls,
                            .nurls = cfg->nurls,
                            .timeout_ms = r->timeout_ms,
                            .ident = cfg->ident};
    if (rpc_client_new(&cc, &r->auth, err, errlen) != CF_OK) {
        free(r);
        return CF_INVALID_ARGUMENT;
    }
    /* Held before anything can fail to apply: no token is accepted until the list is in. */
    authn_verifier_set_synced(r->v, false);
    if (cfg->bus && *cfg->bus) {
        /* From the oldest event auth still keeps: repeats are idempotent, and the events close
         * the window between a list read and the next. */
        events_source src = {
            .name = "auth", .replay_urls = cfg->auth_urls, .nurls = cfg->nurls, .after_seq = 0};
        events_sub_config ec = {.bus = cfg->bus,
                                .sources = &src,
                                .nsources = 1,
                                .consume = consume,
                                .arg = r->v,
                                .ident = cfg->ident};
        if (events_sub_start(&ec, &r->events, err, errlen) != CF_OK) {
            authn_verifier_set_synced(r->v, true);
            rpc_client_free(r->auth);
            free(r);
            return CF_INVALID_ARGUMENT;
        }
        log_info("revocations followed on %s", cfg->bus);
    }
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    pthread_create(&r->thread, NULL, run, r);
    *out = r;
    return CF_OK;
}

void revsync_stop(revsync *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    r->stop = true;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->thread, NULL);
    events_sub_stop(r->events);
    rpc_client_free(r->auth);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r);
}

bool revsync_loaded(revsync *r)
{
    return !r || atomic_load(&r->loaded);
}
