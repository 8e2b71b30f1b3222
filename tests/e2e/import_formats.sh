#!/bin/sh
# horizon import on the layouts of docs/IMPORT.md, checked with the sqlite3 shell: a
# whitespace file (detected), a headerless one with --names, a preamble with --skip, a series
# column with two series, date parts, --na -999 against -999.00, --utc-offset, a flag column
# joined to the readings, duplicate timestamps refused, the value and time rules of every
# source; then the bundled CAMELS streamflow and
# forcing files of one basin into one database (the same days).  Run from the repository root.
set -eu
BIN=${BIN:-build}
H="$BIN/horizon"
Q=data/camels/usgs_streamflow/01013500_streamflow_qc.txt
F=data/camels/basin_mean_forcing_nldas/01013500_lump_nldas_forcing_leap.txt
QM=data/camels/usgs_streamflow/01022500_streamflow_qc.txt
T=$(mktemp -d /tmp/hz_import_formats_XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "import_formats: $*" >&2; exit 1; }
q() { sqlite3 "$1" "$2"; }

for f in "$Q" "$F" "$QM"; do [ -r "$f" ] || fail "$f not readable: run from the repository root"; done

# whitespace, detected, with a header; leading and repeated blanks are one separator
printf 'time   level\tflow\n  2020-01-01T00:00:00Z  1.5\t10\n2020-01-01T01:00:00Z 2.5   20\n' >"$T/ws.txt"
"$H" import "$T/ws.txt" --db "$T/ws.sqlite" --quiet >"$T/out" 2>"$T/err" || fail "whitespace: $(cat "$T/err")"
grep -q 'imported 2 rows (4 values) of series "ws"' "$T/out" || fail "whitespace summary: $(cat "$T/out")"
[ "$(q "$T/ws.sqlite" "SELECT sum(value) FROM readings WHERE variable='flow'")" = 30.0 ] || fail "whitespace flow"

# headerless: --names, --delimiter space, date parts, --na -999, --utc-offset, --flag-column
printf 'g1 1993 09 29   514.00 A\ng1 1993 09 30  -999.00 M\ng1 1993 10 01  -999 M\ng1 1993 10 02   497.00 A:e\n' >"$T/q.txt"
"$H" import "$T/q.txt" --db "$T/q.sqlite" --series g1 --delimiter space \
    --names gauge,year,month,day,discharge,qc --date-columns year,month,day --columns discharge \
    --na -999 --flag-column qc --utc-offset -05:00 --quiet >"$T/out" 2>"$T/err" || fail "headerless: $(cat "$T/err")"
grep -q 'imported 4 rows (2 values) of series "g1"' "$T/out" || fail "headerless summary: $(cat "$T/out")"
grep -q 'read 4 data rows: 4 imported, 0 refused into dead_letters (0 bad, 0 duplicate timestamps); 2 missing values skipped; 4 quality codes stored' "$T/out" ||
    fail "headerless counts: $(cat "$T/out")"
[ "$(q "$T/q.sqlite" "SELECT count(*) FROM readings WHERE value < -998")" = 0 ] || fail "-999.00 stored"
[ "$(q "$T/q.sqlite" "SELECT min(time) FROM readings_iso")" = 1993-09-29T05:00:00.000Z ] ||
    fail "utc offset: $(q "$T/q.sqlite" "SELECT min(time) FROM readings_iso")"
j=$(q "$T/q.sqlite" "SELECT group_concat(r.value || '/' || f.code, ' ') FROM readings r JOIN reading_flags f USING (series, variable, ts)")
[ "$j" = "514.0/A 497.0/A:e" ] || fail "flag join: $j"
[ "$(q "$T/q.sqlite" "SELECT count(*) FROM reading_flags WHERE code='M'")" = 2 ] || fail "M codes of missing days not kept"

# a preamble before the header
printf 'lat 46.84\nsource: test\n\nYear Mnth Day\tP\n2000 01 01\t1.0\n2000 01 02\t2.0\n' >"$T/pre.txt"
"$H" import "$T/pre.txt" --db "$T/pre.sqlite" --skip 3 --date-columns Year,Mnth,Day --quiet >"$T/out" 2>"$T/err" ||
    fail "skip: $(cat "$T/err")"
[ "$(q "$T/pre.sqlite" "SELECT count(*) || ' ' || max(value) FROM readings WHERE variable='P'")" = "2 2.0" ] || fail "skip values"
if "$H" import "$T/pre.txt" --db "$T/pre2.sqlite" --date-columns Year,Mnth,Day --quiet >/dev/null 2>"$T/err"; then
    fail "a preamble read as the header should fail"
fi
grep -q 'pre.txt:1: no column "Year" in the header' "$T/err" || fail "no --skip message: $(cat "$T/err")"

