/* test_phone.c — issue 18 item 3: phone number sign-in against real parts — auth on the private
 * PostgreSQL, the gateway over HTTP, and a real HTTP webhook receiver (libmicrohttpd, in this
 * process) standing for the SMS gateway:
 * - a code sent through the webhook (JSON {"to","text"}, the configured bearer) signs in with
 *   the same tokens as any login; the same number later is the same user;
 * - codes are single use, expire (phone.code_ttl), and a challenge takes phone.max_attempts
 *   wrong codes, then not even the right one;
 * - sending is limited per number (resend interval, max_per_phone per window) and per client
 *   address (max_per_source): RESOURCE_EXHAUSTED with Retry-After, 429 through the gateway;
 *   wrong codes count in the per-address failure throttle;
 * - no enumeration: a number with an account and one without get the same answer;
 * - a webhook that fails spends the code (UNAVAILABLE), and no code ever reaches the log. */
#include "th.h"
#include "service.h"
#include "th_http.h"
#include "pg.h"
#include "auth.h"
#include "store.h"
#include "gateway.h"
#include "auth/v1/auth.pb-c.h"
#include "base/clock.h"
#include "base/xmalloc.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int64_t test_now(const cf_clock *c)
{
    return cf_wall_ms() / 1000 + c->offset;
}
static cf_clock clk = {test_now, 0};

static th_keys *keys;
static th_service *auth, *gwsvc;
static char keyfile[128], base[64];

/* ---- the SMS gateway: a real HTTP server recording what it is sent ---- */

#define MAX_SMS 256
static struct MHD_Daemon *hook;
static pthread_mutex_t hook_mu = PTHREAD_MUTEX_INITIALIZER;
static char *sms_to[MAX_SMS], *sms_text[MAX_SMS], *sms_auth[MAX_SMS];
static int nsms;
static int hook_status = 200;

