/* idem.c — claiming an idempotency key for the duration of a call (idem.h). */
#include "svc/idem.h"

#include "base/log.h"

#include <openssl/sha.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* The advisory lock id of (method, scope, key): the first 8 bytes of a SHA-256, as a signed
 * 64-bit decimal (pg_try_advisory_lock(bigint): objsubid 1 in pg_locks, so it never meets the
 * two-int locks such as rooms' app fence). Two keys sharing an id (2^-64) only make one of them
 * answer ABORTED while the other runs. */
static void lock_id(rpc_call *call, const char *scope, const char *key, char out[24])
{
    const char *method = rpc_method(call);
    size_t nm = strlen(method) + 1, ns = strlen(scope) + 1, nk = strlen(key);
    unsigned char *buf = rpc_alloc(call, nm + ns + nk);
    memcpy(buf, method, nm);
    memcpy(buf + nm, scope, ns);
    memcpy(buf + nm + ns, key, nk);
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(buf, nm + ns + nk, md);
    uint64_t u = 0;
    for (int i = 0; i < 8; i++)
        u = u << 8 | md[i];
    snprintf(out, 24, "%" PRId64, (int64_t)u);
}

cf_code svc_idem_claim(rpc_call *call, db_conn *db, const char *scope, const char *key,
                       const char *fingerprint, svc_idem *idem)
{
    *idem = (svc_idem){.key = key, .fingerprint = fingerprint};
    if (!key)
        return CF_OK;
    lock_id(call, scope ? scope : "", key, idem->lock);
    const char *p[] = {idem->lock};
    PGresult *r;
    cf_code code = db_exec_sql(db, "SELECT pg_try_advisory_lock($1::bigint)", 1, p, &r);
    if (code != CF_OK)
        return rpc_error(call, code == CF_UNAVAILABLE ? CF_UNAVAILABLE : CF_INTERNAL,
                         "claiming the idempotency-key: %s", cf_code_name(code));
    idem->held = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    if (!idem->held)
        return rpc_refuse(call, CF_ABORTED, "idempotency-key",
                          "a request with this idempotency-key is still in progress; retry it "
                          "later to get its result");
    return CF_OK;
}

cf_code svc_idem_begin(rpc_call *call, db_conn *db, const char *scope, const ProtobufCMessage *req,
                       svc_idem *idem)
{
    *idem = (svc_idem){0};
    const char *key;
    cf_code code = rpc_idempotency_key(call, &key);
    if (code != CF_OK || !key)
        return code;
    return svc_idem_claim(call, db, scope, key, rpc_idempotency_fingerprint(call, req), idem);
}

void svc_idem_end(db_conn *db, svc_idem *idem)
{
    if (!idem->held)
        return;
    idem->held = false;
    const char *p[] = {idem->lock};
    /* a connection replaced since the claim lost the lock with the old one: nothing to do */
    if (db_exec_sql(db, "SELECT pg_advisory_unlock($1::bigint)", 1, p, NULL) != CF_OK)
        log_warn("releasing an idempotency-key claim failed (it ends with the connection)");
}
