#!/usr/bin/env bash
# tests/deploy/kube.sh BUILD_DIR — the Kubernetes manifests, offline (no cluster here; issue 15):
#  1. both overlays render (render.mjs; and the same objects as `kubectl kustomize` where kubectl
#     is installed) with Secrets made by deploy/k8s/secrets.sh;
#  2. every object passes the Kubernetes API schemas of kubernetes-models with no unknown field,
#     and Confetti's rules (probes, requests/limits, securityContext, PDB, NetworkPolicy, HPA,
#     peers dialed by name are headless Services on the pods' own ports);
#  3. a copy of a manifest with a misspelt field, a wrongly typed value or a dropped rule fails;
#  4. the signing key rotation keeps the JWKS and the kid list in step, each key verifying.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "$1" && pwd)
tools=$build/deploy-k8s
mkdir -p "$tools"
for f in package.json package-lock.json render.mjs validate.mjs; do
    cmp -s "$here/$f" "$tools/$f" 2>/dev/null || cp "$here/$f" "$tools/$f"
done
if [ ! -d "$tools/node_modules/kubernetes-models" ] ||
    [ "$here/package-lock.json" -nt "$tools/node_modules/.stamp" ]; then
    if [ -z "${NODE_EXTRA_CA_CERTS:-}" ] && [ -r /etc/ssl/certs/ca-certificates.crt ]; then
        export NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
    fi
    export npm_config_cache="${npm_config_cache:-/tmp/confetti-npm-cache-$(id -u)}"
    export npm_config_update_notifier=false
    (cd "$tools" && { npm ci --no-audit --no-fund --ignore-scripts >/dev/null ||
        { sleep 5; npm ci --no-audit --no-fund --ignore-scripts >/dev/null; }; })
    touch "$tools/node_modules/.stamp"
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/confetti-k8s.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail=0
bad() { echo "k8s: FAIL: $*"; fail=1; }

# 1 + 2: a copy of deploy/k8s with Secrets, each overlay rendered and checked
cp -r "$root/deploy/k8s" "$work/k8s"
rm -rf "$work/k8s/overlays/"*/secrets
for o in dev prod; do
    "$work/k8s/secrets.sh" "$work/k8s/overlays/$o" init >/dev/null 2>&1 ||
        bad "secrets.sh $o init failed"
    node "$tools/render.mjs" "$work/k8s/overlays/$o" >"$work/$o.yaml" || { bad "render $o"; continue; }
    node "$tools/validate.mjs" "$work/$o.yaml" | sed "s/^k8s: /k8s: $o: /" ||
        bad "overlay $o does not pass the schemas and rules"
    if command -v kubectl >/dev/null 2>&1 && kubectl kustomize "$work/k8s/overlays/$o" \
        >"$work/$o-kubectl.yaml" 2>"$work/kubectl.err"; then
        node "$tools/validate.mjs" --same "$work/$o.yaml" "$work/$o-kubectl.yaml" |
            sed "s/^k8s: /k8s: $o vs kubectl kustomize: /" || bad "render.mjs and kubectl kustomize differ on $o"
    else
        echo "k8s: $o: kubectl kustomize not available here, render.mjs only"
    fi
done

# 3: broken copies must fail, naming the place
broken() { # NAME SED-EXPRESSION EXPECTED-TEXT
    rm -rf "$work/b" && cp -r "$work/k8s" "$work/b"
    sed -i -E "$2" "$work/b/base/draw.yaml"
    cmp -s "$work/b/base/draw.yaml" "$work/k8s/base/draw.yaml" && { bad "$1: the edit changed nothing"; return; }
    node "$tools/render.mjs" "$work/b/overlays/dev" >"$work/b.yaml"
    if out=$(node "$tools/validate.mjs" "$work/b.yaml"); then
        bad "$1: a broken manifest passed the check"
    elif ! grep -q -- "$3" <<<"$out"; then
        bad "$1: the check failed without naming it ($3):"; echo "$out"
    else
        echo "k8s: $1: refused as it should: $(grep -m1 -- "$3" <<<"$out")"
    fi
}
broken "misspelt field" '0,/readinessProbe:/s//readinesProbe:/' 'unknown field "readinesProbe"'
broken "wrong type" '0,/runAsNonRoot: true/s//runAsNonRoot: "yes"/' 'runAsNonRoot: must be boolean'
broken "misplaced field" '0,/failureThreshold: 45/s//failureThreshold: 45\n            timeoutSecond: 2/' \
    'unknown field "timeoutSecond"'
