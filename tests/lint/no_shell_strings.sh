#!/usr/bin/env bash
# no_shell_strings.sh SRC — no C file starts a program through a shell command line
# (system(), popen(), execl of "sh -c"): a path with a space or a quote breaks such a string.
# Programs are started from an argv array (posix_spawn, execv; tests use th_run, th_proc.h).
# Comment lines are not looked at.
set -euo pipefail
cd "$1"
if hits=$(grep -rnE '(^|[^_a-zA-Z0-9])(system|popen)[[:space:]]*\(|"(/bin/)?sh",[[:space:]]*"-c"' \
    --include='*.c' --include='*.h' common services tests tools |
    grep -vE '^[^:]+:[0-9]+:[[:space:]]*(\*|/\*|//)'); then
    echo "a program started from a shell string (use an argv array: th_run, posix_spawn):" >&2
    echo "$hits" >&2
    exit 1
fi
echo "no shell command strings in C sources"
