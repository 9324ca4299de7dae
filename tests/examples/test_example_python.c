/* test_example_python.c — runs the worked example of docs/rpc.md (examples/python/
 * confetti_example.py: Google's protobuf runtime + libnng through ctypes) against the real rooms
 * and catalog services (in-process, private PostgreSQL), so the document and the example cannot
 * drift from the contract (issue 25 item 5). The message classes are generated here, by
 * `protoc --python_out` from proto/, into the build tree; nothing generated is committed. */
#include "th.h"
#include "service.h"
#include "th_proc.h"
#include "tokens.h"
#include "catalog.h"
#include "rooms.h"
#include "base/xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static th_keys *keys;
static th_service *catalog, *rooms;

static int setup(void **state)
{
    (void)state;
    keys = th_keys_new("ES256");
    catalog = th_service_start(catalog_service_def(), &(th_service_opts){.keys = keys});
    char *a = xasprintf("CONFETTI_CATALOG_URLS=%s", catalog->url);
    const char *env[] = {a, NULL};
    rooms = th_service_start(rooms_service_def(), &(th_service_opts){.keys = keys, .env = env});
    free(a);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    th_service_stop(rooms);
    th_service_stop(catalog);
    th_keys_free(keys);
    return 0;
}

static void test_python_example(void **state)
{
    (void)state;
    static char out[65536];
    /* the classes, from proto/ (what the example's docstring tells a user to run) */
    const char *gen = GEN_DIR;
    mkdir(gen, 0755);
    char *py_out = xasprintf("--python_out=%s", gen);
    const char *protoc[] = {PROTOC,
                            py_out,
                            "-I",
                            PROTO_DIR,
                            PROTO_DIR "/rpc/v1/envelope.proto",
                            PROTO_DIR "/health/v1/health.proto",
                            PROTO_DIR "/rooms/v1/rooms.proto",
                            PROTO_DIR "/catalog/v1/catalog.proto",
                            PROTO_DIR "/audit/v1/audit.proto",
                            NULL};
    int rc = th_run(protoc, NULL, out, sizeof out);
    if (rc != 0)
        fail_msg("protoc (Debian protobuf-compiler; tools/deps.sh) exited %d: %s", rc, out);
    free(py_out);

    char *token = th_token(keys, "python-example", 600, false);
    char *e_tok = xasprintf("CONFETTI_TOKEN=%s", token);
    char *e_rooms = xasprintf("CONFETTI_ROOMS_URL=%s", rooms->url);
    char *e_cat = xasprintf("CONFETTI_CATALOG_URL=%s", catalog->url);
    char *e_path = xasprintf("PYTHONPATH=%s", gen);
    const char *env[] = {e_tok, e_rooms, e_cat, e_path, "PYTHONDONTWRITEBYTECODE=1", NULL};
    const char *py[] = {PYTHON3, EXAMPLE, NULL};
    rc = th_run(py, env, out, sizeof out);
    printf("%s", out);
    if (rc != 0)
        fail_msg("the example exited %d (python3 and python3-protobuf: tools/deps.sh)", rc);
    /* the last line says every step answered as docs/rpc.md says */
    assert_non_null(strstr(out, "\nok\n"));
    free(e_tok), free(e_rooms), free(e_cat), free(e_path), free(token);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_python_example)};
    return cmocka_run_group_tests(tests, setup, teardown);
}
