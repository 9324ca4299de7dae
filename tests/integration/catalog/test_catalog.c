/* test_catalog.c — confetti-catalog as its callers see it: every method through real RPC (nng,
 * envelope, dispatcher, token verification) against a fresh PostgreSQL database, with an
 * injected clock for the secret grace period. Rules are tables where the spec is a table
 * (callers × methods, version order, bad inputs). */
#include "th.h"
#include "th_proc.h"
#include "pg.h"
#include "service.h"
#include "catalog.h"
#include "pbjson/pbjson.h"
#include "page/page.h"
#include "testsvc.h"
#include "base/xmalloc.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

static th_keys *keys;
static th_service *svc;
static cf_clock test_clock = CF_CLOCK_REAL; /* tests move time with .offset */
static char *tok_alice, *tok_bob, *tok_admin, *tok_app;

/* --- calling --- */

typedef struct reply {
    rpc_ccall cc;
} reply;

/* Calls method (short name) with req as `token` (NULL: none), optional idempotency key.
 * The result stays in *r until done(r). */
static cf_code call_idem(const char *method, const void *req, const char *token, const char *idem,
                         reply *r)
{
    const ProtobufCServiceDescriptor *d = &catalog__v1__catalog__descriptor;
    const ProtobufCMethodDescriptor *m =
        protobuf_c_service_descriptor_get_method_by_name(d, method);
    if (!m)
        fail_msg("test bug: no method %s", method);
    rpc_ccall_init(&r->cc, NULL);
    char *bearer = token ? xasprintf("Bearer %s", token) : NULL;
    if (bearer)
        rpc_ccall_md(&r->cc, "authorization", bearer);
    if (idem)
        rpc_ccall_md(&r->cc, "idempotency-key", idem);
    rpc_client_invoke(svc->client, d, (unsigned)(m - d->methods), req, &r->cc);
    free(bearer);
    return r->cc.code;
}

static cf_code call(const char *method, const void *req, const char *token, reply *r)
{
    return call_idem(method, req, token, NULL, r);
}

static void done(reply *r)
{
    rpc_ccall_free(&r->cc);
}

/* The field of the first violation ("" if none). */
static const char *violation(const reply *r)
{
    return r->cc.ndetails ? r->cc.details[0]->field : "";
}

static bool has_violation(const reply *r, const char *field)
{
    for (size_t i = 0; i < r->cc.ndetails; i++)
        if (strcmp(r->cc.details[i]->field, field) == 0)
            return true;
    return false;
}

/* A Struct from JSON text (protobuf-c's allocator: free with free_struct). */
static Google__Protobuf__Struct *st(const char *json)
{
    json_error_t e;
    json_t *j = json_loads(json, 0, &e);
    if (!j)
        fail_msg("test bug: %s: %s", json, e.text);
    Google__Protobuf__Struct *s = NULL;
    if (pbjson_struct_from_json(j, NULL, &s, NULL) != CF_OK)
        fail_msg("test bug: not a Struct: %s", json);
    json_decref(j);
    return s;
}

static void free_struct(Google__Protobuf__Struct *s)
{
    if (s)
        protobuf_c_message_free_unpacked(&s->base, NULL);
}

static char *manifest_json(const char *version, const char *schema)
{
    return xasprintf("{\"name\":\"Wheel\",\"version\":\"%s\",\"permissions\":[\"rooms:read\","
                     "\"winners:draw\"],\"settingsSchema\":%s}",
                     version, schema ? schema : "{\"type\":\"object\"}");
}

typedef struct app {
    char id[64];
    char secret[128];
} app;

/* Registers an app (manifest version 1.0.0) as token; fails the test otherwise. */
static app register_app(const char *token, const char *schema)
{
    char *mj = manifest_json("1.0.0", schema);
    Catalog__V1__RegisterAppRequest req = CATALOG__V1__REGISTER_APP_REQUEST__INIT;
    req.name = "Wheel of Fortune";
    req.manifest = st(mj);
    reply r;
    if (call("RegisterApp", &req, token, &r) != CF_OK)
        fail_msg("RegisterApp: %s %s", cf_code_name(r.cc.code), r.cc.message);
    Catalog__V1__RegisterAppResponse *resp = (void *)r.cc.response;
    app a;
    snprintf(a.id, sizeof a.id, "%s", resp->app->app_id);
    snprintf(a.secret, sizeof a.secret, "%s", resp->app_secret);
    done(&r);
    free_struct(req.manifest);
    free(mj);
    return a;
}

static cf_code simple(const char *method, const char *app_id, const char *token)
{
    /* every *AppRequest with only app_id has the same layout: use GetAppRequest */
    Catalog__V1__GetAppRequest req = CATALOG__V1__GET_APP_REQUEST__INIT;
    req.app_id = (char *)app_id;
    const ProtobufCMethodDescriptor *m =
        protobuf_c_service_descriptor_get_method_by_name(&catalog__v1__catalog__descriptor, method);
    /* pack as the method's own input type: same field 1 */
    ProtobufCMessage *in = xcalloc(1, m->input->sizeof_message);
    m->input->message_init(in);
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(m->input, "app_id");
    if (f)
        *(char **)((char *)in + f->offset) = req.app_id;
    reply r;
    cf_code code = call(method, in, token, &r);
    done(&r);
    free(in);
    return code;
}

static cf_code verify(const char *app_id, const char *secret)
{
    Catalog__V1__VerifyAppCredentialsRequest req =
        CATALOG__V1__VERIFY_APP_CREDENTIALS_REQUEST__INIT;
    req.app_id = (char *)app_id;
    req.app_secret = (char *)secret;
    reply r;
    cf_code code = call("VerifyAppCredentials", &req, NULL, &r);
    if (code == CF_UNAUTHENTICATED) /* never says which part was wrong */
        assert_string_equal(r.cc.message, "invalid app credentials");
    done(&r);
    return code;
}

/* The last publish()'s first detail, "field: description" ("" if none). */
static char last_detail[512];

static cf_code publish(const char *app_id, const char *version, const char *schema,
                       const char *token)
{
    char *mj = manifest_json(version, schema);
    Catalog__V1__PublishManifestRequest req = CATALOG__V1__PUBLISH_MANIFEST_REQUEST__INIT;
    req.app_id = (char *)app_id;
    req.manifest = st(mj);
    reply r;
    cf_code code = call("PublishManifest", &req, token, &r);
    if (code == CF_OK)
        assert_string_equal(((Catalog__V1__App *)r.cc.response)->manifest_version, version);
    snprintf(last_detail, sizeof last_detail, "%s%s%s", r.cc.ndetails ? r.cc.details[0]->field : "",
             r.cc.ndetails ? ": " : "", r.cc.ndetails ? r.cc.details[0]->description : "");
    done(&r);
    free_struct(req.manifest);
    free(mj);
    return code;
}

/* --- setup --- */

static int setup(void **state)
{
    (void)state;
    keys = th_keys_new("RS256");
    svc = th_service_start(catalog_service_def(),
                           &(th_service_opts){.keys = keys, .clock = &test_clock});
    int ttl = 4 * 24 * 3600; /* outlives the clock moves below */
    tok_alice = th_token(keys, "user-alice", ttl, false);
    tok_bob = th_token(keys, "user-bob", ttl, false);
    tok_admin = th_token(keys, "user-admin", ttl, true);
    /* an app token whose manifest grants apps:read: the rights table below is about catalog's
     * own rules; what the scopes alone allow is tests/integration/scopes */
    tok_app = th_token_claims(
        keys, &(authn_claims){.sub = "app:cxyz", .ttl_seconds = ttl, .scope = "apps:read"});
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    th_service_stop(svc);
    free(tok_alice);
    free(tok_bob);
    free(tok_admin);
    free(tok_app);
    th_keys_free(keys);
    return 0;
}

/* --- tests --- */

