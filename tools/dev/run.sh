#!/usr/bin/env bash
# tools/dev/run.sh foreground|background|stop — the whole platform on this machine (make run,
# make up, make down): a private PostgreSQL cluster under var/pg, migrations, every service
# that has been built, in dependency order. Logs in var/log/, pids in var/run/.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD:-$root/build}
var=$root/var
pgdir=$var/pg
pgport=${CONFETTI_PG_PORT:-55432}
# Start order: a service is started after those it calls. Not yet built → skipped.
SERVICES=(bus catalog auth rooms draw gateway)

mkdir -p "$var/log" "$var/run"

running_services() {
    for f in "$var"/run/*.pid; do
        [ -e "$f" ] || continue
        basename "$f" .pid
    done
}

stop_all() {
    local pids=() s
    for s in $(running_services); do
        local pid
        pid=$(cat "$var/run/$s.pid")
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" && pids+=("$pid")
        fi
    done
    for pid in "${pids[@]}"; do
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    done
    rm -f "$var"/run/*.pid
    "$root/tools/dev/pgctl.sh" stop "$pgdir" >/dev/null 2>&1 || true
    echo "confetti: stopped"
}

start_all() {
    if [ -n "$(running_services)" ]; then
        echo "confetti: already running (make down first)" >&2
        exit 1
    fi
    "$root/tools/dev/pgctl.sh" start "$pgdir" "$pgport" >/dev/null
    local admin_dsn dsn
    admin_dsn=$(cat "$pgdir/env")
    if ! psql "$admin_dsn" -tAc "SELECT 1 FROM pg_database WHERE datname = 'confetti'" | grep -q 1; then
        psql "$admin_dsn" -qc "CREATE DATABASE confetti" >/dev/null
    fi
    dsn=${admin_dsn/dbname=postgres/dbname=confetti}
    export CONFETTI_DB_DSN="$dsn"
    # Development keys: tokens from `confetti-devtoken mint var/dev USER` verify everywhere.
    "$build/tools/confetti-devtoken" init "$var/dev"
    export CONFETTI_AUTH_JWKS_FILE="${CONFETTI_AUTH_JWKS_FILE:-$var/dev/jwks.json}"

    echo "confetti: PostgreSQL   $dsn"

    # The local OpenID provider (a real one: npm oidc-provider) with the test user alice, so a
    # person can log in from a browser without Google; confetti-auth's provider_dev points at it.
    if [ -x "$build/services/auth/confetti-auth" ] && command -v node >/dev/null; then
        "$root/tests/oidc/setup.sh" "$root/tests/oidc" "$var/oidc" >>"$var/log/oidc.log" 2>&1
        (cd "$var/oidc" && exec node server.mjs 7190 \
            http://127.0.0.1:8080/v1/auth/dev/callback,http://127.0.0.1:8080/,http://localhost:8080/ \
            >>"$var/log/oidc.log" 2>&1) &
        echo $! >"$var/run/oidc.pid"
        echo "confetti: OpenID provider http://127.0.0.1:7190 (user alice)"
    fi
    local s bin cfg
    for s in "${SERVICES[@]}"; do
        bin=$build/services/$s/confetti-$s
        cfg=$root/deploy/config/$s.yaml
        [ -x "$bin" ] || continue
        "$bin" --config "$cfg" --migrate-only >>"$var/log/$s.log" 2>&1 ||
            { echo "confetti: $s migrations failed, see var/log/$s.log" >&2; stop_all; exit 1; }
        "$bin" --config "$cfg" >>"$var/log/$s.log" 2>&1 &
        echo $! >"$var/run/$s.pid"
        echo "confetti: $s  rpc $(grep -m1 -A1 '^rpc:' "$cfg" | grep -o '[a-z]*://[^] "]*' | head -1)" \
             " admin $(grep -m1 -A1 '^admin:' "$cfg" | grep -o 'http://[^ "]*' | head -1)"
    done
    sleep 0.5
    for s in $(running_services); do
        if ! kill -0 "$(cat "$var/run/$s.pid")" 2>/dev/null; then
            echo "confetti: $s exited at start; last log lines:" >&2
            tail -5 "$var/log/$s.log" >&2
            stop_all
            exit 1
        fi
    done
    [ -n "$(running_services)" ] || echo "confetti: no service is built yet; only PostgreSQL runs"
    echo "confetti: logs in var/log/; a dev token: $build/tools/confetti-devtoken mint var/dev <user> [--admin]"
    if [ -f "$var/run/gateway.pid" ]; then
        echo "confetti: open http://127.0.0.1:8080/ in a browser (the page: sign in as alice, rooms, live feed)"
        echo "confetti: WebSocket feed ws://127.0.0.1:8080/v1/ws (docs/gateway.md#websocket-feed)"
        echo "confetti: try the HTTP API:"
        echo "  curl -s -H \"Authorization: Bearer \$($build/tools/confetti-devtoken mint $var/dev alice)\" 'http://127.0.0.1:8080/v1/rooms?pageSize=5'"
    fi
}

case "${1:-}" in
foreground)
    start_all
    trap 'echo; stop_all; exit 0' INT TERM
    echo "confetti: running; Ctrl-C stops everything"
    while true; do sleep 1; done
    ;;
background)
    start_all
    echo "confetti: running in the background; make down stops it"
    ;;
stop)
    stop_all
    ;;
*)
    echo "usage: run.sh foreground|background|stop" >&2
    exit 2
    ;;
esac
