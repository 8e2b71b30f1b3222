#!/bin/sh
# Disaggregation with NILMFormer (docs/MODELS.md §8.9) of UK-DALE house 2
# (config/examples/nilm_ukdale2.yaml, the default) or REFIT house 2
# (CONFIG=config/examples/nilm_refit2.yaml): trains one NILMFormer per appliance of the config
# (unless SKIP_TRAIN=1: the checkpoints already written), evaluates each on the test split (the
# config's last 20 % of minutes) and prints a markdown table: the model's MAE, RMSE, NDE, SAE,
# matching ratio, F1 (watts, after the ON threshold) beside the MAE and F1 of the appliance's
# training mean as a constant estimate.  One thread (OPENBLAS_NUM_THREADS=1), niced; minutes
# per appliance.  Logs in OUT (default build/nilm/<config name>, e.g. build/nilm/nilm_refit2).
# Usage: [CONFIG=...] bench/nilm.sh [appliance ...]   (default: every appliance of the config)
# SEED=K trains with model.train.seed K into checkpoints of their own (<stem>.seedK.<appliance>
# .safetensors, logs in $OUT/seedK), from a copy of the config, for the seed spread.
# PLAIN=1 also trains each appliance's plain-transformer baseline of the same parameter count
# (`horizon train --plain`, docs/MODELS.md §8.10; log $OUT/train.plain.<appliance>.err); the
# plain columns come from `horizon eval`'s plain row (with SKIP_TRAIN=1 too), "-" without
# that checkpoint.
# Reads data/nilm/devicescope_1min/ (in the repository); run from the root.
set -eu
B=${BUILD:-build}
C=${CONFIG:-config/examples/nilm_ukdale2.yaml}
OUT=${OUT:-$B/nilm/$(basename "$C" .yaml)}
if [ -n "${SEED:-}" ]; then
    OUT=$OUT/seed$SEED
    mkdir -p "$OUT"
    d=$(cd "$(dirname "$C")" && pwd)
    sed -e "s#\.\./\.\./#$d/../../#g" -e "s#seed: [0-9]*#seed: $SEED#" \
        -e "s#checkpoint: \(.*\)\.safetensors#checkpoint: \1.seed$SEED.safetensors#" "$C" >"$OUT/c.yaml"
    C=$OUT/c.yaml
fi
mkdir -p "$OUT"
pat=$(sed -n 's/.*patience: *\([0-9]*\).*/\1/p' "$C" | head -n 1)
apps=${*:-$(sed -n 's/.*{ *name: *\([A-Za-z0-9_-]*\),.*on_threshold.*/\1/p' "$C")}
export OPENBLAS_NUM_THREADS=1
echo "| appliance | on above (W) | MAE (W) | RMSE (W) | NDE | SAE | MR | F1 | mean MAE (W) | mean F1 | plain MAE (W) | plain F1 | epochs (best) | train s |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for a in $apps; do
    if [ "${SKIP_TRAIN:-0}" != 1 ]; then
        nice -n 5 "$B/horizon" train -c "$C" --appliance "$a" >"$OUT/train.$a.out" 2>"$OUT/train.$a.err" ||
            { echo "train $a failed: $(tail -3 "$OUT/train.$a.err")" >&2; exit 1; }
    fi
    if [ "${PLAIN:-0}" = 1 ] && [ "${SKIP_TRAIN:-0}" != 1 ]; then
        nice -n 5 "$B/horizon" train -c "$C" --appliance "$a" --plain >"$OUT/train.plain.$a.out" \
            2>"$OUT/train.plain.$a.err" ||
            { echo "train --plain $a failed: $(tail -3 "$OUT/train.plain.$a.err")" >&2; exit 1; }
    fi
    "$B/horizon" eval -c "$C" --appliance "$a" >"$OUT/eval.$a.out" 2>&1 ||
        { echo "eval $a failed: $(tail -3 "$OUT/eval.$a.out")" >&2; exit 1; }
    thr=$(sed -n 's/.*(on above \([0-9.]*\) W).*/\1/p' "$OUT/eval.$a.out")
    # epochs run, the best (lowest validation loss) and the training time, from the log.  A
    # run that early stopping ended before the cap had its best `patience` epochs before the
    # last (engine/optim.c hz_early_stop_update); else the lowest loss as printed (5 decimals,
    # which may tie)
    tr=$(awk -v pat="$pat" '$1 == "epoch" && $3 == "train" {split($2, e, "/"); v = $8 + 0;
        n = e[1]; cap = e[2]; if (min == "" || v < min) {min = v; b = n} t = $9; sub(/\(/, "", t)}
        END {if (pat > 0 && n + 0 < cap + 0) b = n - pat; print n " (" b ") | " t}' \
        "$OUT/train.$a.err" 2>/dev/null || true) # no log (SKIP_TRAIN without one): "?"
    awk -v a="$a" -v thr="$thr" -v tr="${tr:-?}" '
        $1 == "model" {m = $2 " | " $3 " | " $4 " | " $5 " | " $6 " | " $12}
        $1 == "mean" {b = $4 " | " $14}
        $1 == "plain" {p = $2 " | " $12}
        END {print "| " a " | " thr " | " m " | " b " | " (p == "" ? "- | -" : p) " | " tr " |"}' "$OUT/eval.$a.out"
done
