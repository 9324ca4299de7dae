/* idem.h — the one idempotency rule of every creating method, as a service handler applies it
 * (docs/rpc.md, "Idempotency"; issue 25 item 1).
 *
 * The rule: a creating call may carry metadata `idempotency-key` (syntax: rpc_idempotency_key);
 * each service stores the key, scoped (per creator, per room…), with the request's fingerprint
 * (rpc_idempotency_fingerprint) next to what the call created. Then
 *   - the same key and the same request answers the first result, creating nothing;
 *   - the same key with another request is INVALID_ARGUMENT naming `idempotency-key`
 *     (rpc_idempotency_matches decides, rpc_idempotency_reused refuses);
 *   - a call made while the first with that key is still running is ABORTED naming
 *     `idempotency-key` (retry it later: it then gets the first result). The claim is a
 *     PostgreSQL session advisory lock on a hash of (method, scope, key), tried without
 *     waiting, taken before the call reads or writes the key's row and released after it
 *     answered, so it spans the whole call (service calls included) and dies with a crashed
 *     process's connection: nothing is ever left "in progress".
 *
 * Use:
 *     svc_idem idem;
 *     if ((code = svc_idem_begin(call, db, scope, &req->base, &idem)) != CF_OK)
 *         return code;                    // malformed key, or one in flight: explained
 *     code = ...the work, storing idem.key / idem.fingerprint when idem.key...;
 *     svc_idem_end(db, &idem);
 */
#ifndef CONFETTI_SVC_IDEM_H
#define CONFETTI_SVC_IDEM_H

#include <stdbool.h>

#include "db/db.h"
#include "rpc/rpc.h"

typedef struct svc_idem {
    const char *key;         /* NULL: the call carries no key; nothing is claimed */
    const char *fingerprint; /* the request's, when key (in the call's arena) */
    char lock[24];           /* the advisory lock id, decimal */
    bool held;
} svc_idem;

/* Reads the call's `idempotency-key` metadata, fingerprints req and claims the key on db (the
 * worker's connection) for this call. CF_OK: go on (idem->key NULL when the call has no key);
 * CF_INVALID_ARGUMENT: a malformed key; CF_ABORTED: a call with this key (same method, same
 * scope) is still running; both already explained to the caller. Database errors: CF_UNAVAILABLE
 * etc., explained as INTERNAL/UNAVAILABLE. scope: what the key is unique within (the creator's
 * id, the room's id). Blocks (one statement when a key is present). */
cf_code svc_idem_begin(rpc_call *call, db_conn *db, const char *scope, const ProtobufCMessage *req,
                       svc_idem *idem);

/* svc_idem_begin for a key the handler read itself (e.g. a request field, already checked with
 * rpc_idempotency_key_ok) and a fingerprint it computed: claims key (NULL: nothing to do). */
cf_code svc_idem_claim(rpc_call *call, db_conn *db, const char *scope, const char *key,
                       const char *fingerprint, svc_idem *idem);

/* Releases the claim (a no-op without one). Call it once the work is done, on every path after
 * svc_idem_begin/claim returned CF_OK. Blocks (one statement). */
void svc_idem_end(db_conn *db, svc_idem *idem);

#endif
