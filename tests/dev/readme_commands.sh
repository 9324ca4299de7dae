#!/usr/bin/env bash
# readme_commands.sh SRC BUILD — the README's commands work as printed: every ```sh block of
# README.md that talks to a running platform (the block of the two commands aside) is read from
# the file itself, so the README cannot drift, and run against a platform from `make up`
# (tools/dev/run.sh background, on a state directory and port offset of this test's own). Each
# command must exit 0, and when the README shows its output in a comment below it
# (`# {"roomId":…,"status":"DRAFT",…}`), every field named there must be in what it printed.
# Then the hint that `make up` printed is pasted as it is: it must work from this checkout's path.
# Last, tests run beside the platform (make test while make up runs).
# shellcheck disable=SC2016 # the $ in single quotes belong to the script this one writes
set -euo pipefail
SRC_DIR=$1 BUILD_DIR=$2
# shellcheck source=tests/dev/lib.sh
. "$SRC_DIR/tests/dev/lib.sh"
var=$BUILD_DIR/dev-readme
rm -rf -- "$var" && mkdir -p -- "$var"
trap 'dev_down "$var"' EXIT
dev_up "$var" || { echo "FAIL: make up did not start" >&2; exit 1; }
echo "platform up on offset $DEV_OFF"

# The README's blocks, rewritten only where this platform differs from `make run`'s: its ports
# (moved by the offset), its build and state directories (build/ and var/ of the README).
work=$var/readme
mkdir -p "$work"
OFF=$DEV_OFF WORK=$work perl -ne '
    BEGIN { $in = 0; $n = 0; }
    if (/^```sh\s*$/) { $in = 1; $block = ""; next; }
    if ($in && /^```\s*$/) {
        $in = 0;
        next if $block =~ /^\s*make (run|test)\b/m;    # the two commands: not this test
        $n++;
        open(my $f, ">", "$ENV{WORK}/block.$n") or die;
        print $f $block;
        close $f;
        next;
    }
    next unless $in;
    s/\b(127\.0\.0\.1|localhost):(\d{4,5})\b/"$1:" . ($2 + $ENV{OFF})/ge;
    s{(?<![\w/.])build/}{"\$B"/}g;
    s{(?<![\w/.])var/}{"\$V"/}g;
    $block .= $_;
' "$SRC_DIR/README.md"
blocks=("$work"/block.*)
[ -e "${blocks[0]}" ] || { echo "FAIL: no sh block found in README.md" >&2; exit 1; }

# One script: each logical command (continued lines joined) runs in one shell, so that a
# variable set by one (TOKEN=…) is there for the next; its output is checked against the
# fields of the comment that follows it.
script=$work/run.sh
{
    echo 'B=$1 V=$2 W=$3; n=0; failed=0'
    echo 'check() { # n fields...'
    echo '  local i=$1 f; shift'
    echo '  for f in "$@"; do grep -q "\"$f\":" "$W/out.$i" || { echo "FAIL: command $i printed no \"$f\" field"; cat "$W/out.$i"; failed=1; }; done; }'
    for b in "${blocks[@]}"; do
        cmd=""
        while IFS= read -r line || [ -n "$line" ]; do
            if [ -n "$cmd" ]; then
                cmd+=$'\n'$line
            elif [[ $line =~ ^#[[:space:]]*[\{\[] ]]; then
                # the output the README shows for the command above: the fields it names
                mapfile -t fields < <(grep -oE '"[A-Za-z_][A-Za-z0-9_]*":' <<<"$line" | tr -d '":')
                [ ${#fields[@]} -eq 0 ] || printf 'check "$n" %s\n' "${fields[*]}"
                continue
            elif [[ $line =~ ^[[:space:]]*(#|$) ]]; then
                continue
            else
                cmd=$line
            fi
            [[ $cmd == *\\ ]] && continue
            printf 'n=$((n + 1)); echo "--- command $n"; {\n%s\n} >"$W/out.$n" 2>"$W/err.$n"; rc=$?\n' "$cmd"
            printf '%s\n' '[ $rc -eq 0 ] || { echo "FAIL: exit $rc"; cat "$W/out.$n" "$W/err.$n"; failed=1; }'
            # an HTTP API error (the SPEC error shape) is a failure even when curl exits 0
            printf '%s\n' '! grep -q "\"error\":" "$W/out.$n" || { echo "FAIL: an error answer"; cat "$W/out.$n"; failed=1; }'
            cmd=""
        done <"$b"
    done
    echo 'echo "$n commands"; exit $failed'
} >"$script"
echo "--- the README's commands, as run:"
cat "$script"
bash "$script" "$BUILD_DIR" "$var" "$work"

# The hint make up printed ("try the HTTP API: curl …"), pasted as it is.
hint=$(grep -A1 'try the HTTP API' "$var.up.log" | tail -1)
[ -n "$hint" ] || { echo "FAIL: make up printed no curl hint" >&2; exit 1; }
echo "--- the printed hint: $hint"
out=$(bash -c "$hint")
grep -q '"rooms"' <<<"$out" || { echo "FAIL: the hint printed: $out" >&2; exit 1; }

# make test beside a running platform: the suite picks free ports (kernel-chosen for services,
# a random free one for its PostgreSQL), so a test process and a fixture cluster start and pass
# while this platform holds its ports.
"$BUILD_DIR/tests/integration/integration_cli" >"$var/beside.log" 2>&1 ||
    { cat "$var/beside.log" >&2; echo "FAIL: a test failed beside the platform" >&2; exit 1; }
"$SRC_DIR/tests/harness/pg.sh" start "$var/beside-pg" >/dev/null
"$SRC_DIR/tests/harness/pg.sh" stop "$var/beside-pg" >/dev/null
echo ok
