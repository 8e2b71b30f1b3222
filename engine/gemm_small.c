/* gemm_small.c — C = A B^T + beta C for few rows of A (a batch-1 forward's 24..96 positions).
 *
 * At such sizes OpenBLAS spends as long packing the weight matrix B (up to 2048 x 512) as
 * multiplying by it; inference at batch 1 is bound by that copy.  This kernel reads B where
 * it lies: blocks of 4 rows of B (contiguous along k) against blocks of 6 rows of A, 24
 * vector accumulators along k, one horizontal sum per output at the end.  Blocks of B are
 * split across the pool; every output is computed by one fixed sequence of operations, so
 * results do not depend on the thread count.  Float build only (the double build keeps
 * BLAS for its gradient checks). */
#include "engine/gemm_small.h"

#include <string.h>

#include "engine/par.h"

#ifndef HZ_DOUBLE

/* -std=c11 turns off a*b+c contraction; the kernel needs fused multiply-adds. */
#pragma GCC optimize("fp-contract=fast")

#define VL 16 /* floats per vector */
#define MB 6  /* rows of A per block */
#define NB 4  /* rows of B per block */

typedef float vf __attribute__((vector_size(VL * sizeof(float))));
/* the same vector at any float alignment, for loads from rows of A and B */
typedef float vfu __attribute__((vector_size(VL * sizeof(float)), aligned(4), may_alias));
#define vload(p) (*(const vfu *)(p))

typedef float vf8 __attribute__((vector_size(8 * sizeof(float))));
typedef float vf4 __attribute__((vector_size(4 * sizeof(float))));

/* Sum of the 16 lanes by halving (4 shuffles and adds instead of 15 dependent adds). */
static inline float hsum(const vf *vp)
{
    vf v = *vp;
    vf8 h8 = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) +
             __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
    vf4 h4 =
        __builtin_shufflevector(h8, h8, 0, 1, 2, 3) + __builtin_shufflevector(h8, h8, 4, 5, 6, 7);
    return (h4[0] + h4[2]) + (h4[1] + h4[3]);
}

typedef struct nt_job {
    int m, n, k, lda, ldb, ldc;
    const float *a, *b;
    float *c;
    float beta;
} nt_job;

static inline void store(const nt_job *j, int i, int col, float v)
{
    float *p = j->c + (size_t)i * j->ldc + col;
    *p = j->beta == 0 ? v : v + j->beta * *p;
}

/* Rows [i0, i0 + mb) of A (mb <= MB) against rows [n0, n0 + nb) of B (nb <= NB). */
__attribute__((always_inline)) static inline void block(const nt_job *j, int i0, int mb, int n0,
                                                        int nb)
{
    vf acc[MB][NB];
    memset(acc, 0, sizeof acc);
    const float *a = j->a + (size_t)i0 * j->lda, *b = j->b + (size_t)n0 * j->ldb;
    if (mb == MB && nb == NB) {
        /* the full block, written out so the 24 accumulators stay in registers */
        vf c00 = {0}, c01 = {0}, c02 = {0}, c03 = {0}, c10 = {0}, c11 = {0}, c12 = {0}, c13 = {0};
        vf c20 = {0}, c21 = {0}, c22 = {0}, c23 = {0}, c30 = {0}, c31 = {0}, c32 = {0}, c33 = {0};
        vf c40 = {0}, c41 = {0}, c42 = {0}, c43 = {0}, c50 = {0}, c51 = {0}, c52 = {0}, c53 = {0};
        size_t la = (size_t)j->lda, lb = (size_t)j->ldb;
        for (int p = 0; p < j->k; p += VL) {
            vf b0 = vload(b + p), b1 = vload(b + lb + p), b2 = vload(b + 2 * lb + p),
               b3 = vload(b + 3 * lb + p), x;
#define ROW(r)                                                                                     \
    x = vload(a + r * la + p);                                                                     \
    c##r##0 += x * b0;                                                                             \
    c##r##1 += x * b1;                                                                             \
    c##r##2 += x * b2;                                                                             \
    c##r##3 += x * b3;
            ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5)
#undef ROW
        }
        vf all[MB][NB] = {{c00, c01, c02, c03}, {c10, c11, c12, c13}, {c20, c21, c22, c23},
                          {c30, c31, c32, c33}, {c40, c41, c42, c43}, {c50, c51, c52, c53}};
        memcpy(acc, all, sizeof acc);
    } else {
        for (int p = 0; p < j->k; p += VL)
            for (int r = 0; r < mb; r++) {
                vf x = vload(a + (size_t)r * j->lda + p);
                for (int q = 0; q < nb; q++)
                    acc[r][q] += x * vload(b + (size_t)q * j->ldb + p);
            }
    }
    for (int r = 0; r < mb; r++)
        for (int q = 0; q < nb; q++)
            store(j, i0 + r, n0 + q, hsum(&acc[r][q]));
}

/* Column blocks [lo, hi) of C (NB columns each). */
HZ_SIMD_CLONES static void nt_range(void *arg, int64_t lo, int64_t hi)
{
    const nt_job *j = arg;
    for (int64_t cb = lo; cb < hi; cb++) {
        int n0 = (int)cb * NB, nb = j->n - n0 < NB ? j->n - n0 : NB;
        for (int i0 = 0; i0 < j->m; i0 += MB)
            block(j, i0, j->m - i0 < MB ? j->m - i0 : MB, n0, nb);
    }
}

int hz_gemm_nt_small(int m, int n, int k, const hz_real *a, int lda, const hz_real *b, int ldb,
                     hz_real beta, hz_real *c, int ldc)
{
    if (m < 1 || m > HZ_GEMM_SMALL_M || n < NB || k < VL || k % VL)
        return 0;
    nt_job j = {m, n, k, lda, ldb, ldc, a, b, c, beta};
    hz_par_for((n + NB - 1) / NB, (int64_t)m * k * NB, nt_range, &j);
    return 1;
}

#else

int hz_gemm_nt_small(int m, int n, int k, const hz_real *a, int lda, const hz_real *b, int ldb,
                     hz_real beta, hz_real *c, int ldc)
{
    (void)m, (void)n, (void)k, (void)a, (void)lda, (void)b, (void)ldb, (void)beta, (void)c,
        (void)ldc;
    return 0;
}

#endif
