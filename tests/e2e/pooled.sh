#!/bin/sh
# pooled.sh — pooled training (model.data.pool, training/pool.h) end to end: three meters of
# very different size (amplitudes 0.1, 10 and 1000 around different levels) imported into
# SQLite, one small iTransformer trained on all three, `horizon eval` with a line per series
# and the pooled line (the last line in its usual format), a fourth meter the model never saw
# scored by its first full window (by `horizon eval` and `horizon forecast`), horizond serving
# the checkpoint to all four, each meter's forecasts in its own units, and a train_on_start
# taking the same pooled path.  A shared scaler would drown the small meter: its NSE
# and its forecasts' level are checked (the model has no instance norm to hide it).
set -u
NAME=pooled
T=$(mktemp -d /tmp/hz_pool_XXXXXX)
. tests/tools/daemon_lib.sh

N=480 # readings per meter, one a minute
# meter NAME LEVEL AMP PHASE: a daily-ish cycle with a little noise, as CSV
meter() {
    awk -v t0=$T0 -v n=$N -v lv="$2" -v a="$3" -v ph="$4" 'BEGIN { print "ts,power"; srand(7)
        for (t = 0; t < n; t++) printf "%.0f,%.6f\n", t0 + t * 60000,
            lv + a * (sin(6.2831853 * t / 24 + ph) + 0.05 * (rand() - 0.5)) }' >"$T/$1.csv"
}
meter m0 0.3 0.1 0
meter m1 5000 1000 1
meter m2 40 10 2
meter m3 200 50 3
for m in m0 m1 m2; do
    "$BIN/horizon" import "$T/$m.csv" --db "$T/train.sqlite" --series $m --quiet >/dev/null 2>>"$T/import.err" ||
        fail "import of $m failed"
done
for m in m0 m1 m2 m3; do
    "$BIN/horizon" import "$T/$m.csv" --db "$T/hz.sqlite" --series $m --quiet >/dev/null 2>>"$T/import.err" ||
        fail "import of $m failed"
done

# conf FILE DB [CHECKPOINT [TRAIN_ON_START]]: a pooled pipeline reading DB
conf() {
    cat >"$1" <<EOT
database: $2
metrics: {listen: ""}
log_level: info
pipelines:
  - name: meters
    source:
      sqlite: {table: readings, poll: 50ms}
      fields: {series: series, time: ts, values: [power]}
    window: {period: 1m, lookback: 48, horizon: 4, stride: 1}
    batch: {max: 64, max_wait: 50ms}
    model:
      kind: itransformer
      checkpoint: ${3:-$T/m/pooled.safetensors}
      # no instance norm: the per-series scaling alone puts the meters on one footing
      params: {d_model: 32, n_heads: 2, e_layers: 1, d_ff: 64, dropout: 0.0, use_norm: false}
      train: {epochs: 4, batch: 16, lr: 2.0e-3, patience: 0, lradj: none,
              train_on_start: ${4:-false}}
      data: {split: ratio, ratios: [0.7, 0.1, 0.2], features: M, pool: true, series_windows: 200}
    sinks:
      - sqlite: {}
EOT
}
conf "$T/train.yaml" "$T/train.sqlite"
conf "$T/hz.yaml" "$T/hz.sqlite"

"$BIN/horizon" train -c "$T/train.yaml" --threads 1 >"$T/train.out" 2>"$T/train.log" ||
    fail "pooled training failed"
grep -q 'pooled over 3 series.* 200 per series an epoch' "$T/train.log" ||
    fail "training did not pool the 3 series: $(grep 'train:' "$T/train.log")"

# ---- eval on the training fleet: a line per series, the pooled line, the usual last line
"$BIN/horizon" eval -c "$T/train.yaml" >"$T/eval.out" 2>"$T/eval.err" || fail "eval failed"
for m in m0 m1 m2; do
    grep -q "^series $m windows=[0-9]* mse=.* nse=.* scaler=trained$" "$T/eval.out" ||
        fail "no eval line for $m: $(cat "$T/eval.out")"
done
grep -q '^pooled series=3 windows=[0-9]* mse=' "$T/eval.out" || fail "no pooled line"
tail -n 1 "$T/eval.out" |
    grep -Eq '^test mse=[0-9.]+ mae=[0-9.]+ cov90=[0-9.]+ cov99=[0-9.]+ nse=-?[0-9.]+ persistence_nse=-?[0-9.]+$' ||
    fail "last line: $(tail -n 1 "$T/eval.out")"
# the many-series table: one row per series and forecast, the naive ones with their skill
for m in m0 m1 m2; do
    for f in model persistence 'window mean'; do
        [ "$(grep -Ec "^  $m +power +$f " "$T/eval.out")" = 1 ] || fail "no $f row for $m: $(cat "$T/eval.out")"
    done
