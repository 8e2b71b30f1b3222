#!/bin/sh
# model_cli.sh — horizon train / eval / forecast end to end on the bundled Choptank sample
# (SQLite readings): a short training writes a checkpoint that is registered in `models` (a
# --max-batches probe run is not); training again writes a registered version beside the
# served checkpoint and leaves it alone unless --promote; eval's last line is `test mse=X mae=Y cov90=A cov99=B
# nse=C persistence_nse=D`, its MSE and MAE equal train's and its coverages are shares with
# A <= B, the persistence and window-mean forecasts are scored beside the model (persistence
# checked by awk on the readings), --per-step gives a row per horizon step; forecast writes
# horizon rows continuing the input's period, with nested 90%/99% intervals; train.repeats
# (seeds, the served best run, eval's mean, --repeat N); SIGINT keeps the best weights, SIGINT then
# SIGTERM writes nothing; --resume after a stop or a kill -9 (also mid-repeats) ends with
# the same checkpoint, bit for bit, as an uninterrupted run; bad invocations fail with a
# message naming what is wrong.
set -eu
BIN=${BIN:-build}
H="$BIN/horizon"
T=$(mktemp -d /tmp/hz_cli_XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "model_cli: $*" >&2; exit 1; }

"$H" import data/choptank/ChoptankRiverFlow.txt --db "$T/demo.sqlite" --series choptank \
    --date-order mdy --quiet >/dev/null
sed -e "s|database: .*|database: $T/demo.sqlite|" \
    -e "s|checkpoint: .*|checkpoint: $T/m/choptank.safetensors|" \
    config/examples/demo.yaml >"$T/demo.yaml"
"$H" train -c "$T/demo.yaml" --epochs 1 >"$T/train.out" 2>"$T/train.err" ||
    fail "train failed: $(cat "$T/train.err")"
grep -q 'windows train 3002 val 433 test 870' "$T/train.err" || fail "window counts: $(cat "$T/train.err")"
grep -q '^test mse=[0-9.]* mae=[0-9.]*$' "$T/train.out" || fail "train output: $(cat "$T/train.out")"
[ -s "$T/m/choptank.safetensors" ] || fail "no checkpoint"
n=$(sqlite3 "$T/demo.sqlite" "SELECT count(*) FROM models WHERE pipeline='choptank' AND length(sha256)=64")
[ "$n" = 1 ] || fail "model not registered ($n)"
# training again never replaces the served checkpoint: a new version beside it, registered,
# stderr says so; --promote copies the new version over the served file
cp "$T/m/choptank.safetensors" "$T/served.before"
"$H" train -c "$T/demo.yaml" --epochs 1 >"$T/v.out" 2>"$T/v.err" || fail "second train: $(cat "$T/v.err")"
cmp -s "$T/served.before" "$T/m/choptank.safetensors" || fail "the second train replaced the served checkpoint"
v=$(ls "$T/m/" | grep -E '^choptank\.[0-9]{8}T[0-9]{6}Z(-[0-9]+)?\.safetensors$')
[ "$(echo "$v" | wc -l)" = 1 ] && [ -n "$v" ] || fail "no versioned checkpoint: $(ls "$T/m")"
grep -q "^checkpoint $T/m/$v\$" "$T/v.out" || fail "train output: $(cat "$T/v.out")"
grep -q "choptank.safetensors is served and was kept; the new checkpoint is $T/m/$v" "$T/v.err" ||
    fail "no 'kept' line: $(cat "$T/v.err")"
n=$(sqlite3 "$T/demo.sqlite" "SELECT count(*) FROM models WHERE path = '$T/m/$v'")
[ "$n" = 1 ] || fail "the version is not registered ($n)"
"$H" train -c "$T/demo.yaml" --epochs 1 --max-batches 3 --promote >/dev/null 2>"$T/p.err" ||
    fail "--promote: $(cat "$T/p.err")"
