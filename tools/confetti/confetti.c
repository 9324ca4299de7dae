/* confetti.c — the platform's command-line client (the grpcurl of Confetti):
 *   confetti call ADDRESS METHOD [JSON] [-H 'key: value']... [--timeout MS]
 *   confetti list [SERVICE]
 *   confetti draw verify RECORD.json ELIGIBLE.txt
 * JSON in, JSON out (proto3 mapping). On an error status it prints the status name, message
 * and field details on stderr and exits with the status code's number (1..16); usage errors
 * exit 64. CONFETTI_TOKEN, if set, is sent as "authorization: Bearer $CONFETTI_TOKEN".
 * CONFETTI_IDENT_KEY_FILE, if set, signs the call as the service identity CONFETTI_IDENT_NAME
 * (default "operator"): the internal methods answer an identity listed in the service's
 * ident.allow or ident.operators (docs/operations.md, "Service identity"). */
#include "base/arena.h"
#include "base/log.h"
#include "base/xmalloc.h"
#include "pbjson/pbjson.h"
#include "rpc/client.h"
#include "algorithm.h"
#include "draw/v1/draw.pb-c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

extern const ProtobufCServiceDescriptor *const confetti_services[];

#define EXIT_USAGE 64

static int usage(void)
{
    fprintf(stderr, "usage:\n"
                    "  confetti call ADDRESS METHOD [JSON] [-H 'key: value']... [--timeout MS]\n"
                    "      ADDRESS  nng URL of the service, e.g. tcp://127.0.0.1:7101\n"
                    "      METHOD   full name, e.g. health.v1.Health/Check\n"
                    "      JSON     the request (proto3 JSON); '-' reads stdin; default {}\n"
                    "  confetti list [SERVICE]\n"
                    "      services and methods this client knows\n"
                    "  confetti draw verify RECORD.json ELIGIBLE.txt\n"
                    "      recomputes a draw's winners from its record (GetDraw's JSON) and the\n"
                    "      eligible participant ids (one per line, in order): MATCH (exit 0)\n"
                    "      or MISMATCH (exit 1)\n");
    return EXIT_USAGE;
}

static const ProtobufCServiceDescriptor *find_service(const char *name, size_t len)
{
    for (size_t i = 0; confetti_services[i]; i++)
        if (strlen(confetti_services[i]->name) == len &&
            strncmp(confetti_services[i]->name, name, len) == 0)
            return confetti_services[i];
    return NULL;
}

static int cmd_list(int argc, char **argv)
{
    for (size_t i = 0; confetti_services[i]; i++) {
        const ProtobufCServiceDescriptor *d = confetti_services[i];
        if (argc > 0 && strcmp(argv[0], d->name) != 0)
            continue;
        printf("%s\n", d->name);
        for (unsigned m = 0; m < d->n_methods; m++)
            printf("  %s/%s(%s) returns (%s)\n", d->name, d->methods[m].name,
                   d->methods[m].input->name, d->methods[m].output->name);
    }
    return 0;
}

static char *read_stdin(void)
{
    size_t cap = 4096, n = 0;
    char *buf = xmalloc(cap);
    size_t r;
    while ((r = fread(buf + n, 1, cap - n - 1, stdin)) > 0) {
        n += r;
        if (n + 1 == cap)
            buf = xrealloc(buf, cap *= 2);
    }
    buf[n] = '\0';
    return buf;
}

