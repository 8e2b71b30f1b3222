# daemon_lib.sh — helpers sourced by the script tests in tests/e2e (daemon_*.sh,
# kafka_offsets.sh) and by bench/bench_daemon.sh: a mock Kafka cluster, the bundled Choptank
# sample imported into SQLite, a tiny iTransformer checkpoint trained in seconds, synthetic
# meter readings, horizond started and stopped as a separate process, waits with a time
# limit.  Expects BIN (default build), T (temp dir,
# removed at exit) and NAME (prefix of failure messages); run from the repository root.
BIN=${BIN:-build}
MC=""
HD=""
fail() {
    echo "$NAME: $*" >&2
    for f in "$T"/*.log "$T"/*.err; do
        [ -s "$f" ] && { echo "--- $f" >&2; tail -n 30 "$f" | sed 's/^/  /' >&2; }
    done
    exit 1
}
cleanup() {
    [ -n "$HD" ] && kill -9 "$HD" 2>/dev/null && wait "$HD" 2>/dev/null
    stop_mock
    rm -rf "$T"
}
trap cleanup EXIT

T0=1794999960000 # a minute boundary (ms)

# wait_for MESSAGE CMD...: runs CMD every 0.05 s until it succeeds; fails with MESSAGE
# after 10 s
wait_for() {
    msg=$1
    shift
    n=0
    until "$@"; do
        n=$((n + 1)); [ $n -gt 200 ] && fail "$msg"
        sleep 0.05
    done
}

# start_mock [-p PARTITIONS] TOPIC...: librdkafka's mock cluster on loopback (one broker,
# PARTITIONS partitions per topic, default 2) in the background ($MC); sets BOOT
start_mock() {
    parts=2
    if [ "${1:-}" = -p ]; then
        parts=$2
        shift 2
    fi
    rm -f "$T/boot"
    "$BIN/tools/mock_cluster" -b 1 -p "$parts" "$@" >"$T/boot" 2>"$T/mc.err" &
    MC=$!
    wait_for "mock cluster did not start" test -s "$T/boot"
    BOOT=$(head -n 1 "$T/boot")
}

# stop_mock: stops the mock cluster started by start_mock, if any
stop_mock() {
    if [ -n "$MC" ]; then
        kill "$MC" 2>/dev/null && wait "$MC" 2>/dev/null
        MC=""
    fi
}

# import_choptank DB: the bundled Choptank sample (data/choptank, 4383 daily readings of
# Qdaily) into the SQLite file DB as series "choptank", with `horizon import`
import_choptank() {
    "$BIN/horizon" import data/choptank/ChoptankRiverFlow.txt --db "$1" --series choptank \
        --date-order mdy --quiet >/dev/null || fail "import of data/choptank failed"
}

# readings FROM TO [SPIKE_SERIES SPIKE_T]: JSON lines "key:value" for series m0..m49, one
# per minute, points FROM..TO-1 (time-major), a daily-ish sine plus noise.
readings() {
    awk -v a="$1" -v b="$2" -v ss="${3:--1}" -v st="${4:--1}" -v t0=$T0 'BEGIN {
        srand(7);
        for (t = a; t < b; t++) for (s = 0; s < 50; s++) {
            v = 10 + 5 * sin(6.2831853 * t / 24 + s / 7) + 0.3 * sin(t * 1.7 + s);
            if (s == ss && t == st) v += 60;
            printf "m%d:{\"series\":\"m%d\",\"ts\":%.0f,\"power\":%.4f}\n", s, s, t0 + t * 60000, v
        } }'
}

# train_ckpt: a tiny checkpoint at $T/m.safetensors (lookback 24, horizon 4, d_model 16)
train_ckpt() {
    awk -v t0=$T0 'BEGIN { print "ts,power"; for (t = 0; t < 500; t++)
        printf "%.0f,%.4f\n", t0 + t * 60000, 10 + 5 * sin(6.2831853 * t / 24) + 0.3 * sin(t * 1.7) }' \
        >"$T/train.csv"
    cat >"$T/train.yaml" <<EOT
database: $T/train.sqlite
metrics: {listen: ""}
pipelines:
  - name: meters
    source:
      csv: {path: $T/train.csv}
      fields: {time: ts, values: [power]}
    window: {period: 1m, lookback: 24, horizon: 4, stride: 1}
    model:
      kind: itransformer
      checkpoint: $T/m.safetensors
      params: {d_model: 16, n_heads: 2, e_layers: 1, d_ff: 32}
      train: {epochs: 1, batch: 16, lr: 1.0e-3}
      data: {split: ratio, ratios: [0.7, 0.1, 0.2], features: M}
    sinks:
      - sqlite: {}
EOT
    "$BIN/horizon" train -c "$T/train.yaml" --epochs 1 --max-batches 3 >"$T/train.out" 2>"$T/train.err" ||
        fail "training the test checkpoint failed"
}

# kafka_yaml FILE: kafka source -> sqlite + kafka sinks, on $BOOT
kafka_yaml() {
    cat >"$1" <<EOT
database: $T/hz.sqlite
metrics: {listen: ""}
log_level: info
shutdown_timeout: 20s
kafka: {bootstrap.servers: "$BOOT"}
pipelines:
  - name: meters
    source:
      kafka:
        topic: readings
        group.id: hz-test
        properties: {session.timeout.ms: "6000", heartbeat.interval.ms: "500"}
      fields: {series: series, time: ts, values: [power]}
    window: {period: 1m, lookback: 24, horizon: 4, stride: 1}
    batch: {max: 64, max_wait: 100ms}
    model:
      kind: itransformer
      checkpoint: $T/m.safetensors
      params: {d_model: 16, n_heads: 2, e_layers: 1, d_ff: 32}
    anomaly:
      levels: [0.9, 0.99]
      rules: {spike: 6.0}
    sinks:
      - sqlite: {}
      - kafka: {forecasts: forecasts, anomalies: anomalies, dead_letters: dead}
EOT
}

# wait_log LOG PATTERN [SECONDS]: until a line of LOG matches PATTERN (grep -E); fails when
# the daemon ($HD, if set) exits first
wait_log() {
    n=0
    lim=$((${3:-30} * 20))
    until grep -qsE "$2" "$1"; do # -s: LOG may not exist yet
        n=$((n + 1)); [ $n -gt $lim ] && fail "timed out waiting for '$2' in $1"
        [ -n "$HD" ] && ! kill -0 "$HD" 2>/dev/null && fail "horizond exited waiting for '$2'"
        sleep 0.05
    done
}

# start_daemon CONFIG LOG [PATTERN]: started in the background ($HD), back when LOG has
# PATTERN (default: ready); under the command prefix $RUNAS when set (another user)
start_daemon() {
    : >"$2"
    ${RUNAS:-} "$BIN/horizond" -c "$1" 2>"$2" &
    HD=$!
    wait_log "$2" "${3:-horizond ready}"
}

# stop_daemon: SIGTERM, expects exit 0
stop_daemon() {
    kill -TERM "$HD"
    wait "$HD"
    rc=$?
    HD=""
    [ $rc -eq 0 ] || fail "horizond exited $rc after SIGTERM, expected 0"
}

# q SQL: one value from $T/hz.sqlite
q() { sqlite3 "$T/hz.sqlite" "$1" 2>/dev/null; }

# wait_sql SQL WANT [SECONDS]: until the query returns WANT
wait_sql() {
    n=0
    lim=$((${3:-40} * 10))
    while [ "$(q "$1")" != "$2" ]; do
        n=$((n + 1))
        [ $n -gt $lim ] && fail "timed out waiting for [$1] = $2 (got $(q "$1"))"
        [ -n "$HD" ] && ! kill -0 "$HD" 2>/dev/null && fail "horizond died"
        sleep 0.1
    done
}

# count_topic TOPIC: messages in a topic (kcat, independent client)
count_topic() {
    kcat -b "$BOOT" -C -t "$1" -e -o beginning -q 2>>"$T/kcat.err" | wc -l
}

# check_readings FROM TO: `readings` holds exactly the readings of points FROM..TO-1 (the
# `readings` generator above), each once with the value as sent; fails otherwise
check_readings() {
    readings "$1" "$2" | sed 's/^[^:]*://' |
        awk -F'"' '{ v = $9; sub(/^:/, "", v); sub(/}$/, "", v); printf "%s|%s|%s\n", $4, substr($7, 2, length($7) - 2), v }' |
        sort >"$T/sent.txt"
    q "SELECT series || '|' || ts || '|' || printf('%.4f', value) FROM readings ORDER BY 1" |
        sort >"$T/stored.txt"
    if ! cmp -s "$T/sent.txt" "$T/stored.txt"; then
        lost=$(comm -23 "$T/sent.txt" "$T/stored.txt" | wc -l)
        other=$(comm -13 "$T/sent.txt" "$T/stored.txt" | wc -l)
        fail "readings: $lost sent and not stored as sent, $other stored and not sent (e.g. $(comm -3 "$T/sent.txt" "$T/stored.txt" | head -n 2 | tr '\n' ' '))"
    fi
}

# forecast_keys TOPIC: "TOTAL DISTINCT" forecast messages on TOPIC, a message's identity
# being (series, issued_ts, step); the keys with their counts in $T/TOPIC.keys
forecast_keys() {
    kcat -b "$BOOT" -C -t "$1" -e -o beginning -q -f '%p %o %s\n' 2>>"$T/kcat.err" >"$T/$1.dump"
    # the mock cluster deletes a partition's oldest messages past about 5 MB
    # (tests/tools/mock_cluster.c): a first offset above 0 is that, not a loss of ours
    first=$(awk '!($1 in f) { f[$1] = $2 } END { for (p in f) if (f[p] > 0) print "partition " p " starts at offset " f[p] }' "$T/$1.dump")
    [ -z "$first" ] || fail "topic $1: $first: the mock cluster dropped its oldest messages (give the topic more partitions)"
    sed 's/^[0-9]* [0-9]* //' "$T/$1.dump" |
        sed -n 's/.*"series":"\([^"]*\)".*"issued_ts":\([0-9]*\),.*"step":\([0-9]*\),.*/\1|\2|\3/p' |
        sort | uniq -c | tee "$T/$1.keys" | awk '{ t += $1; d++ } END { printf "%d %d\n", t, d }'
}

