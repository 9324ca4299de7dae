/* test_kill.c — issue 14 item 5: SIGKILL of confetti-auth and of confetti-catalog (real
 * processes) in the middle of IssueAppToken and of CreateRoom. The middle is made on purpose,
 * never raced: the test holds an ACCESS EXCLUSIVE lock on catalog.apps, so catalog's read of the
 * app blocks inside the call, and the kill comes once PostgreSQL shows that backend waiting on
 * the lock. The caller must get a clear error (no hang past its deadline, no success), nothing
 * may be left half-written, and a restarted process serves again. */
#include "th.h"
#include "th_phase.h"
#include "th_proc.h"
#include "testsvc.h"
#include "service.h"
#include "pg.h"
#include "rooms.h"
#include "auth/v1/auth.pb-c.h"
#include "health/v1/health.pb-c.h"
#include "catalog/v1/catalog.pb-c.h"
#include "base/clock.h"
#include "base/xmalloc.h"
#include "pbjson/pbjson.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

enum { CALL_MS = 10000 };

typedef struct proc {
    const char *bin;
    pid_t pid;
    char cfg[128], log[128], url[128];
    char *dsn;
    rpc_client *client;
} proc;

static th_keys *keys;
static char jwks_path[128], key_path[128];
static proc catalog = {.bin = CATALOG_BIN}, auth = {.bin = AUTH_BIN};
static th_service *rooms;
static char app_id[64], app_secret[128];

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void spawn(proc *p)
{
    const char *argv[] = {p->bin, "--config", p->cfg, NULL};
    p->pid = th_spawn_logged(argv, p->dsn, p->log);
}

/* Waits until health.v1.Health/Check answers SERVING (the database included). */
static void wait_serving(proc *p)
{
    for (int i = 0; i < 600; i++) {
        Health__V1__CheckRequest req = HEALTH__V1__CHECK_REQUEST__INIT;
        rpc_ccall cc;
        rpc_ccall_init(&cc, NULL);
        cc.timeout_ms = 1000;
        rpc_client_invoke(p->client, &health__v1__health__descriptor, 0, &req.base, &cc);
        bool up = cc.code == CF_OK && ((Health__V1__CheckResponse *)cc.response)->status ==
                                          HEALTH__V1__CHECK_RESPONSE__SERVING_STATUS__SERVING;
        rpc_ccall_free(&cc);
        if (up)
            return;
        int st;
        if (waitpid(p->pid, &st, WNOHANG) == p->pid)
            fail_msg("%s exited at start; see %s", p->bin, p->log);
        usleep(100000);
    }
    fail_msg("%s did not become ready; see %s", p->bin, p->log);
}

static void start_proc(proc *p, const char *name, const char *extra_yaml)
{
    snprintf(p->cfg, sizeof p->cfg, "/tmp/confetti-kill-%s-%d.yaml", name, (int)getpid());
    snprintf(p->log, sizeof p->log, "/tmp/confetti-kill-%s-%d.log", name, (int)getpid());
    th_ipc_url(p->url, sizeof p->url, name);
    if (!p->dsn)
        p->dsn = th_pg_fresh_db(name);
    char *yaml = xasprintf("rpc:\n  listen: [\"%s\"]\n  workers: 2\n"
                           "admin:\n  listen: http://127.0.0.1:%d\n"
                           "log:\n  level: info\n"
                           "auth:\n  jwks_file: %s\n  issuer: %s\n  audience: %s\n%s",
                           p->url, th_free_port(), jwks_path, TH_ISSUER, TH_AUDIENCE, extra_yaml);
    write_file(p->cfg, yaml);
    free(yaml);
    if (!p->client) {
        const char *urls[] = {p->url};
        char err[256];
        assert_code(CF_OK, rpc_client_new(&(rpc_client_config){.urls = urls, .nurls = 1},
                                          &p->client, err, sizeof err));
    }
    spawn(p);
    wait_serving(p);
}

static void kill_proc(proc *p)
{
    kill(p->pid, SIGKILL);
    waitpid(p->pid, NULL, 0);
    p->pid = 0;
}