v2=$(sed -n "s|.*promoted \($T/m/[^ ]*\) over $T/m/choptank.safetensors.*|\1|p" "$T/p.err")
[ -n "$v2" ] && cmp -s "$v2" "$T/m/choptank.safetensors" || fail "--promote: $(cat "$T/p.err")"
cp "$T/served.before" "$T/m/choptank.safetensors"
rm -f "$v2"
# a --max-batches probe run writes its checkpoint but registers nothing
"$H" train -c "$T/demo.yaml" --epochs 1 --max-batches 2 --checkpoint "$T/p/probe.safetensors" \
    >"$T/probe.out" 2>"$T/probe.err" || fail "probe train failed: $(cat "$T/probe.err")"
[ -s "$T/p/probe.safetensors" ] || fail "the probe run wrote no checkpoint"
grep -q 'not registered in the models table' "$T/probe.out" || fail "probe output: $(cat "$T/probe.out")"
n=$(sqlite3 "$T/demo.sqlite" "SELECT count(*) FROM models")
[ "$n" = 1 ] || fail "the probe run was registered ($n models; the version, trained alike, shares the first's id)"

"$H" eval -c "$T/demo.yaml" --plot "$T/p.svg" >"$T/eval.out" 2>&1 || fail "eval: $(cat "$T/eval.out")"
num='\(-\{0,1\}[0-9.]*\|nan\)'
tail -n 1 "$T/eval.out" |
    grep -q "^test mse=[0-9.]* mae=[0-9.]* cov90=[01]\.[0-9]* cov99=[01]\.[0-9]* nse=$num persistence_nse=$num\$" ||
    fail "eval last line: $(tail -n 1 "$T/eval.out")"
# the model against the naive forecasts: a row each, the skill line, the series line's NSEs
for f in model persistence 'window mean'; do
    grep -Eq "^  $f( +[-0-9.e+]+){4}( +(-?[0-9.]+|nan)){2}\$" "$T/eval.out" ||
        fail "eval: no $f row: $(cat "$T/eval.out")"
done
grep -Eq '^  skill vs persistence: mse -?[0-9.]+ nse [-+][0-9.]+; vs window mean: mse -?[0-9.]+ nse [-+][0-9.]+$' \
    "$T/eval.out" || fail "eval: no skill line: $(cat "$T/eval.out")"
grep -q '^series choptank windows=870 .* nse=.* kge=.* persistence_nse=.* window_mean_nse=' "$T/eval.out" ||
    fail "eval: series line: $(grep '^series' "$T/eval.out")"
