#!/bin/sh
# fault_kill.sh — kill -9 at random points (docs/RELIABILITY.md, "Faults"): readings of 50
# series stream into a mock-cluster topic for the whole test while horizond is started and
# killed with SIGKILL ROUNDS times, each after a random 0-3 s: counted from the start in odd
# rounds (kills while it starts: rebuilding windows, joining the group), from the partitions'
# assignment in even ones (kills mid-batch, mid-commit, mid-move).  A last start catches up.  Then every reading is in `readings` once with the value sent, every
# window has its forecast in SQLite once and on the forecasts topic at least once; the
# topic's duplicates are counted.  ROUNDS defaults to 4 (make test); make faults runs 20.
# SEED picks the kill times (printed, so a failure can be replayed).  STAGE (default 300ms)
# is sinks[].sqlite.stage_readings: readings staged and moved in steps (docs/ARCHITECTURE.md
# section 9), so kills land mid-move too; STAGE=0s writes them straight into `readings`.
set -u
NAME=fault_kill
ROUNDS=${ROUNDS:-4}
STAGE=${STAGE:-300ms}
SEED=${SEED:-$(date +%s)}
T=$(mktemp -d /tmp/hz_fx_XXXXXX)
. tests/tools/daemon_lib.sh

start_mock readings forecasts:8 anomalies dead
train_ckpt
kafka_yaml "$T/hz.yaml"
# a killed member leaves the group after its session times out: short, so that each start
# gets its partitions within the round; one killed while the group was rebalancing holds the
# rebalance until max.poll.interval.ms (librdkafka's rebalance timeout, 300 s by default:
# the next start then got no partitions within 10 s in 2 runs of 3): short too
sed -i 's/session.timeout.ms: "6000", heartbeat.interval.ms: "500"/session.timeout.ms: "1000", heartbeat.interval.ms: "100", max.poll.interval.ms: "3000"/' "$T/hz.yaml"
grep -q 'session.timeout.ms: "1000"' "$T/hz.yaml" || fail "could not shorten the session"
sed -i "s/- sqlite: {}/- sqlite: {stage_readings: $STAGE}/" "$T/hz.yaml"
grep -q "stage_readings: $STAGE" "$T/hz.yaml" || fail "could not set stage_readings"
live=readings
[ "$STAGE" = 0s ] || live=readings_live # staged or moved (a re-sent reading counts twice)
READINGS_FROM="(SELECT DISTINCT series, variable, ts FROM $live)"
[ -n "${KAFKA_DEBUG:-}" ] && sed -i "s/heartbeat.interval.ms: \"100\"/heartbeat.interval.ms: \"100\", debug: \"$KAFKA_DEBUG\"/" "$T/hz.yaml"
echo "$NAME: seed $SEED, $ROUNDS rounds, stage_readings $STAGE"
POINTS=$((30 + 5 * ROUNDS))
produce_points 0 30
# the rest one point (50 readings) at a time, 5 a round spread over 2.5 s, about a round's
# mean length, so that readings keep coming until the last kill
(
    trap - EXIT
    t=30
    while [ $t -lt $POINTS ]; do
        produce_points $t $((t + 1))
        t=$((t + 1))
        sleep 0.5
    done
) &
PROD=$!
awk -v s="$SEED" -v r="$ROUNDS" 'BEGIN { srand(s); for (i = 0; i < r; i++) printf "%.2f\n", 3 * rand() }' >"$T/kills"
ready=0
assigned=0
round=0
progress=""
for d in $(cat "$T/kills"); do
    [ -s "$T/run.log" ] && cat "$T/run.log" >>"$T/rounds.txt"
    echo "--- round: kill after $d s" >>"$T/rounds.txt"
    : >"$T/run.log"
    "$BIN/horizond" -c "$T/hz.yaml" 2>>"$T/run.log" &
    HD=$!
    round=$((round + 1))
    n=0 # even rounds: up to 10 s for the assignment (a join can wait on the mock's timers)
    while [ $((round % 2)) = 0 ] && [ $n -lt 200 ] && ! grep -q 'assigned [1-9]' "$T/run.log"; do
        n=$((n + 1))
        sleep 0.05
    done
    sleep "$d"
    grep -q 'assigned [1-9]' "$T/run.log" && assigned=$((assigned + 1))
    grep -q 'horizond ready' "$T/run.log" && ready=$((ready + 1))
    kill -9 "$HD" 2>/dev/null
    wait "$HD" 2>/dev/null
    HD=""
    progress="$progress $(q "SELECT count(*) FROM $live")"
done
wait "$PROD"
at_end=$(q "SELECT count(*) FROM $live")
start_daemon "$T/hz.yaml" "$T/last.log"
forecasts_done $POINTS
stop_daemon
check_delivery $POINTS
echo "$NAME: readings stored after each kill:$progress"
echo "$NAME: ok (seed $SEED, stage_readings $STAGE: $ROUNDS kills, $ready after ready, $assigned after the assignment, $at_end of $((50 * POINTS)) readings stored before the last start; all stored once as sent, 0 lost; $WINDOWS windows forecast once in SQLite; forecasts topic $TOPIC_MESSAGES messages for $TOPIC_FORECASTS forecasts: $((TOPIC_MESSAGES - TOPIC_FORECASTS)) duplicates)"
