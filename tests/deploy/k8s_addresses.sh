#!/usr/bin/env bash
# tests/deploy/k8s_addresses.sh BUILD_DIR — the Kubernetes manifests wire the services together:
# for every Deployment in deploy/k8s/base, the process's effective configuration (its ConfigMap
# file, deploy/k8s/base/config/<svc>.yaml, plus the Deployment's CONFETTI_* environment, as the pod gets
# them) listens on and dials no loopback address, and sets no rpc.hosts_file (a test facility). A
# pod that listens on 127.0.0.1 is unreachable and one that dials 127.0.0.1 finds nothing: the
# defaults are for `make run`, not for a cluster.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "$1" && pwd)
fail=0
for svc in bus catalog auth rooms draw gateway; do
    manifest=$root/deploy/k8s/base/$svc.yaml
    bin=$build/services/$svc/confetti-$svc
    [ -x "$bin" ] || { echo "k8s: $bin not built"; exit 1; }
    # the Deployment's container env: "- {name: X, value: Y}" lines up to the container's ports
    envs=()
    # the ConfigMap every pod loads with envFrom first (the Deployment's env wins over it)
    while IFS= read -r line; do
        case $line in '#'* | '') continue ;; esac
        envs+=("$line")
    done <"$root/deploy/k8s/base/overrides.env"
    while IFS= read -r line; do
        name=$(sed -E 's/.*name: *([A-Z0-9_]+).*/\1/' <<<"$line")
        value=$(sed -E 's/.*value: *"?([^"}]*)"?\}.*/\1/' <<<"$line")
        case $name in *_FILE) continue ;; esac # files mounted in the pod, absent here
        envs+=("$name=$value")
    done < <(awk '/kind: Deployment/ {d=1} d && /ports:/ {exit} d && /- \{name: CONFETTI_/' "$manifest")
    [ ${#envs[@]} -gt 0 ] || { echo "k8s: no CONFETTI_ environment found in $manifest"; fail=1; }
    out=$(env -i PATH="$PATH" "${envs[@]}" "$bin" --config "$root/deploy/k8s/base/config/$svc.yaml" \
        --check-config 2>&1) || { echo "k8s: $svc --check-config failed:"; echo "$out"; fail=1; continue; }
    # every address the process listens on or dials (rpc/admin/http listen, peer urls, the bus)
    bad=$(grep -E '^ *(listen|urls|jwks_urls|bus|subscribe|publishers|subscribers|catalog|auth|rooms|draw): .*(127\.0\.0\.1|localhost|ipc://)' <<<"$out" || true)
    # rpc.hosts_file is a test/development facility: in a pod, peers' names come from DNS
    if grep -qE '^ *hosts_file: *"?[^" ]' <<<"$out"; then
        echo "k8s: $svc (deploy/k8s/base/$svc.yaml) sets rpc.hosts_file (tests and development only):"
        grep -E '^ *hosts_file:' <<<"$out"
        fail=1
    fi
    if [ -n "$bad" ]; then
        echo "k8s: $svc (deploy/k8s/base/$svc.yaml) would use loopback addresses in a pod:"
        echo "$bad"
        fail=1
    else
        echo "k8s: $svc ok (${#envs[@]} variables)"
    fi
done
exit $fail
