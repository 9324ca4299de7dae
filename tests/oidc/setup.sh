#!/usr/bin/env bash
# setup.sh SRC DEST — the test OpenID provider's node modules: copies package.json, the lockfile
# and the scripts to DEST (a build directory) and runs `npm ci` there once (ctest fixture
# oidc_npm). Never touches the source tree.
set -eu
src=$1 dest=$2
mkdir -p "$dest"
for f in package.json package-lock.json server.mjs verify.mjs; do
  cmp -s "$src/$f" "$dest/$f" 2>/dev/null || cp "$src/$f" "$dest/$f"
done
if [ ! -d "$dest/node_modules/oidc-provider" ] || [ "$src/package-lock.json" -nt "$dest/node_modules/.stamp" ]; then
  # Trust the system's CA store too (a proxying registry mirror's CA lives there), and try
  # twice: a registry hiccup should not fail the suite.
  if [ -z "${NODE_EXTRA_CA_CERTS:-}" ] && [ -r /etc/ssl/certs/ca-certificates.crt ]; then
    export NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
  fi
  # npm's cache in the temporary directory, not in HOME: the suite writes nothing outside
  # the checkout and /tmp (an unprivileged user's HOME may not even be writable)
  export npm_config_cache="${npm_config_cache:-/tmp/confetti-npm-cache-$(id -u)}"
  export npm_config_update_notifier=false
  (cd "$dest" && { npm ci --no-audit --no-fund --ignore-scripts ||
                   { sleep 5; npm ci --no-audit --no-fund --ignore-scripts; }; })
  touch "$dest/node_modules/.stamp"
fi
