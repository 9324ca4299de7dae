/* routes.c — the public HTTP API of SPEC §6 as data, and the matcher. Adding a route is one line
 * here; the transcoder (transcode.c) does the rest for every route alike. */
#include "gateway.h"
#include "routes_password.h"
#include "base/xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Timeouts: reads 5 s, writes 10 s, a draw 15 s (it may wait on the prize lock), the OAuth
 * callback 20 s (auth talks to the identity provider). */
#define R 5000
#define W 10000

#define AUTHN GW_AUTH
#define STATE (GW_AUTH | GW_CONFLICT)

const gw_route gw_routes[] = {
    /* auth */
    {"GET", "/v1/auth/providers", "auth.v1.Auth/ListProviders", NULL, R, 0},
    {"GET", "/v1/auth/{provider}/login", "auth.v1.Auth/BeginLogin", NULL, W, GW_REDIRECT},
    {"GET", "/v1/auth/{provider}/callback", "auth.v1.Auth/FinishLogin", NULL, 20000,
     GW_CLIENT | GW_LOGIN_CALLBACK},
    {"POST", "/v1/auth/refresh", "auth.v1.Auth/Refresh", "*", W, GW_CLIENT},
    {"POST", "/v1/auth/logout", "auth.v1.Auth/Logout", NULL, W, AUTHN | GW_LOGOUT},
    {"GET", "/v1/auth/sessions", "auth.v1.Auth/ListSessions", NULL, R, AUTHN},
    {"DELETE", "/v1/auth/sessions/{sessionId}", "auth.v1.Auth/RevokeSession", NULL, W, AUTHN},
    {"DELETE", "/v1/auth/sessions", "auth.v1.Auth/RevokeAllSessions", NULL, W, AUTHN},
    {"POST", "/v1/auth/app-token", "auth.v1.Auth/IssueAppToken", "*", W, GW_CLIENT},
    {"GET", "/.well-known/jwks.json", "auth.v1.Auth/GetJwks", NULL, R, GW_JWKS},
    {"GET", "/v1/users/me", "auth.v1.Auth/GetMe", NULL, R, AUTHN},
    {"PATCH", "/v1/users/me", "auth.v1.Auth/UpdateMe", "user", W, AUTHN},
    {"DELETE", "/v1/users/me", "auth.v1.Auth/DeleteMe", NULL, W, AUTHN},
    GW_PASSWORD_ROUTES,
    /* catalog */
    {"POST", "/v1/apps", "catalog.v1.Catalog/RegisterApp", "*", W, AUTHN},
    {"GET", "/v1/apps", "catalog.v1.Catalog/ListApps", NULL, R, 0},
    {"GET", "/v1/apps/{appId}", "catalog.v1.Catalog/GetApp", NULL, R, 0},
    {"DELETE", "/v1/apps/{appId}", "catalog.v1.Catalog/DeleteApp", NULL, W, STATE},
    {"PUT", "/v1/apps/{appId}/manifest", "catalog.v1.Catalog/PublishManifest", "manifest", W,
     AUTHN},
    {"GET", "/v1/apps/{appId}/manifests", "catalog.v1.Catalog/ListManifests", NULL, R, 0},
    {"GET", "/v1/apps/{appId}/manifests/{version}", "catalog.v1.Catalog/GetManifest", NULL, R, 0},
    {"POST", "/v1/apps/{appId}:validateSettings", "catalog.v1.Catalog/ValidateSettings", "*", R, 0},
    {"POST", "/v1/apps/{appId}:regenerateSecret", "catalog.v1.Catalog/RegenerateSecret", NULL, W,
     AUTHN},
    {"POST", "/v1/apps/{appId}:activate", "catalog.v1.Catalog/ActivateApp", NULL, W, STATE},
    {"POST", "/v1/apps/{appId}:deactivate", "catalog.v1.Catalog/DeactivateApp", NULL, W, STATE},
    /* rooms */
    {"POST", "/v1/rooms", "rooms.v1.Rooms/CreateRoom", "*", W, AUTHN},
    {"GET", "/v1/rooms", "rooms.v1.Rooms/ListRooms", NULL, R, GW_CACHE_LISTING},
    {"GET", "/v1/rooms/{roomId}", "rooms.v1.Rooms/GetRoom", NULL, R, GW_CACHE_ROOM},
    {"PATCH", "/v1/rooms/{room.roomId}", "rooms.v1.Rooms/UpdateRoom", "room", W, STATE},
    {"DELETE", "/v1/rooms/{roomId}", "rooms.v1.Rooms/DeleteRoom", NULL, W, STATE},
    {"POST", "/v1/rooms/{roomId}:activate", "rooms.v1.Rooms/ActivateRoom", NULL, W, STATE},
    {"POST", "/v1/rooms/{roomId}:complete", "rooms.v1.Rooms/CompleteRoom", NULL, W, STATE},
    {"POST", "/v1/rooms/{roomId}:cancel", "rooms.v1.Rooms/CancelRoom", NULL, W, STATE},
    {"POST", "/v1/rooms/{roomId}/participants", "rooms.v1.Rooms/AddParticipant", "*", W, STATE},
    {"GET", "/v1/rooms/{roomId}/participants", "rooms.v1.Rooms/ListParticipants", NULL, R, 0},
    {"PATCH", "/v1/rooms/{roomId}/participants/{userId}", "rooms.v1.Rooms/UpdateParticipant", "*",
     W, STATE},
    {"DELETE", "/v1/rooms/{roomId}/participants/{userId}", "rooms.v1.Rooms/RemoveParticipant", NULL,
     W, STATE},
    /* draw */
    {"POST", "/v1/rooms/{roomId}/prizes", "draw.v1.Draw/CreatePrize", "*", W, STATE},
    {"GET", "/v1/rooms/{roomId}/prizes", "draw.v1.Draw/ListPrizes", NULL, R, 0},
    {"GET", "/v1/rooms/{roomId}/prizes/{prizeId}", "draw.v1.Draw/GetPrize", NULL, R, 0},
    {"PATCH", "/v1/rooms/{prize.roomId}/prizes/{prize.prizeId}", "draw.v1.Draw/UpdatePrize",
     "prize", W, STATE},
    {"DELETE", "/v1/rooms/{roomId}/prizes/{prizeId}", "draw.v1.Draw/DeletePrize", NULL, W, STATE},
    {"POST", "/v1/rooms/{roomId}/draws", "draw.v1.Draw/DrawWinners", "*", 15000, STATE},
    {"GET", "/v1/rooms/{roomId}/draws/{drawId}", "draw.v1.Draw/GetDraw", NULL, R, 0},
    {"GET", "/v1/rooms/{roomId}/winners", "draw.v1.Draw/ListWinners", NULL, R, 0},
    {"DELETE", "/v1/rooms/{roomId}/winners/{winnerId}", "draw.v1.Draw/RevokeWinner", "*", W, STATE},
    /* the audit log: every service's ListAudit, merged (fanout.c; docs/audit.md) */
    {"GET", "/v1/audit", "auth.v1.Auth/ListAudit", NULL, R, AUTHN | GW_FANOUT},
    {"GET", "/v1/rooms/{roomId}/audit", "rooms.v1.Rooms/ListAudit", NULL, R, AUTHN | GW_FANOUT},
};
const size_t gw_nroutes = sizeof gw_routes / sizeof *gw_routes;

