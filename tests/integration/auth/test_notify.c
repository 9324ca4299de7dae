/* test_notify.c — issue 18 item 6: notification preferences and "a winner is told they won",
 * against the real parts: the private PostgreSQL, a bus, confetti-auth (the file mail sender:
 * the test reads what was "sent"), rooms, draw, and the gateway over HTTP.
 * - GET /v1/users/me/notifications: the defaults (won by e-mail when the user has a verified
 *   address), WebSocket always on; PATCH changes only what it names and answers what GET does;
 *   room overrides, INHERIT removes one;
 * - bad bodies get 400 INVALID_ARGUMENT naming the field (SPEC §6's error shape), a body over
 *   http.max_body 413, no token 401 (SPEC §6); the bound on room overrides;
 * - a draw whose winner wants e-mail: exactly one mail naming the room and the prize; a winner
 *   who turned e-mail off: none; the same events handled again (position rewound, auth
 *   restarted) and a second auth replica on the same database: still one mail per draw;
 * - a mail the sender cannot deliver is retried until it goes; a win revoked before its mail
 *   went is never mailed; /metrics counts the mails sent. */
#include "th.h"
#include "service.h"
#include "th_http.h"
#include "pg.h"
#include "testsvc.h"
#include "th_phase.h"
#include "th_proc.h"
#include "tokens.h"
#include "auth.h"
#include "bus.h"
#include "draw.h"
#include "gateway.h"
#include "rooms.h"
#include "base/xmalloc.h"
#include "health/v1/health.pb-c.h"
#include "pbjson/pbjson.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static th_keys *keys;
static th_service *bus, *auth, *rooms, *draw, *gwsvc;
static char keyfile[128], base[64], bus_pub[128], bus_sub[128], rooms_url[128], draw_url[128];
static char mailfile[128];
static char **auth_env;

/* ---- calls ---- */

static cf_code rpc(th_service *s, const ProtobufCServiceDescriptor *d, const char *name,
                   const char *json, const char *token, json_t **out)
{
    const ProtobufCMethodDescriptor *md = protobuf_c_service_descriptor_get_method_by_name(d, name);
    assert_non_null(md);
    ProtobufCMessage *req;
    if (pbjson_from_string(md->input, json, strlen(json), NULL, &req, NULL) != CF_OK)
        fail_msg("test bug: %s", json);
    rpc_ccall cc;
    rpc_ccall_init(&cc, NULL);
    cc.timeout_ms = 20000;
    char *bearer = xasprintf("Bearer %s", token);
    rpc_ccall_md(&cc, "authorization", bearer);
    rpc_client_invoke(s->client, d, (unsigned)(md - d->methods), req, &cc);
    protobuf_c_message_free_unpacked(req, NULL);
    free(bearer);
    cf_code code = cc.code;
    if (code != CF_OK)
        print_message("%s: %s\n", name, cc.message);
    if (out)
        *out = code == CF_OK ? pbjson_to_json(cc.response) : NULL;
    rpc_ccall_free(&cc);
    return code;
}

/* An RPC that must succeed; the string at the dotted path of its answer into out. */
static void rpc_ok(th_service *s, const ProtobufCServiceDescriptor *d, const char *name,
                   const char *json, const char *token, const char *path, char *out, size_t cap)
{
    json_t *j = NULL;
    cf_code code = rpc(s, d, name, json, token, &j);
    if (code != CF_OK)
        fail_msg("%s %s: %s", name, json, cf_code_name(code));
    if (path) {
        json_t *v = j;
        char buf[64];
        snprintf(buf, sizeof buf, "%s", path);
        for (char *t = strtok(buf, "."); t && v; t = strtok(NULL, "."))
            v = json_is_array(v) ? json_array_get(v, 0) : json_object_get(v, t);
        snprintf(out, cap, "%s", json_is_string(v) ? json_string_value(v) : "");
    }
    json_decref(j);
}

/* An HTTP request to the gateway: the status, and the body as JSON (NULL when not JSON). */
static json_t *http(const char *method, const char *body, const char *token, long *status)
{
    char url[256];
    snprintf(url, sizeof url, "%s/v1/users/me/notifications", base);
    th_http_resp r = th_http(&(th_http_req){
        .method = method, .url = url, .bearer = token, .body = body, .timeout_s = 60});
    *status = r.status;
    json_t *j = json_loads(r.body, 0, NULL);
    th_http_free(&r);
    return j;
}

static const char *jstr(json_t *j, const char *a, const char *b, const char *c)
{
    json_t *v = json_object_get(j, a);
    if (b)
        v = json_object_get(v, b);
    if (c)
        v = json_object_get(v, c);
    return json_is_string(v) ? json_string_value(v) : "";
}

/* ---- the database ---- */

static PGresult *sql(const char *dsn, const char *q, const char *const *p, int np)
{
    PGconn *c = th_pg_connect(dsn);
    PGresult *r = PQexecParams(c, q, np, NULL, p, NULL, NULL, 0);
    PQfinish(c);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", q, PQresultErrorMessage(r));
    return r;
}

