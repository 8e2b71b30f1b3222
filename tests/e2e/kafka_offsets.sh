#!/bin/sh
# kafka_offsets.sh — at-least-once across a crash.  A consumer (tests/tools/kafka_pipe over
# kafka_source) reads 100 readings from a mock-cluster topic, acknowledges only the first
# 40 and is killed with SIGKILL; a new consumer in the same group must start again at
# offset 40 and read the other 60 — nothing lost, nothing skipped.  kcat produces the input
# and checks the topic independently.  Needs BIN (dir with tools/) and kcat.
set -u
NAME=kafka_offsets
T=$(mktemp -d /tmp/hz_ko_XXXXXX)
. tests/tools/daemon_lib.sh

start_mock -p 1 readings

i=0
while [ $i -lt 100 ]; do
    printf 'm%d:{"series":"m%d","ts":%d,"power":%d}\n' $((i % 5)) $((i % 5)) $((1795342500 + i * 60)) $i
    i=$((i + 1))
done >"$T/in"
kcat -b "$BOOT" -P -t readings -K: <"$T/in" 2>"$T/kcat.err" || fail "kcat produce failed"
got=$(kcat -b "$BOOT" -C -t readings -e -o beginning -q 2>>"$T/kcat.err" | wc -l)
[ "$got" -eq 100 ] || fail "kcat sees $got messages, expected 100"

"$BIN/tools/kafka_pipe" -b "$BOOT" -t readings -g crash -n 100 -a 40 -k >"$T/out1" 2>"$T/pipe1.err"
rc=$?
[ $rc -eq 137 ] || fail "first consumer exited $rc, expected 137 (SIGKILL)"
[ "$(grep -c '^R ' "$T/out1")" -eq 100 ] || fail "first consumer read $(grep -c '^R ' "$T/out1") readings, expected 100"

"$BIN/tools/kafka_pipe" -b "$BOOT" -t readings -g crash -n 60 -T 30000 >"$T/out2" 2>"$T/pipe2.err" ||
    fail "second consumer failed"
offs=$(awk '$1 == "R" { print $3 }' "$T/out2" | sort -n | tr '\n' ' ')
want=$(seq 40 99 | tr '\n' ' ')
[ "$offs" = "$want" ] || fail "restart read offsets [$offs], expected 40..99"
first=$(awk '$1 == "R" { print $3; exit }' "$T/out2")
[ "$first" = 40 ] || fail "restart began at offset $first, expected 40"
# the values match what kcat produced at those offsets
awk '$1 == "R" { print $6 }' "$T/out2" | sort -n | tr '\n' ' ' >"$T/vals"
[ "$(cat "$T/vals")" = "$want" ] || fail "restart read values [$(cat "$T/vals")]"
echo "$NAME: ok (crash after acking 40 of 100; restart resumed at offset 40)"
