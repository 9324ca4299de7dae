#!/usr/bin/env bash
# report.sh DSN — the weekly/monthly look at a Confetti database (docs/operations.md, "Routine
# maintenance"): table sizes (with dead rows and the last autovacuum/autoanalyze), index usage
# (indexes never scanned since the statistics were reset are flagged UNUSED; unique and primary
# keys are constraints, never flagged), and the slowest statements when pg_stat_statements is
# installed. Read-only; any role that can read the statistics views will do.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tools/maint/common.sh
. "$here/common.sh"

[ $# -eq 1 ] || die "usage: report.sh DSN"
dsn=$1

echo "== Table sizes (largest first)"
q -d "$dsn" -c "
    SELECT s.schemaname AS schema, s.relname AS table, s.n_live_tup AS rows,
           s.n_dead_tup AS dead_rows,
           pg_size_pretty(pg_total_relation_size(s.relid)) AS total,
           pg_size_pretty(pg_relation_size(s.relid)) AS heap,
           pg_size_pretty(pg_indexes_size(s.relid)) AS indexes,
           coalesce(greatest(s.last_autovacuum, s.last_vacuum)::timestamp(0)::text, 'never')
               AS last_vacuum,
           coalesce(greatest(s.last_autoanalyze, s.last_analyze)::timestamp(0)::text, 'never')
               AS last_analyze
    FROM pg_stat_user_tables s
    ORDER BY pg_total_relation_size(s.relid) DESC, 1, 2"

echo "== Index usage (least used first)"
q -d "$dsn" -c "
    SELECT i.schemaname AS schema, i.relname AS table, i.indexrelname AS index,
           i.idx_scan AS scans, i.idx_tup_read AS tuples_read,
           pg_size_pretty(pg_relation_size(i.indexrelid)) AS size,
           CASE WHEN i.idx_scan = 0 AND NOT x.indisunique THEN 'UNUSED' ELSE '' END AS flag
    FROM pg_stat_user_indexes i JOIN pg_index x ON x.indexrelid = i.indexrelid
    ORDER BY i.idx_scan, pg_relation_size(i.indexrelid) DESC, 1, 2, 3"

echo "== Statistics since"
q -At -d "$dsn" -c "SELECT coalesce(stats_reset::timestamp(0)::text, 'server start')
                    FROM pg_stat_database WHERE datname = current_database()"

echo "== Slowest statements (mean time)"
if [ "$(q -At -d "$dsn" -c "SELECT count(*) FROM pg_extension WHERE extname = 'pg_stat_statements'")" = 1 ]; then
    q -d "$dsn" -c "
        SELECT calls, round(mean_exec_time::numeric, 2) AS mean_ms,
               round(max_exec_time::numeric, 2) AS max_ms, left(regexp_replace(query, '\s+', ' ', 'g'), 100) AS query
        FROM pg_stat_statements ORDER BY mean_exec_time DESC LIMIT 10"
else
    echo "pg_stat_statements is not installed in this database (docs/operations.md: the server's"
    echo "log_min_duration_statement log is the other source)"
fi
