/* resolve.h — dial every address of a name, and keep dialing exactly those.
 *
 * A peer in Kubernetes is a headless Service: its DNS name has one A record per ready pod. An
 * nng socket that dials "tcp://rooms:7103" once makes one connection to one address (nng
 * resolves the name itself and takes the first answer), so pods added later never get traffic
 * from it. A resolve_set instead does what gRPC's `dns` resolver with `round_robin` does:
 *
 *   - it resolves the URL's host to ALL its addresses and dials each one (one nng dialer per
 *     address, "tcp://10.1.2.3:7103"); the socket's protocol spreads messages over the
 *     connections (req: round-robin over idle pipes; pub: every pipe gets every message);
 *   - it resolves again every `interval` (rpc.resolve_interval, 5 s by default) and soon after a
 *     connection dies (at most one resolution per RESOLVE_MIN_GAP_MS);
 *   - an address that appeared gets a dialer; an address that went away has its dialer retired:
 *     closed when its connection ends (a draining replica closes it after its last reply) or one
 *     interval later, whichever comes first — so calls in flight on a draining replica finish;
 *   - a failed resolution keeps the dialers it has (a DNS hiccup is no outage) and is logged
 *     once per outage; a name with nothing dialed yet (no ready pod, or no DNS yet) is asked
 *     again every RESOLVE_EMPTY_RETRY_MS until it answers.
 * URLs whose host is an address literal ("tcp://127.0.0.1:7103", "tcp://[::1]:1") and other
 * transports (ipc://, inproc://) are dialed once, as given, with no thread.
 *
 * Test and development facility: a hosts file (rpc.hosts_file; hosts(5) format, "address
 * name…" per line, '#' comments) is read at every resolution, before the system resolver; a name
 * it lists resolves to every address it gives, and only to those. Tests rewrite it to add and
 * remove replicas at run time.
 *
 * Lifetime: resolve_dial (after the socket's options are set: dialers take them) → … →
 * resolve_stop (REQUIRED before the socket closes: it stops the thread, which closes dialers
 * of its own when a name changes, and nng 1.5.2 panics when a dialer is closed while its socket
 * closes them — a stress run caught it, session 8) → nng_close(socket) → resolve_free, which
 * aborts when resolve_stop was not called. The pipe callbacks of the socket belong to the set. */
#ifndef CONFETTI_RPC_RESOLVE_H
#define CONFETTI_RPC_RESOLVE_H

#include <stddef.h>
#include <nng/nng.h>

#include "base/status.h"

#define RESOLVE_DEFAULT_INTERVAL_MS 5000
#define RESOLVE_MIN_GAP_MS          200 /* resolutions triggered by lost connections, at most this often */
#define RESOLVE_MAX_ADDRS           64 /* addresses used per name (the first ones in answer order) */
#define RESOLVE_EMPTY_RETRY_MS      1000 /* a name with nothing dialed that did not resolve */

/* Process-wide settings, like log_setup(): svc_start applies rpc.resolve_interval and
 * rpc.hosts_file. interval_ms <= 0 = the default; hosts_file NULL or "" = none. Sets made
 * before the call keep the interval they started with; the hosts file is read anew each time. */
void resolve_setup(int interval_ms, const char *hosts_file);
int resolve_interval_ms(void);

/* The addresses of host, as URL host parts ("10.1.2.3", "[fd00::1]"), deduplicated, in answer
 * order: from the hosts file if it names host, else from getaddrinfo. Returns how many (up to
 * max, 0 when the name does not resolve: *why says why). */
size_t resolve_host(const char *host, char (*out)[48], size_t max, const char **why);

typedef struct resolve_set resolve_set;

/* Dials every URL on sock (in the background: nothing needs to be up). A URL with a host name
 * is resolved now and then kept current by a thread of its own. CF_INVALID_ARGUMENT with err for
 * a URL nng refuses. */
cf_code resolve_dial(nng_socket sock, const char *const *urls, size_t nurls, resolve_set **out,
                     char *err, size_t errlen);

/* Connections open now (any address). Thread-safe, never blocks. */
int resolve_live_pipes(resolve_set *rs);

/* Addresses dialed now (retired ones excluded): for tests and logs. */
size_t resolve_dialing(resolve_set *rs);

/* Stops re-resolving and closes every dialer (their connections with them). Idempotent; NULL
 * is a no-op. */
void resolve_stop(resolve_set *rs);

/* After resolve_stop and nng_close(sock) (pipe callbacks may run until then); aborts when
 * resolve_stop was not called (a use that would race the socket's close). NULL is a no-op. */
void resolve_free(resolve_set *rs);

#endif
