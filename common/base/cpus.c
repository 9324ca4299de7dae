/* cpus.c — the CPUs a process may use, from its cgroup (see cpus.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "cpus.h"

#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The first line of a small file, or false. */
static bool read_line(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    bool ok = fgets(buf, (int)len, f) != NULL;
    fclose(f);
    return ok;
}

/* cgroup v2 cpu.max: "QUOTA PERIOD" or "max PERIOD". -1 = unreadable, 0 = no limit. */
static double v2_limit(const char *dir)
{
    char path[4200], line[128];
    snprintf(path, sizeof path, "%s/cpu.max", dir);
    if (!read_line(path, line, sizeof line))
        return -1;
    char quota[64];
    long long period = 0;
    if (sscanf(line, "%63s %lld", quota, &period) != 2 || period <= 0)
        return -1;
    if (strcmp(quota, "max") == 0)
        return 0;
    char *end;
    long long q = strtoll(quota, &end, 10);
    if (*end || q <= 0)
        return -1;
    return (double)q / (double)period;
}

/* cgroup v1: cpu.cfs_quota_us (-1 = no limit) over cpu.cfs_period_us. */
static double v1_limit(const char *dir)
{
    char path[4200], line[64];
    snprintf(path, sizeof path, "%s/cpu.cfs_quota_us", dir);
    if (!read_line(path, line, sizeof line))
        return -1;
    long long q = strtoll(line, NULL, 10);
    if (q <= 0)
        return 0;
    snprintf(path, sizeof path, "%s/cpu.cfs_period_us", dir);
    if (!read_line(path, line, sizeof line))
        return -1;
    long long p = strtoll(line, NULL, 10);
    return p > 0 ? (double)q / (double)p : -1;
}

/* Keeps the smallest positive limit in *best. */
static void take(double *best, double l)
{
    if (l > 0 && (*best == 0 || l < *best))
        *best = l;
}

double cf_cgroup_cpu_limit(const char *root, const char *cgpath)
{
    if (!root)
        return 0;
    if (!cgpath || !*cgpath)
        cgpath = "/";
    double best = 0;
    bool any_v2 = false;
    char dir[4096];
    /* v2: the process's cgroup and each ancestor up to the mount (a container sees "/") */
    snprintf(dir, sizeof dir, "%s%s", root, strcmp(cgpath, "/") == 0 ? "" : cgpath);
    size_t rootlen = strlen(root);
    for (;;) {
        double l = v2_limit(dir);
        if (l >= 0)
            any_v2 = true;
        take(&best, l);
        char *slash = strrchr(dir, '/');
        if (!slash || (size_t)(slash - dir) < rootlen)
            break;
        *slash = '\0';
    }
    if (any_v2)
        return best;
    /* v1: the cpu controller's mount, at the process's path or at the mount itself */
    static const char *const ctl[] = {"cpu", "cpu,cpuacct", "cpuacct,cpu"};
    for (size_t i = 0; i < sizeof ctl / sizeof ctl[0]; i++) {
        snprintf(dir, sizeof dir, "%s/%s%s", root, ctl[i], strcmp(cgpath, "/") == 0 ? "" : cgpath);
        take(&best, v1_limit(dir));
        snprintf(dir, sizeof dir, "%s/%s", root, ctl[i]);
        take(&best, v1_limit(dir));
        if (best > 0)
            break;
    }
    return best;
}

/* The v2 path of this process ("0::/kubepods/..."), or "/" */
static void self_cgroup(char *buf, size_t len)
{
    snprintf(buf, len, "/");
    FILE *f = fopen("/proc/self/cgroup", "r");
    if (!f)
        return;
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "0::", 3) == 0) {
            line[strcspn(line, "\n")] = '\0';
            snprintf(buf, len, "%s", line + 3);
            break;
        }
    }
    fclose(f);
}

int cf_usable_cpus(const char *root, const char *cgpath)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        n = 1;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0 && CPU_COUNT(&set) < n)
        n = CPU_COUNT(&set);
    char self[4096];
    if (!root) {
        root = "/sys/fs/cgroup";
        self_cgroup(self, sizeof self);
        cgpath = self;
    }
    double limit = cf_cgroup_cpu_limit(root, cgpath);
    if (limit > 0) {
        long l = (long)limit; /* rounded up: 1.5 CPUs run 2 threads at once */
        if ((double)l < limit - 1e-9)
            l++;
        if (l < 1)
            l = 1;
        if (l < n)
            n = l;
    }
    return (int)n;
}
