/* resolve.c — one nng dialer per address of each name, kept current by a thread (resolve.h). */
#include "resolve.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/xmalloc.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

/* ---- process-wide settings ---- */

static atomic_int setting_interval = RESOLVE_DEFAULT_INTERVAL_MS;
static pthread_mutex_t setting_lock = PTHREAD_MUTEX_INITIALIZER;
static char *setting_hosts; /* guarded by setting_lock; NULL = none */

void resolve_setup(int interval_ms, const char *hosts_file)
{
    atomic_store(&setting_interval, interval_ms > 0 ? interval_ms : RESOLVE_DEFAULT_INTERVAL_MS);
    pthread_mutex_lock(&setting_lock);
    free(setting_hosts);
    setting_hosts = hosts_file && *hosts_file ? xstrdup(hosts_file) : NULL;
    pthread_mutex_unlock(&setting_lock);
}

int resolve_interval_ms(void)
{
    return atomic_load(&setting_interval);
}

/* ---- one name to its addresses ---- */

typedef char addr_t[48];

static size_t add_unique(addr_t *out, size_t n, size_t max, const char *a)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(out[i], a) == 0)
            return n;
    if (n < max)
        snprintf(out[n++], sizeof out[0], "%s", a);
    return n;
}

/* The address literal a as a URL host part ("[..]" around IPv6), or false if a is none or not
 * of the family wanted (AF_UNSPEC = any). */
static bool url_host(const char *a, int family, addr_t out)
{
    unsigned char buf[sizeof(struct in6_addr)];
    if ((family == AF_UNSPEC || family == AF_INET) && inet_pton(AF_INET, a, buf) == 1) {
        snprintf(out, sizeof(addr_t), "%s", a);
        return true;
    }
    if ((family == AF_UNSPEC || family == AF_INET6) && inet_pton(AF_INET6, a, buf) == 1) {
        snprintf(out, sizeof(addr_t), "[%s]", a);
        return true;
    }
    return false;
}

/* Looks host up in the hosts file: -1 when the file is unset, unreadable or does not name host;
 * else the number of addresses (possibly 0 of the family wanted). */
static long from_hosts_file(const char *host, int family, addr_t *out, size_t max)
{
    pthread_mutex_lock(&setting_lock);
    char *path = setting_hosts ? xstrdup(setting_hosts) : NULL;
    pthread_mutex_unlock(&setting_lock);
    if (!path)
        return -1;
    FILE *f = fopen(path, "r");
    if (!f) {
        log_warn("resolve: hosts file %s: cannot read it; using the system resolver", path);
        free(path);
        return -1;
    }
    free(path);
    bool named = false;
    size_t n = 0;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *save = NULL;
        const char *addr = strtok_r(line, " \t\r\n", &save);
        if (!addr)
            continue;
        for (const char *name; (name = strtok_r(NULL, " \t\r\n", &save));) {
            if (strcasecmp(name, host) != 0)
                continue;
            named = true;
            addr_t a;
            if (url_host(addr, family, a))
                n = add_unique(out, n, max, a);
        }
    }
    fclose(f);
    return named ? (long)n : -1;
}