static int cmd_call(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    const char *address = argv[0], *method = argv[1], *json = "{}";
    char *json_owned = NULL;
    int timeout = 10000;
    rpc_ccall cc;
    rpc_ccall_init(&cc, NULL);
    char *headers[RPC_CCALL_MAX_MD];
    size_t nheaders = 0;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "-H") == 0 && i + 1 < argc && nheaders < RPC_CCALL_MAX_MD - 1) {
            char *h = headers[nheaders++] = xstrdup(argv[++i]);
            char *colon = strchr(h, ':');
            if (!colon) {
                fprintf(stderr, "header must be 'key: value': %s\n", h);
                return EXIT_USAGE;
            }
            *colon = '\0';
            for (char *p = h; *p; p++)
                *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
            char *v = colon + 1;
            while (*v == ' ')
                v++;
            rpc_ccall_md(&cc, h, v);
        } else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
            timeout = atoi(argv[++i]);
        } else if (strcmp(argv[i], "-") == 0) {
            json = json_owned = read_stdin();
        } else if (argv[i][0] != '-') {
            json = argv[i];
        } else {
            return usage();
        }
    }
    char *bearer = NULL;
    rpc_ident *ident = NULL;
    const char *token = getenv("CONFETTI_TOKEN");
    if (token && *token) {
        bearer = xasprintf("Bearer %s", token);
        rpc_ccall_md(&cc, "authorization", bearer);
    }

    int rc = 0;
    const char *slash = strchr(method, '/');
    const ProtobufCServiceDescriptor *d =
        slash ? find_service(method, (size_t)(slash - method)) : NULL;
    const ProtobufCMethodDescriptor *md =
        d ? protobuf_c_service_descriptor_get_method_by_name(d, slash + 1) : NULL;
    if (!md) {
        fprintf(stderr, "unknown method %s (see: confetti list)\n", method);
        rc = EXIT_USAGE;
        goto out;
    }
    ProtobufCMessage *input = NULL;
    pbjson_error perr;
    if (pbjson_from_string(md->input, json, strlen(json), arena_allocator(&cc.arena), &input,
                           &perr) != CF_OK) {
        fprintf(stderr, "INVALID_ARGUMENT: request JSON: %s%s%s\n", perr.path,
                *perr.path ? ": " : "", perr.message);
        rc = CF_INVALID_ARGUMENT;
        goto out;
    }
    rpc_client *client;
    char err[256];
    const char *key = getenv("CONFETTI_IDENT_KEY_FILE"), *who = getenv("CONFETTI_IDENT_NAME");
    if (key && *key) {
        rpc_ident_config ic = {.name = who && *who ? who : "operator", .key_file = key};
        if (rpc_ident_new(&ic, &ident, err, sizeof err) != CF_OK) {
            fprintf(stderr, "CONFETTI_IDENT_KEY_FILE: %s\n", err);
            rc = EXIT_USAGE;
            goto out;
        }
    }
    rpc_client_config cfg = {.urls = &address, .nurls = 1, .timeout_ms = timeout, .ident = ident};
    if (rpc_client_new(&cfg, &client, err, sizeof err) != CF_OK) {
        fprintf(stderr, "%s\n", err);
        rc = EXIT_USAGE;
        goto out;
    }
    rpc_client_invoke(client, d, (unsigned)(md - d->methods), input, &cc);
    if (cc.code == CF_OK) {
        char *out = pbjson_to_string(cc.response);
        printf("%s\n", out);
        free(out);
    } else {
        fprintf(stderr, "%s: %s\n", cf_code_name(cc.code), cc.message);
        for (size_t i = 0; i < cc.ndetails; i++)
            fprintf(stderr, "  %s: %s\n", cc.details[i]->field, cc.details[i]->description);
        rc = cc.code;
    }
    rpc_client_free(client);
out:
    rpc_ident_free(ident);
    rpc_ccall_free(&cc);
    for (size_t i = 0; i < nheaders; i++)
        free(headers[i]);
    free(bearer);
    free(json_owned);
    return rc;
}

/* Reads a whole file (NUL-terminated) into *out; its length in *len. */
static bool read_file(const char *path, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    size_t cap = 4096, n = 0, r;
    char *buf = xmalloc(cap);
    while ((r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (n + 1 == cap)
            buf = xrealloc(buf, cap *= 2);
    }
    bool ok = !ferror(f);
    fclose(f);
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return ok;
}

/* confetti draw verify RECORD.json ELIGIBLE.txt (docs/draw.md): every line of ELIGIBLE.txt is
 * one participant id, verbatim (a final newline ends the last line; nothing is trimmed). */
static int cmd_draw(int argc, char **argv)
{
    if (argc != 3 || strcmp(argv[0], "verify") != 0)
        return usage();
    char *json, *list;
    size_t jlen, llen;
    if (!read_file(argv[1], &json, &jlen)) {
        fprintf(stderr, "%s: cannot read\n", argv[1]);
        return EXIT_USAGE;
    }
    if (!read_file(argv[2], &list, &llen)) {
        fprintf(stderr, "%s: cannot read\n", argv[2]);
        free(json);
        return EXIT_USAGE;
    }
    ProtobufCMessage *m = NULL;
    pbjson_error err;
    int rc = 1;
    if (pbjson_from_string(&draw__v1__draw_record__descriptor, json, jlen, NULL, &m, &err) !=
        CF_OK) {
        printf("MISMATCH: %s is not a draw record (%s%s%s)\n", argv[1], err.path,
               *err.path ? ": " : "", err.message);
        goto out;
    }
    const Draw__V1__DrawRecord *rec = (const Draw__V1__DrawRecord *)m;
    size_t n = 0, cap = 1024;
    const char **ids = xmalloc(cap * sizeof *ids);
    for (char *p = list; p < list + llen;) {
        char *nl = memchr(p, '\n', (size_t)(list + llen - p));
        if (nl)
            *nl = '\0';
        if (n == cap)
            ids = xrealloc(ids, (cap *= 2) * sizeof *ids);
        ids[n++] = p;
        p = nl ? nl + 1 : list + llen;
    }
    draw_verdict v = draw_verify(
        rec->algorithm, rec->seed, rec->eligible_digest, rec->eligible_count, rec->count, ids, n,
        (const char *const *)rec->winner_participant_ids, rec->n_winner_participant_ids);
    printf("%s: %s\n", v == DRAW_MATCH ? "MATCH" : "MISMATCH", draw_verdict_text(v));
    rc = v == DRAW_MATCH ? 0 : 1;
    free(ids);
    protobuf_c_message_free_unpacked(m, NULL);
out:
    free(json);
    free(list);
    return rc;
}

int main(int argc, char **argv)
{
    log_setup("confetti", LOG_WARN);
    if (argc < 2)
        return usage();
    if (strcmp(argv[1], "call") == 0)
        return cmd_call(argc - 2, argv + 2);
    if (strcmp(argv[1], "list") == 0)
        return cmd_list(argc - 2, argv + 2);
    if (strcmp(argv[1], "draw") == 0)
        return cmd_draw(argc - 2, argv + 2);
    return usage();
}
