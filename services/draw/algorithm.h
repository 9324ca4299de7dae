/* algorithm.h — the draw algorithm "confetti-fy-hmac-sha256/1": a pure module (no I/O, no
 * global state) shared by the service, `confetti draw verify` and the tests.
 *
 * Given a 256-bit seed, the ordered list of eligible participant ids and a count k, it picks k
 * distinct entries uniformly at random without replacement:
 *
 *   stream    block i (i = 0, 1, 2, …) = HMAC-SHA256(key = seed, message = i as 8 bytes,
 *             big-endian); the stream is block 0 ‖ block 1 ‖ …, read as consecutive unsigned
 *             64-bit big-endian integers (4 per block, in order).
 *   below(b)  uniform integer in [0, b): limit = 2^64 − (2^64 mod b); take the next stream
 *             integer x until x < limit (rejection: no modulo bias); return x mod b.
 *   select    partial Fisher–Yates over positions a = [0, 1, …, n−1]:
 *             for j = 0 … k−1: r = j + below(n − j); swap a[j], a[r]; winner j = list[a[j]].
 *   digest    SHA-256 of the list written as each id followed by one LF byte (0x0A), in order:
 *             exactly the bytes of a file with one id per line, so `sha256sum ELIGIBLE.txt`
 *             prints it.
 *
 * docs/draw.md has the same definition with a reference implementation in Python. */
#ifndef CONFETTI_DRAW_ALGORITHM_H
#define CONFETTI_DRAW_ALGORITHM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DRAW_ALGORITHM  "confetti-fy-hmac-sha256/1"
#define DRAW_SEED_LEN   32
#define DRAW_DIGEST_LEN 32
#define DRAW_MAX_ID_LEN 128

/* The random stream of one seed. Plain data: init, then draw_below as often as needed. */
typedef struct draw_stream {
    uint8_t seed[DRAW_SEED_LEN];
    uint64_t counter; /* next block number */
    uint8_t block[32];
    unsigned used; /* bytes of block consumed (32 = empty) */
} draw_stream;

void draw_stream_init(draw_stream *s, const uint8_t seed[DRAW_SEED_LEN]);
/* The next stream integer (64 bits, big-endian). */
uint64_t draw_stream_next(draw_stream *s);
/* Uniform in [0, bound) by rejection sampling; bound >= 1. */
uint64_t draw_below(draw_stream *s, uint64_t bound);

/* Picks k distinct positions of a list of n (1 <= k <= n) into out[0..k) in draw order.
 * Memory is O(k) whatever n is (the swaps are kept in a small map). Returns false only when
 * k or n is out of range. Does not block. */
bool draw_select(const uint8_t seed[DRAW_SEED_LEN], uint64_t n, uint64_t k, uint64_t *out);

/* Incremental digest of the ordered eligible list (id ‖ LF for each id). */
typedef struct draw_digest draw_digest;
draw_digest *draw_digest_new(void);
void draw_digest_add(draw_digest *d, const char *id, size_t len);
/* Adds bytes already in the digest's form (ids each followed by LF): a run of a list written
 * that way hashes in one update. */
void draw_digest_add_lines(draw_digest *d, const char *lines, size_t len);
/* Writes the digest and frees d. */
void draw_digest_finish(draw_digest *d, uint8_t out[DRAW_DIGEST_LEN]);
/* One-shot form over ids[0..n). */
void draw_digest_list(const char *const *ids, size_t n, uint8_t out[DRAW_DIGEST_LEN]);

/* Lower-case hex of n bytes into out (2n + 1 bytes). */
void draw_hex(const uint8_t *in, size_t n, char *out);
/* Parses exactly 2n hex digits (either case) into out; false if malformed. */
bool draw_unhex(const char *hex, uint8_t *out, size_t n);

/* The outcome of checking a record against a list (the `confetti draw verify` logic). */
typedef enum draw_verdict {
    DRAW_MATCH = 0,
    DRAW_BAD_ALGORITHM, /* unknown algorithm name/version */
    DRAW_BAD_SEED,      /* seed is not 64 hex digits */
    DRAW_BAD_COUNT,     /* eligible_count or count disagree with the list / winners */
    DRAW_BAD_DIGEST,    /* the list's digest differs from the record's */
    DRAW_BAD_WINNERS,   /* the recomputed winners differ */
} draw_verdict;

/* Recomputes a draw: the list ids[0..n) must have the record's digest and count, and
 * selecting count winners with the seed must give exactly winners[0..nwinners) in order. */
draw_verdict draw_verify(const char *algorithm, const char *seed_hex, const char *digest_hex,
                         int64_t eligible_count, int64_t count, const char *const *ids, size_t n,
                         const char *const *winners, size_t nwinners);
const char *draw_verdict_text(draw_verdict v);

#endif
