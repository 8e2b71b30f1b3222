#!/bin/sh
# Runs every test binary in the given directories, then every tests/*.sh script test.
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
    [ -d "$dir" ] || continue
    for t in "$dir"/*; do
        [ -x "$t" ] && [ -f "$t" ] || continue
        echo "== $t (OPENBLAS_NUM_THREADS=$threads)"
        if ! OPENBLAS_NUM_THREADS=$threads "$t"; then
            echo "FAILED: $t"
            fail=1
        fi
    done
done
for s in tests/*.sh; do
    [ "$s" = tests/run.sh ] && continue
    [ -f "$s" ] || continue
    echo "== $s (BIN=${BIN:-})"
    if ! sh "$s"; then
        echo "FAILED: $s"
        fail=1
    fi
done
exit $fail
