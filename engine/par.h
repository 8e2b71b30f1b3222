/* par.h — a small fork-join pool for the tensor engine's non-GEMM loops.
 *
 * OpenBLAS parallelises the GEMMs; everything between them (LayerNorm, GELU, softmax, adds,
 * permutes, ProbSparse) would otherwise run on one core while the others wait.  hz_par_for
 * splits an index range into one contiguous chunk per thread; the caller runs chunk 0.
 * Workers sleep on a condition variable between calls, so they do not compete with the
 * OpenBLAS threads during a GEMM.  No allocation after the pool starts.
 *
 * Results never depend on the thread count: callers only split loops whose iterations write
 * disjoint outputs (no shared reductions).
 *
 * The pool is process-wide, like OpenBLAS's own threads that it sits beside (one per core,
 * whatever the number of contexts or pipelines): the one piece of global state in the
 * engine.  Its threads start at the first parallel loop and live until the process exits. */
#ifndef HZ_PAR_H
#define HZ_PAR_H

#include <stdint.h>

/* Marks a hot elementwise loop to be compiled also for AVX2 and AVX-512, chosen at load
 * time by the CPU (the default build targets baseline x86-64, SSE2). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(HZ_NO_CLONES)
#define HZ_SIMD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define HZ_SIMD_CLONES
#endif

typedef void (*hz_par_fn)(void *arg, int64_t lo, int64_t hi);

/* Runs fn(arg, lo, hi) over [0, n) in contiguous chunks, in parallel when n * cost (a rough
 * per-iteration cost in element operations) is large enough to pay for the hand-off;
 * otherwise runs fn(arg, 0, n) on the caller.  Not reentrant: fn must not call hz_par_for
 * (a nested call runs serially). */
void hz_par_for(int64_t n, int64_t cost, hz_par_fn fn, void *arg);

/* Threads used (caller included); 0 = as many as OpenBLAS uses (the default). */
void hz_par_set_threads(int n);
int hz_par_threads(void);

#endif
