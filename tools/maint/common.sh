# common.sh — helpers of the tools/maint scripts (sourced, not run).
# shellcheck shell=bash

die() {
    echo "${0##*/}: $*" >&2
    exit 1
}

# psql for scripts: no ~/.psqlrc, stop at the first error, no pager, unaligned when asked.
q() {
    psql -X -q -v ON_ERROR_STOP=1 -P pager=off "$@"
}

# with_db DSN NAME: the same server and credentials as DSN, database NAME (a key=value conninfo
# gets dbname appended, which wins over an earlier one; a postgresql:// URI gets its path
# replaced).
with_db() {
    local dsn=$1 name=$2
    case $dsn in
    postgres://* | postgresql://*)
        local scheme=${dsn%%://*} rest=${dsn#*://} query=''
        case $rest in *\?*) query="?${rest#*\?}" rest=${rest%%\?*} ;; esac
        printf '%s://%s/%s%s\n' "$scheme" "${rest%%/*}" "$name" "$query"
        ;;
    *) printf "%s dbname='%s'\n" "$dsn" "$name" ;;
    esac
}

# row_counts DSN: "schema.table count" for every table outside the system schemas, exact
# (count(*)), sorted.
row_counts() {
    q -At -F ' ' -d "$1" -c "
        SELECT table_schema || '.' || table_name,
               (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I',
                       table_schema, table_name), false, true, '')))[1]::text::bigint
        FROM information_schema.tables
        WHERE table_type = 'BASE TABLE'
          AND table_schema NOT IN ('pg_catalog', 'information_schema')
        ORDER BY 1"
}
