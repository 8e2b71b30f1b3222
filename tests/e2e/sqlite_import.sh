#!/bin/sh
# horizon import: ETTh1 (data/ett/ETTh1.csv, in the repository) into a fresh SQLite file,
# checked with the sqlite3 shell; a re-run is idempotent; a bad row is reported as
# file:line:column, kept as a dead letter, exit 1.  Run from the repository root.
set -eu
BIN=${BIN:-build}
H="$BIN/horizon"
ETT=data/ett/ETTh1.csv
T=$(mktemp -d /tmp/hz_import_XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "sqlite_import: $*" >&2; exit 1; }

[ -r "$ETT" ] || fail "$ETT not readable: run from the repository root"
"$H" import "$ETT" --db "$T/h.sqlite" >"$T/out" 2>"$T/err" || fail "import failed: $(cat "$T/err")"
grep -q 'imported 17420 rows (121940 values) of series "ETTh1"' "$T/out" || fail "summary: $(cat "$T/out")"
grep -q 'rows/s' "$T/out" || fail "no rate in summary"
grep -q '^import: 100% 17420 rows' "$T/err" || fail "no plain progress line: $(cat "$T/err")"
n=$(sqlite3 "$T/h.sqlite" "SELECT count(*) FROM readings")
[ "$n" = 121940 ] || fail "expected 121940 readings, got $n"
ot=$(sqlite3 "$T/h.sqlite" "SELECT value FROM readings WHERE series='ETTh1' AND variable='OT' ORDER BY ts DESC LIMIT 1")
[ "$ot" = 9.56700038909912 ] || fail "last OT is $ot"
first=$(sqlite3 "$T/h.sqlite" "SELECT time FROM readings_iso ORDER BY id LIMIT 1")
[ "$first" = 2016-07-01T00:00:00.000Z ] || fail "first time is $first"
"$H" import "$ETT" --db "$T/h.sqlite" --quiet --columns OT,HUFL >/dev/null 2>&1 || fail "re-import failed"
n=$(sqlite3 "$T/h.sqlite" "SELECT count(*) FROM readings")
[ "$n" = 121940 ] || fail "re-import changed the count to $n"

printf 'time,x\n2020-01-01T00:00:00Z,1\n2020-01-01T01:00:00Z,oops\n2020-01-01T02:00:00Z,3\n' >"$T/bad.csv"
if "$H" import "$T/bad.csv" --db "$T/b.sqlite" --series s >"$T/out" 2>"$T/err"; then
    fail "a bad row should make the exit status 1"
fi
grep -q "bad.csv:3:22: column \"x\": expected a number, got \"oops\"" "$T/err" || fail "error text: $(cat "$T/err")"
n=$(sqlite3 "$T/b.sqlite" "SELECT count(*) FROM readings WHERE series='s'")
[ "$n" = 2 ] || fail "expected the 2 good rows, got $n"
d=$(sqlite3 "$T/b.sqlite" "SELECT count(*) FROM dead_letters WHERE origin LIKE '%bad.csv:3:22'")
[ "$d" = 1 ] || fail "expected one dead letter, got $d"

"$H" import "$T/bad.csv" >/dev/null 2>&1 && fail "missing --db accepted"
set +e
"$H" import "$T/bad.csv" --db "$T/c.sqlite" --columns nope >/dev/null 2>"$T/err"
[ $? = 1 ] || fail "unknown column should fail"
set -e
grep -q 'no column "nope"' "$T/err" || fail "unknown column message: $(cat "$T/err")"
echo "sqlite_import: ok"
