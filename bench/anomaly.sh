#!/bin/sh
# bench/anomaly.sh — the injected-anomaly benchmark (bench/bench_anomaly.c says how events
# are injected and scored): three real series from data/ — a household's mains (UK-DALE
# house 2, 15-minute means), a transformer's oil temperature (ETTh1 OT, hourly) and a river's
# daily flow (Choptank) — each with 14 labelled events per seed (SEEDS, default 1 2 3),
# scored by `horizon score` and by two baselines through the same evaluation.  Prints, per
# seed, precision, recall, event F1, mean detection delay (periods), false events per day
# and events found by type, then each detector's mean over the seeds.
# Then the forecast intervals' coverage and width on the test splits (horizon eval) of the
# river demo and, when its checkpoint exists, ETTh1 iTransformer-96.
set -eu
B=${BUILD:-build}
T=$B/bench_anomaly
mkdir -p "$T"
BA=$B/bench/bench_anomaly

"$BA" nilm "$T/household.csv" 15 data/nilm/devicescope_1min/ukdale_house2/*.csv
awk -F, 'NR == 1 { print "date,OT"; next } { print $1 "," $8 }' data/ett/ETTh1.csv >"$T/etth1_ot.csv"

SEEDS=${SEEDS:-1 2 3}
row() { printf '| %s | %s | %s | %s\n' "$1" "$2" "$3" "$4" | tee -a "$T/rows"; }
: >"$T/rows"
echo "| series | seed | detector | precision recall F1 delay false/day found [by type] |"
echo "|---|---|---|---|"
for s in household:96: etth1_ot:24: choptank:14:mdy; do
    name=${s%%:*}; rest=${s#*:}; D=${rest%%:*}; order=${rest#*:}
    in=$T/$name.csv
    [ "$name" = choptank ] && in=data/choptank/ChoptankRiverFlow.txt
    for seed in $SEEDS; do
        "$BA" inject "$in" "$T/$name.inj.csv" "$T/$name.labels.csv" "$seed" "$D" $order
        "$B"/horizon score -i "$T/$name.inj.csv" -o "$T/$name.scored.csv" 2>/dev/null
        for d in residual+shift spike+flatline+gap+range all; do
            row "$name" "$seed" "horizon $d" \
                "$("$BA" evaluate "$T/$name.scored.csv" "$T/$name.labels.csv" "$d" "$D")"
        done
        for b in zscore snaive; do
            "$BA" baseline "$b" "$T/$name.inj.csv" "$T/$name.$b.csv" "$D"
            row "$name" "$seed" "baseline $b" \
                "$("$BA" evaluate "$T/$name.$b.csv" "$T/$name.labels.csv" all "$D")"
        done
    done
done
echo
echo "mean over seeds ($SEEDS): series, detector, precision, recall, F1, false events a day"
awk -F'|' '{ k = $2 "|" $4; split($5, v, " "); p[k] += v[1]; r[k] += v[2]; f[k] += v[3];
             fd[k] += v[5]; n[k]++; if (!(k in o)) { o[k] = ++m; key[m] = k } }
     END { for (i = 1; i <= m; i++) { k = key[i]
             printf "%s | %.3f | %.3f | %.3f | %.2f\n", k, p[k] / n[k], r[k] / n[k], f[k] / n[k],
                    fd[k] / n[k] } }' "$T/rows"

echo
echo "== interval coverage and width on the test split (horizon eval)"
if [ ! -f "$B/models/choptank.safetensors" ]; then
    "$B"/horizon import data/choptank/ChoptankRiverFlow.txt --db "$B/demo.sqlite" \
        --series choptank --date-order mdy --quiet >/dev/null 2>&1 || true
    "$B"/horizon train -c config/examples/demo.yaml >/dev/null 2>&1
fi
echo "-- Choptank demo"
"$B"/horizon eval -c config/examples/demo.yaml | tail -4
if [ -f "$B/models/etth1_itransformer_96.safetensors" ]; then
    echo "-- ETTh1 iTransformer-96"
    "$B"/horizon eval -c config/examples/etth1_itransformer_96.yaml | tail -4
else
    echo "-- ETTh1: no checkpoint; train it: $B/horizon train -c config/examples/etth1_itransformer_96.yaml"
fi
