#!/usr/bin/env bash
# tools/dev/run.sh foreground|background|stop — the whole platform on this machine (make run,
# make up, make down): a private PostgreSQL cluster under var/pg, migrations, every service
# that has been built, in dependency order. Logs in var/log/, pids in var/run/, the config each
# process runs with in var/config/.
#
# Settings (environment, or make variables: `make run CONFETTI_PORT_OFFSET=1000`):
#   CONFETTI_PORT_OFFSET  added to every port of the local platform (default 0: the gateway on
#                         8080, RPC 7100-7111, admin 9100-9105, OpenID 7190, PostgreSQL 55432)
#   CONFETTI_VAR          the state directory (default var/ in the checkout)
#   BUILD                 the build directory (default build/ in the checkout)
#   CONFETTI_DEMO         0 = do not load the demo world into an empty platform (default 1)
#
# Every address the platform will listen on is checked before anything starts: a taken port is
# one line naming it, the process that wanted it and CONFETTI_PORT_OFFSET, and nothing runs.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD:-$root/build}
case $build in /*) ;; *) build=$root/$build ;; esac
var=${CONFETTI_VAR:-$root/var}
off=${CONFETTI_PORT_OFFSET:-0}
# Start order: a service is started after those it calls. Not yet built → skipped.
SERVICES=(bus catalog auth rooms draw gateway)

if ! [[ $off =~ ^[0-9]{1,4}$ ]] || [ "$off" -gt 9000 ]; then
    echo "confetti: CONFETTI_PORT_OFFSET must be a number from 0 to 9000 (got '$off')" >&2
    exit 2
fi
pgdir=$var/pg
pgport=${CONFETTI_PG_PORT:-$((55432 + off))}
oidc_port=$((7190 + off))
http_port=$((8080 + off))

# A value quoted for pasting into a POSIX shell, whatever it holds (spaces, quotes, é).
shq() {
    local v=${1//\'/\'\\\'\'}
    printf "'%s'" "$v"
}

running_services() {
    local f
    for f in "$var"/run/*.pid; do
        [ -e "$f" ] || continue
        basename "$f" .pid
    done
}

stop_all() {
    local pids=() s pid
    for s in $(running_services); do
        pid=$(cat "$var/run/$s.pid")
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" && pids+=("$pid")
        fi
    done
    for pid in "${pids[@]}"; do
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
    rm -f "$var"/run/*.pid
    "$root/tools/dev/pgctl.sh" stop "$pgdir" >/dev/null 2>&1 || true
    echo "confetti: stopped"
}

# var/config/SVC.yaml: deploy/config/SVC.yaml with every loopback port moved by the offset and
# every var/ path (the development keys) made absolute, quoted for YAML's double-quoted strings.
write_configs() {
    mkdir -p "$var/config"
    local s esc
    esc=${var//\\/\\\\}
    esc=${esc//\"/\\\"}
    for s in "${SERVICES[@]}"; do
        OFF=$off VARDIR=$esc perl -pe '
            next if /^\s*#/;
            s/\b(127\.0\.0\.1|localhost):(\d{4,5})\b/"$1:" . ($2 + $ENV{OFF})/ge;
            s/^(\s*[\w]+:\s*)var\/(\S*)\s*$/$1"$ENV{VARDIR}\/$2"\n/;
            s/(?<=["=])var\//$ENV{VARDIR}\//g;
        ' "$root/deploy/config/$s.yaml" >"$var/config/$s.yaml.tmp"
        mv -f "$var/config/$s.yaml.tmp" "$var/config/$s.yaml"
    done
}

# True if something accepts connections on 127.0.0.1:$1.
port_busy() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Every address this platform listens on, "PORT PROCESS WHAT", one a line.
listen_ports() {
    local s line key
    for s in "${SERVICES[@]}"; do
        [ -x "$build/services/$s/confetti-$s" ] || continue
        while IFS= read -r line; do
            # "section:" lines set the context for "  listen:" lines below them
            if [[ $line =~ ^([a-z_]+): ]]; then
                key=${BASH_REMATCH[1]}
                continue
            fi
            if [[ $line =~ ^[[:space:]]+(listen|publishers|subscribers):.*:([0-9]{2,5}) ]]; then
                echo "${BASH_REMATCH[2]} confetti-$s $key.${BASH_REMATCH[1]}"
            fi
        done <"$var/config/$s.yaml"
    done
    if [ -x "$build/services/auth/confetti-auth" ] && command -v node >/dev/null; then
        echo "$oidc_port openid-provider listen"
    fi
    if ! "$root/tools/dev/pgctl.sh" status "$pgdir" >/dev/null 2>&1; then
        echo "$pgport postgresql listen"
    fi
}

# Refuses to start when any address is taken: one line, before anything runs.
check_ports() {
    local port proc what
    while read -r port proc what; do
        if port_busy "$port"; then
            echo "confetti: port $port ($proc $what) is already in use on 127.0.0.1;" \
                "stop what holds it or move every port with CONFETTI_PORT_OFFSET" \
                "(make run CONFETTI_PORT_OFFSET=1000 puts the gateway on $((8080 + 1000)))" >&2
            exit 1
        fi
    done < <(listen_ports)
}

# Service identity (docs/operations.md, "Service identity"): an Ed25519 key pair per process,
# made once under the state directory (never in the checkout's history), and var/ident/trust
# holding every public key, which each process trusts. An "operator" key lets `confetti call`
# reach the internal methods (CONFETTI_IDENT_KEY_FILE=var/ident/operator.key
# CONFETTI_IDENT_NAME=operator).
make_ident_keys() {
    local s
    mkdir -p "$var/ident/trust"
    chmod 700 "$var/ident"
    for s in "${SERVICES[@]}" operator; do
        if [ ! -s "$var/ident/$s.key" ] || [ ! -s "$var/ident/trust/$s.pub" ]; then
            (umask 077 && openssl genpkey -algorithm ed25519 -out "$var/ident/$s.key" 2>/dev/null)
            openssl pkey -in "$var/ident/$s.key" -pubout -out "$var/ident/trust/$s.pub"
        fi
    done
}

# The rpc URL a service listens on (its var/config file's rpc.listen).
rpc_url() {
    grep -m1 -A1 '^rpc:' "$var/config/$1.yaml" | grep -o '[a-z]*://[^] "]*' | head -1
}
# The demo world (issue 18 item 8; docs/operations.md, "Demo world"): on an empty platform,
# people, an app, rooms in every status, prizes and past draws, through the services' RPCs as
# those people (development tokens), signed as the operator. Idempotent: a later run adds
# nothing; a platform with rooms of its own is left alone. CONFETTI_DEMO=0 skips it.
load_demo() {
    local s
    [ "${CONFETTI_DEMO:-1}" != 0 ] || return 0
    [ -x "$build/tools/seed/confetti-demo" ] || return 0
    for s in catalog rooms draw; do
        [ -f "$var/run/$s.pid" ] || return 0
    done
    if CONFETTI_IDENT_KEY_FILE="$var/ident/operator.key" CONFETTI_IDENT_NAME=operator \
        "$build/tools/seed/confetti-demo" --dev "$var/dev" --rooms "$(rpc_url rooms)" \
        --catalog "$(rpc_url catalog)" --draw "$(rpc_url draw)" >>"$var/log/demo.log" 2>&1; then
        echo "confetti: demo world  $(tail -1 "$var/log/demo.log" | sed 's/^demo: //')"
    else
        echo "confetti: the demo world did not load (the platform runs); see $var/log/demo.log" >&2
    fi
}
start_all() {
    if [ -n "$(running_services)" ]; then
        echo "confetti: already running (make down first)" >&2
        exit 1
    fi
    mkdir -p "$var/log" "$var/run"
    write_configs
    check_ports
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
    make_ident_keys
    # E-mail and password sign-in with the file mail sender: sign-up and reset mails (their
    # tokens) are appended to var/mail.txt instead of being sent.
    export CONFETTI_AUTH__PASSWORD_ENABLED=true CONFETTI_AUTH__MAIL_SENDER=file \
        CONFETTI_AUTH__MAIL_FROM=noreply@confetti.localhost CONFETTI_AUTH__MAIL_FILE="$var/mail.txt"
    export CONFETTI_IDENT_TRUST_DIR="$var/ident/trust" CONFETTI_IDENT_OPERATORS=operator
    # Phone sign-in (docs/auth.md, "Phone sign-in"): no SMS here, the codes are appended to a
    # file (one JSON line per message) — scoped to auth, the deploy config keeps it off.
    export CONFETTI_AUTH__PHONE_ENABLED=true CONFETTI_AUTH__PHONE_SENDER=file \
        CONFETTI_AUTH__PHONE_FILE_PATH="$var/dev/sms.jsonl"

    echo "confetti: PostgreSQL   $dsn"

    # The local OpenID provider (a real one: npm oidc-provider) with the test user alice, so a
    # person can log in from a browser without Google; confetti-auth's provider_dev points at it.
    if [ -x "$build/services/auth/confetti-auth" ] && command -v node >/dev/null; then
        "$root/tests/oidc/setup.sh" "$root/tests/oidc" "$var/oidc" >>"$var/log/oidc.log" 2>&1
        local gw=http://127.0.0.1:$http_port
        (cd "$var/oidc" && exec node server.mjs "$oidc_port" \
            "$gw/v1/auth/dev/callback,$gw/,http://localhost:$http_port/" \
            >>"$var/log/oidc.log" 2>&1) &
        echo $! >"$var/run/oidc.pid"
        echo "confetti: OpenID provider http://127.0.0.1:$oidc_port (user alice)"
    fi
    local s bin cfg
    for s in "${SERVICES[@]}"; do
        bin=$build/services/$s/confetti-$s
        cfg=$var/config/$s.yaml
        [ -x "$bin" ] || continue
        "$bin" --config "$cfg" --migrate-only >>"$var/log/$s.log" 2>&1 || {
            echo "confetti: $s migrations failed, see $var/log/$s.log" >&2
            stop_all
            exit 1
        }
        CONFETTI_IDENT_KEY_FILE="$var/ident/$s.key" "$bin" --config "$cfg" >>"$var/log/$s.log" 2>&1 &
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
    load_demo
    # Hints are printed quoted, so that they paste from a checkout at any path.
    local mint
    mint="$(shq "$build/tools/confetti-devtoken") mint $(shq "$var/dev")"
    echo "confetti: logs in $var/log/; a dev token: $mint <user> [--admin]"
    echo "confetti: mails (password sign-up, reset) are appended to $var/mail.txt"
    if [ -f "$var/run/gateway.pid" ]; then
        echo "confetti: open http://127.0.0.1:$http_port/ in a browser (the page: sign in as alice, rooms, live feed)"
        echo "confetti: WebSocket feed ws://127.0.0.1:$http_port/v1/ws (docs/gateway.md#websocket-feed)"
        echo "confetti: phone sign-in: POST /v1/auth/phone/start, the code lands in $(shq "$var/dev/sms.jsonl")"
        echo "confetti: try the HTTP API:"
        echo "  curl -s -H \"Authorization: Bearer \$($mint alice)\" 'http://127.0.0.1:$http_port/v1/rooms?pageSize=5'"
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