done
grep -q '^pooled series=3 .* mean_nse=.* persistence_nse=.* window_mean_nse=' "$T/eval.out" ||
    fail "pooled line: $(grep '^pooled' "$T/eval.out")"
nse() { sed -n "s/^series $1 .* nse=\([-0-9.na]*\) .*/\1/p" "$T/eval.out"; }
for m in m0 m1 m2; do
    awk -v v="$(nse $m)" 'BEGIN { exit !(v > 0.8) }' || fail "$m: test NSE $(nse $m), want > 0.8"
done
# the pooled line's MSE is the windows-weighted mean of the series' (scaled) MSEs
awk '/^series /  { for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
                   s += v["mse"] * v["windows"]; w += v["windows"] }
     /^pooled / { for (i = 1; i <= NF; i++) { split($i, kv, "="); p[kv[1]] = kv[2] } }
     END { d = s / w - p["mse"]; exit !(d < 1e-5 && d > -1e-5) }' "$T/eval.out" ||
    fail "the pooled mse is not the windows-weighted mean of the series'"

# ---- a meter left out of training: scaled by its own first window
"$BIN/horizon" eval -c "$T/hz.yaml" --series m3 >"$T/eval3.out" 2>"$T/eval3.err" || fail "eval of m3 failed"
grep -q '^series m3 .*scaler=first_window$' "$T/eval3.out" || fail "m3: $(grep '^series' "$T/eval3.out")"
nse3=$(sed -n 's/^series m3 .* nse=\([-0-9.na]*\) .*/\1/p' "$T/eval3.out")
awk -v v="$nse3" 'BEGIN { exit !(v > 0.5) }' || fail "left-out m3: $(grep '^series' "$T/eval3.out"), want NSE > 0.5"

# ---- horizon forecast: m1 as trained, and m3 (unseen) by the input's first window
"$BIN/horizon" forecast --checkpoint "$T/m/pooled.safetensors" --input "$T/m1.csv" --series m1 \
    >"$T/fc1.csv" 2>"$T/fc1.err" || fail "forecast of m1 failed"
"$BIN/horizon" forecast --checkpoint "$T/m/pooled.safetensors" --input "$T/m3.csv" \
    >"$T/fc3.csv" 2>"$T/fc3.err" || fail "forecast of m3 failed"
grep -q 'scaled by the input' "$T/fc3.err" || fail "forecast of m3: $(cat "$T/fc3.err")"
for lv in fc1:5000 fc3:200; do
    got=$(awk -F, 'NR > 1 { s += $2; n++ } END { print s / n }' "$T/${lv%%:*}.csv")
    awk -v g="$got" -v w="${lv#*:}" 'BEGIN { exit !(g > 0.8 * w && g < 1.2 * w) }' ||
        fail "${lv%%:*}: mean forecast $got, the level is ${lv#*:}"
done

# ---- horizond serves the pooled checkpoint to all four meters, each in its own units
start_daemon "$T/hz.yaml" "$T/run.log"
W=$((N - 48 + 1))
wait_sql "SELECT count(DISTINCT series) || ':' || min(c) FROM (SELECT series, count(*) c FROM forecasts GROUP BY series)" "4:$((W * 4))" 30
stop_daemon
grep -q 'series m3 scaled by its first full window' "$T/run.log" || fail "m3 was not scaled by its own window"
# mean forecast within 20% of the meter's level (5000, 40, 0.3, 200)
for lv in m0:0.3 m1:5000 m2:40 m3:200; do
    m=${lv%%:*} want=${lv#*:}
    got=$(q "SELECT avg(value) FROM forecasts WHERE series = '$m'")
    awk -v g="$got" -v w="$want" 'BEGIN { exit !(g > 0.8 * w && g < 1.2 * w) }' ||
        fail "$m: mean forecast $got, its level is $want"
done
# ---- train_on_start takes the same pooled path
conf "$T/tos.yaml" "$T/hz.sqlite" "$T/m/tos.safetensors" true
start_daemon "$T/tos.yaml" "$T/tos.log"
stop_daemon
grep -q 'pooled over 4 series' "$T/tos.log" || fail "train_on_start did not pool: $(grep 'train:' "$T/tos.log")"
grep -q series_scaler "$T/m/tos.safetensors" || fail "the train_on_start checkpoint has no series_scaler"
echo "$NAME: ok (3 meters pooled, NSE $(nse m0) / $(nse m1) / $(nse m2); left-out m3 NSE $nse3; horizond forecast 4 meters in their own units and trained on all 4 at start)"
