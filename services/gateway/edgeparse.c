/* edgeparse.c — see edgeparse.h. One byte at a time through the head (request line, fields,
 * CRLF only), body data skipped in bulk. The grammar is RFC 9112's, strict where MHD 0.9.75 is
 * lenient; every refusal names its rule in p->why. */
#include "edgeparse.h"

#include <stddef.h>
#include <string.h>
#include <strings.h>

enum {
    S_START,    /* before a message: its request line, or an empty line (CRLF) to ignore */
    S_START_LF, /* CR of an empty line before the request line */
    S_METHOD,
    S_TARGET,
    S_VERSION,
    S_RL_LF,  /* CR after the version */
    S_FLINE,  /* the start of a field line, or of the empty line ending the section */
    S_END_LF, /* CR of the empty line */
    S_NAME,   /* a field name */
    S_OWS,    /* whitespace after the colon */
    S_VALUE,  /* a field value */
    S_VAL_LF, /* CR after a value */
    S_BODY,   /* Content-Length body data */
    S_CSIZE,  /* chunk size digits */
    S_CEXT,   /* a chunk extension */
    S_CLINE_LF /* CR after a chunk-size line */,
    S_CDATA, /* chunk data */
    S_CDATA_CR,
    S_CDATA_LF,
    S_PASS, /* after an Upgrade request: not HTTP any more (the answer closes unless it is 101) */
    S_DEAD, /* refused */
};

enum { F_OTHER, F_CL, F_TE, F_HOST, F_UPGRADE, F_COOKIE };

#define MAX_EXACT (1ull << 53) /* a length no JSON number or double loses */

static const char SYNTHETIC_HEAD[] = "GET / HTTP/1.1\r\nHost: refused.invalid\r\n\r\n";

static bool is_tchar(uint8_t c)
{
    /* RFC 9110 §5.6.2 */
    return (uint8_t)((c | 0x20) - 'a') < 26 || (uint8_t)(c - '0') < 10 || c == '-' ||
           (c && strchr("!#$%&'*+.^_`|~", c));
}

static bool is_ctl(uint8_t c)
{
    return c < 0x20 || c == 0x7f;
}

static int hexval(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

void ep_init(ep *p, size_t max_uri, size_t max_header)
{
    memset(p, 0, sizeof *p);
    p->max_uri = max_uri;
    p->max_header = max_header;
    p->st = S_START;
}

static bool refuse(ep *p, int status, const char *why)
{
    p->status = status;
    p->why = why;
    p->cut = p->unit_start;
    p->cut_unit = p->unit;
    p->refused_msg = p->msg;
    p->st = S_DEAD;
    return false;
}

/* Everything fed so far is committed; nothing is held. */
static void commit(ep *p, ep_unit next)
{
    p->unit_start = p->pos;
    p->unit = next;
}

static void message_done(ep *p)
{
    p->msg++;
    p->st = S_START;
    commit(p, EP_UNIT_NONE);
}

/* Everything from head_bytes on is per message. */
static void head_begin(ep *p)
{
    memset(&p->head_bytes, 0, sizeof *p - offsetof(ep, head_bytes));
    p->unit = EP_UNIT_HEAD;
}

static int classify(const char *name, size_t len)
{
    static const struct {
        const char *n;
        int f;
    } known[] = {{"content-length", F_CL},
                 {"transfer-encoding", F_TE},
                 {"host", F_HOST},
                 {"upgrade", F_UPGRADE},
                 {"cookie", F_COOKIE}};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strlen(known[i].n) == len && strncasecmp(known[i].n, name, len) == 0)
            return known[i].f;
    return F_OTHER;
}

/* A field line is whole (name, value captured for the fields that matter). */
static bool field_done(ep *p)
{
    if (++p->fields > EP_MAX_FIELDS)
        return refuse(p, 431, "more than 100 header fields");
    while (p->val_len && (p->val[p->val_len - 1] == ' ' || p->val[p->val_len - 1] == '\t'))
        p->val_len--;
    if (p->trailers) /* MHD keeps trailers apart (footers): no framing from them */
        return true;
    switch (p->field) {
    case F_CL: {
        p->ncl++;
        if (p->val_long || p->val_len == 0)
            return refuse(p, 400, "malformed Content-Length");
        uint64_t v = 0;
        for (size_t i = 0; i < p->val_len; i++) {
            if (p->val[i] < '0' || p->val[i] > '9')
                return refuse(p, 400, "malformed Content-Length");
            v = v * 10 + (uint64_t)(p->val[i] - '0');
            if (v > MAX_EXACT)
                return refuse(p, 413, "Content-Length too large");
        }
        p->cl = v;
        break;
    }
    case F_TE:
        p->nte++;
        p->te_chunked = !p->val_long && p->val_len == 7 && strncasecmp(p->val, "chunked", 7) == 0;
        break;
    case F_HOST:
        p->nhost++;
        break;
    case F_UPGRADE:
        p->upgrade = true;
        break;
    default:
        break;
    }
    return true;
}

