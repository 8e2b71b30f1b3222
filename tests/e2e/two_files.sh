#!/bin/sh
# two_files.sh — a river gauge whose two variables come in two files: daily discharge (the
# bundled Choptank sample) and a precipitation made up from its dates, written by awk into
# two CSV files and imported one after the other with `horizon import` (every discharge row,
# then every precipitation row, as `horizon import q.csv --series g1` then `p.csv`).
# horizond reads both variables from the readings table: the SQLite source reads by time
# (connectors/sqlite_source.c), so each day's two rows make one reading, and every window is
# forecast for both variables.  Then, with the daemon running, three more days of discharge
# and, a moment later, their precipitation: the window store awaits the precipitation
# (window.wait) and joins it by day (pipeline/window_store.h).  Nothing is dropped, filled
# or dead-lettered unseen: the metrics say so.  Then five days of discharge alone: their
# precipitation is filled after three days each, counted and logged.  Last, on a copy of the
# imported file, horizond killed with SIGKILL in the middle of its pass and started again
# reads exactly the days its saved cursor does not cover.
set -u
NAME=two_files
T=$(mktemp -d /tmp/hz_tf_XXXXXX)
. tests/tools/daemon_lib.sh

# q.csv: date,discharge; p.csv: date,precip (rain on about 4 days in 13, 0 to 9.6 mm)
awk -F'\t' -v q="$T/q.csv" -v p="$T/p.csv" '
    NR == 1 { print "date,discharge" >q; print "date,precip" >p; next }
    NF >= 2 { print $1 "," $2 >q; r = (NR * 7919) % 13
              print $1 "," (r < 4 ? ((NR * 104729) % 97) / 10 : 0) >p }' \
    data/choptank/ChoptankRiverFlow.txt
for f in q p; do
    "$BIN/horizon" import "$T/$f.csv" --db "$T/hz.sqlite" --series g1 --date-order mdy \
        --quiet >/dev/null || fail "import of $f.csv failed"
done
[ "$(q "SELECT count(*) FROM readings WHERE variable = 'discharge' AND rowid <= 4383")" = 4383 ] ||
    fail "discharge not imported first"
[ "$(q "SELECT count(*) FROM readings WHERE variable = 'precip'")" = 4383 ] ||
    fail "precipitation rows: $(q "SELECT count(*) FROM readings WHERE variable = 'precip'")"

cp "$T/hz.sqlite" "$T/crash.sqlite" # for the kill -9 at the end, before any daemon

PORT=$((20000 + ($$ + 7) % 20000))
cat >"$T/hz.yaml" <<EOT
database: $T/hz.sqlite
metrics: {listen: "127.0.0.1:$PORT"}
pipelines:
  - name: gauge
    source:
      sqlite: {table: readings, poll: 50ms}
      fields: {series: series, time: ts, values: [discharge, precip]}
    window: {period: 1d, lookback: 30, horizon: 7, stride: 1}
    model:
      kind: itransformer
      checkpoint: $T/m/gauge.safetensors
      params: {d_model: 16, n_heads: 2, e_layers: 1, d_ff: 32, dropout: 0.0}
      train: {epochs: 1, batch: 32, lr: 1.0e-3, patience: 3, train_on_start: true}
      data: {split: ratio, ratios: [0.7, 0.1, 0.2], features: M}
    sinks:
      - sqlite: {}
EOT
start_daemon "$T/hz.yaml" "$T/run.log"
[ -s "$T/m/gauge.safetensors" ] || fail "train_on_start wrote no checkpoint"
# 4383 days, lookback 30: 4354 windows, each forecast 7 steps for both variables
wait_sql "SELECT count(DISTINCT issued_ts) FROM forecasts" 4354 60
[ "$(q "SELECT count(*) FROM forecasts WHERE series = 'g1' AND variable = 'precip'")" = $((4354 * 7)) ] ||
    fail "precipitation forecasts: $(q "SELECT count(*) FROM forecasts WHERE variable = 'precip'")"
[ "$(q "SELECT count(*) FROM forecasts WHERE series = 'g1' AND variable = 'discharge'")" = $((4354 * 7)) ] ||
    fail "discharge forecasts: $(q "SELECT count(*) FROM forecasts WHERE variable = 'discharge'")"

# three more days: discharge first, the precipitation half a second later
last=$(q "SELECT max(ts) FROM readings")
for d in 1 2 3; do
    q "INSERT INTO readings(series, variable, ts, value) VALUES ('g1', 'discharge', $((last + d * 86400000)), 150 + $d)"
done
sleep 0.5
q "INSERT INTO readings(series, variable, ts, value) VALUES ('g1', 'precip', $((last + 86400000)), 1), ('g1', 'precip', $((last + 2 * 86400000)), 0), ('g1', 'precip', $((last + 3 * 86400000)), 2)"
wait_sql "SELECT max(issued_ts) = $((last + 3 * 86400000)) FROM forecasts" 1 30
sleep 1.5 # the counters reach /metrics every second
port=$(sed -n 's/.*metrics on .*(port \([0-9]*\)).*/\1/p' "$T/run.log")
[ -n "$port" ] || fail "no metrics port in the log"
curl -sf "http://127.0.0.1:$port/metrics" >"$T/metrics" || fail "/metrics failed"
m() { sed -n "s/^$1{pipeline=\"gauge\"} //p" "$T/metrics"; }
[ "$(m horizon_dead_letters_total)" = 0 ] || fail "dead letters: $(m horizon_dead_letters_total)"
[ "$(m horizon_late_dropped_total)" = 0 ] || fail "late drops: $(m horizon_late_dropped_total)"
[ "$(m horizon_wait_filled_total)" = 0 ] || fail "wait fills: $(m horizon_wait_filled_total)"
[ "$(m horizon_values_awaited_total)" = "$(m horizon_values_joined_total)" ] ||
    fail "awaited $(m horizon_values_awaited_total), joined $(m horizon_values_joined_total)"
