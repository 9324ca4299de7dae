/* test_outbox.c — the outbox and its sequencing against the real PostgreSQL: change and event
 * commit together or not at all; numbers follow commit order, so out-of-order commits skip
 * nothing. */
#include "th.h"
#include "pg.h"
#include "pubsvc.h"

#include <inttypes.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

enum { WRITERS = 4, TXS = 150, PER_TX = 3 };

typedef struct writer {
    const char *dsn;
    int index;
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
    usleep((useconds_t)(rand_r((unsigned *)k) % 4000)); /* commit at a random later moment */
    return CF_OK;
}

static void *writer_main(void *arg)
{
    writer *w = arg;
    db_conn *c = pubsvc_conn(w->dsn);
    unsigned seed = (unsigned)w->index * 7919u + 1;
    for (int i = 0; i < TXS; i++)
        if (db_tx(c, jitter_body, &seed) != CF_OK)
            fail_msg("writer %d: transaction failed", w->index);
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

static void test_concurrent_writers(void **state)
{
    (void)state;
    char *dsn = th_pg_fresh_db("ev_conc");
    pubsvc_migrate(dsn);
    db_conn *relay = pubsvc_conn(dsn);
    writer w[WRITERS];
    pthread_t t[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        w[i] = (writer){dsn, i};
        pthread_create(&t[i], NULL, writer_main, &w[i]);
    }
    seen s = {.ordered = true};
    const int64_t total = WRITERS * TXS * PER_TX;
    /* a relay racing the writers: small batches, passes as fast as it can */
    for (int spins = 0; s.count < total && spins < 200000; spins++) {
        assert_code(CF_OK, events_sequence(relay, 7, NULL));
        assert_code(CF_OK, events_publish_pending(relay, 5, on_publish, &s, NULL));
    }
    for (int i = 0; i < WRITERS; i++)
        pthread_join(t[i], NULL);
    assert_true(s.ordered);
    assert_int_equal(total, s.count);
    assert_int_equal(total, count_sql(dsn, "SELECT count(DISTINCT seq) FROM evtest.outbox"));
    assert_int_equal(total, count_sql(dsn, "SELECT max(seq) FROM evtest.outbox"));
    /* commits did come out of insertion order: some row has a lower id but a higher seq */
    assert_true(count_sql(dsn, "SELECT count(*) FROM evtest.outbox a JOIN evtest.outbox b "
                               "ON a.id < b.id AND a.seq > b.seq") > 0);
    db_conn_free(relay);
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
