#!/bin/sh
# nilm_daemon.sh — disaggregation in horizond (docs/MODELS.md §8.9, docs/ARCHITECTURE.md):
# four meters' aggregate power (UK-DALE house 2's July minutes, data/nilm, from four
# starting rows; the fourth with one reading of 0 W, a gap under model.data.zero_is_gap)
# stream through a mock-cluster topic into a `task: disaggregate` pipeline
# with two tiny appliance models (one-batch probes trained from June), while horizond is
# killed with SIGKILL ROUNDS times at random moments (SEED, printed); a last start catches
# up and is sent the last 64 minutes, so its metrics count at least the last windows'
# estimates in horizon_estimates_total and none in horizon_forecasts_total.  Then every reading is stored once as sent, every minute of every meter has one
# estimate per appliance in `appliances` (but the fourth meter's window with the 0 W
# reading, left out) (power 0 or at least the ON threshold, state 1
# exactly when on, estimated by a window that ends at or after it and holds it), each
# window stored is on the `appliances` topic at least once with the same powers, no dead
# letters; the topic's duplicates are counted.  Run from the repository root.
set -u
NAME=nilm_daemon
ROUNDS=${ROUNDS:-3}
SEED=${SEED:-$(date +%s)}
T=$(mktemp -d /tmp/hz_nd_XXXXXX)
PORT=$((20000 + ($$ + 17) % 20000)) # as daemon_reload.sh picks its port
. tests/tools/daemon_lib.sh
M=data/nilm/devicescope_1min/ukdale_house2
W=256
POINTS=$((6 * W)) # six windows a meter
# the stream starts on the aligned grid (windows end on minutes k with k + 1 a multiple of
# 256, pipeline/disagg_rt.h), so its six windows are the ones estimated, restarts or not
TB=$(((T0 / (W * 60000) + 1) * W * 60000))

start_mock readings appliances:4 dead

# the models: Kettle (ON at 500 W) and Microwave (200 W), the first 30,000 minutes of June
head -n 30001 "$M/UKDALE_House2_2013-06.csv" >"$T/june.csv"
model_yaml() {
    cat <<EOT
    window: {period: 1m, lookback: $W, horizon: 1, stride: $W}
    batch: {max: 16, max_wait: 100ms}
    model:
      kind: nilmformer
      task: disaggregate
      checkpoint: $T/nilm.safetensors
      params: {d_model: 16, n_heads: 2, e_layers: 1, d_ff: 32, use_marks: true, c_embedding: 8,
               dilations: [1, 2]}
      train: {epochs: 1, batch: 16, lr: 1.0e-4, optimizer: adamw}
      data:
        split: ratio
        ratios: [0.7, 0.1, 0.2]
        zero_is_gap: true
        appliances:
          - {name: Kettle, on_threshold: 500}
          - {name: Microwave, on_threshold: 200}
EOT
}
{
    printf 'database: %s/train.sqlite\nmetrics: {listen: ""}\npipelines:\n  - name: house\n' "$T"
    printf '    source:\n      csv: {path: %s/june.csv, series: h}\n' "$T"
    printf '      fields: {time: Time, values: [Aggregate]}\n'
    model_yaml
    printf '    sinks: [{sqlite: {}}]\n'
} >"$T/train.yaml"
for a in Kettle Microwave; do
    "$BIN/horizon" train -c "$T/train.yaml" --appliance $a --epochs 1 --max-batches 1 \
        >"$T/train.out" 2>"$T/train.err" || fail "training $a: $(tail -3 "$T/train.err")"
