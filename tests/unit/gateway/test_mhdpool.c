/* test_mhdpool.c — giving an upgraded connection's libmicrohttpd pool back (mhdpool.h):
 *   - the pool as MHD 0.9.75 makes it for our limit (one mmap of the limit rounded up to pages;
 *     its first read = the pool's start, half its size): every page is given back (not resident
 *     any more, reads as zeros);
 *   - the malloc'd fall-back (16-byte rounding): only the whole pages inside the block go, the
 *     bytes around them (and whatever is beside the block) are untouched;
 *   - any other geometry (a first read that is not half the pool this version makes): nothing;
 *   - the loaded libmicrohttpd is the checked version. */
#include "th.h"
#include "mhdpool.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static size_t page(void)
{
    return (size_t)sysconf(_SC_PAGESIZE);
}

static size_t resident_pages(void *p, size_t len)
{
    size_t n = (len + page() - 1) / page(), r = 0;
    unsigned char *v = calloc(n, 1);
    assert_int_equal(mincore(p, len, v), 0);
    for (size_t i = 0; i < n; i++)
        r += v[i] & 1;
    free(v);
    return r;
}

static void mapped_pool_is_given_back(void **state)
{
    (void)state;
    size_t limit = 129280; /* the gateway's limit at the defaults (http.c) */
    size_t size = (limit + page() - 1) / page() * page();
    uint8_t *pool = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(pool != MAP_FAILED);
    memset(pool, 0xab, size);
    assert_int_equal(resident_pages(pool, size), size / page());
    assert_int_equal(gw_mhdpool_release(pool, size / 2, limit), size);
    assert_int_equal(resident_pages(pool, size), 0);
    for (size_t i = 0; i < size; i += 997)
        assert_int_equal(pool[i], 0);
    munmap(pool, size);
}

static void other_geometry_is_kept(void **state)
{
    (void)state;
    size_t limit = 129280;
    size_t size = (limit + page() - 1) / page() * page();
    uint8_t *pool = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(pool != MAP_FAILED);
    memset(pool, 0xab, size);
    /* a first read that is not half of what this version makes for the limit: not the layout
     * that was checked (something allocated before it, another version, another limit) */
    assert_int_equal(gw_mhdpool_release(pool, size / 2 - 16, limit), 0);
    assert_int_equal(gw_mhdpool_release(pool + page(), size / 2 - page(), limit), 0);
    assert_int_equal(gw_mhdpool_release(pool, size / 2, limit * 2), 0);
    assert_int_equal(gw_mhdpool_release(NULL, 0, limit), 0);
    assert_int_equal(resident_pages(pool, size), size / page());
    for (size_t i = 0; i < size; i++)
        if (pool[i] != 0xab)
            fail_msg("byte %zu changed", i);
    munmap(pool, size);
}

static void malloced_pool_keeps_its_edges(void **state)
{
    (void)state;
    /* MHD's malloc fall-back: the limit rounded up to 16 bytes; here placed 48 bytes after a
     * page boundary inside a larger mapping, so bytes of "someone else" lie on both sides */
    size_t limit = 5 * page() + 100;
    size_t size = (limit + 15) / 16 * 16;
    size_t span = size + 4 * page();
    uint8_t *m = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(m != MAP_FAILED);
    memset(m, 0xcd, span);
    uint8_t *pool = m + page() + 48;
    size_t given = gw_mhdpool_release(pool, size / 2, limit);
    uintptr_t a = ((uintptr_t)pool + page() - 1) & ~(uintptr_t)(page() - 1);
    uintptr_t b = ((uintptr_t)pool + size) & ~(uintptr_t)(page() - 1);
    assert_int_equal(given, b - a);
    assert_true(given >= 4 * page());
    for (uint8_t *p = m; p < m + span; p++) {
        bool inside = (uintptr_t)p >= a && (uintptr_t)p < b;
        if (*p != (inside ? 0 : 0xcd))
            fail_msg("byte %td: %#x", p - m, *p);
    }
    munmap(m, span);
}

static void the_loaded_library_was_checked(void **state)
{
    (void)state;
    char why[256] = "";
    assert_true(gw_mhdpool_verified(why, sizeof why));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(mapped_pool_is_given_back),
        cmocka_unit_test(other_geometry_is_kept),
        cmocka_unit_test(malloced_pool_keeps_its_edges),
        cmocka_unit_test(the_loaded_library_was_checked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
