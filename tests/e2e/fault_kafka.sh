#!/bin/sh
# fault_kafka.sh — Kafka faults while horizond runs (docs/RELIABILITY.md, "Faults"): a
# two-broker mock cluster, the readings topic and the group coordinator on broker 1, the
# output topics on broker 2, faults injected through the mock cluster's control pipe
# (tests/tools/mock_cluster.c):
#   1. broker 1 down DOWN_S seconds while readings keep coming (consume side);
#   2. broker 2 down DOWN_S seconds while forecasts are due (produce side);
#   3. injected errors: Produce (retriable, then message too large), Fetch, OffsetCommit.
# Nobody restarts anything: after each fault the pipeline must catch up by itself.  At the
# end every reading is in `readings` once with the value sent, every window has its
# forecast in SQLite once, and the forecasts topic holds each at least once; the
# duplicates there (at-least-once) are counted and reported.
# DOWN_S defaults to 7 (make test; past the 6 s session timeout); make faults runs it with 30.
set -u
NAME=fault_kafka
DOWN_S=${DOWN_S:-7}
T=$(mktemp -d /tmp/hz_fk_XXXXXX)
. tests/tools/daemon_lib.sh

mkfifo "$T/ctl"
"$BIN/tools/mock_cluster" -b 2 -p 2 -c "$T/ctl" readings forecasts:8 anomalies dead >"$T/boot" 2>"$T/mc.err" &
MC=$!
wait_for "mock cluster did not start" test -s "$T/boot"
BOOT=$(head -n 1 "$T/boot")
# inject LINE: one control line, back when the mock cluster acknowledged it
inject() {
    c=$(grep -c . "$T/mc.err")
    echo "$1" >"$T/ctl"
    wait_for "mock cluster did not take '$1'" sh -c "[ \$(grep -c . '$T/mc.err') -gt $c ]"
    tail -n 1 "$T/mc.err" | grep -q "^mock_cluster: ok $1" || fail "mock cluster: $(tail -n 1 "$T/mc.err")"
}
inject "leader readings -1 1"
for t in forecasts anomalies dead; do inject "leader $t -1 2"; done
inject "coordinator hz-test 1"

train_ckpt
kafka_yaml "$T/hz.yaml"
produce_points 0 30
start_daemon "$T/hz.yaml" "$T/run.log"
forecasts_done 30

# 1. consume side: broker 1 (readings, coordinator) down while 10 more points are produced
inject "down 1"
(
    trap - EXIT
    produce_points 30 40
) &
PROD=$!
sleep "$DOWN_S"
kill -0 "$HD" 2>/dev/null || fail "horizond died with broker 1 down"
inject "up 1"
t_up=$(date +%s)
wait "$PROD" || fail "producing during the outage failed"
forecasts_done 40
echo "$NAME: consume side: broker down ${DOWN_S}s, caught up $(($(date +%s) - t_up)) s after it came back"

# 2. produce side: broker 2 (forecasts, anomalies, dead letters) down while 10 points come
inject "down 2"
produce_points 40 50
sleep "$DOWN_S"
kill -0 "$HD" 2>/dev/null || fail "horizond died with broker 2 down"
held=$(q "SELECT count(*) FROM readings")
[ "$held" -le 2000 ] || fail "readings committed to SQLite ($held) while their forecasts could not reach Kafka"
inject "up 2"
t_up=$(date +%s)
forecasts_done 50
echo "$NAME: produce side: broker down ${DOWN_S}s, nothing committed meanwhile, caught up $(($(date +%s) - t_up)) s after it came back"

# 3. injected request errors, while 10 points come: Produce to broker 2 (REQUEST_TIMED_OUT
# x3, retried by librdkafka; then MESSAGE_TOO_LARGE x2, a delivery failure), Fetch from
# broker 1 (NOT_LEADER_FOR_PARTITION x5), OffsetCommit (COORDINATOR_NOT_AVAILABLE x3)
inject "errors 2 0 3 7"
inject "errors 2 0 2 10"
inject "errors 1 1 5 6"
inject "errors 1 8 3 15"
t_up=$(date +%s)
produce_points 50 60
forecasts_done 60
echo "$NAME: injected errors: caught up in $(($(date +%s) - t_up)) s"
stop_daemon

check_delivery 60
restarts=$(grep -c 'restarting the pipeline in' "$T/run.log")
[ -n "${KEEP_LOG:-}" ] && cp "$T/run.log" "$KEEP_LOG"
echo "$NAME: ok (3000 readings stored once as sent, 0 lost; 1850 windows forecast once in SQLite; forecasts topic $TOPIC_MESSAGES messages for $TOPIC_FORECASTS forecasts: $((TOPIC_MESSAGES - TOPIC_FORECASTS)) duplicates, at-least-once; $restarts pipeline restarts)"
