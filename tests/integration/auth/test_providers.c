/* test_providers.c — issue 18 item 1: named login providers from oauth.provider_files, beside
 * the fixed slots, against real parts:
 * - "corp" (preset oidc) is the suite's real OpenID provider (tests/oidc/server.mjs): the
 *   id_token flow as before, now under a name of the operator's choosing;
 * - "yandex" (preset yandex) and "vk" (preset vk) are loopback stand-ins speaking Yandex ID's
 *   and VK ID's documented protocol and user-info shape (tests/oidc/oauth2_standin.mjs) over TLS
 *   with a self-signed certificate this test makes and trusts through the files' ca_file;
 * - the protections are the same as OpenID's: the state is single use; the PKCE verifier is
 *   bound to the state (a code obtained for another login does not exchange); the provider's
 *   TLS certificate is verified (the same stand-in without ca_file is unreachable);
 * - VK ID through the gateway: its callback's device_id, type and expires_in are accepted, the
 *   device_id goes back to the token endpoint, and the browser-binding cookie still applies. */
#include "th.h"
#include "service.h"
#include "th_proc.h"
#include "oidc.h"
#include "auth.h"
#include "gateway.h"
#include "auth/v1/auth.pb-c.h"
#include "base/clock.h"
#include "base/xmalloc.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static th_keys *keys;
static th_service *auth, *gwsvc;
static th_oidc oidc;
static pid_t yandex_pid, vk_pid;
static int yandex_port, vk_port;
static char dir[64], keyfile[128], base[64], cert[128];

static bool accepts(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

static pid_t standin(int port, const char *format)
{
    char p[16], script[512], key[160];
    snprintf(p, sizeof p, "%d", port);
    snprintf(script, sizeof script, "%s/oauth2_standin.mjs", STANDIN_DIR);
    snprintf(key, sizeof key, "%s/key.pem", dir);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        th_child_init(parent); /* dies with the test */
        if (!freopen("/dev/null", "w", stdout))
            _exit(126);
        execlp("node", "node", script, p, cert, key, format, (char *)NULL);
        _exit(127);
    }
    int64_t end = cf_mono_ns() + 120 * 1000000000LL; /* a loaded machine: generous */
    while (cf_mono_ns() < end) {
        if (accepts(port))
            return pid;
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid)
            fail_msg("the %s stand-in exited (status %d) before listening", format, st);
        usleep(100000);
    }
    kill(pid, SIGTERM);
    fail_msg("the %s stand-in did not listen within 120 s", format);
    return 0;
}

static char *write_file(const char *name, const char *text)
{
    char *path = xasprintf("%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

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

/* GETs url (trusting the test's CA) without following; the Location (new string) or NULL. */
static char *hop(CURL *h, const char *url, long *status, char **body)
{
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_COOKIEFILE, "");
    curl_easy_setopt(h, CURLOPT_CAINFO, cert);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
    char *buf = NULL;
    size_t len = 0;
    FILE *sink = open_memstream(&buf, &len);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, sink);
    CURLcode rc = curl_easy_perform(h);
    fclose(sink);
    if (rc != CURLE_OK)
        fail_msg("GET %s: %s", url, curl_easy_strerror(rc));
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    char *loc = NULL;
    curl_easy_getinfo(h, CURLINFO_REDIRECT_URL, &loc);
    if (body)
        *body = buf;
    else
        free(buf);
    return loc ? xstrdup(loc) : NULL;
}

/* The value of query parameter name in url (new string) or NULL. */
static char *param(const char *url, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = strchr(url, '?'); p; p = strchr(p + 1, '&'))
        if (strncmp(p + 1, name, n) == 0 && p[1 + n] == '=') {
            char *raw = xstrndup(p + 2 + n, strcspn(p + 2 + n, "&"));
            int outlen = 0;
            char *dec = curl_easy_unescape(NULL, raw, 0, &outlen);
            char *v = xstrdup(dec);
            curl_free(dec);
            free(raw);
            return v;
        }
    return NULL;
}

typedef struct begun {
    char *authorize_url, *state;
} begun;

