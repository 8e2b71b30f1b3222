#!/bin/sh
# scaleout_kafka.sh — horizond scaled out over one consumer group (docs/ARCHITECTURE.md,
# "Scale-out"): three instances, each with its own SQLite file, read 200 series keyed by
# series id over 6 partitions of a mock-cluster topic (window.fill: none, so a window with a
# hole is never forecast).  Readings stream in with kcat; one instance is killed with
# SIGKILL mid-stream, the other two take over its partitions and rebuild those windows from
# the topic; later a fourth instance joins and rebuilds the partitions it is given.  Then:
# every window of every series (issue points 23..P-1) is forecast at least once and no
# forecast is issued at any other time, on the Kafka forecasts topic and in the union of the
# SQLite files; forecasts of one window made twice (at-least-once replays) agree, so no host
# forecast from a window the move left different; every reading is stored once across the
# files.  STRATEGY (default range, eager) may be cooperative-sticky.
set -u
NAME=scaleout_kafka
T=$(mktemp -d /tmp/hz_so_XXXXXX)
. tests/tools/daemon_lib.sh
STRATEGY=${STRATEGY:-range}
NS=200 # series
P=70   # points per series
L=24   # lookback
H1="" H2="" H3="" H4=""
kill_hosts() {
    for h in $H1 $H2 $H3 $H4; do kill -9 "$h" 2>/dev/null && wait "$h" 2>/dev/null; done
}
trap 'kill_hosts; cleanup' EXIT

# points FROM TO: JSON lines "key:value" for series s0..s{NS-1}, one per minute
points() {
    awk -v a="$1" -v b="$2" -v ns=$NS -v t0=$T0 'BEGIN {
        for (t = a; t < b; t++) for (s = 0; s < ns; s++)
            printf "s%d:{\"series\":\"s%d\",\"ts\":%.0f,\"power\":%.4f}\n", s, s, t0 + t * 60000,
                10 + 5 * sin(6.2831853 * t / 24 + s / 7) + 0.3 * sin(t * 1.7 + s) }'
}
produce() { kcat -b "$BOOT" -P -t readings -K: 2>>"$T/kcat.err" || fail "kcat produce failed"; }

# host I: horizond number I on $T/hI.yaml (its own SQLite file), pid in HI
host() {
    kafka_yaml "$T/h$1.yaml"
    sed -i -e "s|$T/hz.sqlite|$T/h$1.sqlite|" \
        -e 's|stride: 1}|stride: 1, fill: none}|' \
        -e 's|"6000", heartbeat.interval.ms: "500"|"3000", heartbeat.interval.ms: "300", partition.assignment.strategy: '"$STRATEGY"'|' \
        "$T/h$1.yaml"
    : >"$T/h$1.log"
    "$BIN/horizond" -c "$T/h$1.yaml" 2>"$T/h$1.log" &
    eval "H$1=$!"
    wait_log "$T/h$1.log" "horizond ready"
}
# uq SQL: one value from the union of the hosts' files (views r: readings, f: forecasts)
uq() {
    {
        u_r="" u_f=""
        for i in 1 2 3 4; do
            [ -s "$T/h$i.sqlite" ] || continue
            echo "ATTACH '$T/h$i.sqlite' AS h$i;"
            u_r="$u_r${u_r:+ UNION ALL }SELECT series, ts FROM h$i.readings"
            u_f="$u_f${u_f:+ UNION ALL }SELECT series, issued_ts, step, value FROM h$i.forecasts"
        done
        echo "CREATE TEMP VIEW r AS $u_r; CREATE TEMP VIEW f AS $u_f;"
        echo "$1"
    } | sqlite3 2>/dev/null
}
wait_uq() {
    n=0
    while [ "$(uq "$1")" != "$2" ]; do
        n=$((n + 1))
        [ $n -gt $((${3:-40} * 10)) ] && fail "timed out waiting for [$1] = $2 (got $(uq "$1"))"
        sleep 0.1
    done
}
alive() { for h in "$@"; do kill -0 "$h" 2>/dev/null || fail "a horizond exited"; done; }
has_readings() { [ "$(sqlite3 "$T/h$1.sqlite" 'SELECT count(*) > 0 FROM readings' 2>/dev/null)" = 1 ]; }
# owned I: partitions host I holds now, from its log (eager lines list whole assignments,
# cooperative ones the increments: either way assigned minus revoked)
owned() {
    awk '/kafka topic readings: assigned/ { n += $5 } /kafka topic readings: revoked/ { n -= $5 }
         END { print n + 0 }' "$T/h$1.log"
}

start_mock -p 6 readings forecasts:24 anomalies dead
train_ckpt
points 0 20 | produce
host 1
host 2
host 3
# the group settles: two partitions each
n=0
until [ "$(owned 1)$(owned 2)$(owned 3)" = 222 ]; do
    n=$((n + 1)); [ $n -gt 400 ] && fail "the group did not settle: $(owned 1) $(owned 2) $(owned 3) partitions"
    alive $H1 $H2 $H3
    sleep 0.05