static long sql_long(const char *q, const char *const *p, int np)
{
    PGresult *r = sql(auth->dsn, q, p, np);
    long n = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return n;
}

/* A user of auth's, as a login would have made it ("" email: none verified). */
static void add_user(const char *id, const char *email)
{
    const char *p[] = {id, email};
    PQclear(
        sql(auth->dsn,
            "INSERT INTO auth.users (id, email, provider, provider_id) VALUES ($1, $2, 'dev', $1)",
            p, 2));
}

/* ---- the mail file ---- */

/* How many mails in the file are to `to` and contain `needle`. */
static int mails(const char *to, const char *needle)
{
    FILE *f = fopen(mailfile, "r");
    if (!f)
        return 0;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = xcalloc(1, (size_t)n + 1);
    size_t got = fread(text, 1, (size_t)n, f);
    fclose(f);
    text[got] = '\0';
    char hdr[400];
    snprintf(hdr, sizeof hdr, "\r\nTo: %s\r\n", to);
    int count = 0;
    /* the file sender ends each mail with CRLF . CRLF */
    for (char *m = text; *m;) {
        char *end = strstr(m, "\r\n.\r\n");
        if (end)
            *end = '\0';
        if (strstr(m, hdr) && strstr(m, needle))
            count++;
        if (!end)
            break;
        m = end + 5;
    }
    free(text);
    return count;
}

/* Waits (up to 60 s, scaled) until `want` mails to `to` contain needle. */
static void wait_mails(const char *to, const char *needle, int want)
{
    int limit = 1200 * th_time_scale();
    for (int i = 0; i < limit && mails(to, needle) < want; i++)
        usleep(50000);
    if (mails(to, needle) != want)
        fail_msg("%d mails to %s with \"%s\", want %d", mails(to, needle), to, needle, want);
}

/* ---- setup ---- */

static void start_auth(th_service **out, const char *dsn, const char *url)
{
    *out = th_service_start(
        auth_service_def(),
        &(th_service_opts){
            .keys = keys, .dsn = dsn, .url = url, .env = (const char *const *)auth_env});
}

/* A second replica of auth as its own process (confetti-auth, as a deployment runs it) on the
 * database dsn, with the same settings; waits until it answers Health/Check. */
static pid_t replica_pid;
static char replica_cfg[128], replica_log[128];

static void start_replica(const char *dsn)
{
    char url[128];
    th_ipc_url(url, sizeof url, "nt-auth2");
    snprintf(replica_cfg, sizeof replica_cfg, "/tmp/confetti-notify-auth2-%d.yaml", (int)getpid());
    snprintf(replica_log, sizeof replica_log, "/tmp/confetti-notify-auth2-%d.log", (int)getpid());
    char *yaml =
        xasprintf("rpc:\n  listen: [\"%s\"]\n  workers: 2\n"
                  "admin:\n  listen: http://127.0.0.1:%d\n"
                  "auth:\n  jwks_file: %s\n  issuer: %s\n  audience: %s\n"
                  "signing:\n  keys: [\"%s=%s\"]\n"
                  "events:\n  bus: %s\n  subscribe: %s\n"
                  "catalog:\n  urls: []\n"
                  "mail:\n  sender: file\n  file: %s\n  from: noreply@confetti.test\n"
                  "notify:\n  draw_urls: [\"%s\"]\n  rooms_urls: [\"%s\"]\n",
                  url, th_free_port(), auth->jwks_path, TH_ISSUER, TH_AUDIENCE, th_keys_kid(keys),
                  keyfile, bus_pub, bus_sub, mailfile, draw_url, rooms_url);
    FILE *f = fopen(replica_cfg, "w");
    assert_non_null(f);
    fputs(yaml, f);
    fclose(f);
    free(yaml);
    const char *argv[] = {AUTH_BIN, "--config", replica_cfg, NULL};
    replica_pid = th_spawn_logged(argv, dsn, replica_log);
    const char *urls[] = {url};
    rpc_client *c = NULL;
    char err[256];
    assert_int_equal(
        rpc_client_new(&(rpc_client_config){.urls = urls, .nurls = 1}, &c, err, sizeof err), CF_OK);
    bool up = false;
    for (int i = 0; i < 600 * th_time_scale() && !up; i++) {
        Health__V1__CheckRequest req = HEALTH__V1__CHECK_REQUEST__INIT;
        rpc_ccall cc;
        rpc_ccall_init(&cc, NULL);
        cc.timeout_ms = 1000;
        rpc_client_invoke(c, &health__v1__health__descriptor, 0, &req.base, &cc);
        up = cc.code == CF_OK && ((Health__V1__CheckResponse *)cc.response)->status ==
                                     HEALTH__V1__CHECK_RESPONSE__SERVING_STATUS__SERVING;
        rpc_ccall_free(&cc);
        int st;
        if (!up && waitpid(replica_pid, &st, WNOHANG) == replica_pid)
            fail_msg("the auth replica exited at start; see %s", replica_log);
        if (!up)
            usleep(100000);
    }
    rpc_client_free(c);
    if (!up)
        fail_msg("the auth replica did not become ready; see %s", replica_log);
}

