/* th_histo.c — see th_histo.h. Parses the text metrics_render produces. */
#include "th_histo.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void th_histo_read(metrics *m, const char *method, th_histo *out)
{
    memset(out, 0, sizeof *out);
    size_t len;
    char *text = metrics_render(m, &len);
    char want[256];
    snprintf(want, sizeof want, "method=\"%s\",le=\"", method);
    static const char family[] = "confetti_rpc_request_duration_seconds_bucket{";
    for (char *line = text; line && *line && out->n < TH_HISTO_MAX;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        char *at = strncmp(line, family, sizeof family - 1) == 0 ? strstr(line, want) : NULL;
        if (at) {
            char *le = at + strlen(want), *close = strchr(le, '"');
            char *val = close ? strrchr(close, ' ') : NULL;
            if (close && val) {
                *close = '\0';
                out->le[out->n] = strcmp(le, "+Inf") == 0 ? INFINITY : strtod(le, NULL);
                out->cum[out->n] = strtoull(val + 1, NULL, 10);
                out->n++;
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    free(text);
}

/* The count in bucket i between the snapshots (cumulative). */
static uint64_t between(const th_histo *b, const th_histo *a, size_t i)
{
    uint64_t before = i < b->n ? b->cum[i] : 0;
    return a->cum[i] - before;
}

double th_histo_quantile_us(const th_histo *before, const th_histo *after, double q)
{
    if (after->n == 0)
        return -1;
    uint64_t total = between(before, after, after->n - 1);
    if (total == 0)
        return -1;
    double rank = q * (double)total;
    for (size_t i = 0; i < after->n; i++) {
        double c = (double)between(before, after, i);
        if (c < rank)
            continue;
        double lo = i ? after->le[i - 1] : 0, hi = after->le[i];
        double below = i ? (double)between(before, after, i - 1) : 0;
        if (isinf(hi))
            return lo * 1e6; /* past the last bound: that bound is all one can say */
        double in = c - below;
        return (lo + (hi - lo) * (in > 0 ? (rank - below) / in : 1)) * 1e6;
    }
    return -1;
}

double th_histo_share_within(const th_histo *before, const th_histo *after, double le_s)
{
    if (after->n == 0)
        return -1;
    uint64_t total = between(before, after, after->n - 1);
    if (total == 0)
        return -1;
    for (size_t i = 0; i < after->n; i++)
        if (fabs(after->le[i] - le_s) < 1e-12)
            return (double)between(before, after, i) / (double)total;
    return -1;
}
