#!/usr/bin/env bash
# deploy/k8s/secrets.sh OVERLAY COMMAND — the files of an overlay's Secrets, under OVERLAY/secrets
# (git-ignored; kustomize's secretGenerator reads them). docs/operations.md, "Deploying on a
# cluster" and "Rotating the signing key".
#   init          makes what is missing: a signing key (RS256) in slot key-a.pem, the JWKS,
#                 tokens.secret, one PostgreSQL role and password per service (db/<svc>: its
#                 DSN), db/admin (the migration Jobs' administrator DSN, from
#                 $CONFETTI_DB_ADMIN_DSN). $CONFETTI_PGHOST (postgres), $CONFETTI_PGDATABASE
#                 (confetti), $CONFETTI_PGSSLMODE (prefer) shape the DSNs. Service identity:
#                 an Ed25519 key pair per process (ident/<svc>.key, ident/trust/<svc>.pub).
#   add-key       rotation step 1: a new key in the free slot, published in the JWKS, not signing
#   promote-key   rotation step 2: the newest key signs; the previous one is still published
#   retire-key    rotation step 3 (after tokens.access_ttl): only the signing key is left
#   show          the signing keys' kids, the signing one first
# After each command: kubectl apply -k OVERLAY && kubectl -n confetti rollout restart deploy/auth
set -euo pipefail
usage() { echo "usage: $0 OVERLAY_DIR init|add-key|promote-key|retire-key|show" >&2; exit 2; }
[ $# -eq 2 ] || usage
dir=$1/secrets cmd=$2
[ -d "$1" ] || { echo "$1: no such overlay directory" >&2; exit 2; }
umask 077
mkdir -p "$dir/signing" "$dir/db" "$dir/ident/trust"
keys=$dir/signing/keys
mount=/etc/confetti/signing

newkid() { echo "k$(date -u +%Y%m%d%H%M%S)$(openssl rand -hex 2)"; }
newkey() { openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null; }
# the JWKS of every key named in the keys file, as verifiers read it (kid, alg, kty, n, e)
jwks() {
    local entries=() e
    IFS=, read -r -a entries <"$keys" || true
    local files=()
    for e in "${entries[@]}"; do files+=("${e%%=*}" "$dir/signing/$(basename "${e#*=}")"); done
    node -e '
      const fs = require("fs"), crypto = require("crypto");
      const a = process.argv.slice(1), keys = [];
      for (let i = 0; i < a.length; i += 2) {
        const jwk = crypto.createPublicKey(fs.readFileSync(a[i + 1])).export({format: "jwk"});
        keys.push({kty: jwk.kty, kid: a[i], alg: "RS256", use: "sig", n: jwk.n, e: jwk.e});
      }
      process.stdout.write(JSON.stringify({keys}) + "\n");' "${files[@]}" >"$dir/signing/jwks.json.tmp"
    mv "$dir/signing/jwks.json.tmp" "$dir/signing/jwks.json"
}
entries() { IFS=, read -r -a E <"$keys" || true; }
slot_of() { basename "${1#*=}"; }

case $cmd in
init)
    if [ ! -s "$keys" ]; then
        kid=$(newkid)
        newkey "$dir/signing/key-a.pem"
        : >"$dir/signing/key-b.pem"
        printf '%s' "$kid=$mount/key-a.pem" >"$keys"
    fi
    [ -e "$dir/signing/key-b.pem" ] || : >"$dir/signing/key-b.pem"
    jwks
    # service identity (docs/operations.md, "Service identity"): what is missing only, so a
    # rerun keeps the keys in use; delete one pair and rerun to rotate that service's key
    for s in bus catalog auth rooms draw gateway; do
        if [ ! -s "$dir/ident/$s.key" ] || [ ! -s "$dir/ident/trust/$s.pub" ]; then
            openssl genpkey -algorithm ed25519 -out "$dir/ident/$s.key" 2>/dev/null
            openssl pkey -in "$dir/ident/$s.key" -pubout -out "$dir/ident/trust/$s.pub"
        fi
    done
    [ -s "$dir/tokens-secret" ] || openssl rand -hex 32 | tr -d '\n' >"$dir/tokens-secret"
    host=${CONFETTI_PGHOST:-postgres} db=${CONFETTI_PGDATABASE:-confetti}
    ssl=${CONFETTI_PGSSLMODE:-prefer}
    for s in auth catalog rooms draw; do
        [ -s "$dir/db/$s" ] ||
            printf 'host=%s dbname=%s user=confetti_%s password=%s sslmode=%s' "$host" "$db" "$s" \
                "$(openssl rand -hex 24)" "$ssl" >"$dir/db/$s"
    done
    if [ ! -s "$dir/db/admin" ]; then
        if [ -n "${CONFETTI_DB_ADMIN_DSN:-}" ]; then
            printf '%s' "$CONFETTI_DB_ADMIN_DSN" >"$dir/db/admin"
        else
            printf 'host=%s dbname=%s user=postgres password=CHANGE-ME sslmode=%s' "$host" "$db" \
                "$ssl" >"$dir/db/admin"
            echo "secrets: $dir/db/admin holds a placeholder: write the DSN of a role that may" \
                 "CREATE ROLE and CREATE SCHEMA there (or set CONFETTI_DB_ADMIN_DSN and rerun)" >&2
        fi
    fi
    ;;
add-key)
    entries
    [ ${#E[@]} -eq 1 ] || { echo "secrets: two keys already (retire-key first)" >&2; exit 1; }
    free=key-b.pem
    [ "$(slot_of "${E[0]}")" = key-b.pem ] && free=key-a.pem
    newkey "$dir/signing/$free"
    printf '%s' "${E[0]},$(newkid)=$mount/$free" >"$keys"
    jwks
    ;;
promote-key)
    entries
    [ ${#E[@]} -eq 2 ] || { echo "secrets: no second key to promote (add-key first)" >&2; exit 1; }
    printf '%s' "${E[1]},${E[0]}" >"$keys"
    jwks
    ;;
retire-key)
    entries
    [ ${#E[@]} -eq 2 ] || { echo "secrets: only one key: nothing to retire" >&2; exit 1; }
    printf '%s' "${E[0]}" >"$keys"
    : >"$dir/signing/$(slot_of "${E[1]}")"
    jwks
    ;;
show) ;;
*) usage ;;
esac
entries
echo "signing keys (the first signs): ${E[*]%%=*}"
