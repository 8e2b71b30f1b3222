#!/bin/sh
# bench_web.sh — the web view (docs/WEB.md) under a fleet's load: the daemon benchmark's
# set-up (bench/bench_daemon.sh: SERIES series, default 100000, their history in SQLite,
# POINTS new readings each from the mock Kafka cluster, iTransformer, sqlite forecasts:
# latest) run twice on the same data: once alone, once while REQUESTS requests (default 200
# each) of `/`, a pipeline page and a series page are made, paced by GAP seconds (0.05).
# Prints the latency of each page (p50, p99, max; curl's time_total) and the ingest rate of
# both runs (readings over busy time, as bench_daemon.sh, and over wall time from ready to
# the last reading).  Targets (issue of the web view): `/` p99 < 200 ms, series page p99
# < 100 ms, ingest rate drop < 5%.  Not part of make test or make bench (minutes, 1 GB).
# Usage: bench/bench_web.sh   env: SERIES POINTS STRIDE LOOKBACK HORIZON REQUESTS GAP
set -u
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
B=${BUILD:-build}
BIN=$B
NAME=bench_web
SERIES=${SERIES:-100000}
POINTS=${POINTS:-8}
LOOKBACK=${LOOKBACK:-96}
HORIZON=${HORIZON:-24}
STRIDE=${STRIDE:-4}
REQUESTS=${REQUESTS:-200}
GAP=${GAP:-0.05}
PARTITIONS=${PARTITIONS:-$((SERIES > 20000 ? 16 : 4))}
T=$(mktemp -d /tmp/hz_bweb_XXXXXX)
. tests/tools/daemon_lib.sh
PORT=$((20000 + ($$ + 29) % 20000))
U="http://127.0.0.1:$PORT"

awk -v t0=$T0 'BEGIN { print "ts,power"; for (t = 0; t < 1500; t++)
    printf "%.0f,%.4f\n", t0 + t * 60000, 10 + 5 * sin(6.2831853 * t / 96) }' >"$T/train.csv"
model="kind: itransformer
      checkpoint: $T/m.safetensors
      params: {d_model: 128, n_heads: 8, e_layers: 2, d_ff: 256}"
cat >"$T/train.yaml" <<EOT
database: $T/train.sqlite
metrics: {listen: ""}
pipelines:
  - name: meters
    source: {csv: {path: $T/train.csv}, fields: {time: ts, values: [power]}}
    window: {period: 1m, lookback: $LOOKBACK, horizon: $HORIZON}
    model:
      $model
      data: {split: ratio, ratios: [0.7, 0.1, 0.2]}
    sinks: [{sqlite: {}}]
EOT
"$B/horizon" train -c "$T/train.yaml" --epochs 1 --max-batches 2 >/dev/null 2>"$T/train.err" ||
    fail "train failed: $(cat "$T/train.err")"
# the stream (a spike every 997th reading, so the last day has flags of several kinds)
awk -v n=$SERIES -v a=$LOOKBACK -v b=$((LOOKBACK + POINTS)) -v t0=$T0 'BEGIN {
    for (t = a; t < b; t++) for (s = 0; s < n; s++) {
        v = 10 + 5 * sin(6.2831853 * t / 96 + s / 100); if ((s * 7 + t) % 997 == 0) v += 40;
        printf "m%d:{\"series\":\"m%d\",\"ts\":%.0f,\"power\":%.3f}\n", s, s, t0 + t * 60000, v } }' \
    >"$T/stream"
sqlite3 "$T/history.sqlite" "CREATE TABLE readings(series TEXT NOT NULL, variable TEXT NOT NULL,
    ts INTEGER NOT NULL, value REAL, UNIQUE(series, variable, ts));
    WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < $SERIES - 1),
         t(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM t WHERE j < $LOOKBACK - 1)
    INSERT INTO readings SELECT 'm' || i, 'power', $T0 + j * 60000,
        10 + 5 * sin(6.2831853 * j / 96 + i / 100.0) FROM s, t;" || fail "history failed"

