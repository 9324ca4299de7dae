/* th_ident.h — service identities for tests (common/rpc/ident.h): one directory of Ed25519 key
 * pairs per test process, made at first use with our own key generator and removed at exit, so
 * no private key is ever committed. Every service the harness starts (th_service_start,
 * th_spawn_logged) gets its own key, trusts the whole directory and has "test" as an operator;
 * the harness's clients call as "test". */
#ifndef CONFETTI_TESTS_TH_IDENT_H
#define CONFETTI_TESTS_TH_IDENT_H

#include "rpc/ident.h"

/* The key directory (<name>.key and <name>.pub for the Confetti services, the test publishers
 * alpha/beta/gamma, "test" and "intruder"). "intruder" has a key pair but its public key is not
 * trusted: th_ident_untrusted_key() names the private key's file. */
const char *th_ident_dir(void);
/* The private key file of a process whose key nobody trusts. */
const char *th_ident_untrusted_key(void);
/* An identity named `name` (its key from th_ident_dir, trusting the directory), made once per
 * name and owned by the harness until exit. NULL name: an identity without a key (nothing signed)
 * that still trusts the directory. */
rpc_ident *th_ident(const char *name);
/* The identity "test" the harness's clients call as (one per process). */
rpc_ident *th_ident_test(void);
/* A bus frame as a relay sends it: "<source>\0", the packed event, signed by `signer` (NULL:
 * 64 zero bytes instead of a signature). The caller sends or frees it. */
struct nng_msg;
struct nng_msg *th_event_frame(const rpc_ident *signer, const char *source, const void *event,
                               size_t len);
/* "NAME=value" environment entries giving a service named svc (its key pair made if the
 * directory has none yet) its key, the trust directory and
 * "test" as operator; appended to env from index *n (room for 3 more), strings malloc'd. */
void th_ident_env(const char *svc, char **env, size_t *n);

#endif