/* The empty line after the fields: the framing decided (RFC 9112 §6). */
static bool head_done(ep *p)
{
    if (p->v11 && p->nhost == 0)
        return refuse(p, 400, "HTTP/1.1 request without Host");
    if (p->nhost > 1)
        return refuse(p, 400, "more than one Host");
    if (p->ncl > 1)
        return refuse(p, 400, "more than one Content-Length");
    if (p->nte > 0 && p->ncl > 0)
        return refuse(p, 400, "Transfer-Encoding together with Content-Length");
    if (p->nte > 0 && !p->v11)
        return refuse(p, 400, "Transfer-Encoding in an HTTP/1.0 request");
    if (p->nte > 1 || (p->nte == 1 && !p->te_chunked))
        return refuse(p, 501, "only the chunked transfer coding is supported");
    if (p->upgrade) {
        p->st = S_PASS;
        commit(p, EP_UNIT_NONE);
        return true;
    }
    if (p->nte) {
        p->st = S_CSIZE;
        p->chunk = 0;
        p->chunk_digits = 0;
        p->line_len = 0;
        commit(p, EP_UNIT_CHUNK_LINE);
    } else if (p->cl > 0) {
        p->st = S_BODY;
        p->remain = p->cl;
        commit(p, EP_UNIT_NONE);
    } else {
        message_done(p);
    }
    return true;
}

static bool version_done(ep *p)
{
    const char *v = p->ver;
    if (p->ver_len != 8 || memcmp(v, "HTTP/", 5) != 0 || v[5] < '0' || v[5] > '9' || v[6] != '.' ||
        v[7] < '0' || v[7] > '9')
        return refuse(p, 400, "malformed HTTP version");
    if (v[5] != '1')
        return refuse(p, 505, "HTTP version not supported");
    p->v11 = v[7] >= '1';
    return true;
}

/* One byte of a field line (the head's or the trailers'). */
static bool field_byte(ep *p, uint8_t c)
{
    switch (p->st) {
    case S_FLINE:
        if (c == '\r') {
            p->st = S_END_LF;
        } else if (c == ' ' || c == '\t') {
            return refuse(p, 400, "obsolete line folding in a header field");
        } else if (c == '\n') {
            return refuse(p, 400, "bare LF as a line end");
        } else if (c == ':') {
            return refuse(p, 400, "empty header field name");
        } else if (is_tchar(c)) {
            p->st = S_NAME;
            p->name[0] = (char)c;
            p->name_len = 1;
        } else if (c == 0) {
            return refuse(p, 400, "NUL in a header field");
        } else {
            return refuse(p, 400, "malformed header field name");
        }
        return true;
    case S_END_LF:
        if (c != '\n')
            return refuse(p, 400, "CR not followed by LF");
        if (p->trailers) {
            message_done(p);
            return true;
        }
        return head_done(p);
    case S_NAME:
        if (is_tchar(c)) {
            if (p->name_len < sizeof p->name)
                p->name[p->name_len] = (char)c;
            p->name_len++;
        } else if (c == ':') {
            p->field = p->name_len <= sizeof p->name ? classify(p->name, p->name_len) : F_OTHER;
            p->val_len = 0;
            p->val_long = false;
            if (p->field == F_COOKIE && ++p->cookies > EP_MAX_COOKIES)
                return refuse(p, 431, "more than 256 cookies");
            p->st = S_OWS;
        } else if (c == ' ' || c == '\t') {
            return refuse(p, 400, "whitespace before the colon of a header field");
        } else if (c == '\r' || c == '\n') {
            return refuse(p, 400, "header field without a colon");
        } else if (c == 0) {
            return refuse(p, 400, "NUL in a header field");
        } else {
            return refuse(p, 400, "malformed header field name");
        }
        return true;
    case S_OWS:
        if (c == ' ' || c == '\t')
            return true;
        p->st = S_VALUE;
        /* fall through */
    case S_VALUE:
        if (c == '\r') {
            p->st = S_VAL_LF;
            return true;
        }
        if (c == '\n')
            return refuse(p, 400, "bare LF as a line end");
        if (c == 0)
            return refuse(p, 400, "NUL in a header field value");
        if (c != '\t' && is_ctl(c))
            return refuse(p, 400, "control character in a header field value");
        if (p->field == F_COOKIE && (c == ';' || c == ',') && ++p->cookies > EP_MAX_COOKIES)
            return refuse(p, 431, "more than 256 cookies");
        if (p->field != F_OTHER && p->field != F_COOKIE) {
            if (p->val_len < sizeof p->val)
                p->val[p->val_len++] = (char)c;
            else
                p->val_long = true;
        }
        return true;
    case S_VAL_LF:
        if (c != '\n')
            return refuse(p, 400, "CR not followed by LF");
        p->st = S_FLINE;
        return field_done(p);
    default:
        return refuse(p, 400, "malformed request");
    }
}

