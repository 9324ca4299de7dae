#!/usr/bin/env bash
# pgctl.sh — a private PostgreSQL 15 cluster under one directory, for tests and `make run`.
#
#   pgctl.sh [--fsync-off] start  DIR [PORT]   initdb on first use, start, wait until ready
#   pgctl.sh               stop   DIR          fast shutdown; succeeds if already stopped
#   pgctl.sh               status DIR          exit 0 if running (prints the conninfo), 3 if not
#
# Layout: DIR/data (PGDATA), DIR/log (server log), DIR/port (the chosen port), DIR/env (one
# line: the libpq conninfo clients use), and the unix socket DIR/.s.PGSQL.PORT (or, when DIR is
# too long a path for a socket, /tmp/confetti-pg-HASH/.s.PGSQL.PORT). The server also
# listens on 127.0.0.1:PORT; authentication is `trust` on the socket and 127.0.0.1 only, so the
# cluster must never listen anywhere else. PORT defaults to the one remembered in DIR/port, or a
# free one picked at random in 20000-40000.
#
# --fsync-off trades durability for speed (fsync, synchronous_commit, full_page_writes off): for
# the throwaway test fixture only, never for a cluster whose data matters.
#
# initdb refuses to run as root, so as root the server runs as the `postgres` system account
# (created by the postgresql-15 package) and DIR is handed over to it.
set -euo pipefail

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
START_TIMEOUT=${PGCTL_TIMEOUT:-60}

die() {
    echo "pgctl: $*" >&2
    exit 1
}

usage() {
    die "usage: pgctl.sh [--fsync-off] start|stop|status DIR [PORT]"
}

fsync_off=0
args=()
for a in "$@"; do
    case "$a" in
    --fsync-off) fsync_off=1 ;;
    -*) usage ;;
    *) args+=("$a") ;;
    esac
