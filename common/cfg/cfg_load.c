/* cfg_load.c — cfg_load: defaults, then the YAML file, then the environment, into the targets,
 * with every error pointing at the file:line:col or variable that caused it. */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "base/xmalloc.h"
#include "cfg_value.h"

#define KEY_MAX 64 /* longest section or key a schema may declare */

/* How a field was given in the layer being loaded: directly, or as a secret's <key>_file. */
enum { MARK_VALUE = 1, MARK_FILE = 2 };

typedef struct loader {
    size_t n; /* fields over all schemas, flattened */
    const cfg_field **fields;
    void **targets;
    char **env, **env_file; /* CONFETTI_SEC_KEY and CONFETTI_SEC_KEY_FILE (secrets only) */
    char **env_section;     /* CONFETTI_SEC_ */
    unsigned char *mark;    /* per field, for the current layer */
    bool *set;              /* per field, by any layer */
    const char *path;
    const char *scope;         /* this process's env scope ("catalog"); NULL = none */
    const char *const *scopes; /* every process's scope, NULL-terminated (may be NULL) */
    char *err;
    size_t errlen;
} loader;

/* Writes "WHERE[:LINE:COL]: [section[.key]: ]message" into err; returns false for tail calls. */
static bool fail(loader *ld, const char *where, const yaml_mark_t *m, const char *section,
                 const char *key, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static bool fail(loader *ld, const char *where, const yaml_mark_t *m, const char *section,
                 const char *key, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char loc[48] = "";
    if (m)
        snprintf(loc, sizeof loc, ":%zu:%zu", m->line + 1, m->column + 1);
    snprintf(ld->err, ld->errlen, "%s%s: %s%s%s%s%s", where, loc, section ? section : "",
             key ? "." : "", key ? key : "", section ? ": " : "", msg);
    return false;
}

static char *env_name(const cfg_field *f, const char *key, const char *suffix)
{
    return cfgv_env_name(NULL, f->section, key, suffix);
}

/* Reads a whole file of at most CFG_MAX_FILE_BYTES; NUL-terminated, caller frees. On failure
 * why says what went wrong but not the path: the caller names it. */
static bool read_file(const char *path, char **out, size_t *len, char *why, size_t whylen)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        snprintf(why, whylen, "cannot open: %s", strerror(errno));
        return false;
    }
    /* The buffer grows with what the file holds, up to one byte past the bound (a 1 MiB block
     * for every few-line file, a fresh mmap each under ASan, held the config fuzz target to
     * 77 exec/s); a buffer given up is wiped first, as it may hold a secret. */
    size_t cap = 4096, n = 0;
    char *buf = xmalloc(cap + 1);
    for (;;) {
        n += fread(buf + n, 1, cap - n, fp);
        if (n < cap || cap > CFG_MAX_FILE_BYTES)
            break; /* end of file, an error, or over the bound */
        size_t bigger = cap * 2 > CFG_MAX_FILE_BYTES ? CFG_MAX_FILE_BYTES + 1 : cap * 2;
        char *grown = xmalloc(bigger + 1);
        memcpy(grown, buf, n);
        explicit_bzero(buf, n);
        free(buf);
        buf = grown;
        cap = bigger;
    }
    bool ok = !ferror(fp) && n <= CFG_MAX_FILE_BYTES;
    if (ferror(fp))
        snprintf(why, whylen, "cannot read: %s", strerror(errno));
    else if (!ok)
        snprintf(why, whylen, "larger than %d bytes", CFG_MAX_FILE_BYTES);
    fclose(fp);
    buf[n] = '\0';
    if (ok && strlen(buf) != n) {
        snprintf(why, whylen, "contains a NUL byte");
        ok = false;
    }
    if (!ok) {
        explicit_bzero(buf, n);
        free(buf);
        return false;
    }
    *out = buf;
    *len = n;
    return true;
}

/* Marks field i as given (bit) in the current layer: a key given twice, or a secret given both
 * directly and as _file, is an error at the second one. */
