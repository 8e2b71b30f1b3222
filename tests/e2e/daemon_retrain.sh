#!/bin/sh
# daemon_retrain.sh — scheduled retraining (model.train.retrain_every): a SQLite -> SQLite
# pipeline with a tiny model retrains every 2 s in a background thread while readings are
# appended.  Checks that the models table gains a row, that forecasts switch from the
# old model_id to the new one at one point in time (earlier ones keep the old id), that
# every window got exactly one forecast across the swaps, and that SIGTERM during a
# (long) retrain cancels it and exits 0 promptly without publishing anything.
set -u
NAME=daemon_retrain
T=$(mktemp -d /tmp/hz_dr_XXXXXX)
. tests/tools/daemon_lib.sh

N0=400 # readings at start
N1=80  # appended while the daemon runs
awk -v t0=$T0 -v n=$N0 'BEGIN { print "ts,power"; for (t = 0; t < n; t++)
    printf "%.0f,%.4f\n", t0 + t * 60000, 10 + 5 * sin(6.2831853 * t / 24) + 0.3 * sin(t * 1.7) }' \
    >"$T/m0.csv"
"$BIN/horizon" import "$T/m0.csv" --db "$T/hz.sqlite" --series m0 --quiet >/dev/null 2>"$T/import.err" ||
    fail "import failed"
[ "$(q "SELECT count(*) FROM readings")" = $N0 ] || fail "imported $(q "SELECT count(*) FROM readings") rows"

# conf FILE EPOCHS EVERY
conf() {
    cat >"$1" <<EOT
database: $T/hz.sqlite
metrics: {listen: ""}
log_level: info
shutdown_timeout: 20s
pipelines:
  - name: meters
    source:
      sqlite: {table: readings, poll: 50ms}
      fields: {series: series, time: ts, values: [power]}
    window: {period: 1m, lookback: 24, horizon: 4, stride: 1}
    batch: {max: 64, max_wait: 50ms}
    model:
      kind: itransformer
      checkpoint: $T/m/m.safetensors
      params: {d_model: 16, n_heads: 2, e_layers: 1, d_ff: 32}
      train: {epochs: $2, batch: 16, lr: 1.0e-3, patience: 0, lradj: none,
              train_on_start: true, retrain_every: $3}
      data: {split: ratio, ratios: [0.7, 0.1, 0.2], features: M}
    sinks:
      - sqlite: {}
EOT
}

# append FROM TO: one reading every 0.1 s
append() {
    i=$1
    while [ "$i" -lt "$2" ]; do
        v=$(awk -v t="$i" 'BEGIN { printf "%.4f", 10 + 5 * sin(6.2831853 * t / 24) + 0.3 * sin(t * 1.7) }')
        sqlite3 "$T/hz.sqlite" "PRAGMA busy_timeout = 5000; INSERT INTO readings(series, variable, ts, value) VALUES ('m0', 'power', $((T0 + i * 60000)), $v)" >/dev/null ||
            echo "insert $i failed" >>"$T/append.err"
        i=$((i + 1))
        sleep 0.1
    done
}

# ---- run 1: retrain every 2 s while readings arrive
conf "$T/hz.yaml" 1 2s
start_daemon "$T/hz.yaml" "$T/run1.log"
grep -q 'no checkpoint at .*; training one' "$T/run1.log" || fail "train_on_start did not train"
grep -q 'retrain_every is not implemented' "$T/run1.log" && fail "the not-implemented warning is still logged"
first=$(sed -n 's/.*registered model \([^ ]*\) in .*/\1/p' "$T/run1.log" | head -n 1)
[ -n "$first" ] || fail "the first model was not registered"
append $N0 $((N0 + N1)) &
AP=$!
# a swap to a different model (the appended rows make the data, hence the weights, differ)
n=0
until grep 'model .* replaces ' "$T/run1.log" | grep -qv 'model \([^ ]*\) replaces \1$'; do
    n=$((n + 1)); [ $n -gt 400 ] && { kill $AP; fail "no retrained model was swapped in"; }
    kill -0 "$HD" 2>/dev/null || { kill $AP; fail "horizond died"; }
    sleep 0.1
