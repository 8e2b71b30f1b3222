/* gemm_packed.c — C = A W^T + beta C against a weight W packed once for inference.
 *
 * OpenBLAS packs both operands on every call.  At a batch-1 forward (24..96 rows of A
 * against a 512..2048-square weight) packing W costs a third as much as the product
 * itself, and the weights do not change between forwards.  Here W [n, k] is laid out once
 * in panels of NR = 32 rows, k-major inside a panel ([n / 32][k][32]).  With AVX-512 the
 * micro-kernel multiplies 12 rows of A (read in place, one broadcast per element) by one
 * panel into 12 x 32 accumulators (24 registers), the whole k at once; with AVX2 and FMA
 * (16 registers) it takes half a panel at a time, 6 rows x 16 columns in 12 accumulators,
 * the shape of the BLIS Haswell kernel.
 *
 * Work is split over (chunk of rows, panel) pairs in chunk-major order, so a thread keeps
 * its rows of A in its own L2 while the panels stream past.  Above HZ_PACK_MAX_M rows
 * OpenBLAS's own blocking wins and the caller uses it.  Every output is one fixed sequence
 * of fused multiply-adds over k whatever the thread count and whichever of the two kernels
 * runs, so both give the same bits.  Without AVX2 and FMA (and in the double build)
 * hz_gemm_packed declines and the caller uses BLAS. */
#include "engine/gemm_packed.h"

#include <stdatomic.h>
#include <string.h>

#include "engine/par.h"

#if !defined(HZ_DOUBLE) && defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_PACKED 1
#else
#define HAVE_PACKED 0
#endif

#define MR     12  /* rows of A per AVX-512 tile */
#define MR2    6   /* rows of A per AVX2 tile */
#define CHUNK  192 /* rows of A per unit of work, AVX-512 (16 tiles, 384 KB at k = 512) */
#define CHUNK2 96  /* the same for AVX2 (16 tiles, 192 KB: L2 is 512 KB on the Zen parts) */

static atomic_int isa_level = -1; /* HZ_PACK_NONE / _AVX2 / _AVX512 once detected */

static int detect(void)
{
#if HAVE_PACKED
    if (__builtin_cpu_supports("avx512f"))
        return HZ_PACK_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return HZ_PACK_AVX2;
#endif
    return HZ_PACK_NONE;
}

int hz_pack_isa(void)
{
    int l = atomic_load_explicit(&isa_level, memory_order_relaxed);
    if (l < 0) {
        l = detect();
        atomic_store_explicit(&isa_level, l, memory_order_relaxed);
    }
    return l;
}

int hz_pack_use_isa(int level)
{
    int best = detect();
    if (level < HZ_PACK_NONE || level > best)
        return -1;
    atomic_store_explicit(&isa_level, level, memory_order_relaxed);
    return 0;
}

