# lib.sh — shared by the tests of tools/dev/run.sh (make run / make up): a platform of this
# build under a state directory of the test's own, on ports moved by an offset, so that it runs
# beside the developer's own `make up` and beside the rest of the suite.
# shellcheck shell=bash

# dev_up VAR_DIR: starts the platform in the background; retries with another offset when a port
# is taken (refused by run.sh's check, or a bind that lost a race after it). Sets DEV_OFF (the offset in use). Output in VAR_DIR.up.log.
dev_up() {
    local v=$1 try
    for try in 1 2 3 4 5; do
        DEV_OFF=$((100 + (RANDOM % 60) * 100))
        if CONFETTI_VAR=$v CONFETTI_PORT_OFFSET=$DEV_OFF BUILD=$BUILD_DIR \
            "$SRC_DIR/tools/dev/run.sh" background >"$v.up.log" 2>&1; then
            return 0
        fi
        cat "$v.up.log" >&2
        # taken at the check, or between the check and the bind (another test's PostgreSQL or
        # service took a free port of this offset meanwhile: CI saw PostgreSQL's bind fail)
        grep -qiE "already in use|address in use" "$v.up.log" || return 1
        dev_down "$v"
        echo "(try $try: a port was taken, another offset)" >&2
    done
    return 1
}

# dev_down VAR_DIR: stops it (and checks nothing of it is left).
dev_down() {
    CONFETTI_VAR=$1 BUILD=$BUILD_DIR "$SRC_DIR/tools/dev/run.sh" stop >/dev/null 2>&1 || true
}

# Prints the pids of processes whose command line or working directory mentions DIR (what a
# platform left running: services, PostgreSQL, the OpenID provider).
procs_under() {
    local dir=$1 p cwd
    for p in /proc/[0-9]*; do
        [ -r "$p/cmdline" ] || continue
        cwd=$(readlink "$p/cwd" 2>/dev/null || true)
        if [[ $cwd == "$dir"* ]] || tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -qF -- "$dir"; then
            echo "${p#/proc/}"
        fi
    done
}
