/* idem.c — the one idempotency rule of every creating method (issue 25 item 1; docs/api.md,
 * "Idempotency"): the key's syntax, the request's fingerprint, the refusal of a key reused for
 * another request. Where the key and fingerprint are stored is each service's (its database). */
#include "rpc.h"

#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

bool rpc_idempotency_key_ok(const char *k)
{
    size_t n = strlen(k);
    if (n == 0 || n > RPC_IDEMPOTENCY_KEY_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (k[i] < 0x21 || k[i] > 0x7E)
            return false;
    return true;
}

cf_code rpc_idempotency_key(rpc_call *call, const char **key)
{
    *key = rpc_md_get(call, "idempotency-key");
    if (*key && !rpc_idempotency_key_ok(*key)) {
        *key = NULL;
        return rpc_violation(call, "idempotency-key",
                             "must be 1 to %d printable ASCII characters without spaces",
                             RPC_IDEMPOTENCY_KEY_MAX);
    }
    return CF_OK;
}

char *rpc_idempotency_fingerprint(rpc_call *call, const ProtobufCMessage *req)
{
    /* protobuf-c encodes fields in number order, so two encodings of one request (a caller's
     * field order, omitted defaults) fingerprint alike */
    size_t n = protobuf_c_message_get_packed_size(req);
    uint8_t *buf = rpc_alloc(call, n ? n : 1);
    protobuf_c_message_pack(req, buf);
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(buf, n, md);
    char *hex = rpc_alloc(call, RPC_FINGERPRINT_HEX + 1);
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof md; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[RPC_FINGERPRINT_HEX] = '\0';
    return hex;
}

cf_code rpc_idempotency_reused(rpc_call *call)
{
    return rpc_violation(call, "idempotency-key", "was already used for a different request");
}

bool rpc_idempotency_matches(const char *first, const char *fp)
{
    return !first || !*first || (fp && strcmp(first, fp) == 0);
}
