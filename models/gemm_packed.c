/* gemm_packed.c — C = A W^T + beta C against a weight W packed once for inference.
 *
 * OpenBLAS packs both operands on every call.  At a batch-1 forward (24..96 rows of A
 * against a 512..2048-square weight) packing W costs a third as much as the product
 * itself, and the weights do not change between forwards.  Here W [n, k] is laid out once
 * in panels of NR = 32 rows, k-major inside a panel ([n / 32][k][32]); the micro-kernel
 * multiplies 12 rows of A (read in place, one broadcast per element) by one panel into
 * 12 x 32 accumulators (24 AVX-512 registers), the whole k at once.
 *
 * Work is split over (chunk of 192 rows, panel) pairs in chunk-major order, so a thread
 * keeps its rows of A in its own L2 while the panels stream past.  Above HZ_PACK_MAX_M
 * rows OpenBLAS's own blocking wins and the caller uses it.  Every output is
 * one fixed sequence of fused multiply-adds over k, whatever the thread count.  AVX-512
 * only: elsewhere (and in the double build) hz_gemm_packed declines and the caller uses
 * BLAS. */
#include "gemm_packed.h"

#include <stdatomic.h>
#include <string.h>

#include "par.h"

#if !defined(HZ_DOUBLE) && defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_PACKED 1
#else
#define HAVE_PACKED 0
#endif

#define MR    12  /* rows of A per tile */
#define CHUNK 192 /* rows of A per unit of work at large m (16 tiles, 384 KB at k = 512) */

#if HAVE_PACKED
static int avx512(void)
{
    static atomic_int have = -1;
    int h = atomic_load_explicit(&have, memory_order_relaxed);
    if (h < 0) {
        h = __builtin_cpu_supports("avx512f") ? 1 : 0;
        atomic_store_explicit(&have, h, memory_order_relaxed);
    }
    return h;
}
#else
static int avx512(void)
{
    return 0;
}
#endif

int hz_pack_ok(int n, int k)
{
    return n > 0 && n % HZ_PACK_NR == 0 && k > 0 && avx512();
}

typedef struct pack_job {
    const hz_real *w;
    hz_real *out;
    int k;
} pack_job;

static void pack_range(void *arg, int64_t lo, int64_t hi)
{
    const pack_job *j = arg;
    int k = j->k;
    for (int64_t p = lo; p < hi; p++) {
        const hz_real *w = j->w + p * HZ_PACK_NR * k;
        hz_real *o = j->out + p * HZ_PACK_NR * k;
        for (int kk = 0; kk < k; kk++)
            for (int r = 0; r < HZ_PACK_NR; r++)
                o[(size_t)kk * HZ_PACK_NR + r] = w[(size_t)r * k + kk];
    }
}

void hz_pack_weight(const hz_real *w, int n, int k, hz_real *out)
{
    pack_job j = {w, out, k};
    hz_par_for(n / HZ_PACK_NR, (int64_t)HZ_PACK_NR * k, pack_range, &j);
}

#if HAVE_PACKED

typedef struct gp_job {
    int m, n, k, lda, ldc, panels;
    const float *a, *bp;
    float *c;
    float beta;
} gp_job;

__attribute__((target("avx512f"), always_inline)) static inline void put(float *c, __m512 v,
                                                                         float beta)
{
    if (beta != 0)
        v = _mm512_fmadd_ps(_mm512_set1_ps(beta), _mm512_loadu_ps(c), v);
    _mm512_storeu_ps(c, v);
}

