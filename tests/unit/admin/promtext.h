/* promtext.h — a strict little reader of Prometheus text format 0.0.4 for the admin tests:
 * checks every line's shape and collects the samples. */
#ifndef CONFETTI_TESTS_PROMTEXT_H
#define CONFETTI_TESTS_PROMTEXT_H

#include <stdbool.h>
#include <stddef.h>

typedef struct prom_sample {
    char *name;
    char *labels; /* the text between the braces, exactly as rendered ("" if none) */
    double value;
} prom_sample;

typedef struct prom_page {
    prom_sample *samples;
    size_t n;
} prom_page;

/* Parses text of len bytes. On a malformed line returns false and describes it in err.
 * Checks: lines end in \n; HELP and TYPE once per family, TYPE before its samples; metric and
 * label names are legal; label values are quoted, use only \\ \" \n escapes and are UTF-8;
 * values are floats, +Inf, -Inf or NaN; histogram samples are _bucket (with le), _sum, _count. */
bool prom_parse(const char *text, size_t len, prom_page *out, char *err, size_t errlen);

/* Value of the sample name{labels}; false if there is none. */
bool prom_get(const prom_page *p, const char *name, const char *labels, double *value);

/* How many samples are called name. */
size_t prom_count(const prom_page *p, const char *name);

void prom_page_free(prom_page *p);

#endif
