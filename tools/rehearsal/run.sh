#!/usr/bin/env bash
# tools/rehearsal/run.sh BUILD_DIR [full|short|scale] — the scale-out rehearsal (issue 16 items 3
# and 4; docs/operations.md, "Rehearsal: replicas, rolling restarts, kills").
#
# The platform as replicas on loopback, each replica on its own 127.0.0.x address, every peer
# reached by NAME (tcp://rooms:PORT) through the resolver's hosts file (rpc.hosts_file, rewritten
# as Kubernetes rewrites a headless Service's endpoints): a private PostgreSQL, 2 buses,
# 2 catalog, 2 auth, 3 rooms, 3 draw, 2 gateways. confetti-rehearsal-load (load.c) drives a mix
# through both gateways and follows the hot room over WebSocket.
#
#   full   (make rehearsal): phases before / restart (every replica of every service, one at a
#          time: out of the name, SIGTERM, drain, start, ready, back in the name) / kill (one
#          replica of each service SIGKILLed, then started again) / after; the table; exits 1
#          when a goal is missed.
#   short  (ctest rehearsal_short): the same with one replica of each service restarted and one
#          killed, shorter phases, less load; the same goals.
#   scale  (make rehearsal-scale): throughput and CPU per request of the signed-in room read and
#          the draw at 1, 2 and 3 replicas of rooms and draw.
#
# Ports: every port is a free one picked at start (no clash with make run or with tests); the
# state lives in REHEARSAL_DIR (default BUILD_DIR/rehearsal) and is removed at the end unless
# REHEARSAL_KEEP=1. Settings: REHEARSAL_PHASE_S (seconds of the before and after phases),
# REHEARSAL_THREADS, REHEARSAL_WS, REHEARSAL_SCALE_S (seconds per scale row, after
# REHEARSAL_WARM_S seconds of the same load not measured).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-build}" && pwd)
mode=${2:-full}
case $mode in full | short | scale) ;; *)
    echo "usage: run.sh BUILD_DIR [full|short|scale]" >&2
    exit 2
    ;;
esac
if [ "$mode" = short ]; then
    phase_s=${REHEARSAL_PHASE_S:-4} threads=${REHEARSAL_THREADS:-3} nws=${REHEARSAL_WS:-4}
    rooms_n=500 hot_n=600
else
    phase_s=${REHEARSAL_PHASE_S:-15} threads=${REHEARSAL_THREADS:-8} nws=${REHEARSAL_WS:-16}
    rooms_n=5000 hot_n=5000
fi
scale_s=${REHEARSAL_SCALE_S:-8} warm_s=${REHEARSAL_WARM_S:-4}
work=${REHEARSAL_DIR:-$build/rehearsal}
for b in services/bus/confetti-bus services/catalog/confetti-catalog services/auth/confetti-auth \
    services/rooms/confetti-rooms services/draw/confetti-draw services/gateway/confetti-gateway \
    tools/confetti-devtoken tools/seed/confetti-seed-rooms tools/rehearsal/confetti-rehearsal-load; do
    [ -x "$build/$b" ] || {
        echo "rehearsal: $build/$b is not built (cmake --build $build)" >&2
        exit 2
    }
done

rm -rf -- "$work" && mkdir -p "$work/log"
declare -A pid addr admin
pg_started=0
cleanup() {
    local k
    for k in "${!pid[@]}"; do kill -TERM "${pid[$k]}" 2>/dev/null || true; done
    for k in "${!pid[@]}"; do
        for _ in $(seq 300); do kill -0 "${pid[$k]}" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "${pid[$k]}" 2>/dev/null || true
        wait "${pid[$k]}" 2>/dev/null || true
    done
    [ -z "${load_pid:-}" ] || kill -TERM "$load_pid" 2>/dev/null || true
    [ "$pg_started" = 0 ] || "$root/tests/harness/pg.sh" stop "$work/pg" >/dev/null 2>&1 || true
    [ "${REHEARSAL_KEEP:-0}" = 1 ] || rm -rf -- "$work"
}
trap cleanup EXIT
say() { printf 'rehearsal: %s\n' "$*" >&2; }

