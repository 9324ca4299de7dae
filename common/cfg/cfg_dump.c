/* cfg_dump.c — cfg_dump: the effective configuration as YAML, secrets redacted (for
 * `confetti config check` and the startup log). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cfg_value.h"

/* A YAML double-quoted scalar. */
static void put_quoted(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(out, "\\x%02x", *p);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

/* "  # default 4MiB; env CONFETTI_RPC_MAX_MESSAGE or CONFETTI_<SCOPE>__RPC_MAX_MESSAGE" (and
 * the _FILE forms of a secret): where a newcomer finds how to set the key. */
static void put_origin(FILE *out, const cfg_field *f, const char *scope)
{
    fputs("  # default ", out);
    if (!f->def)
        fputs(f->required ? "none (required)" : "none", out);
    else if (!*f->def)
        fputs(f->type == CFG_STRLIST ? "[]" : "\"\"", out);
    else if (f->type == CFG_SECRET)
        fputs("<redacted>", out);
    else
        fputs(f->def, out);
    char *plain = cfgv_env_name(NULL, f->section, f->key, "");
    char *scoped = scope ? cfgv_env_name(scope, f->section, f->key, "") : NULL;
    const char *file = f->type == CFG_SECRET ? "[_FILE]" : "";
    fprintf(out, "; env %s%s", plain, file);
    if (scoped)
        fprintf(out, " or %s%s", scoped, file);
    fputc('\n', out);
    free(plain);
    free(scoped);
}

static void put_field(FILE *out, const cfg_field *f, const void *target, const char *scope)
{
    const void *p = (const char *)target + f->offset;
    char buf[32];
    if (f->help)
        fprintf(out, "  # %s\n", f->help);
    put_origin(out, f, scope);
    switch (f->type) {
    case CFG_STR:
    case CFG_SECRET:
    case CFG_ENUM: {
        const char *s = *(char *const *)p;
        if (!s) {
            fprintf(out, "  # %s: (not set)\n", f->key);
            return;
        }
        fprintf(out, "  %s: ", f->key);
        put_quoted(out, f->type == CFG_SECRET ? "<redacted>" : s);
        break;
    }
    case CFG_BOOL:
        fprintf(out, "  %s: %s", f->key, *(const bool *)p ? "true" : "false");
        break;
    case CFG_INT:
    case CFG_DURATION:
    case CFG_SIZE:
        cfgv_format(f->type, *(const int64_t *)p, buf, sizeof buf);
        fprintf(out, "  %s: %s", f->key, buf);
        break;
    case CFG_STRLIST: {
        const cfg_strlist *l = p;
        fprintf(out, "  %s: [", f->key);
        for (size_t i = 0; i < l->n; i++) {
            fputs(i ? ", " : "", out);
            put_quoted(out, l->items[i]);
        }
        fputc(']', out);
        break;
    }
    }
    fputc('\n', out);
}

void cfg_dump(const cfg_schema *schemas, size_t nschemas, FILE *out)
{
    cfg_dump_scoped(NULL, schemas, nschemas, out);
}

void cfg_dump_scoped(const char *scope, const cfg_schema *schemas, size_t nschemas, FILE *out)
{
    for (size_t s = 0; s < nschemas; s++) {
        for (size_t i = 0; i < schemas[s].nfields; i++) {
            const char *section = schemas[s].fields[i].section;
            /* Each section once, at its first appearance, with its keys from every schema. */
            bool seen = false;
            for (size_t t = 0; t <= s && !seen; t++)
                for (size_t j = 0; j < (t == s ? i : schemas[t].nfields) && !seen; j++)
                    seen = strcmp(schemas[t].fields[j].section, section) == 0;
            if (seen)
                continue;
            fprintf(out, "%s:\n", section);
            for (size_t t = s; t < nschemas; t++)
                for (size_t j = 0; j < schemas[t].nfields; j++)
                    if (strcmp(schemas[t].fields[j].section, section) == 0)
                        put_field(out, &schemas[t].fields[j], schemas[t].target, scope);
        }
    }
}