static bool claim(loader *ld, size_t i, int bit, const char *where, const yaml_mark_t *m,
                  const char *key)
{
    const cfg_field *f = ld->fields[i];
    if (ld->mark[i] & bit)
        return fail(ld, where, m, f->section, key, "duplicate key");
    if (ld->mark[i])
        return fail(ld, where, m, f->section, key, "%s and %s_file are both set; use one", f->key,
                    f->key);
    ld->mark[i] |= (unsigned char)bit;
    return true;
}

/* Sets field i from text, or for MARK_FILE from the contents of the file text names. */
static bool assign(loader *ld, size_t i, int bit, const char *text, const char *where,
                   const yaml_mark_t *m, const char *key)
{
    const cfg_field *f = ld->fields[i];
    char why[256], *secret = NULL;
    size_t len = 0;
    if (bit == MARK_FILE) {
        if (!read_file(text, &secret, &len, why, sizeof why))
            return fail(ld, where, m, f->section, key, "secret file %s: %s", text, why);
        while (len > 0 && (secret[len - 1] == '\n' || secret[len - 1] == '\r'))
            secret[--len] = '\0';
        text = secret;
    }
    bool ok = cfgv_set(f, ld->targets[i], text, why, sizeof why);
    if (secret) {
        explicit_bzero(secret, len);
        free(secret);
    }
    ld->set[i] |= ok;
    return ok || fail(ld, where, m, f->section, key, "%s", why);
}

static bool section_known(const loader *ld, const char *section)
{
    for (size_t i = 0; i < ld->n; i++)
        if (strcmp(ld->fields[i]->section, section) == 0)
            return true;
    return false;
}

/* Finds the field a YAML key names in section: the key itself, or a secret's <key>_file. */
static bool lookup(const loader *ld, const char *section, const char *key, size_t *idx, int *bit)
{
    size_t kl = strlen(key);
    bool file_form = kl > 5 && strcmp(key + kl - 5, "_file") == 0;
    for (size_t i = 0; i < ld->n; i++) {
        const cfg_field *f = ld->fields[i];
        if (strcmp(f->section, section) != 0)
            continue;
        *idx = i;
        *bit = MARK_VALUE;
        if (strcmp(f->key, key) == 0)
            return true;
        *bit = MARK_FILE;
        if (file_form && f->type == CFG_SECRET && strlen(f->key) == kl - 5 &&
            strncmp(f->key, key, kl - 5) == 0)
            return true;
    }
    return false;
}

/* "a, b, c": the sections (section == NULL) or the keys of one section, for error hints. */
static void list_known(const loader *ld, const char *section, char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < ld->n && off < len; i++) {
        const cfg_field *f = ld->fields[i];
        const char *name = section ? f->key : f->section;
        if (section && strcmp(f->section, section) != 0)
            continue;
        bool dup = false;
        for (size_t j = 0; !section && j < i; j++)
            dup |= strcmp(ld->fields[j]->section, name) == 0;
        if (!dup)
            off += (size_t)snprintf(buf + off, len - off, "%s%s", off ? ", " : "", name);
    }
}

/* ---- the YAML layer, walked as events so aliases can be refused and marks kept ---- */

typedef struct walk {
    loader *ld;
    yaml_parser_t parser;
    yaml_event_t ev; /* the current event; valid when have */
    bool have;
} walk;

static bool next(walk *w)
{
    if (w->have)
        yaml_event_delete(&w->ev);
    w->have = yaml_parser_parse(&w->parser, &w->ev);
    if (!w->have) {
        yaml_parser_t *p = &w->parser;
        return fail(w->ld, w->ld->path, &p->problem_mark, NULL, NULL, "YAML syntax error: %s%s%s",
                    p->problem ? p->problem : "unknown", p->context ? " " : "",
                    p->context ? p->context : "");
    }
    if (w->ev.type == YAML_ALIAS_EVENT)
        return fail(w->ld, w->ld->path, &w->ev.start_mark, NULL, NULL,
                    "YAML aliases are not supported");
    return true;
}