typedef struct upload {
    char *data;
    size_t len;
} upload;

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *size, void **con_cls)
{
    (void)cls;
    (void)url;
    (void)version;
    upload *u = *con_cls;
    if (!u) {
        *con_cls = xcalloc(1, sizeof(upload));
        return MHD_YES;
    }
    if (*size) {
        u->data = xrealloc(u->data, u->len + *size + 1);
        memcpy(u->data + u->len, data, *size);
        u->len += *size;
        u->data[u->len] = '\0';
        *size = 0;
        return MHD_YES;
    }
    int status = 400;
    json_t *j = u->data ? json_loads(u->data, 0, NULL) : NULL;
    const char *to = json_string_value(json_object_get(j, "to"));
    const char *text = json_string_value(json_object_get(j, "text"));
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    if (strcmp(method, "POST") == 0 && to && text && ct && strstr(ct, "application/json")) {
        pthread_mutex_lock(&hook_mu);
        if (nsms < MAX_SMS) {
            const char *a = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
            sms_to[nsms] = xstrdup(to);
            sms_text[nsms] = xstrdup(text);
            sms_auth[nsms] = xstrdup(a ? a : "");
            nsms++;
        }
        status = hook_status;
        pthread_mutex_unlock(&hook_mu);
    }
    json_decref(j);
    struct MHD_Response *r = MHD_create_response_from_buffer(2, "{}", MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls,
                    enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    upload *u = *con_cls;
    if (u) {
        free(u->data);
        free(u);
    }
    *con_cls = NULL;
}

/* The code in the last SMS sent to `to` (its digits), into out; fails the test if none. */
static void last_code(const char *to, char out[16])
{
    out[0] = '\0';
    pthread_mutex_lock(&hook_mu);
    for (int i = nsms - 1; i >= 0 && !out[0]; i--)
        if (strcmp(sms_to[i], to) == 0) {
            const char *d = strpbrk(sms_text[i], "0123456789");
            if (d)
                snprintf(out, 16, "%.*s", (int)strspn(d, "0123456789"), d);
        }
    pthread_mutex_unlock(&hook_mu);
    if (!out[0])
        fail_msg("no SMS to %s", to);
}

static int sms_count(void)
{
    pthread_mutex_lock(&hook_mu);
    int n = nsms;
    pthread_mutex_unlock(&hook_mu);
    return n;
}

/* ---- calls ---- */

static cf_code call(const char *method, const ProtobufCMessage *in, rpc_ccall *cc)
{
    rpc_ccall_init(cc, NULL);
    const ProtobufCMethodDescriptor *m =
        protobuf_c_service_descriptor_get_method_by_name(&auth__v1__auth__descriptor, method);
    assert_non_null(m);
    rpc_client_invoke(auth->client, &auth__v1__auth__descriptor,
                      (unsigned)(m - auth__v1__auth__descriptor.methods), in, cc);
    return cc->code;
}

typedef struct started {
    cf_code code;
    char challenge[64], message[256];
    int64_t expires_at, resend_after;
    int code_length;
    uint32_t retry_after;
} started;

static started start(const char *phone, const char *ip)
{
    Auth__V1__StartPhoneLoginRequest r = AUTH__V1__START_PHONE_LOGIN_REQUEST__INIT;
    Auth__V1__ClientInfo ci = AUTH__V1__CLIENT_INFO__INIT;
    ci.ip_address = (char *)ip;
    r.phone = (char *)phone;
    r.client = &ci;
    rpc_ccall cc;
    started s = {.code = call("StartPhoneLogin", &r.base, &cc)};
    snprintf(s.message, sizeof s.message, "%s", cc.message);
    s.retry_after = cc.retry_after_s;
    if (s.code == CF_OK) {
        const Auth__V1__StartPhoneLoginResponse *a = (const void *)cc.response;
        snprintf(s.challenge, sizeof s.challenge, "%s", a->challenge_id);
        s.expires_at = a->expires_at->seconds;
        s.resend_after = a->resend_after_seconds;
        s.code_length = a->code_length;
    }
    rpc_ccall_free(&cc);
    return s;
}

typedef struct verified {
    cf_code code;
    char message[256], user_id[64], access[4096], phone_name[64];
} verified;

static verified verify(const char *challenge, const char *code, const char *ip)
{
    Auth__V1__FinishPhoneLoginRequest r = AUTH__V1__FINISH_PHONE_LOGIN_REQUEST__INIT;
    Auth__V1__ClientInfo ci = AUTH__V1__CLIENT_INFO__INIT;
    ci.ip_address = (char *)ip;
    r.challenge_id = (char *)challenge;
    r.code = (char *)code;
    r.client = &ci;
    rpc_ccall cc;
    verified v = {.code = call("FinishPhoneLogin", &r.base, &cc)};
    snprintf(v.message, sizeof v.message, "%s", cc.message);
    if (v.code == CF_OK) {
        const Auth__V1__TokenResponse *t = (const void *)cc.response;
        snprintf(v.user_id, sizeof v.user_id, "%s", t->user->id);
        snprintf(v.access, sizeof v.access, "%s", t->access_token);
        assert_true(strlen(t->refresh_token) > 20);
        assert_string_equal(t->token_type, "Bearer");
    }
    rpc_ccall_free(&cc);
    return v;
}

/* A code that is not the one sent (the last digit changed). */
static void wrong(const char *code, char out[16])
{
    snprintf(out, 16, "%s", code);
    size_t n = strlen(out);
    out[n - 1] = out[n - 1] == '9' ? '0' : (char)(out[n - 1] + 1);
}

static int setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int port = th_free_port();
    hook = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, (uint16_t)port, NULL, NULL, on_request,
                            NULL, MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL, MHD_OPTION_END);
    assert_non_null(hook);
    keys = th_keys_new("RS256");
    snprintf(keyfile, sizeof keyfile, "/tmp/confetti-phone-key-%d.pem", (int)getpid());
    FILE *f = fopen(keyfile, "w");
    fputs(th_keys_private_pem(keys), f);
    fclose(f);
    snprintf(base, sizeof base, "http://127.0.0.1:%d", th_free_port());
    char *env[] = {
        xasprintf("CONFETTI_SIGNING_KEYS=%s=%s", th_keys_kid(keys), keyfile),
        xasprintf("CONFETTI_PHONE_ENABLED=true"),
        xasprintf("CONFETTI_PHONE_SENDER=webhook"),
        xasprintf("CONFETTI_PHONE_WEBHOOK_URL=http://127.0.0.1:%d/sms", port),
        xasprintf("CONFETTI_PHONE_WEBHOOK_SECRET=hook-secret"),
        xasprintf("CONFETTI_PHONE_CODE_TTL=60s"),
        xasprintf("CONFETTI_PHONE_MAX_ATTEMPTS=3"),
        xasprintf("CONFETTI_PHONE_RESEND_INTERVAL=60s"),
        xasprintf("CONFETTI_PHONE_WINDOW=1h"),
        xasprintf("CONFETTI_PHONE_MAX_PER_PHONE=3"),
        xasprintf("CONFETTI_PHONE_MAX_PER_SOURCE=5"),
        xasprintf("CONFETTI_THROTTLE_MAX_FAILURES_PER_SOURCE=6"),
        xasprintf("CONFETTI_CLEANUP_INTERVAL=0"), /* the test's own cleanup call, only */
        xasprintf("CONFETTI_CATALOG_URLS=ipc:///tmp/confetti-no-catalog-%d", (int)getpid()),
        NULL,
    };
    auth = th_service_start(auth_service_def(),
                            &(th_service_opts){.keys = keys, .clock = &clk, .env = (void *)env});
    char *genv[] = {xasprintf("CONFETTI_HTTP_LISTEN=%s", base),
                    xasprintf("CONFETTI_SERVICES_AUTH=%s", auth->url), NULL};
    gwsvc = th_service_start(gateway_service_def(),
                             &(th_service_opts){.keys = keys, .env = (void *)genv});
    for (int i = 0; env[i]; i++)
        free(env[i]);
    for (int i = 0; genv[i]; i++)
        free(genv[i]);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    th_service_stop(gwsvc);
    th_service_stop(auth);
    MHD_stop_daemon(hook);
    for (int i = 0; i < nsms; i++) {
        free(sms_to[i]);
        free(sms_text[i]);
        free(sms_auth[i]);
    }
    unlink(keyfile);
    th_keys_free(keys);
    curl_global_cleanup();
    return 0;
}