static int setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    keys = th_keys_new("RS256");
    snprintf(keyfile, sizeof keyfile, "/tmp/confetti-notify-key-%d.pem", (int)getpid());
    snprintf(mailfile, sizeof mailfile, "/tmp/confetti-notify-mail-%d.txt", (int)getpid());
    unlink(mailfile);
    FILE *f = fopen(keyfile, "w");
    fputs(th_keys_private_pem(keys), f);
    fclose(f);
    snprintf(base, sizeof base, "http://127.0.0.1:%d", th_free_port());
    th_ipc_url(bus_pub, sizeof bus_pub, "nt-bus-pub");
    th_ipc_url(bus_sub, sizeof bus_sub, "nt-bus-sub");
    th_ipc_url(rooms_url, sizeof rooms_url, "nt-rooms");
    th_ipc_url(draw_url, sizeof draw_url, "nt-draw");
    char *benv[] = {xasprintf("CONFETTI_BUS_PUBLISHERS=%s", bus_pub),
                    xasprintf("CONFETTI_BUS_SUBSCRIBERS=%s", bus_sub), NULL};
    bus = th_service_start(bus_service_def(),
                           &(th_service_opts){.dsn = "n/a", .env = (const char *const *)benv});
    auth_env = xcalloc(12, sizeof *auth_env);
    int i = 0;
    auth_env[i++] = xasprintf("CONFETTI_EVENTS_BUS=%s", bus_pub);
    auth_env[i++] = xasprintf("CONFETTI_EVENTS_SUBSCRIBE=%s", bus_sub);
    auth_env[i++] = xasprintf("CONFETTI_CATALOG_URLS=");
    auth_env[i++] = xasprintf("CONFETTI_SIGNING_KEYS=%s=%s", th_keys_kid(keys), keyfile);
    auth_env[i++] = xasprintf("CONFETTI_MAIL_SENDER=file");
    auth_env[i++] = xasprintf("CONFETTI_MAIL_FILE=%s", mailfile);
    auth_env[i++] = xasprintf("CONFETTI_MAIL_FROM=noreply@confetti.test");
    auth_env[i++] = xasprintf("CONFETTI_NOTIFY_DRAW_URLS=%s", draw_url);
    auth_env[i++] = xasprintf("CONFETTI_NOTIFY_ROOMS_URLS=%s", rooms_url);
    start_auth(&auth, NULL, NULL);
    char *venv[] = {xasprintf("CONFETTI_AUTH_JWKS_URLS=%s", auth->url),
                    xasprintf("CONFETTI_EVENTS_BUS=%s", bus_pub),
                    xasprintf("CONFETTI_ROOMS_URLS=%s", rooms_url),
                    xasprintf("CONFETTI_HTTP_LISTEN=%s", base),
                    xasprintf("CONFETTI_SERVICES_AUTH=%s", auth->url),
                    xasprintf("CONFETTI_SERVICES_ROOMS=%s", rooms_url),
                    xasprintf("CONFETTI_SERVICES_DRAW=%s", draw_url),
                    xasprintf("CONFETTI_RATELIMIT_RATE=0"),
                    NULL};
    const char *const renv[] = {venv[0], venv[1], NULL};
    rooms = th_service_start(rooms_service_def(),
                             &(th_service_opts){.keys = keys, .url = rooms_url, .env = renv});
    const char *const denv[] = {venv[0], venv[1], venv[2], NULL};
    draw = th_service_start(draw_service_def(),
                            &(th_service_opts){.keys = keys, .url = draw_url, .env = denv});
    const char *const genv[] = {venv[0], venv[3], venv[4], venv[5], venv[6], venv[7], NULL};
    gwsvc = th_service_start(gateway_service_def(), &(th_service_opts){.keys = keys, .env = genv});
    for (int k = 0; benv[k]; k++)
        free(benv[k]);
    for (int k = 0; venv[k]; k++)
        free(venv[k]);
    /* the gateway answers once its backends are there */
    long st = 0;
    for (int k = 0; k < 600 * th_time_scale(); k++) {
        json_decref(http("GET", NULL, NULL, &st));
        if (st == 401)
            break;
        usleep(50000);
    }
    assert_int_equal(st, 401);
    add_user("alice", "alice@confetti.test");
    add_user("bob", "bob@confetti.test");
    add_user("nomail", "");
    add_user("carol", "carol@confetti.test");
    add_user("dave", "dave@confetti.test");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    th_service_stop(gwsvc);
    th_service_stop(draw);
    th_service_stop(rooms);
    if (replica_pid > 0) {
        kill(replica_pid, SIGTERM);
        waitpid(replica_pid, NULL, 0);
        unlink(replica_cfg);
        unlink(replica_log);
    }
    th_service_stop(auth);
    th_service_free(bus);
    for (int i = 0; auth_env[i]; i++)
        free(auth_env[i]);
    free(auth_env);
    unlink(keyfile);
    unlink(mailfile);
    th_keys_free(keys);
    curl_global_cleanup();
    return 0;
}

