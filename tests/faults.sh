#!/bin/sh
# faults.sh — the fault tests at full length (make faults; docs/RELIABILITY.md, "Faults"):
# tests/e2e/fault_kafka.sh with brokers down 30 s, fault_files.sh with the SQLite file
# locked, full and read-only 20 s each, fault_kill.sh with 20 kills, and scaleout_kafka.sh
# (a host killed among three); each in the normal build (BIN, default build) and, with
# ASAN=1 (the default), once more under ASan/UBSan (build/asan).  `make test` runs the same
# scripts with short settings, in the normal build only (tests/run.sh).  Prints each run's
# result line, then a table and the totals: readings lost, readings altered, forecasts
# missing in SQLite and on Kafka, Kafka duplicates.  Exit 1 if any run failed.
set -u
BUILD=${BUILD:-build}
ASAN=${ASAN:-1}
out=$(mktemp -d /tmp/hz_faults_XXXXXX)
trap 'rm -rf "$out"' EXIT
fail=0
runs="$BUILD"
[ "$ASAN" = 1 ] && runs="$runs $BUILD/asan"
for bin in $runs; do
    for s in fault_kafka fault_files fault_kill scaleout_kafka; do
        log="$out/$(echo "$bin" | tr / _)_$s.log"
        t0=$(date +%s)
        if BIN=$bin DOWN_S=30 LOCK_S=20 FULL_S=20 RO_S=20 ROUNDS=20 sh "tests/e2e/$s.sh" >"$log" 2>&1; then
            r=ok
        else
            r=FAILED
            fail=1
        fi
        echo "$s ($bin, $(($(date +%s) - t0)) s): $r"
        grep "^$s: " "$log" | sed 's/^/    /'
        [ "$r" = ok ] || tail -n 40 "$log" | sed 's/^/    | /'
        echo "$s|$bin|$r|$(($(date +%s) - t0))|$(grep "^$s: ok" "$log" | tr "|" " ")" >>"$out/table"
    done
done
echo
echo "| test | build | result | seconds | readings | lost | forecasts (SQLite) | Kafka messages | duplicates |"
echo "|---|---|---|---|---|---|---|---|---|"
awk -F'|' '
    # the first integer of the first match of re in line, or "-"
    function num(line, re) {
        if (!match(line, re)) return "-"
        mm = substr(line, RSTART, RLENGTH)
        match(mm, /[0-9]+/)
        return substr(mm, RSTART, RLENGTH)
    }
    {
        l = $5
        rd = num(l, "[0-9]+ readings stored once")
        if (rd == "-") rd = num(l, "of [0-9]+ readings")
        if (rd == "-") rd = num(l, "/[0-9]+ readings")
        lost = (l ~ /, 0 lost/) ? 0 : "-"
        w = num(l, "[0-9]+ windows forecast once")
        if (w == "-") w = num(l, "all [0-9]+ windows")
        m = num(l, "topic [0-9]+ messages")
        d = num(l, ": [0-9]+ duplicates")
        if (d == "-") d = num(l, "[0-9]+ duplicate forecast messages")
        printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, rd, lost, w, m, d
    }' "$out/table"
echo
echo "Each run: every reading sent is in SQLite once with the value sent (0 altered), every"
echo "window forecast once in SQLite and at least once on Kafka; duplicates are Kafka's (at-least-once)."
echo "Machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)."
exit $fail