/* 12 rows of A from a (stride lda) times one panel bp: c[12][32] (stride ldc). */
__attribute__((target("avx512f"))) static void tile12(const float *a, size_t lda, const float *bp,
                                                      int k, float *c, size_t ldc, float beta)
{
#define Z(r) __m512 c##r##_0 = _mm512_setzero_ps(), c##r##_1 = _mm512_setzero_ps();
    Z(0)
    Z(1)
    Z(2)
    Z(3)
    Z(4)
    Z(5)
    Z(6)
    Z(7)
    Z(8) Z(9) Z(10) Z(11)
#undef Z
        const float *a0 = a,
                    *a6 = a + 6 * lda;
    for (int p = 0; p < k; p++) {
        __m512 b0 = _mm512_loadu_ps(bp + (size_t)p * 32),
               b1 = _mm512_loadu_ps(bp + (size_t)p * 32 + 16);
#define ROW(r, base, off)                                                                          \
    {                                                                                              \
        __m512 x = _mm512_set1_ps(base[(off)*lda + p]);                                            \
        c##r##_0 = _mm512_fmadd_ps(x, b0, c##r##_0);                                               \
        c##r##_1 = _mm512_fmadd_ps(x, b1, c##r##_1);                                               \
    }
        ROW(0, a0, 0)
        ROW(1, a0, 1)
        ROW(2, a0, 2)
        ROW(3, a0, 3)
        ROW(4, a0, 4)
        ROW(5, a0, 5)
        ROW(6, a6, 0) ROW(7, a6, 1) ROW(8, a6, 2) ROW(9, a6, 3) ROW(10, a6, 4) ROW(11, a6, 5)
#undef ROW
    }
#define S(r)                                                                                       \
    put(c + (r)*ldc, c##r##_0, beta);                                                              \
    put(c + (r)*ldc + 16, c##r##_1, beta);
    S(0) S(1) S(2) S(3) S(4) S(5) S(6) S(7) S(8) S(9) S(10) S(11)
#undef S
}

/* Fewer than 12 rows (mr of them): 4 at a time, then one at a time. */
__attribute__((target("avx512f"))) static void tile_rest(const float *a, size_t lda,
                                                         const float *bp, int k, int mr, float *c,
                                                         size_t ldc, float beta)
{
    for (; mr >= 4; mr -= 4, a += 4 * lda, c += 4 * ldc) {
#define Z(r) __m512 c##r##_0 = _mm512_setzero_ps(), c##r##_1 = _mm512_setzero_ps();
        Z(0)
        Z(1)
        Z(2)
        Z(3)
#undef Z
        for (int p = 0; p < k; p++) {
            __m512 b0 = _mm512_loadu_ps(bp + (size_t)p * 32),
                   b1 = _mm512_loadu_ps(bp + (size_t)p * 32 + 16);
#define ROW(r)                                                                                     \
    {                                                                                              \
        __m512 x = _mm512_set1_ps(a[(r)*lda + p]);                                                 \
        c##r##_0 = _mm512_fmadd_ps(x, b0, c##r##_0);                                               \
        c##r##_1 = _mm512_fmadd_ps(x, b1, c##r##_1);                                               \
    }
            ROW(0) ROW(1) ROW(2) ROW(3)
#undef ROW
        }
        put(c, c0_0, beta);
        put(c + 16, c0_1, beta);
        put(c + ldc, c1_0, beta);
        put(c + ldc + 16, c1_1, beta);
        put(c + 2 * ldc, c2_0, beta);
        put(c + 2 * ldc + 16, c2_1, beta);
        put(c + 3 * ldc, c3_0, beta);
        put(c + 3 * ldc + 16, c3_1, beta);
    }
    for (; mr > 0; mr--, a += lda, c += ldc) {
        __m512 c0 = _mm512_setzero_ps(), c1 = _mm512_setzero_ps();
        for (int p = 0; p < k; p++) {
            __m512 x = _mm512_set1_ps(a[p]);
            c0 = _mm512_fmadd_ps(x, _mm512_loadu_ps(bp + (size_t)p * 32), c0);
            c1 = _mm512_fmadd_ps(x, _mm512_loadu_ps(bp + (size_t)p * 32 + 16), c1);
        }
        put(c, c0, beta);
        put(c + 16, c1, beta);
    }
}

/* Work items [lo, hi) of (chunk, panel), chunk-major. */
static void gp_range(void *arg, int64_t lo, int64_t hi)
{
    const gp_job *j = arg;
    size_t lda = (size_t)j->lda, ldc = (size_t)j->ldc;
    for (int64_t w = lo; w < hi; w++) {
        int chunk = (int)(w / j->panels), p = (int)(w % j->panels);
        int i0 = chunk * CHUNK, i1 = i0 + CHUNK < j->m ? i0 + CHUNK : j->m;
        const float *bp = j->bp + (size_t)p * HZ_PACK_NR * j->k;
        int i = i0;
        for (; i + MR <= i1; i += MR)
            tile12(j->a + i * lda, lda, bp, j->k, j->c + i * ldc + p * HZ_PACK_NR, ldc, j->beta);
        if (i < i1)
            tile_rest(j->a + i * lda, lda, bp, j->k, i1 - i, j->c + i * ldc + p * HZ_PACK_NR, ldc,
                      j->beta);
    }
}

int hz_gemm_packed(int m, int n, int k, const hz_real *a, int lda, const hz_real *bp, hz_real beta,
                   hz_real *c, int ldc)
{
    if (m < 1 || m > HZ_PACK_MAX_M || !hz_pack_ok(n, k))
        return 0;
    int panels = n / HZ_PACK_NR, chunks = (m + CHUNK - 1) / CHUNK;
    gp_job j = {m, n, k, lda, ldc, panels, a, bp, c, beta};
    int64_t rows = m < CHUNK ? m : CHUNK;
    hz_par_for((int64_t)chunks * panels, rows * k * HZ_PACK_NR, gp_range, &j);
    return 1;
}

#else

int hz_gemm_packed(int m, int n, int k, const hz_real *a, int lda, const hz_real *bp, hz_real beta,
                   hz_real *c, int ldc)
{
    (void)m, (void)n, (void)k, (void)a, (void)lda, (void)bp, (void)beta, (void)c, (void)ldc;
    return 0;
}

#endif
