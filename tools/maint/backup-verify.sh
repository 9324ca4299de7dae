#!/usr/bin/env bash
# backup-verify.sh — a backup that has not been restored is not known to be one (docs/
# operations.md, "Backup and restore verification").
#
#   backup-verify.sh [--keep] [--dump FILE] DSN
#       pg_dump -Fc of DSN's database into FILE (default: a temporary file, removed after),
#       pg_restore of FILE into a fresh database on the same server (<db>_verify_<pid>), then the
#       exact row count of every table compared between the two; the scratch database is
#       dropped unless --keep. Exit 0 when every table matches, 1 otherwise (the differences
#       printed).
#   backup-verify.sh --restore FILE DSN
#       restores an existing dump FILE (last night's backup) into a fresh database on DSN's
#       server, prints its tables' row counts, and drops it: the dump restores.
#   backup-verify.sh --compare DSN_A DSN_B
#       only the row-count comparison of two databases.
#
# DSN: a libpq conninfo (key=value or a postgresql:// URI) whose role may create databases and
# read every table (the platform's administrator, db.admin_dsn). Run it while writes are quiet
# (pg_dump is one snapshot, the comparison reads the live database afterwards: rows written in
# between show up as differences). Restored objects belong to the restoring role (--no-owner).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tools/maint/common.sh
. "$here/common.sh"

usage() {
    die "usage: backup-verify.sh [--keep] [--dump FILE] DSN | --restore FILE DSN | --compare DSN_A DSN_B"
}

compare() {
    local a b
    a=$(row_counts "$1") || die "cannot count the rows of the first database"
    b=$(row_counts "$2") || die "cannot count the rows of the second database"
    if [ "$a" = "$b" ]; then
        echo "$(printf '%s\n' "$a" | grep -c .) tables, row counts match:"
        printf '%s\n' "$a" | sed 's/^/  /'
        return 0
    fi
    echo "row counts differ (< first, > second):"
    diff <(printf '%s\n' "$a") <(printf '%s\n' "$b") | grep '^[<>]' || true
    return 1
}

keep=0 dump='' mode=verify
while [ $# -gt 0 ]; do
    case $1 in
    --keep) keep=1 ;;
    --dump) [ $# -ge 2 ] || usage; dump=$2; shift ;;
    --restore) [ $# -ge 2 ] || usage; mode=restore; dump=$2; shift ;;
    --compare) mode=compare ;;
    -*) usage ;;
    *) break ;;
    esac
    shift
done

if [ "$mode" = compare ]; then
    [ $# -eq 2 ] || usage
    compare "$1" "$2"
    exit
fi
[ $# -eq 1 ] || usage
dsn=$1
db=$(q -At -d "$dsn" -c "SELECT current_database()") || die "cannot connect"
scratch="${db}_verify_$$"
target=$(with_db "$dsn" "$scratch")
tmp=''
cleanup() {
    if [ "$keep" = 0 ]; then
        q -d "$dsn" -c "DROP DATABASE IF EXISTS \"$scratch\" WITH (FORCE)" >/dev/null 2>&1 || true
    fi
    if [ -n "$tmp" ]; then rm -f -- "$tmp"; fi
}
trap cleanup EXIT

if [ "$mode" = verify ]; then
    if [ -z "$dump" ]; then
        tmp=$(mktemp "${TMPDIR:-/tmp}/confetti-backup.XXXXXX")
        dump=$tmp
    fi
    start=$(date +%s)
    pg_dump -Fc -d "$dsn" -f "$dump" || die "pg_dump failed"
    echo "pg_dump -Fc: $(stat -c %s "$dump") bytes in $(($(date +%s) - start)) s"
fi
[ -r "$dump" ] || die "$dump: not readable"
q -d "$dsn" -c "CREATE DATABASE \"$scratch\"" >/dev/null || die "cannot create $scratch"
start=$(date +%s)
pg_restore --exit-on-error --no-owner -d "$target" "$dump" || die "pg_restore into $scratch failed"
echo "pg_restore into $scratch: $(($(date +%s) - start)) s"
if [ "$keep" = 1 ]; then echo "kept: $target"; fi
if [ "$mode" = restore ]; then
    row_counts "$target" | sed 's/^/  /'
    exit 0
fi
compare "$dsn" "$target"