# run MODE (quiet | pages): one daemon run over the whole stream; sets RD BUSY WALL
run() {
    rm -f "$T"/hz.sqlite*
    cp "$T/history.sqlite" "$T/hz.sqlite"
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
    batch: {max: 512, max_wait: 100ms, commit_after: 300ms}
    model:
      $model
    anomaly: {levels: [0.9, 0.99], rules: {spike: 6.0}, adapt_steps: false}
    sinks: [{sqlite: {forecasts: latest}}]
EOT
    : >"$T/$1.log"
    "$B/horizond" -c "$T/hz.yaml" 2>"$T/$1.log" &
    HD=$!
    wait_log "$T/$1.log" 'horizond ready' 900 # the windows rebuilt from SQLite first
    t1=$(date +%s.%N)
    want=$((SERIES * POINTS))
    [ "$1" = pages ] && { pages >"$T/lat" & PG=$!; }
    until [ "$(curl -s "$U/metrics" | awk '/^horizon_readings_total/ { n += $2 } END { print n + 0 }')" = "$want" ]; do
        kill -0 "$HD" 2>/dev/null || fail "horizond exited: $(tail "$T/$1.log")"
        sleep 0.2
    done
    t2=$(date +%s.%N)
    [ "$1" = pages ] && { wait "$PG" || fail "page requests failed: $(tail "$T/lat")"; }
    stop_daemon
    line=$(grep 'pipeline meters stopped' "$T/$1.log")
    RD=$(echo "$line" | sed 's/.*stopped: \([0-9]*\) readings.*/\1/')
    BUSY=$(echo "$line" | sed 's/.*busy \([0-9.]*\) s.*/\1/')
    WALL=$(awk -v a="$t1" -v b="$t2" 'BEGIN { print b - a }')
}

# pages: REQUESTS requests of each page, interleaved, GAP apart: "page seconds" lines
pages() {
    i=0
    while [ $i -lt "$REQUESTS" ]; do
        for p in / /pipeline/meters?prefix=m42 "/series/meters/m$((i * 389 % SERIES))"; do
            s=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' "$U$p") || exit 1
            [ "${s%% *}" = 200 ] || { echo "$p: $s"; exit 1; }
            echo "${p%%\?*} ${s#* }" | sed 's|/series/[^ ]*|/series/P/S|'
            sleep "$GAP"
        done
        i=$((i + 1))
    done
}

run quiet
q_rd=$RD q_busy=$BUSY q_wall=$WALL
run pages
during=$(awk -v w="$WALL" 'BEGIN { printf "%.0f", w }')
printf '| page | requests | p50 | p99 | max |\n|---|---|---|---|---|\n'
for p in / /pipeline/meters /series/P/S; do
    awk -v p="$p" '$1 == p { print $2 * 1000 }' "$T/lat" | sort -n |
        awk -v p="$p" '{ a[NR] = $1 } END { i99 = int(NR * 0.99 + 0.999); if (i99 < 1) i99 = 1
            printf "| `%s` | %d | %.1f ms | %.1f ms | %.1f ms |\n", p, NR, a[int(NR * 0.5 + 0.999)], a[i99], a[NR] }'
done
echo
printf '| run | readings | readings/s (busy) | readings/s (wall, ready to last reading) |\n|---|---|---|---|\n'
awk -v rd="$q_rd" -v b="$q_busy" -v w="$q_wall" 'BEGIN { printf "| alone | %d | %.0f | %.0f |\n", rd, rd / b, rd / w }'
awk -v rd="$RD" -v b="$BUSY" -v w="$WALL" 'BEGIN { printf "| with page requests | %d | %.0f | %.0f |\n", rd, rd / b, rd / w }'
awk -v a="$q_rd" -v ab="$q_busy" -v aw="$q_wall" -v c="$RD" -v cb="$BUSY" -v cw="$WALL" 'BEGIN {
    printf "\ningest drop with pages: %.1f%% (busy), %.1f%% (wall)\n", 100 * (1 - (c / cb) / (a / ab)),
        100 * (1 - (c / cw) / (a / aw)) }'
echo "$SERIES series, $POINTS readings each streamed, stride $STRIDE, lookback $LOOKBACK, horizon $HORIZON; ingest with pages lasted ${during} s;"
echo "requests ${GAP} s apart, one at a time (curl, a new connection each). Machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg) (shared: numbers are noisy)."
