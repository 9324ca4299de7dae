#!/usr/bin/env bash
# port_taken.sh SRC BUILD — `make up` with the gateway's port already taken: one line naming the
# port, the process that wanted it and the variable that moves it; a non-zero exit; nothing left
# running (no service, no PostgreSQL, no OpenID provider) and no pid file.
set -euo pipefail
SRC_DIR=$1 BUILD_DIR=$2
# shellcheck source=tests/dev/lib.sh
. "$SRC_DIR/tests/dev/lib.sh"
var=$BUILD_DIR/dev-port-taken
rm -rf -- "$var" && mkdir -p -- "$var"
holder=
cleanup() {
    [ -z "$holder" ] || kill "$holder" 2>/dev/null || true
    dev_down "$var"
}
trap cleanup EXIT

# Another platform of the suite (dev_readme_commands, or a developer's own `make up`) may hold a
# port of the offset drawn here: then run.sh names that port rather than ours. That refusal is
# right, but proves nothing about the gateway's port, so another offset is drawn (up to 8 times).
take_port() {
    local _
    for _ in 1 2 3 4 5; do
        off=$((100 + (RANDOM % 60) * 100))
        port=$((8080 + off))
        # something else on the gateway's port: a plain listening socket
        node -e "require('net').createServer().listen($port, '127.0.0.1', () => console.log('ready'))" \
            >"$var/holder.out" 2>&1 &
        holder=$!
        for _ in $(seq 50); do grep -q ready "$var/holder.out" && break; sleep 0.1; done
        grep -q ready "$var/holder.out" && return 0
        kill "$holder" 2>/dev/null || true
        holder=
    done
    echo "could not hold a port" >&2
    exit 1
}

for attempt in 1 2 3 4 5 6 7 8; do
    take_port
    rc=0
    CONFETTI_VAR=$var CONFETTI_PORT_OFFSET=$off BUILD=$BUILD_DIR "$SRC_DIR/tools/dev/run.sh" background \
        >"$var/out" 2>"$var/err" || rc=$?
    if [ "$rc" -ne 0 ] && grep -q "is already in use" "$var/err" && ! grep -q "port $port " "$var/err"; then
        echo "(attempt $attempt: another port of offset $off was taken: $(cat "$var/err"))" >&2
        kill "$holder" 2>/dev/null || true
        wait "$holder" 2>/dev/null || true
        holder=
        continue
    fi
    break
done
fail() {
    echo "FAIL: $*" >&2
    echo "--- stdout:" >&2; cat "$var/out" >&2
    echo "--- stderr:" >&2; cat "$var/err" >&2
    exit 1
}
[ "$rc" -ne 0 ] || fail "make up succeeded with port $port taken"
[ ! -s "$var/out" ] || fail "something started before the check (stdout not empty)"
[ "$(wc -l <"$var/err")" -eq 1 ] || fail "expected one line on stderr"
grep -q "port $port " "$var/err" || fail "the line does not name port $port"
grep -q "confetti-gateway" "$var/err" || fail "the line does not name the gateway"
grep -q "CONFETTI_PORT_OFFSET" "$var/err" || fail "the line does not name CONFETTI_PORT_OFFSET"
left=$(procs_under "$var")
[ -z "$left" ] || fail "processes left running: $left"
if compgen -G "$var/run/*.pid" >/dev/null; then fail "pid files left in $var/run"; fi
if "$SRC_DIR/tools/dev/pgctl.sh" status "$var/pg" >/dev/null 2>&1; then fail "PostgreSQL left running"; fi
echo "ok: $(cat "$var/err")"