done
wait $AP
[ -s "$T/append.err" ] && fail "$(cat "$T/append.err")"
W=$((N0 + N1 - 24 + 1)) # windows: lookback 24, stride 1, one series
wait_sql "SELECT count(DISTINCT issued_ts) FROM forecasts" $W 40
stop_daemon
grep -q 'retraining in the background' "$T/run1.log" || fail "no retrain started"
grep -q 'retrained in .* (val mse .* test mse ' "$T/run1.log" || fail "no retrain metrics logged"
grep -q 'retrain failed' "$T/run1.log" && fail "a retrain failed: $(grep 'retrain failed' "$T/run1.log")"
[ -e "$T/m/m.safetensors.next" ] && fail "a .next checkpoint was left behind"

models=$(q "SELECT count(*) FROM models WHERE pipeline = 'meters'")
[ "$models" -ge 2 ] || fail "models table has $models rows, expected a new one"
# the ids the forecasts carry, in issue order, collapsed into runs
q "SELECT model_id FROM forecasts WHERE step = 1 ORDER BY issued_ts" | uniq >"$T/runs"
nruns=$(wc -l <"$T/runs")
ndist=$(sort -u "$T/runs" | wc -l)
[ "$ndist" -ge 2 ] || fail "forecasts carry only $(cat "$T/runs")"
[ "$nruns" = "$ndist" ] || fail "model ids interleave over time: $(tr '\n' ' ' <"$T/runs")"
[ "$(head -n 1 "$T/runs")" = "$first" ] || fail "early forecasts carry $(head -n 1 "$T/runs"), not $first"
# the models in the order they served (a model swapped in just before the stop may have
# forecast nothing): the runs must follow that order, each id after the one it replaced
{ echo "$first"; sed -n 's/.*model \([^ ]*\) replaces .*/\1/p' "$T/run1.log"; } >"$T/served"
awk 'NR == FNR { served[NR] = $1; n = NR; next }
     { while (i < n && served[++i] != $1) ; if (served[i] != $1) bad = 1 }
     END { exit bad }' "$T/served" "$T/runs" ||
    fail "forecast model ids $(tr '\n' ' ' <"$T/runs")do not follow the swaps $(tr '\n' ' ' <"$T/served")"
while read -r id; do
    [ "$(q "SELECT count(*) FROM models WHERE id = '$id'")" = 1 ] || fail "model $id not registered"
done <"$T/runs"
[ "$(q "SELECT count(*) FROM forecasts")" = $((W * 4)) ] || fail "forecast rows $(q "SELECT count(*) FROM forecasts"), want $((W * 4))"
[ "$(q "SELECT count(*) FROM forecasts WHERE model_id IS NULL OR model_id = ''")" = 0 ] || fail "forecasts without a model id"
# exactly one forecast per window, across the swaps (no gap, no repeat)
grep -q "pipeline meters stopped: $((N0 + N1)) readings, $((W * 4)) forecasts" "$T/run1.log" ||
    fail "stop stats: $(grep 'stopped:' "$T/run1.log"), want $((N0 + N1)) readings and $((W * 4)) forecasts"
sha_before=$(sha256sum "$T/m/m.safetensors" | cut -c1-12)
newest=$(q "SELECT id FROM models WHERE pipeline = 'meters' ORDER BY created DESC, rowid DESC LIMIT 1")
[ "meters-$sha_before" = "$newest" ] || fail "the checkpoint file is meters-$sha_before, the newest registered model $newest"

# ---- run 2: SIGTERM while a long retrain runs: cancelled, exit 0, nothing published
conf "$T/hz2.yaml" 100000 1s
start_daemon "$T/hz2.yaml" "$T/run2.log"
wait_log "$T/run2.log" 'retraining in the background' 10
sleep 0.5
t0=$(date +%s%N)
stop_daemon
ms=$((($(date +%s%N) - t0) / 1000000))
grep -q 'retrain cancelled' "$T/run2.log" || fail "run 2: the retrain was not cancelled: $(grep retrain "$T/run2.log")"
[ $ms -lt 5000 ] || fail "run 2: SIGTERM took $ms ms during a retrain"
[ -e "$T/m/m.safetensors.next" ] && fail "run 2: a .next checkpoint was left behind"
[ "$(sha256sum "$T/m/m.safetensors" | cut -c1-12)" = "$sha_before" ] || fail "run 2: a cancelled retrain replaced the checkpoint"
[ "$(q "SELECT count(*) FROM models WHERE pipeline = 'meters'")" = "$models" ] || fail "run 2: a cancelled retrain registered a model"
echo "$NAME: ok ($models models; forecasts switch ids $((nruns - 1)) time(s) with one forecast per window ($W); SIGTERM mid-retrain exited 0 in $ms ms)"
