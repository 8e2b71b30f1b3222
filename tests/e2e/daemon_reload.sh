#!/bin/sh
# daemon_reload.sh — SIGHUP: two SQLite pipelines run; the file is edited so that only
# pipeline b changes; after SIGHUP b restarts (its windows rebuilt from SQLite) while a
# keeps running with its windows, and both forecast the next reading.  A broken
# file on SIGHUP is refused and the running configuration kept; so is a file whose
# checkpoint for b does not load (checked before b is stopped: b keeps forecasting, the
# refusal counted in horizon_config_reloads_total and logged); and b's new settings that
# pass the check but do not start give way to its previous ones.  /metrics and /healthz
# answer on the configured loopback port.
set -u
NAME=daemon_reload
T=$(mktemp -d /tmp/hz_dr_XXXXXX)
. tests/tools/daemon_lib.sh

import_choptank "$T/hz.sqlite"
conf() { # conf LEVEL_OF_B [CHECKPOINT_OF_B [SQLITE_SINK_OF_B]]
    cat <<EOT
database: $T/hz.sqlite
metrics: {listen: "127.0.0.1:$PORT"}
pipelines:
EOT
    for p in a b; do
        lv=0.99 ck=$T/m.safetensors sk={}
        [ $p = b ] && lv=$1 && ck=${2:-$ck} && sk=${3:-$sk}
        cat <<EOT
  - name: $p
    source:
      sqlite: {table: readings, poll: 50ms}
      fields: {series: series, time: ts, values: [Qdaily]}
    window: {period: 1d, lookback: 60, horizon: 7}
    model:
      kind: itransformer
      checkpoint: $ck
      params: {d_model: 16, n_heads: 2, e_layers: 1, d_ff: 32}
      data: {split: ratio, ratios: [0.7, 0.1, 0.2]}
    anomaly: {levels: [0.9, $lv]}
    sinks:
      - sqlite: $sk
EOT
    done
}
PORT=$((20000 + $$ % 20000))
conf 0.99 >"$T/hz.yaml"
"$BIN/horizon" train -c "$T/hz.yaml" -p a --epochs 1 --max-batches 3 >/dev/null 2>"$T/train.err" ||
    fail "train failed"
start_daemon "$T/hz.yaml" "$T/run.log"
wait_sql "SELECT count(DISTINCT pipeline || issued_ts) FROM forecasts" $((2 * 4324)) 60
port=$(sed -n 's/.*metrics on .*(port \([0-9]*\)).*/\1/p' "$T/run.log")
[ -n "$port" ] || fail "no metrics port in the log"
curl -sf "http://127.0.0.1:$port/healthz" >/dev/null || fail "/healthz not ok"
curl -sf "http://127.0.0.1:$port/metrics" >"$T/metrics" || fail "/metrics failed"
grep -q '^horizon_readings_total{pipeline="a"} 4383' "$T/metrics" || fail "metrics: $(grep readings "$T/metrics")"
# the intervals' achieved coverage, per level, near nominal after 4,300 checks (the gauges
# are refreshed every second)
sleep 1.5
curl -sf "http://127.0.0.1:$port/metrics" >"$T/metrics" || fail "/metrics failed"
awk '/^horizon_interval_coverage\{pipeline="a",level="0.9"\}/ { c90 = $2 }
     /^horizon_interval_coverage\{pipeline="a",level="0.99"\}/ { c99 = $2 }
     END { exit !(c90 > 0.85 && c90 < 0.95 && c99 > 0.97 && c99 <= 1) }' "$T/metrics" ||
    fail "coverage: $(grep interval_coverage "$T/metrics")"

conf 0.95 >"$T/hz.yaml"
kill -HUP "$HD"
wait_log "$T/run.log" 'reload done' 10
grep -q 'reload: pipeline a unchanged; keeps its windows (1 series)' "$T/run.log" || fail "a was not kept"
grep -q 'reload: pipeline b changed; restarting it' "$T/run.log" || fail "b was not restarted"
[ "$(grep -c 'pipeline b: windows rebuilt' "$T/run.log")" = 1 ] || fail "b's windows not rebuilt"
[ "$(grep -c 'pipeline a: windows rebuilt' "$T/run.log")" = 0 ] || fail "a was rebuilt"

echo 'pipelines: [oops' >"$T/hz.yaml"
kill -HUP "$HD"
wait_log "$T/run.log" 'reload refused' 10
# b's checkpoint cannot be loaded: refused before anything stops; b goes on forecasting
head -c 100 "$T/m.safetensors" >"$T/trunc.safetensors"
conf 0.95 "$T/trunc.safetensors" >"$T/hz.yaml"
kill -HUP "$HD"
refused_twice() { [ "$(grep -c 'reload refused' "$T/run.log")" -ge 2 ]; }
wait_for "second reload not refused" refused_twice
grep 'reload refused' "$T/run.log" | tail -n 1 | grep -q "pipeline b: .*trunc.safetensors" ||
    fail "refusal does not name b's checkpoint: $(grep 'reload refused' "$T/run.log" | tail -n 1)"
grep -q 'reload: pipeline b changed; restarting it' "$T/run.log" &&
    [ "$(grep -c 'reload: pipeline b changed' "$T/run.log")" = 1 ] || fail "b was stopped"
curl -sf "http://127.0.0.1:$port/metrics" >"$T/metrics" || fail "/metrics failed"
grep -q '^horizon_config_reloads_total{result="refused"} 2' "$T/metrics" ||
    fail "refusals not counted: $(grep reloads_total "$T/metrics")"
curl -sf "http://127.0.0.1:$port/healthz" >/dev/null || fail "/healthz not ok after the refusal"
# b's new settings pass the check but do not start (its sink's file cannot be created): b
# runs again on its previous settings
conf 0.999 "$T/m.safetensors" "{path: $T/no/such/dir/x.sqlite}" >"$T/hz.yaml"
kill -HUP "$HD"
wait_log "$T/run.log" 'pipeline b did not start on its new settings; running its previous ones' 10
wait_log "$T/run.log" 'reload done' 10
curl -sf "http://127.0.0.1:$port/healthz" >/dev/null || fail "/healthz not ok with b on its previous settings"
last=$(q "SELECT max(ts) FROM readings")
q "INSERT INTO readings(series, variable, ts, value) VALUES ('choptank', 'Qdaily', $((last + 86400000)), 123)"
wait_sql "SELECT count(*) FROM forecasts WHERE issued_ts = $((last + 86400000))" 14 30
stop_daemon
echo "$NAME: ok (b restarted, a kept its windows; bad file and bad checkpoint refused, b kept running when its new settings did not start; both forecast the next day)"
