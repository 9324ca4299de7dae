/* test_jwks_rotation.c — issue 4: "a key set with a current key and older keys still verifying
 * (rotation without logging anyone out); GetJwks, with a cache lifetime that verifiers honour and
 * a rate-limited refetch when an unknown kid arrives". A service (catalog) configured with only
 * auth.jwks_urls gets its keys from confetti-auth's GetJwks; auth rotates to a new key; a token
 * signed with the new key is accepted at once (the unknown kid triggers a refetch), tokens of
 * the old key keep working, and a kid nobody publishes stays refused. */
#include "th.h"
#include "service.h"
#include "pg.h"
#include "testsvc.h"
#include "auth.h"
#include "catalog.h"
#include "base/xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static cf_code list_apps(th_service *s, const char *token)
{
    Catalog__V1__ListAppsRequest req = CATALOG__V1__LIST_APPS_REQUEST__INIT;
    rpc_ccall cc;
    rpc_ccall_init(&cc, NULL);
    char *bearer = xasprintf("Bearer %s", token);
    rpc_ccall_md(&cc, "authorization", bearer);
    catalog__v1__catalog__list_apps(
        rpc_client_service(s->client, &catalog__v1__catalog__descriptor), &req, NULL, &cc);
    cf_code code = cc.code;
    rpc_ccall_free(&cc);
    free(bearer);
    return code;
}

static th_service *start_auth(const char *url, const char *dsn, const char *signing,
                              const char *jwks_path, const authn_config *ac)
{
    char *env[] = {xasprintf("CONFETTI_SIGNING_KEYS=%s", signing),
                   xasprintf("CONFETTI_AUTH_JWKS_FILE=%s", jwks_path),
                   xasprintf("CONFETTI_AUTH_ISSUER=%s", ac->issuer),
                   xasprintf("CONFETTI_AUTH_AUDIENCE=%s", ac->audience),
                   xasprintf("CONFETTI_CATALOG_URLS=ipc:///tmp/confetti-none-%d", (int)getpid()),
                   NULL};
    th_service *s = th_service_start(
        auth_service_def(), &(th_service_opts){.url = url, .dsn = dsn, .env = (void *)env});
    for (int i = 0; env[i]; i++)
        free(env[i]);
    return s;
}

static void test_rotation_reaches_verifiers_through_getjwks(void **state)
{
    (void)state;
    th_keys *k1 = th_keys_new("RS256"), *k2 = th_keys_new("RS256"), *k3 = th_keys_new("RS256");
    authn_config ac = th_keys_config(k1);
    char f1[128], f2[128], jw1[128], jw12[128], auth_url[128];
    snprintf(f1, sizeof f1, "/tmp/confetti-rot-k1-%d.pem", (int)getpid());
    snprintf(f2, sizeof f2, "/tmp/confetti-rot-k2-%d.pem", (int)getpid());
    snprintf(jw1, sizeof jw1, "/tmp/confetti-rot-jw1-%d.json", (int)getpid());
    snprintf(jw12, sizeof jw12, "/tmp/confetti-rot-jw12-%d.json", (int)getpid());
    write_file(f1, th_keys_private_pem(k1));
    write_file(f2, th_keys_private_pem(k2));
    write_file(jw1, th_keys_jwks(k1));
    char *both = th_jwks_merge(k2, k1);
    write_file(jw12, both);
    th_ipc_url(auth_url, sizeof auth_url, "auth-rot");

    char *signing1 = xasprintf("%s=%s", th_keys_kid(k1), f1);
    th_service *auth = start_auth(auth_url, NULL, signing1, jw1, &ac);
    char *dsn = xstrdup(auth->dsn);

    char *cenv[] = {xasprintf("CONFETTI_AUTH_JWKS_URLS=%s", auth_url),
                    xasprintf("CONFETTI_AUTH_ISSUER=%s", ac.issuer),
                    xasprintf("CONFETTI_AUTH_AUDIENCE=%s", ac.audience),
                    "CONFETTI_AUTH_JWKS_REFETCH=2s", NULL};
    th_service *catalog =
        th_service_start(catalog_service_def(), &(th_service_opts){.env = (void *)cenv});

    /* keys fetched at start: the current key's tokens verify */
    char *t1 = th_token(k1, "user-1", 600, false);
    assert_code(CF_OK, list_apps(catalog, t1));

    /* auth rotates: k2 signs, k1 is still published */
    th_service_free(auth); /* stops it, keeps the database */
    char *signing12 = xasprintf("%s=%s,%s=%s", th_keys_kid(k2), f2, th_keys_kid(k1), f1);
    auth = start_auth(auth_url, dsn, signing12, jw12, &ac);
    sleep(2); /* past the refetch bound since the start-up fetch */
    char *t2 = th_token(k2, "user-2", 600, false);
    assert_code(CF_OK, list_apps(catalog, t2)); /* unknown kid → refetch → verified */
    assert_code(CF_OK, list_apps(catalog, t1)); /* the old key still verifies */

    /* a kid nobody publishes stays refused, and does not make the service hammer auth */
    char *t3 = th_token(k3, "user-3", 600, false);
    assert_code(CF_UNAUTHENTICATED, list_apps(catalog, t3));
    for (int i = 0; i < 20; i++)
        assert_code(CF_UNAUTHENTICATED, list_apps(catalog, t3));

    th_service_stop(catalog);
    th_service_stop(auth);
    th_pg_drop_db(dsn);
    for (int i = 0; i < 3; i++)
        free(cenv[i]);
    free(t1);
    free(t2);
    free(t3);
    free(signing1);
    free(signing12);
    free(both);
    free(dsn);
    unlink(f1);
    unlink(f2);
    unlink(jw1);
    unlink(jw12);
    th_keys_free(k1);
    th_keys_free(k2);
    th_keys_free(k3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rotation_reaches_verifiers_through_getjwks),
    };
    return cmocka_run_group_tests_name("jwks_rotation", tests, NULL, NULL);
}