/* ---- preferences ---- */

/* SPEC §6: no token, 401 UNAUTHENTICATED; an app token is not a user (403). */
static void test_signed_in_users_only(void **state)
{
    (void)state;
    long st;
    json_t *j = http("GET", NULL, NULL, &st);
    assert_int_equal(st, 401);
    assert_string_equal(jstr(j, "error", "status", NULL), "UNAUTHENTICATED");
    json_decref(j);
    j = http("PATCH", "{\"defaults\":{\"won\":{\"email\":\"OFF\"}}}", NULL, &st);
    assert_int_equal(st, 401);
    json_decref(j);
    j = http("GET", NULL, "not-a-token", &st);
    assert_int_equal(st, 401);
    json_decref(j);
}

/* Defaults: e-mail for wins when the user has a verified address, WebSocket always on. */
static void test_defaults(void **state)
{
    (void)state;
    long st;
    char *t = th_token(keys, "alice", 600, false);
    json_t *j = http("GET", NULL, t, &st);
    assert_int_equal(st, 200);
    assert_string_equal(jstr(j, "defaults", "won", "email"), "ON");
    assert_string_equal(jstr(j, "defaults", "won", "websocket"), "ON");
    assert_true(json_is_true(json_object_get(j, "emailDeliverable")));
    assert_int_equal(json_array_size(json_object_get(j, "rooms")), 0);
    json_decref(j);
    free(t);
    t = th_token(keys, "nomail", 600, false);
    j = http("GET", NULL, t, &st);
    assert_int_equal(st, 200);
    assert_string_equal(jstr(j, "defaults", "won", "email"), "OFF");
    assert_string_equal(jstr(j, "defaults", "won", "websocket"), "ON");
    assert_false(json_is_true(json_object_get(j, "emailDeliverable")));
    json_decref(j);
    free(t);
    /* a token whose user is not (or no longer) here */
    t = th_token(keys, "ghost", 600, false);
    j = http("GET", NULL, t, &st);
    assert_int_equal(st, 404);
    json_decref(j);
    free(t);
}

/* PATCH changes what it names and answers the settings GET then answers. */
static void test_patch_then_get(void **state)
{
    (void)state;
    long st;
    char *t = th_token(keys, "nomail", 600, false);
    json_t *j = http("PATCH",
                     "{\"defaults\":{\"won\":{\"email\":\"ON\"}},\"rooms\":[{\"roomId\":\"room-a\","
                     "\"won\":{\"email\":\"OFF\"}},{\"roomId\":\"room_b\",\"won\":{\"email\":"
                     "\"ON\",\"websocket\":\"ON\"}}]}",
                     t, &st);
    assert_int_equal(st, 200);
    char *patched = json_dumps(j, JSON_SORT_KEYS);
    json_decref(j);
    j = http("GET", NULL, t, &st);
    assert_int_equal(st, 200);
    char *got = json_dumps(j, JSON_SORT_KEYS);
    assert_string_equal(patched, got);
    assert_string_equal(jstr(j, "defaults", "won", "email"), "ON");
    json_t *rs = json_object_get(j, "rooms");
    assert_int_equal(json_array_size(rs), 2);
    assert_string_equal(jstr(json_array_get(rs, 0), "roomId", NULL, NULL), "room-a");
    assert_string_equal(jstr(json_array_get(rs, 0), "won", "email", NULL), "OFF");
    assert_string_equal(jstr(json_array_get(rs, 1), "roomId", NULL, NULL), "room_b");
    assert_string_equal(jstr(json_array_get(rs, 1), "won", "email", NULL), "ON");
    free(patched);
    free(got);
    json_decref(j);
    /* only what is named changes: an empty body, a room without kinds change nothing */
    j = http("PATCH", "{}", t, &st);
    assert_int_equal(st, 200);
    assert_int_equal(json_array_size(json_object_get(j, "rooms")), 2);
    assert_string_equal(jstr(j, "defaults", "won", "email"), "ON");
    json_decref(j);
    j = http("PATCH", "{\"rooms\":[{\"roomId\":\"room-a\"}]}", t, &st);
    assert_int_equal(st, 200);
    assert_int_equal(json_array_size(json_object_get(j, "rooms")), 2);
    json_decref(j);
    /* INHERIT removes an override; the defaults go OFF */
    j = http("PATCH",
             "{\"defaults\":{\"won\":{\"email\":\"OFF\"}},\"rooms\":[{\"roomId\":\"room-a\","
             "\"won\":{\"email\":\"INHERIT\"}}]}",
             t, &st);
    assert_int_equal(st, 200);
    assert_string_equal(jstr(j, "defaults", "won", "email"), "OFF");
    rs = json_object_get(j, "rooms");
    assert_int_equal(json_array_size(rs), 1);
    assert_string_equal(jstr(json_array_get(rs, 0), "roomId", NULL, NULL), "room_b");
    json_decref(j);
    /* one user's settings are not another's */
    char *a = th_token(keys, "alice", 600, false);
    j = http("GET", NULL, a, &st);
    assert_int_equal(json_array_size(json_object_get(j, "rooms")), 0);
    assert_string_equal(jstr(j, "defaults", "won", "email"), "ON");
    json_decref(j);
    free(a);
    free(t);
}