static void test_a_code_signs_in_once(void **state)
{
    (void)state;
    int before = sms_count();
    started s = start("+7 (916) 123-45-67", "10.0.1.1");
    if (s.code != CF_OK)
        fail_msg("start: %s %s", cf_code_name(s.code), s.message);
    assert_int_equal(s.code_length, 6);
    assert_int_equal(s.resend_after, 60);
    assert_true(s.expires_at > test_now(&clk) + 50);
    assert_int_equal(sms_count(), before + 1);
    pthread_mutex_lock(&hook_mu);
    assert_string_equal(sms_to[before], "+79161234567"); /* E.164 */
    assert_non_null(strstr(sms_text[before], "Your Confetti code: "));
    assert_string_equal(sms_auth[before], "Bearer hook-secret");
    pthread_mutex_unlock(&hook_mu);
    char code[16];
    last_code("+79161234567", code);
    assert_int_equal(strlen(code), 6);
    verified v = verify(s.challenge, code, "10.0.1.1");
    if (v.code != CF_OK)
        fail_msg("verify: %s %s", cf_code_name(v.code), v.message);
    /* the access token is a real one: GetMe answers through the gateway with it */
    char *me = xasprintf("%s/v1/users/me", base);
    th_http_resp r = th_http(&(th_http_req){.method = "GET", .url = me, .bearer = v.access});
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, v.user_id));
    th_http_free(&r);
    free(me);
    /* single use */
    verified again = verify(s.challenge, code, "10.0.1.1");
    assert_code(CF_UNAUTHENTICATED, again.code);
    assert_string_equal(again.message, "the code is wrong, expired or already used");
    /* the same number later: the same user */
    clk.offset += 61;
    started s2 = start("+79161234567", "10.0.1.1");
    assert_code(CF_OK, s2.code);
    last_code("+79161234567", code);
    verified v2 = verify(s2.challenge, code, "10.0.1.1");
    assert_code(CF_OK, v2.code);
    assert_string_equal(v2.user_id, v.user_id);
    /* each sign-in wrote one user.login audit row ("phone"), with the call's request id (issue
     * 18 item 5, docs/audit.md; the refused second use wrote none) */
    PGconn *c = th_pg_connect(auth->dsn);
    const char *p[] = {v.user_id};
    PGresult *rows = PQexecParams(c,
                                  "SELECT count(*) FROM auth.audit_log WHERE action = "
                                  "'user.login' AND actor_id = $1 AND detail = 'phone' AND "
                                  "request_id <> ''",
                                  1, NULL, p, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(rows), PGRES_TUPLES_OK);
    assert_string_equal(PQgetvalue(rows, 0, 0), "2");
    PQclear(rows);
    PQfinish(c);
}

