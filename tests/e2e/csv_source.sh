#!/bin/sh
# csv_source.sh — horizond on a CSV source (connectors/csv.c, the source built by
# connectors/factory.c): a file of several series read with `csv.series: ""` keeps every
# series apart (they were all one, named after the pipeline, each row overwriting the last
# of its time); an empty `fields.series`, or both a column and an id, is refused by --check
# with file:line:column; rows of 1969, 2100 (ahead of the clock by more than
# source.max_future), inf, nan and 1e39 are dead letters with their reasons
# (connectors/reading_check.c); the file split in two read through a glob (source.csv.path)
# is one stream, its dead letters naming the second file's own lines; and a daemon idling at
# the end of its files uses little CPU (the poll waits instead of spinning).
set -u
NAME=csv_source
T=$(mktemp -d /tmp/hz_cs_XXXXXX)
. tests/tools/daemon_lib.sh

train_ckpt
# 3 series m0..m2, 300 minutes each, time-major; then 5 bad rows of m0
awk -v t0=$T0 'BEGIN { print "meter,ts,power"
    for (t = 0; t < 300; t++) for (s = 0; s < 3; s++)
        printf "m%d,%.0f,%.4f\n", s, t0 + t * 60000, 10 + s + 5 * sin(6.2831853 * t / 24)
    print "m0,1969-12-31T00:00:00Z,1"
    print "m0,2100-01-01T00:00:00Z,1"
    printf "m0,%.0f,inf\n", t0 + 300 * 60000
    printf "m0,%.0f,nan\n", t0 + 301 * 60000
    printf "m0,%.0f,1e39\n", t0 + 302 * 60000 }' >"$T/m.csv"
# the same rows in two files, each with the header: minutes 0-149, then the rest
{ head -1 "$T/m.csv"; sed -n 2,451p "$T/m.csv"; } >"$T/m-a.csv"
{ head -1 "$T/m.csv"; sed -n '452,$p' "$T/m.csv"; } >"$T/m-b.csv"
conf() { # conf FILE CSV_SECTION FIELDS_SECTION
    cat >"$1" <<EOT
database: $T/hz.sqlite
metrics: {listen: ""}
pipelines:
  - name: meters
    source:
      csv: $2
      fields: $3
    window: {period: 1m, lookback: 24, horizon: 4, stride: 1}
    batch: {max: 64, max_wait: 100ms}
    model:
      kind: itransformer
      checkpoint: $T/m.safetensors
      params: {d_model: 16, n_heads: 2, e_layers: 1, d_ff: 32}
    sinks:
      - sqlite: {}
EOT
}

# refused: an empty series column, and a column with an id
conf "$T/empty.yaml" "{path: $T/m.csv, series: \"\"}" "{series: \"\", time: ts, values: [power]}"
"$BIN/horizond" -c "$T/empty.yaml" --check >"$T/check.out" 2>&1 && fail "--check passed an empty fields.series"
grep -q "empty.yaml:7:[0-9]*: pipelines\[0\].source.fields.series: expected the column holding each row's series id" \
    "$T/check.out" || fail "empty fields.series message: $(cat "$T/check.out")"
conf "$T/both.yaml" "{path: $T/m.csv, series: one}" "{series: meter, time: ts, values: [power]}"
"$BIN/horizond" -c "$T/both.yaml" --check >"$T/check.out" 2>&1 && fail "--check passed a column and an id"
grep -q "both.yaml:6:[0-9]*: pipelines\[0\].source.csv.series: expected no id" "$T/check.out" ||
    fail "column and id message: $(cat "$T/check.out")"

conf "$T/hz.yaml" "{path: \"$T/m-[ab].csv\", series: \"\"}" "{series: meter, time: ts, values: [power]}"
start_daemon "$T/hz.yaml" "$T/run.log"
wait_sql "SELECT count(*) FROM readings" 900
wait_sql "SELECT count(*) FROM dead_letters" 5
[ "$(q "SELECT group_concat(series || ':' || n) FROM (SELECT series, count(*) n FROM readings GROUP BY series ORDER BY series)")" = "m0:300,m1:300,m2:300" ] ||
    fail "series kept apart: $(q "SELECT series, count(*) FROM readings GROUP BY series")"
wait_sql "SELECT count(DISTINCT series) FROM forecasts" 3
q "SELECT origin || ' ' || reason FROM dead_letters ORDER BY origin" >"$T/dead"
for want in "m-b.csv:452:4 column \"ts\": timestamp 1969-12-31T00:00:00Z is outside 1970-01-01..2200-12-31" \
    "m-b.csv:453:4 column \"ts\": timestamp 2100-01-01T00:00:00Z is .* h ahead of the clock \\(more than source.max_future, 24.0 h\\)" \
    "m-b.csv:454:18 column \"power\": \"inf\": value inf is not finite" \
    "m-b.csv:455:18 column \"power\": \"nan\": value nan is not a number" \
    "m-b.csv:456:18 column \"power\": \"1e39\": value 1e\+39 does not fit float32"; do
    grep -Eq "$want" "$T/dead" || fail "no dead letter like [$want]: $(cat "$T/dead")"
done

# idle at the end of the file: CPU time (utime + stime, clock ticks) over 2 s stays small
sleep 1
cpu() { awk '{ print $14 + $15 }' "/proc/$HD/stat"; }
c0=$(cpu)
sleep 2
c1=$(cpu)
hz=$(getconf CLK_TCK)
[ $((c1 - c0)) -le $((hz / 5)) ] || fail "idle at the end of the file used $((c1 - c0)) ticks of CPU in 2 s (CLK_TCK $hz)"
stop_daemon
echo "$NAME: ok (3 series kept apart across 2 files of a glob, 5 rows refused with reasons, $((c1 - c0)) ticks idle in 2 s)"
