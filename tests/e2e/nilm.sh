#!/bin/sh
# nilm.sh — disaggregation from a plain clone (docs/MODELS.md §8.9): the UK-DALE example
# (config/examples/nilm_ukdale2.yaml) with a tiny network trains a one-batch probe of the
# kettle's model from the three monthly files of data/nilm/devicescope_1min/ukdale_house2/ its
# glob matches (the split's window counts, no window left out,
# max-scaling by the training split's largest aggregate), writes it as
# <checkpoint stem>.Kettle.safetensors, and `horizon eval` scores it against the training
# mean (the mean's MAE is fixed by the data) and ends with `test mae= f1= baseline_mean_mae=`;
# a probe of the plain-transformer baseline (`--plain`, its parameter count NILMFormer's)
# trains into <stem>.plain.Kettle.safetensors and `horizon eval` adds its row and fields;
# an unknown appliance, another appliance's checkpoint, `horizon forecast` of the checkpoint
# and horizond without every appliance's model are refused with their reasons
# (tests/e2e/nilm_daemon.sh serves them); the REFIT example's probe reads its seven files and
# leaves out the windows with a zero aggregate.  Run from the repository root; BIN holds
# horizon and horizond.
set -eu
BIN=${BIN:-build}
T=$(mktemp -d /tmp/hz_nilm_XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "nilm: $*" >&2; exit 1; }

root=$(pwd)
# tiny EXAMPLE OUT: the example with paths into the repository and $T and a tiny network
tiny() {
    sed -e "s#\.\./\.\./data/#$root/data/#" -e "s#\.\./\.\./build/models/#$T/#" \
        -e "s#^database: .*#database: $T/db.sqlite#" \
        -e 's#params: {d_model: 64, n_heads: 2, e_layers: 2, d_ff: 256,#params: {d_model: 16, n_heads: 2, e_layers: 1, d_ff: 32,#' \
        "config/examples/$1.yaml" >"$2"
    grep -q 'd_model: 16' "$2" || fail "the params line of $1.yaml changed: update this script"
}
tiny nilm_ukdale2 "$T/c.yaml"

"$BIN/horizon" train -c "$T/c.yaml" --appliance Kettle --epochs 1 --max-batches 1 \
    >"$T/train.out" 2>"$T/train.err" || fail "probe training failed: $(tail -5 "$T/train.err")"
grep -q 'windows train 283 val 40 test 81' "$T/train.err" || fail "split: $(head -3 "$T/train.err")"
grep -q '(0, 0, 0 left out for gaps; 0 rows with an aggregate of 0 taken as gaps), both divided by 5242.7$' "$T/train.err" ||
    fail "windows or scaling: $(head -3 "$T/train.err")"
[ -s "$T/nilm_ukdale2.Kettle.safetensors" ] || fail "no checkpoint: $(ls "$T")"
grep -q '^appliance Kettle$' "$T/train.out" || fail "train output: $(cat "$T/train.out")"

"$BIN/horizon" eval -c "$T/c.yaml" --appliance Kettle >"$T/eval.out" 2>"$T/eval.err" ||
    fail "eval failed: $(tail -5 "$T/eval.err")"
grep -q 'test windows 81 of 256 steps (0 left out for gaps; 0 rows with an aggregate of 0 taken as gaps), 2013-07-17 13:54 … 2013-07-31 23:29$' \
    "$T/eval.out" || fail "eval header: $(head -1 "$T/eval.out")"
grep -Eq '^  model +[0-9.]+ ' "$T/eval.out" || fail "no model row: $(cat "$T/eval.out")"
grep -Eq '^  mean 23.4 W +21.44 ' "$T/eval.out" || fail "mean row: $(cat "$T/eval.out")"
tail -n 1 "$T/eval.out" | grep -Eq '^test mae=[0-9.]+ f1=[0-9.]+ baseline_mean_mae=21.4375$' ||
    fail "eval's last line: $(tail -n 1 "$T/eval.out")"

# the plain-transformer baseline (docs/MODELS.md §8.10): d_ff widened to NILMFormer's count,
# its own checkpoint, a third row of the same `horizon eval`
"$BIN/horizon" train -c "$T/c.yaml" --appliance Kettle --plain --epochs 1 --max-batches 1 \
    >"$T/plain.out" 2>"$T/plain.err" || fail "plain probe training failed: $(tail -5 "$T/plain.err")"
grep -q '^plain transformer: d_model 16, 2 heads, 1 layers, d_ff 79, 3824 parameters; NILMFormer of this config (d_ff 32): 3835$' \
    "$T/plain.out" || fail "plain train output: $(cat "$T/plain.out")"
