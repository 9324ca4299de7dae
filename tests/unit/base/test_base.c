/* test_base.c — the base module: status vocabulary, CUIDs, arena, CSPRNG helpers. */
#include "th.h"
#include "base/arena.h"
#include "base/cuid.h"
#include "base/log.h"
#include "base/name.h"
#include "base/random.h"
#include "base/status.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* SPEC §4: gRPC's codes with gRPC's numbers; SPEC §6: grpc-gateway's HTTP mapping. */
static void test_status_codes_have_grpc_numbers_names_and_http(void **state)
{
    (void)state;
    static const struct {
        cf_code code;
        int number;
        const char *name;
        int http;
    } table[] = {
        {CF_OK, 0, "OK", 200},
        {CF_CANCELLED, 1, "CANCELLED", 499},
        {CF_UNKNOWN, 2, "UNKNOWN", 500},
        {CF_INVALID_ARGUMENT, 3, "INVALID_ARGUMENT", 400},
        {CF_DEADLINE_EXCEEDED, 4, "DEADLINE_EXCEEDED", 504},
        {CF_NOT_FOUND, 5, "NOT_FOUND", 404},
        {CF_ALREADY_EXISTS, 6, "ALREADY_EXISTS", 409},
        {CF_PERMISSION_DENIED, 7, "PERMISSION_DENIED", 403},
        {CF_RESOURCE_EXHAUSTED, 8, "RESOURCE_EXHAUSTED", 429},
        {CF_FAILED_PRECONDITION, 9, "FAILED_PRECONDITION", 400},
        {CF_ABORTED, 10, "ABORTED", 409},
        {CF_OUT_OF_RANGE, 11, "OUT_OF_RANGE", 400},
        {CF_UNIMPLEMENTED, 12, "UNIMPLEMENTED", 501},
        {CF_INTERNAL, 13, "INTERNAL", 500},
        {CF_UNAVAILABLE, 14, "UNAVAILABLE", 503},
        {CF_DATA_LOSS, 15, "DATA_LOSS", 500},
        {CF_UNAUTHENTICATED, 16, "UNAUTHENTICATED", 401},
    };
    assert_int_equal(sizeof table / sizeof *table, CF_CODE_COUNT);
    for (size_t i = 0; i < CF_CODE_COUNT; i++) {
        assert_int_equal(table[i].code, table[i].number);
        assert_string_equal(cf_code_name(table[i].code), table[i].name);
        assert_int_equal(cf_code_http(table[i].code), table[i].http);
        cf_code back;
        assert_true(cf_code_from_name(table[i].name, &back));
        assert_int_equal(back, table[i].code);
    }
    /* numbers from the wire outside the vocabulary become UNKNOWN */
    assert_int_equal(cf_code_from_int(-1), CF_UNKNOWN);
    assert_int_equal(cf_code_from_int(17), CF_UNKNOWN);
    assert_string_equal(cf_code_name(999), "UNKNOWN");
    cf_code out;
    assert_false(cf_code_from_name("NOPE", &out));
}

#define THREADS    8
#define PER_THREAD 20000

static void *make_ids(void *arg)
{
    char *ids = arg;
    for (int i = 0; i < PER_THREAD; i++)
        cuid_new(ids + (size_t)i * (CUID_LEN + 1));
    return NULL;
}

static int cmp_id(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* SPEC §2: ids are CUIDs, collision-resistant, URL-safe, roughly sortable by creation time. */
static void test_cuids_unique_across_threads_and_time_ordered(void **state)
{
    (void)state;
    size_t n = THREADS * PER_THREAD;
    char *ids = malloc(n * (CUID_LEN + 1));
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, make_ids, ids + (size_t)i * PER_THREAD * (CUID_LEN + 1));
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    for (size_t i = 0; i < n; i++)
        assert_true(cuid_valid(ids + i * (CUID_LEN + 1)));
    qsort(ids, n, CUID_LEN + 1, cmp_id);
    for (size_t i = 1; i < n; i++)
        assert_true(strcmp(ids + (i - 1) * (CUID_LEN + 1), ids + i * (CUID_LEN + 1)) < 0);
    free(ids);

    /* ids made a few ms apart sort in creation order */
    char a[CUID_LEN + 1], b[CUID_LEN + 1];
    cuid_new(a);
    struct timespec ts = {0, 3000000};
    nanosleep(&ts, NULL);
    cuid_new(b);
    assert_true(strcmp(a, b) < 0);

    assert_false(cuid_valid("c123"));
    assert_false(cuid_valid("C0000000000000000000000000"));
    assert_false(cuid_valid("cABCDEFGHIJKLMNOPQRSTUVWX"));
    assert_false(cuid_valid("c'; DROP TABLE rooms; --xx"));
    assert_false(cuid_valid(NULL));
}

/* A process that starts several services (the in-process tests) calls log_setup while the
 * threads of the services started before are logging: no data race (ThreadSanitizer reported
 * one on the plain globals; `make test-tsan` runs this). */
static atomic_bool log_stop;

static void *log_a_lot(void *arg)
{
    (void)arg;
    for (int i = 0; !atomic_load(&log_stop); i++)
        log_rid(i % 2000 ? LOG_DEBUG : LOG_ERROR, "rid", "line %d", i); /* a few lines */
    return NULL;
}

