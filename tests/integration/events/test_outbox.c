/* test_outbox.c — the outbox and its sequencing against the real PostgreSQL: change and event
 * commit together or not at all; numbers follow commit order, so out-of-order commits skip
 * nothing. */
#include "th.h"
#include "pg.h"
#include "pubsvc.h"

#include <inttypes.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "db/tx.h"
#include "events/events.h"
#include "events/relay.h"

static int64_t count_sql(const char *dsn, const char *sql)
{
    PGconn *pg = th_pg_connect(dsn);
    PGresult *r = PQexec(pg, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(pg));
    int64_t n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    PQfinish(pg);
    return n;
}

static void test_atomic(void **state)
{
    (void)state;
    char *dsn = th_pg_fresh_db("ev_atomic");
    pubsvc_migrate(dsn);
    db_conn *c = pubsvc_conn(dsn);
    /* the transaction fails after some pairs: neither the things nor their events remain */
    assert_code(CF_ABORTED, pubsvc_write(c, "alpha", "a", 1, 5, 3));
    assert_int_equal(0, count_sql(dsn, "SELECT count(*) FROM evtest.things"));
    assert_int_equal(0, count_sql(dsn, "SELECT count(*) FROM evtest.outbox"));
    /* the change fails (duplicate key) after its event was written: neither remains */
    assert_code(CF_OK, pubsvc_write(c, "alpha", "b", 1, 1, -1));
    assert_code(CF_ALREADY_EXISTS, pubsvc_write(c, "alpha", "b", 0, 2, -1));
    assert_int_equal(1, count_sql(dsn, "SELECT count(*) FROM evtest.things"));
    assert_int_equal(1, count_sql(dsn, "SELECT count(*) FROM evtest.outbox"));
    /* success: both */
    assert_code(CF_OK, pubsvc_write(c, "alpha", "c", 1, 4, -1));
    assert_int_equal(5, count_sql(dsn, "SELECT count(*) FROM evtest.things"));
    assert_int_equal(5, count_sql(dsn, "SELECT count(*) FROM evtest.outbox"));
    assert_int_equal(5, count_sql(dsn, "SELECT count(*) FROM evtest.outbox WHERE seq IS NULL"));
    int n = 0;
    assert_code(CF_OK, events_sequence(c, 100, &n));
    assert_int_equal(5, n);
    assert_int_equal(5, count_sql(dsn, "SELECT max(seq) FROM evtest.outbox"));
    db_conn_free(c);
    th_pg_drop_db(dsn);
    free(dsn);
}

/* ---- commit order differs from insertion order, on purpose ---- */

typedef struct slow_writer {
    const char *dsn;
    sem_t inserted, release;
    cf_code code;
} slow_writer;

static cf_code slow_body(db_conn *c, void *arg)
{
    slow_writer *w = arg;
    Events__V1__Event ev = EVENTS__V1__EVENT__INIT;
    Events__V1__RoomDeleted body = EVENTS__V1__ROOM_DELETED__INIT;
    ev.source = "alpha";
    ev.id = "slow";
    ev.body_case = EVENTS__V1__EVENT__BODY_ROOM_DELETED;
    ev.room_deleted = &body;
    cf_code code = events_outbox_add(c, &ev);
    sem_post(&w->inserted);
    sem_wait(&w->release); /* hold the transaction open: commit later than the next writer */
    return code;
}

static void *slow_main(void *arg)
{
    slow_writer *w = arg;
    db_conn *c = pubsvc_conn(w->dsn);
    w->code = db_tx(c, slow_body, w);
    db_conn_free(c);
    return NULL;
}

static char *event_id_at(const char *dsn, int64_t seq)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT event_id FROM evtest.outbox WHERE seq = %" PRId64, seq);
    PGconn *pg = th_pg_connect(dsn);
    PGresult *r = PQexec(pg, sql);
    char *s = strdup(PQntuples(r) ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    PQfinish(pg);
    return s;
}

