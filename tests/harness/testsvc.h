/* testsvc.h — testsvc.v1.Echo, a small service for exercising the RPC layer over real nng
 * sockets (tests and benchmarks). */
#ifndef CONFETTI_TESTS_TESTSVC_H
#define CONFETTI_TESTS_TESTSVC_H

#include "rpc/server.h"
#include "rpc/client.h"
#include "rpc/ident.h"
#include "testsvc/v1/echo.pb-c.h"

/* Starts an Echo server listening on url with `workers` threads; server_id comes back in
 * EchoReply.worker so tests can see which server answered. verifier and m may be NULL. */
rpc_server *th_echo_server(const char *url, int workers, int *server_id, authn_verifier *verifier,
                           metrics *m);

/* The same with a service identity policy (ident borrowed; NULL = none). */
rpc_server *th_echo_server_ident(const char *url, int workers, int *server_id,
                                 authn_verifier *verifier, metrics *m, rpc_ident *ident);

/* The bound Echo service (for svc_main-based test binaries). Handlers accept a NULL context. */
ProtobufCService *th_echo_service(void);

/* A client for url(s) with a default timeout. */
rpc_client *th_client(const char *const *urls, size_t n, int timeout_ms);

/* A unique ipc:// URL for this process (under /tmp). */
const char *th_ipc_url(char *buf, size_t len, const char *tag);

#endif
