#!/usr/bin/env bash
# tools/bench/gateway.sh BUILD_DIR — the HTTP API under load (issue 7's three endpoints), with wrk
# on loopback, the same tool and shapes as ../shared/peers/fastify (run that for the side-by-side):
#   1. GET  /v1/rooms?status=ACTIVE&pageSize=20          (anonymous, public listing, keyset)
#   2. GET  /v1/rooms/{hot}                              (JWT + permission + row)
#   3. POST /v1/rooms/{hot}/draws {prizeId, count:1}     (JWT, 10,000-member room, hot prize)
# plus, without the cache (issue 17 item 2): the listing of a signed-in user with private
# memberships (bench-user: 50 rooms, half private) and a participant join (POST
# /v1/rooms/{r}/participants {}, one fresh user per row walking the public open rooms).
# Each row also prints the CPU each request cost every process (procacct.sh; issue 17 item 1).
# at 32 connections (wrk -t2 -c32) and 1 (wrk -t1 -c1). Data: 100,000 rooms, a hot room of 10,000
# participants (tools/seed). Everything runs privately under BUILD_DIR/gwbench and is stopped.
# As deployed: rooms and draw publish their events through a bus, and the gateway follows them
# (the WebSocket feed and the response cache). The two reads are also run against a second
# gateway with the response cache off (cache.ttl 0): the rows marked "no cache".
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tools/bench/procacct.sh
. "$root/tools/bench/procacct.sh"
build=$(cd "${1:-build}" && pwd)
dur=${BENCH_GATEWAY_DURATION:-10s}
draw_dur=${BENCH_GATEWAY_DRAW_DURATION:-3s}
work=$build/gwbench
command -v wrk >/dev/null || { [ "$(id -u)" = 0 ] && apt-get install -y -qq wrk >/dev/null; }
command -v wrk >/dev/null || { echo "gateway bench: wrk is not installed (apt-get install wrk)"; exit 0; }

rm -rf "$work" && mkdir -p "$work"
# ipc:// sockets live in a short directory of their own: a unix socket path holds 107 bytes at
# most, and BUILD_DIR may be deep.
sock=$(mktemp -d /tmp/confetti-gwbench.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf -- "$sock"
    "$root/tests/harness/pg.sh" stop "$work/pg" >/dev/null 2>&1 || true
}
trap cleanup EXIT
"$root/tests/harness/pg.sh" start "$work/pg" >/dev/null
admin=$(cat "$work/pg/env")
psql "$admin" -qc "CREATE DATABASE gwbench" >/dev/null
dsn=${admin/dbname=postgres/dbname=gwbench}
"$build/tools/confetti-devtoken" init "$work/dev"
# service identity (docs/operations.md, "Service identity"): a key pair per process
mkdir -p "$work/ident/trust"
for s in bus rooms draw gateway; do
    openssl genpkey -algorithm ed25519 -out "$work/ident/$s.key" 2>/dev/null
    openssl pkey -in "$work/ident/$s.key" -pubout -out "$work/ident/trust/$s.pub"
done
export CONFETTI_IDENT_TRUST_DIR=$work/ident/trust

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
export CONFETTI_DB_DSN=$dsn CONFETTI_AUTH_JWKS_FILE=$work/dev/jwks.json CONFETTI_LOG_LEVEL=warn
rooms_url=ipc://$sock/rooms.sock draw_url=ipc://$sock/draw.sock
bus_pub=ipc://$sock/bus-pub.sock bus_sub=ipc://$sock/bus-sub.sock
CONFETTI_IDENT_KEY_FILE=$work/ident/bus.key CONFETTI_RPC_LISTEN=ipc://$sock/bus.sock CONFETTI_ADMIN_LISTEN=http://127.0.0.1:$(port) \
    CONFETTI_BUS_PUBLISHERS=$bus_pub CONFETTI_BUS_SUBSCRIBERS=$bus_sub \
    "$build/services/bus/confetti-bus" 2>>"$work/bus.log" &
pids+=($!)
CONFETTI_RPC_LISTEN=$rooms_url CONFETTI_ADMIN_LISTEN=http://127.0.0.1:$(port) \
    "$build/services/rooms/confetti-rooms" --migrate-only
