/* test_cpus.c — workers are sized from the container's cgroup CPU limit, not the node's cores
 * (issue 15; docs/operations.md, "Sizing"). Fake cgroup trees in a temporary directory. */
#include "th.h"
#include "th_proc.h"
#include "base/cpus.h"
#include "svc/svc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[256];

static void put(const char *rel, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    /* mkdir -p of the parent */
    for (char *p = path + strlen(root) + 1; (p = strchr(p, '/')) != NULL; p++) {
        *p = '\0';
        assert_true(mkdir(path, 0700) == 0 || errno == EEXIST);
        *p = '/';
    }
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof root, "/tmp/confetti-cgroup-XXXXXX");
    return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    const char *argv[] = {"rm", "-rf", root, NULL};
    char out[256];
    return th_run(argv, NULL, out, sizeof out) == 0 ? 0 : -1;
}

static long online(void)
{
    return sysconf(_SC_NPROCESSORS_ONLN);
}

/* cgroup v2, as a container sees it (cgroup namespace: its own cgroup is the mount). */
static void test_v2_cpu_max_in_a_container(void **state)
{
    (void)state;
    put("cpu.max", "150000 100000\n");
    assert_true(cf_cgroup_cpu_limit(root, "/") > 1.49 && cf_cgroup_cpu_limit(root, "/") < 1.51);
    /* 1.5 CPUs run 2 threads at once; never more than the machine has */
    long want = online() < 2 ? online() : 2;
    assert_int_equal(cf_usable_cpus(root, "/"), want);
    put("cpu.max", "max 100000\n");
    assert_true(cf_cgroup_cpu_limit(root, "/") == 0);
    assert_int_equal(cf_usable_cpus(root, "/"), cf_usable_cpus("/nonexistent", "/"));
    put("cpu.max", "50000 100000\n"); /* half a CPU: still one worker set */
    assert_int_equal(cf_usable_cpus(root, "/"), 1);
}

/* cgroup v2 without a namespace: the process's path, the tightest of it and its ancestors. */
static void test_v2_tightest_ancestor_wins(void **state)
{
    (void)state;
    put("cpu.max", "max 100000\n");
    put("kubepods/cpu.max", "100000 100000\n");
    put("kubepods/pod1/ctr/cpu.max", "max 100000\n");
    assert_true(cf_cgroup_cpu_limit(root, "/kubepods/pod1/ctr") == 1.0);
    put("kubepods/pod1/ctr/cpu.max", "25000 100000\n");
    assert_true(cf_cgroup_cpu_limit(root, "/kubepods/pod1/ctr") == 0.25);
    /* a garbage file is no limit, not a crash */
    put("kubepods/pod1/ctr/cpu.max", "banana\n");
    assert_true(cf_cgroup_cpu_limit(root, "/kubepods/pod1/ctr") == 1.0);
}

/* cgroup v1: cpu.cfs_quota_us over cpu.cfs_period_us; -1 is no limit. */
static void test_v1_cfs_quota(void **state)
{
    (void)state;
    put("cpu,cpuacct/cpu.cfs_quota_us", "300000\n");
    put("cpu,cpuacct/cpu.cfs_period_us", "100000\n");
    assert_true(cf_cgroup_cpu_limit(root, "/") == 3.0);
    put("cpu,cpuacct/cpu.cfs_quota_us", "-1\n");
    assert_true(cf_cgroup_cpu_limit(root, "/") == 0);
    put("cpu/cpu.cfs_quota_us", "100000\n");
    put("cpu/cpu.cfs_period_us", "100000\n");
    assert_int_equal(cf_usable_cpus(root, "/"), 1);
}

/* rpc.workers 0: the service's workers per core times the usable CPUs (draw: 16). */
static void test_default_workers_follow_the_limit(void **state)
{
    (void)state;
    put("cpu.max", "100000 100000\n");
    svc_def draw = {.name = "draw", .workers_per_core = 16};
    svc_def plain = {.name = "catalog"};
    assert_int_equal(svc_default_workers(&draw, root, "/"), 16);
    assert_int_equal(svc_default_workers(&plain, root, "/"), 2);
    put("cpu.max", "max 100000\n");
    assert_int_equal(svc_default_workers(&plain, root, "/"), 2 * cf_usable_cpus(NULL, NULL));
    /* no cgroup at all: the machine's cores (capped by affinity) */
    assert_true(cf_usable_cpus("/nonexistent", "/") >= 1 &&
                cf_usable_cpus("/nonexistent", "/") <= online());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_v2_cpu_max_in_a_container, setup, teardown),
        cmocka_unit_test_setup_teardown(test_v2_tightest_ancestor_wins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_v1_cfs_quota, setup, teardown),
        cmocka_unit_test_setup_teardown(test_default_workers_follow_the_limit, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