static void test_commit_order(void **state)
{
    (void)state;
    char *dsn = th_pg_fresh_db("ev_order");
    pubsvc_migrate(dsn);
    db_conn *c = pubsvc_conn(dsn);
    slow_writer w = {.dsn = dsn};
    sem_init(&w.inserted, 0, 0);
    sem_init(&w.release, 0, 0);
    pthread_t t;
    pthread_create(&t, NULL, slow_main, &w);
    sem_wait(&w.inserted); /* the slow row has the lower id, but is not committed */
    assert_code(CF_OK, pubsvc_write(c, "alpha", "fast", 1, 1, -1));
    int n = 0;
    assert_code(CF_OK, events_sequence(c, 100, &n));
    assert_int_equal(1, n); /* only the committed one */
    sem_post(&w.release);
    pthread_join(t, NULL);
    assert_code(CF_OK, w.code);
    assert_code(CF_OK, events_sequence(c, 100, &n));
    assert_int_equal(1, n);
    char *id = event_id_at(dsn, 2);
    assert_string_equal("slow", id);
    free(id);
    /* seq 1 went to the HIGHER id: a relay reading "id > last" would have skipped slow */
    assert_true(count_sql(dsn, "SELECT id FROM evtest.outbox WHERE seq = 1") >
                count_sql(dsn, "SELECT id FROM evtest.outbox WHERE event_id = 'slow'"));
    assert_int_equal(0, count_sql(dsn, "SELECT count(*) FROM evtest.outbox WHERE seq IS NULL"));
    db_conn_free(c);
    th_pg_drop_db(dsn);
    free(dsn);
}

/* ---- many writers committing in random order while the relay runs ---- */

/* The writers' commit order is left to the scheduler; the test asserts only the invariant (every
 * row numbered once, no gap, published in order), never that some interleaving happened. The one
 * interleaving the test is about — a row with a lower id committed after rows with higher ids,
 * while the relay runs — is made on purpose: a held writer inserts first and commits only once
 * every other writer has finished and the relay has numbered their rows (a barrier, not a
 * sleep). */
enum { WRITERS = 4, TXS = 150, PER_TX = 3 };

typedef struct writer {
    const char *dsn;
    int index;
    atomic_bool failed;
} writer;

static cf_code jitter_body(db_conn *c, void *arg)
{
    int *k = arg;
    Events__V1__Event ev = EVENTS__V1__EVENT__INIT;
    Events__V1__RoomDeleted body = EVENTS__V1__ROOM_DELETED__INIT;
    ev.source = "alpha";
    ev.body_case = EVENTS__V1__EVENT__BODY_ROOM_DELETED;
    ev.room_deleted = &body;
    for (int i = 0; i < PER_TX; i++) {
        cf_code code = events_outbox_add(c, &ev);
        if (code != CF_OK)
            return code;
    }
    /* vary the commit moment; correctness must not depend on it, and nothing asserts on it */
    usleep((useconds_t)(rand_r((unsigned *)k) % 4000));
    return CF_OK;
}

/* cmocka's fail_msg may only be called from the test's own thread: a writer records a failure */
static void *writer_main(void *arg)
{
    writer *w = arg;
    db_conn *c = pubsvc_conn(w->dsn);
    unsigned seed = (unsigned)w->index * 7919u + 1;
    for (int i = 0; i < TXS; i++)
        if (db_tx(c, jitter_body, &seed) != CF_OK)
            atomic_store(&w->failed, true);
    db_conn_free(c);
    return NULL;
}

typedef struct seen {
    int64_t last, count;
    bool ordered;
} seen;

static void on_publish(void *arg, int64_t seq, const uint8_t *event, size_t len)
{
    seen *s = arg;
    Events__V1__Event *ev = events__v1__event__unpack(NULL, len, event);
    if (!ev || ev->seq != seq || seq != s->last + 1)
        s->ordered = false;
    if (ev)
        events__v1__event__free_unpacked(ev, NULL);
    s->last = seq;
    s->count++;
}