static void test_register_shows_secret_once_and_get_reads(void **state)
{
    (void)state;
    app a = register_app(tok_alice, NULL);
    assert_int_equal(strlen(a.secret), 43); /* 256 bits, base64url */
    for (const char *p = a.secret; *p; p++)
        assert_non_null(
            strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", *p));
    app b = register_app(tok_alice, NULL);
    assert_string_not_equal(a.secret, b.secret);
    assert_string_not_equal(a.id, b.id);

    Catalog__V1__GetAppRequest req = CATALOG__V1__GET_APP_REQUEST__INIT;
    req.app_id = a.id;
    reply r;
    assert_code(CF_OK, call("GetApp", &req, tok_bob, &r)); /* active: any signed-in user */
    Catalog__V1__App *got = (void *)r.cc.response;
    assert_string_equal(got->app_id, a.id);
    assert_string_equal(got->name, "Wheel of Fortune");
    assert_string_equal(got->owner_user_id, "user-alice");
    assert_string_equal(got->manifest_version, "1.0.0");
    assert_true(got->is_active);
    assert_non_null(got->created_at);
    assert_true(got->created_at->seconds > 1700000000);
    json_t *mj = pbjson_struct_to_json(got->manifest);
    char *json = json_dumps(mj, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(mj);
    assert_non_null(strstr(json, "\"version\":\"1.0.0\""));
    assert_non_null(strstr(json, "\"permissions\":[\"rooms:read\",\"winners:draw\"]"));
    assert_null(strstr(json, a.secret));
    free(json);
    done(&r);
    assert_code(CF_UNAUTHENTICATED, call("GetApp", &req, NULL, &r));
    done(&r);
}

static void test_database_holds_no_plaintext_secret(void **state)
{
    (void)state;
    app a = register_app(tok_alice, NULL);
    Catalog__V1__RegenerateSecretRequest rq = CATALOG__V1__REGENERATE_SECRET_REQUEST__INIT;
    rq.app_id = a.id;
    reply r;
    assert_code(CF_OK, call("RegenerateSecret", &rq, tok_alice, &r));
    char second[128];
    snprintf(second, sizeof second, "%s",
             ((Catalog__V1__RegenerateSecretResponse *)r.cc.response)->app_secret);
    done(&r);

    PGconn *pg = th_pg_connect(svc->dsn);
    /* every column of every catalog table, as text */
    PGresult *res =
        PQexec(pg, "SELECT row_to_json(a)::text FROM catalog.apps a "
                   "UNION ALL SELECT row_to_json(m)::text FROM catalog.manifests m "
                   "UNION ALL SELECT row_to_json(k)::text FROM catalog.idempotency_keys k");
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    assert_true(PQntuples(res) > 0);
    for (int i = 0; i < PQntuples(res); i++) {
        const char *row = PQgetvalue(res, i, 0);
        if (strstr(row, a.secret) || strstr(row, second))
            fail_msg("a plaintext secret is stored: %s", row);
    }
    PQclear(res);
    /* what is stored is SHA-256(secret): current and previous */
    unsigned char h[32];
    unsigned int hl;
    char hex[65];
    const char *p[] = {a.id, hex};
    EVP_Digest(second, strlen(second), h, &hl, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", h[i]);
    res = PQexecParams(pg,
                       "SELECT 1 FROM catalog.apps WHERE app_id = $1 AND "
                       "encode(app_secret_hash, 'hex') = $2",
                       2, NULL, p, NULL, NULL, 0);
    assert_int_equal(PQntuples(res), 1);
    PQclear(res);
    EVP_Digest(a.secret, strlen(a.secret), h, &hl, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", h[i]);
    res = PQexecParams(pg,
                       "SELECT 1 FROM catalog.apps WHERE app_id = $1 AND "
                       "encode(prev_secret_hash, 'hex') = $2",
                       2, NULL, p, NULL, NULL, 0);
    assert_int_equal(PQntuples(res), 1);
    PQclear(res);
    PQfinish(pg);
}

static void test_verify_credentials(void **state)
{
    (void)state;
    app a = register_app(tok_alice, NULL);
    app other = register_app(tok_bob, NULL);
    Catalog__V1__VerifyAppCredentialsRequest req =
        CATALOG__V1__VERIFY_APP_CREDENTIALS_REQUEST__INIT;
    req.app_id = a.id;
    req.app_secret = a.secret;
    reply r;
    assert_code(CF_OK, call("VerifyAppCredentials", &req, NULL, &r)); /* no token needed */
    Catalog__V1__VerifyAppCredentialsResponse *resp = (void *)r.cc.response;
    assert_string_equal(resp->app->app_id, a.id);
    assert_int_equal(resp->n_permissions, 2);
    assert_string_equal(resp->permissions[0], "rooms:read");
    assert_string_equal(resp->permissions[1], "winners:draw");
    done(&r);

    char wrong[128];
    snprintf(wrong, sizeof wrong, "%s", a.secret);
    wrong[0] = wrong[0] == 'A' ? 'B' : 'A';
    static const char *const unknown = "cunknownappid0000000000000";
    assert_code(CF_UNAUTHENTICATED, verify(a.id, wrong));
    assert_code(CF_UNAUTHENTICATED, verify(a.id, other.secret)); /* another app's secret */
    assert_code(CF_UNAUTHENTICATED, verify(unknown, a.secret));
    assert_code(CF_UNAUTHENTICATED, verify(a.id, "short"));
    assert_code(CF_INVALID_ARGUMENT, verify("", a.secret));
    assert_code(CF_INVALID_ARGUMENT, verify(a.id, ""));

    /* inactive: refused; active again: accepted; deleted: refused */
    assert_code(CF_OK, simple("DeactivateApp", a.id, tok_alice));
    assert_code(CF_UNAUTHENTICATED, verify(a.id, a.secret));
    assert_code(CF_OK, simple("ActivateApp", a.id, tok_alice));
    assert_code(CF_OK, verify(a.id, a.secret));
    assert_code(CF_OK, simple("DeleteApp", a.id, tok_alice));
    assert_code(CF_UNAUTHENTICATED, verify(a.id, a.secret));
}

static void test_old_secret_works_during_grace_and_not_after(void **state)
{
    (void)state;
    app a = register_app(tok_alice, NULL);
    test_clock.offset = 0;
    int64_t before = test_clock.now(&test_clock);
    Catalog__V1__RegenerateSecretRequest rq = CATALOG__V1__REGENERATE_SECRET_REQUEST__INIT;
    rq.app_id = a.id;
    reply r;
    assert_code(CF_PERMISSION_DENIED, call("RegenerateSecret", &rq, tok_bob, &r));
    done(&r);
    assert_code(CF_OK, call("RegenerateSecret", &rq, tok_alice, &r));
    Catalog__V1__RegenerateSecretResponse *resp = (void *)r.cc.response;
    char fresh[128];
    snprintf(fresh, sizeof fresh, "%s", resp->app_secret);
    int64_t until = resp->previous_valid_until->seconds;
    done(&r);
    assert_string_not_equal(fresh, a.secret);
    assert_true(until >= before + 24 * 3600 && until <= before + 24 * 3600 + 5); /* default 24 h */

    assert_code(CF_OK, verify(a.id, fresh));
    assert_code(CF_OK, verify(a.id, a.secret)); /* in its grace */
    test_clock.offset = until - before - 30;    /* just before the end */
    assert_code(CF_OK, verify(a.id, a.secret));
    test_clock.offset = until - before + 30; /* just after */
    assert_code(CF_UNAUTHENTICATED, verify(a.id, a.secret));
    assert_code(CF_OK, verify(a.id, fresh));
    test_clock.offset = 0;

    /* a second rotation ends the first secret's grace at once: only one previous is kept */
    assert_code(CF_OK, call("RegenerateSecret", &rq, tok_admin, &r)); /* admins may */
    char third[128];
    snprintf(third, sizeof third, "%s",
             ((Catalog__V1__RegenerateSecretResponse *)r.cc.response)->app_secret);
    done(&r);
    assert_code(CF_OK, verify(a.id, third));
    assert_code(CF_OK, verify(a.id, fresh));
    assert_code(CF_UNAUTHENTICATED, verify(a.id, a.secret));
}

/* The version rule as a table: each row publishes on one app in order. */
static void test_publish_version_order(void **state)
{
    (void)state;
    app a = register_app(tok_alice, NULL);
    static const struct {
        const char *version;
        int who; /* 0 alice (owner), 1 bob, 2 admin */
        cf_code code;
    } table[] = {
        {"1.0.0", 0, CF_ALREADY_EXISTS},           /* equal */
        {"1.0.0+build.7", 0, CF_ALREADY_EXISTS},   /* equal precedence */
        {"0.9.9", 0, CF_FAILED_PRECONDITION},      /* lower */
        {"1.0.0-rc.1", 0, CF_FAILED_PRECONDITION}, /* a pre-release of the current is lower */
        {"1.1.0-alpha", 1, CF_PERMISSION_DENIED},  /* not the owner */
        {"1.1.0-alpha", 0, CF_OK},
        {"1.1.0-alpha.1", 0, CF_OK},
        {"1.1.0-alpha.beta", 0, CF_OK},
        {"1.1.0-alpha.10", 0, CF_FAILED_PRECONDITION}, /* numeric < alphanumeric */
        {"1.1.0-beta.2", 0, CF_OK},
        {"1.1.0-beta.11", 0, CF_OK},
        {"1.1.0-beta.3", 0, CF_FAILED_PRECONDITION}, /* 3 < 11 numerically */
        {"1.1.0", 2, CF_OK},                         /* an admin may */
        {"1.1.0", 0, CF_ALREADY_EXISTS},
        {"1.10.0", 0, CF_OK},
        {"1.9.0", 0, CF_FAILED_PRECONDITION},
        {"1.2", 0, CF_INVALID_ARGUMENT},
        {"v2.0.0", 0, CF_INVALID_ARGUMENT},
        {"2.0.0", 0, CF_OK},
    };
    const char *toks[] = {tok_alice, tok_bob, tok_admin};
    const char *current = "1.0.0";
    for (size_t i = 0; i < sizeof table / sizeof *table; i++) {
        cf_code got = publish(a.id, table[i].version, NULL, toks[table[i].who]);
        if (got != table[i].code)
            fail_msg("row %zu (%s): %s, expected %s", i, table[i].version, cf_code_name(got),
                     cf_code_name(table[i].code));
        if (got == CF_OK)
            current = table[i].version;
        /* a version not above the current one: details name `version` and both versions */
        if ((got == CF_FAILED_PRECONDITION || got == CF_ALREADY_EXISTS) &&
            (strncmp(last_detail, "version: ", 9) != 0 || !strstr(last_detail, current) ||
             !strstr(last_detail + 9, table[i].version)))
            fail_msg("row %zu (%s): details \"%s\" do not name version, %s and the current %s", i,
                     table[i].version, last_detail, table[i].version, current);
        if (got == CF_INVALID_ARGUMENT && !*last_detail)
            fail_msg("row %zu (%s): INVALID_ARGUMENT without details", i, table[i].version);
    }
    assert_code(CF_NOT_FOUND, publish("cnosuchapp000000000000000", "9.0.0", NULL, tok_alice));
    assert_code(CF_UNAUTHENTICATED, publish(a.id, "9.0.0", NULL, NULL));

    /* history: newest first, complete, with publisher; the current one flagged */
    Catalog__V1__ListManifestsRequest lr = CATALOG__V1__LIST_MANIFESTS_REQUEST__INIT;
    lr.app_id = a.id;
    lr.page_size = 4;
    static const char *const expect[] = {"2.0.0",         "1.10.0",       "1.1.0",
                                         "1.1.0-beta.11", "1.1.0-beta.2", "1.1.0-alpha.beta",
                                         "1.1.0-alpha.1", "1.1.0-alpha",  "1.0.0"};
    size_t seen = 0;
    char token[PAGE_TOKEN_MAX + 1] = "";
    do {
        lr.page_token = token;
        reply r;
        assert_code(CF_OK, call("ListManifests", &lr, tok_bob, &r));
        Catalog__V1__ListManifestsResponse *resp = (void *)r.cc.response;
        for (size_t i = 0; i < resp->n_manifests; i++, seen++) {
            assert_true(seen < 9);
            assert_string_equal(resp->manifests[i]->version, expect[seen]);
            assert_int_equal(resp->manifests[i]->current, seen == 0);
            assert_string_equal(resp->manifests[i]->published_by,
                                strcmp(expect[seen], "1.1.0") == 0 ? "user-admin" : "user-alice");
            assert_non_null(resp->manifests[i]->published_at);
            assert_non_null(resp->manifests[i]->manifest);
        }
        snprintf(token, sizeof token, "%s", resp->next_page_token);
        done(&r);
    } while (*token);
    assert_int_equal(seen, 9);

    /* any version, current or historical, complete as published */
    Catalog__V1__GetManifestRequest gr = CATALOG__V1__GET_MANIFEST_REQUEST__INIT;
    gr.app_id = a.id;
    gr.version = "1.1.0-alpha.1";
    reply r;
    assert_code(CF_OK, call("GetManifest", &gr, tok_bob, &r));
    Catalog__V1__ManifestVersion *mv = (void *)r.cc.response;
    assert_false(mv->current);
    json_t *j = pbjson_struct_to_json(mv->manifest);
    assert_string_equal(json_string_value(json_object_get(j, "version")), "1.1.0-alpha.1");
    assert_string_equal(json_string_value(json_object_get(j, "name")), "Wheel");
    assert_int_equal(json_array_size(json_object_get(j, "permissions")), 2);
    json_decref(j);
    done(&r);
    gr.version = "";
    assert_code(CF_OK, call("GetManifest", &gr, tok_bob, &r));
    assert_string_equal(((Catalog__V1__ManifestVersion *)r.cc.response)->version, "2.0.0");
    assert_true(((Catalog__V1__ManifestVersion *)r.cc.response)->current);
    done(&r);
    gr.version = "1.5.0";
    assert_code(CF_NOT_FOUND, call("GetManifest", &gr, tok_bob, &r));
    done(&r);
    gr.version = "latest";
    assert_code(CF_INVALID_ARGUMENT, call("GetManifest", &gr, tok_bob, &r));
    assert_string_equal(violation(&r), "version");
    done(&r);
}

typedef struct racer {
    const char *app_id, *version;
    pthread_barrier_t *start;
    cf_code code;
} racer;

static void *race(void *arg)
{
    racer *x = arg;
    pthread_barrier_wait(x->start);
    x->code = publish(x->app_id, x->version, NULL, tok_alice);
    return NULL;
}

static void test_concurrent_publishes_exactly_one_wins(void **state)
{
    (void)state;
    enum { N = 8, ROUNDS = 5 };
    app a = register_app(tok_alice, NULL);
    for (int round = 0; round < ROUNDS; round++) {
        char version[16];
        snprintf(version, sizeof version, "%d.0.0", round + 2);
        pthread_barrier_t start;
        pthread_barrier_init(&start, NULL, N);
        racer rs[N];
        pthread_t t[N];
        for (int i = 0; i < N; i++) {
            rs[i] = (racer){a.id, version, &start, CF_UNKNOWN};
            pthread_create(&t[i], NULL, race, &rs[i]);
        }
        int ok = 0;
        for (int i = 0; i < N; i++) {
            pthread_join(t[i], NULL);
            if (rs[i].code == CF_OK)
                ok++;
            else if (rs[i].code != CF_ALREADY_EXISTS && rs[i].code != CF_ABORTED)
                fail_msg("a loser got %s", cf_code_name(rs[i].code));
        }
        pthread_barrier_destroy(&start);
        assert_int_equal(ok, 1);
    }
    /* and the history has each version once */
    PGconn *pg = th_pg_connect(svc->dsn);
    const char *p[] = {a.id};
    PGresult *res = PQexecParams(pg,
                                 "SELECT count(*), count(DISTINCT version), max(seq) FROM "
                                 "catalog.manifests m JOIN catalog.apps a ON a.id = m.app_pk "
                                 "WHERE a.app_id = $1",
                                 1, NULL, p, NULL, NULL, 0);
    assert_string_equal(PQgetvalue(res, 0, 0), "6");
    assert_string_equal(PQgetvalue(res, 0, 1), "6");
    assert_string_equal(PQgetvalue(res, 0, 2), "6");
    PQclear(res);
    PQfinish(pg);
}

static cf_code validate(const char *app_id, const char *version, const char *settings,
                        const char *token, reply *r)
{
    Catalog__V1__ValidateSettingsRequest req = CATALOG__V1__VALIDATE_SETTINGS_REQUEST__INIT;
    req.app_id = (char *)app_id;
    req.version = (char *)version;
    req.settings = settings ? st(settings) : NULL;
    cf_code code = call("ValidateSettings", &req, token, r);
    free_struct(req.settings);
    return code;
}

static void test_settings_valid_against_v1_stay_valid_after_v2_tightens(void **state)
{
    (void)state;
    const char *v1 = "{\"type\":\"object\",\"required\":[\"maxWinners\"],\"properties\":{"
                     "\"maxWinners\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":10},"
                     "\"theme\":{\"enum\":[\"dark\",\"light\"]}}}";
    const char *v2 = "{\"type\":\"object\",\"required\":[\"maxWinners\",\"theme\"],"
                     "\"additionalProperties\":false,\"properties\":{"
                     "\"maxWinners\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":5},"
                     "\"theme\":{\"enum\":[\"dark\",\"light\"]}}}";
    app a = register_app(tok_alice, v1);
    const char *settings = "{\"maxWinners\":8,\"note\":\"x\"}";
    reply r;
    assert_code(CF_OK, validate(a.id, "", settings, tok_bob, &r));
    Catalog__V1__ValidateSettingsResponse *resp = (void *)r.cc.response;
    assert_true(resp->valid);
    assert_int_equal(resp->n_errors, 0);
    assert_string_equal(resp->version, "1.0.0");
    done(&r);

    assert_code(CF_OK, publish(a.id, "2.0.0", v2, tok_alice));
    /* against the current (v2): three problems, each with its path */
    assert_code(CF_OK, validate(a.id, "", settings, tok_bob, &r));
    resp = (void *)r.cc.response;
    assert_false(resp->valid);
    assert_string_equal(resp->version, "2.0.0");
    assert_int_equal(resp->n_errors, 3);
    bool max = false, theme = false, note = false;
    for (size_t i = 0; i < resp->n_errors; i++) {
        const char *p = resp->errors[i]->path, *m = resp->errors[i]->message;
        if (!strcmp(p, "settings.maxWinners") && strstr(m, "at most 5"))
            max = true;
        if (!strcmp(p, "settings.theme") && strstr(m, "required"))
            theme = true;
        if (!strcmp(p, "settings.note") && strstr(m, "not an allowed property"))
            note = true;
    }
    assert_true(max && theme && note);
    done(&r);
    /* against the version a room locked (v1): still valid */
    assert_code(CF_OK, validate(a.id, "1.0.0", settings, tok_bob, &r));
    assert_true(((Catalog__V1__ValidateSettingsResponse *)r.cc.response)->valid);
    assert_string_equal(((Catalog__V1__ValidateSettingsResponse *)r.cc.response)->version, "1.0.0");
    done(&r);
    /* absent settings are the empty object */
    assert_code(CF_OK, validate(a.id, "1.0.0", NULL, tok_bob, &r));
    resp = (void *)r.cc.response;
    assert_false(resp->valid);
    assert_string_equal(resp->errors[0]->path, "settings.maxWinners");
    done(&r);

    /* deactivated: the current version is hidden from others, a pinned one still answers
     * (rooms locked to it keep working) */
    assert_code(CF_OK, simple("DeactivateApp", a.id, tok_alice));
    assert_code(CF_NOT_FOUND, validate(a.id, "", settings, tok_bob, &r));
    done(&r);
    assert_code(CF_OK, validate(a.id, "1.0.0", settings, tok_bob, &r));
    done(&r);
    assert_code(CF_OK, validate(a.id, "", settings, tok_alice, &r));
    done(&r);
    assert_code(CF_NOT_FOUND, validate(a.id, "3.0.0", settings, tok_alice, &r));
    done(&r);
}

/* Callers × methods, on an active and on an inactive app (a fresh app per row). */
static void test_rights_table(void **state)
{
    (void)state;
    enum { NONE, OWNER, OTHER, ADMIN, APP };
    const char *toks[] = {NULL, tok_alice, tok_bob, tok_admin, tok_app};
    static const char *const methods[] = {"GetApp",           "ListManifests",    "GetManifest",
                                          "ValidateSettings", "PublishManifest",  "ActivateApp",
                                          "DeactivateApp",    "RegenerateSecret", "DeleteApp"};
    enum { NM = sizeof methods / sizeof *methods };
    /* expected code per caller, for reads (first 4) and changes (the rest) */
    static const struct {
        bool inactive;
        int caller;
        cf_code read, change;
    } table[] = {
        {false, NONE, CF_UNAUTHENTICATED, CF_UNAUTHENTICATED},
        {false, OWNER, CF_OK, CF_OK},
        {false, OTHER, CF_OK, CF_PERMISSION_DENIED},
        {false, ADMIN, CF_OK, CF_OK},
        {false, APP, CF_OK, CF_PERMISSION_DENIED},
        {true, NONE, CF_UNAUTHENTICATED, CF_UNAUTHENTICATED},
        {true, OWNER, CF_OK, CF_OK},
        {true, OTHER, CF_NOT_FOUND, CF_NOT_FOUND}, /* never a hint it exists */
        {true, ADMIN, CF_OK, CF_OK},
        /* no scope grants an app a change: refused before the app is looked up, the same for
         * every app id, so still no hint (issue 14 item 2, docs/auth.md "App scopes") */
        {true, APP, CF_NOT_FOUND, CF_PERMISSION_DENIED},
    };
    for (size_t row = 0; row < sizeof table / sizeof *table; row++)
        for (size_t m = 0; m < NM; m++) {
            app a = register_app(tok_alice, NULL);
            if (table[row].inactive)
                assert_code(CF_OK, simple("DeactivateApp", a.id, tok_alice));
            const char *tok = toks[table[row].caller];
            cf_code want = m < 4 ? table[row].read : table[row].change, got;
            if (strcmp(methods[m], "PublishManifest") == 0) {
                got = publish(a.id, "1.0.1", NULL, tok);
            } else if (strcmp(methods[m], "ValidateSettings") == 0) {
                reply r;
                got = validate(a.id, "", "{}", tok, &r);
                done(&r);
            } else {
                got = simple(methods[m], a.id, tok);
            }
            if (got != want)
                fail_msg("%s by caller %d on %s app: %s, expected %s", methods[m],
                         table[row].caller, table[row].inactive ? "an inactive" : "an active",
                         cf_code_name(got), cf_code_name(want));
        }
    /* RegisterApp: users yes, apps and anonymous no */
    Catalog__V1__RegisterAppRequest req = CATALOG__V1__REGISTER_APP_REQUEST__INIT;
    char *mj = manifest_json("1.0.0", NULL);
    req.name = "x";
    req.manifest = st(mj);
    reply r;
    assert_code(CF_UNAUTHENTICATED, call("RegisterApp", &req, NULL, &r));
    done(&r);
    assert_code(CF_PERMISSION_DENIED, call("RegisterApp", &req, tok_app, &r));
    done(&r);
    assert_code(CF_OK, call("RegisterApp", &req, tok_bob, &r));
    done(&r);
    free_struct(req.manifest);
    free(mj);
}

static void test_list_apps_pages_and_filters(void **state)
{
    (void)state;
    char *carol = th_token(keys, "user-carol", 3600, false);
    app apps[5];
    for (int i = 0; i < 5; i++)
        apps[i] = register_app(carol, NULL);
    assert_code(CF_OK, simple("DeactivateApp", apps[1].id, carol));
    assert_code(CF_OK, simple("DeactivateApp", apps[3].id, carol));

    static const struct {
        int caller; /* 0 carol, 1 bob, 2 admin */
        bool include_inactive;
        int page_size;
        const char *expect; /* indexes into apps, in order */
    } table[] = {
        {0, false, 2, "024"}, {0, true, 2, "01234"}, {1, false, 1, "024"},
        {1, true, 3, "024"},  {2, true, 0, "01234"}, {2, false, 100, "024"},
    };
    const char *toks[] = {carol, tok_bob, tok_admin};
    for (size_t row = 0; row < sizeof table / sizeof *table; row++) {
        Catalog__V1__ListAppsRequest req = CATALOG__V1__LIST_APPS_REQUEST__INIT;
        req.owner_user_id = "user-carol";
        req.include_inactive = table[row].include_inactive;
        req.page_size = table[row].page_size;
        char token[PAGE_TOKEN_MAX + 1] = "", got[16] = "";
        int pages = 0;
        do {
            req.page_token = token;
            reply r;
            assert_code(CF_OK, call("ListApps", &req, toks[table[row].caller], &r));
            Catalog__V1__ListAppsResponse *resp = (void *)r.cc.response;
            if (table[row].page_size)
                assert_true(resp->n_apps <= (size_t)table[row].page_size);
            for (size_t i = 0; i < resp->n_apps; i++)
                for (int k = 0; k < 5; k++)
                    if (!strcmp(resp->apps[i]->app_id, apps[k].id))
                        snprintf(got + strlen(got), sizeof got - strlen(got), "%d", k);
            snprintf(token, sizeof token, "%s", resp->next_page_token);
            done(&r);
            pages++;
            /* a new app mid-listing comes at the end, without duplicates or skips */
            if (row == 0 && pages == 1)
                apps[4] = apps[4]; /* (kept simple: checked separately below) */
        } while (*token && pages < 10);
        if (strcmp(got, table[row].expect) != 0)
            fail_msg("row %zu: listed %s, expected %s", row, got, table[row].expect);
    }

    /* stable under concurrent inserts: a page boundary, then a new app, then the rest */
    Catalog__V1__ListAppsRequest req = CATALOG__V1__LIST_APPS_REQUEST__INIT;
    req.owner_user_id = "user-carol";
    req.page_size = 2;
    reply r;
    assert_code(CF_OK, call("ListApps", &req, carol, &r));
    char token[PAGE_TOKEN_MAX + 1];
    snprintf(token, sizeof token, "%s",
             ((Catalog__V1__ListAppsResponse *)r.cc.response)->next_page_token);
    done(&r);
    app late = register_app(carol, NULL);
    req.page_token = token;
    req.page_size = 10;
    assert_code(CF_OK, call("ListApps", &req, carol, &r));
    Catalog__V1__ListAppsResponse *resp = (void *)r.cc.response;
    assert_int_equal(resp->n_apps, 2);
    assert_string_equal(resp->apps[0]->app_id, apps[4].id);
    assert_string_equal(resp->apps[1]->app_id, late.id);
    assert_string_equal(resp->next_page_token, "");
    done(&r);

    /* a token is bound to its filters */
    req.include_inactive = true;
    assert_code(CF_INVALID_ARGUMENT, call("ListApps", &req, carol, &r));
    assert_string_equal(violation(&r), "pageToken");
    done(&r);
    free(carol);
}

static void test_safe_to_repeat(void **state)
{
    (void)state;
    char *mj = manifest_json("1.0.0", NULL);
    Catalog__V1__RegisterAppRequest req = CATALOG__V1__REGISTER_APP_REQUEST__INIT;
    req.name = "Replayed";
    req.manifest = st(mj);
    reply r1, r2;
    assert_code(CF_OK, call_idem("RegisterApp", &req, tok_alice, "reg-1", &r1));
    assert_code(CF_OK, call_idem("RegisterApp", &req, tok_alice, "reg-1", &r2));
    Catalog__V1__RegisterAppResponse *a1 = (void *)r1.cc.response, *a2 = (void *)r2.cc.response;
    assert_string_equal(a1->app->app_id, a2->app->app_id); /* the same app */
    assert_int_equal(strlen(a1->app_secret), 43);
    assert_string_equal(a2->app_secret, ""); /* never shown twice */
    assert_code(CF_OK, verify(a1->app->app_id, a1->app_secret));
    char id[64];
    snprintf(id, sizeof id, "%s", a1->app->app_id);
    done(&r1);
    done(&r2);
    /* the key is per caller: bob's "reg-1" is his own */
    assert_code(CF_OK, call_idem("RegisterApp", &req, tok_bob, "reg-1", &r1));
    assert_string_not_equal(((Catalog__V1__RegisterAppResponse *)r1.cc.response)->app->app_id, id);
    done(&r1);
    /* the same key with another request: refused */
    req.name = "Something else";
    assert_code(CF_INVALID_ARGUMENT, call_idem("RegisterApp", &req, tok_alice, "reg-1", &r1));
    assert_string_equal(violation(&r1), "idempotency-key");
    done(&r1);
    assert_code(CF_INVALID_ARGUMENT, call_idem("RegisterApp", &req, tok_alice, "bad key", &r1));
    assert_string_equal(violation(&r1), "idempotency-key");
    done(&r1);
    free_struct(req.manifest);
    free(mj);

    /* activation is idempotent: same answer, updated_at moves only on a change */
    Catalog__V1__GetAppRequest g = CATALOG__V1__GET_APP_REQUEST__INIT;
    g.app_id = id;
    assert_code(CF_OK, call("DeactivateApp", &g, tok_alice, &r1));
    assert_code(CF_OK, call("DeactivateApp", &g, tok_alice, &r2));
    Catalog__V1__App *x = (void *)r1.cc.response, *y = (void *)r2.cc.response;
    assert_false(x->is_active);
    assert_false(y->is_active);
    assert_int_equal(x->updated_at->seconds, y->updated_at->seconds);
    assert_int_equal(x->updated_at->nanos, y->updated_at->nanos);
    done(&r1);
    done(&r2);
    assert_code(CF_OK, simple("ActivateApp", id, tok_alice));
    assert_code(CF_OK, simple("ActivateApp", id, tok_alice));

    /* the same publication twice */
    assert_code(CF_OK, publish(id, "1.2.0", NULL, tok_alice));
    assert_code(CF_ALREADY_EXISTS, publish(id, "1.2.0", NULL, tok_alice));

    /* RegenerateSecret with a key: a replay rotates nothing and shows no secret */
    Catalog__V1__RegenerateSecretRequest rq = CATALOG__V1__REGENERATE_SECRET_REQUEST__INIT;
    rq.app_id = id;
    assert_code(CF_OK, call_idem("RegenerateSecret", &rq, tok_alice, "rot-1", &r1));
    assert_code(CF_OK, call_idem("RegenerateSecret", &rq, tok_alice, "rot-1", &r2));
    Catalog__V1__RegenerateSecretResponse *s1 = (void *)r1.cc.response,
                                          *s2 = (void *)r2.cc.response;
    assert_int_equal(strlen(s1->app_secret), 43);
    assert_string_equal(s2->app_secret, "");
    assert_int_equal(s1->previous_valid_until->seconds, s2->previous_valid_until->seconds);
    assert_code(CF_OK, verify(id, s1->app_secret)); /* still the current one */
    done(&r1);
    done(&r2);

    /* delete, then again: the app is gone either way */
    assert_code(CF_OK, simple("DeleteApp", id, tok_alice));
    assert_code(CF_NOT_FOUND, simple("DeleteApp", id, tok_alice));
    assert_code(CF_NOT_FOUND, simple("GetApp", id, tok_alice));
    assert_code(CF_NOT_FOUND, simple("GetApp", id, tok_admin));
}

typedef struct replayer {
    const Catalog__V1__RegisterAppRequest *req;
    pthread_barrier_t *start;
    char id[64], secret[64];
    cf_code code;
} replayer;

static void *replay(void *arg)
{
    replayer *x = arg;
    pthread_barrier_wait(x->start);
    reply r;
    /* a call while the first with the key runs is ABORTED (docs/rpc.md, "Idempotency"): retry,
     * as a client does, until the first result comes */
    for (int i = 0; i < 1000; i++) {
        x->code = call_idem("RegisterApp", x->req, tok_alice, "concurrent-1", &r);
        if (x->code != CF_ABORTED)
            break;
        done(&r);
        usleep(10000);
    }
    if (x->code == CF_OK) {
        Catalog__V1__RegisterAppResponse *resp = (void *)r.cc.response;
        snprintf(x->id, sizeof x->id, "%s", resp->app->app_id);
        snprintf(x->secret, sizeof x->secret, "%s", resp->app_secret);
    }
    done(&r);
    return NULL;
}

/* How many idempotency keys of `caller` for `method` whose key starts with `prefix` are kept. */
static long idem_rows(const char *caller, const char *method, const char *prefix)
{
    PGconn *pg = th_pg_connect(svc->dsn);
    const char *p[] = {caller, method, prefix};
    PGresult *res = PQexecParams(pg,
                                 "SELECT count(*) FROM catalog.idempotency_keys WHERE caller = $1 "
                                 "AND method = $2 AND starts_with(key, $3)",
                                 3, NULL, p, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    long n = strtol(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    PQfinish(pg);
    return n;
}

static cf_code regenerate(const char *app_id, const char *key, bool *secret_shown)
{
    Catalog__V1__RegenerateSecretRequest rq = CATALOG__V1__REGENERATE_SECRET_REQUEST__INIT;
    rq.app_id = (char *)app_id;
    reply r;
    cf_code c = call_idem("RegenerateSecret", &rq, tok_alice, key, &r);
    if (c == CF_OK && secret_shown)
        *secret_shown = *((Catalog__V1__RegenerateSecretResponse *)r.cc.response)->app_secret;
    done(&r);
    return c;
}

/* Issue 24 item 1 (docs/api.md "Idempotency", docs/catalog.md): every RegenerateSecret with a
 * new key is a row; rows live catalog.idempotency_ttl (24 h) and each later claim frees the
 * oldest expired ones, so they never pile up. A key past its TTL is forgotten: the same key
 * then makes a new call. */
static void test_idempotency_keys_expire_and_are_freed(void **state)
{
    (void)state;
    app a = register_app(tok_alice, NULL);
    char key[32];
    for (int i = 0; i < 30; i++) {
        snprintf(key, sizeof key, "age-%d", i);
        assert_code(CF_OK, regenerate(a.id, key, NULL));
    }
    assert_int_equal(idem_rows("user-alice", "RegenerateSecret", "age-"), 30);
    bool shown = true;
    assert_code(CF_OK, regenerate(a.id, "age-7", &shown)); /* within the TTL: a replay */
    assert_false(shown);

    test_clock.offset = 25 * 3600;                         /* a day and an hour later */
    assert_code(CF_OK, regenerate(a.id, "age-7", &shown)); /* forgotten: a new rotation */
    assert_true(shown);
    assert_code(CF_OK, regenerate(a.id, "later-1", NULL));
    assert_code(CF_OK, regenerate(a.id, "later-2", NULL));
    /* 16 expired rows freed per claim: the 30 old ones are gone, the new age-7 is kept */
    assert_int_equal(idem_rows("user-alice", "RegenerateSecret", "age-"), 1);
    assert_int_equal(idem_rows("user-alice", "RegenerateSecret", "later-"), 2);
    test_clock.offset = 0;
}

/* updated_at (µs) of app_id, or -1 once deleted, and the catalog outbox size. */
static void app_marks(const char *app_id, long *updated_us, long *events)
{
    PGconn *pg = th_pg_connect(svc->dsn);
    const char *p[] = {app_id};
    PGresult *res = PQexecParams(pg,
                                 "SELECT coalesce((SELECT (extract(epoch FROM updated_at) * 1e6)"
                                 "::bigint FROM catalog.apps WHERE app_id = $1 AND deleted_at IS "
                                 "NULL), -1), (SELECT count(*) FROM catalog.outbox)",
                                 1, NULL, p, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    *updated_us = strtol(PQgetvalue(res, 0, 0), NULL, 10);
    *events = strtol(PQgetvalue(res, 0, 1), NULL, 10);
    PQclear(res);
    PQfinish(pg);
}

/* SPEC §3 (retries are safe), every app state × status action: asking for the state the app is
 * already in succeeds with no write, no event and GetApp's answer; a real change writes (and a
 * deactivation emits app.deactivated; a deactivation or deletion also app.tokens_revoked, the
 * end of the app's token generation: issue 14); a deleted app is gone for every action. */
static void test_status_table(void **state)
{
    (void)state;
    enum { ACTIVE, INACTIVE, DELETED };
    static const char *const states[] = {"active", "inactive", "deleted"};
    static const char *const actions[] = {"ActivateApp", "DeactivateApp", "DeleteApp"};
    /* per state, per action: the code, 'n' no write, 'w' a write, and the events it adds */
    static const struct {
        cf_code code;
        char write;
        long events;
    } table[3][3] = {
        [ACTIVE] = {{CF_OK, 'n', 0}, {CF_OK, 'w', 2}, {CF_OK, 'w', 1}},
        [INACTIVE] = {{CF_OK, 'w', 0}, {CF_OK, 'n', 0}, {CF_OK, 'w', 1}},
        [DELETED] = {{CF_NOT_FOUND, 'n', 0}, {CF_NOT_FOUND, 'n', 0}, {CF_NOT_FOUND, 'n', 0}},
    };
    for (int st = ACTIVE; st <= DELETED; st++) {
        for (int ac = 0; ac < 3; ac++) {
            app a = register_app(tok_alice, NULL);
            if (st == INACTIVE)
                assert_code(CF_OK, simple("DeactivateApp", a.id, tok_alice));
            if (st == DELETED)
                assert_code(CF_OK, simple("DeleteApp", a.id, tok_alice));
            long upd0, ev0, upd1, ev1;
            app_marks(a.id, &upd0, &ev0);
            Catalog__V1__GetAppRequest g = CATALOG__V1__GET_APP_REQUEST__INIT;
            g.app_id = a.id;
            reply r, read;
            cf_code code = call(actions[ac], &g, tok_alice, &r);
            app_marks(a.id, &upd1, &ev1);
            if (code != table[st][ac].code)
                fail_msg("%s on a %s app: %s (%s), expected %s", actions[ac], states[st],
                         cf_code_name(code), r.cc.message, cf_code_name(table[st][ac].code));
            if ((upd0 != upd1) != (table[st][ac].write == 'w'))
                fail_msg("%s on a %s app: updated_at %ld -> %ld", actions[ac], states[st], upd0,
                         upd1);
            if (ev1 - ev0 != table[st][ac].events)
                fail_msg("%s on a %s app: %ld events, expected %ld", actions[ac], states[st],
                         ev1 - ev0, table[st][ac].events);
            if (code == CF_OK && table[st][ac].write == 'n') {
                /* the idempotent answer is the read's, byte for byte */
                assert_code(CF_OK, call("GetApp", &g, tok_alice, &read));
                const ProtobufCMessage *x = r.cc.response, *y = read.cc.response;
                size_t lx = protobuf_c_message_get_packed_size(x);
                size_t ly = protobuf_c_message_get_packed_size(y);
                uint8_t *px = xmalloc(lx + 1), *py = xmalloc(ly + 1);
                protobuf_c_message_pack(x, px);
                protobuf_c_message_pack(y, py);
                if (lx != ly || memcmp(px, py, lx) != 0)
                    fail_msg("%s on a %s app: the answer differs from GetApp's", actions[ac],
                             states[st]);
                free(px);
                free(py);
                done(&read);
            }
            done(&r);
        }
    }
}

static void test_concurrent_replays_make_one_app(void **state)
{
    (void)state;
    enum { N = 8 };
    char *mj = manifest_json("1.0.0", NULL);
    Catalog__V1__RegisterAppRequest req = CATALOG__V1__REGISTER_APP_REQUEST__INIT;
    req.name = "Concurrent";
    req.manifest = st(mj);
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, N);
    replayer rs[N];
    pthread_t t[N];
    for (int i = 0; i < N; i++) {
        rs[i] = (replayer){.req = &req, .start = &start};
        pthread_create(&t[i], NULL, replay, &rs[i]);
    }
    int secrets = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        assert_code(CF_OK, rs[i].code);
        assert_string_equal(rs[i].id, rs[0].id);
        secrets += *rs[i].secret != '\0';
    }
    assert_int_equal(secrets, 1);
    pthread_barrier_destroy(&start);
    free_struct(req.manifest);
    free(mj);
}

/* Bad input for every method: the exact status and the field it names. */
static void test_bad_inputs(void **state)
{
    (void)state;
    app a = register_app(tok_alice, NULL);
    static const struct {
        const char *manifest; /* RegisterApp with this manifest (NULL: none) */
        const char *name;
        cf_code code;
        const char *field;
    } reg[] = {
        {NULL, "x", CF_INVALID_ARGUMENT, "manifest"},
        {"{\"name\":\"A\",\"version\":\"1.0.0\",\"settingsSchema\":{}}", "", CF_INVALID_ARGUMENT,
         "name"},
        {"{\"name\":\"A\",\"version\":\"1.0.0\",\"settingsSchema\":{}}", "a\nb",
         CF_INVALID_ARGUMENT, "name"},
        {"{\"version\":\"1.0.0\",\"settingsSchema\":{}}", "x", CF_INVALID_ARGUMENT,
         "manifest.name"},
        {"{\"name\":\"A\",\"version\":\"one\",\"settingsSchema\":{}}", "x", CF_INVALID_ARGUMENT,
         "manifest.version"},
        {"{\"name\":\"A\",\"version\":1,\"settingsSchema\":{}}", "x", CF_INVALID_ARGUMENT,
         "manifest.version"},
        {"{\"name\":\"A\",\"version\":\"1.0.0\"}", "x", CF_INVALID_ARGUMENT,
         "manifest.settingsSchema"},
        {"{\"name\":\"A\",\"version\":\"1.0.0\",\"settingsSchema\":\"{}\"}", "x",
         CF_INVALID_ARGUMENT, "manifest.settingsSchema"},
        {"{\"name\":\"A\",\"version\":\"1.0.0\",\"settingsSchema\":{\"properties\":"
         "{\"n\":{\"minimum\":\"1\"}}}}",
         "x", CF_INVALID_ARGUMENT, "manifest.settingsSchema.properties.n.minimum"},
        {"{\"name\":\"A\",\"version\":\"1.0.0\",\"permissions\":[\"ALL\"],\"settingsSchema\":{}}",
         "x", CF_INVALID_ARGUMENT, "manifest.permissions[0]"},
    };
    for (size_t i = 0; i < sizeof reg / sizeof *reg; i++) {
        Catalog__V1__RegisterAppRequest req = CATALOG__V1__REGISTER_APP_REQUEST__INIT;
        req.name = (char *)reg[i].name;
        req.manifest = reg[i].manifest ? st(reg[i].manifest) : NULL;
        reply r;
        cf_code got = call("RegisterApp", &req, tok_alice, &r);
        if (got != reg[i].code || !has_violation(&r, reg[i].field))
            fail_msg("register row %zu: %s on \"%s\", expected %s on \"%s\"", i, cf_code_name(got),
                     violation(&r), cf_code_name(reg[i].code), reg[i].field);
        done(&r);
        free_struct(req.manifest);
    }

    /* sizes: 300 KB is over the catalog's limit (256 KiB); 5 MB is over the RPC limit */
    for (int big = 0; big < 2; big++) {
        size_t n = big ? 5 * 1000 * 1000 : 300 * 1000;
        char *pad = xmalloc(n + 1);
        memset(pad, 'x', n);
        pad[n] = '\0';
        char *mj = xasprintf("{\"name\":\"A\",\"version\":\"1.0.1\",\"settingsSchema\":{},"
                             "\"description\":\"%s\"}",
                             pad);
        Catalog__V1__PublishManifestRequest req = CATALOG__V1__PUBLISH_MANIFEST_REQUEST__INIT;
        req.app_id = a.id;
        req.manifest = st(mj);
        reply r;
        if (big) {
            assert_code(CF_RESOURCE_EXHAUSTED, call("PublishManifest", &req, tok_alice, &r));
        } else {
            assert_code(CF_INVALID_ARGUMENT, call("PublishManifest", &req, tok_alice, &r));
            assert_string_equal(violation(&r), "manifest");
        }
        done(&r);
        /* the same for settings */
        Catalog__V1__ValidateSettingsRequest vr = CATALOG__V1__VALIDATE_SETTINGS_REQUEST__INIT;
        vr.app_id = a.id;
        vr.settings = req.manifest;
        cf_code got = call("ValidateSettings", &vr, tok_alice, &r);
        assert_code(big ? CF_RESOURCE_EXHAUSTED : CF_INVALID_ARGUMENT, got);
        if (!big)
            assert_string_equal(violation(&r), "settings");
        done(&r);
        free_struct(req.manifest);
        free(mj);
        free(pad);
    }

    /* empty and unknown ids, method by method */
    static const char *const by_id[] = {"GetApp",        "DeleteApp",        "ActivateApp",
                                        "DeactivateApp", "RegenerateSecret", "ListManifests",
                                        "GetManifest",   "ValidateSettings", "PublishManifest"};
    for (size_t i = 0; i < sizeof by_id / sizeof *by_id; i++) {
        cf_code got = simple(by_id[i], "", tok_alice);
        if (got != CF_INVALID_ARGUMENT)
            fail_msg("%s with an empty appId: %s", by_id[i], cf_code_name(got));
        if (strcmp(by_id[i], "PublishManifest") == 0)
            continue; /* needs a manifest too: see the table above */
        got = simple(by_id[i], "cnosuchapp000000000000000", tok_alice);
        if (got != CF_NOT_FOUND)
            fail_msg("%s with an unknown appId: %s", by_id[i], cf_code_name(got));
        char *huge = xmalloc(400);
        memset(huge, 'c', 399);
        huge[399] = '\0';
        got = simple(by_id[i], huge, tok_alice);
        free(huge);
        if (got != CF_INVALID_ARGUMENT)
            fail_msg("%s with a 399-character appId: %s", by_id[i], cf_code_name(got));
    }

    /* lists */
    Catalog__V1__ListAppsRequest lr = CATALOG__V1__LIST_APPS_REQUEST__INIT;
    reply r;
    lr.page_size = -1;
    assert_code(CF_INVALID_ARGUMENT, call("ListApps", &lr, tok_alice, &r));
    assert_string_equal(violation(&r), "pageSize");
    done(&r);
    lr.page_size = 0;
    lr.page_token = "garbage";
    assert_code(CF_INVALID_ARGUMENT, call("ListApps", &lr, tok_alice, &r));
    assert_string_equal(violation(&r), "pageToken");
    done(&r);
    assert_code(CF_UNAUTHENTICATED, call("ListApps", &lr, NULL, &r));
    done(&r);
    Catalog__V1__ListManifestsRequest mr = CATALOG__V1__LIST_MANIFESTS_REQUEST__INIT;
    mr.app_id = a.id;
    mr.page_token = "garbage";
    assert_code(CF_INVALID_ARGUMENT, call("ListManifests", &mr, tok_alice, &r));
    done(&r);
    mr.page_token = "";
    mr.page_size = -5;
    assert_code(CF_INVALID_ARGUMENT, call("ListManifests", &mr, tok_alice, &r));
    done(&r);

    /* ValidateSettings: a version that is not semver, or was never published */
    assert_code(CF_INVALID_ARGUMENT, validate(a.id, "1", "{}", tok_alice, &r));
    assert_string_equal(violation(&r), "version");
    done(&r);
    assert_code(CF_NOT_FOUND, validate(a.id, "7.0.0", "{}", tok_alice, &r));
    done(&r);
    assert_code(CF_UNAUTHENTICATED, validate(a.id, "", "{}", NULL, &r));
    done(&r);

    /* a second-owner's changes */
    assert_code(CF_PERMISSION_DENIED, simple("DeleteApp", a.id, tok_bob));
    assert_code(CF_PERMISSION_DENIED, publish(a.id, "5.0.0", NULL, tok_bob));
}

/* --- hostile patterns (issue 13): a catastrophic settingsSchema pattern costs its caller a
 * bounded slice of one worker, never the service --- */

#define HOSTILE_VALUE (240 * 1024) /* under catalog.max_document (256 KiB) once encoded */

static const char *const hostile_patterns[4] = {"(a+)+$", "(a|aa)+$", "(.*a){20}$",
                                                "(a|a){0,12}[cd]"};

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

typedef struct hostile_call {
    const char *app_id;
    int which; /* settings {"pN": 'a' × HOSTILE_VALUE + "!"} against hostile_patterns[N] */
    Google__Protobuf__Struct *settings;
    cf_code code;
    bool valid;
    char path[64], message[256];
    double ms;
} hostile_call;

static void *hostile_validate(void *p)
{
    hostile_call *h = p;
    Catalog__V1__ValidateSettingsRequest req = CATALOG__V1__VALIDATE_SETTINGS_REQUEST__INIT;
    req.app_id = (char *)h->app_id;
    req.settings = h->settings;
    reply r;
    double t0 = mono_ms();
    h->code = call("ValidateSettings", &req, tok_bob, &r);
    h->ms = mono_ms() - t0;
    if (h->code == CF_OK) {
        Catalog__V1__ValidateSettingsResponse *resp = (void *)r.cc.response;
        h->valid = resp->valid;
        if (resp->n_errors) {
            snprintf(h->path, sizeof h->path, "%s", resp->errors[0]->path);
            snprintf(h->message, sizeof h->message, "%s", resp->errors[0]->message);
        }
    }
    done(&r);
    return NULL;
}

/* Four ValidateSettings with catastrophic patterns on 240 KiB values in flight on the four
 * workers (th_service runs rpc.workers 4): each answers, fast, "cannot be checked" at the
 * value's path (SPEC §3), and a GetApp sent meanwhile answers in well under a second (SPEC §4:
 * no input hangs a service). With glibc regexec each call held its worker for minutes. */
static void test_hostile_patterns_do_not_hold_the_workers(void **state)
{
    (void)state;
    char schema[512];
    snprintf(schema, sizeof schema,
             "{\"type\":\"object\",\"properties\":{\"p0\":{\"type\":\"string\",\"pattern\":"
             "\"%s\"},\"p1\":{\"type\":\"string\",\"pattern\":\"%s\"},\"p2\":{\"type\":"
             "\"string\",\"pattern\":\"%s\"},\"p3\":{\"type\":\"string\",\"pattern\":\"%s\"}}}",
             hostile_patterns[0], hostile_patterns[1], hostile_patterns[2], hostile_patterns[3]);
    app a = register_app(tok_alice, schema);

    char *value = xmalloc(HOSTILE_VALUE + 2);
    memset(value, 'a', HOSTILE_VALUE);
    memcpy(value + HOSTILE_VALUE, "!", 2);
    hostile_call calls[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        calls[i] = (hostile_call){.app_id = a.id, .which = i};
        json_t *j = json_object();
        char key[8];
        snprintf(key, sizeof key, "p%d", i);
        json_object_set_new(j, key, json_string(value));
        if (pbjson_struct_from_json(j, NULL, &calls[i].settings, NULL) != CF_OK)
            fail_msg("test bug: settings are not a Struct");
        json_decref(j);
    }
    free(value);
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, hostile_validate, &calls[i]), 0);
    /* Lets the four calls reach the four workers first, which made the old code fail here;
     * the assertions below hold whatever the interleaving. */
    nng_msleep(100);
    Catalog__V1__GetAppRequest get = CATALOG__V1__GET_APP_REQUEST__INIT;
    get.app_id = a.id;
    reply r;
    double t0 = mono_ms();
    assert_code(CF_OK, call("GetApp", &get, tok_bob, &r));
    double get_ms = mono_ms() - t0;
    done(&r);
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        free_struct(calls[i].settings);
    }
    print_message("  GetApp during 4 hostile validations: %.1f ms\n", get_ms);
    assert_true(get_ms < 1000);
    for (int i = 0; i < 4; i++) {
        print_message("  /%s/ on %d characters: %.1f ms: %s\n", hostile_patterns[i],
                      HOSTILE_VALUE + 1, calls[i].ms, calls[i].message);
        assert_code(CF_OK, calls[i].code);
        assert_false(calls[i].valid);
        char want[16];
        snprintf(want, sizeof want, "settings.p%d", i);
        assert_string_equal(calls[i].path, want);
        assert_non_null(strstr(calls[i].message, "cannot be checked"));
        assert_true(calls[i].ms < 5000); /* no stall (the cost bound is unit-tested as CPU) */
    }
}