typedef struct bad {
    const char *what, *body;
    long status;
    const char *field; /* the violation's field ("" = do not check; NULL = none) */
} bad;

static char *many_rooms(int n, int from)
{
    size_t cap = (size_t)n * 64 + 64, o = 0;
    char *s = xmalloc(cap);
    o += (size_t)snprintf(s + o, cap - o, "{\"rooms\":[");
    for (int i = 0; i < n; i++)
        o += (size_t)snprintf(s + o, cap - o, "%s{\"roomId\":\"r%d\",\"won\":{\"email\":\"ON\"}}",
                              i ? "," : "", from + i);
    snprintf(s + o, cap - o, "]}");
    return s;
}

/* Bad bodies: 400 INVALID_ARGUMENT with the field named (SPEC §6's error shape); nothing
 * changes. */
static void test_bad_bodies(void **state)
{
    (void)state;
    char *over = many_rooms(NOTIFY_ROOMS_PER_PATCH + 1, 0);
    char *huge = xmalloc(2u << 20);
    memset(huge, ' ', 2u << 20);
    memcpy(huge, "{\"rooms\":[", 10);
    huge[(2u << 20) - 3] = ']';
    huge[(2u << 20) - 2] = '}';
    huge[(2u << 20) - 1] = '\0';
    const bad cases[] = {
        {"email as a JSON bool", "{\"defaults\":{\"won\":{\"email\":true}}}", 400, ""},
        {"an unknown delivery", "{\"defaults\":{\"won\":{\"email\":\"MAYBE\"}}}", 400, ""},
        {"an unknown kind", "{\"defaults\":{\"lost\":{\"email\":\"ON\"}}}", 400, ""},
        {"an unknown channel", "{\"defaults\":{\"won\":{\"sms\":\"ON\"}}}", 400, ""},
        {"an unknown key", "{\"color\":\"red\"}", 400, ""},
        {"rooms not a list", "{\"rooms\":{\"roomId\":\"x\"}}", 400, ""},
        {"defaults not an object", "{\"defaults\":3}", 400, ""},
        {"a list for a body", "[]", 400, NULL},
        {"not JSON", "{\"defaults\":", 400, NULL},
        {"INHERIT in the defaults", "{\"defaults\":{\"won\":{\"email\":\"INHERIT\"}}}", 400,
         "defaults.won.email"},
        {"WebSocket off", "{\"defaults\":{\"won\":{\"websocket\":\"OFF\"}}}", 400,
         "defaults.won.websocket"},
        {"WebSocket off in a room",
         "{\"rooms\":[{\"roomId\":\"r\",\"won\":{\"websocket\":\"INHERIT\"}}]}", 400,
         "rooms[0].won.websocket"},
        {"a room without id", "{\"rooms\":[{\"won\":{\"email\":\"ON\"}}]}", 400, "rooms[0].roomId"},
        {"a room id with a space", "{\"rooms\":[{\"roomId\":\"a b\"}]}", 400, "rooms[0].roomId"},
        {"a room id too long",
         "{\"rooms\":[{\"roomId\":"
         "\"r12345678901234567890123456789012345678901234567890123456789012345\"}]}",
         400, "rooms[0].roomId"},
        {"a room twice", "{\"rooms\":[{\"roomId\":\"r\"},{\"roomId\":\"r\"}]}", 400,
         "rooms[1].roomId"},
        {"too many rooms at once", over, 400, "rooms"},
        {"a body over http.max_body", huge, 413, NULL},
    };
    char *t = th_token(keys, "bob", 600, false);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        long st;
        json_t *j = http("PATCH", cases[i].body, t, &st);
        if (st != cases[i].status)
            fail_msg("%s: %ld, want %ld", cases[i].what, st, cases[i].status);
        json_t *e = json_object_get(j, "error");
        if (!e)
            fail_msg("%s: no SPEC error body", cases[i].what);
        if (st == 400)
            assert_string_equal(jstr(e, "status", NULL, NULL), "INVALID_ARGUMENT");
        if (cases[i].field && *cases[i].field) {
            json_t *d = json_array_get(json_object_get(e, "details"), 0);
            if (strcmp(jstr(d, "field", NULL, NULL), cases[i].field) != 0)
                fail_msg("%s: field \"%s\", want %s", cases[i].what, jstr(d, "field", NULL, NULL),
                         cases[i].field);
        } else if (cases[i].field) {
            /* the transcoder's refusals name the field too */
            json_t *d = json_array_get(json_object_get(e, "details"), 0);
            if (!*jstr(d, "field", NULL, NULL))
                fail_msg("%s: no field named: %s", cases[i].what, jstr(e, "message", NULL, NULL));
        }
        json_decref(j);
    }
    free(over);
    free(huge);
    /* nothing of it was kept */
    long st;
    json_t *j = http("GET", NULL, t, &st);
    assert_int_equal(st, 200);
    assert_int_equal(json_array_size(json_object_get(j, "rooms")), 0);
    assert_string_equal(jstr(j, "defaults", "won", "email"), "ON");
    json_decref(j);
    free(t);
}

