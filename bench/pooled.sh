#!/bin/sh
# pooled.sh — pooled (one model for a fleet, model.data.pool) against per-series models on
# three real fleets from data/: the 6 CAMELS gauges (daily discharge), the 4 ETT
# transformers (oil temperature) and 5 households' whole-house power (15-minute means).
# camels_forcing is the same gauges forecast from discharge with their basin's precipitation
# and temperature (NLDAS forcing), both models alike (features MS, the weather known over the
# horizon).
# For each fleet one series is left out of the pooled training entirely and scored with the
# pooled checkpoint all the same (scaled by its first full window, as horizond would).
# Every series is scored on its own test split (the last 20% of its rows) in its own units:
# `horizon eval`'s per-series lines give NSE (per horizon step over the test windows, the
# mean over the steps; docs/MODELS.md §4.8), MSE and MAE in original units (cfs, degrees,
# watts; the UCI household in kW), and the NSE of persistence on the same windows.
#
#   bench/pooled.sh [camels|camels_forcing|ett|nilm ...]
#                              (default: camels, ett, nilm; minutes each on 2 cores)
#
# Work files go to OUT (default build/pooled); the tables go to stdout, the logs to
# OUT/<fleet>/*.log.  Configurations: config/examples/<fleet>_pooled.yaml, with
# their paths pointed at OUT and, when SED is set, that sed expression applied to both the
# pooled and the per-series configuration (a variant: SED='s/lr: 1.0e-3/lr: 5.0e-4/').
# Not part of `make test`.
set -eu
BIN=${BIN:-build}
OUT=${OUT:-build/pooled}
THREADS=${THREADS:-2}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
H="env -u OPENBLAS_CORETYPE $BIN/horizon"

# ---- data: one CSV per series, under $OUT/<fleet>/csv

