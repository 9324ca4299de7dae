#!/usr/bin/env bash
# tools/dev/stress.sh BUILD_DIR [RUNS] — the flaky-test check (docs/operations.md, "Testing"):
# runs the whole suite (ctest -j2) RUNS times in a row (default 5) beside one busy loop per core,
# so every timing assumption a test makes is tried on a starved machine. Prints one line per run
# and exits non-zero if any run had a failure. The busy loops are this script's own children and
# are killed by pid on exit.
set -euo pipefail
build=${1:?usage: tools/dev/stress.sh BUILD_DIR [RUNS]}
runs=${2:-5}
pids=()
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
for _ in $(seq "$(nproc)"); do
  sh -c 'while :; do :; done' &
  pids+=($!)
done
failed=0
for i in $(seq "$runs"); do
  start=$(date +%s)
  log="$build/stress-run-$i.log"
  if ctest --test-dir "$build" --output-on-failure -j2 >"$log" 2>&1; then
    status=ok
  else
    status=FAILED
    failed=1
  fi
  summary=$(grep -E "tests passed|tests failed" "$log" | tail -1)
  echo "run $i: $status in $(( $(date +%s) - start )) s: $summary (log: $log)"
  grep -E "^\s+[0-9]+ - " "$log" || true
done
exit $failed