static size_t resolve_family(const char *host, int family, addr_t *out, size_t max,
                             const char **why)
{
    *why = "no address";
    long n = from_hosts_file(host, family, out, max);
    if (n >= 0)
        return (size_t)n;
    struct addrinfo hints = {.ai_family = family, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int rv = getaddrinfo(host, NULL, &hints, &res);
    if (rv != 0) {
        *why = gai_strerror(rv);
        return 0;
    }
    size_t k = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        char txt[INET6_ADDRSTRLEN];
        const void *src = ai->ai_family == AF_INET
                              ? (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr
                              : (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
        addr_t a;
        if ((ai->ai_family == AF_INET || ai->ai_family == AF_INET6) &&
            inet_ntop(ai->ai_family, src, txt, sizeof txt) && url_host(txt, AF_UNSPEC, a))
            k = add_unique(out, k, max, a);
    }
    freeaddrinfo(res);
    return k;
}

size_t resolve_host(const char *host, addr_t *out, size_t max, const char **why)
{
    return resolve_family(host, AF_UNSPEC, out, max, why);
}

/* ---- URLs ---- */

/* A URL whose host is a name: scheme "://" host rest (rest = ":port/path…"). */
typedef struct name_url {
    char *scheme, *host, *rest;
    int family;
    bool failing; /* the last resolution failed (logged once per outage) */
} name_url;

/* nng's transports whose URL names a host to connect to; the digit picks a family. */
static const struct {
    const char *scheme;
    int family;
} named_schemes[] = {
    {"tcp", AF_UNSPEC},    {"tcp4", AF_INET},      {"tcp6", AF_INET6}, {"tls+tcp", AF_UNSPEC},
    {"tls+tcp4", AF_INET}, {"tls+tcp6", AF_INET6}, {"ws", AF_UNSPEC},  {"ws4", AF_INET},
    {"ws6", AF_INET6},     {"wss", AF_UNSPEC},     {"wss4", AF_INET},  {"wss6", AF_INET6},
};

/* Splits url into n when its host is a name to resolve; false for an address literal, a
 * wildcard or another transport (dialed as given). */
static bool parse_named(const char *url, name_url *n)
{
    const char *sep = strstr(url, "://");
    if (!sep)
        return false;
    size_t slen = (size_t)(sep - url);
    int family = -1;
    for (size_t i = 0; i < sizeof named_schemes / sizeof *named_schemes; i++)
        if (strlen(named_schemes[i].scheme) == slen &&
            strncasecmp(url, named_schemes[i].scheme, slen) == 0)
            family = named_schemes[i].family;
    const char *host = sep + 3;
    if (family < 0 || *host == '[')
        return false;
    size_t hlen = strcspn(host, ":/");
    if (hlen == 0 || hlen >= 254)
        return false;
    char h[256];
    memcpy(h, host, hlen);
    h[hlen] = '\0';
    addr_t lit;
    if (strcmp(h, "*") == 0 || url_host(h, AF_UNSPEC, lit))
        return false;
    n->scheme = xstrndup(url, slen);
    n->host = xstrdup(h);
    n->rest = xstrdup(host + hlen);
    n->family = family;
    n->failing = false;
    return true;
}

/* ---- the set ---- */

typedef struct entry {
    char *url; /* as dialed */
    nng_dialer d;
    int pipes;    /* connections open now */
    long name;    /* index into names; -1 = dialed as configured */
    bool retired; /* its address went away: closed when pipes == 0 or at retire_ms */
    bool seen;    /* scratch: in the latest answer */
    int64_t retire_ms;
} entry;

struct resolve_set {
    nng_socket sock;
    pthread_mutex_t mu; /* guards everything below; never held across an nng call */
    pthread_cond_t cv;
    entry *e;
    size_t ne, cap;
    name_url *names;
    size_t nnames;
    int interval_ms;
    bool kick, stopping, stopped, threaded;
    bool empty;      /* a name resolved to nothing and nothing of it is dialed: retry sooner */
    int64_t last_ms; /* monotonic ms of the last resolution */
    pthread_t thread;
};

static int64_t now_ms(void)
{
    return cf_mono_ns() / 1000000;
}

static entry *find_dialer(resolve_set *rs, int id)
{
    for (size_t i = 0; i < rs->ne; i++)
        if (nng_dialer_id(rs->e[i].d) == id)
            return &rs->e[i];
    return NULL;
}

static void pipe_event(nng_pipe p, nng_pipe_ev ev, void *arg)
{
    resolve_set *rs = arg;
    int id = nng_dialer_id(nng_pipe_dialer(p));
    pthread_mutex_lock(&rs->mu);
    entry *e = find_dialer(rs, id);
    if (e && ev == NNG_PIPE_EV_ADD_POST) {
        e->pipes++;
    } else if (e && ev == NNG_PIPE_EV_REM_POST && e->pipes > 0) {
        e->pipes--;
        /* a lost connection: the replica may be gone (resolve again soon), or a retired
         * dialer may now be closed */
        rs->kick = true;
        pthread_cond_signal(&rs->cv);
    }
    pthread_mutex_unlock(&rs->mu);
}

/* Creates and starts a dialer for url (not holding the lock). The entry is registered before
 * the dialer starts, so its first connection is counted. */
static int add_dialer(resolve_set *rs, const char *url, long name)
{
    nng_dialer d;
    int rv = nng_dialer_create(&d, rs->sock, url);
    if (rv != 0)
        return rv;
    if (name >= 0 && strncasecmp(rs->names[name].scheme, "tls+", 4) == 0)
        nng_dialer_set_string(d, NNG_OPT_TLS_SERVER_NAME, rs->names[name].host);
    if (name >= 0 && strncasecmp(rs->names[name].scheme, "wss", 3) == 0)
        nng_dialer_set_string(d, NNG_OPT_TLS_SERVER_NAME, rs->names[name].host);
    pthread_mutex_lock(&rs->mu);
    if (rs->ne == rs->cap) {
        rs->cap = rs->cap ? 2 * rs->cap : 8;
        rs->e = xrealloc(rs->e, rs->cap * sizeof *rs->e);
    }
    rs->e[rs->ne++] = (entry){.url = xstrdup(url), .d = d, .name = name};
    pthread_mutex_unlock(&rs->mu);
    /* NONBLOCK: an address that does not answer now is retried in the background */
    rv = nng_dialer_start(d, NNG_FLAG_NONBLOCK);
    if (rv != 0) {
        pthread_mutex_lock(&rs->mu);
        entry *e = find_dialer(rs, nng_dialer_id(d));
        if (e) {
            free(e->url);
            *e = rs->e[--rs->ne];
        }
        pthread_mutex_unlock(&rs->mu);
        nng_dialer_close(d);
    }
    return rv;
}

/* Takes out (under the lock) the entries to close: retired ones whose connection ended or
 * whose time is up, or every entry when all is set. */
static size_t take_closing(resolve_set *rs, bool all, int64_t now, nng_dialer *out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < rs->ne && n < max;) {
        entry *e = &rs->e[i];
        if (all || (e->retired && (e->pipes == 0 || now >= e->retire_ms))) {
            if (!all)
                log_info("resolve: %s no longer in the name's answer: dialer closed", e->url);
            out[n++] = e->d;
            free(e->url);
            *e = rs->e[--rs->ne];
        } else {
            i++;
        }
    }
    return n;
}

/* Resolves every name once and brings the dialers in line with the answers. */
static void refresh(resolve_set *rs)
{
    for (size_t ni = 0; ni < rs->nnames; ni++) {
        name_url *n = &rs->names[ni];
        addr_t addrs[RESOLVE_MAX_ADDRS];
        const char *why;
        size_t na = resolve_family(n->host, n->family, addrs, RESOLVE_MAX_ADDRS, &why);
        if (na == 0) {
            pthread_mutex_lock(&rs->mu);
            bool any = false;
            for (size_t i = 0; i < rs->ne && !any; i++)
                any = rs->e[i].name == (long)ni;
            rs->empty |= !any;
            pthread_mutex_unlock(&rs->mu);
            /* keep what is dialed: a resolver outage is not a peer outage */
            if (!n->failing)
                log_warn("resolve: %s: %s; keeping the addresses dialed", n->host, why);
            n->failing = true;
            continue;
        }
        if (n->failing)
            log_info("resolve: %s resolves again", n->host);
        n->failing = false;
        char *urls[RESOLVE_MAX_ADDRS];
        bool have[RESOLVE_MAX_ADDRS] = {false};
        for (size_t i = 0; i < na; i++)
            urls[i] = xasprintf("%s://%s%s", n->scheme, addrs[i], n->rest);

        int64_t now = now_ms();
        pthread_mutex_lock(&rs->mu);
        for (size_t i = 0; i < rs->ne; i++) {
            entry *e = &rs->e[i];
            if (e->name != (long)ni)
                continue;
            e->seen = false;
            for (size_t k = 0; k < na && !e->seen; k++)
                if (strcmp(e->url, urls[k]) == 0)
                    e->seen = have[k] = true;
            if (e->seen && e->retired) {
                e->retired = false; /* came back before its dialer was closed */
            } else if (!e->seen && !e->retired) {
                e->retired = true;
                e->retire_ms = now + rs->interval_ms;
            }
        }
        pthread_mutex_unlock(&rs->mu);
        for (size_t k = 0; k < na; k++) {
            if (have[k])
                continue;
            int rv = add_dialer(rs, urls[k], (long)ni);
            if (rv != 0)
                log_warn("resolve: dial %s: %s", urls[k], nng_strerror(rv));
            else
                log_info("resolve: %s: dialing %s", n->host, urls[k]);
        }
        for (size_t k = 0; k < na; k++)
            free(urls[k]);
    }
}

static void close_dialers(const nng_dialer *d, size_t n)
{
    for (size_t i = 0; i < n; i++)
        nng_dialer_close(d[i]);
}

static void *resolve_main(void *arg)
{
    resolve_set *rs = arg;
    pthread_mutex_lock(&rs->mu);
    while (!rs->stopping) {
        int64_t now = now_ms();
        int64_t due = rs->last_ms + rs->interval_ms;
        if (rs->kick && rs->last_ms + RESOLVE_MIN_GAP_MS < due)
            due = rs->last_ms + RESOLVE_MIN_GAP_MS;
        /* a peer with no address yet (a headless Service before its first pod is ready):
         * asked again every second, not every interval */
        if (rs->empty && rs->last_ms + RESOLVE_EMPTY_RETRY_MS < due)
            due = rs->last_ms + RESOLVE_EMPTY_RETRY_MS;
        bool closable = false;
        for (size_t i = 0; i < rs->ne; i++) {
            const entry *e = &rs->e[i];
            if (e->retired && (e->pipes == 0 || now >= e->retire_ms))
                closable = true;
            else if (e->retired && e->retire_ms < due)
                due = e->retire_ms;
        }
        if (closable) {
            nng_dialer gone[RESOLVE_MAX_ADDRS];
            size_t ng = take_closing(rs, false, now, gone, RESOLVE_MAX_ADDRS);
            pthread_mutex_unlock(&rs->mu);
            close_dialers(gone, ng);
            pthread_mutex_lock(&rs->mu);
            continue;
        }
        if (now < due) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            int64_t wait = due - now;
            ts.tv_sec += wait / 1000;
            ts.tv_nsec += (wait % 1000) * 1000000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&rs->cv, &rs->mu, &ts);
            continue;
        }
        rs->kick = rs->empty = false;
        rs->last_ms = now;
        pthread_mutex_unlock(&rs->mu);
        refresh(rs);
        pthread_mutex_lock(&rs->mu);
    }
    pthread_mutex_unlock(&rs->mu);
    return NULL;
}

