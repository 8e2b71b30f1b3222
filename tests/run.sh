#!/bin/sh
# Runs every test binary in the given directories (the cmocka suites of tests/unit), then
# every tests/e2e/*.sh script (E2E=0 skips them; E2E=name runs tests/e2e/name.sh alone).
# BIN names the directory holding horizon, horizond and tools/ for the script tests.
# Numerical suites run with OpenBLAS at 2 threads here; the sanitizer run uses 1.
set -u
fail=0
# OpenBLAS gives generically-reported CPUs its slowest kernels; pick the ones the CPU has
# (the programs do the same themselves, common/blas_env.c).
if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
    if grep -qw avx512f /proc/cpuinfo 2>/dev/null; then export OPENBLAS_CORETYPE=SkylakeX
    elif grep -qw avx2 /proc/cpuinfo 2>/dev/null; then export OPENBLAS_CORETYPE=Haswell; fi
fi
threads=2
case "${BIN:-}" in *asan*) threads=1 ;; esac
# Suites whose time is mostly waiting (test_kafka: the mock cluster's group joins and
# rebalances take seconds each, 40 s in all) run in the background beside the others;
# their output and verdict come after the last suite.
waiting="test_kafka"
bg=""
bgdir=$(mktemp -d /tmp/hz_run_XXXXXX)
for dir in "$@"; do
    if [ -d "$dir" ]; then list=$(ls -d "$dir"/*); else list=$dir; fi
    for t in $list; do
        [ -x "$t" ] && [ -f "$t" ] || continue
        case " $waiting " in
        *" ${t##*/} "*)
            o="$bgdir/${t##*/}"
            (t0=$(date +%s); OPENBLAS_NUM_THREADS=$threads "$t" >"$o" 2>&1; echo "$? $(($(date +%s) - t0))" >"$o.rc") &
            bg="$bg $t"
            echo "== $t: started beside the others (its output at the end)"
            continue
            ;;
        esac
        echo "== $t (OPENBLAS_NUM_THREADS=$threads)"
        t0=$(date +%s)
        if ! OPENBLAS_NUM_THREADS=$threads "$t"; then
            echo "FAILED: $t"
            fail=1
        fi
        echo "== $t: $(($(date +%s) - t0)) s"
    done
done
# report_beside NAME HOW: the output and verdict of NAME, run in the background
report_beside() {
    o="$bgdir/${1##*/}"
    echo "== $1 ($2, beside the others)"
    cat "$o"
    read -r rc secs <"$o.rc" || rc=1
    [ "$rc" = 0 ] || { echo "FAILED: $1"; fail=1; }
    echo "== $1: ${secs:-?} s"
}
wait
for t in $bg; do report_beside "$t" "OPENBLAS_NUM_THREADS=$threads"; done
rm -rf "$bgdir"
case "${E2E:-all}" in
0) scripts="" ;;
all) scripts=$(ls tests/e2e/*.sh) ;;
*) scripts="tests/e2e/$E2E.sh" ;;
esac
# In a full run (E2E=all) of the sanitizer build, left out for make test's time budget (each
# runs by name; `make faults` runs the fault tests at full length under ASan/UBSan too): the
# fault tests and the scale-out test, whose minutes are mostly waiting, the browser test
# (its handlers run sanitized in test_web), the NILM training test (its training in
# test_disagg) and model_cli, whose minute is sanitized training (run sanitized in
# test_transformer_sine and test_disagg; the files it reads go through the fuzzed parsers,
# fuzz/).  nilm_daemon stays: it is the sanitized run of the disaggregation daemon path.
apart=""
case "${BIN:-}" in
*asan*) apart="tests/e2e/fault_kafka.sh tests/e2e/fault_files.sh tests/e2e/fault_kill.sh tests/e2e/scaleout_kafka.sh tests/e2e/web_view.sh tests/e2e/nilm.sh tests/e2e/model_cli.sh" ;;
esac
# In a full run of the normal build, fault_files.sh and fault_kafka.sh (their minutes are
# mostly waiting: the SQLite file held locked, full or read-only, brokers down past the
# session timeout, while horizond waits) run in the background beside the other scripts;
# their output and verdicts come after the last one.
beside=""
[ "${E2E:-all}" = all ] && [ -z "$apart" ] && beside="tests/e2e/fault_files.sh tests/e2e/fault_kafka.sh"
for s in $beside; do
    o="$bgdir/${s##*/}"
    mkdir -p "$bgdir"
    (t0=$(date +%s); sh "$s" >"$o" 2>&1; echo "$? $(($(date +%s) - t0))" >"$o.rc") &
    echo "== $s (BIN=${BIN:-}): started beside the others (its output at the end)"
done
for s in $scripts; do
    [ -f "$s" ] || { echo "FAILED: no script $s"; fail=1; continue; }
    case " $beside " in *" $s "*) continue ;; esac
    case " $apart " in
    *" $s "*) [ "${E2E:-all}" = all ] && { echo "== $s: left out of the sanitizer build's full run (tests/run.sh)"; continue; } ;;
    esac
    echo "== $s (BIN=${BIN:-})"
    t0=$(date +%s)
    if ! sh "$s"; then
        echo "FAILED: $s"
        fail=1
    fi
    echo "== $s: $(($(date +%s) - t0)) s"
done
wait
for s in $beside; do report_beside "$s" "BIN=${BIN:-}"; done
rm -rf "$bgdir"
exit $fail