static void restart_proc(proc *p)
{
    spawn(p);
    wait_serving(p);
}

/* ---- the lock that holds catalog in the middle of a call ---- */

static PGconn *lock_apps(void)
{
    PGconn *pg = th_pg_connect(catalog.dsn);
    PQclear(PQexec(pg, "BEGIN"));
    PGresult *r = PQexec(pg, "LOCK TABLE catalog.apps IN ACCESS EXCLUSIVE MODE");
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    return pg;
}

/* Waits until some other backend waits on a lock of catalog.apps: a call is in the middle. */
static void wait_blocked(PGconn *pg)
{
    for (int i = 0; i < 300; i++) {
        PGresult *r =
            PQexec(pg, "SELECT count(*) FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_class "
                       "c ON c.oid = l.relation WHERE c.relname = 'apps' AND NOT l.granted");
        bool waiting = PQresultStatus(r) == PGRES_TUPLES_OK && strcmp(PQgetvalue(r, 0, 0), "0");
        PQclear(r);
        if (waiting)
            return;
        usleep(20000);
    }
    fail_msg("no call came to wait on catalog.apps");
}

static void unlock_apps(PGconn *pg)
{
    PQclear(PQexec(pg, "ROLLBACK"));
    PQfinish(pg);
}

/* ---- calls run on a thread, so the test can kill while they wait ---- */

typedef struct pending {
    pthread_t t;
    proc *target;       /* a process, or NULL for rooms (in-process) */
    const char *method; /* IssueAppToken or CreateRoom */
    cf_code code;
    char message[256];
    int64_t ms;
} pending;

static void *run_call(void *arg)
{
    pending *p = arg;
    rpc_ccall cc;
    rpc_ccall_init(&cc, NULL);
    cc.timeout_ms = CALL_MS;
    int64_t t0 = cf_mono_ns();
    if (strcmp(p->method, "IssueAppToken") == 0) {
        Auth__V1__IssueAppTokenRequest req = AUTH__V1__ISSUE_APP_TOKEN_REQUEST__INIT;
        req.app_id = app_id;
        req.app_secret = app_secret;
        const ProtobufCServiceDescriptor *d = &auth__v1__auth__descriptor;
        const ProtobufCMethodDescriptor *md =
            protobuf_c_service_descriptor_get_method_by_name(d, "IssueAppToken");
        rpc_client_invoke(auth.client, d, (unsigned)(md - d->methods), &req.base, &cc);
    } else {
        char *tok = th_token(keys, "organizer-kill", 600, false);
        char *bearer = xasprintf("Bearer %s", tok);
        rpc_ccall_md(&cc, "authorization", bearer);
        Rooms__V1__CreateRoomRequest req = ROOMS__V1__CREATE_ROOM_REQUEST__INIT;
        req.name = "killed in the middle";
        req.is_public = true;
        req.app_id = app_id;
        const ProtobufCServiceDescriptor *d = &rooms__v1__rooms__descriptor;
        const ProtobufCMethodDescriptor *md =
            protobuf_c_service_descriptor_get_method_by_name(d, "CreateRoom");
        rpc_client_invoke(rooms->client, d, (unsigned)(md - d->methods), &req.base, &cc);
        free(bearer);
        free(tok);
    }
    p->ms = (cf_mono_ns() - t0) / 1000000;
    p->code = cc.code;
    snprintf(p->message, sizeof p->message, "%s", cc.message);
    rpc_ccall_free(&cc);
    return NULL;
}

static void start_call(pending *p, const char *method)
{
    p->method = method;
    pthread_create(&p->t, NULL, run_call, p);
}

static void finish_call(pending *p)
{
    pthread_join(p->t, NULL);
    printf("kill test: %s answered %s after %lld ms: %s\n", p->method, cf_code_name(p->code),
           (long long)p->ms, p->message);
    /* a clear error, within the caller's deadline */
    if (p->code != CF_UNAVAILABLE && p->code != CF_DEADLINE_EXCEEDED)
        fail_msg("%s answered %s: %s", p->method, cf_code_name(p->code), p->message);
    assert_true(p->ms <= CALL_MS + 2000);
}