typedef struct relay_run {
    db_conn *relay;
    seen s;
    atomic_bool stop;
    cf_code code;
} relay_run;

/* A relay racing the writers: small batches, passes as fast as it can, until told to stop. */
static void *relay_main(void *arg)
{
    relay_run *r = arg;
    while (!atomic_load(&r->stop) && r->code == CF_OK) {
        r->code = events_sequence(r->relay, 7, NULL);
        if (r->code == CF_OK)
            r->code = events_publish_pending(r->relay, 5, on_publish, &r->s, NULL);
    }
    return NULL;
}

static void test_concurrent_writers(void **state)
{
    (void)state;
    char *dsn = th_pg_fresh_db("ev_conc");
    pubsvc_migrate(dsn);
    /* the held writer: its row gets the lowest id, and it commits after all the others */
    slow_writer held = {.dsn = dsn};
    sem_init(&held.inserted, 0, 0);
    sem_init(&held.release, 0, 0);
    pthread_t th;
    pthread_create(&th, NULL, slow_main, &held);
    sem_wait(&held.inserted);

    relay_run rr = {.relay = pubsvc_conn(dsn), .s = {.ordered = true}, .code = CF_OK};
    pthread_t tr;
    pthread_create(&tr, NULL, relay_main, &rr);
    writer w[WRITERS];
    pthread_t t[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        w[i] = (writer){.dsn = dsn, .index = i};
        pthread_create(&t[i], NULL, writer_main, &w[i]);
    }
    for (int i = 0; i < WRITERS; i++)
        pthread_join(t[i], NULL);
    /* every other writer has committed and the racing relay has numbered all their rows (the
     * held row is not visible yet): only now does the held one commit */
    for (int64_t end = cf_mono_ns() + 60 * 1000000000LL;
         count_sql(dsn, "SELECT count(*) FROM evtest.outbox WHERE seq IS NULL") > 0;)
        if (cf_mono_ns() > end)
            fail_msg("the relay did not number the writers' rows within 60 s");
        else
            usleep(1000);
    sem_post(&held.release);
    pthread_join(th, NULL);
    assert_code(CF_OK, held.code);
    for (int i = 0; i < WRITERS; i++)
        if (atomic_load(&w[i].failed))
            fail_msg("writer %d: a transaction failed", i);
    atomic_store(&rr.stop, true);
    pthread_join(tr, NULL);
    assert_code(CF_OK, rr.code);
    /* whatever the relay thread left: the rest, now that nothing is being written */
    const int64_t total = WRITERS * TXS * PER_TX + 1;
    for (int ns = 1, np = 1; ns > 0 || np > 0;) {
        assert_code(CF_OK, events_sequence(rr.relay, 100, &ns));
        assert_code(CF_OK, events_publish_pending(rr.relay, 100, on_publish, &rr.s, &np));
    }
    assert_true(rr.s.ordered);
    assert_int_equal(total, rr.s.count);
    assert_int_equal(total, count_sql(dsn, "SELECT count(DISTINCT seq) FROM evtest.outbox"));
    assert_int_equal(total, count_sql(dsn, "SELECT max(seq) FROM evtest.outbox"));
    assert_int_equal(0, count_sql(dsn, "SELECT count(*) FROM evtest.outbox WHERE seq IS NULL"));
    /* the held row: the lowest id, the highest number (it was committed last, on purpose) */
    assert_int_equal(1, count_sql(dsn, "SELECT count(*) FROM evtest.outbox WHERE event_id = "
                                       "'slow' AND id = (SELECT min(id) FROM evtest.outbox)"));
    char *id = event_id_at(dsn, total);
    assert_string_equal("slow", id);
    free(id);
    db_conn_free(rr.relay);
    th_pg_drop_db(dsn);
    free(dsn);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_atomic),
        cmocka_unit_test(test_commit_order),
        cmocka_unit_test(test_concurrent_writers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
