#!/bin/sh
# valgrind.sh — end-to-end tests with horizond under valgrind's memcheck (make valgrind;
# docs/RELIABILITY.md): each script of VG_TESTS (default daemon_kafka daemon_sqlite
# two_files) runs as in make test, every horizond it starts wrapped by valgrind through
# tests/tools/daemon_lib.sh's RUNAS (memory errors make horizond exit 99, which the script's
# stop check reports; definite leaks count as errors; a run the script kills with SIGKILL
# has no summary and passes when valgrind reported nothing before).  Prints each horizond
# run's error summary and leak lines, then one line:
#   valgrind runs=N errors=E definitely_lost_bytes=B result=PASS|FAIL
set -u
BIN=${BIN:-${BUILD:-build}}
VG_TESTS=${VG_TESTS:-daemon_kafka daemon_sqlite two_files}
logs=$(mktemp -d /tmp/hz_vg_XXXXXX)
trap 'rm -rf "$logs"' EXIT
fail=0
for s in $VG_TESTS; do
    mkdir -p "$logs/$s"
    if BIN=$BIN RUNAS="valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --log-file=$logs/$s/vg.%p.log" \
        sh "tests/e2e/$s.sh"; then
        echo "$s: passed under valgrind"
    else
        echo "$s: FAILED under valgrind"
        fail=1
    fi
    for f in "$logs/$s"/vg.*.log; do
        [ -f "$f" ] || continue
        if ! grep -q 'ERROR SUMMARY' "$f"; then
            # a horizond the test killed with SIGKILL writes no summary: it passes when
            # valgrind reported nothing (no stack) before the kill
            if grep -q ' at 0x' "$f"; then
                fail=1
                sed -n '1,60p' "$f" | sed 's/^/    | /'
            else
                echo "    $s $(basename "$f"): killed by the test, no error before"
            fi
            continue
        fi
        grep -h 'ERROR SUMMARY\|definitely lost' "$f" | sed "s|^|    $s $(basename "$f"): |"
        grep -q 'ERROR SUMMARY: 0 errors' "$f" || { fail=1; sed -n '1,60p' "$f" | sed 's/^/    | /'; }
    done
done
runs=$(ls "$logs"/*/vg.*.log 2>/dev/null | wc -l)
errors=$(cat "$logs"/*/vg.*.log 2>/dev/null | sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' | awk '{ s += $1 } END { print s + 0 }')
lost=$(cat "$logs"/*/vg.*.log 2>/dev/null | sed -n 's/.*definitely lost: \([0-9,]*\) bytes.*/\1/p' | tr -d , | awk '{ s += $1 } END { print s + 0 }')
[ "$runs" -gt 0 ] || fail=1
result=PASS
[ $fail = 0 ] || result=FAIL
echo "valgrind runs=$runs errors=$errors definitely_lost_bytes=$lost result=$result"
exit $fail
