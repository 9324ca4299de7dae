#!/usr/bin/env bash
# tools/docker.sh [--check] BUILD TAG WORK SERVICE... — builds confetti/<svc>:TAG for each
# service from BUILD's binaries (Makefile.docker builds them first), with Debian's docker.io.
# When no Docker engine answers, starts a private dockerd (own socket, data root, no bridge, no
# iptables) and stops it on exit. --check then starts each image as the cluster would (read-only
# root filesystem, uid 10001, all capabilities dropped) with --check-config and its ConfigMap
# file (deploy/k8s/base/config/<svc>.yaml), starts the gateway and asks its /healthz, and checks
# each image is at most 60 MB. Exit status 77 (a skip for ctest) when no engine can run here.
set -euo pipefail
check=0
[ "${1:-}" = --check ] && { check=1; shift; }
[ $# -ge 4 ] || { echo "usage: $0 [--check] BUILD TAG WORK SERVICE..." >&2; exit 2; }
build=$1 tag=$2 work=$3
shift 3
root=$(cd "$(dirname "$0")/.." && pwd)
max_bytes=$((60 * 1000 * 1000))

if ! command -v /usr/bin/docker >/dev/null 2>&1 || ! command -v dockerd >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then
        echo "docker: installing Debian's docker.io"
        created=0
        [ -e /usr/sbin/policy-rc.d ] || {
            printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && created=1
        }
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io >/dev/null
        [ $created -eq 1 ] && rm -f /usr/sbin/policy-rc.d
    else
        echo "docker: SKIPPED: docker.io is not installed (as root: apt-get install docker.io)"
        exit 77
    fi
fi
docker() { /usr/bin/docker "$@"; }

# One run at a time on a machine: two runs (two checkouts' `make test`, or `make test` beside
# Makefile.docker) would share the private engine below, which the run that started it stops on
# exit under the other, and the same image tags, which the other overwrites mid-check. A later run
# waits here for the earlier one (flock; the lock goes with the process, even killed).
lock=${CONFETTI_DOCKER_LOCK:-/tmp/confetti-docker.lock}
if [ -w "$lock" ] || [ ! -e "$lock" ]; then exec 9>>"$lock"; else exec 9<"$lock"; fi
flock 9

started=0
state=${CONFETTI_DOCKER_STATE:-/var/lib/confetti-docker}
sock=${CONFETTI_DOCKER_SOCK:-/run/confetti-docker.sock}
pidfile=/run/confetti-docker.pid
# shellcheck disable=SC2317 # called by the EXIT trap
stop_engine() {
    if [ "$started" -eq 1 ] && [ -s "$pidfile" ]; then
        kill "$(cat "$pidfile")" 2>/dev/null || true
        for _ in $(seq 30); do kill -0 "$(cat "$pidfile" 2>/dev/null)" 2>/dev/null || break; sleep 1; done
    fi
}
trap stop_engine EXIT
if ! docker info >/dev/null 2>&1; then
    export DOCKER_HOST=unix://$sock
    if ! docker info >/dev/null 2>&1; then
        if [ "$(id -u)" -ne 0 ]; then
            echo "docker: SKIPPED: no Docker engine answers and only root can start one"
            exit 77
        fi
        mkdir -p "$state"
        dockerd --host "$DOCKER_HOST" --data-root "$state/data" --exec-root "$state/exec" \
            --pidfile "$pidfile" --bridge=none --iptables=false --ip-masq=false \
            >"$state/dockerd.log" 2>&1 &
        started=1
        for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
        if ! docker info >/dev/null 2>&1; then
            echo "docker: SKIPPED: dockerd cannot run on this machine; its last words:"
            tail -n 5 "$state/dockerd.log" | sed 's/^/  /'
            exit 77
        fi
        echo "docker: started a private dockerd ($DOCKER_HOST), stopped on exit"
    fi
fi

fail=0
for s in "$@"; do
    bin=$build/services/$s/confetti-$s
    [ -x "$bin" ] || { echo "docker: $bin is not built"; exit 1; }
    "$root/deploy/docker/rootfs.sh" "$bin" "$root/deploy/config/$s.yaml" "$work/$s"
    cp "$root/deploy/docker/Dockerfile" "$work/$s.Dockerfile"
    docker build -q -f "$work/$s.Dockerfile" -t "confetti/$s:$tag" "$work/$s" >/dev/null
    size=$(docker image inspect --format '{{.Size}}' "confetti/$s:$tag")
    echo "docker: confetti/$s:$tag $((size / 1000)) kB"
    if [ "$size" -gt $max_bytes ]; then
        echo "docker: confetti/$s:$tag is over 60 MB"
        fail=1
    fi
done
[ $check -eq 1 ] || exit $fail

# --check: each image starts as the cluster runs it
run=(docker run --rm --read-only --user 10001:10001 --cap-drop ALL
     --security-opt no-new-privileges --network none)
for s in "$@"; do
    out=$("${run[@]}" -v "$root/deploy/k8s/base/config/$s.yaml:/etc/confetti/config.yaml:ro" \
        "confetti/$s:$tag" --config /etc/confetti/config.yaml --check-config 2>&1) || {
        echo "docker: confetti/$s:$tag --check-config failed:"; echo "$out"; fail=1; continue; }
    echo "docker: confetti/$s:$tag --check-config ok"
    # no shell in the image
    if "${run[@]}" --entrypoint /bin/sh "confetti/$s:$tag" -c true >/dev/null 2>&1; then
        echo "docker: confetti/$s:$tag has a shell"; fail=1
    fi
done
case " $* " in *" gateway "*)
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    # its service identity where the cluster mounts it (docs/operations.md, "Service identity"):
    # a throwaway pair, readable by the image's user
    idir=$(mktemp -d /tmp/confetti-docker-ident.XXXXXX)
    mkdir "$idir/trust"
    openssl genpkey -algorithm ed25519 -out "$idir/key.pem" 2>/dev/null
    openssl pkey -in "$idir/key.pem" -pubout -out "$idir/trust/gateway.pub"
    chmod 0755 "$idir" "$idir/trust" && chmod 0644 "$idir/key.pem" "$idir/trust/gateway.pub"
    id=$(docker run -d --rm --read-only --user 10001:10001 --cap-drop ALL --network host \
        -e CONFETTI_ADMIN_LISTEN="http://127.0.0.1:$port" -e CONFETTI_HTTP_LISTEN=http://127.0.0.1:0 \
        -e CONFETTI_RPC_LISTEN=tcp://127.0.0.1:0 \
        -v "$idir/key.pem:/etc/confetti/ident/key.pem:ro" -v "$idir/trust:/etc/confetti/ident-trust:ro" \
        -v "$root/deploy/k8s/base/config/gateway.yaml:/etc/confetti/config.yaml:ro" \
        "confetti/gateway:$tag" --config /etc/confetti/config.yaml)
    ok=0
    for _ in $(seq 30); do
        if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then ok=1; break; fi
        sleep 1
    done
    if [ $ok -eq 1 ]; then echo "docker: gateway /healthz answers"; else
        echo "docker: gateway /healthz never answered:"; docker logs "$id" 2>&1 | tail -5; fail=1; fi
    docker stop -t 5 "$id" >/dev/null || true
    rm -rf -- "$idir"
    ;;
esac
exit $fail
