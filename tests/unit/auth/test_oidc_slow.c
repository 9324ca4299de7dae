/* test_oidc_slow.c — issue 14 item 6: a slow or black-holed OpenID provider must not stall every
 * login. The provider is a local HTTP server that answers nothing for longer than
 * oauth.http_timeout. Before, discovery ran with the provider's lock held, so N logins queued:
 * the k-th waited k timeouts (6 callers: the last took >= 6 s). Now each waits its own timeout
 * at most. And while a JWKS refetch (an unknown kid) waits on the slow provider, another login's
 * endpoint lookup is answered at once. */
#include "th.h"
#include "tokens.h"
#include "auth.h"
#include "base/clock.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- a provider that takes its time ---- */

static int listen_fd = -1, port;
static atomic_int delay_ms;
static atomic_int requests;

static void *answer(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char req[4096];
    ssize_t n = recv(fd, req, sizeof req - 1, 0);
    (void)n;
    atomic_fetch_add(&requests, 1);
    usleep((useconds_t)atomic_load(&delay_ms) * 1000);
    static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                               "Content-Length: 11\r\nConnection: close\r\n\r\n{\"keys\":[]}";
    ssize_t w = send(fd, resp, sizeof resp - 1, MSG_NOSIGNAL);
    (void)w;
    close(fd);
    return NULL;
}

static void *serve(void *arg)
{
    (void)arg;
    for (;;) {
        int fd = accept(listen_fd, NULL, NULL);
        if (fd < 0)
            return NULL; /* closed by teardown */
        pthread_t t;
        pthread_create(&t, NULL, answer, (void *)(intptr_t)fd);
        pthread_detach(t);
    }
}

static pthread_t server;

static int setup(void **state)
{
    (void)state;
    listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(0, bind(listen_fd, (struct sockaddr *)&a, sizeof a));
    assert_int_equal(0, listen(listen_fd, 64));
    getsockname(listen_fd, (struct sockaddr *)&a, &len);
    port = ntohs(a.sin_port);
    pthread_create(&server, NULL, serve, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    shutdown(listen_fd, SHUT_RDWR);
    close(listen_fd);
    pthread_join(server, NULL);
    return 0;
}

/* ---- callers ---- */

typedef struct caller {
    oidc_provider *p;
    cf_code code;
    int64_t ms;
} caller;

static void *lookup(void *arg)
{
    caller *c = arg;
    int64_t t0 = cf_mono_ns();
    char *url = NULL;
    c->code = oidc_authorize_endpoint(c->p, &url);
    c->ms = (cf_mono_ns() - t0) / 1000000;
    free(url);
    return NULL;
}

enum { CALLERS = 6, TIMEOUT_MS = 1000 };

static void concurrent_logins_do_not_queue_behind_a_slow_discovery(void **state)
{
    (void)state;
    atomic_store(&delay_ms, 3 * TIMEOUT_MS); /* longer than oauth.http_timeout: each times out */
    char issuer[64];
    snprintf(issuer, sizeof issuer, "http://127.0.0.1:%d", port);
    auth_provider_config cfg = {.name = "slow",
                                .issuer = issuer,
                                .client_id = "c",
                                .discovery = true,
                                .token_auth = "client_secret_basic"};
    cf_clock clock = CF_CLOCK_REAL;
    oidc_provider *p = oidc_provider_new(&cfg, &clock, TIMEOUT_MS);
    caller c[CALLERS];
    pthread_t t[CALLERS];
    for (int i = 0; i < CALLERS; i++) {
        c[i] = (caller){.p = p};
        pthread_create(&t[i], NULL, lookup, &c[i]);
    }
    int64_t slowest = 0;
    for (int i = 0; i < CALLERS; i++) {
        pthread_join(t[i], NULL);
        assert_code(CF_UNAVAILABLE, c[i].code);
        slowest = c[i].ms > slowest ? c[i].ms : slowest;
    }
    print_message("slowest of %d logins against a black-holed provider: %lld ms (timeout %d)\n",
                  CALLERS, (long long)slowest, TIMEOUT_MS);
    /* serialized behind one lock this is >= CALLERS timeouts whatever the machine's speed */
    assert_true(slowest < (CALLERS - 2) * TIMEOUT_MS);
    oidc_provider_free(p);
}

typedef struct refetch {
    oidc_provider *p;
    const char *token;
} refetch;

static void *verify_unknown_kid(void *arg)
{
    refetch *r = arg;
    oidc_identity id;
    const char *why;
    oidc_verify_id_token(r->p, r->token, "n", &id, &why);
    return NULL;
}

static void a_slow_jwks_refetch_does_not_hold_other_logins(void **state)
{
    (void)state;
    atomic_store(&delay_ms, 4000); /* answered, slowly, within the timeout */
    char issuer[64], jwks[96];
    snprintf(issuer, sizeof issuer, "http://127.0.0.1:%d", port);
    snprintf(jwks, sizeof jwks, "http://127.0.0.1:%d/jwks", port);
    auth_provider_config cfg = {.name = "slowkeys",
                                .issuer = issuer,
                                .client_id = "c",
                                .discovery = false,
                                .authorization_endpoint = "http://127.0.0.1:1/authorize",
                                .token_endpoint = "http://127.0.0.1:1/token",
                                .jwks_uri = jwks,
                                .token_auth = "client_secret_basic"};
    cf_clock clock = CF_CLOCK_REAL;
    oidc_provider *p = oidc_provider_new(&cfg, &clock, 10000);
    th_keys *k = th_keys_new("RS256");
    char *tok = th_token(k, "u", 600, false); /* a kid the provider has never published */
    int before = atomic_load(&requests);
    refetch r = {p, tok};
    pthread_t t;
    pthread_create(&t, NULL, verify_unknown_kid, &r);
    while (atomic_load(&requests) == before) /* the refetch is now waiting on the provider */
        usleep(10000);
    int64_t t0 = cf_mono_ns();
    char *url = NULL;
    assert_code(CF_OK, oidc_authorize_endpoint(p, &url));
    int64_t ms = (cf_mono_ns() - t0) / 1000000;
    assert_string_equal(url, "http://127.0.0.1:1/authorize");
    free(url);
    assert_true(ms < 2000); /* not the 4 s the provider takes */
    pthread_join(t, NULL);
    free(tok);
    th_keys_free(k);
    oidc_provider_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(concurrent_logins_do_not_queue_behind_a_slow_discovery),
        cmocka_unit_test(a_slow_jwks_refetch_does_not_hold_other_logins),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
