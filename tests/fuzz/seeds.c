/* seeds.c — writes the seed corpus of every fuzz target (tests/fuzz/corpus/<target>/), made from
 * real messages: the request envelope of every method of every service in proto/ (its request
 * filled field by field from the descriptor, plus the documented example bodies), anonymous and
 * with a token signed by the fuzz key; proto3 JSON and binary forms of every message type; the
 * WebSocket client messages of docs/gateway.md as masked frames; the deploy/config YAML shapes;
 * the settings schemas of docs/catalog.md; real access tokens, their JSON, and JWKS documents.
 *
 * Usage: confetti-fuzz-seeds DIR (`make fuzz-seeds` empties tests/fuzz/corpus and runs it there).
 * Files are named after what they hold. Tokens and keys other than the fuzz key are fresh on each
 * run. Aborts on any failure: a seed that does not build is a broken generator. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "authn/sign.h"
#include "fuzz_common.h"
#include "pbjson/internal.h"
#include "pbjson/pbjson.h"
#include "rpc/v1/envelope.pb-c.h"
#include "testsvc/v1/echo.pb-c.h"

extern const ProtobufCServiceDescriptor *const confetti_services[];

static const char *outdir;

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "confetti-fuzz-seeds: %s%s%s\n", what, detail ? ": " : "",
            detail ? detail : "");
    exit(1);
}

static void write_seed(const char *target, const char *name, const void *data, size_t len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", outdir, target);
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        die("cannot create", path);
    snprintf(path, sizeof path, "%s/%s/%s", outdir, target, name);
    for (char *p = path + strlen(outdir) + strlen(target) + 2; *p; p++)
        if (*p == '/' || *p == ' ')
            *p = '_';
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0)
        die("cannot write", path);
}

/* Seeds with a one- or two-byte selector in front. */
static void write_prefixed(const char *target, const char *name, const uint8_t *prefix, size_t plen,
                           const void *data, size_t len)
{
    uint8_t *buf = malloc(plen + len + 1);
    memcpy(buf, prefix, plen);
    memcpy(buf + plen, data, len);
    write_seed(target, name, buf, plen + len);
    free(buf);
}

/* ---- a plausible value for every field of a message, as proto3 JSON ---- */

static bool ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), t = strlen(tail);
    return n >= t && strcmp(s + n - t, tail) == 0;
}

static json_t *fill_message(const ProtobufCMessageDescriptor *d, int depth);

static json_t *fill_string(const char *field)
{
    if (ends_with(field, "id") || ends_with(field, "ids"))
        return json_string("cm4fuzzseed0000000000001a");
    if (strstr(field, "version"))
        return json_string("1.0.0");
    if (strstr(field, "email"))
        return json_string("alice@example.com");
    if (strstr(field, "url") || strstr(field, "uri"))
        return json_string("https://example.com/callback");
    if (strstr(field, "token"))
        return json_string("");
    if (strstr(field, "secret") || strstr(field, "password"))
        return json_string("s3cret-s3cret-s3cret");
    if (strstr(field, "name") || strstr(field, "title"))
        return json_string("Wheel of Fortune");
    return json_string("example");
}

static json_t *fill_scalar(const ProtobufCFieldDescriptor *f, int depth)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
        return fill_string(f->name);
    case PROTOBUF_C_TYPE_BYTES:
        return json_string("ZnV6eg==");
    case PROTOBUF_C_TYPE_BOOL:
        return json_true();
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE:
        return json_real(1.5);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return json_string(strstr(f->name, "seq") ? "120" : "1");
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumDescriptor *e = f->descriptor;
        return json_string(e->values[e->n_values > 1 ? 1 : 0].name);
    }
    case PROTOBUF_C_TYPE_MESSAGE:
        return fill_message(f->descriptor, depth + 1);
    default:
        return json_integer(strstr(f->name, "size") ? 10 : 1);
    }
}

