#!/bin/sh
# daemon_kafka.sh — horizond end to end on Kafka: a mock cluster on loopback, horizond as a
# separate process on a YAML file (kafka source -> SQLite + Kafka sinks, a tiny iTransformer
# checkpoint trained first), readings of 50 series produced with kcat, forecasts and
# anomalies consumed with kcat and present in SQLite, an injected spike flagged, a malformed
# message, and one dated 2100 (beyond source.max_future: it made m3's later readings late),
# dead-lettered to SQLite and its topic (each logged once); the accepted readings
# republished on a readings topic; SIGTERM exits 0; a restart resumes after the
# committed offsets (it reads only the new messages, its windows rebuilt from SQLite) and
# loses nothing.
set -u
NAME=daemon_kafka
T=$(mktemp -d /tmp/hz_dk_XXXXXX)
. tests/tools/daemon_lib.sh

start_mock readings forecasts anomalies dead stored
train_ckpt
kafka_yaml "$T/hz.yaml"
sed -i 's/dead_letters: dead}/dead_letters: dead, readings: stored}/' "$T/hz.yaml"
"$BIN/horizond" -c "$T/hz.yaml" --check >/dev/null || fail "--check refused the test config"

# 40 points of 50 series; m7 spikes at point 35
readings 0 40 7 35 >"$T/in1"
echo 'm3:{"series":"m3","ts":"not a time","power":1}' >>"$T/in1" # a dead letter
echo 'm3:{"series":"m3","ts":"2100-01-01T00:00:00Z","power":1}' >>"$T/in1" # ahead of the clock
kcat -b "$BOOT" -P -t readings -K: <"$T/in1" 2>>"$T/kcat.err" || fail "kcat produce failed"
start_daemon "$T/hz.yaml" "$T/run1.log"
wait_sql "SELECT count(*) FROM readings" 2000
# every window from the 24th point on is forecast: 50 x 17 windows x 4 steps
wait_sql "SELECT count(DISTINCT series || '/' || issued_ts) FROM forecasts" 850
[ "$(q "SELECT count(*) FROM forecasts")" = 3400 ] || fail "forecast rows $(q "SELECT count(*) FROM forecasts")"
[ "$(q "SELECT count(*) FROM forecasts WHERE target_ts = issued_ts + step * 60000 AND lower <= value AND value <= upper AND model_id LIKE 'meters-%'")" = 3400 ] ||
    fail "forecast rows lack target/interval/model id: $(q "SELECT * FROM forecasts LIMIT 2")"
spike_ts=$((T0 + 35 * 60000))
[ "$(q "SELECT count(*) FROM anomalies WHERE series = 'm7' AND ts = $spike_ts AND flag = 1 AND kind IN ('spike', 'residual')")" -ge 1 ] ||
    fail "spike of m7 at point 35 not flagged: $(q "SELECT series, ts, kind FROM anomalies LIMIT 10")"
wait_sql "SELECT count(*) FROM dead_letters WHERE pipeline = 'meters' AND origin LIKE 'readings/%'" 2
[ "$(q "SELECT count(*) FROM dead_letters WHERE reason LIKE 'field \"ts\": timestamp 2100-01-01T00:00:00Z is % h ahead of the clock (more than source.max_future, 24.0 h)'")" = 1 ] ||
    fail "no dead letter for the 2100 message: $(q "SELECT reason FROM dead_letters")"
stop_daemon
grep -q 'pipeline meters stopped: 2000 readings' "$T/run1.log" || fail "first run did not report 2000 readings"
[ "$(count_topic dead)" = 2 ] || fail "dead-letter topic holds $(count_topic dead) messages, expected 2"
[ "$(grep -c 'readings/[0-9]*/[0-9]*' "$T/run1.log")" = 2 ] || fail "the dead letters are not logged once each: $(grep 'readings/[0-9]' "$T/run1.log")"
[ "$(count_topic stored)" = 2000 ] || fail "readings topic holds $(count_topic stored) messages, expected 2000"
kcat -b "$BOOT" -C -t stored -e -o beginning -q -c 1 2>/dev/null | grep -q '"type":"reading","pipeline":"meters"' ||
    fail "readings topic message: $(kcat -b "$BOOT" -C -t stored -e -o beginning -q -c 1 2>/dev/null)"
nf=$(count_topic forecasts)
[ "$nf" = 3400 ] || fail "forecasts topic holds $nf messages, SQLite 3400"
na=$(count_topic anomalies)
nsa=$(q "SELECT count(*) FROM anomalies")
[ "$na" = "$nsa" ] && [ "$na" -ge 1 ] || fail "anomalies topic $na messages, SQLite $nsa"
kcat -b "$BOOT" -C -t anomalies -e -o beginning -q 2>/dev/null | grep -q '"series":"m7"' ||
    fail "no anomaly message for m7 on the topic"

# restart: 10 more points; only those are read, windows come back from SQLite; m3's are
# forecast too (not late behind the refused 2100 message)
readings 40 50 >"$T/in2"
kcat -b "$BOOT" -P -t readings -K: <"$T/in2" 2>>"$T/kcat.err" || fail "kcat produce failed"
start_daemon "$T/hz.yaml" "$T/run2.log"
wait_sql "SELECT count(*) FROM readings" 2500
wait_sql "SELECT count(DISTINCT series || '/' || issued_ts) FROM forecasts" 1350
[ "$(q "SELECT count(DISTINCT issued_ts) FROM forecasts WHERE series = 'm3'")" = 27 ] ||
    fail "m3 windows forecast: $(q "SELECT count(DISTINCT issued_ts) FROM forecasts WHERE series = 'm3'")"
stop_daemon
grep -q 'windows rebuilt from .*: 50 series' "$T/run2.log" || fail "restart did not rebuild windows"
grep -q 'pipeline meters stopped: 500 readings' "$T/run2.log" ||
    fail "restart re-read committed data: $(grep stopped "$T/run2.log")"
[ "$(q "SELECT count(*) FROM readings")" = 2500 ] || fail "readings not exactly once"
nf=$(count_topic forecasts)
[ "$nf" = 5400 ] || fail "forecasts topic holds $nf messages after restart, expected 5400 (no duplicates on a clean stop)"
# `horizon train` on this daemon's file: says it trains on the sink's stored readings (file,
# table, series, rows) before it refuses 50 rows a series as too few; the checkpoint the
# daemon serves stays as it was
cp "$T/m.safetensors" "$T/m.before"
"$BIN/horizon" train -c "$T/hz.yaml" --epochs 1 --max-batches 1 >/dev/null 2>"$T/ktrain.err" &&
    fail "train on 50 rows a series succeeded: $(cat "$T/ktrain.err")"
grep -q "pipeline meters reads Kafka topic readings: training on the readings stored in $T/hz.sqlite, table readings, series m[0-9]* ([0-9]* rows)" \
    "$T/ktrain.err" || fail "train did not say what it trains on: $(cat "$T/ktrain.err")"
cmp -s "$T/m.before" "$T/m.safetensors" || fail "train replaced the served checkpoint"
echo "$NAME: ok (2000 + 500 readings of 50 series; 1350 windows forecast; $nsa anomalies incl. the spike; clean restart re-read nothing; train says what it trains on)"