# CAMELS: `gauge year month day value flag`, -999 missing (dropped) -> date,Q (cfs)
csv_camels() {
    for f in data/camels/usgs_streamflow/*_streamflow_qc.txt; do
        g=$(basename "$f" _streamflow_qc.txt)
        awk 'BEGIN { print "date,Q" } $5 != -999 { printf "%04d-%02d-%02d,%s\n", $2, $3, $4, $5 }' \
            "$f" >"$1/$g.csv"
    done
}

# CAMELS with forcing: date,Q,P,T,L,S,C on the days with discharge; P the basin's
# precipitation (mm/day), T its temperature (Tmax, equal to Tmin in these files:
# data/camels/SOURCE.md); L and S a degree-day snow model's liquid water (rain and melt,
# mm/day) and snowpack (mm) run on P and T alone from the file's first day: precipitation
# below 0 °C is snow, which melts 2.5 mm a day per °C above 0 (no fitting to discharge);
# C the climatology below (camels_forcing_pooled.yaml does not read it; a SED variant can)
csv_camels_forcing() {
    for f in data/camels/usgs_streamflow/*_streamflow_qc.txt; do
        g=$(basename "$f" _streamflow_qc.txt)
        awk 'BEGIN { print "date,Q,P,T,L,S" }
             NR == FNR { if (FNR <= 4) next
                         rain = $9 < 0 ? 0 : $6; snow += $6 - rain
                         melt = $9 > 0 ? 2.5 * $9 : 0; if (melt > snow) melt = snow; snow -= melt
                         w[sprintf("%04d-%02d-%02d", $1, $2, $3)] = sprintf("%s,%s,%.2f,%.1f",
                             $6, $9, rain + melt, snow)
                         next }
             $5 != -999 { d = sprintf("%04d-%02d-%02d", $2, $3, $4)
                          if (d in w) printf "%s,%s,%s\n", d, $5, w[d] }' \
            data/camels/basin_mean_forcing_nldas/${g}_lump_nldas_forcing_leap.txt "$f" >"$1/$g.tmp"
        clim "$1/$g.tmp" >"$1/$g.csv" && rm "$1/$g.tmp"
    done
}

# clim CSV: CSV (date,Q,...) with a last column C, the gauge's discharge climatology: the mean
# log1p(Q) of its training rows (the first int(0.7 n), as training/dataset.c splits them, so
# nothing of the test days) on days of the year within 15 of the row's (29 February as 1 March)
clim() {
    awk 'BEGIN { FS = OFS = ","; split("0 31 59 90 120 151 181 212 243 273 304 334", cum, " ") }
        function doy(date,   m, d) { m = substr(date, 6, 2) + 0; d = substr(date, 9, 2) + 0
            return cum[m] + d > 365 ? 365 : cum[m] + d }
        FNR == 1 { pass++ }
        pass == 1 && FNR > 1 { n++ }
        pass == 2 && FNR > 1 && FNR - 1 <= int(0.7 * n) { k = doy($1); s[k] += log(1 + $2); c[k]++ }
        pass == 3 && FNR == 1 {
            for (k = 1; k <= 365; k++) {
                a = b = 0
                for (j = -15; j <= 15; j++) { i = (k + j + 364) % 365 + 1; a += s[i]; b += c[i] }
                clim[k] = a / b
            }
            print $0, "C"; next }
        pass == 3 { printf "%s,%.4f\n", $0, clim[doy($1)] }' "$1" "$1" "$1"
}

# ETT: each file's OT column as it is
csv_ett() {
    for f in ETTh1 ETTh2 ETTm1 ETTm2; do
        awk -F, 'NR == 1 { print "date,OT"; next } { print $1 "," $8 }' data/ett/$f.csv >"$1/$f.csv"
    done
}

# 15-minute means of 1-minute power (`Time,Aggregate,...`; 0 is a gap, data/nilm/SOURCE.md)
q15() {
    awk -F, 'FNR == 1 { next } $2 > 0 {
        k = substr($1, 1, 14) sprintf("%02d", int(substr($1, 15, 2) / 15) * 15) ":00"
        if (k != cur) { if (n) printf "%s,%.3f\n", cur, s / n; cur = k; s = 0; n = 0 }
        s += $2; n++ }
        END { if (n) printf "%s,%.3f\n", cur, s / n }' "$@"
}

# NILM: UK-DALE house 2, REFIT house 2, IDEAL 65 and 175 (W); UCI (Global_active_power, kW)
csv_nilm() {
    d=data/nilm/devicescope_1min
    { echo "time,power"; q15 $d/ukdale_house2/*.csv; } >"$1/ukdale2.csv"
    { echo "time,power"; q15 $d/refit_house2/*.csv; } >"$1/refit2.csv"
    { echo "time,power"; q15 $d/ideal/IDEAL_House65_*.csv; } >"$1/ideal65.csv"
    { echo "time,power"; q15 $d/ideal/IDEAL_House175_*.csv; } >"$1/ideal175.csv"
    { echo "time,power"
      awk -F';' 'NR > 1 && $3 != "?" { split($1, d, "/"); printf "%04d-%02d-%02d %s,%s\n",
          d[3], d[2], d[1], $2, $3 }' data/nilm/uci_household_power/*.txt |
          q15 /dev/stdin; } >"$1/uci.csv"
}

# import DIR DB [SKIP]: every DIR/*.csv as the series of its name, SKIP excepted
import() {
    rm -f "$2"
    for f in "$1"/*.csv; do
        s=$(basename "$f" .csv)
        [ "$s" = "${3:-}" ] && continue
        $H import "$f" --db "$2" --series "$s" --quiet >/dev/null
    done
}

# conf FLEET DB CKPT POOL: the example configuration with its paths at OUT
conf() {
    sed -e "s|\.\./\.\./build/pooled/$1\.sqlite|$2|" \
        -e "s|\.\./\.\./build/pooled/$1\.safetensors|$3|" \
        -e "s|pool: true|pool: $4|" -e "${SED:-}" config/examples/${1}_pooled.yaml
}

# field FILE SERIES KEY: KEY=value of `horizon eval`'s line for SERIES
field() {
    awk -v s="$2" -v k="$3" '$1 == "series" && $2 == s {
        for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) { print kv[2]; exit } } }' "$1"
}

# fleet NAME LEFT_OUT: trains and scores; prints the table
fleet() {
    fl=$1 out=$2 D=$OUT/$1
    mkdir -p "$D/csv" "$D/ckpt"
    # a checkpoint of an earlier run would be kept as served (horizon train --promote)
    rm -f "$D"/ckpt/*.safetensors
    csv_$fl "$D/csv"
    import "$D/csv" "$D/all.sqlite"
    import "$D/csv" "$D/train.sqlite" "$out"
    conf $fl "$D/train.sqlite" "$D/ckpt/pooled.safetensors" true >"$D/pooled_train.yaml"
    conf $fl "$D/all.sqlite" "$D/ckpt/pooled.safetensors" true >"$D/pooled_all.yaml"
    conf $fl "$D/all.sqlite" "$D/ckpt/one.safetensors" false >"$D/one.yaml"
    $H train -c "$D/pooled_train.yaml" --threads $THREADS >"$D/pooled_train.out" 2>"$D/pooled_train.log"
    $H eval -c "$D/pooled_all.yaml" >"$D/pooled_eval.out" 2>"$D/pooled_eval.log"
    series=$(sed -n 's/^series \([^ ]*\) .*/\1/p' "$D/pooled_eval.out")
    for s in $series; do
        $H train -c "$D/one.yaml" --series "$s" --checkpoint "$D/ckpt/$s.safetensors" \
            --threads $THREADS >"$D/one_$s.out" 2>"$D/one_$s.log"
        $H eval -c "$D/one.yaml" --series "$s" --checkpoint "$D/ckpt/$s.safetensors" \
            >"$D/one_$s.eval" 2>>"$D/one_$s.log"
    done
    echo
    echo "### $fl: pooled (trained on every series but $out) vs one model per series"
    echo
    grep '^train:' "$D/pooled_train.log" | sed 's/^/    /'
    echo
    echo "| series | test windows | NSE per-series | NSE pooled | NSE persistence | MSE per-series | MSE pooled | MAE per-series | MAE pooled | pooled scaler |"
    echo "|---|---|---|---|---|---|---|---|---|---|"
    for s in $series; do
        e1=$D/one_$s.eval e2=$D/pooled_eval.out
        echo "| $s$([ "$s" = "$out" ] && echo ' (left out)') | $(field "$e2" "$s" windows) | $(field "$e1" "$s" nse) | $(field "$e2" "$s" nse) | $(field "$e2" "$s" persistence_nse) | $(field "$e1" "$s" mse_orig) | $(field "$e2" "$s" mse_orig) | $(field "$e1" "$s" mae_orig) | $(field "$e2" "$s" mae_orig) | $(field "$e2" "$s" scaler) |"
    done
    for s in $series; do
        [ "$s" = "$out" ] && continue
        echo "$(field "$D/one_$s.eval" "$s" nse) $(field "$D/pooled_eval.out" "$s" nse) $(field "$D/pooled_eval.out" "$s" persistence_nse)"
    done | awk '{ a += $1; b += $2; c += $3; n++ }
        END { printf "| mean of the %d trained series | | %.4f | %.4f | %.4f | | | | | |\n", n, a / n, b / n, c / n }'
}

fleets=${*:-camels ett nilm}
echo "## pooled vs per-series: $(uname -m), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(date -u +%Y-%m-%d)${SED:+, SED='$SED'}"
for fleet_name in $fleets; do
    case $fleet_name in
    camels | camels_forcing) fleet $fleet_name 12010000 ;;
    ett) fleet ett ETTh2 ;;
    nilm) fleet nilm ideal175 ;;
    *) echo "pooled.sh: unknown fleet $fleet_name (camels, camels_forcing, ett, nilm)" >&2; exit 2 ;;
    esac
done
