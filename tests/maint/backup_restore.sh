#!/usr/bin/env bash
# backup_restore.sh SRC AUTH CATALOG ROOMS DRAW — issue 18 item 7: the runbook's backup and
# restore verification and its report tool, against the private PostgreSQL (the pg fixture):
# a database with every service's schema (their own --migrate-only) and rows in tables with
# triggers, bytea, jsonb and sequences; tools/maint/backup-verify.sh dumps it (pg_dump -Fc),
# restores it into a fresh database (pg_restore) and finds every table's row count equal;
# a restored copy that lost a row is found different; an existing dump restores with
# --restore; tools/maint/report.sh prints table sizes and index usage.
set -euo pipefail
[ $# -eq 5 ] || {
    echo "usage: backup_restore.sh SRC AUTH CATALOG ROOMS DRAW" >&2
    exit 2
}
src=$1
shift
# shellcheck source=tools/maint/common.sh
. "$src/tools/maint/common.sh"
[ -n "${CONFETTI_TEST_PG:-}" ] || die "CONFETTI_TEST_PG is not set (the pg fixture)"
cluster=$(cat "$CONFETTI_TEST_PG")
name="maint_backup_$$"
dsn=$(with_db "$cluster" "$name")
work=$(mktemp -d)
cleanup() {
    for d in "$name" "${name}_copy"; do
        q -d "$cluster" -c "DROP DATABASE IF EXISTS \"$d\" WITH (FORCE)" >/dev/null 2>&1 || true
    done
    rm -rf -- "$work"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*" >&2
    exit 1
}

q -d "$cluster" -c "CREATE DATABASE \"$name\"" >/dev/null
for bin in "$@"; do
    env -u CONFETTI_CONFIG CONFETTI_DB_DSN="$dsn" "$bin" --migrate-only >"$work/migrate.log" 2>&1 ||
        { cat "$work/migrate.log" >&2; fail "$bin --migrate-only"; }
done
q -d "$dsn" <<'SQL' >/dev/null
INSERT INTO auth.users (id, provider, provider_id, email) VALUES
    ('u1', 'dev', 'u1', 'a@example.com'), ('u2', 'dev', 'u2', 'b@example.com');
INSERT INTO auth.sessions (id, user_id, refresh_token_hash, access_jti, access_iat, expires_at)
    VALUES ('s1', 'u1', 'h1', 'j1', 0, now() + interval '1 day');
INSERT INTO catalog.apps (id, app_id, app_secret_hash, owner_user_id, name, manifest,
                          manifest_version)
    VALUES ('a1', 'app1', sha256('secret'), 'u1', 'App', '{"name": "App"}', '1.0.0');
INSERT INTO rooms.rooms (id, name, is_public, created_by) VALUES
    ('r1', 'public room', true, 'u1'), ('r2', 'private room', false, 'u1');
INSERT INTO rooms.participants (id, room_id, user_id, role) VALUES
    ('p1', 'r1', 'u1', 'ORGANIZER'), ('p2', 'r2', 'u1', 'ORGANIZER'), ('p3', 'r2', 'u2', 'PARTICIPANT');
INSERT INTO rooms.outbox (event_id, body) VALUES ('e1', '\x0102'), ('e2', '\x0304');
SQL
# the private room's two members, written by the participants trigger
[ "$(q -At -d "$dsn" -c "SELECT count(*) FROM rooms.private_members")" = 2 ] ||
    fail "private_members was not filled by its trigger"

echo "--- report.sh"
q -d "$dsn" -c "SELECT count(*) FROM rooms.rooms WHERE is_public" >/dev/null # one index scan or not
"$src/tools/maint/report.sh" "$dsn" >"$work/report.txt"
cat "$work/report.txt"
for want in "== Table sizes" "== Index usage" "rooms_status_public_created_idx" "private_members" \
    "UNUSED" "pg_stat_statements is not installed"; do
    grep -qF -- "$want" "$work/report.txt" || fail "report.sh: no \"$want\""
done

echo "--- backup-verify.sh"
"$src/tools/maint/backup-verify.sh" --dump "$work/backup.dump" "$dsn" | tee "$work/verify.txt"
grep -q "tables, row counts match" "$work/verify.txt" || fail "backup-verify.sh: no match line"
grep -qE "^  rooms\.participants 3$" "$work/verify.txt" || fail "participants not counted"
grep -qE "^  rooms\.private_members 2$" "$work/verify.txt" ||
    fail "private_members not restored as dumped (a trigger fired twice?)"
[ -s "$work/backup.dump" ] || fail "--dump left no file"

echo "--- a copy that lost a row is found different"
q -d "$cluster" -c "CREATE DATABASE \"${name}_copy\"" >/dev/null
copy=$(with_db "$cluster" "${name}_copy")
pg_restore --exit-on-error --no-owner -d "$copy" "$work/backup.dump"
q -d "$copy" -c "DELETE FROM rooms.participants WHERE id = 'p3'" >/dev/null
if "$src/tools/maint/backup-verify.sh" --compare "$dsn" "$copy" >"$work/diff.txt"; then
    fail "--compare found no difference"
fi
cat "$work/diff.txt"
grep -q "rooms.participants" "$work/diff.txt" || fail "--compare did not name the table"

echo "--- an existing dump restores (--restore)"
"$src/tools/maint/backup-verify.sh" --restore "$work/backup.dump" "$dsn" >"$work/restore.txt"
grep -qE "^  auth\.users 2$" "$work/restore.txt" || fail "--restore: auth.users"
left=$(q -At -d "$cluster" -c "SELECT count(*) FROM pg_database WHERE datname LIKE '${name}_verify_%'")
[ "$left" = 0 ] || fail "a scratch database was left behind"
echo "PASS"
