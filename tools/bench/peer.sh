#!/usr/bin/env bash
# tools/bench/peer.sh BUILD_DIR — runs the Node.js peer (../shared/peers/fastify: Fastify +
# node-postgres, the same three endpoints, the same wrk shapes) on this machine now, so that
# `make bench-peer` can put its figures beside ours from one invocation (issue 17 item 5).
# Prints only the path of the peer's per-run TSV on standard output (its log goes to stderr).
# The peer folder is read-only where it lies: it is copied to a temporary directory first, as its
# README asks.
# PEER_RUNS (default 1) runs of PEER_DUR (default 10s) per row, one node worker (MODES=1).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-build}" && pwd)
peers=${CONFETTI_PEERS_DIR:-$root/../shared/peers}
if [ ! -x "$peers/fastify/run.sh" ] && [ ! -f "$peers/fastify/run.sh" ]; then
    echo "bench-peer: no peer at $peers/fastify (set CONFETTI_PEERS_DIR)" >&2
    exit 1
fi
copy=$(mktemp -d "${TMPDIR:-/tmp}/confetti-peer.XXXXXX")
trap 'rm -rf -- "$copy"' EXIT
cp -r "$peers/." "$copy/"
results=$build/peer-results
rm -rf "$results"
# The peer's own script installs wrk and its npm packages and starts its own PostgreSQL.
RESULTS=$results MODES=1 RUNS=${PEER_RUNS:-1} DUR=${PEER_DUR:-10s} MAX_TRIES=${PEER_MAX_TRIES:-1} \
    npm_config_cache=${npm_config_cache:-/tmp/confetti-npm-cache-$(id -u)} \
    bash "$copy/fastify/run.sh" >&2
echo "$results/runs.tsv"
