/* relay.c — numbering, publishing and pruning outbox rows; the relay thread (see relay.h). */
#include "relay.h"
#include "base/clock.h"
#include "events.h"
#include "internal.h"
#include "rpc/sendmsg.h"

#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "base/xmalloc.h"
#include "db/tx.h"
#include "rpc/closer.h"
#include "rpc/resolve.h"

#define F(key, type, field, def_, min_, max_, help_)                                               \
    CFG_FIELD("events", key, type, events_publisher_config, field, .def = def_, .min = min_,       \
              .max = max_, .help = help_)
const cfg_field events_publisher_fields[] = {
    F("bus", CFG_STR, bus, "tcp://127.0.0.1:7110", 0, 0,
      "event broker, publisher side (dialed); empty = sequence but do not publish"),
    F("retention", CFG_DURATION, retention_ms, "7d", 1000, INT64_C(365) * 86400000,
      "published events stay replayable this long"),
    F("poll", CFG_DURATION, poll_ms, "1s", 10, 60000,
      "relay pass interval when no notification wakes it"),
    F("batch", CFG_INT, batch, "500", 1, 10000, "outbox rows per relay pass"),
    F("pass_gap", CFG_DURATION, gap_ms, "2ms", 0, 1000,
      "least time between the starts of two relay passes: under a stream of commits a pass "
      "waits this long for more rows to come with it (0 = a pass per wake-up)"),
};
#undef F
const size_t events_publisher_nfields =
    sizeof events_publisher_fields / sizeof *events_publisher_fields;

/* ---- the steps ---- */

typedef struct seq_tx {
    int batch, n;
} seq_tx;

