#!/bin/sh
# Model speed beside the PyTorch reference on the same machine and thread count:
# iTransformer (ETTh1 S=96 config) and Informer (ETTh1 paper config, seq 96 / label 48 /
# pred 24): inference at batch 1, 32 (256), one Adam training step at batch 32.  The
# reference runs Debian's python3-torch on the OpenMP build of OpenBLAS when installed
# (libopenblas0-openmp; it was the faster one for PyTorch here), with the same
# OPENBLAS_CORETYPE as ours.  "reference not installed" when python3-torch is missing.
set -u
B=${BUILD:-build}
T=${HZ_BENCH_THREADS:-$(nproc)}
OUT=bench/out
mkdir -p "$OUT"
export OPENBLAS_NUM_THREADS=$T OMP_NUM_THREADS=$T
if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
    if grep -qw avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX
    elif grep -qw avx2 /proc/cpuinfo; then export OPENBLAS_CORETYPE=Haswell; fi
fi
"$B"/bench/bench_models >"$OUT/models_c.txt" || true
ref=none
if /usr/bin/python3 -c 'import torch' 2>/dev/null && [ -r ../shared/reference/torch/informer.py ]; then
    LIB=""
    [ -d /usr/lib/x86_64-linux-gnu/openblas-openmp ] && LIB=/usr/lib/x86_64-linux-gnu/openblas-openmp
    LD_LIBRARY_PATH=$LIB /usr/bin/python3 bench/torch_ref.py "$T" >"$OUT/models_ref.txt" 2>/dev/null && ref=ok
    [ -n "$LIB" ] && blas="OpenBLAS OpenMP" || blas="default BLAS"
fi
echo "threads: $T, OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-auto}"
printf '| model | case | horizon ms (best) | median | windows/s | GFLOP/s | PyTorch ms | PyTorch windows/s | speed-up |\n'
printf '|---|---|---|---|---|---|---|---|---|\n'
while read -r line; do
    m=$(echo "$line" | sed 's/.*model=\([^ ]*\).*/\1/')
    c=$(echo "$line" | sed 's/.*case=\([^ ]*\).*/\1/')
    ms=$(echo "$line" | sed 's/.*ms=\([^ ]*\).*/\1/')
    wps=$(echo "$line" | sed 's/.*windows_per_s=\([^ ]*\).*/\1/')
    gf=$(echo "$line" | sed 's/.*gflops=\([^ ]*\).*/\1/')
    med=-
    case "$line" in *median_ms=*) med=$(echo "$line" | sed 's/.*median_ms=\([^ ]*\).*/\1/') ;; esac
    if [ "$ref" = ok ]; then
        rms=$(grep "model=$m case=$c " "$OUT/models_ref.txt" | sed 's/.*ms=//')
        b=$(echo "$c" | sed 's/.*_b//')
        if [ -n "$rms" ]; then
            rw=$(awk -v b="$b" -v t="$rms" 'BEGIN{printf "%.1f", b/t*1000}')
            su=$(awk -v a="$ms" -v t="$rms" 'BEGIN{printf "%.2fx", t/a}')
        else rms="-"; rw="-"; su="-"; fi
    else rms="reference not installed"; rw="-"; su="-"; fi
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$m" "$c" "$ms" "$med" "$wps" "$gf" "$rms" "$rw" "$su"
done <"$OUT/models_c.txt"
[ "$ref" = ok ] && echo "(reference: $blas)"
exit 0
