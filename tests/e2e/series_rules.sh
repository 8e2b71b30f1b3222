#!/bin/sh
# series_rules.sh — rules per series pattern in horizond: the bundled river flow imported as
# two series, `choptank` and `other`; a variables[] item with `series: "chop*"` narrows the
# range to [0, 60] m3/s for the first only, so range flags (with their rule text) come from
# `choptank` and none from `other`, whose rules are the pipeline's [0, 1000].
set -eu
NAME=series_rules
T=$(mktemp -d /tmp/hz_sr_XXXXXX)
. tests/tools/daemon_lib.sh

import_choptank "$T/hz.sqlite"
"$BIN/horizon" import data/choptank/ChoptankRiverFlow.txt --db "$T/hz.sqlite" --series other \
    --date-order mdy --quiet >/dev/null || fail "second import failed"
cat >"$T/hz.yaml" <<EOT
database: $T/hz.sqlite
metrics: {listen: ""}
pipelines:
  - name: p
    source:
      sqlite: {table: readings, poll: 50ms}
      fields: {series: series, time: ts, values: [Qdaily]}
    window: {period: 1d, lookback: 60, horizon: 7}
    model:
      kind: itransformer
      checkpoint: $T/m.safetensors
      params: {d_model: 16, n_heads: 2, e_layers: 1, d_ff: 32}
      data: {split: ratio, ratios: [0.7, 0.1, 0.2]}
    variables:
      - {name: Qdaily, transform: log1p, bounds: [0, null]}
      - {name: Qdaily, series: "chop*", rules: {range: [0, 60]}}
    anomaly: {levels: [0.9, 0.99], rules: {range: [0, 1000]}}
    sinks:
      - sqlite: {}
EOT
"$BIN/horizon" train -c "$T/hz.yaml" --epochs 1 --max-batches 3 >/dev/null 2>"$T/train.err" ||
    fail "train failed"
start_daemon "$T/hz.yaml" "$T/run.log"
wait_sql "SELECT count(DISTINCT series || issued_ts) FROM forecasts" $((2 * 4324)) 60
stop_daemon
n=$(q "SELECT count(*) FROM anomalies WHERE kind = 'range' AND series = 'choptank' AND rule = 'range [0, 60]'")
m=$(q "SELECT count(*) FROM anomalies WHERE kind = 'range' AND series = 'other'")
big=$(q "SELECT count(*) FROM readings WHERE series = 'choptank' AND value > 60")
[ "$n" = "$big" ] && [ "$n" -gt 0 ] || fail "choptank: $n range flags for $big readings above 60"
[ "$m" = 0 ] || fail "other: $m range flags"
echo "series_rules: ok ($n range flags on choptank above 60 m3/s, none on other)"
