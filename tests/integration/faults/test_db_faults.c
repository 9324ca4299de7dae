/* test_db_faults.c — issue 14 item 5, "the database misbehaving": confetti-rooms under a steady
 * CreateRoom load while its PostgreSQL is stopped and started again, then frozen with SIGSTOP
 * (every process of the cluster) and thawed. Every call must be answered BY THE SERVICE (its
 * reply, not our own timer) within its deadline, with OK, UNAVAILABLE or DEADLINE_EXCEEDED;
 * nothing may be half-written; and the workers serve again within 5 s of the restart / SIGCONT.
 *
 * The cluster is a private one of this test (tools/dev/pgctl.sh), never the shared fixture, and
 * the service reaches it over TCP (host=127.0.0.1): a frozen server's kernel still accepts and
 * ACKs on TCP, which is the case that used to hold a worker until the SIGCONT.
 *
 * The freeze lasts CONFETTI_FAULT_FREEZE_S seconds (default 30, the figure). */
#include "th.h"
#include "th_proc.h"
#include "service.h"
#include "testsvc.h"
#include "pg.h"
#include "rooms.h"
#include "base/clock.h"
#include "base/xmalloc.h"
#include "rpc/v1/envelope.pb-c.h"

#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

enum {
    DEADLINE_MS = 1500, /* each call's deadline, sent in the envelope */
    WAIT_MS = 8000,     /* how long we listen for the reply: far past the deadline */
    /* Scheduling on a starved machine: the service bounds a call from when its worker took it
     * (rpc_dispatch's recv_ns) and refuses OK past that deadline, but our clock also holds
     * the time the request and reply spent in nng's queues and threads. A stress run (one busy
     * loop per core beside ctest -j2, 2026-12-07) saw 2.6 s of that on the first call after the
     * service started. The defect this guards against, a call waiting on the frozen database,
     * takes the whole freeze (30 s): still far past DEADLINE_MS + SLACK_MS. */
    SLACK_MS = 3500,
    RECOVER_MS = 5000, /* the bound for serving again */
    LOADERS = 3,       /* fewer than the service's 4 workers: no call waits for a worker */
    MAX_CALLS = 20000,
};

typedef struct outcome {
    /* set (release) by the loader once the fields below are written: readers look at nothing
     * else before it (a race ThreadSanitizer found, 2026-12-07) */
    atomic_bool done;
    int64_t start_ns, end_ns;
    int code; /* -1: no reply from the service */
    char room_id[64];
} outcome;

static char dir[96], pgctl[512];
static th_keys *keys;
static th_service *rooms;
static char *bearer;
static outcome calls[MAX_CALLS];
static atomic_int ncalls;
static atomic_bool stop_load;

static void pgctl_run(const char *cmd)
{
    const char *argv[] = {pgctl, "--fsync-off", cmd, dir, NULL};
    char out[4096];
    int rc = th_run(argv, NULL, out, sizeof out);
    if (rc != 0)
        fail_msg("pgctl.sh %s %s failed (%d): %s", cmd, dir, rc, out);
}

static char *slurp_line(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[1024];
    assert_non_null(fgets(line, sizeof line, f));
    fclose(f);
    line[strcspn(line, "\r\n")] = '\0';
    return xstrdup(line);
}

/* One CreateRoom as a raw envelope on our own req socket, so that the service's reply (or its
 * absence) is seen apart from the deadline we announce. */
