#!/usr/bin/env bash
# tools/check/refusals.sh [ROOT] — every FAILED_PRECONDITION and INVALID_ARGUMENT a service
# answers names its field or its rule (issue 21 item 5): handlers refuse with rpc_refuse() or
# rpc_violation(), which add a detail; rpc_error() with either code literally is a bare refusal
# and fails this check (ctest check_refusals). Codes passed through variables are covered by
# rpc_error()'s run-time warning ("… without details") and the services' table tests.
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$root"
bare=$(grep -rnE --include='*.c' \
    'rpc_error\([^,]+,[[:space:]]*CF_(FAILED_PRECONDITION|INVALID_ARGUMENT)' services common || true)
# a call split over lines: "rpc_error(call," then the code on the next line
split=$(grep -rnE --include='*.c' -A1 'rpc_error\([^,]+,[[:space:]]*$' services common |
    grep -E 'CF_(FAILED_PRECONDITION|INVALID_ARGUMENT)' || true)
if [ -n "$bare$split" ]; then
    echo "bare refusals (use rpc_refuse(call, code, \"field or rule\", ...) or rpc_violation):"
    printf '%s\n' "$bare" "$split" | sed '/^$/d'
    exit 1
fi
echo "refusals: every FAILED_PRECONDITION / INVALID_ARGUMENT names its field or rule"
