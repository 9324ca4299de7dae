#!/usr/bin/env bash
# tools/fuzz.sh BUILD SECONDS — `make fuzz`: runs every libFuzzer target built in BUILD (the
# executables BUILD/tests/fuzz/fuzz_*, defined in tests/fuzz/CMakeLists.txt) for SECONDS each,
# one after the other, through tests/fuzz/run.sh. Each target's corpus grows in
# BUILD/fuzz-corpus/<name> across runs (the committed seeds stay as they are); logs go to
# BUILD/fuzz-corpus/<name>.log and crash inputs to BUILD/fuzz-corpus/artifacts-<name>/.
# Prints one line per target (executions, exec/s, coverage, corpus) and fails if any target
# found a crash, a leak, a timeout or an out-of-memory.
set -uo pipefail
build=${1:?usage: tools/fuzz.sh BUILD SECONDS} secs=${2:?usage: tools/fuzz.sh BUILD SECONDS}
root=$(cd "$(dirname "$0")/.." && pwd)
out=$build/fuzz-corpus
mkdir -p "$out"
failed=()
printf '%-12s %8s %10s %8s %7s %7s %s\n' target seconds execs exec/s cov ft result
for bin in "$build"/tests/fuzz/fuzz_*; do
  if [ ! -x "$bin" ] || [ ! -f "$bin" ]; then continue; fi
  name=${bin##*/fuzz_}
  log=$out/$name.log
  "$root/tests/fuzz/run.sh" "$bin" "$name" "$secs" "$out/$name" >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+[[:space:]]' "$log" | tail -1)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  result=ok
  if [ $rc -ne 0 ]; then
    result="FAILED (exit $rc): $(grep -m1 -E 'ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer)|runtime error' "$log" || true) — see $log"
    failed+=("$name")
  fi
  printf '%-12s %8s %10s %8s %7s %7s %s\n' "$name" "$secs" "${execs:-?}" "${rate:-?}" \
    "${cov:-?}" "${ft:-?}" "$result"
done
if [ ${#failed[@]} -ne 0 ]; then
  echo "fuzz: findings in: ${failed[*]}" >&2
  exit 1
fi