/* At most NOTIFY_MAX_ROOMS overrides per user: the update past it is refused whole. */
static void test_room_override_bound(void **state)
{
    (void)state;
    add_user("many", "many@confetti.test");
    char *t = th_token(keys, "many", 600, false);
    long st;
    for (int from = 0; from < NOTIFY_MAX_ROOMS; from += NOTIFY_ROOMS_PER_PATCH) {
        char *b = many_rooms(NOTIFY_ROOMS_PER_PATCH, from);
        json_decref(http("PATCH", b, t, &st));
        assert_int_equal(st, 200);
        free(b);
    }
    char *b = many_rooms(2, NOTIFY_MAX_ROOMS - 1); /* one known, one new */
    json_t *j = http("PATCH", b, t, &st);
    free(b);
    assert_int_equal(st, 400);
    json_t *d = json_array_get(json_object_get(json_object_get(j, "error"), "details"), 0);
    assert_string_equal(jstr(d, "field", NULL, NULL), "rooms");
    json_decref(j);
    const char *p[] = {"many"};
    assert_int_equal(
        sql_long("SELECT count(*) FROM auth.notification_prefs WHERE user_id = $1", p, 1),
        NOTIFY_MAX_ROOMS);
    /* an existing override can still change, and INHERIT frees a place */
    j = http("PATCH",
             "{\"rooms\":[{\"roomId\":\"r0\",\"won\":{\"email\":\"INHERIT\"}},{\"roomId\":"
             "\"new\",\"won\":{\"email\":\"OFF\"}}]}",
             t, &st);
    assert_int_equal(st, 200);
    assert_int_equal(json_array_size(json_object_get(j, "rooms")), NOTIFY_MAX_ROOMS);
    json_decref(j);
    free(t);
}

/* ---- the winner mail ---- */

static const char *org_token(void)
{
    static char *t;
    if (!t)
        t = th_token(keys, "organizer", 3600, false);
    return t;
}

/* A public room named name, active, whose only participant is user; its id into room. */
static void make_room(const char *name, const char *user, char *room)
{
    const ProtobufCServiceDescriptor *rd = &rooms__v1__rooms__descriptor;
    char json[512];
    snprintf(json, sizeof json, "{\"name\":\"%s\",\"isPublic\":true}", name);
    rpc_ok(rooms, rd, "CreateRoom", json, org_token(), "roomId", room, 64);
    snprintf(json, sizeof json, "{\"roomId\":\"%s\"}", room);
    char *ut = th_token(keys, user, 600, false);
    rpc_ok(rooms, rd, "AddParticipant", json, ut, NULL, NULL, 0);
    free(ut);
    rpc_ok(rooms, rd, "ActivateRoom", json, org_token(), NULL, NULL, 0);
}

/* A new prize named prize_name in room, and a draw of one winner (a participant wins a prize
 * once: ONE_WIN_PER_PRIZE); the draw's id into draw_id. */
static void draw_one(const char *room, const char *prize_name, char *draw_id)
{
    char json[256], prize[64];
    snprintf(json, sizeof json, "{\"roomId\":\"%s\",\"name\":\"%s\",\"quantity\":1}", room,
             prize_name);
    rpc_ok(draw, &draw__v1__draw__descriptor, "CreatePrize", json, org_token(), "prizeId", prize,
           sizeof prize);
    snprintf(json, sizeof json, "{\"roomId\":\"%s\",\"prizeId\":\"%s\",\"count\":1}", room, prize);
    rpc_ok(draw, &draw__v1__draw__descriptor, "DrawWinners", json, org_token(), "draw.drawId",
           draw_id, 64);
    assert_true(*draw_id);
}

/* draw_one that also gives the winner row's id (winner_id, 64 bytes). */
static void draw_winner(const char *room, const char *prize_name, char *draw_id, char *winner_id)
{
    char json[256], prize[64];
    snprintf(json, sizeof json, "{\"roomId\":\"%s\",\"name\":\"%s\",\"quantity\":1}", room,
             prize_name);
    rpc_ok(draw, &draw__v1__draw__descriptor, "CreatePrize", json, org_token(), "prizeId", prize,
           sizeof prize);
    snprintf(json, sizeof json, "{\"roomId\":\"%s\",\"prizeId\":\"%s\",\"count\":1}", room, prize);
    json_t *out = NULL;
    assert_int_equal(rpc(draw, &draw__v1__draw__descriptor, "DrawWinners", json, org_token(), &out),
                     CF_OK);
    snprintf(draw_id, 64, "%s", jstr(out, "draw", "drawId", NULL));
    json_t *w = json_array_get(json_object_get(out, "winners"), 0);
    snprintf(winner_id, 64, "%s", jstr(w, "winnerId", NULL, NULL));
    json_decref(out);
    assert_true(*draw_id && *winner_id);
}

