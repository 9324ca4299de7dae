# shellcheck shell=bash
# tools/bench/procacct.sh — CPU per request of each process of a bench row (issue 17 item 1),
# sourced by tools/bench/gateway.sh. The CPU a process used is read from /proc/<pid>/stat
# (utime + stime of all its threads, plus cutime + cstime of children it reaped) for the process
# and every descendant (PostgreSQL: the postmaster and its backends), before and after the wrk
# run; divided by the requests wrk completed, it is the CPU each request cost that process.
# CPU time is what a request costs wherever it runs, so these figures move far less with a
# loaded machine than req/s do (cache and scheduler effects remain).
#
#   acct_add NAME PID...  process trees accounted together as one column (in the order added)
#   acct_begin            snapshot before a run
#   acct_end REQUESTS     snapshot after; prints "| a | b | … |" (µs per request
#                         for each tree, then their sum, then the CPU of every other process on
#                         the machine during the run (wrk among them), in cores: the disturbance)
#   acct_header           the table's header cells for the trees added
ACCT_HZ=$(getconf CLK_TCK)
ACCT_NAMES=()
ACCT_PIDS=()
ACCT_BEFORE=()
ACCT_ALL_BEFORE=0
ACCT_T0=0

acct_add() {
    ACCT_NAMES+=("$1")
    shift
    ACCT_PIDS+=("$*")
}

acct_tree_pids() {
    echo "$1"
    local c kids=()
    read -ra kids < <(cat /proc/"$1"/task/*/children 2>/dev/null || true) || true
    for c in "${kids[@]}"; do acct_tree_pids "$c"; done
}

# user + system ticks of process trees ("PID PID…"), reaped children included
acct_tree_ticks() {
    local pids=() p
    for p in $1; do mapfile -t -O "${#pids[@]}" pids < <(acct_tree_pids "$p"); done
    { (cd /proc && cat "${pids[@]/%//stat}" 2>/dev/null) || true; } |
        awk '{s=$0; sub(/^.*\) /, "", s); split(s, f, " "); t += f[12] + f[13] + f[14] + f[15]} END {printf "%d\n", t}'
}

# busy ticks of the whole machine (all CPUs: user, nice, system, irq, softirq, steal)
acct_all_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }

acct_begin() {
    ACCT_BEFORE=()
    local p
    for p in "${ACCT_PIDS[@]}"; do ACCT_BEFORE+=("$(acct_tree_ticks "$p")"); done
    ACCT_ALL_BEFORE=$(acct_all_ticks)
    ACCT_T0=$(date +%s.%N)
}

acct_end() { # requests
    local n=$1 i d sum=0 ours=0 cells="" all secs
    all=$(acct_all_ticks)
    secs=$(awk -v a="$ACCT_T0" -v b="$(date +%s.%N)" 'BEGIN {print b - a}')
    for i in "${!ACCT_PIDS[@]}"; do
        d=$(($(acct_tree_ticks "${ACCT_PIDS[$i]}") - ACCT_BEFORE[i]))
        ours=$((ours + d))
        cells+=$(awk -v d="$d" -v n="$n" -v hz="$ACCT_HZ" 'BEGIN {printf " %.0f |", (n > 0 ? d * 1e6 / hz / n : 0)}')
    done
    sum=$(awk -v d="$ours" -v n="$n" -v hz="$ACCT_HZ" 'BEGIN {printf "%.0f", (n > 0 ? d * 1e6 / hz / n : 0)}')
    # other processes: every tick on the machine that is not one of our trees (wrk included)
    local other
    other=$(awk -v a="$((all - ACCT_ALL_BEFORE - ours))" -v s="$secs" -v hz="$ACCT_HZ" \
        'BEGIN {printf "%.2f", (a > 0 && s > 0 ? a / hz / s : 0)}')
    printf '|%s %s | %s |\n' "$cells" "$sum" "$other"
}

acct_header() {
    local h="" s="" name
    for name in "${ACCT_NAMES[@]}"; do
        h+=" $name µs |"
        s+="---:|"
    done
    printf '|%s ours µs | other procs (cores) |\n' "$h"
    printf '|%s---:|---:|\n' "$s"
}
