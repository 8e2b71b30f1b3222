#!/bin/sh
# make demo: the README's main job on the embedded default — the bundled sample (daily
# discharge of the Choptank River, data/choptank) imported into SQLite, a model trained on
# it, backtested, and a forecast written; then the SQL that reads the results.
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
"$B"/horizon train -c "$CONF"
echo "== backtest on the held-out test split"
"$B"/horizon eval -c "$CONF" --plot "$B/choptank-eval.svg" | tail -3
echo "== forecast the next 7 days from the last 60 days of the CSV"
"$B"/horizon forecast --checkpoint "$B/models/choptank.safetensors" \
    --input data/choptank/ChoptankRiverFlow.txt --date-order mdy
echo "== the model registry"
sqlite3 -header "$DB" "SELECT id, kind, datetime(created/1000, 'unixepoch') AS created, metrics FROM models"