static const ProtobufCServiceDescriptor *
find_service(const ProtobufCServiceDescriptor *const *const *registries, const char *name,
             size_t len)
{
    for (size_t r = 0; registries[r]; r++)
        for (size_t i = 0; registries[r][i]; i++)
            if (strlen(registries[r][i]->name) == len &&
                memcmp(registries[r][i]->name, name, len) == 0)
                return registries[r][i];
    return NULL;
}

/* The proto field a JSON name designates (lowerCamelCase or the original name). */
const ProtobufCFieldDescriptor *gw_field_by_json(const ProtobufCMessageDescriptor *d,
                                                 const char *name, size_t len);

static cf_code split_template(gw_rroute *rt, char *err, size_t errlen)
{
    const char *p = rt->def->path;
    if (*p != '/')
        goto bad;
    const char *colon = NULL;
    while (*p) {
        p++; /* the '/' */
        if (rt->nseg == GW_MAX_SEGMENTS)
            goto bad;
        const char *end = p + strcspn(p, "/");
        size_t n = (size_t)(end - p);
        /* a ':' after the last segment (outside braces) starts the verb */
        if (!*end) {
            const char *close = memchr(p, '}', n);
            const char *from = close ? close : p;
            colon = memchr(from, ':', (size_t)(end - from));
            if (colon)
                n = (size_t)(colon - p);
        }
        if (n == 0)
            goto bad;
        size_t i = rt->nseg++;
        if (p[0] == '{') {
            if (p[n - 1] != '}' || n < 3)
                goto bad;
            rt->seg[i] = NULL;
            rt->param[i] = p + 1;
            rt->paramlen[i] = n - 2;
        } else {
            if (memchr(p, '{', n) || memchr(p, '}', n))
                goto bad;
            rt->seg[i] = p;
            rt->seglen[i] = n;
        }
        p = end;
    }
    if (colon) {
        rt->verb = colon + 1;
        rt->verblen = strlen(rt->verb);
        if (!rt->verblen)
            goto bad;
    }
    return CF_OK;
bad:
    snprintf(err, errlen, "route %s %s: bad path template", rt->def->method, rt->def->path);
    return CF_INVALID_ARGUMENT;
}

