#!/bin/sh
# bench_web.sh — the web view (docs/WEB.md) under a fleet's load: the daemon benchmark's
# set-up (bench/bench_daemon.sh, tests/tools/daemon_lib.sh: SERIES series, default 100000, their
# history in SQLite, POINTS new readings each from the mock Kafka cluster, iTransformer,
# stride 4, sqlite forecasts: latest) run 2 x RUNS times on the same data, alternately alone
# and while the pages are requested (`/`, a pipeline page and a series page in turn, one at
# a time, RATE a second, default 10: a dashboard's panels refreshed, more than people
# clicking; RATE=100 is close to back to back) from ready to the last reading.  Whole runs,
# alternated (quiet, pages, pages, quiet, ...): with stride 4 the work comes in waves of
# 4 x SERIES readings, so phases within one run measured the waves, and the machine is
# shared.  Prints each page's latency (curl's time_total: p50, p99, max over all its
# requests), each run's ingest rate (readings over the wall time from ready to the last
# reading, and over the busy time as bench_daemon.sh) and the CPU time of the HTTP thread
# and of the whole daemon (from start: the rebuild included).  Targets: `/` p99 < 200 ms, a series
# page p99 < 100 ms, ingest drop < 5%.  Not part of make test or make bench (minutes, 1 GB).
# Usage: bench/bench_web.sh   env: SERIES POINTS STRIDE LOOKBACK HORIZON RUNS RATE
set -u
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
B=${BUILD:-build}
BIN=$B
NAME=bench_web
SERIES=${SERIES:-100000}
POINTS=${POINTS:-12}
LOOKBACK=${LOOKBACK:-96}
HORIZON=${HORIZON:-24}
STRIDE=${STRIDE:-4}
RUNS=${RUNS:-2}
RATE=${RATE:-10}
PARTITIONS=${PARTITIONS:-$((SERIES > 20000 ? 16 : 4))}
T=$(mktemp -d /tmp/hz_bweb_XXXXXX)
. tests/tools/daemon_lib.sh
PORT=$((20000 + ($$ + 29) % 20000))
U="http://127.0.0.1:$PORT"

bench_ckpt $LOOKBACK $HORIZON
model=$MODEL_YAML
bench_history "$T/history.sqlite" $SERIES $LOOKBACK
# the stream (a jump every 997th reading, so the last day has spike flags too)
awk -v n=$SERIES -v a=$LOOKBACK -v b=$((LOOKBACK + POINTS)) -v t0=$T0 'BEGIN {
    for (t = a; t < b; t++) for (s = 0; s < n; s++) {
        v = 10 + 5 * sin(6.2831853 * t / 96 + s / 100); if ((s * 7 + t) % 997 == 0) v += 40;
        printf "m%d:{\"series\":\"m%d\",\"ts\":%.0f,\"power\":%.3f}\n", s, s, t0 + t * 60000, v } }' \
    >"$T/stream"
# yaml: the daemon's configuration on the mock cluster at $BOOT
yaml() {
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
}

now() { date +%s.%N; }
# readings: horizon_readings_total
readings() { curl -s "$U/metrics" | awk '/^horizon_readings_total/ { r += $2 } END { print r + 0 }'; }

# pages N: N requests of the three pages in turn (the series page of a different series
# each time) by one curl at RATE a second (a connection kept open): "page seconds" lines
k=0
pages() {
    awk -v n="$1" -v k=$k -v s=$SERIES -v u="$U" 'BEGIN { for (i = 0; i < n; i++) {
        j = k + i; p = "/series/meters/m" (j * 389 % s)
        if (j % 3 == 0) p = "/"; else if (j % 3 == 1) p = "/pipeline/meters?prefix=m42"
        printf "url = \"%s%s\"\noutput = \"/dev/null\"\n", u, p } }' >"$T/curl.cfg"
    k=$((k + $1))
    curl -s --rate "$RATE/s" -K "$T/curl.cfg" -w '%{http_code} %{url} %{time_total}\n' >"$T/out" ||
        fail "page requests failed: $(tail -3 "$T/out")"
    awk -v u="$U" '$1 != 200 { print "GET " $2 ": " $1 > "/dev/stderr"; bad = 1 }
        { p = substr($2, length(u) + 1); sub(/\?.*/, "", p); sub(/^\/series\/.*/, "/series/P/S", p)
          print p, $3 } END { exit bad }' "$T/out" || fail "a page did not answer 200"
}