"$build/tools/seed/confetti-seed-rooms" --dsn "$dsn" --rooms 100000 --participants 1010000 \
    --hot 10000 >/dev/null
CONFETTI_IDENT_KEY_FILE=$work/ident/rooms.key CONFETTI_RPC_LISTEN=$rooms_url \
    CONFETTI_ADMIN_LISTEN=http://127.0.0.1:$(port) CONFETTI_EVENTS_BUS=$bus_pub CONFETTI_EVENTS_SUBSCRIBE='' \
    "$build/services/rooms/confetti-rooms" 2>>"$work/rooms.log" &
pids+=($!)
CONFETTI_IDENT_KEY_FILE=$work/ident/draw.key CONFETTI_RPC_LISTEN=$draw_url CONFETTI_ADMIN_LISTEN=http://127.0.0.1:$(port) \
    CONFETTI_ROOMS_URLS=$rooms_url CONFETTI_EVENTS_BUS=$bus_pub "$build/services/draw/confetti-draw" \
    2>>"$work/draw.log" &
pids+=($!)
gateway() { # url name cache-ttl events-subscribe
    CONFETTI_IDENT_KEY_FILE=$work/ident/gateway.key CONFETTI_HTTP_LISTEN=$1 \
        CONFETTI_RPC_LISTEN=ipc://$sock/$2.sock \
        CONFETTI_ADMIN_LISTEN=http://127.0.0.1:$(port) CONFETTI_SERVICES_ROOMS=$rooms_url \
        CONFETTI_SERVICES_DRAW=$draw_url CONFETTI_RATELIMIT_RATE=0 CONFETTI_AUTH_REVOKED_REFRESH=0 \
        CONFETTI_EVENTS_SUBSCRIBE=$4 CONFETTI_CACHE_TTL=$3 \
        "$build/services/gateway/confetti-gateway" 2>>"$work/$2.log" &
    pids+=($!)
    for _ in $(seq 100); do curl -sf "$1/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
}
gw=http://127.0.0.1:$(port) gw_nocache=http://127.0.0.1:$(port)
gateway "$gw" gateway 1s "$bus_sub"
gateway "$gw_nocache" gateway-nocache 0 "" # no feed: it would only add the events' work
# the CPU table's columns: both gateways count as one (the idle one only answers health probes)
acct_add gateway "${pids[@]:3:2}"
acct_add rooms "${pids[1]}"
acct_add draw "${pids[2]}"
acct_add bus "${pids[0]}"
acct_add postgres "$(head -1 "$work/pg/data/postmaster.pid")"

hot=$(psql "$dsn" -tAc "SELECT id FROM rooms.rooms WHERE name = 'seed-hot-room' OR id = 'seed-hot-room' LIMIT 1")
tok=$("$build/tools/confetti-devtoken" mint "$work/dev" hot-0)
cat >"$work/get.lua" <<LUA
wrk.headers["Authorization"] = "Bearer $tok"
LUA
member_tok=$("$build/tools/confetti-devtoken" mint "$work/dev" bench-user)
cat >"$work/member.lua" <<LUA
wrk.headers["Authorization"] = "Bearer $member_tok"
LUA
# joins: the public rooms open to joining (ACTIVE or DRAFT), the hot room aside; each wrk thread
# walks its own share of them, so every request is a new membership until the list wraps
psql "$dsn" -tAc "SELECT id FROM rooms.rooms WHERE is_public AND status IN ('ACTIVE', 'DRAFT')
    AND deleted_at IS NULL AND id <> '$hot' ORDER BY id" >"$work/joinable.txt"
