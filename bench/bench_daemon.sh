#!/bin/sh
# bench_daemon.sh — horizond end to end: SERIES series (default 10000) with their
# windows rebuilt from SQLite history at start, then POINTS new readings per series streamed
# from a Kafka topic (librdkafka's mock cluster on loopback, produced beforehand with kcat),
# each new point making a ready window; iTransformer forecasts in batches of batch.max; SQLite
# sink.  Prints readings/s and forecasts/s (forecast points: windows x horizon), the window
# rebuild time, mean forward time and batch size, and p50/p99 latency from a reading's
# arrival (its poll returned) to the commit of its forecasts (what horizond logs at stop).
# The model alone (bench/bench_forward.c) runs on the same checkpoint at the same batch size
# just before and just after the daemon (the mean of the two); readings/s count the stop
# (SIGTERM to exit) as busy time.  The last line is
#   readings_per_s=X model_windows_per_s=Y ratio=X/Y p50_ms=A p99_ms=B peak_rss_mb=C
# Usage: bench/bench_daemon.sh   env: SERIES POINTS (32; 8 past 20k series) LOOKBACK HORIZON
#   STRIDE BATCHES ("512") PARTITIONS
#   FORECASTS (sinks[].sqlite.forecasts: latest, the fleet setting; or history, both)
#   ADAPT (anomaly.adapt_steps: false, a fleet's memory; or true)
#   COMMIT_AFTER (batch.commit_after: 300ms, group commit; 0 = a commit per cycle), MAX_WAIT (100ms)
#   STAGE (sinks[].sqlite.stage_readings: 0s, readings straight into their table; e.g. 30s)
# Run from the repository root; the mock cluster, the failure report and the clean-up at exit
# come from tests/tools/daemon_lib.sh.
set -u
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
B=${BUILD:-build}
BIN=$B
NAME=bench_daemon
SERIES=${SERIES:-10000}
POINTS=${POINTS:-$(( SERIES > 20000 ? 8 : 32 ))} # a run of 10-20 s: the restart's windows 3%
LOOKBACK=${LOOKBACK:-96}
HORIZON=${HORIZON:-24}
BATCHES=${BATCHES:-512}
STRIDE=${STRIDE:-1}
FORECASTS=${FORECASTS:-latest}
ADAPT=${ADAPT:-false}
COMMIT_AFTER=${COMMIT_AFTER:-300ms}
MAX_WAIT=${MAX_WAIT:-100ms}
STAGE=${STAGE:-0s} # sinks[].sqlite.stage_readings: 0s, or how often staged readings are moved
# the mock cluster keeps ~77k messages a partition
PARTITIONS=${PARTITIONS:-$(( SERIES * POINTS / 50000 > 4 ? SERIES * POINTS / 50000 : 4 ))}
T=$(mktemp -d /tmp/hz_bench_XXXXXX)
. tests/tools/daemon_lib.sh
PORT=$((20000 + $$ % 20000))

bench_ckpt $LOOKBACK $HORIZON
model=$MODEL_YAML

# windows/s of the model alone (bench/bench_forward.c) at batch $1, 3 s
model_alone() {
    "$B/bench/bench_forward" "$T/m.safetensors" "$1" 3 | sed 's/.*model_windows_per_s=\([0-9]*\).*/\1/'
}

# the stream: POINTS readings per series after the history, time-major
awk -v n=$SERIES -v a=$LOOKBACK -v b=$((LOOKBACK + POINTS)) -v t0=$T0 'BEGIN {
    for (t = a; t < b; t++) for (s = 0; s < n; s++)
        printf "m%d:{\"series\":\"m%d\",\"ts\":%.0f,\"power\":%.3f}\n", s, s, t0 + t * 60000,
            10 + 5 * sin(6.2831853 * t / 96 + s / 100) }' >"$T/stream"

printf '| series | batch.max | readings | windows | readings/s | forecasts/s | rebuild | stop | mean forward | mean batch | latency p50 | latency p99 | peak RSS |\n'
printf '|---|---|---|---|---|---|---|---|---|---|---|---|---|\n'
for bmax in $BATCHES; do
    rm -f "$T"/hz.sqlite*
    bench_history "$T/hz.sqlite" $SERIES $LOOKBACK
    stop_mock
    start_mock -p "$PARTITIONS" readings
    kcat -b "$BOOT" -P -t readings -K: <"$T/stream" 2>/dev/null || fail "kcat failed"
    cat >"$T/hz.yaml" <<EOT
database: $T/hz.sqlite
metrics: {listen: "127.0.0.1:$PORT"}
kafka: {bootstrap.servers: "$BOOT"}
pipelines:
  - name: meters
    source:
      kafka: {topic: readings, group.id: bench}
      fields: {time: ts, values: [power]}
    window: {period: 1m, lookback: $LOOKBACK, horizon: $HORIZON, stride: $STRIDE}
    batch: {max: $bmax, max_wait: $MAX_WAIT, commit_after: $COMMIT_AFTER}
    model:
      $model
    anomaly: {levels: [0.9, 0.99], rules: {spike: 6.0}, adapt_steps: $ADAPT}
    sinks: [{sqlite: {forecasts: $FORECASTS, stage_readings: $STAGE}}]
