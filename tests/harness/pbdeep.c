/* pbdeep.c — hostile protobuf bytes for the nesting tests (see pbdeep.h). */
#include "pbdeep.h"
#include "th.h"
#include "base/xmalloc.h"

#include <stdlib.h>
#include <string.h>

void th_pbw_init(th_pbw *w, size_t cap)
{
    w->buf = xmalloc(cap ? cap : 1);
    w->cap = cap;
    w->pos = cap;
}

void th_pbw_free(th_pbw *w)
{
    free(w->buf);
    w->buf = NULL;
}

const uint8_t *th_pbw_data(const th_pbw *w)
{
    return w->buf + w->pos;
}

size_t th_pbw_len(const th_pbw *w)
{
    return w->cap - w->pos;
}

void th_pbw_raw(th_pbw *w, const void *p, size_t n)
{
    if (n > w->pos)
        fail_msg("th_pbw: %zu bytes do not fit", w->cap + n - w->pos);
    w->pos -= n;
    memcpy(w->buf + w->pos, p, n);
}

void th_pbw_varint(th_pbw *w, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    do {
        tmp[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v)
            tmp[n] |= 0x80;
        n++;
    } while (v);
    th_pbw_raw(w, tmp, n);
}

void th_pbw_wrap(th_pbw *w, uint32_t field, size_t mark)
{
    th_pbw_varint(w, th_pbw_len(w) - mark);
    th_pbw_varint(w, (uint64_t)field << 3 | 2);
}

void th_pbw_string(th_pbw *w, uint32_t field, const char *s)
{
    size_t mark = th_pbw_len(w);
    th_pbw_raw(w, s, strlen(s));
    th_pbw_wrap(w, field, mark);
}

void th_pbw_deep_value(th_pbw *w, size_t levels)
{
    /* from the innermost out: level i (1 = outermost) is a Value when odd, a ListValue when
     * even; Value.list_value is field 6, ListValue.values field 1 */
    for (size_t i = levels; i > 1; i--)
        th_pbw_wrap(w, i % 2 == 0 ? 6 : 1, 0);
}

void th_pb_deep_struct_field(uint32_t field, size_t depth, uint8_t **out, size_t *len)
{
    if (depth < 4)
        fail_msg("th_pb_deep_struct_field: depth %zu < 4", depth);
    th_pbw w;
    th_pbw_init(&w, 16 * depth + 64);
    th_pbw_deep_value(&w, depth - 3); /* the Value at level 4 and what is below it */
    th_pbw_wrap(&w, 2, 0);            /* FieldsEntry.value */
    th_pbw_string(&w, 1, "k");        /* FieldsEntry.key */
    th_pbw_wrap(&w, 1, 0);            /* Struct.fields */
    th_pbw_wrap(&w, field, 0);        /* the message's Struct field */
    *len = th_pbw_len(&w);
    *out = xmalloc(*len ? *len : 1);
    memcpy(*out, th_pbw_data(&w), *len);
    th_pbw_free(&w);
}
