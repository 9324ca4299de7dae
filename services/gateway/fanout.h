/* fanout.h — one HTTP request answered by the same method of several services, merged: the
 * audit log (GW_FANOUT routes; docs/audit.md, "Reading"). Each service keeps its own rows and
 * answers audit.v1.ListAuditRequest; the gateway asks all of them at once, without blocking,
 * and merges their pages by time into one page whose token every service reads. */
#ifndef CONFETTI_GATEWAY_FANOUT_H
#define CONFETTI_GATEWAY_FANOUT_H

#include <stddef.h>
#include <protobuf-c/protobuf-c.h>

#include "rpc/client.h"
#include "rpc/rpc.h"

/* One service asked. */
typedef struct gw_fanout_target {
    rpc_client *client;
    const ProtobufCServiceDescriptor *service;
    unsigned method_index;
} gw_fanout_target;

/* The completion: runs once, on an nng thread (or on the caller's, if no call could start).
 * failed: the refusal to answer (the most telling one when several services refused; borrowed,
 * valid during the call), with json NULL; or failed NULL and json the merged page (malloc'd,
 * the callee frees it). */
typedef void (*gw_fanout_done_fn)(void *arg, rpc_ccall *failed, char *json);

/* Asks every target for the ListAudit page req (an audit.v1.ListAuditRequest: encoded at once,
 * borrowed only during this call) with the metadata md[0..nmd) (copied) and deadline
 * timeout_ms, then merges: newest first, req's page size, a next page token when any service
 * had more. n >= 1. Never blocks. */
void gw_fanout_audit(const gw_fanout_target *t, size_t n, const ProtobufCMessage *req,
                     const rpc_md *md, size_t nmd, int timeout_ms, gw_fanout_done_fn done,
                     void *arg);

/* Which refusal speaks for a failed fan-out (pure; exposed for the unit test): the caller's own
 * fault (INVALID_ARGUMENT, UNAUTHENTICATED, PERMISSION_DENIED, NOT_FOUND) before any other, then
 * the first in target order. Returns the index into codes[0..n) of the one to answer with, or
 * n when all are CF_OK. */
size_t gw_fanout_pick(const cf_code *codes, size_t n);

#endif