done
[ ${#args[@]} -ge 2 ] || usage
cmd=${args[0]}
dir=$(realpath -m -- "${args[1]}")
want_port=${args[2]:-}
data=$dir/data
# The unix socket DIR/.s.PGSQL.NNNNN must fit sockaddr_un (107 bytes). A cluster under a longer
# path (a deep checkout) keeps its socket in a short directory of its own in /tmp instead, named
# after DIR so that every start and client finds the same one.
if [ $((${#dir} + 15)) -le 107 ]; then
    sockdir=$dir
else
    sockdir=/tmp/confetti-pg-$(printf '%s' "$dir" | sha1sum | cut -c1-16)
fi

[ -x "$PGBIN/pg_ctl" ] || die "PostgreSQL 15 binaries not found in $PGBIN (apt-get install postgresql-15)"

# Runs a PostgreSQL binary as the account that owns the cluster.
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

superuser() {
    if [ "$(id -u)" -eq 0 ]; then
        echo confetti
    else
        id -un
    fi
}

# True if something already accepts connections on 127.0.0.1:$1.
port_busy() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

pick_port() {
    local p
    for _ in $(seq 1 50); do
        p=$((20000 + RANDOM % 20001))
        if ! port_busy "$p"; then
            echo "$p"
            return 0
        fi
    done
    die "no free port found in 20000-40000"
}

running() {
    [ -d "$data" ] && as_owner "$PGBIN/pg_ctl" status -D "$data" >/dev/null 2>&1
}

# libpq conninfo value quoting: single quotes, with \ and ' escaped.
cq() {
    local v=${1//\\/\\\\}
    printf "'%s'" "${v//\'/\\\'}"
}

write_env() {
    local port=$1
    printf 'host=%s port=%s user=%s dbname=postgres\n' "$(cq "$sockdir")" "$port" \
        "$(cq "$(superuser)")" >"$dir/env.tmp"
    mv -f "$dir/env.tmp" "$dir/env"
}

init_cluster() {
    mkdir -p "$dir"
    if [ "$(id -u)" -eq 0 ]; then
        id postgres >/dev/null 2>&1 || die "running as root needs the postgres account"
        chown postgres:postgres "$dir"
        runuser -u postgres -- test -w "$dir" ||
            die "$dir is not reachable by the postgres account (check parent permissions)"
    fi
    as_owner "$PGBIN/initdb" -D "$data" -U "$(superuser)" --auth=trust -E UTF8 --locale=C \
        >"$dir/initdb.log" 2>&1 || {
        cat "$dir/initdb.log" >&2
        die "initdb failed"
    }
    # trust is acceptable only because nothing but the local socket and loopback can reach it.
    as_owner tee "$data/pg_hba.conf" >/dev/null <<'EOF'
local all all              trust
host  all all 127.0.0.1/32 trust
EOF
    echo "include_if_exists = 'confetti.conf'" | as_owner tee -a "$data/postgresql.conf" >/dev/null
}

# Settings rewritten on every start, so the port and the fsync flag follow the command line.
write_conf() {
    local port=$1 sync=on
    # a quoted string in postgresql.conf: a quote inside is doubled
    local conf_sockdir=${sockdir//\'/\'\'}
    [ "$fsync_off" -eq 1 ] && sync=off
    as_owner tee "$data/confetti.conf" >/dev/null <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$conf_sockdir'
max_connections = 200
shared_buffers = 64MB
fsync = $sync
synchronous_commit = $sync
full_page_writes = $sync
log_min_messages = warning
log_line_prefix = '%m [%p] %a '
EOF
}

# The short socket directory in /tmp, when DIR is too long for the socket to live there.
make_sockdir() {
    [ "$sockdir" != "$dir" ] || return 0
    local owner
    owner=$(id -un)
    [ "$(id -u)" -eq 0 ] && owner=postgres
    if [ ! -e "$sockdir" ]; then
        mkdir -m 0700 -- "$sockdir"
        [ "$owner" = "$(id -un)" ] || chown "$owner:" -- "$sockdir"
    fi
    # a predictable name in /tmp: refuse one that someone else made (or a link to elsewhere)
    if [ ! -d "$sockdir" ] || [ -L "$sockdir" ] || [ "$(stat -c %U -- "$sockdir")" != "$owner" ]; then
        die "$sockdir exists and is not a directory of $owner's: remove it"
    fi
}

do_start() {
    [ -f "$data/PG_VERSION" ] || init_cluster
    make_sockdir
    local port=$want_port fixed=1 attempt
    if [ -z "$port" ] && [ -f "$dir/port" ]; then
        port=$(cat "$dir/port")
    fi
    if running; then
        [ -n "$port" ] || die "cluster in $dir is running but $dir/port is missing"
        write_env "$port"
        return 0
    fi
    if [ -z "$port" ]; then
        fixed=0
        port=$(pick_port)
    fi
    for attempt in 1 2 3 4 5; do
        write_conf "$port"
        if as_owner "$PGBIN/pg_ctl" start -D "$data" -l "$dir/log" -w -t "$START_TIMEOUT" \
            >/dev/null; then
            break
        fi
        # A randomly picked port may have been taken between the check and the bind: try another.
        if [ "$fixed" -eq 1 ] || [ "$attempt" -eq 5 ]; then
            tail -n 20 "$dir/log" >&2 || true
            die "could not start PostgreSQL in $dir on port $port"
        fi
        port=$(pick_port)
    done
    echo "$port" >"$dir/port"
    for _ in $(seq 1 $((START_TIMEOUT * 10))); do
        if "$PGBIN/pg_isready" -q -h "$sockdir" -p "$port" -U "$(superuser)" -d postgres; then
            write_env "$port"
            return 0
        fi
        sleep 0.1
    done
    die "PostgreSQL in $dir did not become ready within ${START_TIMEOUT}s"
}

do_stop() {
    if [ -f "$data/postmaster.pid" ] && running; then
        as_owner "$PGBIN/pg_ctl" stop -D "$data" -m fast -w -t "$START_TIMEOUT" >/dev/null ||
            as_owner "$PGBIN/pg_ctl" stop -D "$data" -m immediate -w -t "$START_TIMEOUT" >/dev/null ||
            die "could not stop PostgreSQL in $dir"
    fi
    if [ "$sockdir" != "$dir" ]; then
        rm -rf -- "$sockdir"
    fi
}

do_status() {
    if running; then
        cat "$dir/env"
        return 0
    fi
    echo "not running" >&2
    return 3
}

case "$cmd" in
start) do_start ;;
stop) do_stop ;;
status) do_status ;;
*) usage ;;
esac
