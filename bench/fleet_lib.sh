# fleet_lib.sh — the fleet set-up shared by bench/bench_daemon.sh and bench/bench_web.sh: a
# checkpoint trained in seconds, and the SQLite history a previous run of the daemon would
# have left.  Sourced after tests/tools/daemon_lib.sh (fail, T0); expects B, T, SERIES,
# LOOKBACK and HORIZON.

# fleet_checkpoint: an iTransformer at $T/m.safetensors (weights are irrelevant to speed:
# one short epoch); sets $model, the lines of a pipeline's model block that load it
fleet_checkpoint() {
    awk -v t0=$T0 'BEGIN { print "ts,power"; for (t = 0; t < 1500; t++)
        printf "%.0f,%.4f\n", t0 + t * 60000, 10 + 5 * sin(6.2831853 * t / 96) }' >"$T/train.csv"
    model="kind: itransformer
      checkpoint: $T/m.safetensors
      params: {d_model: 128, n_heads: 8, e_layers: 2, d_ff: 256}"
    cat >"$T/train.yaml" <<EOT
database: $T/train.sqlite
metrics: {listen: ""}
pipelines:
  - name: meters
    source: {csv: {path: $T/train.csv}, fields: {time: ts, values: [power]}}
    window: {period: 1m, lookback: $LOOKBACK, horizon: $HORIZON}
    model:
      $model
      data: {split: ratio, ratios: [0.7, 0.1, 0.2]}
    sinks: [{sqlite: {}}]
EOT
    "$B/horizon" train -c "$T/train.yaml" --epochs 1 --max-batches 2 >/dev/null 2>"$T/train.err" ||
        fail "train failed: $(cat "$T/train.err")"
}

# fleet_history DB: LOOKBACK points per series m0..m(SERIES-1) in DB's readings, a minute
# apart from T0
fleet_history() {
    sqlite3 "$1" "CREATE TABLE readings(series TEXT NOT NULL, variable TEXT NOT NULL,
        ts INTEGER NOT NULL, value REAL, UNIQUE(series, variable, ts));
        WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < $SERIES - 1),
             t(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM t WHERE j < $LOOKBACK - 1)
        INSERT INTO readings SELECT 'm' || i, 'power', $T0 + j * 60000,
            10 + 5 * sin(6.2831853 * j / 96 + i / 100.0) FROM s, t;" || fail "history failed"
}
