/* cfg_fuzz.c — libFuzzer target for the YAML config loader (common/cfg): the keys every process
 * has (svc_common_fields: rpc, admin, db, log, auth), the event publisher's (events), and a
 * "fuzz" section with one option of every type and flag (bounds, enum, secret, list, required
 * with a default), loaded the way a service starts: defaults, then the file, then the
 * environment; then the effective config is dumped (as --check-config does) and freed.
 *
 * Input: the YAML file up to the first NUL byte; after it, NUL-separated environment entries
 * (NAME=value, at most 16). The file is handed to cfg_load through a memfd path.
 *
 * A `*_file` secret names a path the loader reads. A FIFO, a pipe or a terminal would block it
 * forever — an operator's own mistake, not hostile input — so this harness refuses to open for
 * reading anything but regular files and /dev/null (fopen is wrapped at link time). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfg/cfg.h"
#include "events/relay.h"
#include "svc/svc.h"

FILE *__real_fopen(const char *path, const char *mode);
FILE *__wrap_fopen(const char *path, const char *mode);
FILE *__wrap_fopen(const char *path, const char *mode)
{
    struct stat st;
    if (mode[0] == 'r' && strcmp(path, "/dev/null") != 0 &&
        (stat(path, &st) != 0 || !S_ISREG(st.st_mode))) {
        errno = EACCES;
        return NULL;
    }
    return __real_fopen(path, mode);
}

typedef struct fuzz_config {
    char *str, *secret, *choice, *req;
    int64_t count, unbounded, timeout_ms, size;
    bool flag;
    cfg_strlist list, empty_list;
} fuzz_config;

static const char *const choices[] = {"one", "two", "three", NULL};

static const cfg_field fuzz_fields[] = {
    CFG_FIELD("fuzz", "str", CFG_STR, fuzz_config, str, .def = "text", .help = "a string"),
    CFG_FIELD("fuzz", "secret", CFG_SECRET, fuzz_config, secret, .help = "a secret"),
    CFG_FIELD("fuzz", "choice", CFG_ENUM, fuzz_config, choice, .def = "two", .choices = choices,
              .help = "an enum"),
    CFG_FIELD("fuzz", "req", CFG_STR, fuzz_config, req, .def = "given", .required = true,
              .help = "required, with a default"),
    CFG_FIELD("fuzz", "count", CFG_INT, fuzz_config, count, .def = "4", .min = -5, .max = 100,
              .help = "a bounded integer"),
    CFG_FIELD("fuzz", "unbounded", CFG_INT, fuzz_config, unbounded, .help = "any integer"),
    CFG_FIELD("fuzz", "timeout", CFG_DURATION, fuzz_config, timeout_ms, .def = "30s", .min = 1,
              .max = INT64_C(86400000) * 365, .help = "a duration"),
    CFG_FIELD("fuzz", "size", CFG_SIZE, fuzz_config, size, .def = "4MiB", .help = "a size"),
    CFG_FIELD("fuzz", "flag", CFG_BOOL, fuzz_config, flag, .def = "off", .help = "a boolean"),
    CFG_FIELD("fuzz", "list", CFG_STRLIST, fuzz_config, list, .def = "a,b", .help = "a list"),
    CFG_FIELD("fuzz", "empty_list", CFG_STRLIST, fuzz_config, empty_list, .help = "a list"),
};

static svc_common_config common;
static events_publisher_config events;
static fuzz_config fuzz;
static cfg_schema schemas[3];
static int memfd = -1;
static char path[64];
static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    schemas[0] = (cfg_schema){svc_common_fields, svc_common_nfields, &common};
    schemas[1] = (cfg_schema){events_publisher_fields, events_publisher_nfields, &events};
    schemas[2] = (cfg_schema){fuzz_fields, sizeof fuzz_fields / sizeof *fuzz_fields, &fuzz};
    memfd = memfd_create("cfg_fuzz.yaml", 0);
    devnull = fopen("/dev/null", "w");
    if (memfd < 0 || !devnull)
        abort();
    snprintf(path, sizeof path, "/proc/self/fd/%d", memfd);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, '\0', size);
    size_t ylen = nul ? (size_t)(nul - data) : size;
    if (ftruncate(memfd, 0) != 0 || pwrite(memfd, data, ylen, 0) != (ssize_t)ylen)
        abort();

    char *env[17] = {0};
    size_t nenv = 0;
    char *envbuf = NULL;
    if (nul) {
        size_t elen = size - ylen - 1;
        envbuf = malloc(elen + 1);
        memcpy(envbuf, nul + 1, elen);
        envbuf[elen] = '\0';
        for (char *p = envbuf; p < envbuf + elen && nenv < 16; p += strlen(p) + 1)
            if (*p)
                env[nenv++] = p;
    }

    char err[512];
    err[0] = '\0';
    cf_code rc = cfg_load(schemas, 3, path, env, err, sizeof err);
    if (rc == CF_OK)
        cfg_dump(schemas, 3, devnull);
    else if (rc != CF_INVALID_ARGUMENT || !err[0])
        abort(); /* every refusal is INVALID_ARGUMENT with a reason */
    cfg_free(schemas, 3);
    free(envbuf);
    return 0;
}
