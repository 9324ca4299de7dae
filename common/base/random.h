/* random.h — cryptographically secure randomness from the kernel (getrandom(2)). */
#ifndef CONFETTI_BASE_RANDOM_H
#define CONFETTI_BASE_RANDOM_H

#include <stddef.h>
#include <stdint.h>

/* Fills buf with n CSPRNG bytes. Retries on EINTR; aborts if the kernel refuses (never
 * silently weak). */
void cf_random_bytes(void *buf, size_t n);

/* Uniform integer in [0, bound) without modulo bias (rejection sampling). bound > 0. */
uint64_t cf_random_below(uint64_t bound);

/* Writes n random bytes as URL-safe base64 without padding into out (size >= 4*n/3+2). */
void cf_random_token(char *out, size_t nbytes);

#endif