int hz_pack_ok(int n, int k)
{
    return n > 0 && n % HZ_PACK_NR == 0 && k > 0 && hz_pack_isa() != HZ_PACK_NONE;
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
#define Z(r) __m512 c##r##_0 = _mm512_setzero_ps(), c##r##_1 = _mm512_setzero_ps()
    Z(0);
    Z(1);
    Z(2);
    Z(3);
    Z(4);
    Z(5);
    Z(6);
    Z(7);
    Z(8);
    Z(9);
    Z(10);
    Z(11);
#undef Z
    const float *a0 = a, *a6 = a + 6 * lda;
    for (int p = 0; p < k; p++) {
        __m512 b0 = _mm512_loadu_ps(bp + (size_t)p * 32),
               b1 = _mm512_loadu_ps(bp + (size_t)p * 32 + 16);
#define ROW(r, base, off)                                                                          \
    do {                                                                                           \
        __m512 x = _mm512_set1_ps(base[(off)*lda + p]);                                            \
        c##r##_0 = _mm512_fmadd_ps(x, b0, c##r##_0);                                               \
        c##r##_1 = _mm512_fmadd_ps(x, b1, c##r##_1);                                               \
    } while (0)
        ROW(0, a0, 0);
        ROW(1, a0, 1);
        ROW(2, a0, 2);
        ROW(3, a0, 3);
        ROW(4, a0, 4);
        ROW(5, a0, 5);
        ROW(6, a6, 0);
        ROW(7, a6, 1);
        ROW(8, a6, 2);
        ROW(9, a6, 3);
        ROW(10, a6, 4);
        ROW(11, a6, 5);
#undef ROW
    }
#define S(r)                                                                                       \
    do {                                                                                           \
        put(c + (r)*ldc, c##r##_0, beta);                                                          \
        put(c + (r)*ldc + 16, c##r##_1, beta);                                                     \
    } while (0)
    S(0);
    S(1);
    S(2);
    S(3);
    S(4);
    S(5);
    S(6);
    S(7);
    S(8);
    S(9);
    S(10);
    S(11);
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

/* AVX2: mr <= 6 rows of A times half a panel (16 columns at bp, row stride 32 floats):
 * c[mr][16].  Inlined with a constant mr, the loops unroll and acc stays in registers. */
__attribute__((target("avx2,fma"), always_inline)) static inline void
tile_avx2(int mr, const float *a, size_t lda, const float *bp, int k, float *c, size_t ldc,
          float beta)
{
    __m256 acc[MR2][2];
#pragma GCC unroll 6
    for (int r = 0; r < MR2; r++)
        if (r < mr)
            acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    for (int p = 0; p < k; p++) {
        __m256 b0 = _mm256_loadu_ps(bp + (size_t)p * 32),
               b1 = _mm256_loadu_ps(bp + (size_t)p * 32 + 8);
#pragma GCC unroll 6
        for (int r = 0; r < MR2; r++)
            if (r < mr) {
                __m256 x = _mm256_broadcast_ss(a + r * lda + p);
                acc[r][0] = _mm256_fmadd_ps(x, b0, acc[r][0]);
                acc[r][1] = _mm256_fmadd_ps(x, b1, acc[r][1]);
            }
    }
#pragma GCC unroll 6
    for (int r = 0; r < MR2; r++)
        if (r < mr)
            for (int h = 0; h < 2; h++) {
                float *o = c + r * ldc + 8 * h;
                __m256 v = acc[r][h];
                if (beta != 0)
                    v = _mm256_fmadd_ps(_mm256_set1_ps(beta), _mm256_loadu_ps(o), v);
                _mm256_storeu_ps(o, v);
            }
}

__attribute__((target("avx2,fma"))) static void tile_avx2_n(int mr, const float *a, size_t lda,
                                                            const float *bp, int k, float *c,
                                                            size_t ldc, float beta)
{
    switch (mr) {
    case 6:
        tile_avx2(6, a, lda, bp, k, c, ldc, beta);
        break;
    case 5:
        tile_avx2(5, a, lda, bp, k, c, ldc, beta);
        break;
    case 4:
        tile_avx2(4, a, lda, bp, k, c, ldc, beta);
        break;
    case 3:
        tile_avx2(3, a, lda, bp, k, c, ldc, beta);
        break;
    case 2:
        tile_avx2(2, a, lda, bp, k, c, ldc, beta);
        break;
    default:
        tile_avx2(1, a, lda, bp, k, c, ldc, beta);
        break;
    }
}

/* Work items [lo, hi) of (chunk, panel), chunk-major, AVX2: each half panel (32 KB at
 * k = 512, in L1) against every tile of the chunk's rows. */
static void gp_range_avx2(void *arg, int64_t lo, int64_t hi)
{
    const gp_job *j = arg;
    size_t lda = (size_t)j->lda, ldc = (size_t)j->ldc;
    for (int64_t w = lo; w < hi; w++) {
        int chunk = (int)(w / j->panels), p = (int)(w % j->panels);
        int i0 = chunk * CHUNK2, i1 = i0 + CHUNK2 < j->m ? i0 + CHUNK2 : j->m;
        for (int h = 0; h < 2; h++) {
            const float *bp = j->bp + (size_t)p * HZ_PACK_NR * j->k + 16 * h;
            for (int i = i0; i < i1; i += MR2)
                tile_avx2_n(i1 - i < MR2 ? i1 - i : MR2, j->a + i * lda, lda, bp, j->k,
                            j->c + i * ldc + p * HZ_PACK_NR + 16 * h, ldc, j->beta);
        }
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
    int wide = hz_pack_isa() == HZ_PACK_AVX512, chunk = wide ? CHUNK : CHUNK2;
    int panels = n / HZ_PACK_NR, chunks = (m + chunk - 1) / chunk;
    gp_job j = {m, n, k, lda, ldc, panels, a, bp, c, beta};
    int64_t rows = m < chunk ? m : chunk;
    hz_par_for((int64_t)chunks * panels, rows * k * HZ_PACK_NR, wide ? gp_range : gp_range_avx2,
               &j);
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
