/* cpus.h — how many CPUs this process may really use: the cgroup CPU limit of its container
 * (cgroup v2 cpu.max, v1 cpu.cfs_quota_us / cpu.cfs_period_us), not the node's cores. A pod
 * with `limits.cpu: 2` on a 64-core node gets 2, so per-core sizing (rpc.workers, and through
 * it the PostgreSQL connections) follows the manifest (docs/operations.md, "Sizing"). */
#ifndef CONFETTI_BASE_CPUS_H
#define CONFETTI_BASE_CPUS_H

/* The CPU limit, in CPUs, of the cgroup whose v2 path (from /proc/self/cgroup, "0::PATH") is
 * cgroup_path under the cgroup v2 mount cgroup_root, taking the smallest limit of it and every
 * ancestor; or, when no cpu.max exists there, the v1 quota under cgroup_root/cpu (or
 * cgroup_root/cpu,cpuacct) at cgroup_path or, as in a container, at the mount itself.
 * Returns 0 when no limit is set ("max", quota -1) or nothing is readable. */
double cf_cgroup_cpu_limit(const char *cgroup_root, const char *cgroup_path);

/* CPUs usable: online CPUs, capped by the CPU affinity mask and by the cgroup limit of this
 * process (rounded up: 1.5 CPUs count as 2), at least 1. cgroup_root NULL = /sys/fs/cgroup
 * with the path from /proc/self/cgroup. */
int cf_usable_cpus(const char *cgroup_root, const char *cgroup_path);

#endif
