#!/usr/bin/env bash
# k8s_config_copies.sh SRC — deploy/k8s/base/config/*.yaml are copies of deploy/config/*.yaml
# (kustomize refuses files outside its directory), and must stay byte for byte the same: a key
# added to a service's config must reach the cluster's ConfigMap too. Fix: cp deploy/config/*.yaml
# deploy/k8s/base/config/
set -euo pipefail
cd "$1"
rc=0
for f in deploy/config/*.yaml; do
    copy=deploy/k8s/base/config/${f##*/}
    if ! cmp -s -- "$f" "$copy"; then
        echo "$copy differs from $f (cp deploy/config/*.yaml deploy/k8s/base/config/)" >&2
        rc=1
    fi
done
[ "$rc" -ne 0 ] || echo "deploy/k8s/base/config matches deploy/config"
exit "$rc"