/* Checks that a dotted JSON path names fields of d (each but the last a message). */
static bool json_path_valid(const ProtobufCMessageDescriptor *d, const char *path, size_t len)
{
    while (d) {
        const char *dot = memchr(path, '.', len);
        size_t n = dot ? (size_t)(dot - path) : len;
        const ProtobufCFieldDescriptor *f = gw_field_by_json(d, path, n);
        if (!f)
            return false;
        if (!dot)
            return f->label != PROTOBUF_C_LABEL_REPEATED;
        if (f->type != PROTOBUF_C_TYPE_MESSAGE)
            return false;
        d = f->descriptor;
        path = dot + 1;
        len -= n + 1;
    }
    return false;
}

cf_code gw_router_build(gw_router *r, const gw_route *routes, size_t n,
                        const ProtobufCServiceDescriptor *const *const *registries,
                        size_t (*backend_of)(const char *service, void *arg), void *arg, char *err,
                        size_t errlen)
{
    r->routes = xcalloc(n ? n : 1, sizeof *r->routes);
    r->n = n;
    for (size_t i = 0; i < n; i++) {
        gw_rroute *rt = &r->routes[i];
        rt->def = &routes[i];
        const char *slash = strchr(routes[i].rpc, '/');
        if (!slash)
            goto unknown;
        rt->service = find_service(registries, routes[i].rpc, (size_t)(slash - routes[i].rpc));
        if (!rt->service)
            goto unknown;
        const ProtobufCMethodDescriptor *m = NULL;
        for (unsigned k = 0; k < rt->service->n_methods; k++)
            if (strcmp(rt->service->methods[k].name, slash + 1) == 0) {
                m = &rt->service->methods[k];
                rt->method_index = k;
            }
        if (!m)
            goto unknown;
        rt->method = m;
        rt->backend = backend_of(rt->service->name, arg);
        if (split_template(rt, err, errlen) != CF_OK) {
            gw_router_free(r);
            return CF_INVALID_ARGUMENT;
        }
        for (size_t s = 0; s < rt->nseg; s++)
            if (!rt->seg[s] && !json_path_valid(m->input, rt->param[s], rt->paramlen[s])) {
                snprintf(err, errlen, "route %s %s: {%.*s} is not a field of %s", routes[i].method,
                         routes[i].path, (int)rt->paramlen[s], rt->param[s], m->input->name);
                gw_router_free(r);
                return CF_INVALID_ARGUMENT;
            }
        const char *b = routes[i].body;
        if (b && strcmp(b, "*") != 0 && !json_path_valid(m->input, b, strlen(b))) {
            snprintf(err, errlen, "route %s %s: body field %s is not in %s", routes[i].method,
                     routes[i].path, b, m->input->name);
            gw_router_free(r);
            return CF_INVALID_ARGUMENT;
        }
        snprintf(rt->metric_name, sizeof rt->metric_name, "%s %s", routes[i].method,
                 routes[i].path);
    }
    return CF_OK;
unknown:
    for (size_t i = 0; i < n; i++)
        if (!r->routes[i].method) {
            snprintf(err, errlen, "route %s %s: unknown RPC %s", routes[i].method, routes[i].path,
                     routes[i].rpc);
            break;
        }
    gw_router_free(r);
    return CF_INVALID_ARGUMENT;
}

