#!/usr/bin/env bash
# pg.sh — the ctest fixture for the private PostgreSQL cluster (tests/harness/CMakeLists.txt):
#   pg.sh start DIR   a throwaway cluster in DIR (fsync off); tests read DIR/env
#   pg.sh stop  DIR   stops it and removes DIR; succeeds if it is already gone
# Works as root (CI: the server runs as `postgres`) and as a normal user.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
pgctl=$here/../../tools/dev/pgctl.sh

[ $# -eq 2 ] || {
    echo "usage: pg.sh start|stop DIR" >&2
    exit 2
}
dir=$2

case "$1" in
start)
    "$pgctl" --fsync-off start "$dir"
    echo "pg fixture: $(cat "$dir/env")"
    ;;
stop)
    "$pgctl" stop "$dir"
    rm -rf -- "$dir"
    ;;
*)
    echo "usage: pg.sh start|stop DIR" >&2
    exit 2
    ;;
esac
