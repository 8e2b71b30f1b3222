#!/bin/sh
# make demo: the README's main job on the embedded default — the bundled sample (daily
# discharge of the Choptank River, data/choptank) imported into SQLite, a model trained on
# it and backtested, then horizond run on the SQLite -> SQLite pipeline of
# config/examples/demo.yaml until it has forecast every window of the sample, stopped with
# SIGTERM; then the sqlite3 queries that read the forecasts and the anomaly flags.
set -eu
B=${BUILD:-build}
DB=$B/demo.sqlite
CONF=config/examples/demo.yaml
mkdir -p "$B/models"
rm -f "$DB" "$DB-wal" "$DB-shm"
echo "== import the sample into $DB"
"$B"/horizon import data/choptank/ChoptankRiverFlow.txt --db "$DB" --series choptank \
    --date-order mdy --quiet
sqlite3 "$DB" "SELECT series, variable, count(*), min(value), max(value) FROM readings GROUP BY 1, 2"
echo "== train (iTransformer, SQLite readings -> $B/models/choptank.safetensors)"
# the demo starts afresh: its new model replaces an earlier run's (--promote)
"$B"/horizon train -c "$CONF" --promote
echo "== backtest on the held-out test split, against the persistence and window-mean forecasts"
"$B"/horizon eval -c "$CONF" --plot "$B/choptank-eval.svg"
echo "== forecast the next 7 days from the last 60 days of the CSV"
"$B"/horizon forecast --checkpoint "$B/models/choptank.safetensors" \
    --input data/choptank/ChoptankRiverFlow.txt --date-order mdy
echo "== the model registry"
sqlite3 -header "$DB" "SELECT id, kind, datetime(created/1000, 'unixepoch') AS created, metrics FROM models"

echo "== horizond -c $CONF (SQLite readings -> forecasts and anomalies in the same file)"
"$B"/horizond -c "$CONF" &
HD=$!
trap 'kill "$HD" 2>/dev/null || true' EXIT
want=$(sqlite3 "$DB" "SELECT count(*) - 59 FROM readings") # lookback 60: one window per day after
n=0
while [ "$(sqlite3 "$DB" "SELECT count(DISTINCT issued_ts) FROM forecasts" 2>/dev/null)" != "$want" ]; do
    n=$((n + 1))
    if [ $n -gt 600 ]; then echo "demo: horizond did not forecast all $want windows in 60 s" >&2; exit 1; fi
    kill -0 "$HD" 2>/dev/null || { echo "demo: horizond exited" >&2; exit 1; }
    sleep 0.1
done
kill -TERM "$HD"
wait "$HD"
trap - EXIT
echo "horizond forecast $want windows and exited cleanly on SIGTERM"

echo "== the latest forecast of the series (7 days ahead, 90% and 99% intervals)"
echo "   sqlite3 $DB \"SELECT date(target_ts/1000, 'unixepoch') AS day, step, round(value, 1) AS value, ..."
sqlite3 -header -column "$DB" "
  SELECT date(target_ts/1000, 'unixepoch') AS day, step, round(value, 1) AS value,
         round(lower90, 1) AS lower90, round(upper90, 1) AS upper90,
         round(lower99, 1) AS lower99, round(upper99, 1) AS upper99, model_id
  FROM forecasts
  WHERE series = 'choptank'
    AND issued_ts = (SELECT max(issued_ts) FROM forecasts WHERE series = 'choptank')
  ORDER BY step"
echo "== anomalies by kind"
sqlite3 -header -column "$DB" "
  SELECT kind, count(*) AS flags, date(min(ts)/1000, 'unixepoch') AS first,
         date(max(ts)/1000, 'unixepoch') AS last
  FROM anomalies WHERE flag = 1 GROUP BY kind ORDER BY flags DESC"
echo "== the five largest residual anomalies (reading far outside its forecast interval)"
sqlite3 -header -column "$DB" "
  SELECT date(ts/1000, 'unixepoch') AS day, round(value, 1) AS value,
         round(expected, 1) AS expected, round(lower, 1) AS lower, round(upper, 1) AS upper,
         round(score, 3) AS score
  FROM anomalies WHERE kind = 'residual' ORDER BY abs(value - expected) DESC LIMIT 5"