static json_t *fill_message(const ProtobufCMessageDescriptor *d, int depth)
{
    switch (pbj_kind_of(d)) {
    case PBJ_STRUCT:
        return json_pack("{s:i,s:s,s:[b,n]}", "maxWinners", 3, "theme", "dark", "tiers", 1);
    case PBJ_VALUE:
        return json_string("example");
    case PBJ_LIST:
        return json_pack("[i,s]", 1, "two");
    case PBJ_TIMESTAMP:
        return json_string("2026-12-01T09:30:00Z");
    case PBJ_FIELD_MASK:
        return json_string("name");
    default:
        break;
    }
    json_t *o = json_object();
    if (depth > 4)
        return o;
    unsigned oneofs_set[64] = {0};
    size_t noneofs = 0;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) { /* one member per oneof */
            bool taken = false;
            for (size_t k = 0; k < noneofs; k++)
                taken |= oneofs_set[k] == f->quantifier_offset;
            if (taken)
                continue;
            if (noneofs < 64)
                oneofs_set[noneofs++] = f->quantifier_offset;
        }
        char name[128];
        pbj_json_name(f->name, name, sizeof name);
        json_t *v;
        if (pbj_is_map(d, f)) {
            const ProtobufCMessageDescriptor *entry = f->descriptor;
            bool numeric_key = entry->fields[0].type != PROTOBUF_C_TYPE_STRING;
            v = json_object();
            json_object_set_new(v, numeric_key ? "7" : "key",
                                fill_scalar(&entry->fields[1], depth));
        } else if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            v = json_array();
            json_array_append_new(v, fill_scalar(f, depth));
        } else {
            v = fill_scalar(f, depth);
        }
        json_object_set_new(o, name, v);
    }
    return o;
}

/* Builds a message of type d from JSON text or a filled value; NULL (with a warning) when
 * pbjson refuses it. Caller frees with protobuf_c_message_free_unpacked. */
static ProtobufCMessage *message_from(const ProtobufCMessageDescriptor *d, json_t *j)
{
    ProtobufCMessage *m = NULL;
    pbjson_error err;
    if (pbjson_from_json(d, j, NULL, &m, &err) != CF_OK) {
        fprintf(stderr, "confetti-fuzz-seeds: skipped a %s seed: %s: %s\n", d->name, err.path,
                err.message);
        return NULL;
    }
    return m;
}

static uint8_t *pack(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(*len + 1);
    protobuf_c_message_pack(m, buf);
    return buf;
}

/* ---- envelope ---- */

/* Example bodies from docs/ (the life of an app in docs/catalog.md). */
static const struct {
    const char *method, *json;
} examples[] = {
    {"catalog.v1.Catalog/RegisterApp",
     "{\"name\":\"Wheel of Fortune\",\"manifest\":{\"name\":\"Wheel\",\"version\":\"1.0.0\","
     "\"permissions\":[\"rooms:read\"],\"settingsSchema\":{\"type\":\"object\",\"required\":["
     "\"maxWinners\"],\"properties\":{\"maxWinners\":{\"type\":\"integer\",\"minimum\":1,"
     "\"maximum\":10}}}}}"},
    {"catalog.v1.Catalog/ValidateSettings",
     "{\"appId\":\"cm4fuzzseed0000000000001a\",\"settings\":{\"maxWinners\":8}}"},
    {"catalog.v1.Catalog/PublishManifest",
     "{\"appId\":\"cm4fuzzseed0000000000001a\",\"manifest\":{\"name\":\"Wheel\",\"version\":"
     "\"2.0.0\",\"permissions\":[\"rooms:read\"],\"settingsSchema\":{\"type\":\"object\","
     "\"properties\":{\"maxWinners\":{\"type\":\"integer\",\"maximum\":5}}}}}"},
    {"catalog.v1.Catalog/ListApps", "{\"ownerUserId\":\"alice\",\"pageSize\":10}"},
};

static void envelope_seed(const char *method, const uint8_t *payload, size_t plen,
                          const char *token, const char *name)
{
    Rpc__V1__MetadataEntry md[3] = {RPC__V1__METADATA_ENTRY__INIT, RPC__V1__METADATA_ENTRY__INIT,
                                    RPC__V1__METADATA_ENTRY__INIT};
    Rpc__V1__MetadataEntry *mdp[3] = {&md[0], &md[1], &md[2]};
    md[0].key = "x-request-id";
    md[0].value = "cm4fuzzreq00000000000001";
    md[1].key = "idempotency-key";
    md[1].value = "seed-1";
    char *auth = NULL;
    if (token) {
        auth = malloc(strlen(token) + 8);
        sprintf(auth, "Bearer %s", token);
        md[2].key = "authorization";
        md[2].value = auth;
    }
    Rpc__V1__Request req = RPC__V1__REQUEST__INIT;
    req.method = (char *)method;
    req.payload.data = (uint8_t *)payload;
    req.payload.len = plen;
    req.metadata = mdp;
    req.n_metadata = token ? 3 : 2;
    req.timeout_ms = 5000;
    size_t len;
    uint8_t *buf = pack(&req.base, &len);
    write_seed("envelope", name, buf, len);
    free(buf);
    free(auth);
}