awaited=$(m horizon_values_awaited_total)
if grep -q 'dropped\|filled by window.fill' "$T/run.log"; then fail "warned: $(grep -e dropped -e filled "$T/run.log")"; fi
# the window of the last day holds both variables of its 30 days: its forecast exists for both
[ "$(q "SELECT count(DISTINCT variable) FROM forecasts WHERE issued_ts = $((last + 3 * 86400000))")" = 2 ] ||
    fail "last window not forecast for both variables"

# five days of discharge whose precipitation never comes: each day's is awaited 3 days
# (window.wait), then filled (fill: previous), counted and logged; the window moves on
last=$((last + 3 * 86400000))
for d in 1 2 3 4 5; do
    q "INSERT INTO readings(series, variable, ts, value) VALUES ('g1', 'discharge', $((last + d * 86400000)), 160 + $d)"
done
wait_sql "SELECT max(issued_ts) FROM forecasts" $((last + 2 * 86400000)) 30
sleep 1.5
curl -sf "http://127.0.0.1:$port/metrics" >"$T/metrics" || fail "/metrics failed"
[ "$(m horizon_wait_filled_total)" = 2 ] || fail "wait fills: $(m horizon_wait_filled_total), expected 2"
[ "$(m horizon_values_awaited_total)" = $((awaited + 5)) ] ||
    fail "awaited: $(m horizon_values_awaited_total), expected $((awaited + 5))"
grep -q '2 variable value(s) absent for window.wait = 3 slots filled by window.fill' "$T/run.log" ||
    fail "no warning about the fills: $(grep -i warn "$T/run.log")"
stop_daemon

# kill -9 in the middle of the pass over the two imports (small batches, a commit each),
# then a restart: the saved cursor (position, epoch_hi, at_ts, at_rowid) covers what the
# first run acknowledged; the second reads exactly the days it does not cover, every window
# is forecast once
sed -e "s|database: .*|database: $T/crash.sqlite|" -e 's|train_on_start: true|train_on_start: false|' \
    -e "s|    window:|    batch: {max: 4, max_wait: 5ms}\n    window:|" \
    -e "s|127.0.0.1:$PORT|127.0.0.1:$((PORT + 1))|" "$T/hz.yaml" >"$T/crash.yaml"
cq() { sqlite3 "$T/crash.sqlite" "$1" 2>/dev/null; }
start_daemon "$T/crash.yaml" "$T/crash1.log"
n=0
until [ "$(cq "SELECT count(DISTINCT issued_ts) >= 300 FROM forecasts")" = 1 ]; do
    n=$((n + 1)); [ $n -gt 600 ] && fail "the crash run forecast nothing"
    sleep 0.05
done
kill -9 "$HD"
wait "$HD" 2>/dev/null
HD=""
cur=$(cq "SELECT position || ' ' || ifnull(epoch_hi, -1) || ' ' || ifnull(at_ts, 0) || ' ' || ifnull(at_rowid, 0) FROM cursors WHERE name = 'gauge'")
set -- $cur
[ "$#" = 4 ] && [ "$2" -gt "$1" ] || fail "killed outside the pass (cursor: $cur)"
covered="rowid <= $1 OR (rowid <= $2 AND (ts < $3 OR (ts = $3 AND rowid <= $4)))"
left=$(cq "SELECT count(DISTINCT ts) FROM readings WHERE NOT ($covered)")
done_days=$(cq "SELECT count(DISTINCT ts) FROM readings WHERE $covered")
[ $((left + done_days)) = 4383 ] || fail "the cursor splits a day: $left + $done_days"
start_daemon "$T/crash.yaml" "$T/crash2.log"
n=0
until [ "$(cq "SELECT count(DISTINCT issued_ts) FROM forecasts")" = 4354 ]; do
    n=$((n + 1)); [ $n -gt 1200 ] && fail "after the restart: $(cq "SELECT count(DISTINCT issued_ts) FROM forecasts") windows"
    sleep 0.05
done
stop_daemon
grep -q "pipeline gauge stopped: $left readings" "$T/crash2.log" ||
    fail "the restart read $(sed -n 's/.*stopped: \([0-9]*\) readings.*/\1/p' "$T/crash2.log") readings, expected the $left days not acknowledged"
[ "$(cq "SELECT count(*) FROM forecasts")" = $((4354 * 7 * 2)) ] || fail "crash run forecast rows: $(cq "SELECT count(*) FROM forecasts")"
echo "$NAME: ok (two files imported one after the other: 4354 windows forecast for discharge and precip; 3 later days joined, $awaited value(s) awaited and joined, 0 dropped, 0 dead letters; 5 days without precipitation: 2 filled after 3 days, counted and logged; killed after $done_days days, the restart read the $left others)"