# a series column: two series in one file; an empty series field is a dead letter
printf 'meter;time;kw\nm1;2020-01-01 00:00;1\nm2;2020-01-01 00:00;2\nm1;2020-01-01 01:00;3\n;2020-01-01 02:00;4\n' >"$T/long.csv"
if "$H" import "$T/long.csv" --db "$T/long.sqlite" --series-column meter --quiet >"$T/out" 2>"$T/err"; then
    fail "an empty series should make the exit status 1"
fi
grep -q 'long.csv:5:1: column "meter": empty series name' "$T/err" || fail "empty series message: $(cat "$T/err")"
grep -q 'imported 3 rows (3 values) of 2 series (column "meter")' "$T/out" || fail "series column summary: $(cat "$T/out")"
[ "$(q "$T/long.sqlite" "SELECT group_concat(series || '=' || n, ' ') FROM (SELECT series, count(*) n FROM readings GROUP BY series ORDER BY series)")" = "m1=2 m2=1" ] ||
    fail "series column counts"
[ "$(q "$T/long.sqlite" "SELECT count(*) FROM dead_letters WHERE origin LIKE '%long.csv:5:1'")" = 1 ] || fail "empty series dead letter"
grep -q 'read 4 data rows: 3 imported, 1 refused into dead_letters (1 bad, 0 duplicate timestamps)' "$T/out" ||
    fail "series column counts: $(cat "$T/out")"

# a date part out of range is a dead letter naming the column
printf 'y,m,d,v\n2021,02,29,1\n2021,03,01,2\n' >"$T/parts.csv"
"$H" import "$T/parts.csv" --db "$T/parts.sqlite" --date-columns y,m,d --quiet >/dev/null 2>"$T/err" && fail "bad day accepted"
grep -q 'parts.csv:2:9: column "d": day 29 is out of range 1..28' "$T/err" || fail "date part message: $(cat "$T/err")"
[ "$(q "$T/parts.sqlite" "SELECT time FROM readings_iso")" = 2021-03-01T00:00:00.000Z ] || fail "good date part row"

# a timestamp twice in a file: the first row is kept, the second refused and reported
printf 'time,v\n2020-01-01T00:00:00Z,1\n2020-01-01T01:00:00Z,2\n2020-01-01T00:00:00Z,9\n' >"$T/dup.csv"
"$H" import "$T/dup.csv" --db "$T/dup.sqlite" --quiet >"$T/out" 2>"$T/err" && fail "a duplicate should make the exit status 1"
grep -q 'dup.csv:4:1: duplicate timestamp: series "dup" at 2020-01-01T00:00:00Z is already on line 2' "$T/err" ||
    fail "duplicate message: $(cat "$T/err")"
grep -q 'read 3 data rows: 2 imported, 1 refused into dead_letters (0 bad, 1 duplicate timestamps)' "$T/out" ||
    fail "duplicate counts: $(cat "$T/out")"
[ "$(q "$T/dup.sqlite" "SELECT count(*) || ' ' || sum(value) FROM readings")" = "2 3.0" ] || fail "duplicate overwrote the first"

# the rules of every source (connectors/reading_check.c): a time before 1970, inf, nan (not
# an --na token), 1e301 and 1e39 (beyond float32), a 130-digit number (parsed whole, it was
# cut to 127 bytes and stored as 1e126) and a NUL byte (it cut the field) are dead letters
# naming line:column; nan listed in --na is missing; the good rows are stored as sent
d130=$(printf '%0130d' 0 | tr 0 1)
printf 'time,v\n1969-12-31T00:00:00Z,1\n2020-01-01T00:00:00Z,inf\n2020-01-02T00:00:00Z,nan\n2020-01-03T00:00:00Z,1e301\n2020-01-04T00:00:00Z,1e39\n2020-01-05T00:00:00Z,%s\n2020-01-06T00:00:00Z,1\0002\n2020-01-07T00:00:00Z,3.4e38\n2020-01-08T00:00:00Z,NA\n' "$d130" >"$T/rules.csv"
"$H" import "$T/rules.csv" --db "$T/rules.sqlite" --na NA --quiet >"$T/out" 2>"$T/err" && fail "refused rows should make the exit status 1"
for want in 'rules.csv:2:1: column "time": timestamp 1969-12-31T00:00:00Z is outside 1970-01-01..2200-12-31' \
    'rules.csv:3:22: column "v": "inf": value inf is not finite' \
    'rules.csv:4:22: column "v": "nan": value nan is not a number' \
    'rules.csv:5:22: column "v": "1e301": value 1e\+301 does not fit float32' \
    'rules.csv:6:22: column "v": "1e39": value 1e\+39 does not fit float32' \
    'rules.csv:7:22: column "v": "1111111111111111111111111111111111111111\.\.\.": value 1\.11111e\+129 does not fit float32' \
    'rules.csv:8:23: NUL byte \(0x00\) in a field'; do
    q "$T/rules.sqlite" "SELECT origin || ': ' || reason FROM dead_letters" | grep -Eq "$want" ||
        fail "no dead letter like [$want]: $(q "$T/rules.sqlite" "SELECT origin, reason FROM dead_letters")"