static void create_room(nng_socket s, int loader, int n, outcome *o)
{
    char name[64];
    snprintf(name, sizeof name, "load-%d-%d", loader, n);
    Rooms__V1__CreateRoomRequest in = ROOMS__V1__CREATE_ROOM_REQUEST__INIT;
    in.name = name;
    in.is_public = true;
    uint8_t payload[256];
    size_t plen = protobuf_c_message_pack(&in.base, payload);
    Rpc__V1__MetadataEntry auth = RPC__V1__METADATA_ENTRY__INIT;
    auth.key = "authorization";
    auth.value = bearer;
    Rpc__V1__MetadataEntry *md[] = {&auth};
    Rpc__V1__Request req = RPC__V1__REQUEST__INIT;
    req.method = "rooms.v1.Rooms/CreateRoom";
    req.payload = (ProtobufCBinaryData){plen, payload};
    req.n_metadata = 1;
    req.metadata = md;
    req.timeout_ms = DEADLINE_MS;
    uint8_t buf[1024];
    size_t len = protobuf_c_message_pack(&req.base, buf);

    o->code = -1;
    o->start_ns = cf_mono_ns();
    if (nng_send(s, buf, len, 0) != 0) {
        o->end_ns = cf_mono_ns();
        return;
    }
    void *rbuf = NULL;
    size_t rlen = 0;
    int rv = nng_recv(s, &rbuf, &rlen, NNG_FLAG_ALLOC);
    o->end_ns = cf_mono_ns();
    if (rv != 0)
        return;
    Rpc__V1__Reply *r = rpc__v1__reply__unpack(NULL, rlen, rbuf);
    nng_free(rbuf, rlen);
    assert_non_null(r);
    o->code = r->code;
    if (r->code == CF_OK) {
        Rooms__V1__Room *room = rooms__v1__room__unpack(NULL, r->payload.len, r->payload.data);
        assert_non_null(room);
        snprintf(o->room_id, sizeof o->room_id, "%s", room->room_id);
        rooms__v1__room__free_unpacked(room, NULL);
    }
    rpc__v1__reply__free_unpacked(r, NULL);
}

static void *loader(void *arg)
{
    int id = (int)(intptr_t)arg;
    nng_socket s;
    assert_int_equal(nng_req0_open(&s), 0);
    nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, WAIT_MS);
    nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
    assert_int_equal(nng_dial(s, rooms->url, NULL, 0), 0);
    for (int n = 0; !atomic_load(&stop_load); n++) {
        int i = atomic_fetch_add(&ncalls, 1);
        if (i >= MAX_CALLS)
            break;
        create_room(s, id, n, &calls[i]);
        atomic_store(&calls[i].done, true);
        if (calls[i].code != CF_OK)
            usleep(20000); /* a failing database answers fast: do not spin */
    }
    nng_close(s);
    return NULL;
}

/* Every process of the cluster: the postmaster (DIR/data/postmaster.pid) and its children. */
static int cluster_pids(pid_t *out, int cap)
{
    char path[160];
    snprintf(path, sizeof path, "%s/data/postmaster.pid", dir);
    char *line = slurp_line(path);
    pid_t pm = (pid_t)atoi(line);
    free(line);
    assert_true(pm > 0);
    int n = 0;
    out[n++] = pm;
    DIR *d = opendir("/proc");
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d)) && n < cap;) {
        pid_t pid = (pid_t)atoi(e->d_name);
        if (pid <= 0)
            continue;
        char stat[64], text[512];
        snprintf(stat, sizeof stat, "/proc/%d/stat", (int)pid);
        FILE *f = fopen(stat, "r");
        if (!f)
            continue;
        size_t got = fread(text, 1, sizeof text - 1, f);
        fclose(f);
        text[got] = '\0';
        const char *rp = strrchr(text, ')'); /* "pid (comm) state ppid …" */
        int ppid = 0;
        if (rp && sscanf(rp + 2, "%*c %d", &ppid) == 1 && ppid == pm)
            out[n++] = pid;
    }
    closedir(d);
    return n;
}

/* Waits until the service answers a call OK; returns how long that took from since_ns. */
static int64_t wait_serving(int64_t since_ns, int64_t bound_ms)
{
    int64_t end = since_ns + bound_ms * 1000000;
    while (cf_mono_ns() < end + 10 * 1000000000LL) {
        int n = atomic_load(&ncalls);
        for (int i = 0; i < n && i < MAX_CALLS; i++)
            if (atomic_load(&calls[i].done) && calls[i].end_ns && calls[i].start_ns >= since_ns &&
                calls[i].code == CF_OK)
                return (calls[i].end_ns - since_ns) / 1000000;
        usleep(50000);
    }
    return -1;
}

/* After the recovery bound, every call must succeed. */
static void assert_serving_after(int64_t since_ns, const char *what)
{
    int64_t from = since_ns + (int64_t)RECOVER_MS * 1000000;
    while (cf_mono_ns() < from + 1500 * 1000000LL)
        usleep(50000);
    int n = atomic_load(&ncalls), seen = 0;
    for (int i = 0; i < n && i < MAX_CALLS; i++) {
        if (!atomic_load(&calls[i].done) || calls[i].start_ns < from || !calls[i].end_ns)
            continue;
        seen++;
        if (calls[i].code != CF_OK)
            fail_msg("%s: a call started %lld ms after it answered %s", what,
                     (long long)((calls[i].start_ns - since_ns) / 1000000),
                     calls[i].code < 0 ? "nothing" : cf_code_name(calls[i].code));
    }
    assert_true(seen > 0);
}

