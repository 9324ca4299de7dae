#!/usr/bin/env bash
# tools/bench/run.sh BUILD_DIR — runs every benchmark and prints their tables (make bench).
set -euo pipefail
build=${1:-build}
secs=${BENCH_SECONDS:-2}
for b in "$build"/tools/bench/bench_rpc "$build"/tools/bench/bench_authn; do
  [ -x "$b" ] || continue
  echo
  "$b" "$secs"
done
