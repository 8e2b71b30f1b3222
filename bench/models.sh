#!/bin/sh
# Model speed beside the PyTorch reference on the same machine and thread count:
# iTransformer (ETTh1 S=96 config) and Informer (ETTh1 paper config, seq 96 / label 48 /
# pred 24): inference at batch 1, 32 (256), one Adam training step at batch 32; NILMFormer
# (official disaggregation config, window 256): inference at batch 1 and 64, one AdamW
# training step at batch 64.  Threads: HZ_BENCH_THREADS (default nproc).  The
# reference (outside the repository, at $HZ_TORCH_REF) runs on Debian's python3-torch
# (bench/ref_env.sh: same threads and kernels); "reference not run" and the reason when
# HZ_TORCH_REF is unset or python3-torch is missing.
set -u
B=${BUILD:-build}
OUT=bench/out
mkdir -p "$OUT"
. bench/ref_env.sh
"$B"/bench/bench_models >"$OUT/models_c.txt" || true
ref=none
if ref_available; then
    if run_ref >"$OUT/models_ref.txt" 2>"$OUT/models_ref.err"; then ref=ok
    else REF_WHY="it failed ($OUT/models_ref.err)"; fi
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
    else rms="reference not run"; rw="-"; su="-"; fi
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$m" "$c" "$ms" "$med" "$wps" "$gf" "$rms" "$rw" "$su"
done <"$OUT/models_c.txt"
if [ "$ref" = ok ]; then echo "(reference: $REF_BLAS)"; else echo "(reference not run: $REF_WHY)"; fi
exit 0
