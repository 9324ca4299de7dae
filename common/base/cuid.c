/* cuid.c — CUID generation. Randomness from getrandom(2) (kernel CSPRNG). */
#include "cuid.h"
#include "clock.h"
#include "random.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

static const char b36[] = "0123456789abcdefghijklmnopqrstuvwxyz";

static void put36(char *out, uint64_t v, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        out[i] = b36[v % 36];
        v /= 36;
    }
}

static atomic_uint_fast32_t cuid_counter;

static uint32_t fingerprint_value;
static pthread_once_t fingerprint_once = PTHREAD_ONCE_INIT;

/* Computed once per process: gethostname is a system call, and the pid does not change for a
 * process that does not fork after its first id (our services never do). */
static void fingerprint_init(void)
{
    char host[256] = {0};
    gethostname(host, sizeof host - 1);
    uint32_t h = 2166136261u; /* FNV-1a of host, then pid */
    for (const char *p = host; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    h ^= (uint32_t)getpid() * 2654435761u;
    fingerprint_value = h;
}

static uint32_t fingerprint(void)
{
    pthread_once(&fingerprint_once, fingerprint_init);
    return fingerprint_value;
}

void cuid_new(char out[CUID_LEN + 1])
{
    uint32_t count = (uint32_t)atomic_fetch_add(&cuid_counter, 1);
    uint64_t rnd;
    cf_random_bytes(&rnd, sizeof rnd);
    out[0] = 'c';
    put36(out + 1, (uint64_t)cf_wall_ms(), 8);
    put36(out + 9, count % (36u * 36 * 36 * 36), 4);
    put36(out + 13, fingerprint() % (36u * 36 * 36 * 36), 4);
    put36(out + 17, rnd % 2821109907456ull /* 36^8 */, 8);
    out[CUID_LEN] = '\0';
}

bool cuid_valid(const char *s)
{
    if (!s || strlen(s) != CUID_LEN || s[0] != 'c')
        return false;
    for (int i = 1; i < CUID_LEN; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z')))
            return false;
    return true;
}