/* Waits (up to 60 s, scaled) until the mail row of (draw, user) is in state with at least
 * attempts attempts. */
static void wait_row(const char *draw_id, const char *user, const char *state, long attempts)
{
    char attempts_s[16];
    snprintf(attempts_s, sizeof attempts_s, "%ld", attempts);
    const char *q[] = {draw_id, user, state, attempts_s};
    for (int i = 0; i < 1200 * th_time_scale(); i++) {
        if (sql_long("SELECT count(*) FROM auth.notification_mails WHERE draw_id = $1 AND user_id "
                     "= $2 AND state = $3 AND attempts >= $4::integer",
                     q, 4) == 1)
            return;
        usleep(50000);
    }
    fail_msg("the mail of draw %s to %s never reached %s after %ld attempts", draw_id, user, state,
             attempts);
}

static char room_a[64], draw_a[64];

/* A winner who wants e-mail gets exactly one, naming the room and the prize; one who turned it
 * off gets none. */
static void test_winner_is_told_once(void **state)
{
    (void)state;
    make_room("Summer party", "alice", room_a);
    draw_one(room_a, "Golden mug", draw_a);
    char needle[128];
    snprintf(needle, sizeof needle, "Draw: %s", draw_a);
    wait_mails("alice@confetti.test", needle, 1);
    assert_int_equal(mails("alice@confetti.test", "You won \"Golden mug\" in the room \"Summer "
                                                  "party\""),
                     1);
    assert_int_equal(mails("alice@confetti.test", "Subject: You won a prize"), 1);

    /* bob: e-mail off in this room only (his defaults say on) */
    char room_b[64], draw_b[64], json[256];
    make_room("Quiet room", "bob", room_b);
    char *bt = th_token(keys, "bob", 600, false);
    long st;
    snprintf(json, sizeof json, "{\"rooms\":[{\"roomId\":\"%s\",\"won\":{\"email\":\"OFF\"}}]}",
             room_b);
    json_decref(http("PATCH", json, bt, &st));
    assert_int_equal(st, 200);
    draw_one(room_b, "Silent mug", draw_b);
    /* a later win of alice's: its mail comes after bob's event was handled (seq order) */
    char draw_a2[64];
    draw_one(room_a, "Silver mug", draw_a2);
    snprintf(needle, sizeof needle, "Draw: %s", draw_a2);
    wait_mails("alice@confetti.test", needle, 1);
    assert_int_equal(mails("bob@confetti.test", ""), 0);
    /* and bob's defaults still send: a win in another room is mailed */
    char room_c[64], draw_c[64];
    make_room("Loud room", "bob", room_c);
    draw_one(room_c, "Loud mug", draw_c);
    snprintf(needle, sizeof needle, "Draw: %s", draw_c);
    wait_mails("bob@confetti.test", needle, 1);
    assert_int_equal(mails("bob@confetti.test", ""), 1);
    free(bt);
    /* operators see it on /metrics */
    char murl[128];
    snprintf(murl, sizeof murl, "http://127.0.0.1:%d/metrics", auth->admin_port);
    th_http_resp mr = th_http(&(th_http_req){.method = "GET", .url = murl});
    assert_int_equal(mr.status, 200);
    assert_non_null(strstr(mr.body, "confetti_auth_notify_mails_sent_total"));
    th_http_free(&mr);
    const char *p[] = {draw_a};
    assert_int_equal(sql_long("SELECT count(*) FROM auth.notification_mails WHERE draw_id = $1 AND "
                              "state = 'sent'",
                              p, 1),
                     1);
}

/* A mail the sender cannot deliver (the mail file is a directory: even root cannot append to
 * it) stays pending with its error and goes at a later attempt; a win revoked while its mail
 * waits is never mailed. */
static void test_failed_mail_is_retried_revoked_win_is_not_mailed(void **state)
{
    (void)state;
    char aside[160];
    snprintf(aside, sizeof aside, "%s.aside", mailfile);
    assert_int_equal(rename(mailfile, aside), 0);
    assert_int_equal(mkdir(mailfile, 0700), 0);
    char room_c[64], room_d[64], draw_c[64], win_c[64], draw_d[64], win_d[64], json[256];
    make_room("Retry room", "carol", room_c);
    make_room("Revoked room", "dave", room_d);
    draw_winner(room_c, "Retry mug", draw_c, win_c);
    draw_winner(room_d, "Revoked mug", draw_d, win_d);
    const char *keep = draw_c, *keep_user = "carol", *drop = draw_d, *drop_user = "dave";
    PGresult *r;
    wait_row(keep, keep_user, "pending", 1);
    wait_row(drop, drop_user, "pending", 1);
    const char *k[] = {keep, keep_user};
    r = sql(auth->dsn,
            "SELECT last_error FROM auth.notification_mails WHERE draw_id = $1 AND user_id = $2", k,
            2);
    assert_non_null(strstr(PQgetvalue(r, 0, 0), "mail server"));
    PQclear(r);
    snprintf(json, sizeof json, "{\"roomId\":\"%s\",\"winnerId\":\"%s\",\"reason\":\"no show\"}",
             room_d, win_d);
    rpc_ok(draw, &draw__v1__draw__descriptor, "RevokeWinner", json, org_token(), NULL, NULL, 0);
    wait_row(drop, drop_user, "failed", 1);
    /* the mail file back: the kept mail goes at its next attempt */
    assert_int_equal(rmdir(mailfile), 0);
    assert_int_equal(rename(aside, mailfile), 0);
    char needle[128], to[64];
    snprintf(needle, sizeof needle, "Draw: %s", keep);
    snprintf(to, sizeof to, "%s@confetti.test", keep_user);
    wait_mails(to, needle, 1);
    wait_row(keep, keep_user, "sent", 2);
    snprintf(to, sizeof to, "%s@confetti.test", drop_user);
    assert_int_equal(mails(to, ""), 0);
}