static void envelope_seeds(const char *token)
{
    for (const ProtobufCServiceDescriptor *const *sd = confetti_services; *sd; sd++)
        for (unsigned i = 0; i < (*sd)->n_methods; i++) {
            const ProtobufCMethodDescriptor *md = &(*sd)->methods[i];
            char method[256], name[300];
            snprintf(method, sizeof method, "%s/%s", (*sd)->name, md->name);
            json_t *j = fill_message(md->input, 0);
            ProtobufCMessage *m = message_from(md->input, j);
            json_decref(j);
            if (m) {
                size_t len;
                uint8_t *p = pack(m, &len);
                snprintf(name, sizeof name, "%s.anon", method);
                envelope_seed(method, p, len, NULL, name);
                snprintf(name, sizeof name, "%s.token", method);
                envelope_seed(method, p, len, token, name);
                free(p);
                protobuf_c_message_free_unpacked(m, NULL);
            }
            for (size_t e = 0; e < sizeof examples / sizeof *examples; e++) {
                if (strcmp(examples[e].method, method) != 0)
                    continue;
                json_t *x = json_loads(examples[e].json, 0, NULL);
                ProtobufCMessage *em = x ? message_from(md->input, x) : NULL;
                json_decref(x);
                if (!em)
                    die("a documented example does not decode", method);
                size_t len;
                uint8_t *p = pack(em, &len);
                snprintf(name, sizeof name, "%s.example.token", method);
                envelope_seed(method, p, len, token, name);
                free(p);
                protobuf_c_message_free_unpacked(em, NULL);
            }
        }
    envelope_seed("catalog.v1.Catalog/NoSuchMethod", NULL, 0, NULL, "unknown-method");
    envelope_seed("health.v1.Health/Check", NULL, 0, "not.a.token", "bad-token");
    write_seed("envelope", "empty", "", 0);
}

/* ---- pbjson: the type list of pbjson_fuzz.c, in its order ---- */

#define MAX_TYPES 512
static const ProtobufCMessageDescriptor *types[MAX_TYPES];
static size_t ntypes;

static void add_type(const ProtobufCMessageDescriptor *d)
{
    for (size_t i = 0; i < ntypes; i++)
        if (types[i] == d)
            return;
    types[ntypes++] = d;
}

static void pbjson_seeds(void)
{
    add_type(&testsvc__v1__kitchen__descriptor);
    add_type(&google__protobuf__struct__descriptor);
    for (const ProtobufCServiceDescriptor *const *sd = confetti_services; *sd; sd++)
        for (unsigned m = 0; m < (*sd)->n_methods; m++) {
            add_type((*sd)->methods[m].input);
            add_type((*sd)->methods[m].output);
        }
    if (ntypes > 256)
        die("more than 256 message types: pbjson_fuzz.c's one-byte selector needs widening", NULL);
    for (size_t i = 0; i < ntypes; i++) {
        json_t *j = fill_message(types[i], 0);
        ProtobufCMessage *m = message_from(types[i], j);
        if (m) {
            char *text = json_dumps(j, JSON_COMPACT);
            uint8_t sel[2] = {(uint8_t)i, 0};
            char name[300];
            snprintf(name, sizeof name, "%s.json", types[i]->name);
            write_prefixed("pbjson", name, sel, 2, text, strlen(text));
            size_t len;
            uint8_t *p = pack(m, &len);
            sel[1] = 1;
            snprintf(name, sizeof name, "%s.bin", types[i]->name);
            write_prefixed("pbjson", name, sel, 2, p, len);
            free(p);
            free(text);
            protobuf_c_message_free_unpacked(m, NULL);
        }
        json_decref(j);
    }
    for (size_t e = 0; e < sizeof examples / sizeof *examples; e++) {
        /* "catalog.v1.Catalog/RegisterApp" → "catalog.v1.RegisterAppRequest" */
        const char *m = examples[e].method, *slash = strchr(m, '/'), *dot = slash;
        while (dot > m && dot[-1] != '.')
            dot--;
        char want[160];
        snprintf(want, sizeof want, "%.*s%sRequest", (int)(dot - m), m, slash + 1);
        for (size_t i = 0; i < ntypes; i++) {
            if (strcmp(types[i]->name, want) != 0)
                continue;
            uint8_t sel[2] = {(uint8_t)i, 0};
            write_prefixed("pbjson", want, sel, 2, examples[e].json, strlen(examples[e].json));
        }
    }
}