grep -q 'windows train 283 val 40 test 81; 3824 parameters$' "$T/plain.err" || fail "plain: $(head -3 "$T/plain.err")"
[ -s "$T/nilm_ukdale2.plain.Kettle.safetensors" ] || fail "no plain checkpoint: $(ls "$T")"
"$BIN/horizon" eval -c "$T/c.yaml" --appliance Kettle >"$T/eval2.out" 2>"$T/eval2.err" ||
    fail "eval with the plain baseline failed: $(tail -5 "$T/eval2.err")"
grep -q "^eval: plain transformer $T/nilm_ukdale2.plain.Kettle.safetensors, 3824 parameters (the model: 3835)$" \
    "$T/eval2.out" || fail "plain header: $(cat "$T/eval2.out")"
grep -Eq '^  mean 23.4 W +21.44 ' "$T/eval2.out" || fail "mean row: $(cat "$T/eval2.out")"
grep -Eq '^  plain +[0-9.]+ ' "$T/eval2.out" || fail "no plain row: $(cat "$T/eval2.out")"
tail -n 1 "$T/eval2.out" |
    grep -Eq '^test mae=[0-9.]+ f1=[0-9.]+ baseline_mean_mae=21.4375 baseline_plain_mae=[0-9.]+ plain_f1=[0-9.]+$' ||
    fail "eval's last line with the plain baseline: $(tail -n 1 "$T/eval2.out")"
"$BIN/horizon" train -c "$T/c.yaml" --appliance Kettle --plain --epochs 1 --max-batches 1 \
    --checkpoint "$T/p2.safetensors" >/dev/null 2>&1 || fail "plain --checkpoint"
"$BIN/horizon" eval -c "$T/c.yaml" --appliance Kettle --checkpoint "$T/p2.safetensors" \
    >"$T/eval3.out" 2>&1 || fail "eval of a plain checkpoint: $(tail -3 "$T/eval3.out")"
grep -q ', plain transformer, test windows 81' "$T/eval3.out" || fail "plain as the model: $(head -1 "$T/eval3.out")"

"$BIN/horizon" eval -c "$T/c.yaml" --appliance Fridge >"$T/e1.out" 2>"$T/e1.err" &&
    fail "an unknown appliance was scored"
grep -q 'has no appliance Fridge in model.data.appliances' "$T/e1.err" || fail "$(cat "$T/e1.err")"
"$BIN/horizon" eval -c "$T/c.yaml" --appliance WashingMachine \
    --checkpoint "$T/nilm_ukdale2.Kettle.safetensors" >"$T/e2.out" 2>"$T/e2.err" &&
    fail "the kettle's checkpoint scored the washing machine"
grep -q 'trained for Kettle from Aggregate, the pipeline asks WashingMachine' "$T/e2.err" ||
    fail "$(cat "$T/e2.err")"
head -300 data/nilm/devicescope_1min/ukdale_house2/UKDALE_House2_2013-05.csv >"$T/in.csv"
"$BIN/horizon" forecast -k "$T/nilm_ukdale2.Kettle.safetensors" -i "$T/in.csv" >"$T/f.out" 2>&1 &&
    fail "horizon forecast ran a disaggregation checkpoint"
grep -q 'disaggregates (model.task disaggregate), it does not forecast' "$T/f.out" ||
    fail "$(cat "$T/f.out")"
"$BIN/horizond" -c "$T/c.yaml" --check >"$T/d.out" 2>&1 && fail "horizond served appliances without their models"
grep -q "no checkpoint at $T/nilm_ukdale2.WashingMachine.safetensors for appliance WashingMachine" "$T/d.out" ||
    fail "$(cat "$T/d.out")"

# REFIT house 2 (config/examples/nilm_refit2.yaml): seven monthly files through one glob,
# their 1,382 minutes with an aggregate of 0 gaps (model.data.zero_is_gap), the clipped 6000 W
# the scale
tiny nilm_refit2 "$T/r.yaml"
"$BIN/horizon" train -c "$T/r.yaml" --appliance Kettle --epochs 1 --max-batches 1 \
    >"$T/rtrain.out" 2>"$T/rtrain.err" || fail "REFIT probe training failed: $(tail -5 "$T/rtrain.err")"
grep -q '308160 rows; windows train 828 val 116 test 238' "$T/rtrain.err" ||
    fail "REFIT split: $(head -3 "$T/rtrain.err")"
grep -q '(14, 4, 2 left out for gaps; 1382 rows with an aggregate of 0 taken as gaps), both divided by 6000$' \
    "$T/rtrain.err" || fail "REFIT gaps or scaling: $(head -3 "$T/rtrain.err")"
echo "nilm: ok"