static const char *value(const char *dsn, const char *sql)
{
    static char buf[64];
    PGconn *pg = th_pg_connect(dsn);
    PGresult *r = PQexec(pg, sql);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    snprintf(buf, sizeof buf, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(pg);
    return buf;
}

static void register_app(void)
{
    const char *mj = "{\"name\":\"Kill\",\"version\":\"1.0.0\",\"permissions\":[\"rooms:read\"],"
                     "\"settingsSchema\":{\"type\":\"object\"}}";
    Catalog__V1__RegisterAppRequest req = CATALOG__V1__REGISTER_APP_REQUEST__INIT;
    req.name = "Killed app";
    ProtobufCMessage *m = NULL;
    pbjson_error err;
    assert_code(CF_OK, pbjson_from_string(&google__protobuf__struct__descriptor, mj, strlen(mj),
                                          NULL, &m, &err));
    req.manifest = (Google__Protobuf__Struct *)m;
    char *tok = th_token(keys, "owner-kill", 600, false);
    char *bearer = xasprintf("Bearer %s", tok);
    rpc_ccall cc;
    rpc_ccall_init(&cc, NULL);
    rpc_ccall_md(&cc, "authorization", bearer);
    const ProtobufCServiceDescriptor *d = &catalog__v1__catalog__descriptor;
    const ProtobufCMethodDescriptor *md =
        protobuf_c_service_descriptor_get_method_by_name(d, "RegisterApp");
    rpc_client_invoke(catalog.client, d, (unsigned)(md - d->methods), &req.base, &cc);
    if (cc.code != CF_OK)
        fail_msg("RegisterApp: %s %s", cf_code_name(cc.code), cc.message);
    Catalog__V1__RegisterAppResponse *r = (void *)cc.response;
    snprintf(app_id, sizeof app_id, "%s", r->app->app_id);
    snprintf(app_secret, sizeof app_secret, "%s", r->app_secret);
    rpc_ccall_free(&cc);
    protobuf_c_message_free_unpacked(m, NULL);
    free(bearer);
    free(tok);
}

/* An IssueAppToken once the platform is whole again: the restarted peer serves at once, but the
 * caller's dialer finds it only at its next reconnect (nng backoff, later under ASan: the fresh
 * CI run of 2026-12-07 got UNAVAILABLE right after catalog's restart), so UNAVAILABLE is retried
 * for up to 60 s (times th_time_scale); any other answer is returned as it is. */
static cf_code issue_now(void)
{
    cf_code code = CF_UNAVAILABLE;
    for (int64_t end = cf_mono_ns() + 60LL * th_time_scale() * 1000000000LL;
         code == CF_UNAVAILABLE && cf_mono_ns() < end;) {
        pending p = {0};
        p.method = "IssueAppToken";
        run_call(&p);
        code = p.code;
        if (code == CF_UNAVAILABLE)
            usleep(200000);
    }
    return code;
}

static int setup(void **state)
{
    (void)state;
    keys = th_keys_new("RS256");
    snprintf(jwks_path, sizeof jwks_path, "/tmp/confetti-kill-jwks-%d.json", (int)getpid());
    snprintf(key_path, sizeof key_path, "/tmp/confetti-kill-key-%d.pem", (int)getpid());
    write_file(jwks_path, th_keys_jwks(keys));
    write_file(key_path, th_keys_private_pem(keys));
    char rooms_url[128];
    th_ipc_url(rooms_url, sizeof rooms_url, "kill-rooms");
    char *cy = xasprintf("rooms:\n  urls: [\"%s\"]\n", rooms_url);
    start_proc(&catalog, "catalog", cy);
    free(cy);
    char *ay =
        xasprintf("signing:\n  keys: [\"%s=%s\"]\ncatalog:\n  urls: [\"%s\"]\n  timeout: 4s\n",
                  th_keys_kid(keys), key_path, catalog.url);
    start_proc(&auth, "auth", ay);
    free(ay);
    char *a1 = xasprintf("CONFETTI_CATALOG_URLS=%s", catalog.url);
    const char *renv[] = {a1, "CONFETTI_CATALOG_TIMEOUT=4s", NULL};
    rooms = th_service_start(rooms_service_def(),
                             &(th_service_opts){.keys = keys, .url = rooms_url, .env = renv});
    free(a1);
    register_app();
    assert_code(CF_OK, issue_now());
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    th_service_stop(rooms);
    proc *ps[] = {&auth, &catalog};
    for (int i = 0; i < 2; i++) {
        if (ps[i]->pid) {
            kill(ps[i]->pid, SIGTERM);
            waitpid(ps[i]->pid, NULL, 0);
        }
        rpc_client_free(ps[i]->client);
        th_pg_drop_db(ps[i]->dsn);
        free(ps[i]->dsn);
        unlink(ps[i]->cfg);
        unlink(ps[i]->log);
    }
    unlink(jwks_path);
    unlink(key_path);
    th_keys_free(keys);
    return 0;
}

/* auth dies while it waits for catalog's VerifyAppCredentials: its caller gets an error, not a
 * token; a new auth process issues tokens again. IssueAppToken writes nothing anywhere. */
static void test_sigkill_auth_in_the_middle_of_issue_app_token(void **state)
{
    (void)state;
    const char *before = value(auth.dsn, "SELECT count(*) FROM auth.token_blacklist");
    char was[64];
    snprintf(was, sizeof was, "%s", before);
    PGconn *lock = lock_apps();
    pending p = {0};
    start_call(&p, "IssueAppToken");
    wait_blocked(lock);
    kill_proc(&auth);
    finish_call(&p);
    unlock_apps(lock);
    restart_proc(&auth);
    assert_code(CF_OK, issue_now());
    assert_string_equal(value(auth.dsn, "SELECT count(*) FROM auth.token_blacklist"), was);
}

/* catalog dies in the middle of VerifyAppCredentials: auth answers UNAVAILABLE at once (the
 * peer's connection is gone) or at its catalog.timeout, never a token. */
static void test_sigkill_catalog_in_the_middle_of_issue_app_token(void **state)
{
    (void)state;
    PGconn *lock = lock_apps();
    pending p = {0};
    start_call(&p, "IssueAppToken");
    wait_blocked(lock);
    kill_proc(&catalog);
    finish_call(&p);
    assert_code(CF_UNAVAILABLE, p.code);
    unlock_apps(lock);
    restart_proc(&catalog);
    assert_code(CF_OK, issue_now());
}

/* catalog dies while rooms asks it about the room's app: CreateRoom fails clearly and leaves no
 * room, no member and no event behind; after the restart the same creation succeeds. */
static void test_sigkill_catalog_in_the_middle_of_create_room(void **state)
{
    (void)state;
    PGconn *lock = lock_apps();
    pending p = {0};
    start_call(&p, "CreateRoom");
    wait_blocked(lock);
    kill_proc(&catalog);
    finish_call(&p);
    unlock_apps(lock);
    assert_string_equal(value(rooms->dsn, "SELECT count(*) FROM rooms.rooms"), "0");
    assert_string_equal(value(rooms->dsn, "SELECT count(*) FROM rooms.participants"), "0");
    assert_string_equal(value(rooms->dsn, "SELECT count(*) FROM rooms.outbox"), "0");
    restart_proc(&catalog);
    pending again = {0};
    again.method = "CreateRoom";
    run_call(&again);
    assert_code(CF_OK, again.code);
    assert_string_equal(value(rooms->dsn, "SELECT count(*) FROM rooms.rooms"), "1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigkill_auth_in_the_middle_of_issue_app_token),
        cmocka_unit_test(test_sigkill_catalog_in_the_middle_of_issue_app_token),
        cmocka_unit_test(test_sigkill_catalog_in_the_middle_of_create_room),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
