/* scope.c — app-token scopes against a service's table (scope.h). */
#include "rpc/scope.h"

#include <string.h>

/* True if `list` (space-separated words) contains the word w of length n. */
static bool has_word(const char *list, const char *w, size_t n)
{
    for (const char *p = list; p && *p;) {
        while (*p == ' ')
            p++;
        size_t len = strcspn(p, " ");
        if (len == n && len && strncmp(p, w, n) == 0)
            return true;
        p += len;
    }
    return false;
}

static const rpc_scope_rule *find(const rpc_scope_table *t, const char *method)
{
    if (!t || !method)
        return NULL;
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->rules[i].method, method) == 0)
            return &t->rules[i];
    return NULL;
}

const char *rpc_scope_needed(const rpc_scope_table *t, const char *method)
{
    const rpc_scope_rule *r = find(t, method);
    return r ? r->scopes : NULL;
}

bool rpc_scope_allows(const rpc_scope_table *t, const char *method, const char *granted)
{
    const rpc_scope_rule *r = find(t, method);
    if (!r)
        return false;
    if (strcmp(r->scopes, RPC_SCOPE_OPEN) == 0)
        return true;
    for (const char *p = r->scopes; *p;) {
        while (*p == ' ')
            p++;
        size_t len = strcspn(p, " ");
        if (len && has_word(granted, p, len))
            return true;
        p += len;
    }
    return false;
}

/* A scope as catalog accepts it in a manifest: a lower-case letter, then [a-z0-9._:-]. */
static bool scope_ok(const char *s, size_t n)
{
    if (!n || n > RPC_SCOPE_MAX || s[0] < 'a' || s[0] > 'z')
        return false;
    for (size_t i = 1; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || strchr("._:-", s[i])))
            return false;
    return true;
}

const char *rpc_scope_table_check(const rpc_scope_table *t)
{
    if (!t->service)
        return "a scope table without its service";
    for (size_t i = 0; i < t->n; i++) {
        const rpc_scope_rule *r = &t->rules[i];
        if (!protobuf_c_service_descriptor_get_method_by_name(t->service, r->method))
            return "a scope rule names a method the service does not have";
        for (size_t j = 0; j < i; j++)
            if (strcmp(t->rules[j].method, r->method) == 0)
                return "a method has two scope rules";
        if (strcmp(r->scopes, RPC_SCOPE_OPEN) == 0)
            continue;
        if (!*r->scopes)
            return "a scope rule without scopes (leave the method out to refuse apps)";
        for (const char *p = r->scopes; *p;) {
            size_t len = strcspn(p, " ");
            if (!scope_ok(p, len))
                return "a scope rule lists a malformed scope";
            p += len;
            while (*p == ' ')
                p++;
        }
    }
    return NULL;
}