done
(
    trap - EXIT
    t=20
    while [ $t -lt 60 ]; do
        points $t $((t + 1)) | kcat -b "$BOOT" -P -t readings -K: 2>>"$T/kcat.err"
        t=$((t + 1))
        sleep 0.1
    done
) &
PROD=$!
# the stream is under way and every host has read some of it: kill host 2
n=0
until has_readings 1 && has_readings 2 && has_readings 3 &&
    [ "$(uq 'SELECT count(*) >= 30 * 200 FROM r')" = 1 ]; do
    n=$((n + 1)); [ $n -gt 400 ] && fail "the three hosts did not share the stream"
    alive $H1 $H2 $H3
    sleep 0.05
done
kill -9 "$H2"
wait "$H2" 2>/dev/null
H2=""
at_kill=$(uq "SELECT count(*) FROM r")
# the survivors take its partitions over, rebuilding their windows from the topic
n=0
until grep -qs 'rebuilt from Kafka' "$T/h1.log" "$T/h3.log"; do
    n=$((n + 1)); [ $n -gt 400 ] && fail "no survivor rebuilt the killed host's partitions"
    alive $H1 $H3
    sleep 0.05
done
wait "$PROD"
# a new host joins and is given partitions
host 4
wait_log "$T/h4.log" 'rebuilt from Kafka'
points 60 $P | produce
nw=$((NS * (P - L + 1)))
wait_uq "SELECT count(*) FROM (SELECT DISTINCT series, ts FROM r)" $((NS * P)) 60
wait_uq "SELECT count(*) FROM (SELECT DISTINCT series, issued_ts FROM f)" $nw 60
for i in 1 3 4; do
    eval "h=\$H$i"
    kill -TERM "$h"
    wait "$h" || fail "host $i exited $? after SIGTERM"
    eval "H$i=''"
done

# the Kafka forecasts topic: every window of every series, nothing else.  Every host has
# stopped, so the topic is final: it is read until two reads agree (a reader that stops
# early would otherwise look like a lost forecast)
kread() {
    kcat -b "$BOOT" -C -t forecasts -e -o beginning -q 2>>"$T/kcat.err" >"$T/fc.txt"
    wc -l <"$T/fc.txt"
}
reads="" last=""
for k in 1 2 3; do
    n=$(kread)
    reads="$reads${reads:+ }$n"
    [ "$n" = "$last" ] && break
    last=$n
done
# the mock cluster keeps about 5 MB a partition (tests/tools/mock_cluster.c), hence the
# topic's 24 partitions: a partition that does not start at offset 0 lost its oldest messages
first=$(kcat -b "$BOOT" -C -t forecasts -e -o beginning -q -f '%p %o\n' 2>>"$T/kcat.err" |
    awk '!($1 in f) { f[$1] = $2 } END { for (p in f) if (f[p] > 0) print "partition " p " starts at offset " f[p] }')
[ -z "$first" ] || fail "forecasts topic: $first: the mock cluster dropped its oldest messages"
awk 'BEGIN { printf "[" } NR > 1 { printf "," } { printf "%s", $0 } END { print "]" }' "$T/fc.txt" >"$T/fc.json"
kq() {
    sqlite3 :memory: "CREATE TABLE f AS SELECT json_extract(value, '\$.series') AS series,
        (json_extract(value, '\$.issued_ts') - $T0) / 60000 AS i, json_extract(value, '\$.step') AS step,
        json_extract(value, '\$.value') AS v FROM json_each(readfile('$T/fc.json')); $1"
}
nk=$(kq "SELECT count(*) FROM f")
[ "$(kq "SELECT count(*) FROM (SELECT DISTINCT series, i, step FROM f)")" = $((nw * 4)) ] ||
    fail "forecasts topic: $(kq "SELECT count(*) FROM (SELECT DISTINCT series, i, step FROM f)") distinct forecasts, expected $((nw * 4)) (messages per read: $reads)"
full=$(kq "SELECT count(*) FROM (SELECT series, count(DISTINCT i) c, min(i) mi, max(i) ma FROM f
           GROUP BY series) WHERE c = $((P - L + 1)) AND mi = $((L - 1)) AND ma = $((P - 1))")
[ "$full" = $NS ] || fail "only $full of $NS series have every window forecast on the topic"
bad=$(kq "SELECT count(*) FROM (SELECT series, i, step FROM f GROUP BY series, i, step
          HAVING max(v) - min(v) > 1e-3 * max(1, abs(avg(v))))")
[ "$bad" = 0 ] || fail "$bad forecasts differ between their copies: $(kq "SELECT series, i, step, min(v), max(v) FROM f GROUP BY series, i, step HAVING max(v) - min(v) > 1e-3 LIMIT 3")"
# the hosts' files together: every reading once per file that owned it, every window
[ "$(uq "SELECT count(*) FROM (SELECT DISTINCT series, issued_ts FROM f WHERE (issued_ts - $T0) / 60000 NOT BETWEEN $((L - 1)) AND $((P - 1)))")" = 0 ] ||
    fail "SQLite holds forecasts issued outside the windows the stream allows"
moved=$(cat "$T/h1.log" "$T/h3.log" "$T/h4.log" | sed -n 's/.*rebuilt from Kafka: \([0-9]*\) series.*/\1/p' | awk '{ s += $1 } END { print s + 0 }')
[ "$moved" -gt 0 ] || fail "no series was rebuilt from Kafka"
dup=$((nk - nw * 4))
echo "$NAME: ok ($STRATEGY; killed a host at $at_kill/$((NS * P)) readings, a fourth joined; $moved series rebuilt from Kafka; all $nw windows of $NS series forecast once or more, none outside; $dup duplicate forecast messages, equal values)"
