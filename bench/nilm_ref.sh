#!/bin/sh
# The PyTorch reference NILMFormer trained on the same split as horizon (bench/ref_train_nilm.py,
# docs/MODELS.md §8.9), SEEDS (default "0 1 2") for each appliance given, then a markdown
# table of each run's test MAE and F1 and their mean ± sd, to set beside `sh bench/nilm.sh`.
# Needs HZ_TORCH_REF (bench/ref_env.sh) and python3-torch; one thread, niced; each run takes
# minutes to tens of minutes.  Logs in $OUT (default build/nilm_ref/<house>).
# Usage: bench/nilm_ref.sh ukdale2|refit2 APPLIANCE:THRESHOLD ...
#   e.g. sh bench/nilm_ref.sh ukdale2 Kettle:500 Dishwasher:300
set -eu
. bench/ref_env.sh
ref_available || { echo "nilm_ref: reference not run: $REF_WHY" >&2; exit 1; }
house=$1
shift
case $house in
ukdale2) csv='data/nilm/devicescope_1min/ukdale_house2/UKDALE_House2_2013-0[5-7].csv'; zero="" ;;
refit2) csv='data/nilm/devicescope_1min/refit_house2/REFIT_House2_2014-*.csv'; zero=--zero-is-gap ;;
*) echo "nilm_ref: house ukdale2 or refit2, not $house" >&2; exit 2 ;;
esac
OUT=${OUT:-build/nilm_ref/$house}
mkdir -p "$OUT"
for at in "$@"; do
    a=${at%%:*}
    for s in ${SEEDS:-0 1 2}; do
        [ -s "$OUT/$a.seed$s.out" ] && tail -n 1 "$OUT/$a.seed$s.out" | grep -q '^test mae=' && continue
        LD_LIBRARY_PATH=$REF_LIB OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 nice -n 5 \
            /usr/bin/python3 bench/ref_train_nilm.py --csv "$csv" --appliance "$a" \
            --threshold "${at#*:}" --seed "$s" $zero >"$OUT/$a.seed$s.out" 2>&1 ||
            { echo "nilm_ref: $a seed $s failed: $(tail -n 3 "$OUT/$a.seed$s.out")" >&2; exit 1; }
    done
done
echo "| appliance | seed | MAE (W) | F1 | epochs (best) | train s |"
echo "| --- | --- | --- | --- | --- | --- |"
for at in "$@"; do
    a=${at%%:*}
    for f in "$OUT/$a".seed*.out; do
        awk -v a="$a" -v f="$f" '
            /^epoch=/ { split($1, e, "="); n = e[2] }
            /^best_epoch=/ { split($1, b, "="); split($3, t, "=") }
            /^test mae=/ { split($2, m, "="); split($3, g, "=");
                s = f; sub(/.*seed/, "", s); sub(/\.out$/, "", s);
                printf "| %s | %s | %.2f | %.3f | %s (%s) | %s |\n", a, s, m[2], g[2], n, b[2], t[2] }' "$f"
    done
    cat "$OUT/$a".seed*.out | awk -v a="$a" '/^test mae=/ { split($2, m, "="); split($3, g, "=");
        n++; sm += m[2]; sm2 += m[2] * m[2]; sf += g[2]; sf2 += g[2] * g[2] }
        END { if (n) { mm = sm / n; mf = sf / n;
            printf "| %s | mean ± sd (%d) | %.2f ± %.2f | %.3f ± %.3f | | |\n", a, n, mm,
                sqrt(n > 1 ? (sm2 - n * mm * mm) / (n - 1) : 0), mf, sqrt(n > 1 ? (sf2 - n * mf * mf) / (n - 1) : 0) } }'
done
