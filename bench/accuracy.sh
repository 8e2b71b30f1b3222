#!/bin/sh
# The papers' accuracy protocol on ETTh1 (docs/MODELS.md §4): train then eval each example
# config and print test MSE / MAE (scaled data) beside the paper's numbers (§7.1).  Long:
# tens of minutes per Informer horizon on 2 cores (times the config's train.repeats; with
# repeats the MSE/MAE are the mean over the runs, as eval's last line).
# Usage: bench/accuracy.sh [itransformer|informer|informer-ref] [horizons]
# RESUME=1 continues interrupted trainings from their saved state (`horizon train --resume`).
# informer-ref trains the PyTorch reference implementation (not part of this repository:
# export HZ_TORCH_REF=/path/to/reference/torch, its folder; see bench/ref_env.sh) on the same
# protocol with bench/ref_train_informer.py (python3-torch): REPEATS runs (default 1) with
# seeds 2021.., HZ_BENCH_THREADS threads each, REF_ARGS added to its arguments (e.g.
# "--epochs 1 --max-steps 2" for a smoke run); hours per run on 2 cores.  Without
# HZ_TORCH_REF or python3-torch it prints why and exits 0 without rows.
# Reads data/ett/ETTh1.csv (in the repository; the configs name it); run from the root.
set -u
B=${BUILD:-build}
kind=${1:-itransformer}
case "$kind" in
itransformer) horizons=${2:-"96 192 336 720"} ;;
informer | informer-ref) horizons=${2:-"24 48 168 336 720"} ;;
*) echo "usage: $0 itransformer|informer|informer-ref [horizons]" >&2; exit 2 ;;
esac
paper() { # docs/MODELS.md §7.1 (iTransformer and Informer papers), ETTh1 multivariate
    case "$1:$2" in
    itransformer:96) echo "0.386 0.405" ;; itransformer:192) echo "0.441 0.436" ;;
    itransformer:336) echo "0.487 0.458" ;; itransformer:720) echo "0.503 0.491" ;;
    informer*:24) echo "0.577 0.549" ;; informer*:48) echo "0.685 0.625" ;;
    informer*:168) echo "0.931 0.752" ;; informer*:336) echo "1.128 0.873" ;;
    informer*:720) echo "1.215 0.896" ;;
    esac
}
if [ "$kind" = informer-ref ]; then
    . bench/ref_env.sh
    ref_available || { echo "accuracy.sh: informer-ref skipped: $REF_WHY" >&2; exit 0; }
fi
# The reference's runs for horizon $1 into $2.train; their mean MSE / MAE as eval's last line.
ref_runs() {
    : >"$2.eval"
    r=0
    while [ "$r" -lt "${REPEATS:-1}" ]; do
        LD_LIBRARY_PATH=$REF_LIB /usr/bin/python3 bench/ref_train_informer.py --pred "$1" \
            --seed $((2021 + r)) --threads "$T" ${REF_ARGS:-} >>"$2.train" || return 1
        tail -n 1 "$2.train" | sed 's/^/eval: /' >>"$2.eval"
        r=$((r + 1))
    done
    awk '{ sub("mse=", "", $3); sub("mae=", "", $4); m += $3; a += $4; n++ }
         END { printf "test mse=%.6f mae=%.6f\n", m / n, a / n }' "$2.eval" >>"$2.eval"
}
mkdir -p "$B/accuracy"
printf '| model | horizon | test MSE | test MAE | runs | paper MSE | paper MAE | train time |\n'
printf '|---|---|---|---|---|---|---|---|\n'
for h in $horizons; do
    conf=config/examples/etth1_${kind}_$h.yaml
    log=$B/accuracy/${kind}_$h
    t0=$(date +%s)
    if [ "$kind" = informer-ref ]; then
        : >"$log.train"
        ref_runs "$h" "$log" || { echo "reference run $h failed" >&2; continue; }
        t1=$(date +%s)
    else
        "$B"/horizon train -c "$conf" ${RESUME:+--resume} >"$log.train" 2>"$log.train.err" ||
            { echo "train $conf failed" >&2; continue; }
        t1=$(date +%s)
        "$B"/horizon eval -c "$conf" >"$log.eval" 2>&1 || { echo "eval $conf failed" >&2; continue; }
    fi
    set -- $(tail -n 1 "$log.eval" | sed 's/test mse=\([^ ]*\) mae=\([^ ]*\).*/\1 \2/')
    p=$(paper "$kind" "$h")
    runs=$(grep -c '^eval: ' "$log.eval")
    printf '| %s | %s | %s | %s | %s | %s | %s | %ss |\n' "$kind" "$h" "$1" "$2" "$runs" "${p% *}" "${p#* }" \
        $((t1 - t0))
done