join_script() { # user threads → a wrk script joining as user
    local t
    t=$("$build/tools/confetti-devtoken" mint "$work/dev" "$1")
    cat >"$work/join-$1.lua" <<LUA
local ids, n, i, step = {}, 0, 0, $2
local next_tid = 0
function setup(thread) thread:set("tid", next_tid); next_tid = next_tid + 1 end
function init(args)
    for line in io.lines("$work/joinable.txt") do n = n + 1; ids[n] = line end
    i = tid
end
function request()
    local id = ids[(i % n) + 1]
    i = i + step
    return wrk.format("POST", "/v1/rooms/" .. id .. "/participants",
        {["Authorization"] = "Bearer $t", ["Content-Type"] = "application/json"}, "{}")
end
LUA
    echo "$work/join-$1.lua"
}
# Each draw row gets a fresh prize (quantity 1,000,000): a hot room of 10,000 has 10,000 possible
# winners per prize, which draws at 2,000/s exhaust in 5 s (then every answer is 409, not a draw).
# So draw rows last $draw_dur (default 3 s) and start from no winners, like the peer's runs.
new_prize() {
    local created prize
    created=$(curl -s -X POST -H "Authorization: Bearer $tok" -H 'Content-Type: application/json' \
        -d '{"name":"Sticker","quantity":1000000}' "$gw/v1/rooms/$hot/prizes")
    prize=$(python3 -c 'import sys,json; print(json.loads(sys.argv[1])["prizeId"])' "$created") || {
        echo "gateway bench: could not create the prize in room '$hot': $created" >&2
        tail -3 "$work"/*.log >&2
        exit 1
    }
    cat >"$work/draw.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"prizeId":"$prize","count":1}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $tok"
LUA
}
new_prize

# BENCH_GATEWAY_ROWS: the rows to run, by their short names (list list-nocache
# list-member-nocache get get-nocache draw join); all when empty.
# BENCH_GATEWAY_PERF=NAME: `perf record -g` of every process of the platform during that row
# (perf.data and a flat report, perf-NAME-CONNS.txt, in BUILD_DIR/gwbench).
want() { [ -z "${BENCH_GATEWAY_ROWS:-}" ] || [[ " $BENCH_GATEWAY_ROWS " == *" $1 "* ]]; }
run() { # name conns script url [duration] short-name
    want "$6" || return 0
    local t=$(( $2 > 1 ? 2 : 1 ))
    local out perf_pid=""
    if [ -n "${BENCH_GATEWAY_PERF:-}" ] && [ "$BENCH_GATEWAY_PERF" = "$6" ] && command -v perf >/dev/null; then
        local ps
        ps=$(for p in "${ACCT_PIDS[@]}"; do for q in $p; do acct_tree_pids "$q"; done; done | paste -sd,)
        perf record -q -F 499 -g -p "$ps" -o "$work/perf-$6-$2.data" 2>/dev/null &
        perf_pid=$!
    fi
    acct_begin
    out=$(wrk -t"$t" -c"$2" -d"${5:-$dur}" --latency ${3:+-s "$3"} "$4" 2>&1)
    if [ -n "$perf_pid" ]; then
        kill -INT "$perf_pid" 2>/dev/null || true
        wait "$perf_pid" || true
        perf report -i "$work/perf-$6-$2.data" --no-children --sort comm,dso,sym --stdio 2>/dev/null |
            grep -v '^$' | head -400 >"$work/perf-$6-$2.txt" || true
    fi
    local rps p50 p99 non2xx n
    n=$(awk '/requests in/ {print $1}' <<<"$out")
    printf '| %s | %s | %s %s\n' "$1" "$2" "$(awk '/Requests\/sec/ {printf "%.0f |", $2}' <<<"$out")" \
        "$(acct_end "${n:-0}")" >>"$work/cpu.md"
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    p50=$(awk '$1=="50%" {print $2}' <<<"$out")
    p99=$(awk '$1=="99%" {print $2}' <<<"$out")
    non2xx=$(awk '/Non-2xx/ {print $5}' <<<"$out")
    printf '| %s | %s | %s | %s | %s | %s |\n' "$1" "$2" "$rps" "$p50" "$p99" "${non2xx:-0}"
    [ -z "${6:-}" ] || printf '%s\t%s\t%s\t%s\n' "$6" "$2" "$rps" "$(to_ms "$p99")" >>"$work/rows.tsv"
}
to_ms() { # wrk's "5.83ms" / "830.00us" / "1.20s" → milliseconds
    awk '{v=$1; if (v ~ /us$/) {sub(/us$/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v*=1000}; printf "%.3f", v}' <<<"$1"
}
: >"$work/rows.tsv"
: >"$work/cpu.md"
echo "## Gateway under load (wrk on loopback, $dur per row; 100,000 rooms, hot room of 10,000)"
echo
echo "| endpoint | conns | req/s | p50 | p99 | non-2xx |"
echo "|---|---:|---:|---:|---:|---:|"
# Like the peer's run.sh, each endpoint is warmed up at 32 connections before it is measured
# (BENCH_GATEWAY_WARMUP, 2 s; the draw's on the previous prize, the row then on a fresh one).
warm() { wrk -t2 -c32 -d"${BENCH_GATEWAY_WARMUP:-2s}" ${2:+-s "$2"} "$1" >/dev/null 2>&1 || true; }
list_q="/v1/rooms?status=ACTIVE&pageSize=20"
for c in 32 1; do
    want list && warm "$gw$list_q"
    run "GET $list_q (anonymous)" $c "" "$gw$list_q" "" list
    want list-nocache && warm "$gw_nocache$list_q"
    run "GET $list_q (anonymous), no cache" $c "" "$gw_nocache$list_q" "" list-nocache
    want list-member-nocache && warm "$gw_nocache$list_q" "$work/member.lua"
    run "GET $list_q (bench-user: private memberships), no cache" $c "$work/member.lua" \
        "$gw_nocache$list_q" "" list-member-nocache
    want get && warm "$gw/v1/rooms/$hot" "$work/get.lua"
    run "GET /v1/rooms/{hot} (JWT)" $c "$work/get.lua" "$gw/v1/rooms/$hot" "" get
    want get-nocache && warm "$gw_nocache/v1/rooms/$hot" "$work/get.lua"
    run "GET /v1/rooms/{hot} (JWT), no cache" $c "$work/get.lua" "$gw_nocache/v1/rooms/$hot" "" get-nocache
    want draw && warm "$gw/v1/rooms/$hot/draws" "$work/draw.lua" && new_prize
    run "POST /v1/rooms/{hot}/draws count 1 (JWT), fresh prize, $draw_dur" $c "$work/draw.lua" \
        "$gw/v1/rooms/$hot/draws" "$draw_dur" draw
    want join && warm "$gw" "$(join_script "joiner-warm-$c" 2)"
    run "POST /v1/rooms/{r}/participants {} (JWT, a new member each), $draw_dur" $c \
        "$(join_script "joiner-$c" "$(( c > 1 ? 2 : 1 ))")" "$gw" "$draw_dur" join
done
echo
echo "### CPU per request, by process (µs of CPU time per completed request; load average $(cut -d' ' -f1-3 /proc/loadavg) at the end)"
echo
echo "| endpoint | conns | req/s $(acct_header | head -1)"
echo "|---|---:|---:$(acct_header | tail -1)"
cat "$work/cpu.md"
echo
# The peer's figures are printed only from a run made in this same invocation (make bench-peer
# sets CONFETTI_PEER_RUNS to the TSV it just wrote): a figure copied from elsewhere is not a
# side-by-side measurement.
if [ -n "${CONFETTI_PEER_RUNS:-}" ] && [ -r "$CONFETTI_PEER_RUNS" ]; then
    echo "### Side by side with the Node.js peer, measured in this invocation (../shared/peers/fastify, 1 worker)"
    echo
    echo "| row | conns | Confetti req/s | p99 ms | peer req/s | peer p99 ms | ratio |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    awk -F'\t' '
        NR == FNR { if (FNR > 1 && $1 == "1w") { n = ++cnt[$2 SUBSEP $3]; rps[$2 SUBSEP $3, n] = $5; p99[$2 SUBSEP $3, n] = $7 } next }
        function med(arr, k, n,   i, j, t, a) {
            for (i = 1; i <= n; i++) a[i] = arr[k, i]
            for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
            return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
        }
        {
            ep = $1; sub(/-nocache$/, "", ep); k = ep SUBSEP $2; n = cnt[k]
            if (!n) { printf "| %s | %s | %s | %s | (no peer row) | | |\n", $1, $2, $3, $4; next }
            pr = med(rps, k, n); pp = med(p99, k, n)
            printf "| %s | %s | %.0f | %.2f | %.0f | %.2f | %.2f |\n", $1, $2, $3, $4, pr, pp, $3 / pr
        }' "$CONFETTI_PEER_RUNS" "$work/rows.tsv"
else
    echo "Peer: none measured in this invocation (make bench-peer runs ../shared/peers/fastify first"
    echo "and prints it beside these rows; figures from another run are not a side-by-side)."
fi