static bool head_byte(ep *p, uint8_t c)
{
    if (p->st != S_TARGET && ++p->head_bytes > p->max_header)
        return refuse(p, 431, "request header fields too large");
    switch (p->st) {
    case S_START_LF:
        if (c != '\n')
            return refuse(p, 400, "CR not followed by LF");
        p->st = S_START;
        return true;
    case S_METHOD:
        if (c == ' ') {
            p->st = S_TARGET;
            return true;
        }
        if (!is_tchar(c))
            return refuse(p, 400, "malformed request method");
        return true;
    case S_TARGET:
        p->head_bytes++;
        if (c == ' ') {
            if (p->target_len == 0)
                return refuse(p, 400, "malformed request line (empty target or two spaces)");
            p->st = S_VERSION;
        } else if (c == '\r' || c == '\n') {
            return refuse(p, 400, "malformed request line (no HTTP version)");
        } else if (c == 0) {
            return refuse(p, 400, "NUL in the request target");
        } else if (is_ctl(c)) {
            return refuse(p, 400, "control character in the request target");
        } else if (++p->target_len > p->max_uri) {
            return refuse(p, 414, "request target too long");
        } else if (c == '?' && !p->in_query) {
            p->in_query = true;
            p->params = 1;
        } else if (c == '&' && p->in_query && ++p->params > EP_MAX_QUERY_PARAMS) {
            return refuse(p, 414, "more than 256 query parameters");
        }
        if (p->head_bytes > p->max_header)
            return refuse(p, 431, "request header fields too large");
        return true;
    case S_VERSION:
        if (c == '\r') {
            if (!version_done(p))
                return false;
            p->st = S_RL_LF;
            return true;
        }
        if (c == '\n')
            return refuse(p, 400, "bare LF as a line end");
        if (p->ver_len >= sizeof p->ver)
            return refuse(p, 400, "malformed HTTP version");
        p->ver[p->ver_len++] = (char)c;
        return true;
    case S_RL_LF:
        if (c != '\n')
            return refuse(p, 400, "CR not followed by LF");
        p->st = S_FLINE;
        return true;
    default:
        return field_byte(p, c);
    }
}

static bool chunk_byte(ep *p, uint8_t c)
{
    if (p->st == S_CSIZE || p->st == S_CEXT) {
        if (++p->line_len > EP_MAX_CHUNK_LINE)
            return refuse(p, 400, "chunk-size line too long");
    }
    switch (p->st) {
    case S_CSIZE: {
        int h = hexval(c);
        if (h >= 0) {
            p->chunk = p->chunk * 16 + (uint64_t)h;
            p->chunk_digits++;
            if (p->chunk > MAX_EXACT)
                return refuse(p, 413, "chunk size too large");
            return true;
        }
        if (p->chunk_digits == 0)
            return refuse(p, 400, "malformed chunk size");
        if (c == ';') {
            p->st = S_CEXT;
            return true;
        }
        if (c == '\r') {
            p->st = S_CLINE_LF;
            return true;
        }
        if (c == '\n')
            return refuse(p, 400, "bare LF as a line end");
        return refuse(p, 400, "malformed chunk size");
    }
    case S_CEXT:
        if (c == '\r') {
            p->st = S_CLINE_LF;
            return true;
        }
        if (c == '\n')
            return refuse(p, 400, "bare LF as a line end");
        if (c != '\t' && is_ctl(c))
            return refuse(p, 400, "control character in a chunk extension");
        return true;
    case S_CLINE_LF:
        if (c != '\n')
            return refuse(p, 400, "CR not followed by LF");
        if (p->chunk == 0) {
            p->trailers = true;
            p->st = S_FLINE;
            commit(p, EP_UNIT_TRAILERS);
        } else {
            p->st = S_CDATA;
            p->remain = p->chunk;
            commit(p, EP_UNIT_NONE);
        }
        return true;
    case S_CDATA_CR:
        if (c != '\r')
            return refuse(p, 400, "chunk data not followed by CRLF");
        p->st = S_CDATA_LF;
        return true;
    case S_CDATA_LF:
        if (c != '\n')
            return refuse(p, 400, "chunk data not followed by CRLF");
        p->st = S_CSIZE;
        p->chunk = 0;
        p->chunk_digits = 0;
        p->line_len = 0;
        commit(p, EP_UNIT_CHUNK_LINE);
        return true;
    default: /* trailers */
        if (++p->head_bytes > p->max_header)
            return refuse(p, 431, "trailer fields too large");
        return field_byte(p, c);
    }
}