static void test_attempts_and_expiry(void **state)
{
    (void)state;
    char code[16], bad[16];
    started s = start("+79160000001", "10.0.2.1");
    assert_code(CF_OK, s.code);
    last_code("+79160000001", code);
    wrong(code, bad);
    for (int i = 0; i < 3; i++) /* phone.max_attempts = 3 */
        assert_code(CF_UNAUTHENTICATED, verify(s.challenge, bad, "10.0.2.1").code);
    verified v = verify(s.challenge, code, "10.0.2.1"); /* spent: not even the right one */
    assert_code(CF_UNAUTHENTICATED, v.code);
    assert_string_equal(v.message, "the code is wrong, expired or already used");

    started e = start("+79160000002", "10.0.2.2");
    assert_code(CF_OK, e.code);
    last_code("+79160000002", code);
    clk.offset += 61; /* phone.code_ttl = 60 s */
    assert_code(CF_UNAUTHENTICATED, verify(e.challenge, code, "10.0.2.2").code);
    /* malformed input: a violation naming the field, no attempt used */
    Auth__V1__FinishPhoneLoginRequest r = AUTH__V1__FINISH_PHONE_LOGIN_REQUEST__INIT;
    r.challenge_id = e.challenge;
    r.code = "12a456";
    rpc_ccall cc;
    call("FinishPhoneLogin", &r.base, &cc);
    assert_refusal(&cc, CF_INVALID_ARGUMENT, "code");
    rpc_ccall_free(&cc);
    Auth__V1__StartPhoneLoginRequest sr = AUTH__V1__START_PHONE_LOGIN_REQUEST__INIT;
    sr.phone = "89161234567"; /* not international */
    call("StartPhoneLogin", &sr.base, &cc);
    assert_refusal(&cc, CF_INVALID_ARGUMENT, "phone");
    rpc_ccall_free(&cc);
}

static void test_sending_is_limited_per_number_and_per_address(void **state)
{
    (void)state;
    /* one number: a second code within the resend interval is refused, with the wait */
    assert_code(CF_OK, start("+79160000010", "10.0.3.1").code);
    int sent = sms_count();
    started s = start("+79160000010", "10.0.3.2"); /* another address does not help */
    assert_code(CF_RESOURCE_EXHAUSTED, s.code);
    assert_true(s.retry_after >= 1 && s.retry_after <= 60);
    assert_int_equal(sms_count(), sent); /* nothing sent */
    /* max_per_phone = 3 per hour, each after the resend interval */
    clk.offset += 61;
    assert_code(CF_OK, start("+79160000010", "10.0.3.1").code);
    clk.offset += 61;
    assert_code(CF_OK, start("+79160000010", "10.0.3.1").code);
    clk.offset += 61;
    s = start("+79160000010", "10.0.3.1");
    assert_code(CF_RESOURCE_EXHAUSTED, s.code);
    assert_true(s.retry_after > 3000 && s.retry_after <= 3600); /* until the first leaves */
    /* one address: max_per_source = 5 codes per hour over any numbers (3 used above) */
    assert_code(CF_OK, start("+79160000011", "10.0.3.1").code);
    assert_code(CF_OK, start("+79160000012", "10.0.3.1").code);
    s = start("+79160000013", "10.0.3.1");
    assert_code(CF_RESOURCE_EXHAUSTED, s.code);
    assert_true(s.retry_after > 0);
    assert_code(CF_OK, start("+79160000013", "10.0.3.9").code); /* another address may */
    /* IPv6: one /64 is one address */
    for (int i = 0; i < 5; i++) {
        char phone[32], ip[64];
        snprintf(phone, sizeof phone, "+7916000002%d", i);
        snprintf(ip, sizeof ip, "2001:db8:1:2::%x", i + 1);
        assert_code(CF_OK, start(phone, ip).code);
    }
    assert_code(CF_RESOURCE_EXHAUSTED, start("+79160000029", "2001:db8:1:2:ffff::1").code);
}

