/* gemm_packed.h — inference products against weights packed once (gemm_packed.c). */
#ifndef HZ_GEMM_PACKED_H
#define HZ_GEMM_PACKED_H

#include "engine/tensor.h"

#define HZ_PACK_NR 32 /* rows of W per panel */
/* Most rows of A for the packed kernel.  Against OpenBLAS (SkylakeX kernels, 2 threads,
 * [m, 512] x [512, 2048]): 0.31 vs 0.47 ms at m = 48, 0.65 vs 0.78 at 96, even at 192-384,
 * OpenBLAS ahead from 768 (7.0 vs 7.5 ms), its blocking of A paying off there.  On an AVX2
 * EPYC (Zen kernels) the same holds: an Informer batch-32 forward (m = 768..3072) took
 * 380-396 ms with this kernel at every m against 348 ms with OpenBLAS above 256. */
#define HZ_PACK_MAX_M 256

/* 1 when a weight [n, k] can be packed here: n a multiple of HZ_PACK_NR, a float build
 * on a CPU with AVX-512, or with AVX2 and FMA. */
int hz_pack_ok(int n, int k);

/* The kernel hz_gemm_packed runs: the best this CPU has, unless hz_pack_use_isa chose a
 * lesser one (tests run both on a CPU that has both; they give the same bits). */
enum { HZ_PACK_NONE = 0, HZ_PACK_AVX2 = 1, HZ_PACK_AVX512 = 2 };
int hz_pack_isa(void);
/* -1 when the CPU lacks that level.  Weights packed before stay valid (one layout). */
int hz_pack_use_isa(int level);

/* W [n, k] (row-major, hz_pack_ok) into out [n / 32][k][32]: n * k values.  Rows
 * [r0, r0 + 32 j) of W are then out + r0 * k, for any r0 a multiple of 32. */
void hz_pack_weight(const hz_real *w, int n, int k, hz_real *out);

/* C[m, n] = A[m, k] W^T + beta C with W packed by hz_pack_weight (lda, ldc: row strides).
 * Returns 0, doing nothing, when the kernel does not apply (hz_pack_ok, m > HZ_PACK_MAX_M). */
int hz_gemm_packed(int m, int n, int k, const hz_real *a, int lda, const hz_real *bp, hz_real beta,
                   hz_real *c, int ldc);

#endif
