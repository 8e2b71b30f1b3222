#!/bin/sh
# kafka_no_readings.sh — a Kafka pipeline with `sinks[].sqlite.readings: false`: the SQLite
# file keeps no readings, and a restart rebuilds the windows from the topic itself
# (connectors/kafka_source.c), so the windows completed by the readings after the restart
# are forecast at once, as with the readings stored.
set -u
NAME=kafka_no_readings
T=$(mktemp -d /tmp/hz_knr_XXXXXX)
. tests/tools/daemon_lib.sh

start_mock readings forecasts anomalies dead
train_ckpt
kafka_yaml "$T/hz.yaml"
sed -i 's/      - sqlite: {}/      - sqlite: {readings: false}/' "$T/hz.yaml"
grep -q 'readings: false' "$T/hz.yaml" || fail "the test config was not changed"
"$BIN/horizond" -c "$T/hz.yaml" --check >/dev/null || fail "--check refused the test config"

readings 0 30 | kcat -b "$BOOT" -P -t readings -K: 2>>"$T/kcat.err" || fail "kcat produce failed"
start_daemon "$T/hz.yaml" "$T/run1.log"
# windows from the 24th point on: 50 series x 7
wait_sql "SELECT count(DISTINCT series || '/' || issued_ts) FROM forecasts" 350
stop_daemon
[ "$(q "SELECT count(*) FROM readings")" = 0 ] || fail "readings stored: $(q "SELECT count(*) FROM readings")"

readings 30 40 | kcat -b "$BOOT" -P -t readings -K: 2>>"$T/kcat.err" || fail "kcat produce failed"
start_daemon "$T/hz.yaml" "$T/run2.log"
# the 10 new points complete 10 more windows of each series, from windows rebuilt from Kafka
wait_sql "SELECT count(DISTINCT series || '/' || issued_ts) FROM forecasts" 850
stop_daemon
grep -q 'rebuilding windows from offsets' "$T/run2.log" || fail "no rebuild from the topic logged"
last=$((T0 + 39 * 60000))
[ "$(q "SELECT count(DISTINCT series) FROM forecasts WHERE issued_ts = $last")" = 50 ] ||
    fail "only $(q "SELECT count(DISTINCT series) FROM forecasts WHERE issued_ts = $last") series forecast the last window"
[ "$(q "SELECT count(*) FROM readings")" = 0 ] || fail "readings stored after the restart"

cat >"$T/csv.yaml" <<EOT
database: $T/c.sqlite
pipelines:
  - name: c
    source: {csv: {path: $T/c.csv}, fields: {time: ts, values: [power]}}
    window: {period: 1m, lookback: 24, horizon: 4}
    model: {kind: itransformer, checkpoint: $T/m.safetensors}
    sinks: [{sqlite: {readings: false}}]
EOT
echo "ts,power" >"$T/c.csv"
out=$("$BIN/horizond" -c "$T/csv.yaml" --check 2>&1) && fail "--check passed readings: false on a CSV source"
echo "$out" | grep -q 'sinks\[0\].sqlite.readings' || fail "unclear refusal: $out"
echo "$NAME: ok (no readings stored; after a restart 50 series rebuilt from the topic, 500 more windows forecast; refused on a CSV source)"
