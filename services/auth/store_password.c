/* store_password.c — the SQL of e-mail and password sign-in (store_password.h). */
#include "store_password.h"
#include "store.h"
#include "base/cuid.h"
#include "db/tx.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct num {
    char s[24];
} num;
static num N(int64_t v)
{
    num n;
    snprintf(n.s, sizeof n.s, "%" PRId64, v);
    return n;
}

cf_code store_pw_user(db_conn *db, const char *email, char *user_id, char *hash, bool *found)
{
    PGresult *r = NULL;
    const char *p[] = {email};
    cf_code code = db_exec(db, "pw_user_by_email", 1, p, &r);
    if (code != CF_OK)
        return code;
    *found = PQntuples(r) == 1;
    if (*found) {
        snprintf(user_id, 64, "%s", PQgetvalue(r, 0, 0));
        snprintf(hash, 256, "%s", PQgetvalue(r, 0, 1));
    }
    PQclear(r);
    return CF_OK;
}

cf_code store_pw_recent_mail(db_conn *db, const char *email, int64_t since, bool *recent)
{
    PGresult *r = NULL;
    num s = N(since);
    const char *p[] = {email, s.s};
    cf_code code = db_exec(db, "pw_recent_mail", 2, p, &r);
    if (code != CF_OK)
        return code;
    *recent = PQntuples(r) > 0;
    PQclear(r);
    return CF_OK;
}

cf_code store_pw_token_add(db_conn *db, const store_pw_token *t)
{
    num exp = N(t->expires_at), now = N(t->now);
    const char *p[] = {t->token_hash,
                       t->kind,
                       t->email,
                       t->user_id ? t->user_id : "",
                       t->password_hash ? t->password_hash : "",
                       t->name ? t->name : "",
                       exp.s,
                       now.s};
    return db_exec(db, "pw_token_insert", 8, p, NULL);
}

/* Takes the token of kind: its e-mail, user, password hash and name (each up to cap). */
typedef struct taken {
    char email[320], user_id[64], password_hash[256], name[256];
} taken;

static cf_code take(db_conn *db, const char *token_hash, const char *kind, int64_t now, taken *t)
{
    PGresult *r = NULL;
    num n = N(now);
    const char *p[] = {token_hash, kind, n.s};
    cf_code code = db_exec(db, "pw_token_take", 3, p, &r);
    if (code != CF_OK)
        return code;
    bool ok = PQntuples(r) == 1;
    if (ok) {
        snprintf(t->email, sizeof t->email, "%s", PQgetvalue(r, 0, 0));
        snprintf(t->user_id, sizeof t->user_id, "%s", PQgetvalue(r, 0, 1));
        snprintf(t->password_hash, sizeof t->password_hash, "%s", PQgetvalue(r, 0, 2));
        snprintf(t->name, sizeof t->name, "%s", PQgetvalue(r, 0, 3));
    }
    PQclear(r);
    if (!ok)
        return CF_UNAUTHENTICATED;
    const char *s[] = {t->email, kind, n.s};
    return db_exec(db, "pw_tokens_spend", 3, s, NULL);
}

static cf_code set_password(db_conn *db, const char *user_id, const char *hash, int64_t now)
{
    num n = N(now);
    const char *p[] = {user_id, hash, n.s};
    return db_exec(db, "pw_set", 3, p, NULL);
}

typedef struct verify_tx {
    const char *token_hash;
    int64_t now;
    bool (*is_admin_email)(const void *, const char *);
    const void *arg;
    const audit_ctx *au;
    char *user_id;
    bool is_admin, held;
} verify_tx;

static cf_code verify_body(db_conn *db, void *arg)
{
    verify_tx *v = arg;
    taken t;
    cf_code code = take(db, v->token_hash, "verify", v->now, &t);
    if (code != CF_OK)
        return code;
    /* An account came to hold the address since the sign-up (an OpenID login with it): the
     * sign-up's password was chosen by whoever asked, not necessarily by that account's owner,
     * so it is not attached (the owner sets one through a reset). */
    char uid[64], hash[256];
    bool held = false;
    if ((code = store_pw_user(db, t.email, uid, hash, &held)) != CF_OK)
        return code;
    if (held) {
        v->held = true;
        return CF_OK; /* commits the spent token */
    }
    char lower[320];
    size_t i = 0;
    for (; t.email[i] && i < sizeof lower - 1; i++)
        lower[i] = (char)tolower((unsigned char)t.email[i]);
    lower[i] = '\0';
    store_login in = {.provider = "password",
                      .provider_id = lower,
                      .email = t.email,
                      .name = t.name,
                      .picture = "",
                      .email_verified = true, /* the token came back from the address */
                      .bootstrap_admin = v->is_admin_email(v->arg, t.email),
                      .now = v->now,
                      .au = v->au};
    if ((code = store_login_user_tx(db, &in, v->user_id, &v->is_admin)) != CF_OK)
        return code;
    return set_password(db, v->user_id, t.password_hash, v->now);
}

cf_code store_pw_verify(db_conn *db, const char *token_hash, int64_t now,
                        bool (*is_admin_email)(const void *arg, const char *email), const void *arg,
                        const audit_ctx *au, char *user_id, bool *is_admin)
{
    verify_tx v = {token_hash, now, is_admin_email, arg, au, user_id, false, false};
    cf_code code = db_tx(db, verify_body, &v);
    /* a first login of the same person at once (OpenID): the rows are committed now */
    if (code == CF_ALREADY_EXISTS)
        code = db_tx(db, verify_body, &v);
    if (code == CF_OK && v.held)
        return CF_FAILED_PRECONDITION;
    if (code == CF_OK)
        *is_admin = v.is_admin;
    return code;
}

typedef struct reset_tx {
    const char *token_hash, *new_hash;
    int64_t now;
    char *user_id;
} reset_tx;

static cf_code reset_body(db_conn *db, void *arg)
{
    reset_tx *x = arg;
    taken t;
    cf_code code = take(db, x->token_hash, "reset", x->now, &t);
    if (code != CF_OK)
        return code;
    PGresult *r = NULL;
    const char *p[] = {t.user_id};
    if ((code = db_exec(db, "pw_user_live", 1, p, &r)) != CF_OK)
        return code;
    bool live = PQntuples(r) == 1;
    PQclear(r);
    if (!live)
        return CF_UNAUTHENTICATED;
    snprintf(x->user_id, 64, "%s", t.user_id);
    return set_password(db, t.user_id, x->new_hash, x->now);
}

cf_code store_pw_reset(db_conn *db, const char *token_hash, const char *new_hash, int64_t now,
                       char *user_id)
{
    reset_tx x = {token_hash, new_hash, now, user_id};
    return db_tx(db, reset_body, &x);
}

cf_code store_pw_rehash(db_conn *db, const char *user_id, const char *old_hash,
                        const char *new_hash, int64_t now)
{
    num n = N(now);
    const char *p[] = {user_id, old_hash, new_hash, n.s};
    return db_exec(db, "pw_rehash", 4, p, NULL);
}

cf_code store_pw_forget(db_conn *db, const char *user_id)
{
    const char *p[] = {user_id};
    return db_exec(db, "pw_forget", 1, p, NULL);
}
