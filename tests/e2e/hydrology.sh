#!/bin/sh
# hydrology.sh — config/examples/hydrology.yaml end to end on bundled data: a CAMELS gauge's
# discharge and its basin precipitation imported from their two files one after the other
# (headerless whitespace file with date parts, -999 markers and quality codes; forcing file
# with a preamble), trained with features MS and the precipitation known over the horizon
# (briefly: 2 epochs), evaluated against persistence and the window mean, then served by
# horizond: the two variables are joined by day, every window is forecast (the discharge
# alone, issued a horizon before the window's newest day), and residual checks are made.
# Then one model pooled over two gauges (model.data.pool) is served for both.
set -u
NAME=hydrology
T=$(mktemp -d /tmp/hz_hy_XXXXXX)
. tests/tools/daemon_lib.sh

g=01013500
H="env -u OPENBLAS_CORETYPE $BIN/horizon"
$H import data/camels/usgs_streamflow/${g}_streamflow_qc.txt --db "$T/hz.sqlite" --series $g \
    --names gauge,year,month,day,discharge,qc --date-columns year,month,day --columns discharge \
    --na -999 --flag-column qc --utc-offset -05:00 --quiet >"$T/import1.out" 2>&1 ||
    fail "discharge import: $(cat "$T/import1.out")"
$H import data/camels/basin_mean_forcing_nldas/${g}_lump_nldas_forcing_leap.txt \
    --db "$T/hz.sqlite" --series $g --skip 3 --date-columns Year,Mnth,Day \
    --columns 'PRCP(mm/day)' --utc-offset -05:00 --quiet >"$T/import2.out" 2>&1 ||
    fail "precipitation import: $(cat "$T/import2.out")"
[ "$(q "SELECT count(*) FROM readings WHERE variable = 'discharge'")" = 7308 ] || fail "discharge rows"
[ "$(q "SELECT count(*) FROM readings WHERE variable = 'PRCP(mm/day)'")" = 7310 ] || fail "precipitation rows"

sed -e "s|database: .*|database: $T/hz.sqlite|" \
    -e "s|checkpoint: .*|checkpoint: $T/m/gauges.safetensors|" \
    -e "s|epochs: 10|epochs: 2|" -e "s|poll: 1s|poll: 50ms|" \
    config/examples/hydrology.yaml >"$T/hz.yaml"
$H train -c "$T/hz.yaml" >"$T/train.out" 2>"$T/train.err" || fail "train: $(tail -5 "$T/train.err")"
grep -q "train: pipeline gauges, series $g, itransformer, 2 variables, 7308 rows" "$T/train.err" ||
    fail "training data: $(head -3 "$T/train.err")"
$H eval -c "$T/hz.yaml" >"$T/eval.out" 2>"$T/eval.err" || fail "eval: $(tail -5 "$T/eval.err")"
for f in model persistence 'window mean'; do
    grep -q "^  $f " "$T/eval.out" || fail "eval: no $f row: $(cat "$T/eval.out")"
done
grep -q "^test  series $g *variable discharge " "$T/eval.out" ||
    fail "eval scores the discharge alone: $(cat "$T/eval.out")"
tail -n 1 "$T/eval.out" | grep -Eq '^test mse=.* nse=-?[0-9.]+ persistence_nse=-?[0-9.]+$' ||
    fail "eval's last line: $(tail -n 1 "$T/eval.out")"

start_daemon "$T/hz.yaml" "$T/run.log"
# windows of 90 + 7 days need both variables: the first is issued on day 90 (0-based 89)
# and the last on the last discharge day but 7 (its newest day the last with both)
wait_sql "SELECT count(DISTINCT issued_ts) FROM forecasts" $((7308 - 97 + 1)) 90
stop_daemon
[ "$(q "SELECT DISTINCT variable FROM forecasts")" = discharge ] || fail "forecast variables"
[ "$(q "SELECT count(*) FROM forecasts")" = $(((7308 - 97 + 1) * 7)) ] || fail "forecast rows"
# days start at 05:00Z (window.offset 5h, the gauge's local midnight): forecasts are issued
# and targeted at the readings' own times, so they join on ts
first=$(q "SELECT min(ts) FROM readings WHERE variable = 'discharge'")
[ "$(q "SELECT min(issued_ts) FROM forecasts")" = $((first + 89 * 86400000)) ] ||
    fail "first issue: $(q "SELECT min(issued_ts) FROM forecasts"), first day $first"
