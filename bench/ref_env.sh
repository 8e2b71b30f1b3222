# Sourced by the benchmark scripts that run the PyTorch reference beside horizon: the same
# threads and OpenBLAS kernels for both, and the reference on the OpenMP build of OpenBLAS
# when installed (libopenblas0-openmp; it was the faster one for PyTorch here).
#
# The reference is a PyTorch implementation of Informer and iTransformer that is not part of
# this repository.  Point HZ_TORCH_REF at its folder (the one holding informer.py,
# itransformer.py, layers.py and timefeatures.py), e.g.
#     export HZ_TORCH_REF=/path/to/reference/torch
# Without it, or without python3-torch, the scripts skip the reference rows and say why.
#
# Sets T, REF_LIB and REF_BLAS; ref_available tells whether the reference can run (if not,
# REF_WHY says why); run_ref ARGS... runs bench/torch_ref.py with them.
T=${HZ_BENCH_THREADS:-$(nproc)}
export OPENBLAS_NUM_THREADS=$T OMP_NUM_THREADS=$T
if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
    if grep -qw avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX
    elif grep -qw avx2 /proc/cpuinfo; then export OPENBLAS_CORETYPE=Haswell; fi
fi
REF_LIB=""
[ -d /usr/lib/x86_64-linux-gnu/openblas-openmp ] && REF_LIB=/usr/lib/x86_64-linux-gnu/openblas-openmp
if [ -n "$REF_LIB" ]; then REF_BLAS="OpenBLAS OpenMP"; else REF_BLAS="default BLAS"; fi
REF_WHY=""
ref_available() {
    if [ -z "${HZ_TORCH_REF:-}" ]; then
        REF_WHY="HZ_TORCH_REF is not set (export HZ_TORCH_REF=/path/to/reference/torch, the folder holding informer.py)"
        return 1
    fi
    if [ ! -r "$HZ_TORCH_REF/informer.py" ]; then
        REF_WHY="no informer.py in HZ_TORCH_REF=$HZ_TORCH_REF"
        return 1
    fi
    if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
        REF_WHY="python3-torch is not installed"
        return 1
    fi
    export HZ_TORCH_REF
}
run_ref() {
    LD_LIBRARY_PATH=$REF_LIB /usr/bin/python3 bench/torch_ref.py "$T" "$@"
}