broken "writable root" '0,/readOnlyRootFilesystem: true/s//readOnlyRootFilesystem: false/' \
    'readOnlyRootFilesystem is not true'
broken "peer behind a cluster IP" '/clusterIP: None/d' 'Service/draw: dialed by name'
broken "port only the Service maps" '0,/containerPort: 7104/s//containerPort: 7204/' \
    'no pod it selects listens on 7104'
broken "no limits" '0,/limits: \{cpu: "1", memory: 256Mi\}/s//limits: {memory: 256Mi}/' \
    'no resources.limits.cpu'

# 4: key rotation: add (published, not signing), promote (signs), retire (gone)
ov=$work/k8s/overlays/dev
kids() { node -e 'const j = JSON.parse(require("fs").readFileSync(process.argv[1]));
                  console.log(j.keys.map((k) => k.kid).join(" "))' "$ov/secrets/signing/jwks.json"; }
listed() { tr ',' '\n' <"$ov/secrets/signing/keys" | sed 's/=.*//' | tr '\n' ' ' | sed 's/ $//'; }
first=$(listed)
"$root/deploy/k8s/secrets.sh" "$ov" add-key >/dev/null
if [ "$(listed)" != "$(kids)" ] || [ "$(listed | cut -d' ' -f1)" != "$first" ] ||
    [ "$(listed | wc -w)" -ne 2 ]; then
    bad "add-key: keys '$(listed)' jwks '$(kids)'"
fi
second=$(listed | cut -d' ' -f2)
"$root/deploy/k8s/secrets.sh" "$ov" promote-key >/dev/null
if [ "$(listed)" != "$second $first" ] || [ "$(kids)" != "$second $first" ]; then
    bad "promote-key: $(listed)"
fi
# each listed key's public half is the JWKS entry of its kid: a token it signs verifies
node -e '
  const fs = require("fs"), crypto = require("crypto"), dir = process.argv[1];
  const jwks = JSON.parse(fs.readFileSync(dir + "/jwks.json")).keys;
  for (const e of fs.readFileSync(dir + "/keys", "utf8").split(",")) {
    const [kid, file] = e.split("=");
    const priv = fs.readFileSync(dir + "/" + file.split("/").pop());
    const sig = crypto.sign("sha256", Buffer.from("x"), priv);
    const pub = crypto.createPublicKey({key: jwks.find((k) => k.kid === kid), format: "jwk"});
    if (!crypto.verify("sha256", Buffer.from("x"), pub, sig)) { console.log("kid " + kid); process.exit(1); }
  }' "$ov/secrets/signing" || bad "a signing key does not match its JWKS entry"
"$root/deploy/k8s/secrets.sh" "$ov" retire-key >/dev/null
if [ "$(listed)" != "$second" ] || [ "$(kids)" != "$second" ]; then
    bad "retire-key: $(listed)"
fi
if ! node "$tools/render.mjs" "$ov" >"$work/rotated.yaml" ||
    ! node "$tools/validate.mjs" "$work/rotated.yaml" >/dev/null; then
    bad "the overlay does not render after a rotation"
fi
echo "k8s: key rotation add/promote/retire ok"

[ $fail -eq 0 ] && echo "k8s: manifests ok" || echo "k8s: manifests FAILED"
exit $fail
