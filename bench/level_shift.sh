#!/bin/sh
# level_shift.sh — test error of the ETTh1 96 → 96 forecasters (iTransformer and NILMFormer's
# stationarised forecasting variant, docs/MODELS.md §8.7) on the clean test split and on
# copies of data/ett/ETTh1.csv with a level shift injected into the test split only.
#
# The shift (start, middle and K fixed before any run; every variant is reported); of the
# 2785 test windows (lookback 96, horizon 96, stride 1):
#   - split: the ETT hour split of training/dataset.c (hz_split_borders): train rows 0..8639,
#     validation 8640..11519, test 11520..14399 (rows counted from 0 after the header); the
#     test windows' lookbacks start 96 rows earlier, at row 11424.
#   - every variable c (the 7 columns, OT included) gets + K × sd_c, sd_c the population
#     standard deviation of column c over the training rows 0..8639 (the z-score that
#     training fits, training/dataset.c hz_scaler_fit), so the shift is K in scaled units;
#   - from row S to the end of the file, S one of
#       start:  11520, the test split's first row: the first 96 windows cross the step (the
#               first one has a clean lookback and a wholly shifted horizon), the other
#               2689 are wholly shifted;
#       middle: 12960, the middle of the test split (1440 rows later): 1345 windows clean,
#               191 cross the step, 1249 wholly shifted;
#       all:    11424, the first row any test window reads (the last 96 validation rows):
#               every test window, lookback and horizon, is wholly shifted and none sees
#               the step.  A diagnostic added after start and middle had been measured
#               (bench/RESULTS.md): a forecaster that moves its forecast with the window's
#               level (iTransformer's use_norm) is unchanged by it up to rounding;
#   - K in 1 and 3.
# The training rows (and for start and middle the validation rows) are untouched; rows
# before S, the header and the date column are copied byte for byte; the script checks
# that the training rows of each shifted file are identical to the original's.
#
# Scaling: `horizon eval` scales with the checkpoint's scaler (cli/cmd_eval.c series_scaler:
# "checkpoint", printed as scaler=checkpoint on the series line, which the script checks),
# i.e. the training split's statistics saved at training time; the shift is not refitted.
#
# Needs the trained checkpoints of config/examples/etth1_itransformer_96.yaml and
# etth1_nilmformer_96.yaml (build/models/...; train them first, see bench/RESULTS.md).
# Writes build/level_shift/: the shifted CSVs, a config copy per file and model (the
# checkpoint and database paths pointed back into build/), each eval's output.
# Prints a markdown table: clean and shifted test MSE / MAE (scaled, the papers' protocol)
# and the rise (shifted / clean MSE, and the difference).
# Usage (from the repository root): bench/level_shift.sh
# KS="1 3", POSITIONS="start middle all", MODELS="itransformer nilmformer" override the variants.
set -eu
B=${BUILD:-build}
KS=${KS:-"1 3"}
POSITIONS=${POSITIONS:-"start middle all"}
MODELS=${MODELS:-"itransformer nilmformer"}
SRC=data/ett/ETTh1.csv
TRAIN_ROWS=8640
OUT=$B/level_shift
mkdir -p "$OUT"

start_row() {
    case "$1" in
    start) echo 11520 ;;
    middle) echo 12960 ;;
    all) echo 11424 ;;
    *) echo "level_shift.sh: unknown position $1" >&2; exit 2 ;;
    esac
}

for m in $MODELS; do
    ck=$B/models/etth1_${m}_96.safetensors
    [ -f "$ck" ] || {
        echo "level_shift.sh: $ck missing: build/horizon train -c config/examples/etth1_${m}_96.yaml" >&2
        exit 1
    }
done

# The training rows' population standard deviation of each value column.
sds=$(awk -F, -v n="$TRAIN_ROWS" 'NR > 1 && NR <= n + 1 {
        for (c = 2; c <= NF; c++) { s[c] += $c; q[c] += $c * $c } nc = NF }
    END { for (c = 2; c <= nc; c++) { m = s[c] / n; printf "%s%.10g", (c > 2 ? " " : ""),
          sqrt(q[c] / n - m * m) } }' "$SRC")
