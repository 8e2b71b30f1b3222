#!/bin/sh
# daemon_crash.sh — kill -9 in the middle of a stream (docs/ARCHITECTURE.md §5, delivery
# rules): readings of 50 series stream into a mock-cluster topic while horizond runs; it
# is killed with SIGKILL half-way and started again.  Afterwards every produced reading is
# in `readings` exactly once and every ready window has its forecast; the Kafka forecast
# messages published twice (at-least-once: work done but not yet acknowledged at the kill)
# are counted and reported.
set -u
NAME=daemon_crash
T=$(mktemp -d /tmp/hz_dc_XXXXXX)
. tests/tools/daemon_lib.sh

start_mock readings forecasts anomalies dead
train_ckpt
kafka_yaml "$T/hz.yaml"
readings 0 20 | kcat -b "$BOOT" -P -t readings -K: 2>>"$T/kcat.err" || fail "kcat produce failed"
start_daemon "$T/hz.yaml" "$T/run1.log"
(
    trap - EXIT
    t=20
    while [ $t -lt 60 ]; do
        readings $t $((t + 1)) | kcat -b "$BOOT" -P -t readings -K: 2>>"$T/kcat.err"
        t=$((t + 1))
        sleep 0.1
    done
) &
PROD=$!
wait_sql "SELECT count(*) >= 1500 FROM readings" 1 60
kill -9 "$HD"
wait "$HD" 2>/dev/null
HD=""
at_kill=$(q "SELECT count(*) FROM readings")
wait "$PROD"
start_daemon "$T/hz.yaml" "$T/run2.log"
wait_sql "SELECT count(*) FROM readings" 3000 60
# windows from point 24 (index 23) to 60 per series: 50 x 37
wait_sql "SELECT count(DISTINCT series || '/' || issued_ts) FROM forecasts" 1850 60
stop_daemon
[ "$(q "SELECT count(DISTINCT series || '/' || ts) FROM readings")" = 3000 ] || fail "readings not exactly once"
first=$((T0 + 23 * 60000))
last=$((T0 + 59 * 60000))
full=$(q "SELECT count(*) FROM (SELECT series, count(DISTINCT issued_ts) c, min(issued_ts) mi,
          max(issued_ts) ma FROM forecasts GROUP BY series) WHERE c = 37 AND mi = $first AND ma = $last")
[ "$full" = 50 ] || fail "only $full of 50 series have a forecast for every window"
[ "$(q "SELECT count(*) FROM forecasts")" = 7400 ] || fail "forecast rows $(q "SELECT count(*) FROM forecasts"), expected 7400"
nf=$(count_topic forecasts)
[ "$nf" -ge 7400 ] || fail "forecasts topic lost messages: $nf < 7400"
dup=$((nf - 7400))
reread=$(sed -n 's/.*pipeline meters stopped: \([0-9]*\) readings.*/\1/p' "$T/run2.log")
[ "$reread" -ge $((3000 - at_kill)) ] || fail "second run read $reread readings, fewer than the $((3000 - at_kill)) left at the kill"
echo "$NAME: ok (killed at $at_kill/3000 readings; restart read $reread; every reading once, all 1850 windows forecast; $dup duplicate forecast messages on Kafka, at-least-once)"
