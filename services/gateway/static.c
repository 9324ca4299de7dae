/* static.c — see static.h. The files themselves are generated data (gw_web_files); this is the
 * HTTP side: lookup, types, validators and headers. */
#include "static.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Only this origin: scripts and styles from files here (no inline code, no eval), fetch and
 * WebSocket to here ('self' covers ws:// on the same host and port in CSP Level 3), no
 * framing, no plugins. The tokens live in the page: this is what keeps other scripts out. */
#define CSP                                                                                        \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "              \
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

static const struct {
    const char *ext;
    const char *type;
} types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".json", "application/json"},
    {".txt", "text/plain; charset=utf-8"},
};

const char *gw_static_type(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (dot)
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (strcasecmp(dot, types[i].ext) == 0)
                return types[i].type;
    return "application/octet-stream";
}

static const embedded_file *find(const char *path)
{
    if (strcmp(path, "/") == 0)
        path = "/index.html";
    for (size_t i = 0; i < gw_web_files_count; i++)
        if (strcmp(gw_web_files[i].name, path) == 0)
            return &gw_web_files[i];
    return NULL;
}

/* RFC 9110 §13.1.2: "*" or a comma-separated list of entity tags, weak ones compared weakly. */
static bool etag_matches(const char *header, const char *etag)
{
    size_t elen = strlen(etag);
    const char *p = header;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p == '*')
            return true;
        if (strncmp(p, "W/", 2) == 0)
            p += 2;
        size_t n = strcspn(p, ",");
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if (n == elen && strncmp(p, etag, elen) == 0)
            return true;
        p += strcspn(p, ",");
    }
    return false;
}

bool gw_static_lookup(const char *method, const char *path, const char *if_none_match,
                      gw_static_answer *a)
{
    const embedded_file *f = find(path);
    if (!f)
        return false;
    memset(a, 0, sizeof *a);
    size_t n = 0;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        a->status = 405;
        a->headers[n++] = "Allow";
        a->headers[n++] = "GET, HEAD";
        return true;
    }
    a->headers[n++] = "ETag";
    a->headers[n++] = f->etag;
    a->headers[n++] = "Cache-Control";
    a->headers[n++] = "no-cache";
    a->headers[n++] = "X-Content-Type-Options";
    a->headers[n++] = "nosniff";
    a->headers[n++] = "Content-Security-Policy";
    a->headers[n++] = CSP;
    a->headers[n++] = "Referrer-Policy";
    a->headers[n++] = "no-referrer";
    if (if_none_match && etag_matches(if_none_match, f->etag)) {
        a->status = 304;
        return true;
    }
    /* HEAD gets the same answer: nng's server keeps its Content-Length and drops the body */
    a->status = 200;
    a->ctype = gw_static_type(f->name);
    a->body = (const char *)f->data;
    a->len = f->len;
    return true;
}
