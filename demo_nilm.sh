#!/bin/sh
# make demo-nilm: disaggregation on the bundled household (docs/MODELS.md section 8.9):
# trains the kettle's and the dishwasher's NILMFormer on UK-DALE house 2's earlier weeks
# (config/examples/nilm_ukdale2.yaml, EPOCHS at most, default 30: a few minutes each on one
# core), scores them on the last two weeks of July, then runs horizond on July as a meter's
# stream (config/examples/nilm_demo.yaml) until every window is estimated, and shows the
# appliances table of the unseen days (from 07-18) beside the sub-meters' own readings.
set -eu
B=${BUILD:-build}
DB=$B/nilm_demo.sqlite
TRAIN=config/examples/nilm_ukdale2.yaml
CONF=config/examples/nilm_demo.yaml
JULY=data/nilm/devicescope_1min/ukdale_house2/UKDALE_House2_2013-07.csv
mkdir -p "$B/models"
for a in Kettle Dishwasher; do
    echo "== train the $a's model (at most ${EPOCHS:-30} epochs, early stopping on the validation week)"
    OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1} "$B"/horizon train -c "$TRAIN" --appliance $a \
        --epochs "${EPOCHS:-30}" --promote 2>&1 | tail -n 3
    echo "== score it on 2013-07-17 … 07-31 (never seen in training)"
    "$B"/horizon eval -c "$TRAIN" --appliance $a | tail -n 4
done
echo "== the meter's stream: July's aggregate power, a minute at a time"
rm -f "$DB" "$DB-wal" "$DB-shm"
"$B"/horizond -c "$CONF" &
HD=$!
trap 'kill "$HD" 2>/dev/null || true' EXIT
rows=$(($(wc -l <"$JULY") - 1))
want=$((rows / 256 * 256 * 2 - 256 * 2)) # whole aligned windows, two appliances (at most one partial at each end)
n=0
while [ "$(sqlite3 "$DB" "SELECT count(*) >= $want FROM appliances" 2>/dev/null)" != 1 ]; do
    n=$((n + 1))
    if [ $n -gt 1200 ]; then echo "demo-nilm: horizond did not estimate the stream in 120 s" >&2; exit 1; fi
    kill -0 "$HD" 2>/dev/null || { echo "demo-nilm: horizond exited" >&2; exit 1; }
    sleep 0.1
done
sleep 1
kill -TERM "$HD"
wait "$HD"
trap - EXIT
echo "horizond estimated $(sqlite3 "$DB" "SELECT count(DISTINCT window_end) FROM appliances") windows of $rows readings and exited cleanly on SIGTERM"
echo "== the appliances table, per unseen day: minutes on and kWh estimated, beside the sub-meter's kWh"
awk -F, 'NR > 1 && $1 >= "2013-07-18" { d = substr($1, 1, 10); k[d] += $3; w[d] += $4 }
    END { for (d in k) printf "%s|%.2f|%.2f\n", d, k[d] / 60000, w[d] / 60000 }' "$JULY" | sort >"$B/nilm_demo_truth.txt"
sqlite3 "$DB" <<EOT
CREATE TEMP TABLE truth(day TEXT, kettle REAL, dishwasher REAL);
.import $B/nilm_demo_truth.txt truth
.mode column
.headers on
SELECT e.day, e.kettle_min_on, e.kettle_kwh, t.kettle AS kettle_kwh_metered,
       e.dishwasher_min_on, e.dishwasher_kwh, t.dishwasher AS dishwasher_kwh_metered
FROM (SELECT date(ts / 1000, 'unixepoch') AS day,
             sum(state * (appliance = 'Kettle')) AS kettle_min_on,
             round(sum(power * (appliance = 'Kettle')) / 60000, 2) AS kettle_kwh,
             sum(state * (appliance = 'Dishwasher')) AS dishwasher_min_on,
             round(sum(power * (appliance = 'Dishwasher')) / 60000, 2) AS dishwasher_kwh
      FROM appliances GROUP BY day) e JOIN truth t ON t.day = e.day ORDER BY e.day;
EOT
