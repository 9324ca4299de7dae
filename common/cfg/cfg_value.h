/* cfg_value.h — inside cfg: typed values in target slots (parse text into a slot, format
 * durations and sizes, zero and free slots). Not for use outside common/cfg/. */
#ifndef CONFETTI_CFG_VALUE_H
#define CONFETTI_CFG_VALUE_H

#include <stdbool.h>
#include <stddef.h>

#include "cfg/cfg.h"

/* Parses text as f's type (a CFG_STRLIST is comma-separated), checks bounds and choices, and on
 * success replaces the previous value of f's slot in target, freeing it. On failure writes why
 * (quoting the text, except for secrets, which never fail) and leaves the slot unchanged. */
bool cfgv_set(const cfg_field *f, void *target, const char *text, char *why, size_t whylen);

/* Moves list into f's CFG_STRLIST slot (freeing the old list); list is left empty. */
void cfgv_set_list(const cfg_field *f, void *target, cfg_strlist *list);

/* Appends a copy of s (or of its first n bytes) to l. */
void cfgv_list_push(cfg_strlist *l, const char *s, size_t n);

/* Frees the strings of l and resets it to empty. */
void cfgv_list_free(cfg_strlist *l);

/* Resets f's slot to zero/NULL/empty without freeing (slots of a fresh target hold garbage). */
void cfgv_zero(const cfg_field *f, void *target);

/* Frees f's slot (wiping secrets first) and resets it to NULL/empty. */
void cfgv_clear(const cfg_field *f, void *target);

/* "CONFETTI_[<SCOPE>__]<SECTION>_<KEY><suffix>": the environment name of a key, upper-cased,
 * '.' and '-' as '_' (scope NULL: none). Caller frees. */
char *cfgv_env_name(const char *scope, const char *section, const char *key, const char *suffix);

/* Formats v of type t (INT, DURATION or SIZE) as text cfgv_set accepts, in the largest exact
 * unit ("90s", "4MiB"). */
void cfgv_format(cfg_type t, int64_t v, char *buf, size_t len);

#endif
