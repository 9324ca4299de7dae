/* test_password.c — issue 18 item 2: e-mail and password sign-up and login, against the real
 * parts: the private PostgreSQL, a real SMTP server on loopback (python3-aiosmtpd, its Maildir
 * handler: the test reads what was delivered), the real OpenID provider (linking), the
 * gateway's routes over HTTP.
 * - sign-up mails a single-use, expiring token (only its SHA-256 stored); verification makes
 *   the account and signs in; login answers the token pair of every login;
 * - no enumeration: sign-up of a taken address and reset of an unknown one answer exactly what
 *   the others do, and mail the address; an unknown address fails login with the same words;
 * - argon2id hashes with the configured parameters, upgraded at login when they change;
 * - reset replaces the password and signs out every session;
 * - throttle per source and (source, address) (issue 24 item 2): 127.0.0.2 guessing alice's
 *   password never slows alice at 127.0.0.3; 429 carries Retry-After;
 * - linking with OpenID identities only when both sides are verified;
 * - the file sender (`make run`) and the per-address mail interval. */
#include "th.h"
#include "service.h"
#include "th_http.h"
#include "th_proc.h"
#include "oidc.h"
#include "pg.h"
#include "auth.h"
#include "gateway.h"
#include "mailer.h"
#include "auth/v1/auth.pb-c.h"
#include "base/clock.h"
#include "base/xmalloc.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <dirent.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* frozen (non-zero): the time stands still, so a throttle's delay never runs out between two
 * attempts however slow the machine (no test depends on speed) */
static _Atomic int64_t frozen;

static int64_t test_now(const cf_clock *c)
{
    return frozen ? frozen : cf_wall_ms() / 1000 + c->offset;
}
static cf_clock clk = {test_now, 0};

static th_keys *keys;
static th_service *auth, *gwsvc;
static th_oidc oidc;
static pid_t smtp_pid;
static char redirect[128], keyfile[128], base[64], maildir[128], smtplog[160];

/* ---- the SMTP server ---- */

static int start_smtp(void)
{
    int port = th_free_port();
    snprintf(maildir, sizeof maildir, "/tmp/confetti-pw-mail-%d", (int)getpid());
    snprintf(smtplog, sizeof smtplog, "/tmp/confetti-pw-smtp-%d.log", (int)getpid());
    char listen[64];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    /* Debian's python3 (the package python3-aiosmtpd), whatever python3 comes first on PATH */
    const char *argv[] = {
        "/usr/bin/python3",          "-m",    "aiosmtpd", "-n", "-l", listen, "-c",
        "aiosmtpd.handlers.Mailbox", maildir, NULL};
    smtp_pid = th_spawn_logged(argv, "", smtplog);
    for (int i = 0; i < 400 && !th_port_open(port); i++)
        usleep(50000);
    if (!th_port_open(port))
        fail_msg("the SMTP server did not start (see %s)", smtplog);
    return port;
}

/* The next mail delivered to `to` whose text contains `needle`, taken out of the Maildir
 * (new string); waits up to 30 s. */
static char *take_mail(const char *to, const char *needle)
{
    char newdir[200], hdr[400];
    snprintf(newdir, sizeof newdir, "%s/new", maildir);
    snprintf(hdr, sizeof hdr, "To: %s", to);
    for (int tries = 0; tries < 600; tries++) {
        DIR *d = opendir(newdir);
        for (struct dirent *e; d && (e = readdir(d));) {
            if (e->d_name[0] == '.')
                continue;
            char path[512];
            snprintf(path, sizeof path, "%s/%s", newdir, e->d_name);
            FILE *f = fopen(path, "r");
            if (!f)
                continue;
            char *text = xcalloc(1, 65536);
            size_t n = fread(text, 1, 65535, f);
            fclose(f);
            text[n] = '\0';
            if (strstr(text, hdr) && strstr(text, needle)) {
                unlink(path);
                closedir(d);
                return text;
            }
            free(text);
        }
        if (d)
            closedir(d);
        usleep(50000);
    }
    fail_msg("no mail to %s with \"%s\" within 30 s", to, needle);
    return NULL;
}