cf_code resolve_dial(nng_socket sock, const char *const *urls, size_t nurls, resolve_set **out,
                     char *err, size_t errlen)
{
    resolve_set *rs = xcalloc(1, sizeof *rs);
    rs->sock = sock;
    rs->interval_ms = resolve_interval_ms();
    pthread_mutex_init(&rs->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&rs->cv, &ca);
    pthread_condattr_destroy(&ca);
    rs->names = xcalloc(nurls ? nurls : 1, sizeof *rs->names);
    nng_pipe_notify(sock, NNG_PIPE_EV_ADD_POST, pipe_event, rs);
    nng_pipe_notify(sock, NNG_PIPE_EV_REM_POST, pipe_event, rs);
    for (size_t i = 0; i < nurls; i++) {
        name_url n;
        if (parse_named(urls[i], &n)) {
            /* checked now, so a URL nng refuses fails at start as a literal one does */
            nng_dialer probe;
            int rv = nng_dialer_create(&probe, sock, urls[i]);
            if (rv == 0)
                nng_dialer_close(probe);
            if (rv != 0) {
                snprintf(err, errlen, "dial %s: %s", urls[i], nng_strerror(rv));
                free(n.scheme), free(n.host), free(n.rest);
                resolve_stop(rs);
                nng_pipe_notify(sock, NNG_PIPE_EV_ADD_POST, NULL, NULL);
                nng_pipe_notify(sock, NNG_PIPE_EV_REM_POST, NULL, NULL);
                resolve_free(rs);
                return CF_INVALID_ARGUMENT;
            }
            rs->names[rs->nnames++] = n;
            continue;
        }
        int rv = add_dialer(rs, urls[i], -1);
        if (rv != 0) {
            snprintf(err, errlen, "dial %s: %s", urls[i], nng_strerror(rv));
            resolve_stop(rs);
            nng_pipe_notify(sock, NNG_PIPE_EV_ADD_POST, NULL, NULL);
            nng_pipe_notify(sock, NNG_PIPE_EV_REM_POST, NULL, NULL);
            resolve_free(rs);
            return CF_INVALID_ARGUMENT;
        }
    }
    if (rs->nnames) {
        rs->last_ms = now_ms();
        refresh(rs); /* the first answer now: calls right after start have somewhere to go */
        rs->threaded = true;
        pthread_create(&rs->thread, NULL, resolve_main, rs);
    }
    *out = rs;
    return CF_OK;
}

