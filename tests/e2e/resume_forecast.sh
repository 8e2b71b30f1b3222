#!/bin/sh
# resume_forecast.sh — a start ends with a forecast from each series' latest complete window
# (docs/ARCHITECTURE.md §5, "Restart"): readings imported with `horizon import` (30 points of
# one series, 10 of another: too few for a window), then horizond starts on that file with
# stride 4 and an empty Kafka topic.  It forecasts the latest window of the full series once
# (SQLite and the Kafka forecasts topic) and nothing for the short one; a restart writes no
# duplicate; new readings forecast again after `stride` slots from that window.
set -u
NAME=resume_forecast
T=$(mktemp -d /tmp/hz_rf_XXXXXX)
. tests/tools/daemon_lib.sh

start_mock readings forecasts anomalies dead
train_ckpt
kafka_yaml "$T/hz.yaml"
sed -i 's/stride: 1}/stride: 4}/' "$T/hz.yaml"
csv() { # csv N FILE: N points of one series, "ts,power"
    awk -v n="$1" -v t0=$T0 'BEGIN { print "ts,power"; for (t = 0; t < n; t++)
        printf "%.0f,%.4f\n", t0 + t * 60000, 10 + 5 * sin(6.2831853 * t / 24) }' >"$2"
}
csv 30 "$T/imp.csv"
csv 10 "$T/short.csv"
for s in imp short; do
    "$BIN/horizon" import "$T/$s.csv" --db "$T/hz.sqlite" --series $s --quiet >/dev/null 2>"$T/import.err" ||
        fail "import of $s failed: $(cat "$T/import.err")"
done
last=$((T0 + 29 * 60000))

start_daemon "$T/hz.yaml" "$T/run1.log"
grep -q 'windows rebuilt from .*: 2 series, 34 points; 1 latest window(s) forecast' "$T/run1.log" ||
    fail "the start did not forecast the latest window: $(grep rebuilt "$T/run1.log")"
[ "$(q "SELECT count(*) || ' ' || min(issued_ts) || ' ' || max(step) FROM forecasts WHERE series = 'imp'")" = "4 $last 4" ] ||
    fail "forecasts of imp: $(q "SELECT issued_ts, step FROM forecasts")"
[ "$(q "SELECT count(*) FROM forecasts WHERE series = 'short'")" = 0 ] || fail "a short window was forecast"
wait_for "the forecasts topic does not hold the latest window's 4 forecasts" test "$(count_topic forecasts)" = 4
stop_daemon

start_daemon "$T/hz.yaml" "$T/run2.log"
grep -q 'windows rebuilt from .*: 2 series, 34 points; 0 latest window(s) forecast' "$T/run2.log" ||
    fail "a restart forecast a stored window again: $(grep rebuilt "$T/run2.log")"
# four more points of imp: the next window forecast is a stride (4 slots) after the last one
awk -v t0=$T0 'BEGIN { for (t = 30; t < 34; t++)
    printf "imp:{\"series\":\"imp\",\"ts\":%.0f,\"power\":%.4f}\n", t0 + t * 60000, 10 + 5 * sin(6.2831853 * t / 24) }' |
    kcat -b "$BOOT" -P -t readings -K: 2>>"$T/kcat.err" || fail "kcat produce failed"
wait_sql "SELECT count(*) FROM readings WHERE series = 'imp'" 34
wait_sql "SELECT group_concat(i) FROM (SELECT DISTINCT (issued_ts - $T0) / 60000 AS i FROM forecasts ORDER BY i)" "29,33"
stop_daemon
[ "$(count_topic forecasts)" = 8 ] || fail "forecasts topic holds $(count_topic forecasts) messages, expected 8"
# the same with forecasts: latest (one row per series): stored when issued at W's time or later
sed -e "s|$T/hz.sqlite|$T/l.sqlite|" -e 's|- sqlite: {}|- sqlite: {forecasts: latest}|' "$T/hz.yaml" >"$T/l.yaml"
"$BIN/horizon" import "$T/imp.csv" --db "$T/l.sqlite" --series imp --quiet >/dev/null 2>"$T/import.err" ||
    fail "import into l.sqlite failed: $(cat "$T/import.err")"
start_daemon "$T/l.yaml" "$T/run3.log"
grep -q 'windows rebuilt from .*: 1 series, 24 points; 1 latest window(s) forecast' "$T/run3.log" ||
    fail "forecasts: latest: the start did not forecast the latest window: $(grep rebuilt "$T/run3.log")"
[ "$(sqlite3 "$T/l.sqlite" "SELECT issued_ts || ' ' || steps FROM latest_forecasts WHERE series = 'imp'")" = "$last 4" ] ||
    fail "latest_forecasts: $(sqlite3 "$T/l.sqlite" "SELECT * FROM latest_forecasts")"
stop_daemon
start_daemon "$T/l.yaml" "$T/run4.log"
stop_daemon
grep -q 'windows rebuilt from .*: 1 series, 24 points; 0 latest window(s) forecast' "$T/run4.log" ||
    fail "forecasts: latest: a restart forecast a stored window again: $(grep rebuilt "$T/run4.log")"
echo "$NAME: ok (after an import the start forecast the latest complete window once, with forecasts: history and latest; a restart added nothing; the next came a stride later)"