/* Patterns are ECMA-262, checked at publish: what is refused names the pattern's path. */
static void test_publish_refuses_patterns_it_cannot_run(void **state)
{
    (void)state;
    app a = register_app(tok_alice, NULL);
    static const char *const refused[] = {
        "{\"properties\":{\"x\":{\"type\":\"string\",\"pattern\":\"([a-z\"}}}",
        "{\"properties\":{\"x\":{\"type\":\"string\",\"pattern\":\"(*NO_JIT)(a+)+$\"}}}",
        "{\"properties\":{\"x\":{\"type\":\"string\",\"pattern\":\"(?C1)a\"}}}",
    };
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        char *mj = manifest_json("2.0.0", refused[i]);
        Catalog__V1__PublishManifestRequest req = CATALOG__V1__PUBLISH_MANIFEST_REQUEST__INIT;
        req.app_id = a.id;
        req.manifest = st(mj);
        reply r;
        assert_code(CF_INVALID_ARGUMENT, call("PublishManifest", &req, tok_alice, &r));
        assert_string_equal(violation(&r), "manifest.settingsSchema.properties.x.pattern");
        done(&r);
        free_struct(req.manifest);
        free(mj);
    }
    /* lookahead and backreferences (ECMA-262, not POSIX) are accepted and enforced */
    assert_code(CF_OK, publish(a.id, "2.0.0",
                               "{\"properties\":{\"pin\":{\"type\":\"string\",\"pattern\":"
                               "\"^(?=.*\\\\d)(\\\\w)\\\\1\\\\w{2}$\"}}}",
                               tok_alice));
    reply r;
    assert_code(CF_OK, validate(a.id, "2.0.0", "{\"pin\":\"zz12\"}", tok_bob, &r));
    assert_true(((Catalog__V1__ValidateSettingsResponse *)r.cc.response)->valid);
    done(&r);
    assert_code(CF_OK, validate(a.id, "2.0.0", "{\"pin\":\"zy12\"}", tok_bob, &r));
    Catalog__V1__ValidateSettingsResponse *resp = (void *)r.cc.response;
    assert_false(resp->valid);
    assert_int_equal(resp->n_errors, 1);
    assert_string_equal(resp->errors[0]->path, "settings.pin");
    done(&r);
}

