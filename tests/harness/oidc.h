/* oidc.h — the real OpenID provider of the tests (tests/oidc/server.mjs: the oidc-provider npm
 * package) as a child process on loopback, logging the test user alice in by itself (--auto) or
 * showing its login forms (th_oidc_start_forms). */
#ifndef CONFETTI_TESTS_OIDC_H
#define CONFETTI_TESTS_OIDC_H

#include <stddef.h>
#include <sys/types.h>

typedef struct th_oidc {
    pid_t pid;
    int port;
    char issuer[64]; /* http://127.0.0.1:<port> */
} th_oidc;

/* Starts `node DIR/server.mjs PORT REDIRECT --auto` on a free port and waits until it accepts
 * connections; fails the test if it does not within 10 s. */
void th_oidc_start(th_oidc *o, const char *dir, const char *redirect_uri);
/* The same with the provider's own login and consent pages (no --auto), for a browser;
 * redirect_uris: a comma-separated list. */
void th_oidc_start_forms(th_oidc *o, const char *dir, const char *redirect_uris);
/* Drives an authorize URL of the --auto provider like a browser (cookies kept, redirects one by
 * one) until it redirects to `redirect`: the code (new string), and the state it came back
 * with copied into state_out[cap]. Fails the test if it never comes back. */
char *th_oidc_authorize(const char *authorize_url, const char *redirect, char *state_out,
                        size_t cap);
/* Stops it (SIGTERM, reaped). */
void th_oidc_stop(th_oidc *o);

#endif
