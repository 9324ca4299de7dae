/* filter.c — see filter.h. */
#include "filter.h"

#include <string.h>

size_t draw_filter_positions(const char *const *ids, size_t n, const char *const *ex, size_t nex,
                             size_t *xpos)
{
    size_t nx = 0, lo = 0; /* every list id before lo is below the next exclusion */
    for (size_t j = 0; j < nex && lo < n; j++) {
        const char *x = ex[j];
        /* gallop: probe lo, lo + 1, lo + 3, lo + 7, … until an id is not below x */
        size_t a = lo, b = lo, step = 1;
        int c = -1;
        while (b < n && (c = strcmp(ids[b], x)) < 0) {
            a = b + 1;
            b = a + step - 1 < n ? a + step - 1 : n;
            step *= 2;
        }
        if (b < n && c == 0) { /* ids are unique: this is x */
            xpos[nx++] = b;
            lo = b + 1;
            continue;
        }
        /* ids[a..b) are unknown, ids[b] (if any) is above x: binary search */
        while (a < b) {
            size_t mid = a + (b - a) / 2;
            c = strcmp(ids[mid], x);
            if (c == 0) {
                a = mid;
                break;
            }
            if (c < 0)
                a = mid + 1;
            else
                b = mid;
        }
        if (a < b) { /* found at a (the loop broke) */
            xpos[nx++] = a;
            lo = a + 1;
        } else {
            lo = a; /* x is not in the list: the next exclusion starts at its place */
        }
    }
    return nx;
}

void draw_filter_digest(const char *lines, const size_t *off, size_t n, const size_t *xpos,
                        size_t nx, uint8_t out[DRAW_DIGEST_LEN])
{
    draw_digest *d = draw_digest_new();
    size_t from = 0;
    for (size_t j = 0; j <= nx; j++) {
        size_t to = j < nx ? xpos[j] : n;
        if (to > from)
            draw_digest_add_lines(d, lines + off[from], off[to] - off[from]);
        from = to + 1;
    }
    draw_digest_finish(d, out);
}

size_t draw_filter_index(const size_t *xpos, size_t nx, size_t i)
{
    size_t a = 0, b = nx; /* count the j with xpos[j] - j <= i: a prefix of 0..nx */
    while (a < b) {
        size_t mid = a + (b - a) / 2;
        if (xpos[mid] - mid <= i)
            a = mid + 1;
        else
            b = mid;
    }
    return i + a;
}
