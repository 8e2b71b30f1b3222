# Sourced by the benchmark scripts that run the PyTorch reference beside horizon: the same
# threads and OpenBLAS kernels for both, and the reference on the OpenMP build of OpenBLAS
# when installed (libopenblas0-openmp; it was the faster one for PyTorch here).
# Sets T, REF_LIB and REF_BLAS; ref_available tells whether python3-torch is installed;
# run_ref ARGS... runs bench/torch_ref.py with them.
T=${HZ_BENCH_THREADS:-$(nproc)}
export OPENBLAS_NUM_THREADS=$T OMP_NUM_THREADS=$T
if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
    if grep -qw avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX
    elif grep -qw avx2 /proc/cpuinfo; then export OPENBLAS_CORETYPE=Haswell; fi
fi
REF_LIB=""
[ -d /usr/lib/x86_64-linux-gnu/openblas-openmp ] && REF_LIB=/usr/lib/x86_64-linux-gnu/openblas-openmp
if [ -n "$REF_LIB" ]; then REF_BLAS="OpenBLAS OpenMP"; else REF_BLAS="default BLAS"; fi
ref_available() {
    /usr/bin/python3 -c 'import torch' 2>/dev/null && [ -r ../shared/reference/torch/informer.py ]
}
run_ref() {
    LD_LIBRARY_PATH=$REF_LIB /usr/bin/python3 bench/torch_ref.py "$T" "$@"
}
