#!/usr/bin/env bash
# deploy/docker/rootfs.sh BINARY CONFIG OUT — the root filesystem of one service's image: the
# binary (stripped) as /usr/local/bin/service, exactly the shared libraries it links (ldd, with
# their paths) and the dynamic loader, the CA certificates (auth's HTTPS calls to OpenID
# providers), /etc/passwd and /etc/group naming uid/gid 10001 (confetti), and the service's
# default configuration. No shell, no package manager, no compiler: nothing else is copied.
set -euo pipefail
[ $# -eq 3 ] || { echo "usage: $0 BINARY CONFIG OUT" >&2; exit 2; }
bin=$1 config=$2 out=$3
rm -rf "$out"
mkdir -p "$out/usr/local/bin" "$out/etc/confetti" "$out/etc/ssl/certs" "$out/tmp"
chmod 1777 "$out/tmp"
cp "$bin" "$out/usr/local/bin/service"
strip --strip-unneeded "$out/usr/local/bin/service"
cp "$config" "$out/etc/confetti/config.yaml"
# every library the loader resolves, and the loader itself (the "/lib64/ld-linux…" line)
ldd "$bin" | awk '/=> \// {print $3} /^\t\/.*ld-linux/ {print $1}' | sort -u | while read -r lib; do
    mkdir -p "$out$(dirname "$lib")"
    cp -L "$lib" "$out$lib"
    strip --strip-unneeded "$out$lib" 2>/dev/null || true
done
cp -L /etc/ssl/certs/ca-certificates.crt "$out/etc/ssl/certs/ca-certificates.crt"
printf 'confetti:x:10001:10001:confetti:/nonexistent:/nonexistent\n' >"$out/etc/passwd"
printf 'confetti:x:10001:\n' >"$out/etc/group"
printf 'hosts: files dns\n' >"$out/etc/nsswitch.conf"