# persistence's NSE recomputed from the readings: per step over the 870 test windows (the
# last 20% of the rows, read from 60 rows earlier), the mean over the 7 steps
pnse=$(sqlite3 "$T/demo.sqlite" "SELECT value FROM readings ORDER BY ts" | awk -v L=60 -v P=7 '
    { y[n++] = $1 }
    END { b = n - int(0.2 * n); c = n - b - P + 1
          for (t = 0; t < P; t++) { m = 0; for (i = 0; i < c; i++) m += y[b + i + t]; m /= c
              sr = 0; st = 0
              for (i = 0; i < c; i++) { o = y[b + i + t]; sr += (o - y[b + i - 1]) ^ 2; st += (o - m) ^ 2 }
              s += (1 - sr / st) / P }
          printf "%.3f", s }')
got=$(sed -n 's/^test mse=.* persistence_nse=\([-0-9.]*\)$/\1/p' "$T/eval.out")
[ -n "$got" ] && [ -n "$pnse" ] &&
    awk -v a="$got" -v b="$pnse" 'BEGIN { d = a - b; exit !(d < 0.002 && d > -0.002) }' ||
    fail "persistence NSE $got, recomputed $pnse"
"$H" eval -c "$T/demo.yaml" --per-step >"$T/step.out" 2>&1 || fail "eval --per-step: $(cat "$T/step.out")"
[ "$(grep -Ec '^ +[1-7]( +[-0-9.e+]+ +[-0-9.e+]+ +(-?[0-9.]+|nan)){3}$' "$T/step.out")" = 7 ] ||
    fail "eval --per-step: $(cat "$T/step.out")"
# the 99% interval holds at least the 90% one's points, and most of them
tail -n 1 "$T/eval.out" | awk '{ sub("cov90=", "", $4); sub("cov99=", "", $5); exit !($5 >= $4 && $4 > 0.5) }' ||
    fail "coverage: $(tail -n 1 "$T/eval.out")"
# eval reproduces the test metrics train recorded
[ "$(tail -n 1 "$T/eval.out" | sed 's/ cov90=.*//')" = "$(grep '^test mse' "$T/train.out")" ] ||
    fail "eval differs from train's test metrics"
grep -q '<polyline' "$T/p.svg" || fail "plot has no lines"

"$H" forecast --checkpoint "$T/m/choptank.safetensors" --input data/choptank/ChoptankRiverFlow.txt \
    --date-order mdy --output "$T/f.csv" || fail "forecast failed"
[ "$(wc -l <"$T/f.csv")" = 8 ] || fail "forecast rows: $(cat "$T/f.csv")"
sed -n 2p "$T/f.csv" | grep -q '^2011-10-01 00:00:00,' || fail "first forecast time: $(sed -n 2p "$T/f.csv")"
sed -n 8p "$T/f.csv" | grep -q '^2011-10-07 00:00:00,' || fail "last forecast time: $(sed -n 8p "$T/f.csv")"
# each row carries the 90% and 99% intervals, nested around the forecast
head -n 1 "$T/f.csv" | grep -qx 'time,Qdaily,Qdaily_lower90,Qdaily_upper90,Qdaily_lower99,Qdaily_upper99' ||
    fail "forecast header: $(head -n 1 "$T/f.csv")"
tail -n +2 "$T/f.csv" | awk -F, '{ if (!($5 <= $3 && $3 < $2 && $2 < $4 && $4 <= $6)) bad = 1 } END { exit bad }' ||
    fail "intervals not nested around the forecast: $(cat "$T/f.csv")"

# train.repeats (the scripts' itr): run r has seed + r and its own checkpoint; the served
# checkpoint is the run with the lowest validation loss; eval reports the mean of the runs
sed -e "s|train_on_start: true|train_on_start: true, repeats: 3|" \
    -e "s|checkpoint: .*|checkpoint: $T/r/choptank.safetensors|" "$T/demo.yaml" >"$T/rep.yaml"
"$H" train -c "$T/rep.yaml" --epochs 1 --max-batches 3 >"$T/rtrain.out" 2>"$T/rtrain.err" ||
    fail "repeats train failed: $(cat "$T/rtrain.err")"
for r in 0 1 2; do [ -s "$T/r/choptank.r$r.safetensors" ] || fail "no repeat $r checkpoint"; done
cmp -s "$T/r/choptank.r0.safetensors" "$T/r/choptank.r1.safetensors" && fail "repeats 0 and 1 are identical"
best=$(sed -n 's/^repeat \([0-9]\) (seed [0-9]*): val mse \([0-9.]*\),.*/\2 \1/p' "$T/rtrain.err" | sort -n | head -n 1 | cut -d' ' -f2)
[ -n "$best" ] || fail "no repeat summary: $(cat "$T/rtrain.err")"
cmp -s "$T/r/choptank.safetensors" "$T/r/choptank.r$best.safetensors" || fail "served checkpoint is not repeat $best"
"$H" eval -c "$T/rep.yaml" >"$T/reval.out" 2>&1 || fail "repeats eval: $(cat "$T/reval.out")"
[ "$(grep -c '^eval: ' "$T/reval.out")" = 3 ] || fail "repeats eval scored $(grep -c '^eval: ' "$T/reval.out") runs"
mean=$(sed -n 's/^repeat [0-9] (seed [0-9]*): test mse=\([0-9.]*\) .*/\1/p' "$T/reval.out" |
    awk '{ s += $1 } END { printf "%.4f", s / NR }')
last=$(tail -n 1 "$T/reval.out" | sed -n 's/^test mse=\([0-9.]*\) mae=[0-9.]* cov90=.*/\1/p')
[ -n "$last" ] && [ "$(printf '%.4f' "$last")" = "$mean" ] || fail "eval's last line is not the mean: $(tail -n 5 "$T/reval.out")"
# one repeat retrained alone is the same run, bit for bit
cp "$T/r/choptank.r1.safetensors" "$T/r1.before"
"$H" train -c "$T/rep.yaml" --epochs 1 --max-batches 3 --repeat 1 >/dev/null 2>"$T/rtrain1.err" ||
    fail "--repeat 1 failed: $(cat "$T/rtrain1.err")"
cmp -s "$T/r1.before" "$T/r/choptank.r1.safetensors" || fail "--repeat 1 is not the same run"
if "$H" train -c "$T/rep.yaml" --epochs 1 --max-batches 1 --repeat 3 2>"$T/e"; then fail "--repeat 3 of 3 accepted"; fi
grep -q 'repeat 3 is not in 0..2' "$T/e" || fail "--repeat 3 message: $(cat "$T/e")"

# Ctrl-C: the first SIGINT ends training after the running epoch and keeps, calibrates,
# writes and registers the best weights (metrics say so); SIGINT then SIGTERM aborts with
# nothing written
sed -e "s|patience: 3|patience: 1000|" -e "s|checkpoint: .*|checkpoint: $T/s/choptank.safetensors|" \
    "$T/demo.yaml" >"$T/stop.yaml"
started() { # the trainer's first line: its signal handlers are in place
    i=0
    until grep -qs '^train: pipeline' "$1"; do
        i=$((i + 1)); [ $i -lt 300 ] || fail "train did not start: $(cat "$1")"; sleep 0.1
    done
}
"$H" train -c "$T/stop.yaml" --epochs 1000 >"$T/s.out" 2>"$T/s.err" &
pid=$!
started "$T/s.err"
sleep 0.5
kill -INT $pid
wait $pid || fail "train stopped by SIGINT failed: $(cat "$T/s.err")"
ep=$(sed -n 's/^stopped on request after epoch \([0-9]*\)$/\1/p' "$T/s.out")
[ -n "$ep" ] && [ "$ep" -lt 1000 ] || fail "no stop line: $(cat "$T/s.out")"
[ "$(grep -c '^epoch [0-9]*/1000: train loss' "$T/s.err")" = "$ep" ] || fail "epochs run: $(cat "$T/s.err")"
grep -q "^stopped on request after epoch $ep of 1000" "$T/s.err" || fail "stop log line: $(cat "$T/s.err")"
[ -s "$T/s/choptank.safetensors" ] || fail "no checkpoint after SIGINT"
m=$(sqlite3 "$T/demo.sqlite" "SELECT metrics FROM models WHERE path LIKE '%/s/choptank.safetensors'")
echo "$m" | grep -q "\"epochs\":$ep,.*\"max_epochs\":1000,\"stopped_on_request\":true" ||
    fail "registered metrics: $m"
# the stopped run's state stays: --resume refuses other settings, and with no epochs left
# it writes the checkpoint again and removes the state
[ -s "$T/s/choptank.safetensors.state" ] || fail "no state after SIGINT"
grep -q "the state after epoch $ep stays in .*choptank.safetensors.state: the run can continue" "$T/s.err" ||
    fail "state line: $(cat "$T/s.err")"
grep -q '^`horizon train --resume` with the same options continues the run$' "$T/s.out" ||
    fail "resume hint: $(cat "$T/s.out")"
sed -e "s|batch: 32|batch: 16|" "$T/stop.yaml" >"$T/stop16.yaml"
if "$H" train -c "$T/stop16.yaml" --resume 2>"$T/e"; then fail "resume with another batch size accepted"; fi
grep -q 'choptank.safetensors.state: made by another run (batch 32 there, 16 here)' "$T/e" ||
    fail "resume mismatch message: $(cat "$T/e")"
cp "$T/demo.sqlite" "$T/other.sqlite"
sqlite3 "$T/other.sqlite" "UPDATE readings SET value = value + 1 WHERE rowid = 100"
sed -e "s|database: .*|database: $T/other.sqlite|" "$T/stop.yaml" >"$T/other.yaml"
if "$H" train -c "$T/other.yaml" --resume 2>"$T/e"; then fail "resume on other data accepted"; fi
grep -q 'choptank.safetensors.state: made by another run (data [0-9a-f]* there, [0-9a-f]* here)' "$T/e" ||
    fail "resume on other data message: $(cat "$T/e")"
"$H" train -c "$T/stop.yaml" --epochs "$ep" --resume >/dev/null 2>"$T/r.err" || fail "resume: $(cat "$T/r.err")"
grep -q "nothing left to train" "$T/r.err" || fail "resume with no epochs left: $(cat "$T/r.err")"
[ ! -e "$T/s/choptank.safetensors.state" ] || fail "state left after the resumed run ended"
if "$H" train -c "$T/stop.yaml" --resume 2>"$T/e"; then fail "resume without a state accepted"; fi
grep -q 'choptank.safetensors.state: no training state to resume' "$T/e" || fail "no-state message: $(cat "$T/e")"
"$H" train -c "$T/stop.yaml" --epochs 1000 --checkpoint "$T/s/abort.safetensors" >/dev/null 2>"$T/a.err" &
pid=$!
started "$T/a.err"
kill -INT $pid
kill -TERM $pid
if wait $pid; then fail "train went on after SIGINT then SIGTERM"; fi
grep -q 'cancelled' "$T/a.err" || fail "abort message: $(cat "$T/a.err")"
[ ! -e "$T/s/abort.safetensors" ] || fail "aborted training wrote a checkpoint"

# a killed run (kill -9 after its first epoch) resumed from its state ends with the same
# checkpoint, bit for bit, as a run never interrupted.  Informer: its own key-sampling
# generator is part of the state.
sed -e "s|kind: itransformer|kind: informer|" \
    -e "s|params: .*|params: {d_model: 32, n_heads: 2, e_layers: 2, d_layers: 1, d_ff: 64, factor: 3, dropout: 0.05}|" \
    -e "s|stride: 1}|stride: 1, label_len: 30}|" -e "s|patience: 3|patience: 1000|" \
    -e "s|checkpoint: .*|checkpoint: $T/k/inf.safetensors|" "$T/demo.yaml" >"$T/inf.yaml"
"$H" train -c "$T/inf.yaml" --epochs 4 --max-batches 20 >/dev/null 2>"$T/k1.err" ||
    fail "informer train: $(cat "$T/k1.err")"
[ ! -e "$T/k/inf.safetensors.state" ] || fail "state left after a finished run"
mv "$T/k/inf.safetensors" "$T/k.whole"
"$H" train -c "$T/inf.yaml" --epochs 4 --max-batches 20 >/dev/null 2>"$T/k2.err" &
pid=$!
i=0
until grep -qs '^epoch 1/4: train loss' "$T/k2.err"; do
    i=$((i + 1)); [ $i -lt 600 ] || fail "epoch 1 did not end: $(cat "$T/k2.err")"; sleep 0.05
done
kill -KILL $pid
if wait $pid 2>/dev/null; then fail "the run ended before it was killed: $(cat "$T/k2.err")"; fi
[ -s "$T/k/inf.safetensors.state" ] && [ ! -e "$T/k/inf.safetensors" ] ||
    fail "after kill -9: $(ls "$T/k")"
"$H" train -c "$T/inf.yaml" --epochs 4 --max-batches 20 --resume >/dev/null 2>"$T/k3.err" ||
    fail "resume after kill: $(cat "$T/k3.err")"
grep -q '^resuming the run saved in .*inf.safetensors.state$' "$T/k3.err" || fail "resume line: $(cat "$T/k3.err")"
grep -q '^epoch 1/4' "$T/k3.err" && fail "resumed run trained epoch 1 again: $(cat "$T/k3.err")"
cmp -s "$T/k.whole" "$T/k/inf.safetensors" || fail "resumed run differs from the uninterrupted one"
[ ! -e "$T/k/inf.safetensors.state" ] || fail "state left after the resumed run"

# with repeats, --resume keeps the repeats that finished, continues the one that was killed
# and trains the rest: every repeat's checkpoint and the served one as without the kill
sed -e "s|checkpoint: .*|checkpoint: $T/rk/c.safetensors|" "$T/rep.yaml" >"$T/repk.yaml"
sed -e "s|checkpoint: .*|checkpoint: $T/rw/c.safetensors|" "$T/rep.yaml" >"$T/repw.yaml"
"$H" train -c "$T/repw.yaml" --epochs 3 --max-batches 20 >/dev/null 2>"$T/w.err" || fail "repeats: $(cat "$T/w.err")"
"$H" train -c "$T/repk.yaml" --epochs 3 --max-batches 20 >/dev/null 2>"$T/rk.err" &
pid=$!
i=0
until awk '/^repeat 1 of 3/ { r = 1 } r && /^epoch 1\/3: train loss/ { f = 1 } END { exit !f }' "$T/rk.err" 2>/dev/null; do
    i=$((i + 1)); [ $i -lt 600 ] || fail "repeat 1 did not finish an epoch: $(cat "$T/rk.err")"; sleep 0.05
done
kill -KILL $pid
if wait $pid 2>/dev/null; then fail "the repeats ended before the kill: $(cat "$T/rk.err")"; fi
[ -s "$T/rk/c.r1.safetensors.state" ] && [ ! -e "$T/rk/c.r2.safetensors" ] || fail "after kill -9: $(ls "$T/rk")"
"$H" train -c "$T/repk.yaml" --epochs 3 --max-batches 20 --resume >/dev/null 2>"$T/rk2.err" ||
    fail "repeats resume: $(cat "$T/rk2.err")"
grep -q '^repeat 0 of 3: .*c.r0.safetensors is trained, kept$' "$T/rk2.err" || fail "repeat 0 not kept: $(cat "$T/rk2.err")"
grep -q '^resuming the run saved in .*c.r1.safetensors.state$' "$T/rk2.err" || fail "repeat 1 not resumed: $(cat "$T/rk2.err")"
for f in c.r0 c.r1 c.r2 c; do
    cmp -s "$T/rw/$f.safetensors" "$T/rk/$f.safetensors" || fail "$f.safetensors differs after the resume"
done

# refusals name what is wrong
if "$H" forecast --checkpoint "$T/nope.safetensors" --input data/choptank/ChoptankRiverFlow.txt 2>"$T/e"; then
    fail "missing checkpoint accepted"
fi
grep -q 'nope.safetensors' "$T/e" || fail "missing checkpoint message: $(cat "$T/e")"
head -c 100 "$T/m/choptank.safetensors" >"$T/trunc.safetensors"
if "$H" eval -c "$T/demo.yaml" --checkpoint "$T/trunc.safetensors" >"$T/e" 2>&1; then
    fail "truncated checkpoint accepted"
fi
grep -q 'trunc.safetensors' "$T/e" || fail "truncated checkpoint message: $(cat "$T/e")"
if "$H" train 2>/dev/null; then fail "train without -c accepted"; fi
echo "model_cli: ok"