echo "training-split standard deviations (HUFL HULL MUFL MULL LUFL LULL OT): $sds" >&2

# shift K POSITION: writes $OUT/ETTh1_shift_<pos>_k<K>.csv.
shift_csv() {
    f=$OUT/ETTh1_shift_$2_k$1.csv
    awk -F, -v OFS=, -v k="$1" -v s="$(start_row "$2")" -v sds="$sds" '
        BEGIN { n = split(sds, sd, " ") }
        NR - 2 < s { print; next }
        { for (c = 2; c <= NF; c++) $c = sprintf("%.10g", $c + k * sd[c - 1]); print }' \
        "$SRC" >"$f"
    # the header and the training rows must be the original's, byte for byte
    head -n $((TRAIN_ROWS + 1)) "$SRC" >"$OUT/train_rows.orig"
    head -n $((TRAIN_ROWS + 1)) "$f" | cmp -s - "$OUT/train_rows.orig" || {
        echo "level_shift.sh: $f: the training rows differ from $SRC" >&2
        exit 1
    }
}

# evaluate MODEL CSV TAG: a copy of the example config reading CSV (paths relative to
# $OUT), its eval output in $OUT/<model>_<tag>.eval, "mse mae" in $OUT/<model>_<tag>.res.
evaluate() {
    conf=$OUT/etth1_$1_96_$3.yaml
    sed -e "s|path: \.\./\.\./data/ett/ETTh1\.csv|path: $(basename "$2")|" \
        -e "s|\.\./\.\./build/horizon-examples\.sqlite|level_shift.sqlite|" \
        -e "s|\.\./\.\./build/models/|../models/|" \
        "config/examples/etth1_$1_96.yaml" >"$conf"
    [ "$(basename "$2")" = ETTh1.csv ] && cp "$SRC" "$OUT/ETTh1.csv"
    log=$OUT/$1_$3.eval
    "$B"/horizon eval -c "$conf" >"$log" 2>&1 || {
        echo "level_shift.sh: eval $conf failed ($log)" >&2
        exit 1
    }
    grep -q '^series .* scaler=checkpoint$' "$log" || {
        echo "level_shift.sh: $log: not scaled with the checkpoint's scaler" >&2
        exit 1
    }
    tail -n 1 "$log" | sed 's/^test mse=\([^ ]*\) mae=\([^ ]*\).*/\1 \2/' >"$OUT/$1_$3.res"
}

rows=$OUT/rows.txt
: >"$rows"
for p in $POSITIONS; do
    for k in $KS; do
        shift_csv "$k" "$p"
    done
done
for m in $MODELS; do
    evaluate "$m" "$SRC" clean
    read -r cm ca <"$OUT/${m}_clean.res"
    for p in $POSITIONS; do
        for k in $KS; do
            evaluate "$m" "$OUT/ETTh1_shift_${p}_k$k.csv" "${p}_k$k"
            read -r sm sa <"$OUT/${m}_${p}_k$k.res"
            echo "$m $p $k $cm $ca $sm $sa" >>"$rows"
        done
    done
done
printf '| model | shift from row | K (× train sd) | clean MSE / MAE | shifted MSE / MAE | MSE ratio | MSE rise | MAE rise |\n'
printf '|---|---|---|---|---|---|---|---|\n'
while read -r m p k cm ca sm sa; do
    awk -v m="$m" -v p="$p" -v r="$(start_row "$p")" -v k="$k" -v cm="$cm" -v ca="$ca" \
        -v sm="$sm" -v sa="$sa" 'BEGIN {
        printf "| %s | %s (%d) | %s | %.4f / %.4f | %.4f / %.4f | %.3f× | %+.4f | %+.4f |\n",
            m, p, r, k, cm, ca, sm, sa, sm / cm, sm - cm, sa - ca }'
done <"$rows"