done
{
    printf 'database: %s/hz.sqlite\nmetrics: {listen: "127.0.0.1:%s"}\nlog_level: info\n' "$T" "$PORT"
    printf 'kafka: {bootstrap.servers: "%s"}\npipelines:\n  - name: house\n' "$BOOT"
    printf '    source:\n      kafka:\n        topic: readings\n        group.id: hz-nilm\n'
    printf '        properties: {session.timeout.ms: "1000", heartbeat.interval.ms: "100"}\n'
    printf '      fields: {series: series, time: ts, values: [power]}\n'
    model_yaml
    printf '    sinks:\n      - sqlite: {}\n      - kafka: {appliances: appliances, dead_letters: dead}\n'
} >"$T/hz.yaml"
# the live stream's variable is "power", the models' aggregate "Aggregate": refused by name
"$BIN/horizond" -c "$T/hz.yaml" --check >"$T/check.out" 2>&1 && fail "a model of Aggregate served power"
grep -q 'estimates Kettle from Aggregate, not Kettle from power' "$T/check.out" || fail "$(cat "$T/check.out")"
sed -i 's/values: \[power\]/values: [Aggregate]/' "$T/hz.yaml"
"$BIN/horizond" -c "$T/hz.yaml" --check >"$T/check.out" 2>&1 || fail "check: $(cat "$T/check.out")"

# meter h<k> sends July's minutes from row 1 + 3000 k, one a minute from TB; h3's minute
# 300 (in its second window) reads 0 W
awk -F, -v t0=$TB -v n=$POINTS 'NR > 1 { a[NR - 2] = $2 } END {
    for (t = 0; t < n; t++) for (k = 0; k < 4; k++)
        printf "h%d:{\"series\":\"h%d\",\"ts\":%.0f,\"Aggregate\":%s}\n", k, k, t0 + t * 60000, k == 3 && t == 300 ? "0.0" : a[t + 3000 * k] }' \
    "$M/UKDALE_House2_2013-07.csv" >"$T/stream.txt"
produce() { sed -n "$(($1 * 4 + 1)),$(($2 * 4))p" "$T/stream.txt" | kcat -b "$BOOT" -P -t readings -K: 2>>"$T/kcat.err" || fail "kcat produce failed"; }
produce 0 $((2 * W))
(
    trap - EXIT
    t=$((2 * W))
    while [ $t -lt $((POINTS - 64)) ]; do
        produce $t $((t + 64))
        t=$((t + 64))
        sleep 0.15
    done
) &
PROD=$!
echo "$NAME: seed $SEED, $ROUNDS rounds"
for d in $(awk -v s="$SEED" -v r="$ROUNDS" 'BEGIN { srand(s); for (i = 0; i < r; i++) printf "%.2f\n", 3 * rand() }'); do
    "$BIN/horizond" -c "$T/hz.yaml" 2>>"$T/rounds.log" &
    HD=$!
    sleep "$d"
    kill -9 "$HD" 2>/dev/null
    wait "$HD" 2>/dev/null
    HD=""
done
wait "$PROD"
start_daemon "$T/hz.yaml" "$T/last.log"
produce $((POINTS - 64)) $POINTS # the last start completes every meter's last window
EST=$((2 * (4 * POINTS - W))) # two appliances, four meters, less h3's second window
wait_sql "SELECT count(*) FROM readings" $((4 * POINTS)) 90
wait_sql "SELECT count(*) FROM appliances" $EST 90
# the last start's estimates (at least the last window's, 4 meters x 2 appliances) are
# counted as estimates, not as forecast points
curl -s "http://127.0.0.1:$PORT/metrics" >"$T/metrics" || fail "no metrics on port $PORT"
metric() { awk -v n="horizon_$1_total{pipeline=\"house\"}" '$1 == n { print $2 }' "$T/metrics"; }
[ "$(metric forecasts)" = 0 ] || fail "estimates counted as forecasts: $(metric forecasts)"
[ "$(metric estimates)" -ge 8 ] || fail "$(metric estimates) estimates counted, not 8 or more"
stop_daemon