static bool is_null(const yaml_event_t *ev)
{
    if (ev->type != YAML_SCALAR_EVENT || ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *v = (const char *)ev->data.scalar.value;
    return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") || !strcmp(v, "NULL");
}

/* Copies the current scalar (a mapping key) into buf, truncating: a key longer than KEY_MAX
 * matches nothing anyway. */
static bool key_text(walk *w, char *buf, size_t len)
{
    if (w->ev.type != YAML_SCALAR_EVENT)
        return false;
    snprintf(buf, len, "%s", (const char *)w->ev.data.scalar.value);
    return true;
}

static bool walk_list(walk *w, size_t i, const char *key)
{
    cfg_strlist l = {0};
    const cfg_field *f = w->ld->fields[i];
    while (next(w) && w->ev.type != YAML_SEQUENCE_END_EVENT) {
        const char *v = (const char *)w->ev.data.scalar.value;
        if (w->ev.type != YAML_SCALAR_EVENT || strlen(v) != w->ev.data.scalar.length) {
            fail(w->ld, w->ld->path, &w->ev.start_mark, f->section, key,
                 "sequence items must be strings");
            break;
        }
        cfgv_list_push(&l, v, w->ev.data.scalar.length);
    }
    bool ok = w->have && w->ev.type == YAML_SEQUENCE_END_EVENT;
    if (ok) {
        cfgv_set_list(f, w->ld->targets[i], &l);
        w->ld->set[i] = true;
    }
    cfgv_list_free(&l);
    return ok;
}

static bool walk_value(walk *w, size_t i, int bit, const char *key)
{
    loader *ld = w->ld;
    const cfg_field *f = ld->fields[i];
    const yaml_mark_t *m = &w->ev.start_mark;
    bool list = f->type == CFG_STRLIST && bit == MARK_VALUE;
    if (w->ev.type == YAML_MAPPING_START_EVENT)
        return fail(ld, ld->path, m, f->section, key, "expected a %s, got a mapping",
                    list ? "sequence" : "scalar");
    if (w->ev.type == YAML_SEQUENCE_START_EVENT)
        return list ? walk_list(w, i, key)
                    : fail(ld, ld->path, m, f->section, key, "expected a scalar, got a sequence");
    const char *v = (const char *)w->ev.data.scalar.value;
    if (is_null(&w->ev))
        return fail(ld, ld->path, m, f->section, key, "no value (remove the key for the default)");
    if (list)
        return fail(ld, ld->path, m, f->section, key, "expected a sequence, e.g. [a, b]");
    if (strlen(v) != w->ev.data.scalar.length)
        return fail(ld, ld->path, m, f->section, key, "contains a NUL byte");
    return assign(ld, i, bit, v, ld->path, m, key);
}

static bool walk_keys(walk *w, const char *section)
{
    loader *ld = w->ld;
    char key[KEY_MAX + 8], known[512];
    size_t i;
    int bit;
    while (next(w)) {
        if (w->ev.type == YAML_MAPPING_END_EVENT)
            return true;
        yaml_mark_t m = w->ev.start_mark;
        if (!key_text(w, key, sizeof key))
            return fail(ld, ld->path, &m, section, NULL, "keys must be scalars");
        if (!lookup(ld, section, key, &i, &bit)) {
            list_known(ld, section, known, sizeof known);
            return fail(ld, ld->path, &m, section, key, "unknown key (known: %s)", known);
        }
        if (!claim(ld, i, bit, ld->path, &m, key) || !next(w) || !walk_value(w, i, bit, key))
            return false;
    }
    return false;
}

static bool walk_sections(walk *w, cfg_strlist *seen)
{
    loader *ld = w->ld;
    char section[KEY_MAX + 8], known[512];
    while (next(w)) {
        if (w->ev.type == YAML_MAPPING_END_EVENT)
            return true;
        yaml_mark_t m = w->ev.start_mark;
        if (!key_text(w, section, sizeof section))
            return fail(ld, ld->path, &m, NULL, NULL, "section names must be scalars");
        for (size_t j = 0; j < seen->n; j++)
            if (strcmp(seen->items[j], section) == 0)
                return fail(ld, ld->path, &m, section, NULL, "duplicate section");
        if (!section_known(ld, section)) {
            list_known(ld, NULL, known, sizeof known);
            return fail(ld, ld->path, &m, section, NULL, "unknown section (known: %s)", known);
        }
        cfgv_list_push(seen, section, strlen(section));
        if (!next(w))
            return false;
        if (w->ev.type == YAML_MAPPING_START_EVENT) {
            if (!walk_keys(w, section))
                return false;
        } else if (!is_null(&w->ev)) {
            return fail(ld, ld->path, &w->ev.start_mark, section, NULL,
                        "expected a mapping of keys");
        }
    }
    return false;
}

/* stream-start [document-start (mapping | null) document-end] stream-end */
static bool walk_stream(walk *w)
{
    if (!next(w) || !next(w))
        return false;
    if (w->ev.type == YAML_STREAM_END_EVENT)
        return true;
    if (!next(w))
        return false;
    bool ok;
    if (w->ev.type == YAML_MAPPING_START_EVENT) {
        cfg_strlist seen = {0};
        ok = walk_sections(w, &seen);
        cfgv_list_free(&seen);
    } else {
        ok = is_null(&w->ev) || fail(w->ld, w->ld->path, &w->ev.start_mark, NULL, NULL,
                                     "expected a mapping of sections");
    }
    if (!ok || !next(w) || !next(w))
        return false;
    return w->ev.type == YAML_STREAM_END_EVENT || fail(w->ld, w->ld->path, &w->ev.start_mark, NULL,
                                                       NULL, "only one YAML document is allowed");
}

static bool load_file(loader *ld)
{
    char why[256], *text;
    size_t len;
    if (!read_file(ld->path, &text, &len, why, sizeof why))
        return fail(ld, ld->path, NULL, NULL, NULL, "%s", why);
    walk w = {.ld = ld};
    yaml_parser_initialize(&w.parser);
    yaml_parser_set_input_string(&w.parser, (const unsigned char *)text, len);
    bool ok = walk_stream(&w);
    if (w.have)
        yaml_event_delete(&w.ev);
    yaml_parser_delete(&w.parser);
    explicit_bzero(text, len); /* it may hold secrets */
    free(text);
    return ok;
}

/* ---- the environment layer ---- */

static bool name_is(const char *s, size_t n, const char *name)
{
    return name && strlen(name) == n && memcmp(s, name, n) == 0;
}

/* One variable in the unscoped form CONFETTI_<SECTION>_<KEY>[_FILE]=value. shown is the name to
 * put in errors (the variable as the operator wrote it). scoped: the variable was addressed to
 * this process by its scope, so a section it does not know is an error too, not someone else's. */
static bool load_env_var(loader *ld, const char *var, const char *shown, size_t shown_len,
                         bool scoped)
{
    const char *eq = strchr(var, '=');
    size_t n = (size_t)(eq - var), i;
    char *where = xasprintf("env %.*s", (int)shown_len, shown), known[512];
    bool ok = true;
    for (i = 0; i < ld->n; i++) {
        int bit = name_is(var, n, ld->env[i])        ? MARK_VALUE
                  : name_is(var, n, ld->env_file[i]) ? MARK_FILE
                                                     : 0;
        if (bit) {
            const cfg_field *f = ld->fields[i];
            ok = claim(ld, i, bit, where, NULL, f->key) &&
                 assign(ld, i, bit, eq + 1, where, NULL, f->key);
            break;
        }
    }
    /* Not a known key: a typo if the variable names a known section, else someone else's. */
    bool section = false;
    for (size_t j = 0; i == ld->n && j < ld->n; j++) {
        size_t sl = strlen(ld->env_section[j]);
        if (n > sl && memcmp(var, ld->env_section[j], sl) == 0) {
            list_known(ld, ld->fields[j]->section, known, sizeof known);
            ok = fail(ld, where, NULL, ld->fields[j]->section, NULL,
                      "unknown key %.*s (known: %s)%s%.*s", (int)(n - sl), var + sl, known,
                      scoped ? "" : "; another process's key takes its scope: CONFETTI_<SERVICE>__",
                      scoped ? 0 : (int)(n - 9), var + 9);
            section = true;
            break;
        }
    }
    if (i == ld->n && !section && scoped) {
        list_known(ld, NULL, known, sizeof known);
        ok = fail(ld, where, NULL, NULL, NULL, "names no section of %s (sections: %s)", ld->scope,
                  known);
    }
    free(where);
    return ok;
}

/* CONFETTI_<SCOPE>__<SECTION>_<KEY>: sets 1 and the scope's span if var has that form (section
 * and key names never contain "__", loader_init checks). */
static bool scope_of(const char *var, size_t n, const char **scope, size_t *scope_len)
{
    const char *s = var + 9, *dbl = NULL;
    for (const char *p = s; p + 1 < var + n; p++) {
        if (p[0] == '_' && p[1] == '_') {
            dbl = p;
            break;
        }
    }
    if (!dbl)
        return false;
    *scope = s;
    *scope_len = (size_t)(dbl - s);
    return true;
}

/* "AUTH, BUS, …": the known scopes, upper-cased as in variable names. */
static void list_scopes(const loader *ld, char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = '\0';
    for (const char *const *k = ld->scopes; k && *k && off < len; k++) {
        off += (size_t)snprintf(buf + off, len - off, "%s", off ? ", " : "");
        for (const char *c = *k; *c && off + 1 < len; c++)
            buf[off++] = (char)(*c >= 'a' && *c <= 'z' ? *c - 32 : *c);
        buf[off < len ? off : len - 1] = '\0';
    }
}

static bool scope_is(const char *s, size_t n, const char *name)
{
    if (!name || strlen(name) != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i] >= 'a' && name[i] <= 'z' ? (char)(name[i] - 32) : name[i];
        if (s[i] != c)
            return false;
    }
    return true;
}