void gw_router_free(gw_router *r)
{
    free(r->routes);
    r->routes = NULL;
    r->n = 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes src[0..n) into dst (NUL-terminated); false on a bad escape or a %00. */
bool gw_pct_decode(const char *src, size_t n, char *dst, bool plus_is_space)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = src[i];
        if (c == '%') {
            if (i + 2 >= n)
                return false;
            int hi = hexval(src[i + 1]), lo = hexval(src[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return false;
            c = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            c = ' ';
        }
        dst[o++] = c;
    }
    dst[o] = '\0';
    return true;
}

/* Matches one route; on success fills params. The path's segments are given pre-split. */
static bool match_one(const gw_rroute *rt, const char *const *segs, const size_t *lens, size_t nseg,
                      char *buf, size_t *bufpos, gw_param *params, size_t *nparams)
{
    if (rt->nseg != nseg)
        return false;
    size_t np = 0;
    for (size_t i = 0; i < nseg; i++) {
        const char *s = segs[i];
        size_t n = lens[i];
        if (i == nseg - 1) {
            if (rt->verb) {
                if (n < rt->verblen + 1 || s[n - rt->verblen - 1] != ':' ||
                    memcmp(s + n - rt->verblen, rt->verb, rt->verblen) != 0)
                    return false;
                n -= rt->verblen + 1;
            } else if (!rt->seg[i] && memchr(s, ':', n)) {
                return false; /* "/v1/rooms/x:unknownVerb" is not GetRoom("x:unknownVerb") */
            }
        }
        if (rt->seg[i]) {
            if (n != rt->seglen[i] || memcmp(s, rt->seg[i], n) != 0)
                return false;
            continue;
        }
        if (n == 0 || np == GW_MAX_PARAMS)
            return false;
        char *dst = buf + *bufpos;
        if (!gw_pct_decode(s, n, dst, false))
            return false;
        if (memchr(dst, '/', strlen(dst)))
            return false; /* an encoded '/' does not make a parameter span segments */
        params[np++] = (gw_param){rt->param[i], rt->paramlen[i], dst};
        *bufpos += strlen(dst) + 1;
    }
    *nparams = np;
    return true;
}

gw_match_result gw_route_match(const gw_router *r, const char *method, const char *path, char *buf,
                               const gw_rroute **out, gw_param *params, size_t *nparams,
                               char *allow, size_t allowlen)
{
    const char *segs[GW_MAX_SEGMENTS];
    size_t lens[GW_MAX_SEGMENTS];
    size_t nseg = 0;
    if (allowlen)
        allow[0] = '\0';
    if (*path != '/')
        return GW_MATCH_NOT_FOUND;
    const char *p = path;
    while (*p) {
        p++;
        if (nseg == GW_MAX_SEGMENTS)
            return GW_MATCH_NOT_FOUND;
        size_t n = strcspn(p, "/");
        segs[nseg] = p;
        lens[nseg++] = n;
        p += n;
    }
    bool path_found = false;
    size_t alen = 0;
    for (size_t i = 0; i < r->n; i++) {
        size_t pos = 0;
        if (!match_one(&r->routes[i], segs, lens, nseg, buf, &pos, params, nparams))
            continue;
        if (strcmp(r->routes[i].def->method, method) == 0 ||
            (strcmp(method, "HEAD") == 0 && strcmp(r->routes[i].def->method, "GET") == 0)) {
            *out = &r->routes[i];
            return GW_MATCH_OK;
        }
        path_found = true;
        int w = snprintf(allow + alen, allowlen > alen ? allowlen - alen : 0, "%s%s",
                         alen ? ", " : "", r->routes[i].def->method);
        if (w > 0 && alen + (size_t)w < allowlen)
            alen += (size_t)w;
    }
    return path_found ? GW_MATCH_BAD_METHOD : GW_MATCH_NOT_FOUND;
}
