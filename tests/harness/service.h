/* service.h — run a whole service (its svc_def, exactly as its binary would) inside a test
 * process: a fresh database on the private PostgreSQL, an ipc:// RPC address, a free admin
 * port, and optionally test keys (so callers' tokens verify) and an injected clock. */
#ifndef CONFETTI_TESTS_SERVICE_H
#define CONFETTI_TESTS_SERVICE_H

#include <stdbool.h>
#include "svc/svc.h"
#include "rpc/client.h"
#include "tokens.h"

typedef struct th_service_opts {
    const char *dsn;        /* NULL: a fresh database named after the service */
    const char *url;        /* NULL: a fresh ipc:// URL */
    th_keys *keys;          /* NULL: no token verification (tokens refused) */
    const cf_clock *clock;  /* NULL: the real clock */
    const char *const *env; /* extra "CONFETTI_X_Y=value" overrides, NULL-terminated */
} th_service_opts;

typedef struct th_service {
    svc_runtime *rt;
    char url[128];
    char *dsn; /* owned */
    bool own_db;
    int admin_port;
    char jwks_path[128];
    rpc_client *client; /* a client dialing url, 5 s default deadline */
} th_service;

/* Starts the service or fails the test with the reason. */
th_service *th_service_start(const svc_def *def, const th_service_opts *opts);
/* Stops it (drain); drops its database if the harness made it. NULL is a no-op. */
void th_service_stop(th_service *s);
/* Stops the service but keeps its database (s->dsn stays valid until th_service_free). */
void th_service_halt(th_service *s);
void th_service_free(th_service *s);

/* A free TCP port on 127.0.0.1. */
int th_free_port(void);
/* Something accepts connections on 127.0.0.1:port (a server a test started is up). */
bool th_port_open(int port);

#endif
