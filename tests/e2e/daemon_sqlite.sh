#!/bin/sh
# daemon_sqlite.sh — the demo's shape end to end: SQLite readings (the bundled Choptank
# sample imported by `horizon import`) -> horizond -> forecasts and anomalies in the same
# database.  The model is trained at start (train_on_start, no checkpoint yet).  Checks that
# every window is forecast, that reading from and writing to the same table does not loop
# (no new rows), that a restart re-reads nothing, and that rows appended later are picked
# up with windows rebuilt from the table.
set -u
NAME=daemon_sqlite
T=$(mktemp -d /tmp/hz_ds_XXXXXX)
. tests/tools/daemon_lib.sh

import_choptank "$T/hz.sqlite"
sed -e "s|database: .*|database: $T/hz.sqlite|" \
    -e "s|checkpoint: .*|checkpoint: $T/m/choptank.safetensors|" \
    -e "s|epochs: 6|epochs: 1|" -e "s|poll: 1s|poll: 50ms|" \
    config/examples/demo.yaml >"$T/hz.yaml"
start_daemon "$T/hz.yaml" "$T/run1.log"
grep -q 'no checkpoint at .*; training one' "$T/run1.log" || fail "train_on_start did not train"
[ -s "$T/m/choptank.safetensors" ] || fail "no checkpoint written"
# 4383 daily readings, lookback 60: 4324 windows, 7 steps each
wait_sql "SELECT count(DISTINCT issued_ts) FROM forecasts" 4324 60
stop_daemon
[ "$(q "SELECT count(*) || '/' || max(rowid) FROM readings")" = "4383/4383" ] ||
    fail "the readings table changed: $(q "SELECT count(*) || '/' || max(rowid) FROM readings")"
[ "$(q "SELECT count(*) FROM forecasts")" = $((4324 * 7)) ] || fail "forecast rows"
[ "$(q "SELECT position FROM cursors WHERE name = 'choptank'")" = 4383 ] || fail "cursor not at the end"
q "SELECT kind, count(*) FROM anomalies GROUP BY kind" >"$T/kinds"
grep -q '^spike|' "$T/kinds" || fail "no spike flags on the Choptank series: $(cat "$T/kinds")"
grep -q '^residual|' "$T/kinds" || fail "no residual flags: $(cat "$T/kinds")"

# the daemon's last forecast equals `horizon forecast` on the same 60 days (same scaling,
# marks and model): the batched path matches the one-off path
"$BIN/horizon" forecast --checkpoint "$T/m/choptank.safetensors" \
    --input data/choptank/ChoptankRiverFlow.txt --date-order mdy --output "$T/f.csv" 2>/dev/null ||
    fail "horizon forecast failed"
q "SELECT value FROM forecasts WHERE issued_ts = (SELECT max(issued_ts) FROM forecasts) ORDER BY step" >"$T/daemon.txt"
tail -n +2 "$T/f.csv" | cut -d, -f2 | paste -d' ' - "$T/daemon.txt" >"$T/pair"
[ "$(wc -l <"$T/pair")" = 7 ] || fail "forecast rows to compare: $(cat "$T/pair")"
awk '{ d = $1 - $2; if (d < 0) d = -d; if (d > 1e-3 * (1 + ($1 < 0 ? -$1 : $1))) bad = 1 } END { exit bad }' "$T/pair" ||
    fail "daemon forecast differs from horizon forecast: $(cat "$T/pair")"

# restart: nothing to re-read; then three new days are forecast at once (windows rebuilt)
start_daemon "$T/hz.yaml" "$T/run2.log"
grep -q 'windows rebuilt from .*: 1 series, 60 points' "$T/run2.log" || fail "windows not rebuilt"
last=$(q "SELECT max(ts) FROM readings")
for d in 1 2 3; do
    q "INSERT INTO readings(series, variable, ts, value) VALUES ('choptank', 'Qdaily', $((last + d * 86400000)), 150 + $d)"
done
wait_sql "SELECT count(DISTINCT issued_ts) FROM forecasts" 4327 30
stop_daemon
grep -q 'pipeline choptank stopped: 3 readings' "$T/run2.log" ||
    fail "restart re-read rows: $(grep stopped "$T/run2.log")"
# SIGTERM during a long train_on_start: the training ends within a batch, nothing is written
# and the daemon exits 0 (before READY=1)
sed -e "s|checkpoint: .*|checkpoint: $T/m/long.safetensors|" -e "s|epochs: 1,|epochs: 10000,|" \
    -e "s|patience: 3|patience: 10000|" "$T/hz.yaml" >"$T/long.yaml"
start_daemon "$T/long.yaml" "$T/run3.log" 'no checkpoint at .*; training one'
sleep 0.5
kill -TERM "$HD"
n=0
while kill -0 "$HD" 2>/dev/null; do
    n=$((n + 1)); [ $n -gt 100 ] && fail "horizond still training 5 s after SIGTERM"
    sleep 0.05
done
wait "$HD"
rc=$?
HD=""
[ $rc -eq 0 ] || fail "horizond exited $rc after SIGTERM during train_on_start"
grep -q 'cancelled: stopping' "$T/run3.log" || fail "no stop message: $(cat "$T/run3.log")"
if grep -q 'horizond ready' "$T/run3.log"; then fail "ready after a stop at start: $(cat "$T/run3.log")"; fi
[ ! -e "$T/m/long.safetensors" ] || fail "cancelled train_on_start wrote a checkpoint"
# ... but the state of its finished epochs stays beside the checkpoint, and the next start
# continues that run instead of training from the first epoch again
start_daemon "$T/long.yaml" "$T/run4.log" 'epoch [0-9]+/10000: train loss'
stop_daemon
[ -s "$T/m/long.safetensors.state" ] || fail "no training state after a stop mid-training: $(cat "$T/run4.log")"
sed -e "s|epochs: 10000,|epochs: 3,|" "$T/long.yaml" >"$T/long3.yaml"
start_daemon "$T/long3.yaml" "$T/run5.log"
grep -q 'resuming the run saved in .*long.safetensors.state' "$T/run5.log" ||
    fail "train_on_start did not resume: $(cat "$T/run5.log")"
if grep -q 'epoch 1/3:' "$T/run5.log"; then fail "the resumed start trained epoch 1 again: $(cat "$T/run5.log")"; fi
[ -s "$T/m/long.safetensors" ] || fail "the resumed start wrote no checkpoint"
[ ! -e "$T/m/long.safetensors.state" ] || fail "training state left after the resumed run"
stop_daemon
echo "$NAME: ok (trained at start, resumed after a stop; 4324 + 3 windows forecast; $(tr '\n' ' ' <"$T/kinds"); no loop, no re-read)"
