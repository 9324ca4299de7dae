/* th_proc.c — see th_proc.h. */
#include "th_proc.h"
#include "th_ident.h"
#include "service.h"
#include "th.h"

#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static size_t count(const char *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

/* environ with extra's entries replacing or added; the array is the caller's to free (the
 * strings are borrowed). */
static char **merged_env(const char *const extra[])
{
    size_t ne = count((const char *const *)environ), nx = count(extra), n = 0;
    char **env = calloc(ne + nx + 1, sizeof *env);
    if (!env)
        fail_msg("th_run: out of memory");
    for (size_t i = 0; i < ne; i++) {
        const char *eq = strchr(environ[i], '=');
        size_t klen = eq ? (size_t)(eq - environ[i]) + 1 : strlen(environ[i]);
        int replaced = 0;
        for (size_t j = 0; j < nx && !replaced; j++)
            replaced = strncmp(environ[i], extra[j], klen) == 0;
        if (!replaced)
            env[n++] = environ[i];
    }
    for (size_t j = 0; j < nx; j++)
        env[n++] = (char *)extra[j];
    return env;
}

int th_run(const char *const argv[], const char *const extra_env[], char *out, size_t cap)
{
    int fds[2];
    if (pipe(fds) != 0)
        fail_msg("th_run: pipe: %s", strerror(errno));
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
    posix_spawn_file_actions_addclose(&fa, fds[1]);
    char **env = merged_env(extra_env);
    pid_t pid;
    int rv = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, env);
    posix_spawn_file_actions_destroy(&fa);
    free(env);
    close(fds[1]);
    if (rv != 0) {
        close(fds[0]);
        if (out && cap)
            out[0] = '\0';
        return -1;
    }
    char sink[4096];
    size_t len = 0;
    for (;;) {
        char *dst = sink;
        size_t room = sizeof sink;
        if (out && cap && len < cap - 1)
            dst = out + len, room = cap - 1 - len;
        ssize_t n = read(fds[0], dst, room);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (dst != sink)
            len += (size_t)n;
    }
    close(fds[0]);
    if (out && cap)
        out[len] = '\0';
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            fail_msg("th_run: waitpid: %s", strerror(errno));
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void th_sanitizer_env(char **env, size_t *n)
{
    static const char *const names[] = {"ASAN_OPTIONS", "LSAN_OPTIONS", "UBSAN_OPTIONS",
                                        "TSAN_OPTIONS"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        const char *v = getenv(names[i]);
        if (v && asprintf(&env[*n], "%s=%s", names[i], v) >= 0)
            (*n)++;
    }
}

void th_child_init(pid_t parent)
{
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
        _exit(126); /* the parent is already gone: nobody to run for */
}

pid_t th_spawn_logged(const char *const argv[], const char *dsn, const char *log)
{
    return th_spawn_logged_as(argv, dsn, log, NULL);
}

pid_t th_spawn_logged_as(const char *const argv[], const char *dsn, const char *log,
                         const char *ident_name)
{
    size_t ne = count((const char *const *)environ), n = 0;
    char **env = calloc(ne + 5, sizeof *env);
    char *dsn_env = NULL;
    if (!env || asprintf(&dsn_env, "CONFETTI_DB_DSN=%s", dsn) < 0)
        fail_msg("th_spawn_logged: out of memory");
    for (size_t i = 0; i < ne; i++)
        if (strncmp(environ[i], "CONFETTI_", 9) != 0)
            env[n++] = environ[i];
    env[n++] = dsn_env;
    /* the service's own key (its binary is confetti-<name>), as a deployment mounts it */
    const char *base = strrchr(argv[0], '/');
    base = base ? base + 1 : argv[0];
    size_t first_ident = n;
    th_ident_env(ident_name                           ? ident_name
                 : strncmp(base, "confetti-", 9) == 0 ? base + 9
                                                      : base,
                 env, &n);
    /* fork + exec rather than posix_spawn: the child must die with the test (th_child_init);
     * only async-signal-safe calls between the two */
    pid_t parent = getpid();
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        fail_msg("th_spawn_logged: %s: %s", log, strerror(errno));
    pid_t pid = fork();
    if (pid == 0) {
        th_child_init(parent);
        if (dup2(fd, 2) < 0 || dup2(fd, 1) < 0)
            _exit(126);
        execve(argv[0], (char *const *)argv, env);
        _exit(127);
    }
    int err = errno;
    close(fd);
    for (size_t i = first_ident; i < n; i++)
        free(env[i]);
    free(env);
    free(dsn_env);
    if (pid < 0)
        fail_msg("th_spawn_logged: %s: fork: %s", argv[0], strerror(err));
    return pid;
}

pid_t th_bus_spawn(const char *bus_bin, const char *pub_url, const char *sub_url,
                   const char *rpc_url)
{
    char *env[16] = {NULL};
    size_t n = 0;
    if (asprintf(&env[n++], "CONFETTI_BUS_PUBLISHERS=%s", pub_url) < 0 ||
        asprintf(&env[n++], "CONFETTI_BUS_SUBSCRIBERS=%s", sub_url) < 0 ||
        asprintf(&env[n++], "CONFETTI_RPC_LISTEN=%s", rpc_url) < 0 ||
        asprintf(&env[n++], "CONFETTI_ADMIN_LISTEN=http://127.0.0.1:%d", th_free_port()) < 0 ||
        !(env[n++] = strdup("CONFETTI_LOG_LEVEL=warn")))
        fail_msg("th_bus_spawn: out of memory");
    th_ident_env("bus", env, &n); /* the publishers' keys: the bus forwards only signed events */
    th_sanitizer_env(env, &n);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        th_child_init(parent);
        execle(bus_bin, bus_bin, (char *)NULL, env);
        _exit(127);
    }
    for (size_t i = 0; i < n; i++)
        free(env[i]);
    if (pid < 0)
        fail_msg("th_bus_spawn: fork failed");
    return pid;
}