# run MODE (quiet | pages): the whole stream into a fresh copy of the history; appends
# "MODE readings wall_s busy_s" to $T/runs
run() {
    rm -f "$T"/hz.sqlite*
    cp "$T/history.sqlite" "$T/hz.sqlite"
    stop_mock
    start_mock -p "$PARTITIONS" readings
    kcat -b "$BOOT" -P -t readings -K: <"$T/stream" 2>/dev/null || fail "kcat failed"
    yaml
    : >"$T/$1.log"
    "$B/horizond" -c "$T/hz.yaml" 2>"$T/$1.log" &
    HD=$!
    wait_log "$T/$1.log" 'horizond ready' 900 # the windows are rebuilt from SQLite first
    t1=$(now)
    rm -f "$T/done"
    if [ "$1" = pages ]; then
        (while [ ! -e "$T/done" ]; do pages $((2 * RATE)); done) >>"$T/lat" &
        PL=$!
    fi
    until [ "$(readings)" -ge "$want" ]; do
        kill -0 "$HD" 2>/dev/null || fail "horizond exited: $(tail "$T/$1.log")"
        sleep 0.2
    done
    t2=$(now)
    touch "$T/done"
    [ "$1" = pages ] && { wait "$PL" || fail "page requests failed"; }
    # CPU seconds of the HTTP thread (libmicrohttpd's "MHD-single") and of the whole daemon
    cpu=$(for t in /proc/$HD/task/*; do echo "$(cat "$t/comm") $(cut -d' ' -f14,15 "$t/stat")"; done |
        awk -v hz="$(getconf CLK_TCK)" '{ all += $(NF - 1) + $NF } /^MHD/ { web += $(NF - 1) + $NF }
            END { printf "%.2f %.1f", web / hz, all / hz }')
    stop_daemon
    line=$(grep 'pipeline meters stopped' "$T/$1.log")
    echo "$1 $(echo "$line" | sed 's/.*stopped: \([0-9]*\) readings.*/\1/')" \
        "$(awk -v a="$t1" -v b="$t2" 'BEGIN { print b - a }')" \
        "$(echo "$line" | sed 's/.*busy \([0-9.]*\) s.*/\1/')" "$cpu" >>"$T/runs"
}

want=$((SERIES * POINTS))
: >"$T/lat"
: >"$T/runs"
i=0
while [ $i -lt "$RUNS" ]; do
    if [ $((i % 2)) = 0 ]; then run quiet; run pages; else run pages; run quiet; fi
    i=$((i + 1))
done

printf '| page | requests | p50 | p99 | max |\n|---|---|---|---|---|\n'
for p in / /pipeline/meters /series/P/S; do
    awk -v p="$p" '$1 == p { print $2 * 1000 }' "$T/lat" | sort -n |
        awk -v p="$p" '{ a[NR] = $1 } END { i99 = int(NR * 0.99 + 0.999); if (i99 < 1) i99 = 1
            printf "| `%s` | %d | %.1f ms | %.1f ms | %.1f ms |\n", p, NR, a[int(NR * 0.5 + 0.999)], a[i99], a[NR] }'
done
echo
awk 'BEGIN { print "| run | readings | wall s | readings/s (wall) | readings/s (busy) | HTTP thread CPU | daemon CPU |"
             print "|---|---|---|---|---|---|---|" }
    { printf "| %s | %d | %.1f | %.0f | %.0f | %.2f s | %.1f s |\n", $1 == "quiet" ? "alone" : "with page requests",
          $2, $3, $2 / $3, $2 / $4, $5, $6
      n[$1]++; w[$1] += $2 / $3; b[$1] += $2 / $4 }
    END { printf "\ningest drop while the pages are requested (mean of %d runs each): %.1f%% (wall), %.1f%% (busy)\n",
              n["pages"], 100 * (1 - w["pages"] / n["pages"] / (w["quiet"] / n["quiet"])),
              100 * (1 - b["pages"] / n["pages"] / (b["quiet"] / n["quiet"])) }' "$T/runs"
echo "$SERIES series, $POINTS readings each streamed, stride $STRIDE, lookback $LOOKBACK, horizon $HORIZON;"
echo "$RATE requests a second, one at a time (one curl, its connection kept), from ready to the last reading."
echo "Machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg) (shared: numbers are noisy)."
