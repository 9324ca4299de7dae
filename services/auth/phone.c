/* phone.c — phone number sign-in (issue 18 item 3): StartPhoneLogin sends a one-time code by
 * SMS, FinishPhoneLogin trades it for the same tokens as any other login.
 *
 * - The code: phone.code_length random digits; only HMAC(tokens.secret, id ":" code) is stored
 *   (006_phone.sql), valid phone.code_ttl, phone.max_attempts wrong tries per challenge, single
 *   use (a conditional UPDATE), never logged.
 * - Limits on sending (SMS cost money and annoy the number's owner): one code per number per
 *   phone.resend_interval, phone.max_per_phone per number and phone.max_per_source per client
 *   address per phone.window, counted in the database under a per-number advisory lock (every
 *   replica counts the same rows). Past one: RESOURCE_EXHAUSTED with Retry-After.
 * - Limits on guessing: a code's attempts, times the codes a number may get per window, bound
 *   the guesses per number (5 × 5 per hour against 10^6 by default); wrong codes also count in
 *   the "phone" kind of the failure throttle per client address (throttle.h), like FinishLogin.
 * - No enumeration: the answer to Start is the same for a number with an account and without
 *   (a first login creates the user); Finish says only "wrong, expired or used". */
#include "auth.h"
#include "store.h"
#include "base/cuid.h"
#include "base/log.h"
#include "base/random.h"
#include "base/xmalloc.h"
#include "confetti_proto_handlers.h"
#include "db/tx.h"
#include "rpc/rpc.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct auth_phone {
    const auth_phone_config *cfg;
    sms_sender *sender;
};

cf_code auth_phone_new(auth_ctx *ctx, struct auth_phone **out, char *err, size_t errlen)
{
    *out = NULL;
    const auth_phone_config *cfg = &ctx->cfg->phone;
    if (!cfg->enabled)
        return CF_OK;
    if (!strstr(cfg->message, "{code}")) {
        snprintf(err, errlen, "phone.message must contain {code}");
        return CF_INVALID_ARGUMENT;
    }
    if (strlen(cfg->message) > 320) {
        snprintf(err, errlen, "phone.message must be at most 320 characters");
        return CF_INVALID_ARGUMENT;
    }
    struct auth_phone *p = xcalloc(1, sizeof *p);
    p->cfg = cfg;
    cf_code code = sms_sender_new(cfg, &p->sender, err, errlen);
    if (code != CF_OK) {
        free(p);
        return code;
    }
    *out = p;
    return CF_OK;
}

void auth_phone_free(struct auth_phone *p)
{
    if (!p)
        return;
    sms_sender_free(p->sender);
    free(p);
}

bool auth_phone_normalize(const char *in, char out[17])
{
    size_t n = 0, len = strlen(in);
    if (len > 64)
        return false;
    size_t i = 0;
    while (in[i] == ' ')
        i++;
    if (in[i] == '+')
        i++;
    else if (in[i] == '0' && in[i + 1] == '0')
        i += 2;
    else
        return false;
    out[n++] = '+';
    for (; in[i]; i++) {
        char ch = in[i];
        if (ch >= '0' && ch <= '9') {
            if (n >= 16)
                return false;
            out[n++] = ch;
        } else if (!strchr(" -.()", ch)) {
            return false;
        }
    }
    out[n] = '\0';
    /* E.164: at most 15 digits, the country code never starts with 0; 8 as a sane minimum */
    return n >= 9 && out[1] != '0';
}

/* ---- the database ---- */

typedef struct start_tx {
    const auth_phone_config *cfg;
    const char *id, *phone, *source, *hash;
    int64_t now;
    int64_t retry_after; /* out: > 0 when refused */
} start_tx;

/* Seconds until a row created at `created` leaves a span of `span_ms`. */
static int64_t until(int64_t created, int64_t span_ms, int64_t now)
{
    int64_t r = created + (span_ms + 999) / 1000 - now;
    return r > 0 ? r : 1;
}