/* Whether the Maildir holds a mail to `to` with `needle` now. */
static bool mail_waiting(const char *to, const char *needle)
{
    char newdir[200], hdr[400];
    snprintf(newdir, sizeof newdir, "%s/new", maildir);
    snprintf(hdr, sizeof hdr, "To: %s", to);
    bool hit = false;
    DIR *d = opendir(newdir);
    for (struct dirent *e; d && (e = readdir(d));) {
        char path[512], text[65536];
        snprintf(path, sizeof path, "%s/%s", newdir, e->d_name);
        FILE *f = e->d_name[0] != '.' ? fopen(path, "r") : NULL;
        if (!f)
            continue;
        size_t n = fread(text, 1, sizeof text - 1, f);
        fclose(f);
        text[n] = '\0';
        hit = hit || (strstr(text, hdr) && strstr(text, needle));
    }
    if (d)
        closedir(d);
    return hit;
}

/* The token after `after` in a mail. */
static void token_of(const char *mail, const char *after, char *out, size_t cap)
{
    const char *p = strstr(mail, after);
    assert_non_null(p);
    p += strlen(after);
    size_t n = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_");
    assert_true(n >= 40 && n < cap);
    memcpy(out, p, n);
    out[n] = '\0';
}

/* ---- RPCs ---- */

static cf_code call(const char *method, const ProtobufCMessage *in, const char *token,
                    rpc_ccall *cc)
{
    rpc_ccall_init(cc, NULL);
    char *bearer = token ? xasprintf("Bearer %s", token) : NULL;
    if (bearer)
        rpc_ccall_md(cc, "authorization", bearer);
    const ProtobufCMethodDescriptor *m =
        protobuf_c_service_descriptor_get_method_by_name(&auth__v1__auth__descriptor, method);
    assert_non_null(m);
    rpc_client_invoke(auth->client, &auth__v1__auth__descriptor,
                      (unsigned)(m - auth__v1__auth__descriptor.methods), in, cc);
    free(bearer);
    return cc->code;
}

typedef struct result {
    cf_code code;
    char message[256];
    uint32_t retry_after;
    char access[4096], refresh[128], user_id[64], email[128], provider[32];
} result;

static result finish(cf_code code, rpc_ccall *cc)
{
    result out = {.code = code, .retry_after = cc->retry_after_s};
    snprintf(out.message, sizeof out.message, "%s", cc->message ? cc->message : "");
    if (code == CF_OK && cc->response &&
        cc->response->descriptor == &auth__v1__token_response__descriptor) {
        const Auth__V1__TokenResponse *t = (const void *)cc->response;
        snprintf(out.access, sizeof out.access, "%s", t->access_token);
        snprintf(out.refresh, sizeof out.refresh, "%s", t->refresh_token);
        if (t->user) { /* Refresh answers none */
            snprintf(out.user_id, sizeof out.user_id, "%s", t->user->id);
            snprintf(out.email, sizeof out.email, "%s", t->user->email);
            snprintf(out.provider, sizeof out.provider, "%s", t->user->provider);
        }
    }
    rpc_ccall_free(cc);
    return out;
}

static Auth__V1__ClientInfo client_from(const char *ip)
{
    Auth__V1__ClientInfo c = AUTH__V1__CLIENT_INFO__INIT;
    c.ip_address = (char *)ip;
    return c;
}

static result signup(const char *email, const char *pw, const char *ip)
{
    Auth__V1__PasswordSignUpRequest q = AUTH__V1__PASSWORD_SIGN_UP_REQUEST__INIT;
    Auth__V1__ClientInfo c = client_from(ip);
    q.email = (char *)email;
    q.password = (char *)pw;
    q.client = &c;
    rpc_ccall cc;
    return finish(call("PasswordSignUp", &q.base, NULL, &cc), &cc);
}

static result verify(const char *token)
{
    Auth__V1__PasswordVerifyRequest q = AUTH__V1__PASSWORD_VERIFY_REQUEST__INIT;
    q.token = (char *)token;
    rpc_ccall cc;
    return finish(call("PasswordVerify", &q.base, NULL, &cc), &cc);
}

static result login(const char *email, const char *pw, const char *ip)
{
    Auth__V1__PasswordLoginRequest q = AUTH__V1__PASSWORD_LOGIN_REQUEST__INIT;
    Auth__V1__ClientInfo c = client_from(ip);
    q.email = (char *)email;
    q.password = (char *)pw;
    q.client = &c;
    rpc_ccall cc;
    return finish(call("PasswordLogin", &q.base, NULL, &cc), &cc);
}

static result reset_start(const char *email)
{
    Auth__V1__PasswordResetStartRequest q = AUTH__V1__PASSWORD_RESET_START_REQUEST__INIT;
    q.email = (char *)email;
    rpc_ccall cc;
    return finish(call("PasswordResetStart", &q.base, NULL, &cc), &cc);
}

