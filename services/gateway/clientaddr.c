/* clientaddr.c — the client's address (docs/gateway.md, "The client's address"): the TCP peer,
 * unless the peer is one of http.trusted_proxies; then the forwarding header is walked from the
 * right (the hop the nearest proxy appended) past every trusted address, and the first address
 * not in them is the client — nginx's real_ip_recursive and Envoy's trusted hops do the same.
 * A header from any other peer is ignored: a client cannot choose its own address. */
#include "gateway.h"
#include "base/xmalloc.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct gw_net {
    int family; /* AF_INET / AF_INET6 */
    unsigned char addr[16];
    unsigned prefix;
} gw_net;

struct gw_proxies {
    gw_net *nets;
    size_t n;
};

/* An address in text (IPv4, IPv6, IPv4-mapped IPv6 as IPv4) into family/bytes. */
static bool parse_addr(const char *s, size_t len, int *family, unsigned char out[16])
{
    char buf[64];
    if (len == 0 || len >= sizeof buf)
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (inet_pton(AF_INET, buf, out) == 1) {
        *family = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, buf, out) == 1) {
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(out, mapped, 12) == 0) {
            memmove(out, out + 12, 4);
            *family = AF_INET;
        } else {
            *family = AF_INET6;
        }
        return true;
    }
    return false;
}

cf_code gw_proxies_new(const cfg_strlist *cidrs, gw_proxies **out, char *err, size_t errlen)
{
    gw_proxies *p = xcalloc(1, sizeof *p);
    p->nets = xcalloc(cidrs->n ? cidrs->n : 1, sizeof *p->nets);
    for (size_t i = 0; i < cidrs->n; i++) {
        const char *c = cidrs->items[i];
        const char *slash = strchr(c, '/');
        size_t alen = slash ? (size_t)(slash - c) : strlen(c);
        gw_net *n = &p->nets[p->n];
        bool ok = parse_addr(c, alen, &n->family, n->addr);
        unsigned max = n->family == AF_INET ? 32 : 128;
        n->prefix = max;
        if (ok && slash) {
            char *end;
            long v = strtol(slash + 1, &end, 10);
            ok = slash[1] && !*end && v >= 0 && v <= (long)max;
            n->prefix = (unsigned)v;
        }
        if (!ok) {
            snprintf(err, errlen, "http.trusted_proxies: \"%s\" is not an address or CIDR", c);
            gw_proxies_free(p);
            return CF_INVALID_ARGUMENT;
        }
        p->n++;
    }
    *out = p;
    return CF_OK;
}

void gw_proxies_free(gw_proxies *p)
{
    if (!p)
        return;
    free(p->nets);
    free(p);
}

static bool trusted(const gw_proxies *p, int family, const unsigned char *a)
{
    for (size_t i = 0; p && i < p->n; i++) {
        const gw_net *n = &p->nets[i];
        if (n->family != family)
            continue;
        unsigned full = n->prefix / 8, rest = n->prefix % 8;
        if (memcmp(n->addr, a, full) != 0)
            continue;
        if (rest && ((n->addr[full] ^ a[full]) & (0xffu << (8 - rest)) & 0xffu))
            continue;
        return true;
    }
    return false;
}

/* One hop of X-Forwarded-For ("1.2.3.4", "2001:db8::1", also "[2001:db8::1]:80" and
 * "1.2.3.4:80" as some proxies write them) or of Forwarded's for= ("1.2.3.4", "\"[::1]:80\"").
 * false for anything else ("unknown", "_hidden", garbage). */
static bool parse_hop(const char *s, size_t len, int *family, unsigned char out[16])
{
    while (len && (*s == ' ' || *s == '\t'))
        s++, len--;
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    if (len >= 2 && s[0] == '"' && s[len - 1] == '"')
        s++, len -= 2;
    if (len && s[0] == '[') {
        const char *end = memchr(s, ']', len);
        if (!end)
            return false;
        return parse_addr(s + 1, (size_t)(end - s - 1), family, out);
    }
    const char *colon = memchr(s, ':', len);
    if (colon && !memchr(colon + 1, ':', len - (size_t)(colon + 1 - s))) /* IPv4:port */
        len = (size_t)(colon - s);
    return parse_addr(s, len, family, out);
}

/* The for= value of one Forwarded element (RFC 7239), or NULL. */
static const char *forwarded_for(const char *el, size_t len, size_t *vlen)
{
    const char *p = el, *end = el + len;
    while (p < end) {
        const char *semi = memchr(p, ';', (size_t)(end - p));
        const char *pe = semi ? semi : end;
        while (p < pe && (*p == ' ' || *p == '\t'))
            p++;
        if (pe - p > 4 && strncasecmp(p, "for=", 4) == 0) {
            *vlen = (size_t)(pe - p - 4);
            return p + 4;
        }
        p = pe + 1;
    }
    return NULL;
}

void gw_client_addr(const gw_proxies *p, const char *peer, const char *xff, const char *forwarded,
                    char *out, size_t outlen)
{
    snprintf(out, outlen, "%s", peer ? peer : "");
    int fam;
    unsigned char a[16];
    if (!peer || !parse_addr(peer, strlen(peer), &fam, a) || !trusted(p, fam, a))
        return; /* a direct client: its own header means nothing */
    const char *h = xff ? xff : forwarded;
    if (!h)
        return;
    /* right to left: each hop was appended by the proxy to its right, which we trust */
    size_t end = strlen(h);
    while (end > 0) {
        size_t start = end;
        while (start > 0 && h[start - 1] != ',')
            start--;
        const char *hop = h + start;
        size_t len = end - start;
        if (!xff) {
            hop = forwarded_for(h + start, end - start, &len);
            if (!hop)
                return; /* an element without for=: stop at the last proxy we trust */
        }
        if (!parse_hop(hop, len, &fam, a))
            return; /* "unknown", obfuscated or garbage: the last trusted hop is the answer */
        char text[64];
        inet_ntop(fam, a, text, sizeof text);
        snprintf(out, outlen, "%s", text);
        if (!trusted(p, fam, a))
            return;
        end = start > 0 ? start - 1 : 0;
    }
}
