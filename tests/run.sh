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
for dir in "$@"; do
    if [ -d "$dir" ]; then list=$(ls -d "$dir"/*); else list=$dir; fi
    for t in $list; do
        [ -x "$t" ] && [ -f "$t" ] || continue
        echo "== $t (OPENBLAS_NUM_THREADS=$threads)"
        t0=$(date +%s)
        if ! OPENBLAS_NUM_THREADS=$threads "$t"; then
            echo "FAILED: $t"
            fail=1
        fi
        echo "== $t: $(($(date +%s) - t0)) s"
    done
done
case "${E2E:-all}" in
0) scripts="" ;;
all) scripts=$(ls tests/e2e/*.sh) ;;
*) scripts="tests/e2e/$E2E.sh" ;;
esac
# In a full run (E2E=all) of the sanitizer build, left out for make test's time budget (each
# runs by name; `make faults` runs the fault tests at full length under ASan/UBSan too): the
# fault tests and the scale-out test, whose minutes are mostly waiting, the browser test
# (its handlers run sanitized in test_web) and the NILM test (its training in test_disagg).
apart=""
case "${BIN:-}" in
*asan*) apart="tests/e2e/fault_kafka.sh tests/e2e/fault_files.sh tests/e2e/fault_kill.sh tests/e2e/scaleout_kafka.sh tests/e2e/web_view.sh tests/e2e/nilm.sh" ;;
esac
for s in $scripts; do
    [ -f "$s" ] || { echo "FAILED: no script $s"; fail=1; continue; }
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
exit $fail