static result reset_finish(const char *token, const char *pw)
{
    Auth__V1__PasswordResetFinishRequest q = AUTH__V1__PASSWORD_RESET_FINISH_REQUEST__INIT;
    q.token = (char *)token;
    q.password = (char *)pw;
    rpc_ccall cc;
    return finish(call("PasswordResetFinish", &q.base, NULL, &cc), &cc);
}

static result refresh(const char *rt)
{
    Auth__V1__RefreshRequest q = AUTH__V1__REFRESH_REQUEST__INIT;
    q.refresh_token = (char *)rt;
    rpc_ccall cc;
    return finish(call("Refresh", &q.base, NULL, &cc), &cc);
}

#define OK(r_)                                                                                     \
    do {                                                                                           \
        result x_ = (r_);                                                                          \
        if (x_.code != CF_OK)                                                                      \
            fail_msg("line %d: %s %s", __LINE__, cf_code_name(x_.code), x_.message);               \
    } while (0)

/* Signs up email with pw and verifies it through the mailed token: the login's result. */
static result new_account(const char *email, const char *pw)
{
    OK(signup(email, pw, "127.0.0.9"));
    char *m = take_mail(email, "Confirm your e-mail address");
    char tok[128];
    token_of(m, "verify: ", tok, sizeof tok);
    free(m);
    result r = verify(tok);
    if (r.code != CF_OK)
        fail_msg("verify: %s %s", cf_code_name(r.code), r.message);
    return r;
}

static char *sql1(const char *q)
{
    PGconn *c = th_pg_connect(auth->dsn);
    PGresult *r = PQexec(c, q);
    char *v = xstrdup(PQntuples(r) ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    PQfinish(c);
    return v;
}

/* ---- setup ---- */

/* file: the file sender and a 1 min mail interval instead of SMTP (smtp_port) and none. */
static char **auth_env(int smtp_port, const char *file)
{
    char **env = xcalloc(32, sizeof *env);
    int i = 0;
    env[i++] = xasprintf("CONFETTI_SIGNING_KEYS=%s=%s", th_keys_kid(keys), keyfile);
    env[i++] = xasprintf("CONFETTI_PROVIDER_DEV_ENABLED=true");
    env[i++] = xasprintf("CONFETTI_PROVIDER_DEV_TRUSTED_EMAIL=true");
    env[i++] = xasprintf("CONFETTI_PROVIDER_DEV_ISSUER=%s", oidc.issuer);
    env[i++] = xasprintf("CONFETTI_PROVIDER_DEV_CLIENT_ID=confetti");
    env[i++] = xasprintf("CONFETTI_PROVIDER_DEV_CLIENT_SECRET=confetti-dev-secret");
    env[i++] = xasprintf("CONFETTI_PROVIDER_DEV_REDIRECT_URIS=%s", redirect);
    env[i++] = xasprintf("CONFETTI_CATALOG_URLS=ipc:///tmp/confetti-no-catalog-%d", (int)getpid());
    env[i++] = xasprintf("CONFETTI_PASSWORD_ENABLED=true");
    /* small parameters: the machine running the tests is shared */
    env[i++] = xasprintf("CONFETTI_PASSWORD_OPS_LIMIT=1");
    env[i++] = xasprintf("CONFETTI_PASSWORD_MEM_LIMIT=8KiB");
    env[i++] = xasprintf("CONFETTI_PASSWORD_MAIL_INTERVAL=%s", file ? "1m" : "0");
    env[i++] = xasprintf("CONFETTI_PASSWORD_VERIFY_URL=https://confetti.test/verify?token=");
    env[i++] = xasprintf("CONFETTI_MAIL_SENDER=%s", file ? "file" : "smtp");
    env[i++] = xasprintf("CONFETTI_MAIL_FILE=%s", file ? file : "");
    env[i++] = xasprintf("CONFETTI_MAIL_FROM=noreply@confetti.test");
    env[i++] = xasprintf("CONFETTI_MAIL_SMTP_URL=smtp://127.0.0.1:%d", smtp_port);
    env[i++] = xasprintf("CONFETTI_MAIL_SMTP_TLS=none");
    env[i++] = xasprintf("CONFETTI_THROTTLE_MAX_FAILURES=3");
    return env;
}

static void env_free(char **env)
{
    for (int i = 0; env[i]; i++)
        free(env[i]);
    free(env);
}

static int setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    assert_true(sodium_init() >= 0);
    keys = th_keys_new("RS256");
    snprintf(keyfile, sizeof keyfile, "/tmp/confetti-password-key-%d.pem", (int)getpid());
    FILE *f = fopen(keyfile, "w");
    fputs(th_keys_private_pem(keys), f);
    fclose(f);
    snprintf(base, sizeof base, "http://127.0.0.1:%d", th_free_port());
    snprintf(redirect, sizeof redirect, "%s/v1/auth/dev/callback", base);
    th_oidc_start(&oidc, OIDC_DIR, redirect);
    char **env = auth_env(start_smtp(), NULL);
    auth = th_service_start(auth_service_def(),
                            &(th_service_opts){.keys = keys, .clock = &clk, .env = (void *)env});
    env_free(env);
    char *genv[] = {xasprintf("CONFETTI_HTTP_LISTEN=%s", base),
                    xasprintf("CONFETTI_SERVICES_AUTH=%s", auth->url), NULL};
    gwsvc = th_service_start(gateway_service_def(),
                             &(th_service_opts){.keys = keys, .env = (void *)genv});
    for (int i = 0; genv[i]; i++)
        free(genv[i]);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    th_service_stop(gwsvc);
    th_service_stop(auth);
    th_oidc_stop(&oidc);
    if (smtp_pid > 0) {
        kill(smtp_pid, SIGTERM);
        waitpid(smtp_pid, NULL, 0);
    }
    char *argv[] = {"rm", "-rf", maildir, NULL};
    th_run((const char *const *)argv, NULL, NULL, 0);
    unlink(smtplog);
    unlink(keyfile);
    th_keys_free(keys);
    curl_global_cleanup();
    return 0;
}