# readings: each once, as sent
sed 's/^[^:]*://' "$T/stream.txt" | awk -F'[":,}]+' '{ printf "%s|%s|%.4f\n", $3, $5, $7 }' | sort >"$T/sent.txt"
q "SELECT series || '|' || ts || '|' || printf('%.4f', value) FROM readings" | sort >"$T/stored.txt"
cmp -s "$T/sent.txt" "$T/stored.txt" || fail "readings differ from those sent: $(comm -3 "$T/sent.txt" "$T/stored.txt" | head -n 3 | tr '\n' ' ')"
[ "$(q "SELECT count(*) FROM dead_letters")" = 0 ] || fail "dead letters: $(q "SELECT reason FROM dead_letters LIMIT 3")"
# every minute once per appliance, by its aligned window; powers and states consistent
bad=$(q "SELECT count(*) FROM appliances a JOIN (SELECT 'Kettle' AS n, 500 AS thr UNION ALL SELECT 'Microwave', 200) o ON o.n = a.appliance
         WHERE a.ts < $TB OR a.ts > $TB + ($POINTS - 1) * 60000 OR a.window_end < a.ts OR a.window_end - a.ts > ($W - 1) * 60000
            OR (a.window_end - $TB) % ($W * 60000) != ($W - 1) * 60000 OR a.power < 0 OR (a.power > 0 AND a.power < o.thr)
            OR a.state != (a.power >= o.thr)")
[ "$bad" = 0 ] || fail "$bad estimate rows out of their window, threshold or state"
per=$(q "SELECT count(DISTINCT series || appliance || ts) || ' ' || count(DISTINCT series || appliance || window_end) FROM appliances")
[ "$per" = "$EST 46" ] || fail "estimates: $per distinct (series, appliance, minute) and windows, expected $EST 46"
gap=$(q "SELECT count(*) FROM appliances WHERE series = 'h3' AND ts BETWEEN $TB + $W * 60000 AND $TB + (2 * $W - 1) * 60000")
[ "$gap" = 0 ] || fail "$gap estimates in h3's window with a 0 W reading (zero_is_gap)"
[ "$(q "SELECT count(*) FROM appliances WHERE state = 1")" -gt 0 ] || echo "$NAME: (the probe models estimate nothing on; the check of states is vacuous)"
# the topic: each window stored is there with the powers stored
kcat -b "$BOOT" -C -t appliances -e -o beginning -q -f '%p %o %s\n' 2>>"$T/kcat.err" >"$T/ap.dump"
first=$(awk '!($1 in f) { f[$1] = $2 } END { for (p in f) if (f[p] > 0) print p }' "$T/ap.dump")
[ -z "$first" ] || fail "appliances topic: partition $first lost its first messages (mock cluster retention)"
sed 's/^[0-9]* [0-9]* //' "$T/ap.dump" |
    sed -n 's/.*"series":"\([^"]*\)","appliance":"\([^"]*\)".*"end_ts":\([0-9]*\),.*"power":\[\([^]]*\)\].*/\1 \2 \3 \4/p' |
    awk -v p=60000 -v w=$W '{ n = split($4, v, ","); for (i = 1; i <= n; i++) printf "%s|%s|%s|%.0f|%g\n", $1, $2, $3, $3 - (n - i) * p, v[i] }' |
    sort -u >"$T/topic.rows"
q "SELECT series || '|' || appliance || '|' || window_end || '|' || ts || '|' || printf('%g', power) FROM appliances" | sort >"$T/db.rows"
missing=$(comm -13 "$T/topic.rows" "$T/db.rows" | wc -l)
[ "$missing" = 0 ] || fail "$missing stored estimates not on the topic as stored (e.g. $(comm -13 "$T/topic.rows" "$T/db.rows" | head -n 2 | tr '\n' ' '))"
msgs=$(wc -l <"$T/ap.dump")
wins=$(sed -n 's/.*"series":"\([^"]*\)","appliance":"\([^"]*\)".*"end_ts":\([0-9]*\),.*/\1 \2 \3/p' "$T/ap.dump" | sort -u | wc -l)
stored=$(q "SELECT count(DISTINCT series || appliance || window_end) FROM appliances")
echo "$NAME: last start: $(metric readings) readings, $(metric estimates) estimates counted"
echo "$NAME: ok (seed $SEED: $ROUNDS kills; $((4 * POINTS)) readings stored once as sent; $EST minute estimates, one per meter, appliance and minute, none in the window with a 0 W reading; $stored windows in SQLite, all on the topic: $msgs messages for $wins windows, $((msgs - wins)) duplicates)"