# ---- addresses, names, ports ----------------------------------------------------------------
# Replica i of service s listens on its own loopback address; every replica of a service on the
# same port (a headless Service's pods: one containerPort).
SERVICES=(bus catalog auth rooms draw gateway)
declare -A count=([bus]=2 [catalog]=2 [auth]=2 [rooms]=3 [draw]=3 [gateway]=2)
next=2
for s in "${SERVICES[@]}"; do
    for ((i = 0; i < count[$s]; i++)); do
        addr[$s.$i]=127.0.0.$next
        next=$((next + 1))
    done
done
# One port free on every address given (python: bind each, then release).
free_port() {
    python3 - "$@" <<'PY'
import socket, sys, random
for _ in range(200):
    p = random.randint(20000, 60000)
    socks = []
    try:
        for a in sys.argv[1:]:
            s = socket.socket(); s.bind((a, p)); socks.append(s)
        print(p); break
    except OSError:
        pass
    finally:
        for s in socks: s.close()
else:
    sys.exit("no free port")
PY
}
addrs_of() {
    local s=$1 i out=()
    for ((i = 0; i < count[$s]; i++)); do out+=("${addr[$s.$i]}"); done
    echo "${out[@]}"
}
declare -A port
for s in "${SERVICES[@]}"; do
    # shellcheck disable=SC2046 # one address per word
    port[$s]=$(free_port $(addrs_of "$s"))
done
# shellcheck disable=SC2046
port[buspub]=$(free_port $(addrs_of bus))
# shellcheck disable=SC2046
port[bussub]=$(free_port $(addrs_of bus))
for s in "${SERVICES[@]}"; do
    for ((i = 0; i < count[$s]; i++)); do
        admin[$s.$i]=$(free_port "${addr[$s.$i]}")
    done
done
# shellcheck disable=SC2046
http_port=$(free_port $(addrs_of gateway))

# The names: "bus", "catalog", "auth", "rooms", "draw" → the addresses of the replicas that are
# in the name (a replica leaves it before SIGTERM and comes back once ready, as a pod's endpoint).
declare -A in_name
for s in "${SERVICES[@]}"; do for ((i = 0; i < count[$s]; i++)); do in_name[$s.$i]=1; done; done
hosts=$work/hosts
write_hosts() {
    local s i
    {
        echo "# the rehearsal's endpoints (rpc.hosts_file)"
        for s in bus catalog auth rooms draw; do
            for ((i = 0; i < count[$s]; i++)); do
                [ "${in_name[$s.$i]}" = 1 ] && echo "${addr[$s.$i]} $s"
            done
        done
    } >"$hosts.tmp"
    mv -f "$hosts.tmp" "$hosts"
}
write_hosts

# ---- PostgreSQL, keys, configuration --------------------------------------------------------
"$root/tests/harness/pg.sh" start "$work/pg" >"$work/log/pg.log"
pg_started=1
admin_dsn=$(cat "$work/pg/env")
psql "$admin_dsn" -qc "CREATE DATABASE rehearsal" >/dev/null
dsn=${admin_dsn/dbname=postgres/dbname=rehearsal}
"$build/tools/confetti-devtoken" init "$work/dev"
mkdir -p "$work/ident/trust"
for s in "${SERVICES[@]}"; do
    openssl genpkey -algorithm ed25519 -out "$work/ident/$s.key" 2>/dev/null
    openssl pkey -in "$work/ident/$s.key" -pubout -out "$work/ident/trust/$s.pub"