/* ---- the tests ---- */

static void test_signup_verify_login(void **state)
{
    (void)state;
    /* no account before the address is verified */
    OK(signup("Bob@Example.test", "correct horse 1", "127.0.0.9"));
    assert_code(CF_UNAUTHENTICATED, login("bob@example.test", "correct horse 1", "127.0.0.9").code);
    char *m = take_mail("bob@example.test", "Confirm your e-mail address");
    assert_non_null(strstr(m, "https://confetti.test/verify?token="));
    assert_non_null(strstr(m, "From: noreply@confetti.test"));
    char tok[128];
    token_of(m, "verify: ", tok, sizeof tok);
    free(m);
    /* only the token's SHA-256 is stored */
    char q[256];
    snprintf(q, sizeof q, "SELECT count(*) FROM auth.password_tokens WHERE token_hash = '%s'", tok);
    char *v = sql1(q);
    assert_string_equal(v, "0");
    free(v);

    result r = verify(tok);
    OK(r);
    assert_string_equal(r.email, "bob@example.test");
    assert_string_equal(r.provider, "password");
    assert_true(strlen(r.access) > 100 && strlen(r.refresh) > 20);
    /* single-use */
    result again = verify(tok);
    assert_code(CF_UNAUTHENTICATED, again.code);
    assert_non_null(strstr(again.message, "already used"));

    /* the stored hash: argon2id with the configured parameters */
    v = sql1("SELECT hash FROM auth.passwords");
    assert_true(strncmp(v, "$argon2id$v=19$m=8,t=1,p=1$", 27) == 0);
    free(v);

    result in = login("BOB@example.test", "correct horse 1", "127.0.0.9");
    OK(in);
    assert_string_equal(in.user_id, r.user_id);
    /* a wrong password and an unknown address: the same code and words */
    result wrong = login("bob@example.test", "correct horse 2", "127.0.0.9");
    result unknown = login("nobody@example.test", "correct horse 1", "127.0.0.9");
    assert_code(CF_UNAUTHENTICATED, wrong.code);
    assert_code(CF_UNAUTHENTICATED, unknown.code);
    assert_string_equal(wrong.message, unknown.message);
}

