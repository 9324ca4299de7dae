/* test_closer.c — rpc_close_bounded (common/rpc/closer.h): a close that returns is waited for;
 * a close that hangs (nng 1.5.2, nanomsg/nng#1543: a SIGTERMed replica stuck for good in
 * nng_close, found by tools/rehearsal) is abandoned after the bound, so a shutdown always
 * finishes. */
#include "rpc/closer.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <nng/protocol/pubsub0/sub.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <time.h>

static sem_t release_close, close_done;
static atomic_int closes;

/* A close that blocks until the test lets it go: nng's hang, on demand. */
static int hanging_close(nng_socket s)
{
    (void)s;
    atomic_fetch_add(&closes, 1);
    sem_wait(&release_close);
    sem_post(&close_done);
    return 0;
}

static int quick_close(nng_socket s)
{
    (void)s;
    atomic_fetch_add(&closes, 1);
    return 0;
}

static void real_socket_is_closed(void **state)
{
    (void)state;
    nng_socket s;
    assert_int_equal(nng_sub0_open(&s), 0);
    assert_int_equal(nng_listen(s, "inproc://closer-test", NULL, 0), 0);
    assert_true(rpc_close_bounded(s, "test"));
    /* closed: a second close says so */
    assert_int_equal(nng_close(s), NNG_ECLOSED);
}

static void returning_close_is_waited_for(void **state)
{
    (void)state;
    nng_socket s = NNG_SOCKET_INITIALIZER;
    long before = rpc_close_abandoned();
    atomic_store(&closes, 0);
    assert_true(rpc_close_bounded_with(s, "test", 60000, quick_close));
    assert_int_equal(atomic_load(&closes), 1);
    assert_int_equal(rpc_close_abandoned(), before);
}

static void hanging_close_is_abandoned_after_the_bound(void **state)
{
    (void)state;
    sem_init(&release_close, 0, 0);
    sem_init(&close_done, 0, 0);
    nng_socket s = NNG_SOCKET_INITIALIZER;
    long before = rpc_close_abandoned();
    atomic_store(&closes, 0);
    /* the close never returns by itself: the call must come back anyway */
    assert_false(rpc_close_bounded_with(s, "test", 200, hanging_close));
    assert_int_equal(atomic_load(&closes), 1);
    assert_int_equal(rpc_close_abandoned(), before + 1);
    /* the abandoned close finishing later frees its bookkeeping (ASan: no leak, no use after
     * free) */
    sem_post(&release_close);
    sem_wait(&close_done);
    struct timespec ts = {0, 50000000};
    nanosleep(&ts, NULL);
    sem_destroy(&release_close);
    sem_destroy(&close_done);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(real_socket_is_closed),
        cmocka_unit_test(returning_close_is_waited_for),
        cmocka_unit_test(hanging_close_is_abandoned_after_the_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