done
# deploy/config/SVC.yaml with every peer dialed by name: the loopback ports of make run become
# the Service names and this run's ports; var/ paths point into the work directory.
mkdir -p "$work/config"
for s in "${SERVICES[@]}"; do
    W=$work P_CAT=${port[catalog]} P_AUTH=${port[auth]} P_ROOMS=${port[rooms]} \
        P_DRAW=${port[draw]} P_PUB=${port[buspub]} P_SUB=${port[bussub]} perl -pe '
        next if /^\s*#/;
        s{tcp://127\.0\.0\.1:7101}{tcp://catalog:$ENV{P_CAT}}g;
        s{tcp://127\.0\.0\.1:7102}{tcp://auth:$ENV{P_AUTH}}g;
        s{tcp://127\.0\.0\.1:7103}{tcp://rooms:$ENV{P_ROOMS}}g;
        s{tcp://127\.0\.0\.1:7104}{tcp://draw:$ENV{P_DRAW}}g;
        s{tcp://127\.0\.0\.1:7110}{tcp://bus:$ENV{P_PUB}}g;
        s{tcp://127\.0\.0\.1:7111}{tcp://bus:$ENV{P_SUB}}g;
        s{(?<=["=\s])var/}{$ENV{W}/}g;
    ' "$root/deploy/config/$s.yaml" >"$work/config/$s.yaml"
done
export CONFETTI_DB_DSN=$dsn CONFETTI_AUTH_JWKS_FILE=$work/dev/jwks.json CONFETTI_LOG_LEVEL=warn \
    CONFETTI_IDENT_TRUST_DIR=$work/ident/trust CONFETTI_RPC_HOSTS_FILE=$hosts \
    CONFETTI_RPC_RESOLVE_INTERVAL=1s CONFETTI_PROVIDER_DEV_ENABLED=false
# Workers = PostgreSQL connections per replica: 14 processes share one small cluster ("Sizing").
export CONFETTI_RPC_WORKERS=4 CONFETTI_DRAW__RPC_WORKERS=8
resolve_s=1

# ---- replicas --------------------------------------------------------------------------------
start_replica() { # service index
    local s=$1 i=$2 a=${addr[$1.$2]}
    local env=(CONFETTI_IDENT_KEY_FILE="$work/ident/$s.key"
        CONFETTI_RPC_LISTEN="tcp://$a:${port[$s]}" CONFETTI_ADMIN_LISTEN="http://$a:${admin[$s.$i]}")
    case $s in
    bus) env+=(CONFETTI_BUS_PUBLISHERS="tcp://$a:${port[buspub]}"
        CONFETTI_BUS_SUBSCRIBERS="tcp://$a:${port[bussub]}") ;;
    # http.drain_delay as in the cluster (deploy/k8s/base/gateway.yaml, shorter): a draining
    # gateway takes connections a little longer, each answered and closed
    gateway) env+=(CONFETTI_HTTP_LISTEN="http://$a:$http_port" CONFETTI_RATELIMIT_RATE=0
        CONFETTI_HTTP_DRAIN_DELAY=1s
        CONFETTI_AUTH_REVOKED_REFRESH=0) ;;
    esac
    env "${env[@]}" "$build/services/$s/confetti-$s" --config "$work/config/$s.yaml" \
        >>"$work/log/$s.$i.log" 2>&1 &
    pid[$s.$i]=$!
}
wait_ready() { # service index
    local s=$1 i=$2
    for _ in $(seq 600); do
        curl -sf -o /dev/null "http://${addr[$s.$i]}:${admin[$s.$i]}/readyz" && return 0
        kill -0 "${pid[$s.$i]}" 2>/dev/null || break
        sleep 0.1
    done
    say "$s replica $i did not become ready; its log:"
    tail -20 "$work/log/$s.$i.log" >&2
    exit 1
}
# A replica leaves the name, gets SIGTERM, drains and exits; it is started again, and once ready
# it is back in the name. The next one goes only after the peers have dialed it (one interval).
restart_replica() {
    local s=$1 i=$2 rc=0
    in_name[$s.$i]=0
    write_hosts
    kill -TERM "${pid[$s.$i]}"
    # the drain is bounded (calls' deadlines, the gateway's http.drain_timeout 20 s): a replica
    # still there after 60 s hangs, and gets what the kubelet gives it after the grace period
    for _ in $(seq 600); do kill -0 "${pid[$s.$i]}" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "${pid[$s.$i]}" 2>/dev/null; then
        say "$s replica $i did not exit within 60 s of SIGTERM: SIGKILL"
        # every thread's stack first, for the diagnosis (REHEARSAL_KEEP=1 keeps the file)
        if command -v gdb >/dev/null 2>&1; then
            timeout 60 gdb -p "${pid[$s.$i]}" -batch -ex "thread apply all bt" \
                >"$work/log/$s.$i.hung-stacks" 2>&1 || true
            say "  its threads' stacks: $work/log/$s.$i.hung-stacks"
        fi
        kill -KILL "${pid[$s.$i]}"
        hung=$((hung + 1))
    fi
    wait "${pid[$s.$i]}" || rc=$?
    if [ "$rc" != 0 ]; then
        say "$s replica $i exited $rc on SIGTERM (expected 0)"
        bad_exit=$((bad_exit + 1))
    fi
    start_replica "$s" "$i"
    wait_ready "$s" "$i"
    in_name[$s.$i]=1
    write_hosts
    sleep $((resolve_s + 1))
}
# A crash: SIGKILL, no goodbye; the name still lists it until it is back (a pod restarted in
# place by its kubelet keeps its endpoint out only while unready: here, while it is down).
kill_replica() {
    local s=$1 i=$2
    kill -KILL "${pid[$s.$i]}"
    wait "${pid[$s.$i]}" 2>/dev/null || true
    in_name[$s.$i]=0
    write_hosts
    sleep 1
    start_replica "$s" "$i"
    wait_ready "$s" "$i"
    in_name[$s.$i]=1
    write_hosts
    sleep $((resolve_s + 1))
}
stop_replica() { # for the scale rows: out of the name, SIGTERM, gone
    local s=$1 i=$2
    in_name[$s.$i]=0
    write_hosts
    kill -TERM "${pid[$s.$i]}"
    wait "${pid[$s.$i]}" 2>/dev/null || true
    unset "pid[$s.$i]"
}

for s in catalog auth rooms draw; do
    CONFETTI_RPC_LISTEN="tcp://${addr[$s.0]}:${port[$s]}" \
        "$build/services/$s/confetti-$s" --config "$work/config/$s.yaml" --migrate-only \
        >>"$work/log/migrate.log" 2>&1 || {
        say "$s migrations failed:"
        tail -20 "$work/log/migrate.log" >&2
        exit 1
    }
done
"$build/tools/seed/confetti-seed-rooms" --dsn "$dsn" --rooms "$rooms_n" \
    --participants $((rooms_n * 4 + hot_n)) --hot "$hot_n" >"$work/log/seed.log" 2>&1
hot=$(psql "$dsn" -tAc "SELECT id FROM rooms.rooms WHERE name = 'seed-hot-room' LIMIT 1")

# A group at a time (PostgreSQL is not asked for a hundred connections in one second on a
# loaded machine); catalog and auth together: catalog's readiness waits for auth's keys.
for group in bus "catalog auth" rooms draw gateway; do
    for s in $group; do
        for ((i = 0; i < count[$s]; i++)); do start_replica "$s" "$i"; done
    done
    for s in $group; do
        for ((i = 0; i < count[$s]; i++)); do wait_ready "$s" "$i"; done
    done
done
gateways=()
for ((i = 0; i < count[gateway]; i++)); do gateways+=("http://${addr[gateway.$i]}:$http_port"); done
gw_list=$(
    IFS=,
    echo "${gateways[*]}"
)
say "$(date -u +%FT%TZ) up: 2 bus, 2 catalog, 2 auth, 3 rooms, 3 draw, 2 gateways ($gw_list); hot room $hot"

owner_tok=$("$build/tools/confetti-devtoken" mint "$work/dev" hot-0)
new_prize() { # quantity → prize id
    local out
    out=$(curl -s -X POST -H "Authorization: Bearer $owner_tok" -H 'Content-Type: application/json' \
        -d "{\"name\":\"Hot prize\",\"quantity\":$1}" "${gateways[0]}/v1/rooms/$hot/prizes")
    python3 -c 'import sys,json; print(json.loads(sys.argv[1])["prizeId"])' "$out" || {
        say "could not create a prize: $out"
        exit 1
    }
}
cpu_ticks() { # pids… → utime+stime+cutime+cstime summed (clock ticks)
    local p t=0 f
    for p in "$@"; do
        [ -r "/proc/$p/stat" ] || continue
        f=$(sed 's/^.*) //' "/proc/$p/stat")
        # fields after the comm: 12 utime, 13 stime, 14 cutime, 15 cstime (1-based from state)
        t=$((t + $(awk '{print $12 + $13 + $14 + $15}' <<<"$f")))
    done
    echo "$t"
}
pg_pids() { # the postmaster and its children (backends), one a line
    local pm
    pm=$(head -1 "$work/pg/data/postmaster.pid")
    echo "$pm"
    pgrep -P "$pm" || true
}
stamp() { date +%s%3N; }

# ---- the scale rows (item 4) ---------------------------------------------------------------
if [ "$mode" = scale ]; then
    hz=$(getconf CLK_TCK)
    echo "## Throughput by replicas of rooms and draw ($(date -u '+%F %H:%M UTC'), $(nproc) cores," \
        "load average before: $(cut -d' ' -f1-3 /proc/loadavg))"
    echo
    echo "| rooms+draw replicas | request | req/s | p50 ms | p99 ms | CPU ms/req rooms+draw | CPU ms/req gateways | CPU ms/req PostgreSQL | load avg (1 min) after |"
    echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|"
    for k in 3 2 1; do
        for ((i = k; i < 3; i++)); do
            [ -n "${pid[rooms.$i]:-}" ] && stop_replica rooms "$i"
            [ -n "${pid[draw.$i]:-}" ] && stop_replica draw "$i"
        done
        sleep $((resolve_s + 1))
        for what in get draw; do
            prize=$(new_prize 1000000)
            svc_pids=()
            for ((i = 0; i < k; i++)); do svc_pids+=("${pid[rooms.$i]}" "${pid[draw.$i]}"); done
            gw_pids=("${pid[gateway.0]}" "${pid[gateway.1]}")
            mapfile -t pgp < <(pg_pids)
            # warm-up, not measured: the replicas' caches and connections, PostgreSQL's pages
            rm -f "$work/stop"
            echo "warm $(stamp)" >"$work/phases"
            "$build/tools/rehearsal/confetti-rehearsal-load" --gateways "$gw_list" --dev "$work/dev" \
                --room "$hot" --owner hot-0 --prizes "$prize" --stop "$work/stop" \
                --phases "$work/phases" --out "$work/warm.out" --threads 16 --ws 0 --mix "$what" \
                >/dev/null &
            load_pid=$!
            sleep "$warm_s"
            touch "$work/stop"
            wait "$load_pid"
            rm -f "$work/stop"
            echo "row $(stamp)" >"$work/phases"
            a0=$(cpu_ticks "${svc_pids[@]}") g0=$(cpu_ticks "${gw_pids[@]}") p0=$(cpu_ticks "${pgp[@]}")
            "$build/tools/rehearsal/confetti-rehearsal-load" --gateways "$gw_list" --dev "$work/dev" \
                --room "$hot" --owner hot-0 --prizes "$prize" --stop "$work/stop" \
                --phases "$work/phases" --out "$work/scale.out" --threads 16 --ws 0 --mix "$what" \
                >"$work/log/scale-$k-$what.txt" &
            load_pid=$!
            sleep "$scale_s"
            touch "$work/stop"
            wait "$load_pid"
            load_pid=
            a1=$(cpu_ticks "${svc_pids[@]}") g1=$(cpu_ticks "${gw_pids[@]}")
            mapfile -t pgp2 < <(pg_pids)
            p1=$(cpu_ticks "${pgp2[@]}")
            n=$(sed -n 's/^requests=//p' "$work/scale.out")
            rps=$(sed -n 's/^rps=//p' "$work/scale.out")
            p50=$(sed -n 's/^phase\.row\.p50_ms=//p' "$work/scale.out")
            p99=$(sed -n 's/^phase\.row\.p99_ms=//p' "$work/scale.out")
            failed=$(sed -n 's/^phase\.row\.failed=//p' "$work/scale.out")
            label=$([ "$what" = get ] && echo "GET /v1/rooms/{hot} (JWT)" || echo "POST /v1/rooms/{hot}/draws count 1")
            [ "$failed" = 0 ] || label="$label ($failed failed)"
            awk -v k="$k" -v l="$label" -v rps="$rps" -v p50="$p50" -v p99="$p99" -v n="$n" -v hz="$hz" \
                -v a=$((a1 - a0)) -v g=$((g1 - g0)) -v p=$((p1 - p0)) -v la="$(cut -d' ' -f1 /proc/loadavg)" \
                'BEGIN { printf "| %d | %s | %.0f | %s | %s | %.3f | %.3f | %.3f | %s |\n", k, l, rps, p50, p99, a*1000/hz/n, g*1000/hz/n, p*1000/hz/n, la }'
        done
    done
    echo
    echo "Load: confetti-rehearsal-load, 16 HTTP workers (libcurl, keep-alive) over both gateways," \
        "${warm_s} s of warm-up then ${scale_s} s measured per row, on the same $(nproc) cores."
    exit 0
fi

# ---- the rehearsal (item 3) ------------------------------------------------------------------
prizes=()
for _ in 1 2 3 4; do prizes+=("$(new_prize 300)"); done
prize_list=$(
    IFS=,
    echo "${prizes[*]}"
)
bad_exit=0 hung=0
rm -f "$work/stop"
: >"$work/phases"
"$build/tools/rehearsal/confetti-rehearsal-load" --gateways "$gw_list" --dev "$work/dev" --room "$hot" \
    --owner hot-0 --prizes "$prize_list" --stop "$work/stop" --phases "$work/phases" \
    --out "$work/load.out" --threads "$threads" --ws "$nws" >"$work/load.txt" 2>"$work/log/load.log" &
load_pid=$!
for _ in $(seq 900); do
    grep -q 'HTTP workers start' "$work/load.txt" 2>/dev/null && break
    kill -0 "$load_pid" 2>/dev/null || {
        say "the load generator ended at start:"
        cat "$work/log/load.log" >&2
        exit 1
    }
    sleep 0.1
done
la_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "before $(stamp)" >>"$work/phases"
sleep "$phase_s"

echo "restart $(stamp)" >>"$work/phases"
for s in "${SERVICES[@]}"; do
    n=${count[$s]}
    [ "$mode" = short ] && n=1
    for ((i = 0; i < n; i++)); do
        say "$(date -u +%T) rolling restart: $s replica $i (${addr[$s.$i]})"
        restart_replica "$s" "$i"
    done
done

echo "kill $(stamp)" >>"$work/phases"
for s in "${SERVICES[@]}"; do
    i=$((count[$s] - 1))
    say "$(date -u +%T) SIGKILL: $s replica $i (${addr[$s.$i]})"
    kill_replica "$s" "$i"
done

echo "after $(stamp)" >>"$work/phases"
sleep "$phase_s"
touch "$work/stop"
wait "$load_pid" || {
    say "the load generator failed:"
    cat "$work/log/load.log" >&2
    exit 1
}
load_pid=
la_after=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- the goals -------------------------------------------------------------------------------
val() { sed -n "s/^$1=//p" "$work/load.out" | head -1; }
q() { psql "$dsn" -tAc "$1"; }
joined_db=$(q "SELECT count(*) FROM rooms.participants WHERE room_id = '$hot' AND user_id LIKE 'reh-join-%'")
won_db=$(q "SELECT count(*) FROM draw.winners WHERE room_id = '$hot'")
over=$(q "SELECT count(*) FROM draw.prizes p WHERE p.room_id = '$hot' AND (p.quantity_remaining < 0 OR
          (SELECT count(*) FROM draw.winners w WHERE w.prize_id = p.id AND w.deleted_at IS NULL) > p.quantity)")
dupw=$(q "SELECT count(*) FROM (SELECT prize_id, participant_id FROM draw.winners WHERE room_id = '$hot'
          AND deleted_at IS NULL GROUP BY 1, 2 HAVING count(*) > 1) d")
produced=$((joined_db + won_db))
missed=0
while IFS='=' read -r _ v; do
    j=${v%,*} w=${v#*,}
    [ "$j" -ge "$joined_db" ] && [ "$w" -ge "$won_db" ] || missed=$((missed + 1))
done < <(grep '^ws\.client\.' "$work/load.out")
delivered=$(($(val ws.min_joined) + $(val ws.min_won)))

echo "## Rehearsal ($mode): $(date -u '+%F %H:%M UTC'), $(nproc) cores, load average $la_before before, $la_after after"
echo
echo "2 bus, 2 catalog, 2 auth, 3 rooms, 3 draw, 2 gateways on 127.0.0.2–$next, peers by name (rpc.hosts_file);"
echo "$threads HTTP workers, $nws WebSocket clients; phases: before ${phase_s} s, restart (SIGTERM, one replica at a time),"
echo "kill (SIGKILL one replica of each service), after ${phase_s} s."
echo
grep -v '^rehearsal-load:' "$work/load.txt"
echo
goal_fail=0
row() { # what value goal ok?
    printf '| %s | %s | %s | %s |\n' "$1" "$2" "$3" "$([ "$4" = 1 ] && echo ok || echo MISSED)"
    [ "$4" = 1 ] || goal_fail=1
}
echo "| check | value | goal | |"
echo "|---|---:|---|---|"
for ph in before restart after; do
    f=$(val "phase.$ph.failed")
    row "requests failed, phase $ph" "$f of $(val "phase.$ph.sent")" 0 "$([ "$f" = 0 ] && echo 1)"
done
kf=$(val phase.kill.failed)
unclear=$(grep '^fail\.kill\.' "$work/load.out" | grep -v -E '^fail\.kill\.(http_50[234]|transport_)' || true)
row "requests failed, phase kill" "$kf of $(val phase.kill.sent)" "only in-flight calls of the killed, each with a status" \
    "$([ -z "$unclear" ] && echo 1)"
grep '^fail\.' "$work/load.out" | sed 's/^fail\.\([a-z]*\)\.\(.*\)=\(.*\)/|   failures in \1: \2 | \3 | | |/' || true
row "replicas still running 60 s after SIGTERM" "$hung" 0 "$([ "$hung" = 0 ] && echo 1)"
row "replicas exiting non-zero on SIGTERM" "$bad_exit" 0 "$([ "$bad_exit" = 0 ] && echo 1)"
row "events delivered (fewest any client got) / produced" "$delivered / $produced" equal \
    "$([ "$delivered" = "$produced" ] && echo 1)"
row "events delivered twice to a client" "$(val ws.dups)" 0 "$([ "$(val ws.dups)" = 0 ] && echo 1)"
row "WebSocket resumes (reconnects after a gateway went)" "$(val ws.resumes)" "—" 1
row "WebSocket clients that missed an event after resume" "$missed of $(val ws.clients)" 0 \
    "$([ "$missed" = 0 ] && [ "$(val ws.too_old)" = 0 ] && echo 1)"
row "draws over-allocated (prizes)" "$over" 0 "$([ "$over" = 0 ] && echo 1)"
row "duplicate winners" "$dupw" 0 "$([ "$dupw" = 0 ] && echo 1)"
echo
echo "joins answered 2xx: $(val joins.ok), participants joined in the database: $joined_db;" \
    "draws answered 2xx: $(val draws.ok), winners in the database: $won_db."
if [ "$goal_fail" = 1 ]; then
    say "a goal was missed (logs: REHEARSAL_KEEP=1 keeps $work)"
    exit 1
fi
