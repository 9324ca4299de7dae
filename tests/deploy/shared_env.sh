#!/usr/bin/env bash
# tests/deploy/shared_env.sh BUILD_DIR — one environment for every process (issue 21 item 4,
# docs/operations.md "One environment for every process"): the six processes started with the
# same environment — deploy/k8s/base/overrides.env (the ConfigMap every Deployment loads with
# envFrom) plus one scoped override per service, several of them keys of a section another
# service also has — each pass --check-config with their deploy/config file and show their own
# override; then, for each service, a misspelled key in its scope is refused by that service,
# naming the variable, and by no other; a misspelled scope by every one.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "$1" && pwd)
services=(bus catalog auth rooms draw gateway)
# service -> "VARIABLE=value|section|key|value as --check-config prints it"
declare -A override=(
    [bus]="CONFETTI_BUS__BUS_BUFFER=2048|bus|buffer|2048"
    [catalog]="CONFETTI_CATALOG__CATALOG_SECRET_GRACE=90m|catalog|secret_grace|90m"
    [auth]="CONFETTI_AUTH__CATALOG_TIMEOUT=4s|catalog|timeout|4s"
    [rooms]="CONFETTI_ROOMS__ROOMS_MAX_DOCUMENT=32KiB|rooms|max_document|32KiB"
    [draw]="CONFETTI_DRAW__ROOMS_TIMEOUT=7s|rooms|timeout|7s"
    [gateway]="CONFETTI_GATEWAY__AUTH_REVOKED_REFRESH=20s|auth|revoked_refresh|20s"
)
shared=()
while IFS= read -r line; do
    case $line in '#'* | '') continue ;; esac
    shared+=("$line")
done <"$root/deploy/k8s/base/overrides.env"
for svc in "${services[@]}"; do shared+=("${override[$svc]%%|*}"); done

# value SECTION KEY < dump: the key's value in its section of a --check-config dump
value() { awk -v s="$1:" -v k="  $2: " '/^[^ #]/ {in_s = ($1 == s)} in_s && index($0, k) == 1 \
    {print substr($0, length(k) + 1); exit}'; }
check() { # check SVC [extra env…]: the process's --check-config output; its status in $rc
    local svc=$1
    shift
    out=$(env -i PATH="$PATH" "${shared[@]}" "$@" "$build/services/$svc/confetti-$svc" \
        --config "$root/deploy/config/$svc.yaml" --check-config 2>&1) && rc=0 || rc=$?
}
fail=0
for svc in "${services[@]}"; do
    [ -x "$build/services/$svc/confetti-$svc" ] || { echo "$svc not built"; exit 1; }
    IFS='|' read -r var section key want <<<"${override[$svc]}"
    check "$svc"
    if [ "$rc" -ne 0 ]; then
        echo "FAIL: $svc refuses the shared environment:"; echo "$out"; fail=1; continue
    fi
    got=$(value "$section" "$key" <<<"$out")
    if [ "$got" != "$want" ]; then
        echo "FAIL: $svc: $section.$key is '$got', want '$want' (from ${var%%=*})"; fail=1
    fi
    typo="${var%%=*}X=1"
    for other in "${services[@]}"; do
        check "$other" "$typo"
        if [ "$other" = "$svc" ]; then
            if [ "$rc" -eq 0 ] || ! grep -q "env ${typo%%=*}: " <<<"$out"; then
                echo "FAIL: $svc does not refuse its misspelled ${typo%%=*}:"; echo "$out"; fail=1
            fi
        elif [ "$rc" -ne 0 ]; then
            echo "FAIL: $other refuses $svc's ${typo%%=*}:"; echo "$out"; fail=1
        fi
    done
    echo "shared env: $svc ok ($section.$key = $got)"
done
for svc in "${services[@]}"; do
    check "$svc" "CONFETTI_CATLOG__CATALOG_SECRET_GRACE=1h"
    if [ "$rc" -eq 0 ] || ! grep -q "env CONFETTI_CATLOG__CATALOG_SECRET_GRACE: unknown scope" <<<"$out"; then
        echo "FAIL: $svc accepts the misspelled scope CATLOG:"; echo "$out"; fail=1
    fi
done
exit $fail
