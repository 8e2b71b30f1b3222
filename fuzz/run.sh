#!/bin/sh
# run.sh — runs each named fuzz target (build/fuzz/fuzz_<name>, `make fuzz-build`) under
# libFuzzer for FUZZ_SECONDS seconds, starting from the committed seeds in fuzz/corpus/<name>
# (read-only) with a fresh working corpus in $BUILD/fuzz/work/<name>, then prints one table:
# runs, seconds, seeds, the corpus libFuzzer ended with, the inputs it added, and crashes
# (inputs saved in $BUILD/fuzz/crashes/<name>/).  Exits 1 when any target crashed.
# Called by `make fuzz`; run from the repository root.  docs/RELIABILITY.md, "Fuzzing".
set -u
BUILD=${BUILD:-build}
SECONDS_EACH=${FUZZ_SECONDS:-60}
[ $# -gt 0 ] || { echo "usage: fuzz/run.sh target..." >&2; exit 2; }
table=$(mktemp)
trap 'rm -f "$table"' EXIT
status=0
for t in "$@"; do
    bin=$BUILD/fuzz/fuzz_$t
    [ -x "$bin" ] || { echo "fuzz/run.sh: no $bin (make fuzz-build)" >&2; exit 2; }
    [ -d "fuzz/corpus/$t" ] || { echo "fuzz/run.sh: no fuzz/corpus/$t" >&2; exit 2; }
    work=$BUILD/fuzz/work/$t
    crashes=$BUILD/fuzz/crashes/$t
    log=$BUILD/fuzz/$t.log
    rm -rf "$work" "$crashes"
    mkdir -p "$work" "$crashes"
    dict=""
    [ -f "fuzz/dict/$t.dict" ] && dict="-dict=fuzz/dict/$t.dict"
    echo "== fuzz $t: ${SECONDS_EACH}s (log $log)"
    # One process, one job: the machine's cores are shared.  -timeout: an input taking more
    # than 10 s is a hang and counts as a crash; -rss_limit_mb: so does using 2 GB.
    start=$(date +%s)
    # shellcheck disable=SC2086
    OPENBLAS_NUM_THREADS=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        "$bin" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
        -max_len=65536 -print_final_stats=1 -artifact_prefix="$crashes/" $dict \
        "$work" "fuzz/corpus/$t" >"$log" 2>&1
    rc=$?
    secs=$(($(date +%s) - start))
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
    corp=$(grep -o 'corp: [0-9]*' "$log" | tail -n1 | sed 's/corp: //')
    seeds=$(find "fuzz/corpus/$t" -type f | wc -l)
    added=$(find "$work" -type f | wc -l)
    ncrash=$(find "$crashes" -type f | wc -l)
    if [ "$rc" -ne 0 ] && [ "$ncrash" -eq 0 ]; then ncrash="? (exit $rc)"; fi
    if [ "$rc" -ne 0 ] || [ "$ncrash" != 0 ]; then
        status=1
        echo "   CRASH: see $log and $crashes/"
        grep -m1 -E 'ERROR: |runtime error|fuzz check failed' "$log" | sed 's/^/   /'
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "${runs:--}" "${secs:--}" "$seeds" "${corp:--}" \
        "$added" "$ncrash" >>"$table"
done
echo
printf '%-12s %10s %8s %6s %7s %6s %8s\n' target runs seconds seeds corpus new crashes
awk -F'\t' '{ printf "%-12s %10s %8s %6s %7s %6s %8s\n", $1, $2, $3, $4, $5, $6, $7 }' "$table"
exit $status