static begun begin(const char *provider)
{
    Auth__V1__BeginLoginRequest b = AUTH__V1__BEGIN_LOGIN_REQUEST__INIT;
    b.provider = (char *)provider;
    rpc_ccall cc;
    if (call("BeginLogin", &b.base, &cc) != CF_OK)
        fail_msg("BeginLogin %s: %s %s", provider, cf_code_name(cc.code), cc.message);
    const Auth__V1__BeginLoginResponse *r = (const void *)cc.response;
    begun out = {xstrdup(r->authorize_url), xstrdup(r->state)};
    rpc_ccall_free(&cc);
    return out;
}

/* The stand-in's authorize step: the callback URL it sends the browser to (new string). */
static char *authorize(const char *url)
{
    CURL *h = curl_easy_init();
    long status = 0;
    char *loc = hop(h, url, &status, NULL);
    curl_easy_cleanup(h);
    if (status != 302 || !loc)
        fail_msg("authorize %s: HTTP %ld", url, status);
    return loc;
}

typedef struct finished {
    cf_code code;
    char message[256], user_id[64], name[256], picture[256], email[128];
} finished;

static finished finish(const char *provider, const char *code, const char *state,
                       const char *device_id)
{
    Auth__V1__FinishLoginRequest f = AUTH__V1__FINISH_LOGIN_REQUEST__INIT;
    f.provider = (char *)provider;
    f.code = (char *)code;
    f.state = (char *)state;
    f.device_id = (char *)(device_id ? device_id : "");
    rpc_ccall cc;
    finished out = {.code = call("FinishLogin", &f.base, &cc)};
    snprintf(out.message, sizeof out.message, "%s", cc.message ? cc.message : "");
    if (out.code == CF_OK) {
        const Auth__V1__TokenResponse *t = (const void *)cc.response;
        assert_true(strlen(t->access_token) > 20);
        assert_true(strlen(t->refresh_token) > 20);
        snprintf(out.user_id, sizeof out.user_id, "%s", t->user->id);
        snprintf(out.name, sizeof out.name, "%s", t->user->name);
        snprintf(out.picture, sizeof out.picture, "%s", t->user->avatar_url);
        snprintf(out.email, sizeof out.email, "%s", t->user->email);
    }
    rpc_ccall_free(&cc);
    return out;
}

/* A whole login of provider through auth's RPC (the stand-in or the real OpenID provider). */
static finished login(const char *provider)
{
    begun b = begin(provider);
    char *back = strcmp(provider, "corp") == 0 ? NULL : authorize(b.authorize_url);
    char *code, *state, *device = NULL;
    if (back) {
        code = param(back, "code");
        state = param(back, "state");
        device = param(back, "device_id");
    } else {
        char st[128], *redirect = xasprintf("%s/v1/auth/corp/callback", base);
        code = th_oidc_authorize(b.authorize_url, redirect, st, sizeof st);
        state = xstrdup(st);
        free(redirect);
    }
    assert_non_null(code);
    assert_string_equal(state, b.state);
    finished f = finish(provider, code, state, device);
    free(back);
    free(code);
    free(state);
    free(device);
    free(b.authorize_url);
    free(b.state);
    return f;
}

