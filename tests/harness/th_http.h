/* th_http.h — one HTTP request through libcurl for the tests that speak HTTP to the gateway (and to
 * the test OpenID provider): method, URL, bearer token, JSON body, extra headers, redirects,
 * cookies kept across requests on a session handle. The response keeps its status, body and raw
 * header block; th_http_header picks one header out of it. */
#ifndef CONFETTI_TESTS_TH_HTTP_H
#define CONFETTI_TESTS_TH_HTTP_H

#include <stdbool.h>
#include <stddef.h>

typedef struct th_http_req {
    const char *method; /* "GET", "POST", ...; "HEAD" asks for no body */
    const char *url;
    const char *bearer; /* access token sent as "Authorization: Bearer …", or NULL */
    const char *body;   /* request body, or NULL; sent as application/json unless headers name a
                           Content-Type */
    const char *const *headers; /* extra "Name: value" lines, NULL-terminated, or NULL */
    bool follow;                /* follow redirects */
    void *session;              /* a CURL * from th_http_session (cookies kept), or NULL */
    long timeout_s;             /* 0 = 20 s: a hang fails the test instead of blocking it */
    const char *source;         /* local address to connect from ("127.0.0.2"), or NULL */
} th_http_req;

typedef struct th_http_resp {
    long status;
    char *body; /* NUL-terminated ("" when none); owned */
    size_t len;
    char *headers; /* every header line received, NUL-terminated; owned */
    size_t hlen;
} th_http_resp;

/* Performs the request; a transport failure (refused, timeout) fails the test. */
th_http_resp th_http(const th_http_req *req);

/* The value of the last header `name` (case-insensitive, without the colon), trimmed, into out;
 * false (and out "") when absent. */
bool th_http_header(const th_http_resp *r, const char *name, char *out, size_t cap);

void th_http_free(th_http_resp *r);

/* A handle that keeps cookies across th_http calls (the OpenID provider's interaction). */
void *th_http_session(void);
void th_http_session_free(void *session);

#endif