EOT
    # the model alone before the run and after it, averaged (the host's speed drifts by ~10%)
    mw0=$(model_alone "$bmax")
    t0=$(date +%s.%N)
    : >"$T/run.log"
    ${PERF:-} "$B/horizond" -c "$T/hz.yaml" 2>"$T/run.log" &
    HD=$!
    until grep -q 'horizond ready' "$T/run.log"; do
        kill -0 "$HD" 2>/dev/null || fail "horizond exited: $(cat "$T/run.log")"
        sleep 0.05
    done
    t1=$(date +%s.%N)
    want=$((SERIES * POINTS))
    until [ "$(curl -s "http://127.0.0.1:$PORT/metrics" |
               awk '/^horizon_readings_total/ { n += $2 } END { print n + 0 }')" = "$want" ]; do
        kill -0 "$HD" 2>/dev/null || fail "horizond exited: $(tail "$T/run.log")"
        sleep 0.5
    done
    sleep 1 # the last cycle commits
    rss=$(awk '/^VmHWM/ { printf "%.0f", $2 / 1024 }' /proc/$HD/status)
    curl -s "http://127.0.0.1:$PORT/metrics" >"$T/metrics"
    t2=$(date +%s.%N)
    kill -TERM "$HD"
    wait "$HD"
    HD=""
    # the stop: with stage_readings it moves what is still staged, counted in the busy time
    stop=$(awk -v a="$t2" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    line=$(grep 'pipeline meters stopped' "$T/run.log")
    rd=$(echo "$line" | sed 's/.*stopped: \([0-9]*\) readings.*/\1/')
    fc=$(echo "$line" | sed 's/.*readings, \([0-9]*\) forecasts.*/\1/')
    win=$(echo "$line" | sed 's/.* \([0-9]*\) windows in.*/\1/')
    busy=$(echo "$line" | sed 's/.*busy \([0-9.]*\) s.*/\1/')
    busy=$(awk -v a="$busy" -v b="$stop" 'BEGIN { print a + b }')
    p50=$(echo "$line" | sed 's/.*p50 \([0-9.]*\) ms.*/\1/')
    p99=$(echo "$line" | sed 's/.*p99 \([0-9.]*\) ms.*/\1/')
    inf=$(awk '/^horizon_inference_seconds_sum/ { s = $2 } /^horizon_inference_seconds_count/ { n = $2 }
               END { if (n) printf "%.1f ms", 1000 * s / n }' "$T/metrics")
    bs=$(awk '/^horizon_batch_size_sum/ { s = $2 } /^horizon_batch_size_count/ { n = $2 }
              END { if (n) printf "%.0f", s / n }' "$T/metrics")
    reb=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f s", b - a }')
    awk -v s=$SERIES -v b=$bmax -v rd="$rd" -v w="$win" -v fc="$fc" -v busy="$busy" -v reb="$reb" \
        -v inf="$inf" -v bs="$bs" -v p50="$p50" -v p99="$p99" -v rss="$rss" -v stop="$stop" 'BEGIN {
        printf "| %d | %d | %d | %d | %.0f | %.0f | %s | %s s | %s | %s | %s ms | %s ms | %s MB |\n", s, b,
            rd, w, rd / busy, fc / busy, reb, stop, inf, bs, p50, p99, rss }'
    mw=$(( (mw0 + $(model_alone "$bmax")) / 2 ))
    last=$(awk -v rd="$rd" -v busy="$busy" -v mw="$mw" -v p50="$p50" -v p99="$p99" -v rss="$rss" \
        'BEGIN { x = rd / busy; printf "readings_per_s=%.0f model_windows_per_s=%d ratio=%.2f " \
                 "p50_ms=%s p99_ms=%s peak_rss_mb=%s", x, mw, x / mw, p50, p99, rss }')
done
echo
echo "readings/s and forecasts/s over the busy time (first record of a cycle to its commit) plus the stop (SIGTERM to exit);"
echo "forecasts = windows x horizon points (in latest: one row per window, its steps as JSON arrays; synchronous=FULL);"
echo "rebuild = start until ready (checkpoint load, $SERIES x $LOOKBACK history points replayed)."
echo "OPENBLAS_NUM_THREADS=$OPENBLAS_NUM_THREADS (the model on the loop thread; SQLite inserts and commits on the sink's writer thread). Machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg) (shared: numbers are noisy)."
echo "stride $STRIDE, horizon $HORIZON, sqlite forecasts: $FORECASTS, stage_readings: $STAGE, anomaly.adapt_steps: $ADAPT, batch.commit_after: $COMMIT_AFTER; model alone: bench/bench_forward at the same batch.max, 3 s before the run and 3 s after, averaged."
echo "$last"