# check_delivery POINTS: after a stream of points 0..POINTS-1 of the `readings` generator
# through kafka_yaml's pipeline (lookback 24, horizon 4): every reading stored once as sent,
# every window's forecast once in SQLite, no dead letter, every forecast on the forecasts
# topic at least once.  Sets TOPIC_MESSAGES and TOPIC_FORECASTS (their duplicates: the
# difference) and WINDOWS.
check_delivery() {
    WINDOWS=$((50 * ($1 - 23)))
    check_readings 0 "$1"
    [ "$(q "SELECT count(*) FROM forecasts")" = $((WINDOWS * 4)) ] ||
        fail "forecast rows $(q "SELECT count(*) FROM forecasts"), expected $((WINDOWS * 4))"
    [ "$(q "SELECT count(*) FROM dead_letters")" = 0 ] || fail "dead letters: $(q "SELECT reason FROM dead_letters LIMIT 3")"
    keys=$(forecast_keys forecasts) || fail "reading the forecasts topic failed"
    TOPIC_MESSAGES=${keys% *}
    TOPIC_FORECASTS=${keys#* }
    [ "$TOPIC_FORECASTS" = $((WINDOWS * 4)) ] ||
        fail "forecasts topic: $TOPIC_FORECASTS distinct forecasts of $((WINDOWS * 4)) (keys in $T/forecasts.keys)"
}

# produce_points FROM TO: points FROM..TO-1 of the `readings` generator onto the readings topic
produce_points() {
    readings "$1" "$2" | kcat -b "$BOOT" -P -t readings -K: 2>>"$T/kcat.err" || fail "kcat produce failed"
}

# forecasts_done POINTS: waits (90 s at most) until points 0..POINTS-1 are in `readings` (or
# READINGS_FROM, a table or subquery) and every window among them (from the 24th point,
# lookback 24) has a forecast in SQLite
forecasts_done() {
    wait_sql "SELECT count(*) FROM ${READINGS_FROM:-readings}" $((50 * $1)) 90
    wait_sql "SELECT count(DISTINCT series || '/' || issued_ts) FROM forecasts" $((50 * ($1 - 23))) 90
}

# bench_ckpt LOOKBACK HORIZON: the benchmarks' checkpoint at $T/m.safetensors, an
# iTransformer of d_model 128 (2 layers, 8 heads) trained one short epoch on a sine (its
# weights do not matter to speed); sets MODEL_YAML, the `model:` lines that serve it
bench_ckpt() {
    awk -v t0=$T0 'BEGIN { print "ts,power"; for (t = 0; t < 1500; t++)
        printf "%.0f,%.4f\n", t0 + t * 60000, 10 + 5 * sin(6.2831853 * t / 96) }' >"$T/train.csv"
    MODEL_YAML="kind: itransformer
      checkpoint: $T/m.safetensors
      params: {d_model: 128, n_heads: 8, e_layers: 2, d_ff: 256}"
    cat >"$T/train.yaml" <<EOT
database: $T/train.sqlite
metrics: {listen: ""}
pipelines:
  - name: meters
    source: {csv: {path: $T/train.csv}, fields: {time: ts, values: [power]}}
    window: {period: 1m, lookback: $1, horizon: $2}
    model:
      $MODEL_YAML
      data: {split: ratio, ratios: [0.7, 0.1, 0.2]}
    sinks: [{sqlite: {}}]
EOT
    "$BIN/horizon" train -c "$T/train.yaml" --epochs 1 --max-batches 2 >/dev/null 2>"$T/train.err" ||
        fail "train failed: $(cat "$T/train.err")"
}

# bench_history DB SERIES LOOKBACK: the history a previous run of the daemon would have left,
# LOOKBACK points a minute apart from T0 for each of the series m0..m(SERIES-1), in DB's
# readings (bench_daemon.sh, bench_web.sh)
bench_history() {
    sqlite3 "$1" "CREATE TABLE readings(series TEXT NOT NULL, variable TEXT NOT NULL,
        ts INTEGER NOT NULL, value REAL, UNIQUE(series, variable, ts));
        WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < $2 - 1),
             t(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM t WHERE j < $3 - 1)
        INSERT INTO readings SELECT 'm' || i, 'power', $T0 + j * 60000,
            10 + 5 * sin(6.2831853 * j / 96 + i / 100.0) FROM s, t;" || fail "history failed"
}