/* The same events handled again — the saved position rewound to the start, auth restarted,
 * and a second replica (its own process) on the same database following the same events — still
 * one mail per (draw, winner). */
static void test_replayed_events_send_nothing_more(void **state)
{
    (void)state;
    const char *p[] = {draw_a};
    int before = mails("alice@confetti.test", "");
    assert_true(before >= 2);
    char *dsn = xstrdup(auth->dsn), url[128];
    snprintf(url, sizeof url, "%s", auth->url);
    th_service_halt(auth);
    PQclear(sql(dsn, "UPDATE auth.event_positions SET seq = 0 WHERE source = 'draw'", NULL, 0));
    start_replica(dsn); /* it replays draw's events from the start */
    th_service_free(auth);
    start_auth(&auth, dsn, url);
    free(dsn);
    /* a new win after the replayed ones: when its mail is there, both replicas handed the older
     * events over already (in seq order, the new one last) */
    char draw_n[64], needle[128];
    draw_one(room_a, "Bronze mug", draw_n);
    snprintf(needle, sizeof needle, "Draw: %s", draw_n);
    wait_mails("alice@confetti.test", needle, 1);
    const char *q[] = {"draw"};
    long seq = sql_long("SELECT seq FROM auth.event_positions WHERE source = $1", q, 1);
    assert_true(seq >= 5); /* the replay went through every draw of the suite */
    assert_int_equal(mails("alice@confetti.test", ""), before + 1);
    snprintf(needle, sizeof needle, "Draw: %s", draw_a);
    assert_int_equal(mails("alice@confetti.test", needle), 1);
    assert_int_equal(
        sql_long("SELECT count(*) FROM auth.notification_mails WHERE draw_id = $1", p, 1), 1);
}

/* The maintenance job "notification_mails" (services/auth/maint.c) purges the mails sent or
 * given up more than 90 days ago, and only those: a pending or sending one, or a recent one, is
 * what keeps a replayed event from mailing again. */
static void test_old_mails_are_purged(void **state)
{
    (void)state;
    PQclear(sql(auth->dsn,
                "INSERT INTO auth.notification_mails (draw_id, user_id, room_id, prize_id, "
                "event_id, state, next_at, updated_at) VALUES "
                "('purge-d1', 'u', 'r', 'p', 'e', 'sent', 0, now() - interval '91 days'), "
                "('purge-d2', 'u', 'r', 'p', 'e', 'failed', 0, now() - interval '91 days'), "
                "('purge-d3', 'u', 'r', 'p', 'e', 'sent', 0, now() - interval '89 days'), "
                "('purge-d4', 'u', 'r', 'p', 'e', 'pending', 0, now() - interval '91 days'), "
                "('purge-d5', 'u', 'r', 'p', 'e', 'sending', 0, now() - interval '91 days')",
                NULL, 0));
    const svc_maint_job *job = NULL;
    for (size_t i = 0; i < auth_maint_njobs; i++)
        if (strcmp(auth_maint_jobs[i].name, "notification_mails") == 0)
            job = &auth_maint_jobs[i];
    assert_non_null(job);
    db_conn *db = db_conn_new(auth->dsn, "auth", NULL, 0);
    assert_code(CF_OK, db_conn_ensure(db));
    int64_t purged = 0;
    assert_code(CF_OK, job->run(db, job->arg, (int64_t)time(NULL), 1000, &purged));
    db_conn_free(db);
    assert_int_equal(purged, 2);
    assert_int_equal(sql_long("SELECT count(*) FROM auth.notification_mails WHERE draw_id LIKE "
                              "'purge-%' AND draw_id NOT IN ('purge-d1', 'purge-d2')",
                              NULL, 0),
                     3);
    PQclear(sql(auth->dsn, "DELETE FROM auth.notification_mails WHERE draw_id LIKE 'purge-%'", NULL,
                0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signed_in_users_only),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_patch_then_get),
        cmocka_unit_test(test_bad_bodies),
        cmocka_unit_test(test_room_override_bound),
        cmocka_unit_test(test_winner_is_told_once),
        cmocka_unit_test(test_failed_mail_is_retried_revoked_win_is_not_mailed),
        cmocka_unit_test(test_replayed_events_send_nothing_more),
        cmocka_unit_test(test_old_mails_are_purged),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