/* ---- wsframe: client frames (masked) ---- */

static size_t frame(uint8_t *out, unsigned opcode, bool fin, const void *payload, size_t len)
{
    static const uint8_t mask[4] = {0x37, 0xfa, 0x21, 0x3d};
    size_t n = 0;
    out[n++] = (uint8_t)((fin ? 0x80 : 0) | opcode);
    if (len < 126) {
        out[n++] = (uint8_t)(0x80 | len);
    } else {
        out[n++] = 0x80 | 126;
        out[n++] = (uint8_t)(len >> 8);
        out[n++] = (uint8_t)len;
    }
    memcpy(out + n, mask, 4);
    n += 4;
    for (size_t i = 0; i < len; i++)
        out[n + i] = ((const uint8_t *)payload)[i] ^ mask[i % 4];
    return n + len;
}

static void wsframe_seeds(const char *token)
{
    static const char *const messages[] = {
        "{\"type\":\"auth\",\"token\":\"%s\"}",
        ("{\"type\":\"subscribe\",\"roomId\":\"cm4fuzzroom0000000000001\",\"resume\":{\"rooms\":"
         "\"120\",\"draw\":\"55\"}}"),
        "{\"type\":\"subscribe\",\"roomId\":\"cm4fuzzroom0000000000001\"}",
        "{\"type\":\"unsubscribe\",\"roomId\":\"cm4fuzzroom0000000000001\"}",
        "{\"type\":\"ping\"}",
        "{\"type\":\"pong\"}",
    };
    static uint8_t buf[65536];
    char text[4096], name[64];
    static uint8_t everything[65536];
    size_t all = 2;
    everything[0] = 0; /* part: frames */
    everything[1] = 6; /* reads of 7 bytes: frames split across reads */
    for (size_t i = 0; i < sizeof messages / sizeof *messages; i++) {
        snprintf(text, sizeof text, messages[i], token);
        buf[0] = 0;   /* part: frames */
        buf[1] = 255; /* reads of 256 bytes */
        size_t n = 2 + frame(buf + 2, 0x1, true, text, strlen(text));
        snprintf(name, sizeof name, "text-%zu", i);
        write_seed("wsframe", name, buf, n);
        all += frame(everything + all, 0x1, true, text, strlen(text));
    }
    write_seed("wsframe", "session", everything, all);
    /* a message in three fragments with a ping between them, then a close with a reason */
    const char *msg = "{\"type\":\"subscribe\",\"roomId\":\"cm4fuzzroom0000000000001\"}";
    size_t n = 0, third = strlen(msg) / 3;
    buf[n++] = 0;
    buf[n++] = 15;
    n += frame(buf + n, 0x1, false, msg, third);
    n += frame(buf + n, 0x9, true, "hb", 2);
    n += frame(buf + n, 0x0, false, msg + third, third);
    n += frame(buf + n, 0x0, true, msg + 2 * third, strlen(msg) - 2 * third);
    uint8_t close[] = {0x03, 0xe8, 'b', 'y', 'e'};
    n += frame(buf + n, 0x8, true, close, sizeof close);
    write_seed("wsframe", "fragmented-ping-close", buf, n);
    /* a binary message of 300 bytes (16-bit length), a pong, an empty close */
    uint8_t big[300];
    memset(big, 'x', sizeof big);
    n = 0;
    buf[n++] = 0;
    buf[n++] = 99;
    n += frame(buf + n, 0x2, true, big, sizeof big);
    n += frame(buf + n, 0xA, true, "", 0);
    n += frame(buf + n, 0x8, true, "", 0);
    write_seed("wsframe", "binary-pong-close", buf, n);
    /* the handshake helpers */
    char hdr[4200];
    snprintf(hdr, sizeof hdr, "%cconfetti.v1, bearer.%s", 2, token);
    write_seed("wsframe", "subprotocols", hdr, strlen(hdr));
    write_seed("wsframe", "subprotocols-plain", "\002confetti.v1", 12);
    write_seed("wsframe", "accept-key", "\003dGhlIHNhbXBsZSBub25jZQ==", 25);
}

/* ---- cfg: the shapes of deploy/config/<svc>.yaml, for the keys the fuzz target knows ---- */