static void test_log_setup_while_others_log(void **state)
{
    (void)state;
    atomic_store(&log_stop, false);
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(0, pthread_create(&t[i], NULL, log_a_lot, NULL));
    for (int i = 0; i < 2000; i++)
        log_setup(i % 2 ? "one" : "two", i % 3 ? LOG_INFO : LOG_WARN);
    atomic_store(&log_stop, true);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    log_setup("confetti", LOG_INFO);
}

static void test_arena_allocations_are_aligned_and_survive_growth(void **state)
{
    (void)state;
    arena a;
    arena_init(&a, 256);
    char *strs[200];
    for (int i = 0; i < 200; i++) {
        strs[i] = arena_printf(&a, "string number %d", i);
        assert_int_equal((uintptr_t)strs[i] % _Alignof(max_align_t), 0);
    }
    char *big = arena_zalloc(&a, 10000); /* bigger than a block */
    for (int i = 0; i < 10000; i++)
        assert_int_equal(big[i], 0);
    for (int i = 0; i < 200; i++) {
        char expect[64];
        snprintf(expect, sizeof expect, "string number %d", i);
        assert_string_equal(strs[i], expect);
    }
    arena_reset(&a);
    assert_string_equal(arena_strdup(&a, "after reset"), "after reset");
    ProtobufCAllocator *pa = arena_allocator(&a);
    void *p = pa->alloc(pa->allocator_data, 100);
    assert_non_null(p);
    pa->free(pa->allocator_data, p); /* a no-op, never a crash */
    arena_release(&a);
}

static void test_random_below_is_in_range_and_covers_it(void **state)
{
    (void)state;
    int seen[7] = {0};
    for (int i = 0; i < 7000; i++) {
        uint64_t v = cf_random_below(7);
        assert_true(v < 7);
        seen[v]++;
    }
    for (int i = 0; i < 7; i++)
        assert_true(seen[i] > 700); /* expected 1000 each; 700 is > 9 sigma away */
    assert_int_equal(cf_random_below(1), 0);

    char tok[64];
    cf_random_token(tok, 32); /* 256 bits → 43 URL-safe characters */
    assert_int_equal(strlen(tok), 43);
    for (const char *p = tok; *p; p++)
        assert_non_null(
            strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", *p));
}

/* The one rule for names (issue 24 item 5, base/name.h), as a table: what is refused and why,
 * and the canonical form of what is accepted. */
static void test_names_one_rule(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *out; /* NULL: refused */
        const char *why; /* a word of the refusal */
    } cases[] = {
        {"Gala", "Gala", NULL},
        {"  Gala\t\n", "Gala", NULL},                   /* trimmed */
        {"\xc2\xa0Gala\xe3\x80\x80", "Gala", NULL},     /* NBSP, ideographic space */
        {"Caf\x65\xcc\x81", "Caf\xc3\xa9", NULL},       /* e + U+0301 -> U+00E9 (NFC) */
        {"Jos\xc3\xa9 & co", "Jos\xc3\xa9 & co", NULL}, /* already NFC */
        {"", NULL, "empty"},
        {"   ", NULL, "empty"},
        {"\t\r\n", NULL, "empty"},
        {NULL, NULL, "empty"},     /* JSON null */
        {"a\nb", NULL, "control"}, /* a line break inside */
        {"a\x01"
         "b",
         NULL, "control"},
        {"a\x7f"
         "b",
         NULL, "control"},
        {"a\xc2\x85"
         "b",
         NULL, "control"}, /* U+0085 (C1) */
        {"a\xe2\x80\xa8"
         "b",
         NULL, "control"}, /* U+2028 line separator */
        {"\xff\xfe", NULL, "UTF-8"},
        {"\xc0\xaf", NULL, "UTF-8"},        /* overlong */
        {"0123456789", "0123456789", NULL}, /* exactly the bound */
        {"01234567890", NULL, "at most 10"},
        {"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9",
         "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9",
         NULL}, /* the bound counts characters, not bytes */
    };
    arena a;
    arena_init(&a, 1024);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *out = NULL;
        const char *why = NULL;
        bool ok = cf_name_check(&a, cases[i].in, 10, &out, &why);
        if (cases[i].out) {
            if (!ok)
                fail_msg("case %zu refused: %s", i, why);
            assert_string_equal(out, cases[i].out);
        } else {
            if (ok)
                fail_msg("case %zu accepted as \"%s\"", i, out);
            if (!strstr(why, cases[i].why))
                fail_msg("case %zu: \"%s\" does not say %s", i, why, cases[i].why);
        }
    }
    arena_release(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_codes_have_grpc_numbers_names_and_http),
        cmocka_unit_test(test_cuids_unique_across_threads_and_time_ordered),
        cmocka_unit_test(test_log_setup_while_others_log),
        cmocka_unit_test(test_arena_allocations_are_aligned_and_survive_growth),
        cmocka_unit_test(test_random_below_is_in_range_and_covers_it),
        cmocka_unit_test(test_names_one_rule),
    };
    return cmocka_run_group_tests_name("base", tests, NULL, NULL);
}
