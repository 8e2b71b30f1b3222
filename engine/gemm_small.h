/* gemm_small.h — C = A B^T + beta C (row-major; A [m, k], B [n, k]) without packing B, for
 * m <= HZ_GEMM_SMALL_M, the batch-1 shape of every Linear.  See gemm_small.c. */
#ifndef HZ_GEMM_SMALL_H
#define HZ_GEMM_SMALL_H

#include "engine/tensor.h"

#define HZ_GEMM_SMALL_M 32

/* Returns 1 when it computed C, 0 when the shape is not one it takes (the caller then uses
 * BLAS): m in [1, HZ_GEMM_SMALL_M], n >= 4, k a multiple of 16; never in the double build. */
int hz_gemm_nt_small(int m, int n, int k, const hz_real *a, int lda, const hz_real *b, int ldb,
                     hz_real beta, hz_real *c, int ldc);

#endif
