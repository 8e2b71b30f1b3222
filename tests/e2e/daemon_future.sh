#!/bin/sh
# daemon_future.sh — rows a source must refuse do not stop a series (connectors/reading_check.c):
# on the Choptank sample served from SQLite, rows at ts = INT64_MAX (it overflowed the
# forecaster's target times), at 2100-01-01 (further ahead of the clock than
# source.max_future: the series' next readings all counted as late, its forecasts stopped)
# and with value 1e39 (beyond float32) become dead letters with their reasons; the days after
# them are forecast, and after a restart the windows rebuilt from the table leave them out
# and the next day is forecast too; `horizon train` on the table leaves them out and says so.
set -u
NAME=daemon_future
T=$(mktemp -d /tmp/hz_df_XXXXXX)
. tests/tools/daemon_lib.sh

import_choptank "$T/hz.sqlite"
sed -e "s|database: .*|database: $T/hz.sqlite|" \
    -e "s|checkpoint: .*|checkpoint: $T/m/choptank.safetensors|" \
    -e "s|epochs: 6|epochs: 1|" -e "s|poll: 1s|poll: 50ms|" \
    config/examples/demo.yaml >"$T/hz.yaml"
start_daemon "$T/hz.yaml" "$T/run1.log"
wait_sql "SELECT count(DISTINCT issued_ts) FROM forecasts" 4324 60
last=$(q "SELECT max(ts) FROM readings")
day=86400000
ins() { sqlite3 -cmd '.timeout 5000' "$T/hz.sqlite" "INSERT INTO readings(series, variable, ts, value) VALUES ('choptank', 'Qdaily', $1, $2)" || fail "insert at $1"; }
ins 9223372036854775807 100
ins 4102444800000 100
ins $((last + 10 * day)) 1e39
wait_sql "SELECT count(*) FROM dead_letters" 3 30
for d in 1 2 3; do ins $((last + d * day)) $((150 + d)); done
wait_sql "SELECT count(DISTINCT issued_ts) FROM forecasts" 4327 30
q "SELECT origin || ' ' || reason FROM dead_letters ORDER BY origin" >"$T/dead"
for want in "readings/4384 column ts: timestamp 9223372036854775807 ms is outside 1970-01-01..2200-12-31" \
    "readings/4385 column ts: timestamp 2100-01-01T00:00:00Z is .* h ahead of the clock \\(more than source.max_future, 24.0 h\\)" \
    "readings/4386 column value: value 1e\\+39 does not fit float32"; do
    grep -Eq "$want" "$T/dead" || fail "no dead letter like [$want]: $(cat "$T/dead")"
done
stop_daemon

# restart: the rebuild replays the table without the refused rows; the next day is forecast
start_daemon "$T/hz.yaml" "$T/run2.log"
grep -q 'windows rebuilt from .*: 1 series, 60 points' "$T/run2.log" ||
    fail "windows not rebuilt as expected: $(grep rebuilt "$T/run2.log")"
ins $((last + 4 * day)) 155
wait_sql "SELECT count(DISTINCT issued_ts) FROM forecasts" 4328 30
[ "$(q "SELECT max(target_ts) FROM forecasts")" -lt 4102444800000 ] || fail "a forecast targets 2100 or later"
stop_daemon

# training from the table leaves the refused rows out and says so
sed -e "s|checkpoint: .*|checkpoint: $T/m/again.safetensors|" "$T/hz.yaml" >"$T/again.yaml"
"$BIN/horizon" train -c "$T/again.yaml" --epochs 1 --max-batches 2 >"$T/train.out" 2>"$T/train.err" ||
    fail "training from the table failed: $(cat "$T/train.err")"
grep -q "train: 3 rows of the table left out, as every source refuses them (first: ts $((last + 10 * day)): value 1e+39 does not fit float32" \
    "$T/train.err" || fail "training did not report the refused rows: $(cat "$T/train.err")"
echo "$NAME: ok (3 rows refused with reasons; 3 later days forecast, and 1 more after a restart)"