static int setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    snprintf(dir, sizeof dir, "/tmp/confetti-prov-XXXXXX");
    assert_non_null(mkdtemp(dir));
    /* the stand-ins' certificate, for 127.0.0.1, trusted by the provider files' ca_file */
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    char *key = xasprintf("%s/key.pem", dir), out[4096];
    const char *argv[] = {"openssl",
                          "req",
                          "-x509",
                          "-newkey",
                          "ec",
                          "-pkeyopt",
                          "ec_paramgen_curve:P-256",
                          "-nodes",
                          "-days",
                          "2",
                          "-subj",
                          "/CN=127.0.0.1",
                          "-addext",
                          "subjectAltName=IP:127.0.0.1",
                          "-keyout",
                          key,
                          "-out",
                          cert,
                          NULL};
    if (th_run(argv, NULL, out, sizeof out) != 0)
        fail_msg("openssl req: %s", out);
    free(key);
    keys = th_keys_new("RS256");
    snprintf(keyfile, sizeof keyfile, "%s/signing.pem", dir);
    FILE *f = fopen(keyfile, "w");
    fputs(th_keys_private_pem(keys), f);
    fclose(f);
    snprintf(base, sizeof base, "http://127.0.0.1:%d", th_free_port());
    char *redirects = xasprintf("%s/v1/auth/corp/callback,%s/v1/auth/dev/callback", base, base);
    th_oidc_start(&oidc, OIDC_DIR, redirects);
    free(redirects);
    yandex_port = th_free_port();
    yandex_pid = standin(yandex_port, "yandex");
    vk_port = th_free_port();
    vk_pid = standin(vk_port, "vk");

    char *corp = xasprintf("provider:\n  preset: oidc\n  display_name: \"Company SSO\"\n"
                           "  issuer: \"%s\"\n  client_id: confetti\n"
                           "  client_secret: confetti-dev-secret\n"
                           "  redirect_uris: [\"%s/v1/auth/corp/callback\"]\n",
                           oidc.issuer, base);
    char *yandex = xasprintf(
        "provider:\n  preset: yandex\n  client_id: standin-client\n"
        "  client_secret: standin-secret\n  redirect_uris: [\"%s/v1/auth/yandex/callback\"]\n"
        "  authorization_endpoint: \"https://127.0.0.1:%d/authorize\"\n"
        "  token_endpoint: \"https://127.0.0.1:%d/token\"\n"
        "  userinfo_endpoint: \"https://127.0.0.1:%d/info?format=json\"\n  ca_file: \"%s\"\n",
        base, yandex_port, yandex_port, yandex_port, cert);
    char *vk = xasprintf("provider:\n  preset: vk\n  client_id: standin-client\n"
                         "  redirect_uris: [\"%s/v1/auth/vk/callback\"]\n"
                         "  authorization_endpoint: \"https://127.0.0.1:%d/authorize\"\n"
                         "  token_endpoint: \"https://127.0.0.1:%d/oauth2/auth\"\n"
                         "  userinfo_endpoint: \"https://127.0.0.1:%d/oauth2/user_info\"\n"
                         "  ca_file: \"%s\"\n",
                         base, vk_port, vk_port, vk_port, cert);
    /* the same stand-in without the CA: its certificate must not be accepted */
    char *untrusted = xasprintf(
        "provider:\n  preset: yandex\n  name: yandex-untrusted\n  client_id: standin-client\n"
        "  client_secret: standin-secret\n  redirect_uris: [\"%s/v1/auth/yandex/callback\"]\n"
        "  authorization_endpoint: \"https://127.0.0.1:%d/authorize\"\n"
        "  token_endpoint: \"https://127.0.0.1:%d/token\"\n"
        "  userinfo_endpoint: \"https://127.0.0.1:%d/info?format=json\"\n",
        base, yandex_port, yandex_port, yandex_port);
    char *files[] = {write_file("corp.yaml", corp), write_file("yandex.yaml", yandex),
                     write_file("vk.yaml", vk), write_file("untrusted.yaml", untrusted)};
    free(corp);
    free(yandex);
    free(vk);
    free(untrusted);
    char *env[] = {
        xasprintf("CONFETTI_SIGNING_KEYS=%s=%s", th_keys_kid(keys), keyfile),
        xasprintf("CONFETTI_PROVIDER_DEV_ENABLED=true"),
        xasprintf("CONFETTI_PROVIDER_DEV_ISSUER=%s", oidc.issuer),
        xasprintf("CONFETTI_PROVIDER_DEV_CLIENT_ID=confetti"),
        xasprintf("CONFETTI_PROVIDER_DEV_CLIENT_SECRET=confetti-dev-secret"),
        xasprintf("CONFETTI_PROVIDER_DEV_REDIRECT_URIS=%s/v1/auth/dev/callback", base),
        xasprintf("CONFETTI_OAUTH_PROVIDER_FILES=%s,%s,%s,%s", files[0], files[1], files[2],
                  files[3]),
        xasprintf("CONFETTI_CATALOG_URLS=ipc:///tmp/confetti-no-catalog-%d", (int)getpid()),
        NULL,
    };
    auth =
        th_service_start(auth_service_def(), &(th_service_opts){.keys = keys, .env = (void *)env});
    char *genv[] = {xasprintf("CONFETTI_HTTP_LISTEN=%s", base),
                    xasprintf("CONFETTI_SERVICES_AUTH=%s", auth->url), NULL};
    gwsvc = th_service_start(gateway_service_def(),
                             &(th_service_opts){.keys = keys, .env = (void *)genv});
    for (int i = 0; env[i]; i++)
        free(env[i]);
    for (int i = 0; genv[i]; i++)
        free(genv[i]);
    for (int i = 0; i < 4; i++)
        free(files[i]);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    th_service_stop(gwsvc);
    th_service_stop(auth);
    th_oidc_stop(&oidc);
    kill(yandex_pid, SIGTERM);
    waitpid(yandex_pid, NULL, 0);
    kill(vk_pid, SIGTERM);
    waitpid(vk_pid, NULL, 0);
    th_keys_free(keys);
    char *argv[] = {"rm", "-rf", dir, NULL};
    th_run((const char *const *)argv, NULL, NULL, 0);
    curl_global_cleanup();
    return 0;
}

