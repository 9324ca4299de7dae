#!/usr/bin/env bash
# tests/deploy/auth_oidc_example.sh BUILD_DIR — the commented provider_oidc block of
# deploy/config/auth.yaml (a generic OpenID provider, Keycloak-style) is a working example: with
# its lines uncommented (and its secret file present) confetti-auth --check-config accepts the
# file and shows the provider enabled under its name, and every key of the example is a key of
# the provider_oidc table.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "$1" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "s3cret" >"$tmp/oidc-secret"
# uncomment from "# provider_oidc:" up to the next section; the secret path points at our file
awk -v secret="$tmp/oidc-secret" '
    /^# provider_oidc:/ {on = 1}
    on && /^[a-z]/ {on = 0}
    on {sub(/^# ?/, ""); sub(/\/run\/secrets\/oidc-client-secret/, secret)}
    {print}' "$root/deploy/config/auth.yaml" >"$tmp/auth.yaml"
grep -q '^provider_oidc:' "$tmp/auth.yaml" || { echo "no provider_oidc example found"; exit 1; }
out=$(env -i PATH="$PATH" "$build/services/auth/confetti-auth" --config "$tmp/auth.yaml" \
    --check-config 2>&1) || { echo "the uncommented example is refused:"; echo "$out"; exit 1; }
section=$(awk '/^provider_oidc:/ {on = 1; next} /^[^ ]/ {on = 0} on' <<<"$out")
for want in 'enabled: true' 'name: "keycloak"' 'issuer: "https://sso.example.com/realms/confetti"' \
    'client_secret: "<redacted>"' 'redirect_uris: ["https://confetti.example.com/v1/auth/keycloak/callback"'; do
    grep -qF "  $want" <<<"$section" || { echo "provider_oidc lacks '$want':"; echo "$section"; exit 1; }
done
echo "auth.yaml: the provider_oidc example loads"
