/* cfg.h — configuration as a typed schema table per process (STYLE §5, redis-style): one
 * cfg_field line per option names its YAML section/key, type, bounds, default and target field;
 * the YAML walk, environment overrides, `*_file` secrets, unknown-key errors with file:line and
 * the effective-config dump all derive from that table.
 *
 * Lifetime: zero-initialised target structs → cfg_load → read-only use (config is immutable after
 * load, so any thread may read it) → cfg_free. */
#ifndef CONFETTI_CFG_CFG_H
#define CONFETTI_CFG_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/status.h"

/* Largest config file or secret file cfg_load reads. */
#define CFG_MAX_FILE_BYTES (1024 * 1024)

/* Target C type of each option type:
 *   CFG_STR, CFG_SECRET, CFG_ENUM  char *       (owned by the target until cfg_free; NULL = unset)
 *   CFG_INT                        int64_t
 *   CFG_BOOL                       bool         true/false/yes/no/on/off/1/0, any case
 *   CFG_DURATION                   int64_t ms   "250ms" "30s" "5m" "2h" "1d"; bare integer = ms
 *   CFG_SIZE                       int64_t B    "100" "100B" "512KiB" "4MiB" "1GiB" "1TiB";
 *                                               "4KB" "4MB" "4GB" "4TB" are powers of 1000
 *   CFG_STRLIST                    cfg_strlist  YAML sequence; env and defaults: comma-separated
 * A CFG_SECRET may instead be given as `<key>_file` (YAML) or CONFETTI_<SECTION>_<KEY>_FILE (env):
 * a path whose contents, without trailing newlines, are the value (Kubernetes Secret mounts). */
typedef enum {
    CFG_STR,
    CFG_SECRET,
    CFG_INT,
    CFG_BOOL,
    CFG_DURATION,
    CFG_SIZE,
    CFG_STRLIST,
    CFG_ENUM
} cfg_type;

typedef struct cfg_strlist {
    char **items;
    size_t n;
} cfg_strlist;

/* One line per option. section+key name it in YAML (`section:\n  key: value`) and in the
 * environment (CONFETTI_<SECTION>_<KEY>, upper-cased, '.' and '-' become '_'). */
typedef struct cfg_field {
    const char *section, *key;
    cfg_type type;
    size_t offset;              /* offsetof(target struct, field) */
    const char *def;            /* default as text, parsed like an env value; NULL = none */
    int64_t min, max;           /* inclusive bounds for INT/DURATION/SIZE; 0,0 = unbounded */
    bool required;              /* must be set by default, file or environment */
    const char *const *choices; /* CFG_ENUM: NULL-terminated list of allowed values */
    const char *help;           /* one line, shown as a comment by cfg_dump */
} cfg_field;

/* One option line with designated initializers for the rest (so -Wextra stays quiet):
 *   CFG_FIELD("rpc", "workers", CFG_INT, rpc_conf, workers, .def = "4", .min = 1, .max = 64,
 *             .help = "worker threads"), */
#define CFG_FIELD(section_, key_, type_, struct_, member_, ...)                                    \
    {                                                                                              \
        .section = (section_), .key = (key_), .type = (type_),                                     \
        .offset = offsetof(struct_, member_), __VA_ARGS__                                          \
    }

/* A table of fields and the struct they fill. Several schemas may share a section (a common
 * "rpc" table plus a service's own keys); the same section+key in two schemas is a programmer
 * error and asserts. */
typedef struct cfg_schema {
    const cfg_field *fields;
    size_t nfields;
    void *target;
} cfg_schema;

/* Fills every schema's target from, in rising precedence: defaults, the YAML file at path (NULL:
 * none), and env (an environ-style NULL-terminated array: pass `environ`; NULL = none). Targets
 * must not own values yet (zeroed, or after cfg_free); cfg_load zeroes their fields first.
 * Blocks on file reads.
 *
 * Errors return CF_INVALID_ARGUMENT with targets freed and one line in err (truncated to errlen):
 *   "FILE:LINE:COL: section.key: what is wrong"      (file; libyaml marks, 1-based)
 *   "env CONFETTI_RPC_WORKERS: rpc.workers: ..."      (environment variable)
 *   "default: section.key: ..."                       (a schema's own default does not parse)
 *   "FILE: section.key: required ..."                 (required and set nowhere; "config" if no
 * file) for an unknown section or key, wrong shape, bad value, duplicate key, a secret set both
 * directly and as _file in one layer, an unreadable or oversized file, a YAML syntax error or
 * alias. CONFETTI_* variables whose section is in no schema are ignored (other tools use the
 * prefix, other processes have other sections); one naming a known section but no known key is an
 * error (in an environment shared by several processes, give such keys their process's scope:
 * cfg_load_scoped). Secret values never appear in err. */
cf_code cfg_load(const cfg_schema *schemas, size_t nschemas, const char *path, char *const *env,
                 char *err, size_t errlen);

/* cfg_load for the process whose environment scope is `scope` ("catalog"), among `scopes` (every
 * process's, NULL-terminated; NULL = only scope). Besides CONFETTI_<SECTION>_<KEY>, which every
 * process reads, the environment may address one process: CONFETTI_<SCOPE>__<SECTION>_<KEY>
 * (scope upper-cased, two underscores), so one env file or ConfigMap can hold every process's
 * overrides. Such a variable wins over the unscoped one; the process it names refuses it if it
 * names no known section or key, the others ignore it; a scope in no process's list is refused
 * by all. cfg_load is this with no scope: scoped variables are ignored. */
cf_code cfg_load_scoped(const char *scope, const char *const *scopes, const cfg_schema *schemas,
                        size_t nschemas, const char *path, char *const *env, char *err,
                        size_t errlen);

/* Frees the strings and lists cfg_load put in the targets and resets them to NULL/empty (secret
 * strings are wiped first). Safe to call twice, or after a failed cfg_load. */
void cfg_free(const cfg_schema *schemas, size_t nschemas);

/* Writes the effective configuration to out as YAML, grouped by section in schema order, each key
 * preceded by comments: its help, then its default and environment names
 * ("# default 4MiB; env CONFETTI_RPC_MAX_MESSAGE or CONFETTI_CATALOG__RPC_MAX_MESSAGE" with
 * cfg_dump_scoped's scope); secrets appear as "<redacted>", unset strings as a comment. */
void cfg_dump(const cfg_schema *schemas, size_t nschemas, FILE *out);
void cfg_dump_scoped(const char *scope, const cfg_schema *schemas, size_t nschemas, FILE *out);

#endif