[ "$(q "SELECT count(*) FROM forecasts WHERE lower < 0")" = 0 ] || fail "negative lower bounds"
[ "$(q "SELECT count(*) FROM forecasts f JOIN readings r ON r.series = f.series AND
    r.variable = f.variable AND r.ts = f.target_ts WHERE f.step = 1")" = $((7308 - 97 + 1)) ] ||
    fail "step-1 forecasts that meet a reading at their target time"
nflags=$(q "SELECT count(*) FROM anomalies WHERE kind = 'residual' AND flag = 1")
[ "$nflags" -ge 1 ] && [ "$nflags" -le 400 ] || fail "residual flags: $nflags"
[ "$(q "SELECT count(*) FROM dead_letters")" = 0 ] || fail "dead letters: $(q "SELECT * FROM dead_letters LIMIT 3")"

# restart: windows of lookback + horizon rebuilt, nothing forecast again; then the discharge
# of the first day that had only rain completes a window: one more forecast
start_daemon "$T/hz.yaml" "$T/run2.log"
grep -q 'windows rebuilt from .*: 1 series' "$T/run2.log" || fail "windows not rebuilt: $(cat "$T/run2.log")"
last=$(q "SELECT max(ts) FROM readings WHERE variable = 'discharge'")
q "INSERT INTO readings(series, variable, ts, value) VALUES ('$g', 'discharge', $((last + 86400000)), 600)"
wait_sql "SELECT count(DISTINCT issued_ts) FROM forecasts" $((7308 - 97 + 2)) 30
stop_daemon
# pooled over two gauges: a second gauge's two files, one model, both forecast in their units
g2=03439000
import_gauge() { # GAUGE: its discharge and precipitation files into $T/hz.sqlite
    $H import data/camels/usgs_streamflow/${1}_streamflow_qc.txt --db "$T/hz.sqlite" --series "$1" \
        --names gauge,year,month,day,discharge,qc --date-columns year,month,day \
        --columns discharge --na -999 --flag-column qc --utc-offset -05:00 --quiet &&
        $H import data/camels/basin_mean_forcing_nldas/${1}_lump_nldas_forcing_leap.txt \
            --db "$T/hz.sqlite" --series "$1" --skip 3 --date-columns Year,Mnth,Day \
            --columns 'PRCP(mm/day)' --utc-offset -05:00 --quiet
}
import_gauge $g2 >"$T/import3.out" 2>&1 || fail "second gauge: $(cat "$T/import3.out")"
sed -e "s|checkpoint: .*|checkpoint: $T/m/pooled.safetensors|" -e "s|epochs: 2|epochs: 1|" \
    -e 's|known: \["PRCP(mm/day)"\]}|known: ["PRCP(mm/day)"], pool: true}|' "$T/hz.yaml" >"$T/pool.yaml"
grep -q 'pool: true' "$T/pool.yaml" || fail "pooled config"
$H train -c "$T/pool.yaml" >"$T/ptrain.out" 2>"$T/ptrain.err" || fail "pooled train: $(tail -5 "$T/ptrain.err")"
q "DELETE FROM forecasts; DELETE FROM cursors"
start_daemon "$T/pool.yaml" "$T/run3.log"
wait_sql "SELECT count(DISTINCT series || issued_ts) FROM forecasts" $((2 * (7308 - 97 + 1) + 1)) 90
stop_daemon
# each gauge in its own units: the small creek's forecasts stay far below the river's
[ "$(q "SELECT max(value) < 10000 FROM forecasts WHERE series = '$g2'")" = 1 ] ||
    fail "$g2 forecast in another gauge's units: $(q "SELECT max(value) FROM forecasts WHERE series = '$g2'")"
echo "hydrology: ok (two files joined; $(q "SELECT count(DISTINCT issued_ts) FROM forecasts") forecasts, $nflags residual flags)"
