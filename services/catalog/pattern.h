/* pattern.h — JSON Schema `pattern` (ECMA-262 regular expressions) on PCRE2: compiled once and
 * kept in a bounded cache shared by the workers, matched with a bounded cost.
 *
 * Why a budget and not only PCRE2's own limits: pcre2_match's match limit is counted per
 * starting position (it is reset at each bumpalong), and a greedy item scanning the rest of the
 * subject costs one step however long the scan, so `(a|a){0,12}[cd]` or `x*a*[cd]` on 256 KiB
 * stay within every PCRE2 limit and still run for seconds to minutes. Patterns are therefore
 * compiled with PCRE2_AUTO_CALLOUT, and a callout charges each step 1 + the characters the
 * matcher moved since the previous step, against a budget shared by all the matches of one
 * validation (pattern_run); the thread's CPU time is checked as a backstop. Memory is bounded by
 * PCRE2's heap limit (interpreter) and a fixed JIT stack.
 *
 * Dialect (docs/catalog.md "Patterns"): PCRE2 with UTF, ALT_BSUX + EXTRA_ALT_BSUX (\uhhhh,
 * \u{h…}, \xhh as in ECMA-262), DOLLAR_ENDONLY ($ is the end of the string only),
 * MATCH_UNSET_BACKREF (a reference to an unset group matches empty, as in ECMA-262), any Unicode
 * newline ends `.`; PCRE2 start-of-pattern options and verbs `(*…)` and callouts `(?C…)` are not
 * ECMA-262 and are refused, so the bounds above cannot be switched off from inside a pattern.
 *
 * Lifetime: pattern_cache_new → (pattern_check / pattern_run_new → pattern_search… →
 * pattern_run_free, from any threads) → pattern_cache_free once no run is left. */
#ifndef CONFETTI_CATALOG_PATTERN_H
#define CONFETTI_CATALOG_PATTERN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest pattern accepted, in bytes. */
#define PATTERN_MAX_LENGTH 512
/* Largest compiled pattern accepted (PCRE2_INFO_SIZE): bounds compile and JIT time. */
#define PATTERN_MAX_COMPILED (32 * 1024)
/* Memory one match may use: the interpreter's backtracking heap and the JIT's stack. */
#define PATTERN_HEAP_LIMIT_KIB 4096
#define PATTERN_JIT_STACK_MAX  (1024 * 1024)

typedef struct pattern_limits {
    int64_t steps;       /* catalog.pattern_steps: matcher steps per validation */
    int64_t cpu_ms;      /* catalog.pattern_cpu: CPU time per validation, ms (backstop) */
    int64_t cache_bytes; /* catalog.pattern_cache: compiled patterns kept, bytes */
} pattern_limits;

/* The compiled patterns of the process, shared by every worker (thread-safe). */
typedef struct pattern_cache pattern_cache;

/* A new, empty cache with these limits (copied). Allocation failure aborts. */
pattern_cache *pattern_cache_new(const pattern_limits *limits);
/* Frees the cache and every pattern in it; no run may still use it. NULL is a no-op. */
void pattern_cache_free(pattern_cache *c);

/* What the cache holds now (compiled and refused patterns), and how many compilations it has
 * done since it was made. */
typedef struct pattern_stats {
    size_t entries, bytes;
    uint64_t compiles;
} pattern_stats;
pattern_stats pattern_cache_stats(pattern_cache *c);

/* Publish-time check: true if text (len bytes, UTF-8) is a pattern we accept, and then it is
 * compiled and cached. Otherwise writes a sentence for a person into why: too long, a
 * construct refused (see above), PCRE2's syntax error with its character offset, or too
 * large once compiled. Never blocks beyond compiling (bounded by the length limits). */
bool pattern_check(pattern_cache *c, const char *text, size_t len, char *why, size_t whylen);

/* One validation's matching: its budget (steps and CPU time, counted from pattern_run_new) and
 * scratch (match data, JIT stack, made on first use). Used by one thread only: the CPU time is
 * that thread's. */
typedef struct pattern_run pattern_run;

pattern_run *pattern_run_new(pattern_cache *c);
void pattern_run_free(pattern_run *r);
/* The cache the run compiles into (borrowed). */
pattern_cache *pattern_run_cache(const pattern_run *r);

typedef enum pattern_result {
    PATTERN_MATCH,    /* the pattern matches somewhere in the subject */
    PATTERN_NO_MATCH, /* it matches nowhere */
    PATTERN_BUDGET,   /* not decided within the run's step or CPU budget (the run is spent:
                         every later search of the run answers this at once) */
    PATTERN_MEMORY,   /* not decided within the memory one match may use */
    PATTERN_INVALID,  /* the pattern does not compile (or is refused) */
} pattern_result;

/* Searches subject (n bytes of valid UTF-8, NULs allowed) for the pattern text (plen bytes),
 * anywhere in it as JSON Schema does. Compiles the pattern on a cache miss. */
pattern_result pattern_search(pattern_run *r, const char *text, size_t plen, const char *subject,
                              size_t n);

/* Steps the run has used so far (for tests and measurements). */
uint64_t pattern_run_steps(const pattern_run *r);

#endif