static void test_the_slots_and_every_file_are_offered(void **state)
{
    (void)state;
    Auth__V1__ListProvidersRequest req = AUTH__V1__LIST_PROVIDERS_REQUEST__INIT;
    rpc_ccall cc;
    assert_code(CF_OK, call("ListProviders", &req.base, &cc));
    const Auth__V1__ListProvidersResponse *r = (const void *)cc.response;
    static const char *const want[][2] = {{"dev", "dev"},
                                          {"corp", "Company SSO"},
                                          {"yandex", "Yandex ID"},
                                          {"vk", "VK ID"},
                                          {"yandex-untrusted", "Yandex ID"}};
    assert_int_equal(r->n_providers, 5);
    for (size_t i = 0; i < 5; i++) {
        assert_string_equal(r->providers[i]->name, want[i][0]);
        assert_string_equal(r->providers[i]->display_name, want[i][1]);
    }
    rpc_ccall_free(&cc);
}

static void test_a_named_openid_provider_logs_in(void **state)
{
    (void)state;
    finished f = login("corp");
    if (f.code != CF_OK)
        fail_msg("corp: %s %s", cf_code_name(f.code), f.message);
    assert_string_equal(f.name, "Alice Test");
    assert_string_equal(f.email, ""); /* not trusted for e-mail: not recorded */
    /* found again by (corp, sub) */
    finished again = login("corp");
    assert_code(CF_OK, again.code);
    assert_string_equal(again.user_id, f.user_id);
}

static void test_yandex_identity_comes_from_its_user_info(void **state)
{
    (void)state;
    begun b = begin("yandex");
    /* no id_token, so no nonce; PKCE S256 and the state as for OpenID */
    assert_null(strstr(b.authorize_url, "nonce="));
    assert_non_null(strstr(b.authorize_url, "code_challenge_method=S256"));
    assert_non_null(strstr(b.authorize_url, "scope=login%3Aemail%20login%3Ainfo"));
    free(b.authorize_url);
    free(b.state);
    finished f = login("yandex");
    if (f.code != CF_OK)
        fail_msg("yandex: %s %s", cf_code_name(f.code), f.message);
    assert_string_equal(f.name, "Иван Петров");
    assert_string_equal(f.picture, "https://avatars.yandex.net/get-yapic/131652443/islands-200");
    assert_string_equal(f.email, ""); /* the preset does not trust e-mail (docs/auth.md) */
    finished again = login("yandex");
    assert_code(CF_OK, again.code);
    assert_string_equal(again.user_id, f.user_id); /* found by (yandex, its id) */
}

static void test_vk_identity_needs_the_device_id(void **state)
{
    (void)state;
    finished f = login("vk");
    if (f.code != CF_OK)
        fail_msg("vk: %s %s", cf_code_name(f.code), f.message);
    assert_string_equal(f.name, "Ivan Ivanov");
    assert_string_equal(f.picture, "https://pp.userapi.com/standin.jpg");
    /* a callback without device_id cannot be exchanged at VK ID */
    begun b = begin("vk");
    char *back = authorize(b.authorize_url);
    char *code = param(back, "code");
    finished bad = finish("vk", code, b.state, NULL);
    assert_code(CF_UNAUTHENTICATED, bad.code);
    assert_non_null(strstr(bad.message, "device_id"));
    free(code);
    free(back);
    free(b.authorize_url);
    free(b.state);
}

