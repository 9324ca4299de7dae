/* rawguard.c — see rawguard.h. Two parts: the relocation patch (ELF, one slot of one shared
 * object) and the guard's recv, which keeps MHD's view of the socket consistent with what
 * edge-triggered epoll expects: a read shorter than asked only when the socket is drained and
 * nothing more is queued for MHD (MHD 0.9.75 takes a short read as "no longer read-ready"). */
#include "rawguard.h"
#include "base/xmalloc.h"

#include <elf.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

typedef ssize_t (*recv_fn)(int, void *, size_t, int);
static recv_fn real_recv = recv; /* what libmicrohttpd's slot held: libc's (or a sanitizer's) */

/* ---------------------------------------------------------------- sockets → guards */

enum { PAGE_BITS = 10, PAGES = 1024 }; /* fds below 2^20: Linux's default hard limit */
static _Atomic(gw_guard *) *pages[PAGES];
static pthread_mutex_t pages_mu = PTHREAD_MUTEX_INITIALIZER;

static _Atomic(gw_guard *) *slot_of(int fd, bool create)
{
    if (fd < 0 || (unsigned)fd >= (unsigned)PAGES << PAGE_BITS)
        return NULL;
    unsigned pg = (unsigned)fd >> PAGE_BITS;
    _Atomic(gw_guard *) *page = __atomic_load_n(&pages[pg], __ATOMIC_ACQUIRE);
    if (!page && create) {
        pthread_mutex_lock(&pages_mu);
        page = pages[pg];
        if (!page) {
            page = xcalloc((size_t)1 << PAGE_BITS, sizeof *page);
            __atomic_store_n(&pages[pg], page, __ATOMIC_RELEASE);
        }
        pthread_mutex_unlock(&pages_mu);
    }
    return page ? &page[fd & ((1 << PAGE_BITS) - 1)] : NULL;
}

void gw_guard_attach(int fd, gw_guard *g)
{
    _Atomic(gw_guard *) *s = slot_of(fd, true);
    if (s)
        atomic_store(s, g);
}

void gw_guard_detach(int fd, gw_guard *g)
{
    _Atomic(gw_guard *) *s = slot_of(fd, false);
    gw_guard *expect = g;
    if (s) /* only if it is still ours (the number may be reused already) */
        atomic_compare_exchange_strong(s, &expect, NULL);
}

/* ---------------------------------------------------------------- the guard */

void gw_guard_init(gw_guard *g, size_t max_uri, size_t max_header, size_t drain_max)
{
    memset(g, 0, sizeof *g);
    ep_init(&g->p, max_uri, max_header);
    g->drain_max = drain_max;
}

void gw_guard_fini(gw_guard *g)
{
    free(g->q);
    g->q = NULL;
}

static void q_append(gw_guard *g, const void *b, size_t n)
{
    if (g->qoff && g->qoff == g->qlen)
        g->qoff = g->qlen = 0;
    if (g->qlen + n > g->qcap) {
        if (g->qoff) { /* slide what is left to the front first */
            memmove(g->q, g->q + g->qoff, g->qlen - g->qoff);
            g->qlen -= g->qoff;
            g->qoff = 0;
        }
        if (g->qlen + n > g->qcap) {
            g->qcap = (g->qlen + n) * 2;
            g->q = xrealloc(g->q, g->qcap);
        }
    }
    memcpy(g->q + g->qlen, b, n);
    g->qlen += n;
}

/* Bytes at the front of the queue MHD may have now. */
static size_t deliverable(const gw_guard *g)
{
    if (g->refused)
        return g->qlen - g->qoff;
    return (size_t)(ep_commit(&g->p) - g->delivered);
}

/* After a refusal: what the client still sends is read and dropped (bounded), never parsed. */
static void drain(gw_guard *g, int fd)
{
    char tmp[4096];
    while (g->drained < g->drain_max) {
        ssize_t n = real_recv(fd, tmp, sizeof tmp, MSG_DONTWAIT);
        if (n <= 0)
            return;
        g->drained += (size_t)n;
    }
}

static void note_head(gw_guard *g)
{
    if (g->on_request_line && ep_in_head_fields(&g->p) && g->head_signalled != g->p.msg + 1) {
        g->head_signalled = g->p.msg + 1;
        g->on_request_line(g->arg);
    }
}

static ssize_t guard_recv(gw_guard *g, int fd, uint8_t *buf, size_t len, int flags)
{
    size_t out = 0;
    for (;;) {
        size_t k = deliverable(g);
        if (k) {
            if (k > len - out)
                k = len - out;
            memcpy(buf + out, g->q + g->qoff, k);
            g->qoff += k;
            if (!g->refused)
                g->delivered += k;
            out += k;
            if (out == len)
                return (ssize_t)out;
        }
        if (g->refused) {
            drain(g, fd);
            if (out)
                return (ssize_t)out;
            errno = EAGAIN;
            return -1;
        }
        size_t want = len - out;
        ssize_t n = real_recv(fd, buf + out, want, flags);
        if (n <= 0) /* drained, the end, or an error: MHD sees it once the queue is out */
            return out ? (ssize_t)out : n;
        bool ok = ep_feed(&g->p, buf + out, (size_t)n);
        note_head(g);
        if (ok && g->qoff == g->qlen && ep_commit(&g->p) == g->p.pos) {
            /* the common case: all of it checked and nothing held: zero copies */
            g->delivered += (size_t)n;
            out += (size_t)n;
            if ((size_t)n < want || out == len)
                return (ssize_t)out;
            continue;
        }
        /* held or refused: the bytes go behind what is queued; the loop hands on what may go */
        q_append(g, buf + out, (size_t)n);
        if (!ok) {
            g->qlen = g->qoff + (size_t)(ep_commit(&g->p) - g->delivered);
            size_t tl;
            const char *t = ep_terminator(&g->p, &tl);
            q_append(g, t, tl);
            g->refused = true;
        }
    }
}

