#!/bin/sh
# bench_web.sh — the web view (docs/WEB.md) under a fleet's load: the daemon benchmark's
# set-up (bench/bench_daemon.sh, bench/fleet_lib.sh: SERIES series, default 100000, their
# history in SQLite, POINTS new readings each from the mock Kafka cluster, iTransformer,
# sqlite forecasts: latest) in one run whose ingestion is cut into PHASE-second phases
# (default 5): in every other phase the pages are requested (`/`, a pipeline page and a
# series page in turn, one at a time, RATE a second, default 10: a dashboard's panels
# refreshed, more than people clicking; RATE=100 is close to back to back), in the others none.
# The ingest rate of each kind of phase comes from horizon_readings_total at the phase
# boundaries (the first phase, the consumer group's start, and the last, cut short by the
# end of the stream, are not counted).  Phases rather than two runs: on a shared machine two
# runs a few minutes apart differed by 40% with nothing changed.  Prints each page's latency
# (curl's time_total: p50, p99 over at least REQUESTS requests, max) and the two rates.
# Targets: `/` p99 < 200 ms, a series page p99 < 100 ms, ingest drop < 5%.
# Not part of make test or make bench (minutes, 1 GB).
# Usage: bench/bench_web.sh   env: SERIES POINTS STRIDE LOOKBACK HORIZON REQUESTS PHASE RATE
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
REQUESTS=${REQUESTS:-200}
PHASE=${PHASE:-5}
RATE=${RATE:-10}
PARTITIONS=${PARTITIONS:-$((SERIES > 20000 ? 16 : 4))}
T=$(mktemp -d /tmp/hz_bweb_XXXXXX)
. tests/tools/daemon_lib.sh
. bench/fleet_lib.sh
PORT=$((20000 + ($$ + 29) % 20000))
U="http://127.0.0.1:$PORT"

fleet_checkpoint
fleet_history "$T/hz.sqlite"
# the stream (a jump every 997th reading, so the last day has spike flags too)
awk -v n=$SERIES -v a=$LOOKBACK -v b=$((LOOKBACK + POINTS)) -v t0=$T0 'BEGIN {
    for (t = a; t < b; t++) for (s = 0; s < n; s++) {
        v = 10 + 5 * sin(6.2831853 * t / 96 + s / 100); if ((s * 7 + t) % 997 == 0) v += 40;
        printf "m%d:{\"series\":\"m%d\",\"ts\":%.0f,\"power\":%.3f}\n", s, s, t0 + t * 60000, v } }' \
    >"$T/stream"
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

: >"$T/run.log"
"$B/horizond" -c "$T/hz.yaml" 2>"$T/run.log" &
HD=$!
wait_log "$T/run.log" 'horizond ready' 900 # the windows are rebuilt from SQLite first
want=$((SERIES * POINTS))
: >"$T/lat"
: >"$T/phases"
ph=0
last=$(readings)
t=$(now)
while [ "$last" -lt "$want" ]; do
    kill -0 "$HD" 2>/dev/null || fail "horizond exited: $(tail "$T/run.log")"
    if [ $((ph % 2)) = 1 ]; then pages $((PHASE * RATE)) >>"$T/lat"; else sleep "$PHASE"; fi
    cur=$(readings)
    t2=$(now)
    # phase kind, readings, seconds; the first and the last (cut short) are not counted
    [ "$ph" -gt 0 ] && [ "$cur" -lt "$want" ] &&
        echo "$((ph % 2)) $((cur - last)) $(awk -v a="$t" -v b="$t2" 'BEGIN { print b - a }')" >>"$T/phases"
    last=$cur
    t=$t2
    ph=$((ph + 1))
done
# more requests when the stream ended before REQUESTS of each (an idle daemon then: said below)
extra=0
while [ "$(grep -c '^/ ' "$T/lat")" -lt "$REQUESTS" ]; do
    pages $((3 * (REQUESTS - $(grep -c '^/ ' "$T/lat")))) >>"$T/lat"
    extra=1
done
stop_daemon

printf '| page | requests | p50 | p99 | max |\n|---|---|---|---|---|\n'
for p in / /pipeline/meters /series/P/S; do
    awk -v p="$p" '$1 == p { print $2 * 1000 }' "$T/lat" | sort -n |
        awk -v p="$p" '{ a[NR] = $1 } END { i99 = int(NR * 0.99 + 0.999); if (i99 < 1) i99 = 1
            printf "| `%s` | %d | %.1f ms | %.1f ms | %.1f ms |\n", p, NR, a[int(NR * 0.5 + 0.999)], a[i99], a[NR] }'
done
echo
awk 'BEGIN { print "| phases | count | readings | seconds | readings/s |"; print "|---|---|---|---|---|" }
    { n[$1]++; r[$1] += $2; s[$1] += $3 }
    END { q = s[0] ? r[0] / s[0] : 0; w = s[1] ? r[1] / s[1] : 0
          printf "| without requests | %d | %d | %.1f | %.0f |\n", n[0], r[0], s[0], q
          printf "| with page requests | %d | %d | %.1f | %.0f |\n", n[1], r[1], s[1], w
          if (q) printf "\ningest drop while the pages are requested: %.1f%%\n", 100 * (1 - w / q) }' "$T/phases"
echo "$SERIES series, $POINTS readings each streamed, stride $STRIDE, lookback $LOOKBACK, horizon $HORIZON; phases of $PHASE s;"
echo "$RATE requests a second, one at a time (one curl, its connection kept)$([ $extra = 1 ] && echo "; the stream ended first: the last requests ran on an idle daemon")."
echo "Machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg) (shared: numbers are noisy)."
