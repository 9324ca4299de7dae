/* policy.c — the catalog's domain rules (see policy.h). */
#include "base/name.h"
#include "policy.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

__attribute__((format(printf, 3, 4))) static void problem(jsonschema_report *r, const char *path,
                                                          const char *fmt, ...)
{
    if (++r->count > JSONSCHEMA_MAX_ERRORS)
        return;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r->emit(r->ud, path, msg);
}

bool catalog_name_ok(const char *name, const char **why)
{
    /* the one rule for names (base/name.h); a manifest is stored as sent, so its name must
     * already be in the canonical form (trimmed, NFC) rather than be rewritten */
    arena a;
    arena_init(&a, 1024);
    char *canon;
    bool ok = cf_name_check(&a, name, CATALOG_NAME_MAX, &canon, why);
    if (ok && strcmp(canon, name) != 0) {
        *why = "must not begin or end with white space and must be in Unicode NFC";
        ok = false;
    }
    if (!ok && strncmp(*why, "must be at most", 15) == 0)
        *why = "must be at most 100 characters long";
    arena_release(&a);
    return ok;
}

bool catalog_scope_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > CATALOG_SCOPE_MAX || !(s[0] >= 'a' && s[0] <= 'z'))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || strchr("._:-", s[i])))
            return false;
    return true;
}

bool catalog_idempotency_key_ok(const char *k)
{
    return rpc_idempotency_key_ok(k); /* the one rule, common/rpc/idem.c */
}

static void check_permissions(const json_t *perms, const char *root, jsonschema_report *r)
{
    char path[256];
    snprintf(path, sizeof path, "%s.permissions", root);
    if (!json_is_array(perms)) {
        problem(r, path, "must be a list of scopes");
        return;
    }
    if (json_array_size(perms) > CATALOG_PERMISSIONS_MAX)
        problem(r, path, "must have at most %d scopes", CATALOG_PERMISSIONS_MAX);
    size_t i;
    json_t *p;
    json_array_foreach(perms, i, p)
    {
        snprintf(path, sizeof path, "%s.permissions[%zu]", root, i);
        if (!json_is_string(p) || !catalog_scope_ok(json_string_value(p))) {
            problem(r, path,
                    "must be a scope: a lower-case letter, then letters, digits, '.', '_', ':' "
                    "or '-', at most %d characters",
                    CATALOG_SCOPE_MAX);
            continue;
        }
        for (size_t j = 0; j < i; j++)
            if (json_equal(json_array_get(perms, j), p))
                problem(r, path, "repeats scope \"%s\"", json_string_value(p));
    }
}

bool catalog_manifest_check(const json_t *m, const char *root, catalog_manifest *out,
                            pattern_run *pr, jsonschema_report *r)
{
    size_t before = r->count;
    char path[256];
    if (!json_is_object(m)) {
        problem(r, root, "must be a JSON object");
        return false;
    }
    catalog_manifest cm = {0};
    const json_t *name = json_object_get(m, "name");
    snprintf(path, sizeof path, "%s.name", root);
    const char *why = NULL;
    if (!name)
        problem(r, path, "is required");
    else if (!json_is_string(name))
        problem(r, path, "must be a string");
    else if (!catalog_name_ok(json_string_value(name), &why))
        problem(r, path, "%s", why);
    else
        cm.name = json_string_value(name);

    const json_t *version = json_object_get(m, "version");
    snprintf(path, sizeof path, "%s.version", root);
    if (!version)
        problem(r, path, "is required");
    else if (!json_is_string(version))
        problem(r, path, "must be a string");
    else if (!semver_parse(json_string_value(version), &cm.sv))
        problem(r, path, "must be a semantic version such as 1.2.3 or 2.0.0-beta.1 (semver 2.0)");
    else
        cm.version = json_string_value(version);

    cm.permissions = json_object_get(m, "permissions");
    if (cm.permissions)
        check_permissions(cm.permissions, root, r);

    const json_t *schema = json_object_get(m, "settingsSchema");
    snprintf(path, sizeof path, "%s.settingsSchema", root);
    if (!schema) {
        problem(r, path, "is required");
    } else if (jsonschema_check(schema, path, pr, r)) {
        const json_t *type = json_object_get(schema, "type");
        bool object = !type || (json_is_string(type) && !strcmp(json_string_value(type), "object"));
        size_t i;
        json_t *t;
        json_array_foreach(type, i, t) object = object || !strcmp(json_string_value(t), "object");
        snprintf(path, sizeof path, "%s.settingsSchema.type", root);
        if (!object)
            problem(r, path, "must allow \"object\": settings are a JSON object");
        cm.settings_schema = schema;
    }
    if (r->count != before)
        return false;
    *out = cm;
    return true;
}

bool catalog_can_register(const authn_identity *caller)
{
    return caller && !caller->is_app;
}

bool catalog_can_change(const authn_identity *caller, const char *owner_user_id)
{
    if (!caller || caller->is_app)
        return false;
    return caller->is_admin || strcmp(caller->sub, owner_user_id) == 0;
}

bool catalog_can_see(const authn_identity *caller, const char *owner_user_id, bool is_active)
{
    if (!caller)
        return false;
    return is_active || catalog_can_change(caller, owner_user_id);
}