/* The private cluster, over TCP, and the test keys (no service). */
static int setup_cluster(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/confetti-dbfault-%d", (int)getpid());
    snprintf(pgctl, sizeof pgctl, "%s", PGCTL);
    pgctl_run("start");
    char path[160];
    snprintf(path, sizeof path, "%s/env", dir);
    char *unix_env = slurp_line(path);
    /* the same cluster over TCP: a later keyword wins in a conninfo string */
    char *tcp = xasprintf("%s host=127.0.0.1", unix_env);
    free(unix_env);
    snprintf(path, sizeof path, "%s/tcpenv", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "%s\n", tcp);
    fclose(f);
    free(tcp);
    setenv("CONFETTI_TEST_PG", path, 1); /* th_pg_fresh_db makes the database there */

    keys = th_keys_new("RS256");
    char *tok = th_token(keys, "user-fault", 3600, false);
    bearer = xasprintf("Bearer %s", tok);
    free(tok);
    return 0;
}

/* The cluster and a rooms service on it. (One rooms per test process: a service's own config
 * section is process-wide, and a second start would overwrite the first's.) */
static int setup(void **state)
{
    setup_cluster(state);
    char cat[128];
    th_ipc_url(cat, sizeof cat, "fault-nocatalog"); /* no call here reaches catalog */
    char *addr = xasprintf("CONFETTI_CATALOG_URLS=%s", cat);
    const char *env[] = {addr, NULL};
    rooms = th_service_start(rooms_service_def(), &(th_service_opts){.keys = keys, .env = env});
    free(addr);
    assert_non_null(strstr(rooms->dsn, "host=127.0.0.1"));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    th_service_stop(rooms);
    rooms = NULL;
    free(bearer);
    th_keys_free(keys);
    const char *argv[] = {pgctl, "stop", dir, NULL};
    th_run(argv, NULL, NULL, 0);
    const char *rm[] = {"rm", "-rf", "--", dir, NULL};
    th_run(rm, NULL, NULL, 0);
    return 0;
}