static void cfg_seeds(void)
{
    static const char service[] =
        "# confetti-catalog (deploy/config/catalog.yaml, common sections)\n"
        "rpc:\n  listen: [\"tcp://127.0.0.1:7101\"]\n  workers: 8\n  max_message: 4MiB\n"
        "admin:\n  listen: http://127.0.0.1:9101\n"
        "log:\n  level: info\n"
        "db:\n  dsn_file: /dev/null\n"
        "auth:\n  jwks_urls: [\"tcp://127.0.0.1:7102\"]\n  jwks_refetch: 10s\n"
        "  issuer: confetti\n  audience: confetti\n  leeway: 60s\n"
        "events:\n  bus: tcp://127.0.0.1:7110\n  retention: 7d\n  poll: 1s\n  batch: 500\n"
        "  pass_gap: 2ms\n";
    static const char every_type[] =
        "fuzz:\n  str: \"quoted \\u00e9\"\n  secret: hunter2\n  choice: three\n  req: here\n"
        "  count: -5\n  unbounded: 9223372036854775807\n  timeout: 1d\n  size: 512KiB\n"
        "  flag: yes\n  list:\n    - one\n    - 'two'\n  empty_list: []\n";
    static const char flow[] = "{rpc: {workers: 2, listen: [a, b]}, log: {level: debug}}\n";
    static const char with_env[] = "rpc:\n  workers: 2\n\0CONFETTI_RPC_WORKERS=3\0"
                                   "CONFETTI_FUZZ_LIST=x,y\0CONFETTI_DB_DSN=host=/tmp\0";
    write_seed("cfg", "service", service, sizeof service - 1);
    write_seed("cfg", "every-type", every_type, sizeof every_type - 1);
    write_seed("cfg", "flow", flow, sizeof flow - 1);
    write_seed("cfg", "with-env", with_env, sizeof with_env - 1);
    write_seed("cfg", "anchor", "rpc: &a\n  workers: 1\nadmin: *a\n", 31);
}

/* ---- jsonschema: [schema, settings] from docs/catalog.md ---- */

static void jsonschema_seeds(void)
{
    static const char *const docs[] = {
        "[{\"type\":\"object\",\"required\":[\"maxWinners\"],\"properties\":{\"maxWinners\":{"
        "\"type\":\"integer\",\"minimum\":1,\"maximum\":10}}},{\"maxWinners\":8}]",
        "[{\"type\":\"object\",\"properties\":{\"maxWinners\":{\"type\":\"integer\",\"maximum\":5}"
        "}},{\"maxWinners\":8}]",
        "[{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"title\":\"Wheel\","
        "\"type\":\"object\",\"additionalProperties\":false,\"properties\":{\"theme\":{\"type\":"
        "\"string\",\"enum\":[\"dark\",\"light\"],\"default\":\"dark\"},\"code\":{\"type\":"
        "\"string\",\"minLength\":2,\"maxLength\":8,\"pattern\":\"^[A-Z]+[0-9]*$\"},\"tiers\":{"
        "\"type\":\"array\",\"items\":{\"type\":\"object\",\"required\":[\"name\"],\"properties\":"
        "{\"name\":{\"type\":\"string\"},\"weight\":{\"type\":\"number\",\"minimum\":0}}}},"
        "\"flags\":{\"type\":[\"boolean\",\"null\"]}}},{\"theme\":\"dark\",\"code\":\"AB12\","
        "\"tiers\":[{\"name\":\"gold\",\"weight\":1.5},{\"weight\":-1}],\"flags\":null,"
        "\"extra\":1}]",
        "[{\"type\":\"object\",\"minLenght\":1},{}]",
    };
    char name[32];
    for (size_t i = 0; i < sizeof docs / sizeof *docs; i++) {
        snprintf(name, sizeof name, "doc-%zu", i);
        write_seed("jsonschema", name, docs[i], strlen(docs[i]));
    }
}

/* ---- jwt ---- */

