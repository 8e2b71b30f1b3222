#!/bin/sh
# fault_files.sh — faults of the files horizond writes and reads (docs/RELIABILITY.md,
# "Faults"), while readings stream in from a mock-cluster topic:
#   1. the SQLite file locked by another process for LOCK_S seconds (past busy_timeout);
#   2. the file full: another process grows it to the sink's `max_size_mb` with a ballast
#      table, FULL_S seconds later drops the table (its pages become free inside the file);
#   3. the file and its folder made read-only, then another lock forces the pipeline to
#      open it again; write access comes back RO_S seconds later;
#   4. the served checkpoint overwritten with a corrupt one, then SIGHUP: refused, the
#      pipeline keeps its model; the good file back, SIGHUP applies.
# Nobody restarts horizond: after each fault it must catch up by itself.  At the end every
# reading is in `readings` once with the value sent and every window has its forecast once.
# As root, horizond runs as nobody (setpriv), so file permissions bind it as they bind a
# service user.  Defaults are for make test; make faults runs LOCK_S=20 FULL_S=20 RO_S=20.
set -u
NAME=fault_files
LOCK_S=${LOCK_S:-6}
FULL_S=${FULL_S:-3}
RO_S=${RO_S:-3}
T=$(mktemp -d /tmp/hz_ff_XXXXXX)
. tests/tools/daemon_lib.sh

start_mock readings forecasts:8 anomalies dead
train_ckpt
kafka_yaml "$T/hz.yaml"
sed -i 's/- sqlite: {}/- sqlite: {max_size_mb: 8}/' "$T/hz.yaml"
grep -q 'max_size_mb: 8' "$T/hz.yaml" || fail "could not set max_size_mb"
RUNAS=""
if [ "$(id -u)" = 0 ]; then
    RUNAS="setpriv --reuid=65534 --regid=65534 --clear-groups"
    chown -R 65534:65534 "$T"
fi
# lock SECONDS: another process holds the write lock that long (background, $LOCKP)
lock() {
    (
        trap - EXIT
        { echo "BEGIN EXCLUSIVE;"; sleep "$1"; echo "COMMIT;"; } | sqlite3 "$T/hz.sqlite"
    ) &
    LOCKP=$!
    sleep 0.3
}
produce_points 0 30
start_daemon "$T/hz.yaml" "$T/run.log"
forecasts_done 30

# 1. locked
lock "$LOCK_S"
produce_points 30 40
sleep 1
[ "$(q "SELECT count(*) FROM readings")" = 1500 ] || fail "readings written through the lock?"
wait "$LOCKP"
t_up=$(date +%s)
forecasts_done 40
echo "$NAME: locked ${LOCK_S}s: caught up $(($(date +%s) - t_up)) s after the lock ended ($(grep -c 'database is locked' "$T/run.log") 'database is locked' errors)"

# 2. full: the ballast takes the file to 8 MiB (the test's connection limited the same way)
{
    echo "PRAGMA max_page_count = $((8 * 1048576 / $(q "PRAGMA page_size")));"
    echo "CREATE TABLE ballast(b BLOB);"
    for i in $(seq 200); do echo "INSERT INTO ballast VALUES(randomblob(65536));"; done
    for i in $(seq 200); do echo "INSERT INTO ballast VALUES(randomblob(2048));"; done
} | sqlite3 "$T/hz.sqlite" >/dev/null 2>&1
[ "$(q "SELECT count(*) > 0 FROM ballast")" = 1 ] || fail "no ballast"
produce_points 40 50
wait_log "$T/run.log" 'database or disk is full' 30
sleep "$FULL_S"
[ "$(q "SELECT count(*) FROM readings")" = 2000 ] || fail "readings written into a full file?"
sqlite3 "$T/hz.sqlite" "DROP TABLE ballast" || fail "could not drop the ballast"
t_up=$(date +%s)
forecasts_done 50
echo "$NAME: full ${FULL_S}s: nothing committed meanwhile, caught up $(($(date +%s) - t_up)) s after pages were freed"

# 3. read-only: the file, its WAL and folder; a lock makes the pipeline open it again
chmod a-w "$T" "$T"/hz.sqlite*
lock "$LOCK_S"
produce_points 50 60
wait "$LOCKP"
wait_log "$T/run.log" 'readonly|read-only|unable to open' 30
sleep "$RO_S"
[ "$(q "SELECT count(*) FROM readings")" = 2500 ] || fail "readings written into a read-only file?"
chmod u+w "$T" "$T"/hz.sqlite*
t_up=$(date +%s)
forecasts_done 60
echo "$NAME: read-only ${RO_S}s: nothing committed meanwhile, caught up $(($(date +%s) - t_up)) s after it was writable again"

# 4. the served checkpoint corrupted (NaN weights at its end), SIGHUP: refused, kept
cp "$T/m.safetensors" "$T/good.safetensors"
size=$(stat -c %s "$T/m.safetensors")
head -c 2048 /dev/zero | tr '\0' '\377' |
    dd of="$T/m.safetensors" bs=1 seek=$((size - 2048)) conv=notrunc 2>/dev/null
kill -HUP "$HD"
wait_log "$T/run.log" 'reload refused.*m\.safetensors' 20
produce_points 60 70
forecasts_done 70
cp "$T/good.safetensors" "$T/m.safetensors"
kill -HUP "$HD"
wait_for "SIGHUP with the good checkpoint not applied" grep -q 'horizon_config_reloads\|reload: \|reloaded' "$T/run.log"
stop_daemon
echo "$NAME: corrupt checkpoint + SIGHUP: refused, the pipeline kept forecasting"

check_delivery 70
restarts=$(grep -c 'restarting the pipeline in' "$T/run.log")
[ -n "${KEEP_LOG:-}" ] && cp "$T/run.log" "$KEEP_LOG"
echo "$NAME: ok (3500 readings stored once as sent, 0 lost; 2350 windows forecast once in SQLite; forecasts topic $TOPIC_MESSAGES messages for $TOPIC_FORECASTS forecasts: $((TOPIC_MESSAGES - TOPIC_FORECASTS)) duplicates; $restarts pipeline restarts)"