done
grep -q 'read 9 data rows: 2 imported, 7 refused into dead_letters (7 bad, 0 duplicate timestamps); 1 missing values skipped' "$T/out" ||
    fail "rules counts: $(cat "$T/out")"
[ "$(q "$T/rules.sqlite" "SELECT count(*) || ' ' || max(value) FROM readings")" = "1 3.4e+38" ] ||
    fail "rules readings: $(q "$T/rules.sqlite" "SELECT * FROM readings")"
"$H" import "$T/rules.csv" --db "$T/nan.sqlite" --na NA,nan --quiet >"$T/out" 2>"$T/err" || true
grep -q 'read 9 data rows: 3 imported, 6 refused into dead_letters (6 bad, 0 duplicate timestamps); 2 missing values skipped' "$T/out" ||
    fail "nan in --na: $(cat "$T/out")"

# options that exclude each other, a bad offset
"$H" import "$T/dup.csv" --db "$T/x.sqlite" --series a --series-column v >/dev/null 2>&1 && fail "--series with --series-column accepted"
set +e
"$H" import "$T/dup.csv" --db "$T/x.sqlite" --utc-offset America/New_York >/dev/null 2>"$T/err"
[ $? = 2 ] || fail "a named zone should be a usage error"
set -e
grep -q -- '--utc-offset: expected +HH:MM' "$T/err" || fail "offset message: $(cat "$T/err")"
"$H" import --help | grep -q -- '--date-columns' || fail "--help lacks --date-columns"

# the CAMELS files of basin 01013500 into one series: discharge and precipitation on the same days
"$H" import "$Q" --db "$T/c.sqlite" --series 01013500 --names gauge,year,month,day,discharge,qc \
    --date-columns year,month,day --columns discharge --na -999 --flag-column qc --utc-offset -05:00 \
    --quiet >"$T/out" 2>"$T/err" || fail "streamflow: $(cat "$T/err")"
grep -q 'imported 7308 rows (7308 values) of series "01013500"' "$T/out" || fail "streamflow summary: $(cat "$T/out")"
"$H" import "$F" --db "$T/c.sqlite" --series 01013500 --skip 3 --date-columns Year,Mnth,Day \
    --columns 'PRCP(mm/day)' --utc-offset -05:00 --quiet >"$T/out" 2>"$T/err" || fail "forcing: $(cat "$T/err")"
grep -q 'imported 7310 rows (7310 values) of series "01013500"' "$T/out" || fail "forcing summary: $(cat "$T/out")"
m=$(q "$T/c.sqlite" "SELECT count(*) FROM readings d JOIN readings p ON p.series = d.series AND p.ts = d.ts
    WHERE d.variable = 'discharge' AND p.variable = 'PRCP(mm/day)'")
[ "$m" = 7308 ] || fail "expected 7308 days with both discharge and precipitation, got $m"
[ "$(q "$T/c.sqlite" "SELECT min(time) FROM readings_iso")" = 1993-09-29T05:00:00.000Z ] || fail "CAMELS first day"
[ "$(q "$T/c.sqlite" "SELECT count(*) FROM reading_flags f JOIN readings r USING (series, variable, ts) WHERE f.code = 'A:e'")" = 1954 ] ||
    fail "CAMELS A:e codes"

# basin 01022500 has 92 days of -999.00 (flag M): none stored, all counted, their codes kept
"$H" import "$QM" --db "$T/m.sqlite" --series 01022500 --names gauge,year,month,day,discharge,qc \
    --date-columns year,month,day --columns discharge --na -999 --flag-column qc --utc-offset -05:00 \
    --quiet >"$T/out" 2>"$T/err" || fail "01022500: $(cat "$T/err")"
grep -q '92 missing values skipped' "$T/out" || fail "01022500 missing count: $(cat "$T/out")"
[ "$(q "$T/m.sqlite" "SELECT count(*) FROM readings WHERE value < -998")" = 0 ] || fail "01022500: -999.00 stored"
[ "$(q "$T/m.sqlite" "SELECT count(*) FROM reading_flags f LEFT JOIN readings r USING (series, variable, ts) WHERE f.code = 'M' AND r.value IS NULL")" = 92 ] ||
    fail "01022500: M days"
echo "import_formats: ok"