static cf_code sequence_body(db_conn *c, void *arg)
{
    seq_tx *t = arg;
    t->n = 0;
    PGresult *r = NULL;
    /* the row lock serializes relays; the UPDATE below then takes its snapshot after it, so it
     * sees every row committed before this pass and none of those still in flight.
     * Bitmap scans are turned off for the pass (same round trip): numbering a row leaves a dead
     * entry in outbox_unsequenced until vacuum, and the planner, expecting few rows, chose a
     * bitmap scan, which visits every dead entry's heap page on every pass and never marks them
     * (measured: 12,000 dead entries, 0.8 ms a pass at 1,000 events/s). An index scan in id
     * order marks them dead as it passes, so the next pass skips them. */
    cf_code code = db_exec_sql(c,
                               "SELECT last_seq, pg_catalog.set_config('enable_bitmapscan', 'off', "
                               "true) FROM outbox_state WHERE one FOR UPDATE",
                               0, NULL, &r);
    if (code != CF_OK)
        return code;
    char base[24], lim[16];
    snprintf(base, sizeof base, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    snprintf(lim, sizeof lim, "%d", t->batch);
    const char *p[2] = {base, lim};
    code =
        db_exec_sql(c,
                    "WITH todo AS (SELECT id, row_number() OVER (ORDER BY id) AS rn FROM outbox "
                    "WHERE seq IS NULL ORDER BY id LIMIT $2::int) "
                    "UPDATE outbox o SET seq = $1::bigint + todo.rn FROM todo WHERE o.id = todo.id",
                    2, p, &r);
    if (code != CF_OK)
        return code;
    t->n = atoi(PQcmdTuples(r));
    PQclear(r);
    if (t->n == 0)
        return CF_OK;
    char n[16];
    snprintf(n, sizeof n, "%d", t->n);
    const char *q[2] = {base, n};
    return db_exec_sql(c, "UPDATE outbox_state SET last_seq = $1::bigint + $2::bigint", 2, q, NULL);
}

cf_code events_sequence(db_conn *c, int batch, int *n)
{
    seq_tx t = {.batch = batch};
    cf_code code = db_tx(c, sequence_body, &t);
    if (n)
        *n = code == CF_OK ? t.n : 0;
    return code;
}

/* The stored event is packed with seq 0 (absent). Appending field 2 as a varint sets it: a
 * protobuf parser keeps the last value of a scalar field, so no unpack/repack is needed. */
static size_t append_seq(uint8_t *buf, size_t n, int64_t seq)
{
    buf[n++] = 2 << 3; /* field 2, wire type 0 (varint) */
    uint64_t v = (uint64_t)seq;
    do {
        uint8_t b = v & 0x7f;
        v >>= 7;
        buf[n++] = v ? (b | 0x80) : b;
    } while (v);
    return n;
}

typedef struct pub_tx {
    int batch, n;
    events_publish_fn fn;
    void *arg;
} pub_tx;

static cf_code publish_body(db_conn *c, void *arg)
{
    pub_tx *t = arg;
    t->n = 0;
    PGresult *r = NULL;
    char lim[16];
    snprintf(lim, sizeof lim, "%d", t->batch);
    const char *p[1] = {lim};
    cf_code code = db_exec_sql(c, "SELECT published_seq FROM outbox_state WHERE one FOR UPDATE", 0,
                               NULL, NULL);
    if (code == CF_OK)
        code = db_exec_sql(c,
                           "SELECT seq, body FROM outbox WHERE seq > (SELECT published_seq FROM "
                           "outbox_state) ORDER BY seq LIMIT $1::int",
                           1, p, &r);
    if (code != CF_OK)
        return code;
    int rows = PQntuples(r);
    int64_t last = 0;
    for (int i = 0; i < rows; i++) {
        last = strtoll(PQgetvalue(r, i, 0), NULL, 10);
        const char *hex = PQgetvalue(r, i, 1);
        uint8_t *buf = xmalloc(strlen(hex) / 2 + 16);
        size_t n = events__unhex(hex, buf);
        n = append_seq(buf, n, last);
        t->fn(t->arg, last, buf, n);
        free(buf);
    }
    PQclear(r);
    t->n = rows;
    if (rows == 0)
        return CF_OK;
    char s[24];
    snprintf(s, sizeof s, "%" PRId64, last);
    const char *q[1] = {s};
    return db_exec_sql(c, "UPDATE outbox_state SET published_seq = $1::bigint", 1, q, NULL);
}

cf_code events_publish_pending(db_conn *c, int batch, events_publish_fn fn, void *arg, int *n)
{
    pub_tx t = {.batch = batch, .fn = fn, .arg = arg};
    cf_code code = db_tx(c, publish_body, &t);
    if (n)
        *n = code == CF_OK ? t.n : 0;
    return code;
}

cf_code events_prune(db_conn *c, int64_t retention_ms)
{
    char ms[24];
    snprintf(ms, sizeof ms, "%" PRId64, retention_ms);
    const char *p[1] = {ms};
    /* never the rows not yet published, whatever their age */
    return db_exec_sql(c,
                       "DELETE FROM outbox WHERE seq <= (SELECT published_seq FROM outbox_state) "
                       "AND created_at < now() - $1::bigint * interval '1 millisecond'",
                       1, p, NULL);
}

cf_code events_prune_batch(db_conn *c, int64_t retention_ms, int batch, int64_t *n)
{
    char ms[24], lim[16];
    snprintf(ms, sizeof ms, "%" PRId64, retention_ms);
    snprintf(lim, sizeof lim, "%d", batch);
    const char *p[2] = {ms, lim};
    PGresult *r = NULL;
    /* the oldest published rows (outbox_created), never one not yet published; SKIP LOCKED: a
     * replica's run never waits on another's */
    cf_code code = db_exec_sql(
        c,
        "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE seq IS NOT NULL AND "
        "seq <= (SELECT published_seq FROM outbox_state) AND "
        "created_at < now() - $1::bigint * interval '1 millisecond' "
        "ORDER BY created_at LIMIT $2::int FOR UPDATE SKIP LOCKED)",
        2, p, &r);
    if (code != CF_OK)
        return code;
    if (n)
        *n = strtoll(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return CF_OK;
}

/* ---- the thread ---- */

struct events_relay {
    char *dsn, *schema, *source, *bus;
    db_limits limits;
    int64_t retention_ms, poll_ms, gap_ms;
    int batch;
    nng_socket pub;
    resolve_set *dialers; /* every broker the bus name resolves to (rpc/resolve.h) */
    bool publishing;
    rpc_ident *ident;
    int wake[2]; /* stop pipe */
    atomic_bool stop;
    pthread_t thread;
    _Atomic int64_t published_seq, last_ok_ms;
    _Atomic uint64_t failed_passes;
};

static void publish_one(void *arg, int64_t seq, const uint8_t *event, size_t len)
{
    events_relay *r = arg;
    atomic_store(&r->published_seq, seq);
    if (!r->publishing)
        return;
    char topic[64];
    size_t tn = events_topic(r->source, topic, sizeof topic);
    /* sized once: the whole frame is the one allocation rpc/sendmsg.h is about */
    nng_msg *m = rpc_sendmsg_alloc(tn + len + RPC_IDENT_SIG_LEN);
    if (!m)
        return;
    uint8_t *body = nng_msg_body(m);
    memcpy(body, topic, tn);
    memcpy(body + tn, event, len);
    /* signed by this source: the bus forwards, and subscribers accept, nothing else */
    if (!rpc_ident_sign(r->ident, body, tn + len, body + tn + len)) {
        nng_msg_free(m);
        return;
    }
    /* pub never blocks: with no broker connected the message is dropped, and subscribers get
     * it from Replay */
    if (nng_sendmsg(r->pub, m, 0) != 0)
        nng_msg_free(m);
}

/* Frees the notifications libpq has queued; true if there was one. */
static bool drain_notifies(PGconn *pg)
{
    bool any = false;
    for (PGnotify *n; (n = PQnotifies(pg));) {
        PQfreemem(n);
        any = true;
    }
    return any;
}

/* Sleeps until a NOTIFY arrives on c, the stop pipe is written, or ms pass.
 *
 * A NOTIFY that arrives while a pass runs is read off the socket by the pass's own queries and
 * queued inside libpq: poll() then sees nothing and would sleep a whole `events.poll` (1 s)
 * over a row that committed just after the pass's snapshot — one event in ~30 of the WebSocket
 * fan-out bench, where the next change follows the delivery of the last one. So the queue is
 * looked at first, and a queued notification means "pass again now". */
static void wait_for_work(events_relay *r, db_conn *c, int64_t ms)
{
    PGconn *pg = db_conn_pg(c);
    bool up = pg && PQstatus(pg) == CONNECTION_OK;
    if (up && PQconsumeInput(pg) && drain_notifies(pg))
        return;
    struct pollfd p[2] = {{.fd = r->wake[0], .events = POLLIN},
                          {.fd = up ? PQsocket(pg) : -1, .events = POLLIN}};
    if (poll(p, 2, (int)ms) > 0 && (p[1].revents & POLLIN)) {
        PQconsumeInput(pg);
        drain_notifies(pg);
    }
}

/* Under a stream of commits every pass is woken at once by the next NOTIFY, and passes of a
 * few rows each cost PostgreSQL more per event than larger ones (draw bench, session 3: 2 ms
 * gave ~2,550 draws/s against ~2,400 without, at the same event latency). So a pass starts at
 * least gap_ms after the previous one started; the first event after a quiet spell goes at
 * once. Returns early if the relay is stopped. */
static void keep_gap(events_relay *r, int64_t last_start_ns)
{
    int64_t left_ms = (last_start_ns + r->gap_ms * 1000000 - cf_mono_ns() + 999999) / 1000000;
    if (left_ms <= 0)
        return;
    struct pollfd p = {.fd = r->wake[0], .events = POLLIN};
    poll(&p, 1, (int)left_ms);
}

static void *relay_main(void *arg)
{
    events_relay *r = arg;
    int64_t last_start = INT64_MIN / 2;
    db_conn *c = db_conn_new(r->dsn, r->schema, NULL, 0);
    db_conn_set_limits(c, &r->limits);
    PGconn *listening = NULL;
    while (!atomic_load(&r->stop)) {
        if (db_conn_ensure(c) != CF_OK) {
            wait_for_work(r, c, r->poll_ms);
            continue;
        }
        if (db_conn_pg(c) != listening) { /* a new connection: LISTEN again */
            char chan[128];
            snprintf(chan, sizeof chan, "confetti_outbox_%s", r->schema);
            char *id = PQescapeIdentifier(db_conn_pg(c), chan, strlen(chan));
            char sql[192];
            snprintf(sql, sizeof sql, "LISTEN %s", id ? id : "confetti_outbox");
            PQfreemem(id);
            if (db_exec_sql(c, sql, 0, NULL, NULL) == CF_OK)
                listening = db_conn_pg(c);
        }
        int ns = 0, np = 0;
        keep_gap(r, last_start);
        if (atomic_load(&r->stop))
            break;
        last_start = cf_mono_ns();
        cf_code code = events_sequence(c, r->batch, &ns);
        if (code == CF_OK)
            code = events_publish_pending(c, r->batch, publish_one, r, &np);
        if (code != CF_OK) {
            atomic_fetch_add(&r->failed_passes, 1);
            log_warn("events relay (%s): pass failed: %s", r->source, cf_code_name(code));
        } else {
            atomic_store(&r->last_ok_ms, cf_wall_ms());
        }
        if (code == CF_OK && (ns == r->batch || np == r->batch))
            continue; /* more waiting */
        wait_for_work(r, c, r->poll_ms);
    }
    db_conn_free(c);
    return NULL;
}

void events_relay_stats_get(events_relay *r, events_relay_stats *out)
{
    out->published_seq = atomic_load(&r->published_seq);
    out->last_ok_ms = atomic_load(&r->last_ok_ms);
    out->failed_passes = atomic_load(&r->failed_passes);
}

cf_code events_relay_start(const events_relay_config *cfg, events_relay **out, char *err,
                           size_t errlen)
{
    events_relay *r = xcalloc(1, sizeof *r);
    r->dsn = xstrdup(cfg->dsn);
    r->limits = cfg->db_limits ? *cfg->db_limits : (db_limits)DB_LIMITS_DEFAULT;
    r->schema = xstrdup(cfg->schema);
    r->source = xstrdup(cfg->source);
    r->bus = xstrdup(cfg->bus ? cfg->bus : "");
    r->retention_ms = cfg->retention_ms;
    r->poll_ms = cfg->poll_ms > 0 ? cfg->poll_ms : 1000;
    r->gap_ms = cfg->gap_ms > 0 ? cfg->gap_ms : 0;
    r->batch = cfg->batch > 0 ? cfg->batch : 500;
    r->ident = cfg->ident;
    int rv = 0;
    if (*r->bus) {
        char why[256];
        if ((rv = nng_pub0_open(&r->pub)) != 0) {
            snprintf(why, sizeof why, "%s: %s", r->bus, nng_strerror(rv));
        } else {
            nng_socket_set_ms(r->pub, NNG_OPT_RECONNMINT, 50);
            nng_socket_set_ms(r->pub, NNG_OPT_RECONNMAXT, 1000);
            nng_socket_set_int(r->pub, NNG_OPT_SENDBUF, 1024);
            /* every broker replica gets every event (pub sends to every connection) */
            const char *bus = r->bus;
            if (resolve_dial(r->pub, &bus, 1, &r->dialers, why, sizeof why) != CF_OK) {
                rv = NNG_EINVAL;
                nng_close(r->pub);
            }
        }
        if (rv != 0) {
            snprintf(err, errlen, "events.bus %s", why);
            free(r->dsn), free(r->schema), free(r->source), free(r->bus), free(r);
            return CF_INVALID_ARGUMENT;
        }
        r->publishing = true;
        if (!rpc_ident_can_sign(r->ident))
            log_warn("events relay (%s): no ident.key_file: events are not published on the bus "
                     "(subscribers get them from Replay)",
                     r->source);
    }
    if (pipe(r->wake) != 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        if (r->publishing) {
            resolve_stop(r->dialers); /* before the socket closes (resolve.h) */
            nng_close(r->pub);
            resolve_free(r->dialers);
        }
        free(r->dsn), free(r->schema), free(r->source), free(r->bus), free(r);
        return CF_INTERNAL;
    }
    pthread_create(&r->thread, NULL, relay_main, r);
    *out = r;
    return CF_OK;
}

void events_relay_stop(events_relay *r)
{
    if (!r)
        return;
    atomic_store(&r->stop, true);
    ssize_t w = write(r->wake[1], "x", 1);
    (void)w;
    pthread_join(r->thread, NULL);
    /* the resolver's thread stops before the socket closes (rpc/resolve.h); a close that
     * hangs (rpc/closer.h) leaves the socket and its dialers to the exiting process */
    if (r->publishing)
        resolve_stop(r->dialers);
    if (r->publishing && rpc_close_bounded(r->pub, "events relay"))
        resolve_free(r->dialers);
    else if (r->publishing)
        rpc_abandon(r->dialers);
    close(r->wake[0]);
    close(r->wake[1]);
    free(r->dsn), free(r->schema), free(r->source), free(r->bus);
    free(r);
}
