/* fanout.c — GET /v1/audit and GET /v1/rooms/{roomId}/audit: every service's ListAudit at once,
 * merged by time (fanout.h). */
#include "fanout.h"
#include "audit/audit.h"
#include "base/xmalloc.h"
#include "page/page.h"
#include "pbjson/pbjson.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define FANOUT_MAX 8

typedef struct fanout {
    size_t n;
    atomic_size_t left; /* calls not completed, + 1 while the starter still runs */
    rpc_ccall cc[FANOUT_MAX];
    rpc_md md[RPC_CCALL_MAX_MD]; /* owned copies */
    size_t nmd;
    int size;      /* the page size asked (normalized) */
    char *filters; /* the request's filter fingerprint (audit_filters), for the next token */
    gw_fanout_done_fn done;
    void *arg;
} fanout;

static bool callers_fault(cf_code c)
{
    return c == CF_INVALID_ARGUMENT || c == CF_UNAUTHENTICATED || c == CF_PERMISSION_DENIED ||
           c == CF_NOT_FOUND;
}

size_t gw_fanout_pick(const cf_code *codes, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (callers_fault(codes[i]))
            return i;
    for (size_t i = 0; i < n; i++)
        if (codes[i] != CF_OK)
            return i;
    return n;
}

static int cmp_entries(const void *a, const void *b)
{
    return audit_entry_cmp(*(Audit__V1__AuditEntry *const *)a, *(Audit__V1__AuditEntry *const *)b);
}

/* The merged page as JSON: every service's page holds its newest `size` rows after the token,
 * so the newest `size` of their union are the newest `size` of all rows after the token. */
static char *merge(fanout *f)
{
    size_t total = 0;
    bool more = false;
    for (size_t i = 0; i < f->n; i++) {
        const Audit__V1__ListAuditResponse *r = (const void *)f->cc[i].response;
        total += r->n_entries;
        more |= *r->next_page_token != '\0';
    }
    Audit__V1__AuditEntry **all = xcalloc(total ? total : 1, sizeof *all);
    size_t k = 0;
    for (size_t i = 0; i < f->n; i++) {
        const Audit__V1__ListAuditResponse *r = (const void *)f->cc[i].response;
        for (size_t j = 0; j < r->n_entries; j++)
            all[k++] = r->entries[j];
    }
    qsort(all, total, sizeof *all, cmp_entries);
    size_t keep = total < (size_t)f->size ? total : (size_t)f->size;
    Audit__V1__ListAuditResponse out = AUDIT__V1__LIST_AUDIT_RESPONSE__INIT;
    out.entries = all;
    out.n_entries = keep;
    arena a;
    arena_init(&a, 512);
    if (keep > 0 && (more || total > keep)) {
        const Audit__V1__AuditEntry *last = all[keep - 1];
        out.next_page_token =
            page_keyset_encode(&a, f->filters, audit_entry_us(last), last->entry_id);
    }
    char *json = pbjson_to_string(&out.base);
    arena_release(&a);
    free(all);
    return json;
}

static void fanout_free(fanout *f)
{
    for (size_t i = 0; i < f->n; i++)
        rpc_ccall_free(&f->cc[i]);
    for (size_t i = 0; i < f->nmd; i++) {
        free((char *)f->md[i].key);
        free((char *)f->md[i].value);
    }
    free(f->filters);
    free(f);
}

/* The last reference gone: answer and free. */
static void release(fanout *f)
{
    if (atomic_fetch_sub(&f->left, 1) != 1)
        return;
    cf_code codes[FANOUT_MAX];
    for (size_t i = 0; i < f->n; i++)
        codes[i] = f->cc[i].code;
    size_t bad = gw_fanout_pick(codes, f->n);
    if (bad < f->n)
        f->done(f->arg, &f->cc[bad], NULL);
    else
        f->done(f->arg, NULL, merge(f));
    fanout_free(f);
}

static void part_done(rpc_ccall *cc, void *arg)
{
    (void)cc;
    release(arg);
}

void gw_fanout_audit(const gw_fanout_target *t, size_t n, const ProtobufCMessage *req,
                     const rpc_md *md, size_t nmd, int timeout_ms, gw_fanout_done_fn done,
                     void *arg)
{
    fanout *f = xcalloc(1, sizeof *f);
    f->n = n < FANOUT_MAX ? n : FANOUT_MAX;
    f->done = done;
    f->arg = arg;
    const Audit__V1__ListAuditRequest *lr = (const void *)req;
    if (page_size(lr->page_size, &f->size) != CF_OK)
        f->size = PAGE_SIZE_DEFAULT; /* every service refuses it: that refusal is the answer */
    arena a;
    arena_init(&a, 256);
    f->filters = xstrdup(audit_filters(&a, lr));
    arena_release(&a);
    f->nmd = nmd < RPC_CCALL_MAX_MD ? nmd : RPC_CCALL_MAX_MD;
    for (size_t i = 0; i < f->nmd; i++)
        f->md[i] = (rpc_md){xstrdup(md[i].key), xstrdup(md[i].value)};
    atomic_init(&f->left, f->n + 1);
    for (size_t i = 0; i < f->n; i++) {
        rpc_ccall_init(&f->cc[i], NULL);
        f->cc[i].timeout_ms = timeout_ms;
        for (size_t j = 0; j < f->nmd; j++)
            rpc_ccall_md(&f->cc[i], f->md[j].key, f->md[j].value);
    }
    /* every ccall is ready before the first call starts: a completion may run at once */
    for (size_t i = 0; i < f->n; i++)
        rpc_client_invoke_async(t[i].client, t[i].service, t[i].method_index, req, &f->cc[i],
                                part_done, f);
    release(f);
}
