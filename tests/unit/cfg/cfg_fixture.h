/* cfg_fixture.h — the schemas the cfg tests load: a common "rpc" table shared with a service
 * table that adds rpc.queue plus its own "db" and "app" sections, and temp-file helpers. */
#ifndef CONFETTI_TESTS_CFG_FIXTURE_H
#define CONFETTI_TESTS_CFG_FIXTURE_H

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "th.h"
#include "base/xmalloc.h"
#include "cfg/cfg.h"

typedef struct rpc_conf {
    char *listen;
    int64_t workers, deadline_ms, max_message;
    bool tls;
} rpc_conf;

typedef struct svc_conf {
    int64_t queue, pool, offset;
    char *dsn, *api_key, *mode, *name;
    cfg_strlist origins;
    bool debug;
} svc_conf;

static const char *const fx_modes[] = {"dev", "prod", NULL};

#define RPC(k, t, f, ...)    CFG_FIELD("rpc", k, t, rpc_conf, f, __VA_ARGS__)
#define SVC(s, k, t, f, ...) CFG_FIELD(s, k, t, svc_conf, f, __VA_ARGS__)
static const cfg_field fx_rpc_fields[] = {
    RPC("listen", CFG_STR, listen, .def = "tcp://127.0.0.1:7001", .help = "address to listen on"),
    RPC("workers", CFG_INT, workers, .def = "4", .min = 1, .max = 64, .help = "worker threads"),
    RPC("deadline", CFG_DURATION, deadline_ms, .def = "5s", .min = 1, .max = 86400000,
        .help = "default deadline"),
    RPC("max_message", CFG_SIZE, max_message, .def = "4MiB", .min = 1, .max = 1LL << 30,
        .help = "largest message"),
    RPC("tls", CFG_BOOL, tls, .def = "false"),
};
static const cfg_field fx_svc_fields[] = {
    SVC("rpc", "queue", CFG_INT, queue, .def = "128", .help = "requests waiting for a worker"),
    SVC("db", "dsn", CFG_SECRET, dsn, .required = true, .help = "PostgreSQL conninfo"),
    SVC("db", "pool", CFG_INT, pool, .def = "8", .min = 1, .max = 100),
    SVC("app", "mode", CFG_ENUM, mode, .def = "prod", .choices = fx_modes),
    SVC("app", "origins", CFG_STRLIST, origins, .def = "https://a.example, https://b.example"),
    SVC("app", "debug", CFG_BOOL, debug, .def = "no"),
    SVC("app", "name", CFG_STR, name, .help = NULL),
    SVC("app", "api_key", CFG_SECRET, api_key, .help = NULL),
    SVC("app", "offset", CFG_INT, offset, .def = "0"),
};

typedef struct fx {
    rpc_conf rpc;
    svc_conf svc;
    cfg_schema schemas[2];
} fx;

static inline void fx_init(fx *f)
{
    memset(f, 0xa5, sizeof *f); /* cfg_load must not rely on zeroed targets */
    f->schemas[0] =
        (cfg_schema){fx_rpc_fields, sizeof fx_rpc_fields / sizeof *fx_rpc_fields, &f->rpc};
    f->schemas[1] =
        (cfg_schema){fx_svc_fields, sizeof fx_svc_fields / sizeof *fx_svc_fields, &f->svc};
}

/* Loads f from YAML text (NULL = no file) and env; returns the code, err filled. */
static inline cf_code fx_load(fx *f, const char *yaml, char *const *env, char *err, size_t len,
                              char *path_out, size_t path_len)
{
    char path[] = "/tmp/cfg_test_XXXXXX.yaml";
    if (yaml) {
        int fd = mkstemps(path, 5);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, yaml, strlen(yaml)), (ssize_t)strlen(yaml));
        close(fd);
    }
    if (path_out)
        snprintf(path_out, path_len, "%s", yaml ? path : "");
    fx_init(f);
    cf_code rc = cfg_load(f->schemas, 2, yaml ? path : NULL, env, err, len);
    if (yaml)
        unlink(path);
    return rc;
}

/* Writes text to a new temp file; caller unlinks and frees the returned path. */
static inline char *fx_tmpfile(const char *text)
{
    char *path = xstrdup("/tmp/cfg_secret_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

#endif
