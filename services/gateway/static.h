/* static.h — the page at "/" (every file of services/gateway/web/), embedded into the binary at
 * build time by cmake/Embed.cmake and served from memory: GET and HEAD only, Content-Type by
 * extension, a strong ETag (If-None-Match → 304), Cache-Control: no-cache (always revalidated: the
 * names carry no version), and the security headers (a Content-Security-Policy that allows only
 * this origin, X-Content-Type-Options: nosniff, Referrer-Policy: no-referrer). docs/gateway.md,
 * "The page at /". */
#ifndef CONFETTI_GATEWAY_STATIC_H
#define CONFETTI_GATEWAY_STATIC_H

#include <stdbool.h>
#include <stddef.h>

/* One embedded file (generated table, sorted by name). */
typedef struct embedded_file {
    const char *name;          /* "/index.html" */
    const unsigned char *data; /* len bytes (plus a NUL not counted) */
    size_t len;
    const char *etag; /* "\"<32 hex digits of SHA-256>\"" */
} embedded_file;

extern const embedded_file gw_web_files[];
extern const size_t gw_web_files_count;

/* The answer to a request for an embedded file. Pointers borrow static data. */
typedef struct gw_static_answer {
    int status;        /* 200, 304, or 405 (method other than GET/HEAD; Allow in headers) */
    const char *ctype; /* Content-Type (NULL for 304/405) */
    const char *body;  /* 200: the file (also for HEAD: nng sends only its length) */
    size_t len;
    const char *headers[16]; /* NULL-terminated name/value pairs */
} gw_static_answer;

/* If path (no query, still percent-encoded) names an embedded file ("/" is /index.html), fills
 * *a and returns true; otherwise returns false and the request goes on to the API routes (an
 * unknown file is their 404). if_none_match is the request's header or NULL. Pure; any thread. */
bool gw_static_lookup(const char *method, const char *path, const char *if_none_match,
                      gw_static_answer *a);

/* The Content-Type for a file name by its extension ("application/octet-stream" if unknown). */
const char *gw_static_type(const char *name);

#endif