/* Password bounds: 8-1024 bytes; an address must be one. */
static void test_bounds(void **state)
{
    (void)state;
    char big[1026];
    memset(big, 'x', sizeof big - 1);
    big[1025] = '\0';
    const struct {
        const char *email, *pw, *field;
    } bad[] = {
        {"bound@example.test", "1234567", "password"},
        {"bound@example.test", big, "password"},
        {"not-an-address", "12345678", "email"},
        {"a@b\r\nBcc: x@y.test", "12345678", "email"},
        {"<x>@example.test", "12345678", "email"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        Auth__V1__PasswordSignUpRequest q = AUTH__V1__PASSWORD_SIGN_UP_REQUEST__INIT;
        q.email = (char *)bad[i].email;
        q.password = (char *)bad[i].pw;
        rpc_ccall cc;
        call("PasswordSignUp", &q.base, NULL, &cc);
        assert_refusal(&cc, CF_INVALID_ARGUMENT, bad[i].field);
        rpc_ccall_free(&cc);
    }
    /* a name, when given, follows the one rule for names (issue 24 item 5) */
    Auth__V1__PasswordSignUpRequest q = AUTH__V1__PASSWORD_SIGN_UP_REQUEST__INIT;
    q.email = "bound@example.test";
    q.password = "12345678";
    q.name = "   ";
    rpc_ccall cc;
    call("PasswordSignUp", &q.base, NULL, &cc);
    assert_refusal(&cc, CF_INVALID_ARGUMENT, "name");
    rpc_ccall_free(&cc);
    big[1024] = '\0'; /* 1024 bytes: accepted */
    OK(signup("bound@example.test", big, "127.0.0.9"));
    free(take_mail("bound@example.test", "Confirm"));
    assert_true(mailer_address_ok("a.b+c@example.test"));
    assert_false(mailer_address_ok("a@b@c"));
    assert_false(mailer_address_ok("a b@c.test"));
}

/* No enumeration: a taken address answers what a free one does, and gets a notice instead of
 * a token; the password is not changed. */
static void test_signup_of_a_taken_address(void **state)
{
    (void)state;
    OK(new_account("carol@example.test", "carol password 1"));
    result r = signup("carol@example.test", "attacker password", "127.0.0.9");
    assert_code(CF_OK, r.code);
    assert_string_equal(r.message, "");
    char *m = take_mail("carol@example.test", "You already have an account");
    assert_null(strstr(m, "verify: "));
    free(m);
    /* delivered before the answer (the server writes, then says 250): nothing else came */
    assert_false(mail_waiting("carol@example.test", "Confirm"));
    assert_code(CF_UNAUTHENTICATED,
                login("carol@example.test", "attacker password", "127.0.0.9").code);
    OK(login("carol@example.test", "carol password 1", "127.0.0.9"));
}

static void test_reset(void **state)
{
    (void)state;
    result first = new_account("dan@example.test", "dan password 1");
    OK(reset_start("dan@example.test"));
    char *m = take_mail("dan@example.test", "Reset your password");
    char tok[128];
    token_of(m, "finish: ", tok, sizeof tok);
    free(m);
    result r = reset_finish(tok, "dan password 2");
    OK(r);
    assert_string_equal(r.user_id, first.user_id);
    /* every earlier session is signed out */
    assert_code(CF_UNAUTHENTICATED, refresh(first.refresh).code);
    OK(refresh(r.refresh));
    assert_code(CF_UNAUTHENTICATED, login("dan@example.test", "dan password 1", "127.0.0.9").code);
    OK(login("dan@example.test", "dan password 2", "127.0.0.9"));
    assert_code(CF_UNAUTHENTICATED, reset_finish(tok, "dan password 3").code); /* single-use */

    /* an unknown address: the same answer, and a notice */
    result u = reset_start("nobody-here@example.test");
    assert_code(CF_OK, u.code);
    m = take_mail("nobody-here@example.test", "there is no account with it");
    assert_null(strstr(m, "finish: "));
    free(m);
}

static void test_tokens_expire(void **state)
{
    (void)state;
    OK(signup("erin@example.test", "erin password 1", "127.0.0.9"));
    char *m = take_mail("erin@example.test", "Confirm");
    char tok[128];
    token_of(m, "verify: ", tok, sizeof tok);
    free(m);
    OK(new_account("frank@example.test", "frank password 1"));
    OK(reset_start("frank@example.test"));
    m = take_mail("frank@example.test", "Reset your password");
    char rtok[128];
    token_of(m, "finish: ", rtok, sizeof rtok);
    free(m);
    clk.offset = 3600 + 5; /* reset_ttl 1h */
    assert_code(CF_UNAUTHENTICATED, reset_finish(rtok, "frank password 2").code);
    clk.offset = 86400 + 5; /* verify_ttl 24h */
    assert_code(CF_UNAUTHENTICATED, verify(tok).code);
    clk.offset = 0;
    OK(login("frank@example.test", "frank password 1", "127.0.0.9"));
}

/* A hash made with other parameters is re-made with the configured ones at the next login. */
static void test_hash_upgraded_at_login(void **state)
{
    (void)state;
    result a = new_account("gina@example.test", "gina password 1");
    char old[crypto_pwhash_STRBYTES];
    assert_int_equal(0, crypto_pwhash_str_alg(old, "gina password 1", 15, 2, 16384,
                                              crypto_pwhash_ALG_ARGON2ID13));
    char q[512];
    snprintf(q, sizeof q, "UPDATE auth.passwords SET hash = '%s' WHERE user_id = '%s'", old,
             a.user_id);
    free(sql1(q));
    snprintf(q, sizeof q, "SELECT hash FROM auth.passwords WHERE user_id = '%s'", a.user_id);
    char *v = sql1(q);
    assert_true(strncmp(v, "$argon2id$v=19$m=16,t=2,p=1$", 28) == 0);
    free(v);
    OK(login("gina@example.test", "gina password 1", "127.0.0.9"));
    v = sql1(q);
    assert_true(strncmp(v, "$argon2id$v=19$m=8,t=1,p=1$", 27) == 0);
    free(v);
    OK(login("gina@example.test", "gina password 1", "127.0.0.9"));
}

/* Issue 24 item 2: one address guessing never slows the owner at another. */
static void test_throttle_per_source(void **state)
{
    (void)state;
    OK(new_account("hank@example.test", "hank password 1"));
    frozen = cf_wall_ms() / 1000;
    result r = {0};
    int refused_after = -1;
    for (int i = 0; i < 10 && refused_after < 0; i++) {
        r = login("hank@example.test", "guess guess guess", "127.0.0.2");
        if (r.code == CF_RESOURCE_EXHAUSTED)
            refused_after = i;
        else
            assert_code(CF_UNAUTHENTICATED, r.code);
    }
    assert_int_equal(refused_after, 3); /* throttle.max_failures: 3 failures, then a delay */
    assert_true(r.retry_after >= 1);
    /* even the right password waits there… */
    assert_code(CF_RESOURCE_EXHAUSTED,
                login("hank@example.test", "hank password 1", "127.0.0.2").code);
    /* …but not from the owner's address */
    OK(login("hank@example.test", "hank password 1", "127.0.0.3"));
    frozen = 0;
}

/* OpenID login of alice (trusted provider, verified e-mail): the user. */
static result oidc_login(void)
{
    Auth__V1__BeginLoginRequest b = AUTH__V1__BEGIN_LOGIN_REQUEST__INIT;
    b.provider = "dev";
    rpc_ccall cc;
    assert_code(CF_OK, call("BeginLogin", &b.base, NULL, &cc));
    char st[128];
    char *code =
        th_oidc_authorize(((const Auth__V1__BeginLoginResponse *)cc.response)->authorize_url,
                          redirect, st, sizeof st);
    rpc_ccall_free(&cc);
    Auth__V1__FinishLoginRequest f = AUTH__V1__FINISH_LOGIN_REQUEST__INIT;
    f.provider = "dev";
    f.code = code;
    f.state = st;
    result r = finish(call("FinishLogin", &f.base, NULL, &cc), &cc);
    free(code);
    OK(r);
    return r;
}

static void delete_me(const char *access)
{
    Auth__V1__DeleteMeRequest q = AUTH__V1__DELETE_ME_REQUEST__INIT;
    rpc_ccall cc;
    assert_code(CF_OK, call("DeleteMe", &q.base, access, &cc));
    rpc_ccall_free(&cc);
}

/* Linking only when both sides are verified. */
static void test_linking_with_openid(void **state)
{
    (void)state;
    /* an unverified sign-up holds nothing: the OpenID login makes its own account, and the
     * late verification does not attach the sign-up's password to it */
    OK(signup("alice@example.test", "squatter password", "127.0.0.9"));
    char *m = take_mail("alice@example.test", "Confirm");
    char tok[128];
    token_of(m, "verify: ", tok, sizeof tok);
    free(m);
    result o = oidc_login();
    assert_string_equal(o.email, "alice@example.test");
    rpc_ccall cc;
    Auth__V1__PasswordVerifyRequest vq = AUTH__V1__PASSWORD_VERIFY_REQUEST__INIT;
    vq.token = tok;
    call("PasswordVerify", &vq.base, NULL, &cc);
    assert_refusal(&cc, CF_FAILED_PRECONDITION, "email");
    rpc_ccall_free(&cc);
    assert_code(CF_UNAUTHENTICATED,
                login("alice@example.test", "squatter password", "127.0.0.9").code);
    /* the owner adds a password to the OpenID account through a reset (the address proven) */
    OK(reset_start("alice@example.test"));
    m = take_mail("alice@example.test", "Reset your password");
    token_of(m, "finish: ", tok, sizeof tok);
    free(m);
    result r = reset_finish(tok, "alice password 1");
    OK(r);
    assert_string_equal(r.user_id, o.user_id);
    result p = login("alice@example.test", "alice password 1", "127.0.0.9");
    OK(p);
    assert_string_equal(p.user_id, o.user_id);
    assert_string_equal(oidc_login().user_id, o.user_id);

    /* the other way: a verified password account, then the OpenID login with that verified
     * address links to it */
    delete_me(p.access);
    char q[160];
    snprintf(q, sizeof q, "SELECT count(*) FROM auth.passwords WHERE user_id = '%s'", o.user_id);
    char *v = sql1(q);
    assert_string_equal(v, "0"); /* the deleted account's hash is gone with it */
    free(v);
    result n = new_account("alice@example.test", "alice password 2");
    assert_string_not_equal(n.user_id, o.user_id);
    assert_string_equal(oidc_login().user_id, n.user_id);
    assert_string_equal(login("alice@example.test", "alice password 2", "127.0.0.9").user_id,
                        n.user_id);
}

/* The routes, over HTTP: the same tokens as other logins; 429 with Retry-After. */
/* Issue 18 item 5 (docs/audit.md, user.login): the password sign-in paths — the verification
 * that creates the account, then a login — each write one user.login row naming the user and
 * "password", with the call's request id like an OpenID login's row (they had none). */
static void test_password_logins_audited(void **state)
{
    (void)state;
    result v = new_account("audited@example.com", "correct horse battery");
    result l = login("audited@example.com", "correct horse battery", "127.0.0.7");
    OK(l);
    assert_string_equal(v.user_id, l.user_id);
    char q[512];
    snprintf(q, sizeof q,
             "SELECT count(*) FROM auth.audit_log WHERE action = 'user.login' AND actor_id = "
             "'%s' AND target_id = '%s' AND detail = 'password' AND request_id <> ''",
             l.user_id, l.user_id);
    char *n = sql1(q);
    assert_string_equal(n, "2");
    free(n);
}

static void test_gateway_routes(void **state)
{
    (void)state;
    char url[256];
    snprintf(url, sizeof url, "%s/v1/auth/password/signup", base);
    th_http_resp h = th_http(&(th_http_req){
        .method = "POST",
        .url = url,
        .body =
            "{\"email\":\"ivy@example.test\",\"password\":\"ivy password 1\",\"name\":\"Ivy\"}"});
    assert_int_equal(h.status, 200);
    assert_string_equal(h.body, "{}");
    th_http_free(&h);
    char *m = take_mail("ivy@example.test", "Confirm");
    char tok[128], body[512];
    token_of(m, "verify: ", tok, sizeof tok);
    free(m);
    snprintf(url, sizeof url, "%s/v1/auth/password/verify", base);
    snprintf(body, sizeof body, "{\"token\":\"%s\"}", tok);
    h = th_http(&(th_http_req){.method = "POST", .url = url, .body = body});
    assert_int_equal(h.status, 200);
    assert_non_null(strstr(h.body, "\"accessToken\""));
    assert_non_null(strstr(h.body, "\"refreshToken\""));
    assert_non_null(strstr(h.body, "\"name\":\"Ivy\""));
    th_http_free(&h);

    snprintf(url, sizeof url, "%s/v1/auth/password/login", base);
    h = th_http(&(th_http_req){.method = "POST",
                               .url = url,
                               .body = "{\"email\":\"ivy@example.test\",\"password\":\"short\"}"});
    assert_int_equal(h.status, 400);
    assert_non_null(strstr(h.body, "password"));
    th_http_free(&h);
    frozen = cf_wall_ms() / 1000;
    for (int i = 0; i < 3; i++) {
        h = th_http(&(th_http_req){
            .method = "POST",
            .url = url,
            .source = "127.0.0.4",
            .body = "{\"email\":\"ivy@example.test\",\"password\":\"wrong password\"}"});
        assert_int_equal(h.status, 401);
        th_http_free(&h);
    }
    h = th_http(
        &(th_http_req){.method = "POST",
                       .url = url,
                       .source = "127.0.0.4",
                       .body = "{\"email\":\"ivy@example.test\",\"password\":\"wrong password\"}"});
    assert_int_equal(h.status, 429);
    char ra[32];
    assert_true(th_http_header(&h, "Retry-After", ra, sizeof ra));
    assert_true(atoi(ra) >= 1);
    th_http_free(&h);
    h = th_http(
        &(th_http_req){.method = "POST",
                       .url = url,
                       .source = "127.0.0.5",
                       .body = "{\"email\":\"ivy@example.test\",\"password\":\"ivy password 1\"}"});
    assert_int_equal(h.status, 200);
    assert_non_null(strstr(h.body, "\"accessToken\""));
    char cc[64]; /* token answers are never cached (RFC 6749 §5.1) */
    assert_true(th_http_header(&h, "Cache-Control", cc, sizeof cc));
    assert_string_equal(cc, "no-store");
    frozen = 0;
    th_http_free(&h);

    snprintf(url, sizeof url, "%s/v1/auth/password/reset/start", base);
    h = th_http(
        &(th_http_req){.method = "POST", .url = url, .body = "{\"email\":\"ivy@example.test\"}"});
    assert_int_equal(h.status, 200);
    th_http_free(&h);
    m = take_mail("ivy@example.test", "Reset your password");
    token_of(m, "finish: ", tok, sizeof tok);
    free(m);
    snprintf(url, sizeof url, "%s/v1/auth/password/reset/finish", base);
    snprintf(body, sizeof body, "{\"token\":\"%s\",\"password\":\"ivy password 2\"}", tok);
    h = th_http(&(th_http_req){.method = "POST", .url = url, .body = body});
    assert_int_equal(h.status, 200);
    assert_non_null(strstr(h.body, "\"accessToken\""));
    th_http_free(&h);
}

/* A mail server that cannot be reached; the file sender of `make run`, and password.mail_interval:
 * one mail per address per interval, the answer the same. */
static void test_file_sender_and_mail_interval(void **state)
{
    (void)state;
    /* the SMTP server gone: every path that mails is 503, alike for a taken and a free address */
    kill(smtp_pid, SIGTERM);
    waitpid(smtp_pid, NULL, 0);
    smtp_pid = 0;
    result taken = signup("carol@example.test", "carol password 9", "127.0.0.8");
    result free_ = signup("nobody-yet@example.test", "password 9", "127.0.0.8");
    assert_code(CF_UNAVAILABLE, taken.code);
    assert_code(CF_UNAVAILABLE, free_.code);
    assert_string_equal(taken.message, free_.message);
    /* one auth per process (its config is the process's): the SMTP one is stopped, and this
     * one replaces it until teardown — so this test runs last */
    th_service_stop(auth);
    char file[128];
    snprintf(file, sizeof file, "/tmp/confetti-pw-mails-%d.txt", (int)getpid());
    unlink(file);
    char **env = auth_env(1, file);
    auth =
        th_service_start(auth_service_def(), &(th_service_opts){.keys = keys, .env = (void *)env});
    env_free(env);
    OK(signup("jo@example.test", "jo password 1", "127.0.0.9"));
    OK(signup("jo@example.test", "jo password 2", "127.0.0.9"));
    OK(reset_start("jo@example.test"));
    FILE *f = fopen(file, "r");
    assert_non_null(f);
    static char text[65536];
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = '\0';
    int mails = 0;
    for (const char *p = text; (p = strstr(p, "To: jo@example.test")); p++)
        mails++;
    assert_int_equal(mails, 1);
    char tok[128];
    token_of(text, "verify: ", tok, sizeof tok);
    result r = verify(tok);
    OK(r);
    OK(login("jo@example.test", "jo password 1", "127.0.0.9")); /* the first sign-up's */
    unlink(file);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signup_verify_login),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_signup_of_a_taken_address),
        cmocka_unit_test(test_reset),
        cmocka_unit_test(test_tokens_expire),
        cmocka_unit_test(test_hash_upgraded_at_login),
        cmocka_unit_test(test_throttle_per_source),
        cmocka_unit_test(test_linking_with_openid),
        cmocka_unit_test(test_password_logins_audited),
        cmocka_unit_test(test_gateway_routes),
        cmocka_unit_test(test_file_sender_and_mail_interval),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
