#!/usr/bin/env bash
# tests/fuzz/run.sh BINARY NAME SECONDS CORPUS_DIR [fresh]
# Runs one libFuzzer target for SECONDS: seeds from tests/fuzz/corpus/NAME (read only), new
# inputs written to CORPUS_DIR (emptied first when the 5th argument is "fresh": ctest does that,
# `make fuzz` keeps it so runs add up), options from tests/fuzz/NAME.options, crash inputs to
# CORPUS_DIR/../artifacts-NAME/. Exit status: 0, or libFuzzer's when it found a crash, a leak or
# a timeout (the input that did it is named in the output).
set -euo pipefail
bin=$1 name=$2 secs=$3 corpus=$4 mode=${5:-keep}
here=$(cd "$(dirname "$0")" && pwd)
seeds=$here/corpus/$name
artifacts=$(dirname "$corpus")/artifacts-$name
[ "$mode" = fresh ] && rm -rf "$corpus"
mkdir -p "$corpus" "$artifacts"
opts=()
if [ -f "$here/$name.options" ]; then
  while read -r line; do
    case "$line" in ''|'#'*) ;; *) opts+=("$line") ;; esac
  done < "$here/$name.options"
fi
# A smaller quarantine than the default 256 MB: fresh pages are what a fuzz run spends its time
# on in a VM (page faults), and 64 MB still holds thousands of inputs' freed blocks.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:quarantine_size_mb=64}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
echo "fuzz_$name: ${secs}s, seeds $seeds, corpus $corpus, ${opts[*]}"
exec "$bin" "${opts[@]}" -max_total_time="$secs" -print_final_stats=1 \
  -artifact_prefix="$artifacts/" "$corpus" "$seeds" </dev/null
