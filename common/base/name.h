/* name.h — the one rule for human-readable names (issue 24 item 5; docs/api.md, "Names"): a
 * user's, a room's, a prize's and an app's name all go through cf_name_check on every create
 * and update, so that "   ", "" and a name with a line break in it are refused alike and two
 * names that look the same are stored the same.
 *
 * The rule: valid UTF-8; white space at either end trimmed (Unicode White_Space: the ASCII
 * blanks, U+0085, U+00A0, the Zs/Zl/Zp separators); what remains not empty; no control
 * characters (Unicode category Cc) nor line/paragraph separators inside; at most max_chars
 * code points; stored in Unicode Normalization Form C (utf8proc). */
#ifndef CONFETTI_BASE_NAME_H
#define CONFETTI_BASE_NAME_H

#include <stdbool.h>
#include <stddef.h>

#include "base/arena.h"

/* true with *out the canonical name (trimmed, NFC; in a), or false with *why saying what is
 * wrong ("must not be empty", ...: a field violation's description). in NULL counts as "". */
bool cf_name_check(arena *a, const char *in, size_t max_chars, char **out, const char **why);

#endif