/* What libmicrohttpd's recv slot points at. */
static ssize_t hooked_recv(int fd, void *buf, size_t len, int flags)
{
    _Atomic(gw_guard *) *s = slot_of(fd, false);
    gw_guard *g = s ? atomic_load(s) : NULL;
    if (!g || len == 0)
        return real_recv(fd, buf, len, flags);
    if (!g->first_buf) { /* libmicrohttpd's read buffer as it first allocated it (mhdpool.h) */
        g->first_buf = buf;
        g->first_len = len;
    }
    return guard_recv(g, fd, buf, len, flags);
}

long gw_guard_recv(int fd, void *buf, size_t len, int flags)
{
    return (long)hooked_recv(fd, buf, len, flags);
}

/* ---------------------------------------------------------------- the relocation */

typedef struct patch_ctx {
    bool found_lib;
    void **slot;
    uintptr_t relro_lo, relro_hi;
} patch_ctx;

/* glibc stores most d_ptr values already relocated; some loaders do not */
static uintptr_t dyn_ptr(const struct dl_phdr_info *info, ElfW(Addr) v)
{
    return v < info->dlpi_addr ? info->dlpi_addr + v : v;
}

static int find_mhd(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    patch_ctx *c = arg;
    if (!info->dlpi_name || !strstr(info->dlpi_name, "libmicrohttpd.so"))
        return 0;
    c->found_lib = true;
    const ElfW(Dyn) *dyn = NULL;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_DYNAMIC)
            dyn = (const ElfW(Dyn) *)(info->dlpi_addr + ph->p_vaddr);
        else if (ph->p_type == PT_GNU_RELRO) {
            c->relro_lo = info->dlpi_addr + ph->p_vaddr;
            c->relro_hi = c->relro_lo + ph->p_memsz;
        }
    }
    if (!dyn)
        return 1;
    const ElfW(Sym) *symtab = NULL;
    const char *strtab = NULL;
    uintptr_t rel[2] = {0, 0};
    size_t relsz[2] = {0, 0};
    for (; dyn->d_tag != DT_NULL; dyn++) {
        switch (dyn->d_tag) {
        case DT_SYMTAB:
            symtab = (const ElfW(Sym) *)dyn_ptr(info, dyn->d_un.d_ptr);
            break;
        case DT_STRTAB:
            strtab = (const char *)dyn_ptr(info, dyn->d_un.d_ptr);
            break;
        case DT_JMPREL:
            rel[0] = dyn_ptr(info, dyn->d_un.d_ptr);
            break;
        case DT_PLTRELSZ:
            relsz[0] = dyn->d_un.d_val;
            break;
        case DT_RELA:
            rel[1] = dyn_ptr(info, dyn->d_un.d_ptr);
            break;
        case DT_RELASZ:
            relsz[1] = dyn->d_un.d_val;
            break;
        default:
            break;
        }
    }
    if (!symtab || !strtab)
        return 1;
    for (int t = 0; t < 2 && !c->slot; t++) {
        const ElfW(Rela) *r = (const ElfW(Rela) *)rel[t];
        for (size_t i = 0; r && i < relsz[t] / sizeof *r; i++) {
            const ElfW(Sym) *sym = &symtab[ELF64_R_SYM(r[i].r_info)];
            if (strcmp(strtab + sym->st_name, "recv") == 0) {
                c->slot = (void **)(info->dlpi_addr + r[i].r_offset);
                break;
            }
        }
    }
    return 1;
}

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char install_err[256];

static void install(void)
{
    patch_ctx c = {0};
    dl_iterate_phdr(find_mhd, &c);
    if (!c.found_lib) {
        snprintf(install_err, sizeof install_err,
                 "libmicrohttpd is not loaded as a shared object: the edge's byte checks cannot "
                 "run (docs/decisions.md, \"Raw bytes before libmicrohttpd\")");
        return;
    }
    if (!c.slot) {
        snprintf(install_err, sizeof install_err, "libmicrohttpd has no relocation for recv");
        return;
    }
    long pg = sysconf(_SC_PAGESIZE);
    uintptr_t page = (uintptr_t)c.slot & ~(uintptr_t)(pg - 1);
    bool relro = (uintptr_t)c.slot >= c.relro_lo && (uintptr_t)c.slot < c.relro_hi;
    if (relro && mprotect((void *)page, (size_t)pg, PROT_READ | PROT_WRITE) != 0) {
        snprintf(install_err, sizeof install_err, "mprotect: %s", strerror(errno));
        return;
    }
    real_recv = (recv_fn)*c.slot;
    __atomic_store_n(c.slot, (void *)hooked_recv, __ATOMIC_SEQ_CST);
    if (relro)
        mprotect((void *)page, (size_t)pg, PROT_READ);
}

cf_code gw_guard_install(char *err, size_t errlen)
{
    pthread_once(&once, install);
    if (*install_err) {
        snprintf(err, errlen, "%s", install_err);
        return CF_INTERNAL;
    }
    return CF_OK;
}
