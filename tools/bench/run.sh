#!/usr/bin/env bash
# tools/bench/run.sh BUILD_DIR — runs every benchmark and prints their tables (make bench).
# Benchmarks that need PostgreSQL get a private cluster for the run (stopped at the end).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-build}" && pwd)
secs=${BENCH_SECONDS:-2}
pgdir=$build/benchpg
"$root/tests/harness/pg.sh" start "$pgdir" >/dev/null
trap '"$root/tests/harness/pg.sh" stop "$pgdir" >/dev/null 2>&1 || true' EXIT
export CONFETTI_TEST_PG=$pgdir/env
for b in "$build"/tools/bench/bench_*; do
  [ -x "$b" ] || continue
  echo
  "$b" "$secs"
done
echo
"$root/tools/bench/gateway.sh" "$build"
