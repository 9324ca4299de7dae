/* th_proc.h — running a program from a test without a shell.
 *
 * A command line built as one string and handed to system()/popen() breaks as soon as a path
 * holds a space or a quote (a checkout in "~/my projects/l'été/…"). Tests run programs through
 * th_run instead: an argv array, posix_spawnp, the output read back through a pipe. */
#ifndef CONFETTI_TESTS_TH_PROC_H
#define CONFETTI_TESTS_TH_PROC_H

#include <stddef.h>
#include <sys/types.h>

/* Runs argv[0] (a path, or a name looked up in PATH) with argv (NULL-ended) and the test's
 * environment plus extra_env ("NAME=value" strings, NULL-ended; may be NULL; an entry replaces
 * the variable of the same name). Its stdout and stderr, merged, go to out (NUL-terminated,
 * truncated to cap - 1 bytes; out may be NULL to discard them). Returns the exit status, or -1
 * when the program could not start or died of a signal. Fails the test on a harness error. */
int th_run(const char *const argv[], const char *const extra_env[], char *out, size_t cap);

/* Starts a service process the way a deployment would, without waiting for it: argv (NULL-ended,
 * argv[0] the binary's path), the test's environment without any CONFETTI_* variable (the test's
 * own settings must not leak into the service) plus CONFETTI_DB_DSN=dsn, stdout and stderr to
 * log (truncated; stdout too, so that a child left behind never holds ctest's pipe open).
 * Returns its pid; fails the test when it cannot start. */
pid_t th_spawn_logged(const char *const argv[], const char *dsn, const char *log);
/* The first call in a child the test forked (before exec): the child is SIGKILLed when the
 * test's thread that forked it ends — a failed or killed test leaves nothing running. A child
 * left behind holds ctest's output pipe open, turning a failure that took seconds into a bare
 * "Timeout" 15 minutes later (the CI failure of 2026-12-07, integration_events_stream). Spawn
 * from the test's main thread (a helper thread that ends takes its children with it). parent is
 * the test's getpid() taken before the fork. Async-signal-safe. */
void th_child_init(pid_t parent);
/* Appends to env, from index *n, a malloc'd "NAME=value" copy of each sanitizer option variable
 * of this process (ASAN_OPTIONS, LSAN_OPTIONS, UBSAN_OPTIONS, TSAN_OPTIONS) that is set (room
 * for 4 more): a child started with an environment of its own must run under the same
 * suppressions and settings as the test (make test-tsan's libnng suppression missing in a
 * bus child failed integration_events_stream, 2026-12-07). */
void th_sanitizer_env(char **env, size_t *n);
/* Starts the bus binary bus_bin (its output on ours, log level warn) publishing on pub_url,
 * serving subscribers on sub_url, its RPC on rpc_url, with the bus's service identity (it
 * forwards only signed events). The caller kills and reaps it. */
pid_t th_bus_spawn(const char *bus_bin, const char *pub_url, const char *sub_url,
                   const char *rpc_url);
/* The same, the process given the key of service identity ident_name (a test publisher whose
 * event source is not its binary's name: confetti-pubsvc publishing as "alpha"). */
pid_t th_spawn_logged_as(const char *const argv[], const char *dsn, const char *log,
                         const char *ident_name);

#endif