static cf_code start_body(db_conn *c, void *arg)
{
    start_tx *t = arg;
    t->retry_after = 0;
    const char *lock[] = {t->phone};
    cf_code code = db_exec_sql(c,
                               "SELECT pg_advisory_xact_lock(hashtextextended('auth.phone:' "
                               "|| $1, 0))",
                               1, lock, NULL);
    if (code != CF_OK)
        return code;
    char now[24], win[24], resend[24], maxp[24], maxs[24];
    snprintf(now, sizeof now, "%lld", (long long)t->now);
    snprintf(win, sizeof win, "%lld", (long long)(t->cfg->window / 1000));
    snprintf(resend, sizeof resend, "%lld", (long long)(t->cfg->resend_interval / 1000));
    snprintf(maxp, sizeof maxp, "%lld", (long long)t->cfg->max_per_phone);
    snprintf(maxs, sizeof maxs, "%lld", (long long)t->cfg->max_per_source);
    /* per number: the newest (resend interval) and the max_per_phone-th newest in the window;
     * per address: its max_per_source-th newest in the window. 0 = not reached. */
    const char *v[] = {t->phone, t->source, now, win, maxp, maxs};
    PGresult *r = NULL;
    code = db_exec_sql(
        c,
        "SELECT coalesce((SELECT extract(epoch FROM max(created_at))::bigint FROM "
        "phone_challenges WHERE phone = $1), 0), "
        "coalesce((SELECT extract(epoch FROM created_at)::bigint FROM phone_challenges WHERE "
        "phone = $1 AND created_at > to_timestamp($3::bigint - $4::bigint) ORDER BY created_at "
        "DESC OFFSET $5::bigint - 1 LIMIT 1), 0), "
        "coalesce((SELECT extract(epoch FROM created_at)::bigint FROM phone_challenges WHERE "
        "source = $2 AND created_at > to_timestamp($3::bigint - $4::bigint) ORDER BY created_at "
        "DESC OFFSET $6::bigint - 1 LIMIT 1), 0)",
        6, v, &r);
    if (code != CF_OK)
        return code;
    int64_t last = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    int64_t nth_phone = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
    int64_t nth_source = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
    PQclear(r);
    int64_t resend_s = t->cfg->resend_interval / 1000;
    if (last && resend_s > 0 && t->now - last < resend_s)
        t->retry_after = until(last, t->cfg->resend_interval, t->now);
    if (nth_phone && until(nth_phone, t->cfg->window, t->now) > t->retry_after)
        t->retry_after = until(nth_phone, t->cfg->window, t->now);
    if (nth_source && until(nth_source, t->cfg->window, t->now) > t->retry_after)
        t->retry_after = until(nth_source, t->cfg->window, t->now);
    if (t->retry_after > 0)
        return CF_RESOURCE_EXHAUSTED;
    char exp[24];
    snprintf(exp, sizeof exp, "%lld", (long long)(t->now + t->cfg->code_ttl / 1000));
    const char *ins[] = {t->id, t->phone, t->source, t->hash, now, exp};
    return db_exec_sql(c,
                       "INSERT INTO phone_challenges (id, phone, source, code_hash, created_at, "
                       "expires_at) VALUES ($1, $2, $3, $4, to_timestamp($5), to_timestamp($6))",
                       6, ins, NULL);
}

static cf_code spend(db_conn *db, const char *id, int64_t now, bool *won)
{
    char ts[24];
    snprintf(ts, sizeof ts, "%lld", (long long)now);
    const char *v[] = {id, ts};
    PGresult *r = NULL;
    cf_code code = db_exec_sql(db,
                               "UPDATE phone_challenges SET spent_at = to_timestamp($2) WHERE id = "
                               "$1 AND spent_at IS NULL RETURNING 1",
                               2, v, &r);
    if (code == CF_OK) {
        *won = PQntuples(r) == 1;
        PQclear(r);
    }
    return code;
}

/* ---- the RPCs ---- */

static const char *client_ip(const Auth__V1__ClientInfo *c)
{
    return c && c->ip_address ? c->ip_address : "";
}

/* The code's hash: HMAC(tokens.secret, "phone:" id ":" code). */
static void code_hash(const auth_ctx *ctx, const char *id, const char *code, char out[44])
{
    char in[64];
    snprintf(in, sizeof in, "%s:%s", id, code);
    auth_derive(ctx->secret, "phone", in, out);
    memset(in, 0, sizeof in);
}

RPC_HANDLER(rpc_auth_start_phone_login)
{
    auth_ctx *ctx = rpc_service_ctx(call);
    struct auth_phone *ph = ctx->phone;
    if (!ph)
        return rpc_error(call, CF_UNIMPLEMENTED, "phone sign-in is not enabled");
    char phone[17];
    if (!auth_phone_normalize(req->phone, phone))
        return rpc_violation(call, "phone",
                             "must be an international number: + and 8-15 digits (E.164)");
    char src[64];
    throttle_source(client_ip(req->client), src);
    char id[CUID_LEN + 1], code[12], hash[44];
    cuid_new(id);
    size_t len = (size_t)ph->cfg->code_length;
    for (size_t i = 0; i < len; i++)
        code[i] = (char)('0' + cf_random_below(10));
    code[len] = '\0';
    code_hash(ctx, id, code, hash);
    int64_t now = auth_now(ctx);
    start_tx t = {
        .cfg = ph->cfg, .id = id, .phone = phone, .source = src, .hash = hash, .now = now};
    cf_code rc = db_tx(rpc_worker(call), start_body, &t);
    if (rc == CF_RESOURCE_EXHAUSTED) {
        memset(code, 0, sizeof code);
        return rpc_retry_after(
            call,
            rpc_error(call, rc,
                      "too many codes for this number or from this address; retry in "
                      "%lld s",
                      (long long)t.retry_after),
            t.retry_after);
    }
    if (rc != CF_OK) {
        memset(code, 0, sizeof code);
        return rpc_error(call, rc, "cannot record the code");
    }
    /* the text: the template with {code} replaced (checked at start: it has one) */
    const char *m = ph->cfg->message, *at = strstr(m, "{code}");
    char *text = xasprintf("%.*s%s%s", (int)(at - m), m, code, at + 6);
    memset(code, 0, sizeof code);
    char err[256] = "";
    rc = sms_send(ph->sender, phone, text, err, sizeof err);
    memset(text, 0, strlen(text));
    free(text);
    if (rc != CF_OK) {
        bool spent = false; /* the code never left: nobody may use it */
        spend(rpc_worker(call), id, now, &spent);
        log_warn("phone sign-in: the code could not be sent (%s)", err);
        return rpc_error(call, CF_UNAVAILABLE, "cannot send the code now; try again later");
    }
    resp->challenge_id = rpc_strdup(call, id);
    resp->expires_at = rpc_alloc(call, sizeof *resp->expires_at);
    google__protobuf__timestamp__init(resp->expires_at);
    resp->expires_at->seconds = now + ph->cfg->code_ttl / 1000;
    resp->resend_after_seconds = ph->cfg->resend_interval / 1000;
    resp->code_length = (int32_t)len;
    return CF_OK;
}