/* PKCE: the verifier derives from the state, so a code issued for one login does not exchange
 * under another login's state (an intercepted code is useless); the state is spent either way. */
static void test_a_code_is_bound_to_its_login(void **state)
{
    (void)state;
    begun a = begin("yandex"), b = begin("yandex");
    char *back_a = authorize(a.authorize_url), *back_b = authorize(b.authorize_url);
    char *code_a = param(back_a, "code"), *code_b = param(back_b, "code");
    finished f = finish("yandex", code_b, a.state, NULL);
    assert_code(CF_UNAUTHENTICATED, f.code);
    assert_non_null(strstr(f.message, "refused the authorization code"));
    f = finish("yandex", code_a, a.state, NULL); /* a's state is spent */
    assert_code(CF_UNAUTHENTICATED, f.code);
    assert_non_null(strstr(f.message, "login state"));
    f = finish("vk", code_a, b.state, NULL); /* another provider's state */
    assert_code(CF_UNAUTHENTICATED, f.code);
    free(back_a);
    free(back_b);
    free(code_a);
    free(code_b);
    free(a.authorize_url);
    free(a.state);
    free(b.authorize_url);
    free(b.state);
}

/* The user-info answer is only as good as TLS: a certificate the provider file does not trust
 * makes the provider unreachable, never a login. */
static void test_an_untrusted_certificate_is_no_login(void **state)
{
    (void)state;
    begun b = begin("yandex-untrusted");
    char *back = authorize(b.authorize_url); /* the test itself trusts the stand-in */
    char *code = param(back, "code");
    finished f = finish("yandex-untrusted", code, b.state, NULL);
    assert_code(CF_UNAVAILABLE, f.code);
    free(code);
    free(back);
    free(b.authorize_url);
    free(b.state);
}

/* VK ID through the gateway, as a browser: the 302 to VK with the binding cookie, VK's callback
 * with device_id, type and expires_in, the tokens as JSON. */
static void test_vk_through_the_gateway(void **state)
{
    (void)state;
    CURL *h = curl_easy_init();
    long status = 0;
    char *url = xasprintf("%s/v1/auth/vk/login", base);
    char *to_vk = hop(h, url, &status, NULL);
    assert_int_equal(status, 302);
    assert_non_null(to_vk);
    char *back = hop(h, to_vk, &status, NULL);
    assert_int_equal(status, 302);
    assert_non_null(strstr(back, "device_id="));
    assert_non_null(strstr(back, "type=code_v2"));
    char *body = NULL;
    char *none = hop(h, back, &status, &body);
    assert_null(none);
    if (status != 200)
        fail_msg("callback: HTTP %ld %s", status, body);
    json_t *j = json_loads(body, 0, NULL);
    assert_non_null(json_string_value(json_object_get(j, "accessToken")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "user"), "name")),
                        "Ivan Ivanov");
    json_decref(j);
    free(body);
    /* the callback again: the state is spent */
    hop(h, back, &status, NULL);
    assert_int_equal(status, 401);
    /* a callback with a parameter nobody knows is refused by the gateway (400), not ignored */
    char *odd = xasprintf("%s&unknown_param=1", back);
    hop(h, odd, &status, NULL);
    assert_int_equal(status, 400);
    free(odd);
    free(back);
    free(to_vk);
    free(url);
    curl_easy_cleanup(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_slots_and_every_file_are_offered),
        cmocka_unit_test(test_a_named_openid_provider_logs_in),
        cmocka_unit_test(test_yandex_identity_comes_from_its_user_info),
        cmocka_unit_test(test_vk_identity_needs_the_device_id),
        cmocka_unit_test(test_a_code_is_bound_to_its_login),
        cmocka_unit_test(test_an_untrusted_certificate_is_no_login),
        cmocka_unit_test(test_vk_through_the_gateway),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
