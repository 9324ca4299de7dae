/* bench_nng_procs.c — raw nng req/rep between two processes (as a client service and a server
 * service run in production), by CPU placement: left to the scheduler, each process pinned to
 * its own core, both pinned to the same core. It explains where the RPC layer's one-at-a-time
 * latency comes from (docs/decisions.md, "RPC speed"): nng's hand-offs between its I/O and task
 * threads, each a wake-up that costs little on one core and tens of µs across cores on this VM.
 * Usage: bench_nng_procs [seconds-per-cell]   (default 2) */
#include "bench.h"
#include "base/clock.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_SAMPLES 2000000
#define MSG_LEN     203 /* the size of bench_rpc's Echo request */

/* The child: a rep socket echoing every request, until killed. Pinned before nng starts its
 * threads, so they inherit the placement. */
static void serve(const char *url, int cpu)
{
    th_pin_cpu(cpu);
    nng_socket s;
    if (nng_rep0_open(&s) != 0 || nng_listen(s, url, NULL, 0) != 0)
        _exit(1);
    for (;;) {
        nng_msg *m;
        if (nng_recvmsg(s, &m, 0) != 0)
            break;
        if (nng_sendmsg(s, m, 0) != 0)
            nng_msg_free(m);
    }
    _exit(0);
}

typedef struct cell {
    double rate, p50_us, p99_us;
    int errors;
} cell;

/* Forks the server, then measures from a client process forked too (so that every cell starts
 * from a process whose nng threads are placed as the cell says); the result comes back on a
 * pipe. */
static cell measure(const char *url, int server_cpu, int client_cpu, double seconds)
{
    cell c = {.errors = 1};
    pid_t server = fork();
    if (server == 0)
        serve(url, server_cpu);
    int fds[2];
    if (server < 0 || pipe(fds) != 0)
        return c;
    pid_t client = fork();
    if (client == 0) {
        close(fds[0]);
        th_pin_cpu(client_cpu);
        cell r = {0};
        nng_socket s;
        if (nng_req0_open(&s) != 0 || nng_dial(s, url, NULL, NNG_FLAG_NONBLOCK) != 0)
            _exit(1);
        nng_setopt_ms(s, NNG_OPT_RECVTIMEO, 5000);
        char buf[MSG_LEN];
        memset(buf, 'x', sizeof buf);
        int64_t *samples = malloc(MAX_SAMPLES * sizeof *samples);
        size_t n = 0;
        /* the first call waits for the connection; not counted */
        void *q;
        size_t sz;
        if (nng_send(s, buf, sizeof buf, 0) == 0 && nng_recv(s, &q, &sz, NNG_FLAG_ALLOC) == 0)
            nng_free(q, sz);
        int64_t start = cf_mono_ns(), until = start + (int64_t)(seconds * 1e9);
        while (n < MAX_SAMPLES && cf_mono_ns() < until) {
            int64_t t0 = cf_mono_ns();
            if (nng_send(s, buf, sizeof buf, 0) != 0 || nng_recv(s, &q, &sz, NNG_FLAG_ALLOC) != 0) {
                r.errors++;
                continue;
            }
            nng_free(q, sz);
            samples[n++] = cf_mono_ns() - t0;
        }
        double elapsed = (double)(cf_mono_ns() - start) / 1e9;
        th_percentiles(samples, n, &r.p50_us, &r.p99_us);
        r.rate = (double)n / elapsed;
        ssize_t w = write(fds[1], &r, sizeof r);
        _exit(w == (ssize_t)sizeof r ? 0 : 1);
    }
    close(fds[1]);
    if (client > 0 && read(fds[0], &c, sizeof c) != (ssize_t)sizeof c)
        c.errors = 1;
    close(fds[0]);
    if (client > 0)
        waitpid(client, NULL, 0);
    kill(server, SIGKILL);
    waitpid(server, NULL, 0);
    return c;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 2.0;
    int ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
    printf("## Raw nng req/rep between two processes, by CPU placement (1 call in flight, "
           "%d-byte message, tcp loopback)\n\n",
           MSG_LEN);
    printf("| placement | calls/s | p50 µs | p99 µs |\n|---|---:|---:|---:|\n");
    struct {
        const char *name;
        int server, client;
    } cells[] = {
        {"left to the scheduler", -1, -1},
        {"each on its own core", 1, 0},
        {"both on one core", 0, 0},
    };
    int port = 30000 + (int)(getpid() % 20000), errors = 0;
    for (size_t i = 0; i < sizeof cells / sizeof cells[0]; i++) {
        if (cells[i].server >= ncpu)
            continue;
        char url[64];
        snprintf(url, sizeof url, "tcp://127.0.0.1:%d", port++);
        cell c = measure(url, cells[i].server, cells[i].client, seconds);
        errors += c.errors;
        printf("| %s | %.0f | %.1f | %.1f |\n", cells[i].name, c.rate, c.p50_us, c.p99_us);
        fflush(stdout);
    }
    printf("\nC++ gRPC 1.51 (../shared/peers/README.md, separate processes): 9,403 calls/s, "
           "p50 99 µs; twice that is 18,806 calls/s.\n");
    if (errors)
        printf("\n%d calls failed\n", errors);
    return errors ? 1 : 0;
}