RPC_HANDLER(rpc_auth_finish_phone_login)
{
    auth_ctx *ctx = rpc_service_ctx(call);
    struct auth_phone *ph = ctx->phone;
    if (!ph)
        return rpc_error(call, CF_UNIMPLEMENTED, "phone sign-in is not enabled");
    size_t idlen = strlen(req->challenge_id), clen = strlen(req->code);
    if (idlen == 0 || idlen > 64)
        return rpc_violation(call, "challengeId", "must be 1-64 characters");
    if (clen != (size_t)ph->cfg->code_length || strspn(req->code, "0123456789") != clen)
        return rpc_violation(call, "code", "must be the %d digits sent", (int)ph->cfg->code_length);
    char src[64];
    throttle_source(client_ip(req->client), src);
    throttle_key tk = {.kind = "phone", .source = src, .credential = ""};
    cf_code gate = auth_throttle_gate(call, ctx, &tk);
    if (gate != CF_OK)
        return gate;

    int64_t now = auth_now(ctx);
    char ts[24], maxa[24];
    snprintf(ts, sizeof ts, "%lld", (long long)now);
    snprintf(maxa, sizeof maxa, "%lld", (long long)ph->cfg->max_attempts);
    const char *v[] = {req->challenge_id, ts, maxa};
    PGresult *r = NULL;
    /* one attempt used, whatever follows; a spent, expired or exhausted challenge matches
     * nothing */
    cf_code code = db_exec_sql(rpc_worker(call),
                               "UPDATE phone_challenges SET attempts = attempts + 1 WHERE id = $1 "
                               "AND spent_at IS NULL AND expires_at > to_timestamp($2) AND "
                               "attempts < $3::integer RETURNING phone, code_hash",
                               3, v, &r);
    if (code != CF_OK)
        return rpc_error(call, code, "cannot read the code");
    bool found = PQntuples(r) == 1;
    char phone[17] = "", stored[48] = "";
    if (found) {
        snprintf(phone, sizeof phone, "%s", PQgetvalue(r, 0, 0));
        snprintf(stored, sizeof stored, "%s", PQgetvalue(r, 0, 1));
    }
    PQclear(r);
    char hash[44];
    code_hash(ctx, req->challenge_id, req->code, hash);
    bool match =
        found && strlen(stored) == strlen(hash) && CRYPTO_memcmp(stored, hash, strlen(hash)) == 0;
    bool won = false;
    if (match && (code = spend(rpc_worker(call), req->challenge_id, now, &won)) != CF_OK)
        return rpc_error(call, code, "cannot use the code");
    if (!won) {
        throttle_failed(ctx->throttle, &tk, now);
        return rpc_error(call, CF_UNAUTHENTICATED, "the code is wrong, expired or already used");
    }
    store_login in = {.provider = "phone",
                      .provider_id = phone,
                      .email = "",
                      .name = "",
                      .picture = "",
                      .email_verified = false,
                      .bootstrap_admin = false,
                      .now = now};
    audit_ctx au = audit_ctx_of(call);
    in.au = &au;
    char user_id[CUID_LEN + 1];
    bool admin = false;
    code = store_login_user(rpc_worker(call), &in, user_id, &admin);
    if (code != CF_OK)
        return rpc_error(call, code, "cannot record the user");
    if ((code = auth_open_session(call, ctx, user_id, admin, req->client, resp)) != CF_OK)
        return code;
    resp->user = rpc_alloc(call, sizeof *resp->user);
    auth__v1__user__init(resp->user);
    code = store_user_get(rpc_worker(call), rpc_arena(call), user_id, resp->user);
    return code == CF_OK ? CF_OK : rpc_error(call, code, "cannot read the user");
}