/* Non-JSON as a person sends it: through `confetti call`. */
static void test_non_json_through_the_cli(void **state)
{
    (void)state;
    static const struct {
        const char *body;
        int code;
        const char *says;
    } table[] = {
        {"not json", CF_INVALID_ARGUMENT, ""},
        {"{\"name\":\"x\",\"manifest\":\"not an object\"}", CF_INVALID_ARGUMENT, "manifest"},
        {"{\"name\":\"x\",\"manifest\":[1,2]}", CF_INVALID_ARGUMENT, "manifest"},
        {"{\"name\":\"x\",\"manifest\":{\"name\":\"A\",\"version\":\"1.0.0\","
         "\"settingsSchema\":{\"type\":\"strin\"}}}",
         CF_INVALID_ARGUMENT, "manifest.settingsSchema.type"},
        {"{\"name\":\"x\",\"manifest\":{\"name\":\"A\",\"version\":\"1.0.0\","
         "\"settingsSchema\":{}}}",
         CF_OK, "appSecret"},
    };
    for (size_t i = 0; i < sizeof table / sizeof *table; i++) {
        char out[8192];
        char *tok = xasprintf("CONFETTI_TOKEN=%s", tok_alice);
        const char *argv[] = {CLI_BIN,       "call", svc->url, "catalog.v1.Catalog/RegisterApp",
                              table[i].body, NULL};
        const char *env[] = {tok, NULL};
        int rc = th_run(argv, env, out, sizeof out);
        free(tok);
        if (rc != table[i].code || !strstr(out, table[i].says))
            fail_msg("row %zu: exit %d, expected %d mentioning %s; output:\n%s", i, rc,
                     table[i].code, table[i].says, out);
    }
}

