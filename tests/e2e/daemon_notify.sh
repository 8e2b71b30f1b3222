#!/bin/sh
# daemon_notify.sh — horizond speaks systemd's notification protocol (Type=notify):
# with NOTIFY_SOCKET and a watchdog set, it sends READY=1, STATUS= lines (readings/s,
# forecasts), WATCHDOG=1 pings, RELOADING=1 then READY=1 around a SIGHUP, and STOPPING=1 on
# SIGTERM (exit 0); a refused reload shows on the STATUS= line.  tests/tools/notify_listen stands in for systemd's socket.
set -u
NAME=daemon_notify
T=$(mktemp -d /tmp/hz_dn_XXXXXX)
. tests/tools/daemon_lib.sh
LS=""
trap 'cleanup; [ -n "$LS" ] && kill "$LS" 2>/dev/null' EXIT

import_choptank "$T/hz.sqlite"
sed -e "s|database: .*|database: $T/hz.sqlite|" \
    -e "s|checkpoint: .*|checkpoint: $T/m.safetensors|" \
    -e "s|params: .*|params: {d_model: 16, n_heads: 2, e_layers: 1, d_ff: 32}|" \
    -e "s|poll: 1s|poll: 50ms|" config/examples/demo.yaml >"$T/hz.yaml"
"$BIN/horizon" train -c "$T/hz.yaml" --epochs 1 --max-batches 2 >/dev/null 2>"$T/train.err" ||
    fail "train failed"
# listen NAME: systemd's socket stand-in at $T/NAME, messages to $T/NAME.out ($LS)
listen() {
    "$BIN/tools/notify_listen" "$T/$1" 60 >"$T/$1.out" 2>"$T/$1.err" &
    LS=$!
    wait_for "listener did not start" test -S "$T/$1"
}
# unlisten: stops the listener once the daemon's last messages are in
unlisten() {
    sleep 0.3
    kill "$LS"
    wait "$LS" 2>/dev/null
    LS=""
}
listen notify
# WATCHDOG_PID must be the daemon's own pid: set it in the shell that execs it
NOTIFY_SOCKET="$T/notify" WATCHDOG_USEC=1000000 sh -c 'WATCHDOG_PID=$$ exec "$0" -c "$1"' \
    "$BIN/horizond" "$T/hz.yaml" 2>"$T/run.log" &
HD=$!
wait_sql "SELECT count(DISTINCT issued_ts) FROM forecasts" 4324 60
sleep 1.5 # a few watchdog pings (every 0.5 s) and a STATUS line after the work
kill -HUP "$HD"
wait_log "$T/run.log" 'reload done' 5
# a reload whose checkpoint does not exist: refused, and the STATUS= line says so at once
sed -e "s|checkpoint: .*|checkpoint: $T/none.safetensors|" -e "s|train_on_start: true|train_on_start: false|" \
    "$T/hz.yaml" >"$T/hz.bad" && cp "$T/hz.yaml" "$T/hz.good" && cp "$T/hz.bad" "$T/hz.yaml"
kill -HUP "$HD"
wait_log "$T/run.log" 'reload refused' 5
sleep 0.3
cp "$T/hz.good" "$T/hz.yaml"
stop_daemon
unlisten
grep -q '^STATUS=1/1 pipelines; .*; last reload refused: pipeline choptank: no checkpoint at .*none.safetensors' \
    "$T/notify.out" || fail "no refused reload on the STATUS line: $(grep STATUS "$T/notify.out")"
grep -q '^READY=1$' "$T/notify.out" || fail "no READY=1: $(cat "$T/notify.out")"
[ "$(grep -c '^WATCHDOG=1$' "$T/notify.out")" -ge 2 ] || fail "fewer than 2 watchdog pings"
grep -q '^STATUS=1/1 pipelines; [0-9]* readings/s, [0-9]* forecasts/s' "$T/notify.out" ||
    fail "no STATUS line: $(grep STATUS "$T/notify.out")"
grep -q '^RELOADING=1 MONOTONIC_USEC=[0-9]*$' "$T/notify.out" || fail "no RELOADING=1"
[ "$(grep -c '^READY=1$' "$T/notify.out")" -ge 2 ] || fail "no READY=1 after the reload"
grep -q '^STOPPING=1$' "$T/notify.out" || fail "no STOPPING=1"

# train_on_start under systemd: EXTEND_TIMEOUT_USEC while the model trains, before READY=1
sed -e "s|checkpoint: .*|checkpoint: $T/m2.safetensors|" "$T/hz.yaml" >"$T/hz2.yaml"
listen notify2
NOTIFY_SOCKET="$T/notify2" "$BIN/horizond" -c "$T/hz2.yaml" 2>"$T/run2.log" &
HD=$!
wait_log "$T/run2.log" 'horizond ready' 60
stop_daemon
unlisten
grep -q 'no checkpoint at .*; training one' "$T/run2.log" || fail "run 2 did not train at start"
ext=$(grep -n '^EXTEND_TIMEOUT_USEC=60000000$' "$T/notify2.out" | head -n 1 | cut -d: -f1)
rdy=$(grep -n '^READY=1$' "$T/notify2.out" | head -n 1 | cut -d: -f1)
[ -n "$ext" ] && [ -n "$rdy" ] && [ "$ext" -lt "$rdy" ] ||
    fail "no EXTEND_TIMEOUT_USEC before READY=1 during train_on_start: $(cat "$T/notify2.out")"
echo "$NAME: ok ($(grep -c '^WATCHDOG=1$' "$T/notify.out") watchdog pings, $(grep -c '^STATUS=' "$T/notify.out") STATUS lines, READY/RELOADING/STOPPING; $(grep -c ^EXTEND_TIMEOUT_USEC "$T/notify2.out") start-timeout extensions while training at start)"
