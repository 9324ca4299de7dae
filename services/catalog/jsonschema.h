/* jsonschema.h — the JSON Schema subset of app manifests (SPEC §3): type, properties,
 * required, enum, minimum, maximum, minLength, maxLength, pattern, items, default,
 * additionalProperties (plus the annotations title, description, $schema, $comment).
 *
 * Two jobs: jsonschema_check() says whether a document is a schema of this subset (a manifest's
 * settingsSchema is checked when it is published), and jsonschema_validate() checks a value
 * against a schema that passed the check (an app's settings). Both report every problem, each
 * with the JSON path of the offending node and a sentence a person understands, through a
 * callback; neither blocks, and neither allocates beyond a path buffer on the stack except for
 * patterns (compiled into the run's cache, matched with the run's scratch). Schemas and values
 * are borrowed jansson trees. Recursion follows the input's nesting, which callers bound
 * (protobuf Struct input: PBJSON_MAX_DEPTH). `pattern` is an ECMA-262 regular expression run by
 * PCRE2 (pattern.h), searched anywhere in the string as JSON Schema does: compiled once into the
 * run's cache, matched within the run's budget; a value the budget cannot decide is a problem
 * at its path ("cannot be checked…"), never a stall. */
#ifndef CONFETTI_CATALOG_JSONSCHEMA_H
#define CONFETTI_CATALOG_JSONSCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "pattern.h"

/* Reports no more than this many problems per check or validation (the rest are counted). */
#define JSONSCHEMA_MAX_ERRORS 100
/* Longest path reported; deeper paths are cut with "…". */
#define JSONSCHEMA_PATH_MAX 512
/* Longest `pattern` accepted, in bytes. */
#define JSONSCHEMA_PATTERN_MAX PATTERN_MAX_LENGTH

/* Called once per problem: path like "settings.tiers[2].name" or `settings["a b"]`, message
 * like "must be at least 1". Both borrowed for the duration of the call. */
typedef void (*jsonschema_emit)(void *ud, const char *path, const char *message);

typedef struct jsonschema_report {
    jsonschema_emit emit;
    void *ud;
    size_t count; /* problems found (including those past JSONSCHEMA_MAX_ERRORS, not emitted) */
} jsonschema_report;

/* Checks that schema is a schema of the subset: an object whose known keywords have the right
 * shape (type names, non-negative integer lengths, a pattern pattern_check accepts, unique
 * string `required`, non-empty `enum`, `minimum` <= `maximum`, a `default` that is valid against
 * its own schema…) and no other keyword (a typo such as "minLenght" is reported, not ignored).
 * root is the path of the schema itself ("settingsSchema"). Patterns are compiled into pr's
 * cache and defaults matched within pr's budget. Returns true if no problem. */
bool jsonschema_check(const json_t *schema, const char *root, pattern_run *pr,
                      jsonschema_report *r);

/* Validates value against schema (which must have passed jsonschema_check; an unchecked schema
 * is validated best-effort, never crashes). root is the path of the value ("settings"). Numbers
 * compare by value (1 and 1.0 are equal; "integer" means no fractional part), lengths count
 * Unicode code points. Patterns run within pr's budget (one run per validation). Returns true if
 * valid. */
bool jsonschema_validate(const json_t *schema, const json_t *value, const char *root,
                         pattern_run *pr, jsonschema_report *r);

#endif