static void jwt_seeds(authn_signer *s, const char *token, const char *admin_token)
{
    write_prefixed("jwt", "token", (const uint8_t *)"\0", 1, token, strlen(token));
    write_prefixed("jwt", "token-admin", (const uint8_t *)"\0", 1, admin_token,
                   strlen(admin_token));
    static const char parts[] =
        "{\"alg\":\"ES256\",\"kid\":\"" FUZZ_KID "\",\"typ\":\"JWT\"}\0"
        "{\"iss\":\"confetti\",\"aud\":[\"confetti\",\"other\"],\"sub\":\"app:cm4fuzzapp\","
        "\"sid\":\"s1\",\"jti\":\"j1\",\"iat\":1796083200,\"nbf\":1796083200,\"exp\":1796086800,"
        "\"roles\":[\"admin\"],\"scope\":\"rooms:read draws:write\"}";
    write_prefixed("jwt", "signed-parts", (const uint8_t *)"\1", 1, parts, sizeof parts - 1);
    static const char claims[] = "{\"iss\":\"confetti\",\"aud\":\"confetti\",\"sub\":\"alice\","
                                 "\"exp\":1796086800}";
    write_prefixed("jwt", "signed-claims", (const uint8_t *)"\1", 1, claims, sizeof claims - 1);
    char *jwks = NULL;
    if (authn_signer_jwks(s, &jwks) != CF_OK)
        die("no JWKS", NULL);
    write_prefixed("jwt", "jwks-es256", (const uint8_t *)"\2", 1, jwks, strlen(jwks));
    free(jwks);
    char *pem = NULL;
    authn_signer *rsa = NULL;
    if (authn_generate_key("RS256", &pem) != CF_OK ||
        authn_signer_new_pem(pem, "rsa-1", "RS256", &rsa) != CF_OK ||
        authn_signer_jwks(rsa, &jwks) != CF_OK)
        die("no RSA JWKS", NULL);
    write_prefixed("jwt", "jwks-rs256", (const uint8_t *)"\2", 1, jwks, strlen(jwks));
    free(jwks);
    free(pem);
    authn_signer_free(rsa);
}

/* ---- httpedge: request streams (byte 0: the read size - 1) ---- */

static void httpedge_seeds(void)
{
    static const struct {
        const char *name, *stream;
    } streams[] = {
        {"get", "GET /v1/rooms?pageSize=2&x=%41 HTTP/1.1\r\nHost: t\r\nCookie: a=1; b=2\r\n\r\n"},
        {"keepalive-post",
         "GET / HTTP/1.1\r\nHost: t\r\n\r\nPOST /v1/rooms HTTP/1.1\r\nHost: t\r\nContent-Length: "
         "2\r\n\r\n{}GET / HTTP/1.0\r\n\r\n"},
        {"chunked-trailers",
         "POST /v1/rooms HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
         "2;e=1\r\n{}\r\n0\r\nX-T: 1\r\n\r\n"},
        {"bare-lf", "GET / HTTP/1.1\nHost: t\n\n"},
        {"obs-fold", "GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n b\r\n\r\n"},
        {"upgrade", "GET /v1/ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n\r\n\x81\x80"},
        {"cl-te", "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: "
                  "chunked\r\n\r\n0\r\n\r\n"},
    };
    for (size_t i = 0; i < sizeof streams / sizeof streams[0]; i++) {
        uint8_t step = (uint8_t)(i * 5); /* reads of 1, 6, 11, ... bytes */
        write_prefixed("httpedge", streams[i].name, &step, 1, streams[i].stream,
                       strlen(streams[i].stream));
    }
}

int main(int argc, char **argv)
{
    if (argc != 2)
        die("usage: confetti-fuzz-seeds DIR", NULL);
    outdir = argv[1];
    if (mkdir(outdir, 0755) != 0 && errno != EEXIST)
        die("cannot create", outdir);
    authn_signer *s = fuzz_signer_new();
    static const char *const admin[] = {"admin"};
    authn_claims c = {.iss = FUZZ_ISSUER,
                      .aud = FUZZ_AUDIENCE,
                      .sub = "alice",
                      .sid = "s1",
                      .iat = FUZZ_NOW,
                      .ttl_seconds = 3600,
                      .scope = "rooms:read"};
    char *token = NULL, *admin_token = NULL;
    if (authn_sign(s, &c, &token) != CF_OK)
        die("cannot sign", NULL);
    c.sub = "root";
    c.roles = admin;
    c.nroles = 1;
    if (authn_sign(s, &c, &admin_token) != CF_OK)
        die("cannot sign", NULL);
    envelope_seeds(token);
    pbjson_seeds();
    wsframe_seeds(token);
    httpedge_seeds();
    cfg_seeds();
    jsonschema_seeds();
    jwt_seeds(s, token, admin_token);
    free(token);
    free(admin_token);
    authn_signer_free(s);
    return 0;
}