/* The environment: the unscoped variables first, then this process's scoped ones, which win. */
static bool load_env(loader *ld, char *const *env)
{
    char known[256];
    for (int pass = 0; pass < 2; pass++) {
        memset(ld->mark, 0, ld->n);
        for (char *const *e = env; e && *e; e++) {
            const char *var = *e, *eq = strchr(var, '='), *scope;
            size_t scope_len;
            if (!eq || strncmp(var, "CONFETTI_", 9) != 0)
                continue;
            size_t n = (size_t)(eq - var);
            bool scoped = scope_of(var, n, &scope, &scope_len);
            if (!scoped) {
                if (pass == 0 && !load_env_var(ld, var, var, n, false))
                    return false;
                continue;
            }
            if (pass == 0 || !ld->scope)
                continue; /* no scope (a tool, a test): scoped variables are for processes */
            if (!scope_is(scope, scope_len, ld->scope)) {
                bool other = false;
                for (const char *const *k = ld->scopes; k && *k && !other; k++)
                    other = scope_is(scope, scope_len, *k);
                if (other)
                    continue; /* another process's */
                char where[KEY_MAX * 3 + 16];
                snprintf(where, sizeof where, "env %.*s", (int)n, var);
                list_scopes(ld, known, sizeof known);
                return fail(ld, where, NULL, NULL, NULL, "unknown scope %.*s (known: %s)",
                            (int)scope_len, scope, known);
            }
            char *plain = xasprintf("CONFETTI_%s", scope + scope_len + 2);
            bool ok = load_env_var(ld, plain, var, n, true);
            free(plain);
            if (!ok)
                return false;
        }
    }
    return true;
}