static void test_stop_start_and_freeze_under_load(void **state)
{
    (void)state;
    int freeze_s = atoi(th_env("CONFETTI_FAULT_FREEZE_S", "30"));
    pthread_t t[LOADERS];
    for (int i = 0; i < LOADERS; i++)
        pthread_create(&t[i], NULL, loader, (void *)(intptr_t)i);
    int64_t t0 = cf_mono_ns();
    assert_true(wait_serving(t0, 20000) >= 0);

    /* 1. stopped (fast shutdown: connections are closed) and started again */
    pgctl_run("stop");
    sleep(3);
    pgctl_run("start");
    int64_t restarted = cf_mono_ns();
    int64_t back_after_restart = wait_serving(restarted, RECOVER_MS);
    assert_serving_after(restarted, "after the restart");

    /* 2. frozen: every process of the cluster SIGSTOPped, TCP still accepted by the kernel */
    pid_t pids[256];
    int np = cluster_pids(pids, 256);
    assert_true(np > 1);
    for (int i = 0; i < np; i++)
        kill(pids[i], SIGSTOP);
    int64_t frozen = cf_mono_ns();
    sleep((unsigned)freeze_s);
    for (int i = 0; i < np; i++)
        kill(pids[i], SIGCONT);
    int64_t thawed = cf_mono_ns();
    int64_t back_after_thaw = wait_serving(thawed, RECOVER_MS);
    assert_serving_after(thawed, "after SIGCONT");

    atomic_store(&stop_load, true);
    for (int i = 0; i < LOADERS; i++)
        pthread_join(t[i], NULL);

    /* every call answered by the service within its deadline, with an allowed code */
    int n = atomic_load(&ncalls) < MAX_CALLS ? atomic_load(&ncalls) : MAX_CALLS;
    int ok = 0, unavailable = 0, deadline = 0, during_freeze = 0;
    int64_t worst = 0;
    char **ids = xcalloc((size_t)n + 1, sizeof *ids);
    for (int i = 0; i < n; i++) {
        outcome *o = &calls[i];
        if (!atomic_load(&o->done) || !o->end_ns)
            continue;
        int64_t ms = (o->end_ns - o->start_ns) / 1000000;
        if (ms > worst)
            worst = ms;
        if (o->start_ns >= frozen && o->start_ns < thawed)
            during_freeze++;
        if (o->code < 0)
            fail_msg("call %d (started %lld ms after the freeze) got no reply from the service "
                     "within %d ms",
                     i, (long long)((o->start_ns - frozen) / 1000000), WAIT_MS);
        if (ms > DEADLINE_MS + SLACK_MS)
            fail_msg("call %d answered %s after %lld ms: its deadline was %d ms", i,
                     cf_code_name(o->code), (long long)ms, DEADLINE_MS);
        if (o->code == CF_OK)
            ids[ok++] = o->room_id;
        else if (o->code == CF_UNAVAILABLE)
            unavailable++;
        else if (o->code == CF_DEADLINE_EXCEEDED)
            deadline++;
        else
            fail_msg("call %d answered %s", i, cf_code_name(o->code));
    }
    assert_true(during_freeze > 0);
    printf("db faults: %d calls (%d OK, %d UNAVAILABLE, %d DEADLINE_EXCEEDED), %d during the "
           "%d s freeze; slowest answer %lld ms (deadline %d ms); serving again %lld ms after "
           "the restart, %lld ms after SIGCONT\n",
           n, ok, unavailable, deadline, during_freeze, freeze_s, (long long)worst, DEADLINE_MS,
           (long long)back_after_restart, (long long)back_after_thaw);
    assert_true(back_after_restart >= 0 && back_after_restart <= RECOVER_MS);
    assert_true(back_after_thaw >= 0 && back_after_thaw <= RECOVER_MS);

    /* nothing half-written: every room has its organizer, every OK room exists */
    PGconn *pg = th_pg_connect(rooms->dsn);
    PGresult *r =
        PQexec(pg, "SELECT count(*) FROM rooms.rooms r WHERE NOT EXISTS (SELECT 1 FROM "
                   "rooms.participants p WHERE p.room_id = r.id AND p.role = 'ORGANIZER')");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_string_equal(PQgetvalue(r, 0, 0), "0");
    PQclear(r);
    for (int i = 0; i < ok; i++) {
        const char *v[] = {ids[i]};
        r = PQexecParams(pg, "SELECT count(*) FROM rooms.rooms WHERE id = $1", 1, NULL, v, NULL,
                         NULL, 0);
        assert_string_equal(PQgetvalue(r, 0, 0), "1");
        PQclear(r);
    }
    PQfinish(pg);
    free(ids);
}

static void *start_cluster_later(void *arg)
{
    (void)arg;
    sleep(2);
    const char *argv[] = {pgctl, "--fsync-off", "start", dir, NULL};
    return (void *)(intptr_t)th_run(argv, NULL, NULL, 0);
}

/* Issue 13 item 8 (found by the stress series: a rooms replica restarted on a starved machine
 * exited, "init: events: cannot read the saved position"): a service started while its database
 * is out of reach waits for it (db.start_wait, svc/startwait.h) through every database step of
 * its start (migrations, the saved event position its consumer starts from) and then serves,
 * instead of exiting and leaving the retry to a restart. */
static void test_started_before_its_database_waits_and_serves(void **state)
{
    (void)state;
    char *dsn = th_pg_fresh_db("rooms_late");
    pgctl_run("stop");
    pthread_t t;
    pthread_create(&t, NULL, start_cluster_later, NULL);
    char cat[128];
    th_ipc_url(cat, sizeof cat, "fault-nocatalog-late");
    char *addr = xasprintf("CONFETTI_CATALOG_URLS=%s", cat);
    const char *env[] = {addr, "CONFETTI_DB_CONNECT_TIMEOUT=1s", NULL};
    /* blocks until the cluster is back; the old code failed here ("migrations failed") */
    th_service *late = th_service_start(rooms_service_def(),
                                        &(th_service_opts){.dsn = dsn, .keys = keys, .env = env});
    free(addr);
    void *rc;
    pthread_join(t, &rc);
    assert_int_equal(0, (int)(intptr_t)rc);

    nng_socket s;
    assert_int_equal(nng_req0_open(&s), 0);
    nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, WAIT_MS);
    assert_int_equal(nng_dial(s, late->url, NULL, 0), 0);
    outcome o = {0};
    create_room(s, 99, 0, &o);
    nng_close(s);
    assert_int_equal(CF_OK, o.code);
    th_service_stop(late);
    th_pg_drop_db(dsn);
    free(dsn);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_stop_start_and_freeze_under_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_started_before_its_database_waits_and_serves,
                                        setup_cluster, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