bool ep_feed(ep *p, const uint8_t *b, size_t n)
{
    size_t i = 0;
    while (i < n) {
        switch (p->st) {
        case S_DEAD:
            return false;
        case S_PASS:
            p->pos += n - i;
            commit(p, EP_UNIT_NONE);
            return true;
        case S_BODY:
        case S_CDATA: {
            size_t k = n - i;
            if ((uint64_t)k > p->remain)
                k = (size_t)p->remain;
            p->remain -= k;
            p->pos += k;
            i += k;
            commit(p, EP_UNIT_NONE);
            if (p->remain == 0) {
                if (p->st == S_BODY) {
                    message_done(p);
                } else {
                    p->st = S_CDATA_CR;
                    p->unit = EP_UNIT_CHUNK_END;
                }
            }
            continue;
        }
        case S_START: {
            uint8_t c = b[i];
            if (p->unit == EP_UNIT_NONE)
                head_begin(p); /* the message's first byte: the head is held from here */
            p->pos++;
            i++;
            if (++p->head_bytes > p->max_header)
                return refuse(p, 431, "request header fields too large");
            if (c == '\r') {
                p->st = S_START_LF;
            } else if (c == '\n') {
                return refuse(p, 400, "bare LF as a line end");
            } else if (is_tchar(c)) {
                p->st = S_METHOD;
            } else {
                return refuse(p, 400, "malformed request line");
            }
            continue;
        }
        default:
            break;
        }
        /* the bulk of a head: value and target bytes that need no decision, in a tight loop */
        if ((p->st == S_VALUE && p->field == F_OTHER) || p->st == S_TARGET) {
            size_t room = p->max_header > p->head_bytes ? p->max_header - p->head_bytes : 0;
            if (p->st == S_TARGET && p->max_uri - p->target_len < room)
                room = p->max_uri - p->target_len;
            size_t j = i, end = n - i < room ? n : i + room;
            if (p->st == S_VALUE) {
                while (j < end && (b[j] >= 0x20 || b[j] == '\t') && b[j] != 0x7f)
                    j++;
            } else {
                while (j < end && b[j] > 0x20 && b[j] != 0x7f && b[j] != '?' && b[j] != '&')
                    j++;
                p->target_len += j - i;
            }
            p->head_bytes += j - i;
            p->pos += j - i;
            i = j;
            if (i == n)
                break;
        } else if (p->st == S_NAME) {
            size_t room = p->max_header > p->head_bytes ? p->max_header - p->head_bytes : 0;
            size_t j = i, end = n - i < room ? n : i + room;
            while (j < end && is_tchar(b[j])) {
                if (p->name_len < sizeof p->name)
                    p->name[p->name_len] = (char)b[j];
                p->name_len++;
                j++;
            }
            p->head_bytes += j - i;
            p->pos += j - i;
            i = j;
            if (i == n)
                break;
        }
        /* pos counts this byte first: a unit that ends on it commits past it */
        uint8_t c = b[i++];
        p->pos++;
        if (!(p->unit == EP_UNIT_HEAD ? head_byte(p, c) : chunk_byte(p, c)))
            return false;
    }
    return p->st != S_DEAD;
}

uint64_t ep_commit(const ep *p)
{
    return p->status ? p->cut : p->unit_start;
}

const char *ep_terminator(const ep *p, size_t *len)
{
    static const char chunk_end[] = "0\r\n\r\n";
    static const char data_end[] = "\r\n0\r\n\r\n";
    static const char trailers_end[] = "\r\n";
    switch (p->cut_unit) {
    case EP_UNIT_CHUNK_LINE:
        *len = sizeof chunk_end - 1;
        return chunk_end;
    case EP_UNIT_CHUNK_END:
        *len = sizeof data_end - 1;
        return data_end;
    case EP_UNIT_TRAILERS:
        *len = sizeof trailers_end - 1;
        return trailers_end;
    default:
        *len = sizeof SYNTHETIC_HEAD - 1;
        return SYNTHETIC_HEAD;
    }
}

bool ep_in_head_fields(const ep *p)
{
    return p->unit == EP_UNIT_HEAD && (p->st == S_FLINE || p->st == S_END_LF || p->st == S_NAME ||
                                       p->st == S_OWS || p->st == S_VALUE || p->st == S_VAL_LF);
}