/* ---- putting it together ---- */

static void loader_init(loader *ld, const cfg_schema *schemas, size_t nschemas)
{
    for (size_t s = 0; s < nschemas; s++)
        ld->n += schemas[s].nfields;
    ld->fields = xcalloc(ld->n, sizeof *ld->fields);
    ld->targets = xcalloc(ld->n, sizeof *ld->targets);
    ld->env = xcalloc(ld->n, sizeof *ld->env);
    ld->env_file = xcalloc(ld->n, sizeof *ld->env_file);
    ld->env_section = xcalloc(ld->n, sizeof *ld->env_section);
    ld->mark = xcalloc(ld->n, 1);
    ld->set = xcalloc(ld->n, sizeof *ld->set);
    size_t k = 0;
    for (size_t s = 0; s < nschemas; s++) {
        for (size_t j = 0; j < schemas[s].nfields; j++, k++) {
            const cfg_field *f = &schemas[s].fields[j];
            assert(f->section && f->key && strlen(f->section) < KEY_MAX &&
                   strlen(f->key) < KEY_MAX && f->type <= CFG_ENUM);
            assert(f->type != CFG_ENUM || f->choices);
            ld->fields[k] = f;
            ld->targets[k] = schemas[s].target;
            ld->env[k] = env_name(f, f->key, "");
            assert(!strstr(ld->env[k], "__")); /* "__" separates a scope */
            ld->env_section[k] = env_name(f, "", "");
            if (f->type == CFG_SECRET)
                ld->env_file[k] = env_name(f, f->key, "_FILE");
            cfgv_zero(f, schemas[s].target);
        }
    }
    /* Two fields with one env name (same section+key, "a-b" vs "a_b", secret x vs key x_file)
     * are a programmer error. */
    for (size_t i = 0; i < ld->n; i++) {
        for (size_t j = 0; j < i; j++) {
            const char *a[] = {ld->env[i], ld->env_file[i]}, *b[] = {ld->env[j], ld->env_file[j]};
            for (size_t x = 0; x < 4; x++)
                assert(!a[x / 2] || !b[x % 2] || strcmp(a[x / 2], b[x % 2]) != 0);
            (void)a, (void)b;
        }
    }
}