int resolve_live_pipes(resolve_set *rs)
{
    int n = 0;
    pthread_mutex_lock(&rs->mu);
    for (size_t i = 0; i < rs->ne; i++)
        n += rs->e[i].pipes;
    pthread_mutex_unlock(&rs->mu);
    return n;
}

size_t resolve_dialing(resolve_set *rs)
{
    size_t n = 0;
    pthread_mutex_lock(&rs->mu);
    for (size_t i = 0; i < rs->ne; i++)
        n += !rs->e[i].retired;
    pthread_mutex_unlock(&rs->mu);
    return n;
}

void resolve_stop(resolve_set *rs)
{
    if (!rs) /* a client whose start failed before it dialed (stress run, session 8) */
        return;
    pthread_mutex_lock(&rs->mu);
    bool was = rs->stopped;
    rs->stopping = rs->stopped = true;
    pthread_cond_signal(&rs->cv);
    pthread_mutex_unlock(&rs->mu);
    if (was)
        return;
    if (rs->threaded)
        pthread_join(rs->thread, NULL);
    for (;;) {
        nng_dialer d[16];
        pthread_mutex_lock(&rs->mu);
        size_t n = take_closing(rs, true, 0, d, 16);
        pthread_mutex_unlock(&rs->mu);
        if (n == 0)
            break;
        close_dialers(d, n);
    }
}

void resolve_free(resolve_set *rs)
{
    if (!rs)
        return;
    pthread_mutex_lock(&rs->mu);
    bool stopped = rs->stopped;
    pthread_mutex_unlock(&rs->mu);
    if (!stopped) { /* a programming error: the socket was closed under a running resolver */
        fprintf(stderr, "resolve_free: resolve_stop was not called before the socket closed\n");
        abort();
    }
    for (size_t i = 0; i < rs->nnames; i++)
        free(rs->names[i].scheme), free(rs->names[i].host), free(rs->names[i].rest);
    free(rs->names);
    free(rs->e);
    pthread_cond_destroy(&rs->cv);
    pthread_mutex_destroy(&rs->mu);
    free(rs);
}