/* Wrong codes count in the per-address failure throttle (throttle.max_failures_per_source = 6
 * here): past them, the address waits, whatever the challenge. */
static void test_wrong_codes_throttle_the_address(void **state)
{
    (void)state;
    char code[16], bad[16];
    for (int n = 0; n < 3; n++) {
        char phone[32];
        snprintf(phone, sizeof phone, "+7916000004%d", n);
        started s = start(phone, "10.0.4.1");
        assert_code(CF_OK, s.code);
        last_code(phone, code);
        wrong(code, bad);
        for (int i = 0; i < 2; i++)
            assert_code(CF_UNAUTHENTICATED, verify(s.challenge, bad, "10.0.4.1").code);
    }
    /* six free failures spent: the address's next attempt waits, even with the right code */
    started s = start("+79160000049", "10.0.4.2");
    last_code("+79160000049", code);
    verified v = verify(s.challenge, code, "10.0.4.1");
    assert_code(CF_RESOURCE_EXHAUSTED, v.code);
    assert_non_null(strstr(v.message, "too many failed attempts"));
    /* from another address the right code still works */
    assert_code(CF_OK, verify(s.challenge, code, "10.0.4.2").code);
}

static void test_no_enumeration(void **state)
{
    (void)state;
    /* +79161234567 has an account (first test); +79160000050 has none */
    clk.offset += 3700; /* past every window */
    started known = start("+79161234567", "10.0.5.1");
    started unknown = start("+79160000050", "10.0.5.2");
    assert_code(CF_OK, known.code);
    assert_code(CF_OK, unknown.code);
    assert_int_equal(known.code_length, unknown.code_length);
    assert_int_equal(known.resend_after, unknown.resend_after);
    assert_int_equal(strlen(known.challenge), strlen(unknown.challenge));
    assert_true(labs((long)(known.expires_at - unknown.expires_at)) <= 1);
    verified a = verify(known.challenge, "000000", "10.0.5.1");
    verified b = verify(unknown.challenge, "000000", "10.0.5.2");
    if (a.code == CF_UNAUTHENTICATED && b.code == CF_UNAUTHENTICATED)
        assert_string_equal(a.message, b.message);
}

/* A webhook that does not take the message: UNAVAILABLE, and the code it did see is spent.
 * Through the whole test no code ever appears in the log (stderr captured here). */
static void test_failed_send_and_no_code_in_the_log(void **state)
{
    (void)state;
    char logpath[64];
    snprintf(logpath, sizeof logpath, "/tmp/confetti-phone-log-%d", (int)getpid());
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    int fd = open(logpath, O_CREAT | O_TRUNC | O_WRONLY, 0600);
    assert_true(fd >= 0 && saved >= 0);
    dup2(fd, STDERR_FILENO);

    char code[16], bad[16];
    pthread_mutex_lock(&hook_mu);
    hook_status = 500;
    pthread_mutex_unlock(&hook_mu);
    started s = start("+79160000060", "10.0.6.1");
    pthread_mutex_lock(&hook_mu);
    hook_status = 200;
    pthread_mutex_unlock(&hook_mu);
    cf_code failed = s.code;
    char failed_code[16];
    last_code("+79160000060", failed_code);
    /* a login with wrong and right codes, logged at whatever the service logs */
    clk.offset += 61;
    started ok = start("+79160000060", "10.0.6.1");
    last_code("+79160000060", code);
    wrong(code, bad);
    verified w = verify(ok.challenge, bad, "10.0.6.1");
    verified v = verify(ok.challenge, code, "10.0.6.1");
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(fd);

    assert_code(CF_UNAVAILABLE, failed);
    assert_code(CF_OK, ok.code);
    assert_code(CF_UNAUTHENTICATED, w.code);
    assert_code(CF_OK, v.code);
    FILE *f = fopen(logpath, "r");
    assert_non_null(f);
    char line[4096];
    int lines = 0;
    while (fgets(line, sizeof line, f)) {
        lines++;
        fputs(line, stderr); /* shown, as it would have been */
        if (strstr(line, code) || strstr(line, bad) || strstr(line, failed_code))
            fail_msg("a code in the log: %s", line);
    }
    fclose(f);
    unlink(logpath);
    assert_true(lines > 0); /* the capture worked: the failed webhook is logged (without it) */
}

