#!/bin/sh
# drivers.sh — does precipitation as a known-future driver make a river forecast skilful?
# On the 6 CAMELS gauges of data/camels (daily discharge, NLDAS basin-mean precipitation;
# data/camels/SOURCE.md), per gauge: the same iTransformer trained on discharge alone
# (features S) and on discharge with precipitation known over the 7-day horizon (features MS,
# model.data.known: [P]; the observed precipitation stands in for a forecast, as hydrology
# studies do), each scored by `horizon eval` on the gauge's test split (last 20% of days):
# NSE in original units, per step then averaged over steps 1-7, beside persistence's.
#
#   bench/drivers.sh [GAUGE ...]         (default: the six; about a minute each on 2 cores)
#
# Work files go to OUT (default build/drivers); the table goes to stdout, logs to OUT/*.log.
# EPOCHS, SEEDS and LOOKBACK (default 10, "1" and 90 days) change the runs; with several seeds the table gives
# each configuration's mean NSE; PARAMS adds model.params keys (e.g. "norm_centre: last").
# DATA (default data/camels) is a CAMELS-US folder laid out as the bundled sample
# (usgs_streamflow/, basin_mean_forcing_nldas/; the full set is downloadable from NCAR,
# data/camels/SOURCE.md), so more gauges can be scored.  Not part of `make test`.
set -eu
BIN=${BIN:-build}
OUT=${OUT:-build/drivers}
EPOCHS=${EPOCHS:-10}
SEEDS=${SEEDS:-1}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
H="env -u OPENBLAS_CORETYPE $BIN/horizon"
D=${DATA:-data/camels}
if [ ! -d "$D/usgs_streamflow" ] || [ ! -d "$D/basin_mean_forcing_nldas" ]; then
    echo "drivers: no CAMELS data at $D (set DATA); skipped" >&2
    exit 0
fi

# csv GAUGE: date,P,Q on the days with both (missing discharge, -999, left out)
csv() {
    awk 'NR == FNR { if (FNR > 4) p[sprintf("%04d-%02d-%02d", $1, $2, $3)] = $6; next }
         $5 != -999 { d = sprintf("%04d-%02d-%02d", $2, $3, $4)
                      if (d in p) printf "%s,%s,%s\n", d, p[d], $5 }' \
        $D/basin_mean_forcing_nldas/${1}_lump_nldas_forcing_leap.txt \
        $D/usgs_streamflow/${1}_streamflow_qc.txt | sed '1i date,P,Q' >"$OUT/$1.csv"
}

# conf GAUGE KIND SEED: KIND s (discharge alone) or ms (with precipitation known)
conf() {
    if [ "$2" = s ]; then data="features: S, target: Q"; else data="features: MS, target: Q, known: [P]"; fi
    cat <<YAML
database: $OUT/$1-$2-$3.sqlite
metrics: {listen: ""}
pipelines:
  - name: g$1
    source:
      csv: {path: $OUT/$1.csv}
      fields: {time: date, values: [P, Q]}
    window: {period: 1d, lookback: ${LOOKBACK:-90}, horizon: 7, stride: 1}
    model:
      kind: itransformer
      checkpoint: $OUT/$1-$2-$3.safetensors
      params: {d_model: 64, n_heads: 4, e_layers: 2, d_ff: 128, dropout: 0.1${PARAMS:+, $PARAMS}}
      train: {epochs: $EPOCHS, batch: 32, lr: 1.0e-3, patience: 3, seed: $3}
      data: {split: ratio, ratios: [0.7, 0.1, 0.2], $data}
    variables:
      - {name: Q, transform: log1p, bounds: [0, null]}
      - {name: P, transform: log1p, bounds: [0, null]}
    sinks:
      - sqlite: {}
YAML
}

# run GAUGE KIND SEED: prints "nse persistence_nse" of the eval's last line
run() {
    conf "$1" "$2" "$3" >"$OUT/$1-$2-$3.yaml"
    rm -f "$OUT/$1-$2-$3.sqlite"
    $H train -c "$OUT/$1-$2-$3.yaml" >"$OUT/$1-$2-$3.log" 2>&1
    $H eval -c "$OUT/$1-$2-$3.yaml" >>"$OUT/$1-$2-$3.log" 2>&1
    tail -1 "$OUT/$1-$2-$3.log" | tr ' ' '\n' | awk -F= '
        $1 == "nse" { n = $2 } $1 == "persistence_nse" { p = $2 } END { print n, p }'
}

# mean of the first field of the lines on stdin
mean() { awk '{ s += $1; n++ } END { printf "%.3f", s / n }'; }

gauges=${*:-$(ls $D/usgs_streamflow | sed 's/_streamflow_qc.txt//')}
printf '| gauge | persistence | discharge alone (S) | with precipitation known (MS) | MS beats persistence | MS beats S |\n'
printf '|---|---|---|---|---|---|\n'
for g in $gauges; do
    csv "$g"
    : >"$OUT/$g.s" && : >"$OUT/$g.ms"
    for seed in $SEEDS; do
        run "$g" s "$seed" >>"$OUT/$g.s"
        run "$g" ms "$seed" >>"$OUT/$g.ms"
    done
    ns=$(mean <"$OUT/$g.s")
    nm=$(mean <"$OUT/$g.ms")
    np=$(awk '{ print $2 }' "$OUT/$g.ms" | mean)
    printf '| %s | %s | %s | %s | %s | %s |\n' "$g" "$np" "$ns" "$nm" \
        "$(awk -v a="$nm" -v b="$np" 'BEGIN { print (a > b ? "yes" : "no") }')" \
        "$(awk -v a="$nm" -v b="$ns" 'BEGIN { print (a > b ? "yes" : "no") }')"
done
