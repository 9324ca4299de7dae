/* ident.h — service identity on the internal network (issue 14 item 3; docs/operations.md,
 * "Service identity").
 *
 * Every Confetti process has a name ("rooms") and an Ed25519 key pair; every process holds the
 * public keys of the services it trusts (a directory of <name>.pub files). Two things are signed
 * with the private key:
 *
 *  - RPC calls carry a short-lived **service token** in the request envelope
 *    (rpc.v1.Request.service_token): "v1:<caller>:<audience>:<expiry ms>:<signature>", the
 *    audience being the called service ("auth.v1.Auth"). The client makes one per audience and
 *    reuses it until half its lifetime is gone; the server verifies a token once and then finds
 *    it in a small cache, so a call costs a lookup, not an Ed25519 verification.
 *  - Events: each bus frame ends with the publisher's signature over the rest of the frame
 *    (events/wire.c); the bus forwards only frames signed by the source they name, and
 *    subscribers verify again.
 *
 * The server's policy (rpc_ident_admit, run by the dispatcher before anything else reads the
 * call): a token that does not verify is UNAUTHENTICATED; a method on the allow list
 * (`ident.allow`, "method=svc svc") answers only the services named there (and operators): no
 * identity is UNAUTHENTICATED, another service PERMISSION_DENIED; with `ident.require` every
 * other method needs a verified service too. Operators (`ident.operators`) may call everything
 * (`confetti call` with an operator key).
 *
 * Lifetime: rpc_ident_new → (shared by clients, servers, relay, subscribers, bus) →
 * rpc_ident_free after all of them. Thread-safe. */
#ifndef CONFETTI_RPC_IDENT_H
#define CONFETTI_RPC_IDENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/status.h"

#define RPC_IDENT_SIG_LEN   64 /* bytes of an Ed25519 signature */
#define RPC_IDENT_NAME_MAX  32 /* bytes of a service name: [a-z0-9-]{1,32} */
#define RPC_IDENT_TOKEN_MAX 256

typedef struct rpc_ident rpc_ident;

typedef struct rpc_ident_config {
    const char *name;         /* this process's identity; must have a key in key_file */
    const char *key_file;     /* PEM Ed25519 private key; NULL/"" = no identity (unsigned calls) */
    const char *trust_dir;    /* directory of <service>.pub PEM public keys; NULL/"" = none */
    const char *const *allow; /* "pkg.Svc/Method=svc svc" entries */
    size_t nallow;
    const char *const *operators; /* identities allowed every method */
    size_t noperators;
    bool require;         /* every method needs a verified service identity */
    int64_t token_ttl_ms; /* lifetime of the tokens this process makes; 0 = 10 minutes */
} rpc_ident_config;

/* Loads the key and the trusted public keys and parses the allow list. CF_INVALID_ARGUMENT with
 * err naming the file or entry at fault. */
cf_code rpc_ident_new(const rpc_ident_config *cfg, rpc_ident **out, char *err, size_t errlen);
void rpc_ident_free(rpc_ident *id);

/* This process's name (never NULL). */
const char *rpc_ident_name(const rpc_ident *id);
/* True when this process has a private key (its calls and events are signed). */
bool rpc_ident_can_sign(const rpc_ident *id);
/* How many public keys are trusted. */
size_t rpc_ident_ntrusted(const rpc_ident *id);

/* Client side: writes a valid token for calls to `audience` (a service descriptor name) into
 * buf; false when this process has no key (then the call goes without one). Thread-safe;
 * signs only when the cached token is past half its life. */
bool rpc_ident_token(rpc_ident *id, const char *audience, char *buf, size_t len);

/* Server side: verifies token for a call to `method` ("pkg.Svc/Method"): on CF_OK *who is the
 * verified service (borrowed from id; NULL for a call without token) — or, on refusal, the
 * code to answer and *why a message for the caller. Thread-safe. */
cf_code rpc_ident_check(rpc_ident *id, const char *method, const char *token, const char **who,
                        const char **why);

/* Events: signs data with this process's key (false without one). */
bool rpc_ident_sign(const rpc_ident *id, const void *data, size_t len,
                    uint8_t sig[RPC_IDENT_SIG_LEN]);
/* True when sig is `name`'s signature over data (false for a name not trusted). */
bool rpc_ident_verify(const rpc_ident *id, const char *name, const void *data, size_t len,
                      const uint8_t sig[RPC_IDENT_SIG_LEN]);

/* Test and bench support: makes an Ed25519 key pair as <dir>/<name>.key (PKCS#8 PEM, mode 0600)
 * and <dir>/<name>.pub, like `openssl genpkey -algorithm ed25519`. */
cf_code rpc_ident_keygen(const char *dir, const char *name, char *err, size_t errlen);

#endif