static void loader_free(loader *ld)
{
    for (size_t i = 0; i < ld->n; i++) {
        free(ld->env[i]);
        free(ld->env_file[i]);
        free(ld->env_section[i]);
    }
    free(ld->env);
    free(ld->env_file);
    free(ld->env_section);
    free(ld->fields);
    free(ld->targets);
    free(ld->mark);
    free(ld->set);
}

static bool load_layers(loader *ld, char *const *env)
{
    char why[256];
    for (size_t i = 0; i < ld->n; i++) {
        const cfg_field *f = ld->fields[i];
        if (f->def && !cfgv_set(f, ld->targets[i], f->def, why, sizeof why))
            return fail(ld, "default", NULL, f->section, f->key, "%s", why);
        ld->set[i] = f->def != NULL;
    }
    if (ld->path && !load_file(ld))
        return false;
    if (!load_env(ld, env))
        return false;
    for (size_t i = 0; i < ld->n; i++) {
        const cfg_field *f = ld->fields[i];
        if (f->required && !ld->set[i])
            return fail(ld, ld->path ? ld->path : "config", NULL, f->section, f->key,
                        "required but not set (in the file or %s)", ld->env[i]);
    }
    return true;
}

cf_code cfg_load(const cfg_schema *schemas, size_t nschemas, const char *path, char *const *env,
                 char *err, size_t errlen)
{
    return cfg_load_scoped(NULL, NULL, schemas, nschemas, path, env, err, errlen);
}

cf_code cfg_load_scoped(const char *scope, const char *const *scopes, const cfg_schema *schemas,
                        size_t nschemas, const char *path, char *const *env, char *err,
                        size_t errlen)
{
    char dummy[1];
    loader ld = {.path = path,
                 .scope = scope,
                 .scopes = scopes,
                 .err = err ? err : dummy,
                 .errlen = err ? errlen : sizeof dummy};
    if (ld.errlen)
        ld.err[0] = '\0';
    loader_init(&ld, schemas, nschemas);
    bool ok = load_layers(&ld, env);
    loader_free(&ld);
    if (ok)
        return CF_OK;
    cfg_free(schemas, nschemas);
    return CF_INVALID_ARGUMENT;
}