/* The gateway's routes: start and verify as JSON, 429 with Retry-After past a limit. */
static void test_through_the_gateway(void **state)
{
    (void)state;
    clk.offset += 3700;
    char *url = xasprintf("%s/v1/auth/phone/start", base);
    th_http_resp r = th_http(
        &(th_http_req){.method = "POST", .url = url, .body = "{\"phone\":\"+79160000070\"}"});
    if (r.status != 200)
        fail_msg("start: HTTP %ld %s", r.status, r.body);
    json_t *j = json_loads(r.body, 0, NULL);
    char *challenge = xstrdup(json_string_value(json_object_get(j, "challengeId")));
    assert_int_equal(json_integer_value(json_object_get(j, "codeLength")), 6);
    json_decref(j);
    th_http_free(&r);
    r = th_http(
        &(th_http_req){.method = "POST", .url = url, .body = "{\"phone\":\"+79160000070\"}"});
    assert_int_equal(r.status, 429);
    char ra[32];
    assert_true(th_http_header(&r, "Retry-After", ra, sizeof ra));
    assert_true(atoi(ra) >= 1 && atoi(ra) <= 60);
    th_http_free(&r);
    r = th_http(&(th_http_req){.method = "POST", .url = url, .body = "{\"phone\":\"12\"}"});
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "phone"));
    th_http_free(&r);
    free(url);

    char code[16];
    last_code("+79160000070", code);
    url = xasprintf("%s/v1/auth/phone/verify", base);
    char *body = xasprintf("{\"challengeId\":\"%s\",\"code\":\"%s\"}", challenge, code);
    r = th_http(&(th_http_req){.method = "POST", .url = url, .body = body});
    if (r.status != 200)
        fail_msg("verify: HTTP %ld %s", r.status, r.body);
    j = json_loads(r.body, 0, NULL);
    assert_non_null(json_string_value(json_object_get(j, "accessToken")));
    assert_non_null(json_string_value(json_object_get(j, "refreshToken")));
    assert_string_equal(json_string_value(json_object_get(j, "tokenType")), "Bearer");
    json_decref(j);
    th_http_free(&r);
    r = th_http(&(th_http_req){.method = "POST", .url = url, .body = body});
    assert_int_equal(r.status, 401);
    th_http_free(&r);
    free(body);
    free(url);
    free(challenge);
}

static long challenges(PGconn *c)
{
    PGresult *r = PQexec(c, "SELECT count(*) FROM auth.phone_challenges");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    long n = atol(PQgetvalue(r, 0, 0));
    PQclear(r);
    return n;
}

/* The maintenance job purges the challenges older than the largest phone.window (24 h) and
 * expired, and only those (services/auth/maint.c). */
static void test_cleanup_purges_old_challenges(void **state)
{
    (void)state;
    PGconn *c = th_pg_connect(auth->dsn);
    clk.offset += 86400 + 100;
    assert_code(CF_OK, start("+79160000080", "10.0.8.1").code); /* fresh: kept */
    long before = challenges(c);
    assert_true(before > 1);
    const svc_maint_job *job = NULL;
    for (size_t i = 0; i < auth_maint_njobs; i++)
        if (strcmp(auth_maint_jobs[i].name, "phone_challenges") == 0)
            job = &auth_maint_jobs[i];
    assert_non_null(job);
    db_conn *db = db_conn_new(auth->dsn, "auth", auth_stmts, auth_nstmts);
    assert_code(CF_OK, db_conn_ensure(db));
    int64_t purged = 0;
    assert_code(CF_OK, job->run(db, job->arg, test_now(&clk), 1000, &purged));
    assert_int_equal(purged, before - 1);
    db_conn_free(db);
    assert_int_equal(challenges(c), 1);
    PQfinish(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_code_signs_in_once),
        cmocka_unit_test(test_attempts_and_expiry),
        cmocka_unit_test(test_sending_is_limited_per_number_and_per_address),
        cmocka_unit_test(test_wrong_codes_throttle_the_address),
        cmocka_unit_test(test_no_enumeration),
        cmocka_unit_test(test_failed_send_and_no_code_in_the_log),
        cmocka_unit_test(test_through_the_gateway),
        cmocka_unit_test(test_cleanup_purges_old_challenges),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