static void test_bad_rooms_address_refuses_to_start(void **state)
{
    (void)state;
    /* DeleteApp must really be able to ask rooms: an unusable rooms address stops the start
     * (the check itself is tested with the real rooms in tests/integration/rooms) */
    char *dsn = th_pg_fresh_db("catalog_rooms");
    char url[128];
    th_ipc_url(url, sizeof url, "catrooms");
    char *env[] = {xasprintf("CONFETTI_DB_DSN=%s", dsn),
                   xasprintf("CONFETTI_RPC_LISTEN=%s", url),
                   xasprintf("CONFETTI_ADMIN_LISTEN=http://127.0.0.1:%d", th_free_port()),
                   "CONFETTI_ROOMS_URLS=bogus://nowhere",
                   "CONFETTI_LOG_LEVEL=error",
                   NULL};
    svc_runtime *rt = NULL;
    char err[512];
    cf_code code =
        svc_start(catalog_service_def(), &(svc_options){.env = env}, &rt, err, sizeof err);
    assert_true(code != CF_OK);
    assert_null(rt);
    assert_non_null(strstr(err, "rooms.urls"));
    for (int i = 0; i < 3; i++)
        free(env[i]);
    th_pg_drop_db(dsn);
    free(dsn);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_register_shows_secret_once_and_get_reads),
        cmocka_unit_test(test_database_holds_no_plaintext_secret),
        cmocka_unit_test(test_verify_credentials),
        cmocka_unit_test(test_old_secret_works_during_grace_and_not_after),
        cmocka_unit_test(test_publish_version_order),
        cmocka_unit_test(test_concurrent_publishes_exactly_one_wins),
        cmocka_unit_test(test_settings_valid_against_v1_stay_valid_after_v2_tightens),
        cmocka_unit_test(test_rights_table),
        cmocka_unit_test(test_list_apps_pages_and_filters),
        cmocka_unit_test(test_safe_to_repeat),
        cmocka_unit_test(test_status_table),
        cmocka_unit_test(test_concurrent_replays_make_one_app),
        cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_hostile_patterns_do_not_hold_the_workers),
        cmocka_unit_test(test_publish_refuses_patterns_it_cannot_run),
        cmocka_unit_test(test_non_json_through_the_cli),
        cmocka_unit_test(test_bad_rooms_address_refuses_to_start),
        cmocka_unit_test(test_idempotency_keys_expire_and_are_freed),
    };
    return cmocka_run_group_tests_name("catalog", tests, setup, teardown);
}
