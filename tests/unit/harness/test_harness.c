/* test_harness.c — the harness's promises about failing tests: a child a test started dies
 * with it (so ctest's output pipe closes and a failure is reported as one, not as a Timeout
 * 15 minutes later), and a phase that outlives its bound fails the test naming the phase
 * (th_proc.h, th_phase.h). */
#include "th.h"
#include "th_phase.h"
#include "th_proc.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Reads fd until EOF; returns the bytes read (into buf, NUL-terminated), or -1 when no EOF
 * came within seconds. */
static ssize_t read_to_eof(int fd, char *buf, size_t cap, int seconds)
{
    size_t n = 0;
    for (int waited_ms = 0; waited_ms < seconds * 1000;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int rv = poll(&p, 1, 100);
        if (rv == 0) {
            waited_ms += 100;
            continue;
        }
        if (rv < 0 && errno == EINTR)
            continue;
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r == 0) {
            buf[n] = '\0';
            return (ssize_t)n;
        }
        if (r > 0 && n + (size_t)r < cap - 1)
            n += (size_t)r;
    }
    return -1;
}

/* A "test" process starts a long-running child that shares its output pipe (as ctest's is
 * shared), then fails and exits: the pipe must reach EOF soon, the child gone with it. */
static void test_child_dies_with_failed_test(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(0, pipe(fds));
    pid_t test = fork();
    assert_true(test >= 0);
    if (test == 0) {
        pid_t me = getpid();
        pid_t child = fork();
        if (child == 0) {
            th_child_init(me);
            dup2(fds[1], 1);
            close(fds[0]);
            close(fds[1]);
            execlp("sleep", "sleep", "300", (char *)NULL);
            _exit(127);
        }
        _exit(1); /* the failed test: its child is not stopped */
    }
    close(fds[1]);
    int status;
    assert_int_equal(test, waitpid(test, &status, 0));
    char buf[64];
    ssize_t n = read_to_eof(fds[0], buf, sizeof buf, 30);
    close(fds[0]);
    if (n < 0)
        fail_msg("the failed test's child still holds the output pipe after 30 s");
}

/* A phase still running past its bound ends the test with its name, not at ctest's timeout. */
static void test_phase_bound_fails_with_its_name(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(0, pipe(fds));
    pid_t test = fork();
    assert_true(test >= 0);
    if (test == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        close(fds[1]);
        th_phase("waiting for something that never comes", 1);
        sleep(120);
        _exit(0);
    }
    close(fds[1]);
    char buf[2048];
    ssize_t n = read_to_eof(fds[0], buf, sizeof buf, 60);
    close(fds[0]);
    int status;
    if (n < 0) {
        kill(test, SIGKILL);
        waitpid(test, &status, 0);
        fail_msg("the phase's bound did not end the test within 60 s");
    }
    assert_int_equal(test, waitpid(test, &status, 0));
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) != 0);
    assert_non_null(strstr(buf, "\"waiting for something that never comes\" still running"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_child_dies_with_failed_test),
        cmocka_unit_test(test_phase_bound_fails_with_its_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
