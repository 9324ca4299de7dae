#!/usr/bin/env bash
# shell_scripts.sh SRC — every shell script of the tree passes shellcheck (Debian's shellcheck):
# the scripts that start the platform and the tests run from any path, as any user, so quoting
# mistakes are bugs. A script is a tracked *.sh file or a tracked file whose first line names sh
# or bash. Without git (an unpacked tarball) every file under SRC is looked at.
set -euo pipefail
src=$1
cd "$src"
command -v shellcheck >/dev/null || {
    echo "shellcheck is not installed (tools/deps.sh installs it)" >&2
    exit 1
}
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    mapfile -d '' files < <(git ls-files -z)
else
    mapfile -d '' files < <(find . -type f -not -path './build*' -not -path '*/node_modules/*' \
        -not -path './var/*' -print0)
fi
scripts=()
for f in "${files[@]}"; do
    [ -f "$f" ] || continue
    case $f in
    *.sh) scripts+=("$f") ;;
    *.c | *.h | *.md | *.proto | *.yaml | *.json | *.sql | *.mjs | *.txt | *.cmake) ;;
    *) if head -n1 -- "$f" | grep -qE '^#!.*\b(sh|bash)\b'; then scripts+=("$f"); fi ;;
    esac
done
[ ${#scripts[@]} -gt 0 ] || {
    echo "no shell scripts found under $src" >&2
    exit 1
}
echo "shellcheck: ${#scripts[@]} scripts"
shellcheck -x -- "${scripts[@]}"
