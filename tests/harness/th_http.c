/* th_http.c — the tests' HTTP client on libcurl (th_http.h). */
#include "th_http.h"
#include "th.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/xmalloc.h"

typedef struct sink {
    char **p;
    size_t *len;
} sink;

static size_t append(char *data, size_t size, size_t n, void *arg)
{
    sink *s = arg;
    size_t k = size * n;
    *s->p = xrealloc(*s->p, *s->len + k + 1);
    memcpy(*s->p + *s->len, data, k);
    *s->len += k;
    (*s->p)[*s->len] = '\0';
    return k;
}

th_http_resp th_http(const th_http_req *req)
{
    th_http_resp r = {0};
    CURL *h = req->session ? req->session : curl_easy_init();
    if (!req->session) /* cookies within the request's own redirects */
        curl_easy_setopt(h, CURLOPT_COOKIEFILE, "");
    struct curl_slist *hdr = NULL;
    char *auth = req->bearer ? xasprintf("Authorization: Bearer %s", req->bearer) : NULL;
    if (auth)
        hdr = curl_slist_append(hdr, auth);
    bool own_type = false; /* the caller's Content-Type replaces the JSON default */
    for (size_t i = 0; req->headers && req->headers[i]; i++)
        own_type = own_type || strncasecmp(req->headers[i], "Content-Type:", 13) == 0;
    if (req->body && !own_type)
        hdr = curl_slist_append(hdr, "Content-Type: application/json");
    for (size_t i = 0; req->headers && req->headers[i]; i++)
        hdr = curl_slist_append(hdr, req->headers[i]);
    curl_easy_setopt(h, CURLOPT_URL, req->url);
    char iface[80];
    if (req->source) { /* Linux routes all of 127/8 to lo: a second client address */
        snprintf(iface, sizeof iface, "host!%s", req->source);
        curl_easy_setopt(h, CURLOPT_INTERFACE, iface);
    }
    if (req->session)
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L); /* reset what the previous request set */
    if (strcmp(req->method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, NULL);
    } else {
        curl_easy_setopt(h, CURLOPT_NOBODY, 0L);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    if (req->body) /* setting it at all, even NULL, would make curl send a POST */
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, req->follow ? 1L : 0L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, req->timeout_s > 0 ? req->timeout_s : 20L);
    sink body = {&r.body, &r.len}, head = {&r.headers, &r.hlen};
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, append);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, append);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &head);
    CURLcode rc = curl_easy_perform(h);
    curl_slist_free_all(hdr);
    free(auth);
    if (rc != CURLE_OK) {
        if (!req->session)
            curl_easy_cleanup(h);
        th_http_free(&r);
        fail_msg("%s %s: %s", req->method, req->url, curl_easy_strerror(rc));
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r.status);
    if (!req->session)
        curl_easy_cleanup(h);
    if (!r.body)
        r.body = xstrdup("");
    if (!r.headers)
        r.headers = xstrdup("");
    return r;
}

bool th_http_header(const th_http_resp *r, const char *name, char *out, size_t cap)
{
    size_t k = strlen(name);
    bool found = false;
    out[0] = '\0';
    for (const char *line = r->headers; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t n = end ? (size_t)(end - line) : strlen(line);
        if (n > k && strncasecmp(line, name, k) == 0 && line[k] == ':') {
            const char *v = line + k + 1;
            size_t m = n - k - 1;
            while (m && (*v == ' ' || *v == '\t'))
                v++, m--;
            while (m && (v[m - 1] == '\r' || v[m - 1] == ' '))
                m--;
            snprintf(out, cap, "%.*s", (int)m, v);
            found = true;
        }
        line = end ? end + 1 : line + n;
    }
    return found;
}

void th_http_free(th_http_resp *r)
{
    free(r->body);
    free(r->headers);
    r->body = r->headers = NULL;
}

void *th_http_session(void)
{
    CURL *h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_COOKIEFILE, ""); /* cookies on, kept in memory */
    return h;
}

void th_http_session_free(void *session)
{
    if (session)
        curl_easy_cleanup(session);
}
