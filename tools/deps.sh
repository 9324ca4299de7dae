#!/usr/bin/env bash
# tools/deps.sh — installs the Debian 12 packages Confetti builds, tests and runs with.
# Root: installs what is missing with apt-get. Not root: prints the one command to run.
set -euo pipefail

PACKAGES=(
  # toolchain
  gcc make cmake pkg-config
  # the libFuzzer build (tests/fuzz): clang 14 and its runtime (libFuzzer, ASan, UBSan)
  clang libclang-rt-14-dev
  # libraries (see docs/decisions.md for why each)
  libnng-dev libprotobuf-c-dev protobuf-c-compiler libprotobuf-dev
  libpq-dev libjwt-dev libyaml-dev libjansson-dev libcurl4-openssl-dev libssl-dev
  libpcre2-dev libmicrohttpd-dev libutf8proc-dev
  # argon2id password hashes (auth: crypto_pwhash_str)
  libsodium-dev
  # tests: cmocka, a real PostgreSQL server (run privately, never the system one)
  libcmocka-dev postgresql-15
  # the SMTP server the mail tests deliver to (tests/integration/auth/test_password.c), and the
  # openssl command that makes test_mailer.c's certificates for its STARTTLS
  python3-aiosmtpd openssl
  # scripts (shellcheck: every script is checked in make test)
  procps util-linux shellcheck
  # the README's commands (tests/dev/readme_commands.sh runs them) and the bench
  curl
  # docs/rpc.md's worked example (examples/python, ctest example_python): Debian's python3 with
  # Google's protobuf runtime, protoc for its classes, libnng1 through ctypes
  python3 python3-protobuf protobuf-compiler libnng1
  # the test OpenID provider (tests/oidc: oidc-provider, jose)
  nodejs npm
  # the page at / in a real headless browser (tests/browser: playwright-core drives it)
  chromium
)

# Satisfied by a command already on PATH, whatever package brought it (e.g. a nodesource
# nodejs, which bundles npm and conflicts with Debian's npm package).
declare -A BY_COMMAND=([nodejs]=node [npm]=npm)

missing=()
for p in "${PACKAGES[@]}"; do
  if [ -n "${BY_COMMAND[$p]:-}" ] && command -v "${BY_COMMAND[$p]}" >/dev/null 2>&1; then
    continue
  fi
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "Missing Debian packages: ${missing[*]}" >&2
  echo "Install them with:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi

echo "Installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# A package's own service must not start (we run a private PostgreSQL under var/ or build/).
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && created_policy=1
fi
trap '[ $created_policy -eq 1 ] && rm -f "$policy"' EXIT
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
