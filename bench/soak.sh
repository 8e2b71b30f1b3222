#!/bin/sh
# soak.sh — horizond under a steady load for a long time (make soak; docs/RELIABILITY.md,
# "Soak"): tests/tools/soak_producer writes RATE readings a second (default 20000) over
# SERIES series (default 10000) to a mock-cluster topic on loopback for SOAK_SECONDS
# (default 600), while horizond consumes them: iTransformer (d_model 128, lookback 96,
# horizon 24, stride 4: a forecast per series every 4 readings), anomaly levels 0.9/0.99,
# SQLite sink with `forecasts: latest` and readings kept 6 h of data time (the stream runs
# 2 points a second per series, 20 h of data in 10 min, so retention deletes all along).
# Every SAMPLE seconds (30) a row: readings taken, their rate, forecasts issued, consumer
# lag, dead letters, RSS.  At the end: everything produced was taken (horizon_readings_total),
# no dead letter, the lag drained, and RSS flat after the warm-up (WARMUP s, default 180:
# windows full at 48 s, retention deleting from 180 s):
# at the end at most 10% above its value then.  The last line is
#   soak seconds=S produced=N rate=R taken=N forecasts=F dead=D lag_max=L lag_end=0 rss_start_mb=R0
#        rss_warm_mb=A rss_end_mb=B result=PASS|FAIL
set -u
B=${BUILD:-build}
BIN=$B
NAME=soak
SOAK_SECONDS=${SOAK_SECONDS:-600}
RATE=${RATE:-20000}
SERIES=${SERIES:-10000}
SAMPLE=${SAMPLE:-30}
WARMUP=${WARMUP:-180}
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
T=$(mktemp -d /tmp/hz_soak_XXXXXX)
. tests/tools/daemon_lib.sh
PORT=$((20000 + $$ % 20000))
PROD=""
trap '[ -n "$PROD" ] && kill "$PROD" 2>/dev/null; cleanup' EXIT

bench_ckpt 96 24
model=$MODEL_YAML

start_mock -p 8 readings
cat >"$T/hz.yaml" <<EOT
database: $T/hz.sqlite
metrics: {listen: "127.0.0.1:$PORT"}
kafka: {bootstrap.servers: "$BOOT"}
pipelines:
  - name: meters
    source:
      kafka: {topic: readings, group.id: soak}
      fields: {series: series, time: ts, values: [power]}
    window: {period: 1m, lookback: 96, horizon: 24, stride: 4}
    batch: {max: 512, max_wait: 100ms, commit_after: 300ms}
    model:
      $model
    anomaly: {levels: [0.9, 0.99], rules: {spike: 6.0}}
    sinks: [{sqlite: {forecasts: latest, retention: {readings: 6h}}}]
EOT
start_daemon "$T/hz.yaml" "$T/run.log"
# data time starts two days back on a minute boundary: 20 h of it never reaches the clock
t0=$(( ($(date +%s) - 2 * 86400) / 60 * 60000 ))
"$BIN/tools/soak_producer" -b "$BOOT" -t readings -s "$SERIES" -r "$RATE" -d "$SOAK_SECONDS" \
    -0 "$t0" >"$T/produced" 2>"$T/producer.err" &
PROD=$!

metric() { awk -v m="$1" '$1 ~ "^" m "({|$)" { s += $2 } END { printf "%.0f", s }' "$T/metrics"; }
rss() { awk '/^VmRSS/ { printf "%.0f", $2 / 1024 }' /proc/$HD/status; }
sample() { curl -s "http://127.0.0.1:$PORT/metrics" >"$T/metrics" || fail "metrics unreachable"; }

printf '| t (s) | readings taken | readings/s | forecasts | lag | dead letters | RSS (MB) |\n'
printf '|---|---|---|---|---|---|---|\n'
start=$(date +%s)
rss_start=$(rss)
prev=0
prev_t=$start
lag_max=0
rss_warm=""
while kill -0 "$PROD" 2>/dev/null; do
    sleep "$SAMPLE"
    kill -0 "$HD" 2>/dev/null || fail "horizond exited"
    sample
    now=$(date +%s)
    rd=$(metric horizon_readings_total)
    lag=$(metric horizon_consumer_lag)
    r=$(rss)
    [ "$lag" -gt "$lag_max" ] && lag_max=$lag
    [ -z "$rss_warm" ] && [ $((now - start)) -ge "$WARMUP" ] && rss_warm=$r
    printf '| %d | %s | %.0f | %s | %s | %s | %s |\n' $((now - start)) "$rd" \
        "$(echo "$rd $prev $now $prev_t" | awk '{ print ($1 - $2) / ($3 - $4) }')" \
        "$(metric horizon_forecasts_total)" "$lag" "$(metric horizon_dead_letters_total)" "$r"
    prev=$rd
    prev_t=$now
done
wait "$PROD"
PROD=""
produced=$(sed -n 's/.*produced=\([0-9]*\).*/\1/p' "$T/produced")
[ -n "$produced" ] || fail "the producer did not finish: $(cat "$T/producer.err")"
# drain: everything produced taken and acknowledged (the lag gauge is set at a cycle's end)
i=0
until sample && [ "$(metric horizon_readings_total)" = "$produced" ] &&
    [ "$(metric horizon_consumer_lag)" = 0 ]; do
    i=$((i + 1))
    [ $i -gt 240 ] && break
    sleep 0.5
done
taken=$(metric horizon_readings_total)
fc=$(metric horizon_forecasts_total)
dead=$(metric horizon_dead_letters_total)
lag=$(metric horizon_consumer_lag)
r_end=$(rss)
[ -n "$rss_warm" ] || rss_warm=$r_end
stop_daemon
result=PASS
[ "$taken" = "$produced" ] || result=FAIL
[ "$dead" = 0 ] || result=FAIL
[ "$lag" = 0 ] || result=FAIL
[ "$r_end" -le $((rss_warm + rss_warm / 10)) ] || result=FAIL
echo
cat "$T/produced"
echo "Machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); OPENBLAS_NUM_THREADS=$OPENBLAS_NUM_THREADS."
echo "soak seconds=$SOAK_SECONDS produced=$produced rate=$(sed -n 's/.*rate=\([0-9]*\).*/\1/p' "$T/produced") taken=$taken forecasts=$fc dead=$dead lag_max=$lag_max lag_end=$lag rss_start_mb=$rss_start rss_warm_mb=$rss_warm rss_end_mb=$r_end result=$result"
[ "$result" = PASS ]
