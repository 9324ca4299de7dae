/* scope.h — what an app token may call: each service declares, as data, which scopes of an app
 * token's `scope` claim (the manifest's permissions, signed by auth's IssueAppToken) grant each
 * of its methods, and the dispatcher of the service that owns the data checks it once, before
 * the handler (docs/auth.md, "App scopes"). User tokens carry no scope and are not limited
 * here; the service's own rules (rooms' role table, catalog's owner rules…) then apply to every
 * caller, apps included.
 *
 * Default deny: a method a table does not name refuses every app token, and so does a service
 * without a table. */
#ifndef CONFETTI_RPC_SCOPE_H
#define CONFETTI_RPC_SCOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <protobuf-c/protobuf-c.h>

/* A rule's scopes: RPC_SCOPE_OPEN for a method that acts for no one (its answer does not depend
 * on who calls: JWKS, login steps, credential checks), so any token may call it; otherwise the
 * scopes, space-separated, any one of which grants the method. */
#define RPC_SCOPE_OPEN "*"

typedef struct rpc_scope_rule {
    const char *method; /* the method's name in the proto: "GetRoom" */
    const char *scopes; /* RPC_SCOPE_OPEN, or "rooms:read prizes:read" (any of) */
} rpc_scope_rule;

typedef struct rpc_scope_table {
    const ProtobufCServiceDescriptor *service;
    const rpc_scope_rule *rules;
    size_t n;
} rpc_scope_table;

/* Longest scope name (catalog refuses longer ones in a manifest). */
#define RPC_SCOPE_MAX 64

/* True if an app token granted `granted` (its `scope` claim: space-separated, may be "" or NULL)
 * may call `method` (the short name) under table t (NULL = no table: false). */
bool rpc_scope_allows(const rpc_scope_table *t, const char *method, const char *granted);

/* The scopes that grant method under t (RPC_SCOPE_OPEN, a list, or NULL when none does):
 * for the refusal's message. Borrowed from the table. */
const char *rpc_scope_needed(const rpc_scope_table *t, const char *method);

/* Checks a table against its service: every rule names a method of the descriptor, once, and
 * lists well-formed scopes. Returns NULL if it is sound, else a static text saying what is
 * wrong (a programmer error: the server refuses to start with it). */
const char *rpc_scope_table_check(const rpc_scope_table *t);

#endif
