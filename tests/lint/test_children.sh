#!/usr/bin/env bash
# test_children.sh SRC — every process a test starts and leaves running dies with the test: a
# file under tests/ that calls fork() also calls th_child_init (tests/harness/th_proc.h), and
# posix_spawn (whose child cannot be told to) is used only by th_run, which waits for its child.
# A child left behind by a failed test holds ctest's output pipe open: the failure shows as a
# bare Timeout 15 minutes later (CI, 2026-12-07). A child started with an environment of its own
# gets the sanitizer options (th_sanitizer_env). Comment lines are not looked at.
set -euo pipefail
cd "$1"
# files whose code (not comment) lines match $1
files_with() {
    grep -rnE "$1" --include='*.c' --exclude-dir=node_modules tests |
        grep -vE '^[^:]+:[0-9]+:[[:space:]]*(\*|/\*|//)' | cut -d: -f1 | sort -u || true
}
bad=0
forks=$(files_with '(^|[^_a-zA-Z0-9])fork[[:space:]]*\(')
inits=$(files_with 'th_child_init[[:space:]]*\(')
for f in $(comm -23 <(echo "$forks") <(echo "$inits")); do
    echo "$f: fork() without th_child_init (the child would outlive a failed test)" >&2
    bad=1
done
for f in $(files_with 'posix_spawnp?[[:space:]]*\(' | grep -vx tests/harness/th_proc.c || true); do
    echo "$f: posix_spawn in a test (use th_run, or fork + th_child_init)" >&2
    bad=1
done
# a child given an environment of its own (execle, execve) keeps the sanitizer options
envs=$(files_with '(^|[^_a-zA-Z0-9])exec(le|ve)[[:space:]]*\(')
sans=$(files_with 'th_sanitizer_env[[:space:]]*\(')
for f in $(comm -23 <(echo "$envs") <(echo "$sans")); do
    echo "$f: execle/execve without th_sanitizer_env (the child would lose the suppressions)" >&2
    bad=1
done
[ "$bad" = 0 ] || exit 1
echo "every child a test starts dies with it"
