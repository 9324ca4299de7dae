/* name.c — see name.h. Normalization and character classes from utf8proc (Debian
 * libutf8proc), not hand-written tables. */
#include "base/name.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

static bool is_space(utf8proc_int32_t c)
{
    if (c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r' || c == 0x85)
        return true;
    utf8proc_category_t k = utf8proc_category(c);
    return k == UTF8PROC_CATEGORY_ZS || k == UTF8PROC_CATEGORY_ZL || k == UTF8PROC_CATEGORY_ZP;
}

bool cf_name_check(arena *a, const char *in, size_t max_chars, char **out, const char **why)
{
    const char *msg_long = arena_printf(a, "must be at most %zu characters", max_chars);
    if (!in)
        in = "";
    /* a byte bound first, so that nothing huge is normalized (4 bytes a code point, and room
     * for trimmed blanks) */
    if (strlen(in) > max_chars * 4 + 256) {
        *why = msg_long;
        return false;
    }
    utf8proc_uint8_t *nfc = utf8proc_NFC((const utf8proc_uint8_t *)in);
    if (!nfc) {
        *why = "must be valid UTF-8";
        return false;
    }
    /* the code points' byte offsets: the first and last that are not white space */
    utf8proc_ssize_t len = (utf8proc_ssize_t)strlen((const char *)nfc);
    utf8proc_ssize_t i = 0, start = -1, end = 0;
    while (i < len) {
        utf8proc_int32_t c;
        utf8proc_ssize_t n = utf8proc_iterate(nfc + i, len - i, &c);
        if (n <= 0) { /* cannot happen after utf8proc_NFC */
            free(nfc);
            *why = "must be valid UTF-8";
            return false;
        }
        if (!is_space(c)) {
            if (start < 0)
                start = i;
            end = i + n;
        }
        i += n;
    }
    if (start < 0) {
        free(nfc);
        *why = "must not be empty or only white space";
        return false;
    }
    /* a control character counts only inside the trimmed name */
    bool control = false;
    size_t inner = 0;
    for (i = start; i < end;) {
        utf8proc_int32_t c;
        utf8proc_ssize_t n = utf8proc_iterate(nfc + i, end - i, &c);
        if (utf8proc_category(c) == UTF8PROC_CATEGORY_CC || c == 0x2028 || c == 0x2029)
            control = true;
        inner++;
        i += n;
    }
    if (control) {
        free(nfc);
        *why = "must not contain control characters or line breaks";
        return false;
    }
    if (inner > max_chars) {
        free(nfc);
        *why = msg_long;
        return false;
    }
    *out = arena_strndup(a, (const char *)nfc + start, (size_t)(end - start));
    free(nfc);
    return true;
}
