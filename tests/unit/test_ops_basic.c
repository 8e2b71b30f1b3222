/* test_ops_basic.c — forward values of ops_basic.c (float build) against hand-computed and
 * known values (PyTorch's F.gelu, F.softplus, F.elu), gradients at the kinks, and the arena
 * steady state: a second identical step mallocs nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "engine/gemm_packed.h"
#include "engine/gemm_small.h"
#include "engine/optim.h"
#include "engine/ops.h"
#include "engine/par.h"
#include "engine/tensor.h"

#define TOL 1e-6

static hz_ctx *ctx_new(void **state)
{
    static hz_ctx c; /* one per test run, freed by teardown */
    hz_ctx_init(&c, 1 << 16, 7);
    *state = &c;
    return &c;
}

static int teardown(void **state)
{
    hz_ctx_free(*state);
    return 0;
}

static hz_tensor *from(hz_ctx *c, int ndim, const int *shape, const float *v)
{
    hz_tensor *t = hz_tensor_new(c, ndim, shape);
    memcpy(t->data, v, (size_t)t->n * sizeof(float));
    return t;
}

static void assert_values(const hz_tensor *t, const float *want, int64_t n, double tol)
{
    assert_int_equal(t->n, n);
    for (int64_t i = 0; i < n; i++)
        if (fabs((double)t->data[i] - (double)want[i]) > tol * (1 + fabs((double)want[i])))
            fail_msg("element %lld: got %.9g, want %.9g", (long long)i, (double)t->data[i],
                     (double)want[i]);
}

static void test_activations_known_values(void **state)
{
    hz_ctx *c = ctx_new(state);
    float x[6] = {1, -1, 0, 30, -30, 2};
    hz_tensor *t = from(c, 1, (int[]){6}, x);
    /* torch.nn.functional.gelu (exact erf) */
    float gelu[6] = {0.8413447f, -0.1586553f, 0, 30, -0.0f, 1.9544997f};
    assert_values(hz_gelu(c, t), gelu, 6, TOL);
    /* softplus: log(1+e^x); above the threshold 20 the input itself */
    float sp[6] = {1.3132616f, 0.3132617f, 0.6931472f, 30, 9.357623e-14f, 2.1269280f};
    assert_values(hz_softplus(c, t), sp, 6, TOL);
    float elu[6] = {1, -0.6321206f, 0, 30, -1, 2};
    assert_values(hz_elu(c, t, 1.0), elu, 6, TOL);
    float elu2[6] = {1, -0.3160603f, 0, 30, -0.5f, 2};
    assert_values(hz_elu(c, t, 0.5), elu2, 6, TOL);
    float relu[6] = {1, 0, 0, 30, 0, 2};
    assert_values(hz_relu(c, t), relu, 6, 0);
    float y[3] = {4, 0.25f, 1};
    hz_tensor *p = from(c, 1, (int[]){3}, y);
    float sq[3] = {2, 0.5f, 1}, ln[3] = {1.3862944f, -1.3862944f, 0};
    float ex[3] = {54.598150f, 1.2840254f, 2.7182818f};
    assert_values(hz_sqrt(c, p), sq, 3, TOL);
    assert_values(hz_ln(c, p), ln, 3, TOL);
    assert_values(hz_exp(c, p), ex, 3, TOL);
}

/* The float GELU uses its own vectorised erfc: over [-12, 12] its value stays within 2e-7
 * (absolute, scaled by 1 + |x|) and its gradient within 4e-7 of the double-precision erf
 * formula, and the result is the same whatever the number of threads computing it. */
static void test_gelu_dense_range(void **state)
{
    hz_ctx *c = ctx_new(state);
    enum { N = 240001 };
    int shape[1] = {N};
    hz_tensor *x = hz_tensor_new(c, 1, shape);
    for (int i = 0; i < N; i++)
        x->data[i] = (float)(-12.0 + 24.0 * i / (N - 1));
    x->requires_grad = 1;
    c->grad_on = 1;
    hz_tensor *y = hz_gelu(c, x);
    hz_tensor *loss = hz_sum(c, y, 0, 0);
    hz_backward(c, loss);
    double worst = 0, worst_g = 0;
    for (int i = 0; i < N; i++) {
        double v = x->data[i], cdf = 0.5 * erfc(-v / sqrt(2.0));
        double want = v * cdf, want_g = cdf + v * exp(-0.5 * v * v) / sqrt(2 * M_PI);
        double e = fabs(y->data[i] - want) / (1 + fabs(v));
        double eg = fabs(x->grad[i] - want_g);
        worst = e > worst ? e : worst;
        worst_g = eg > worst_g ? eg : worst_g;
    }
    assert_true(worst < 2e-7);
    assert_true(worst_g < 4e-7); /* the gradient reaches 1.13: a few float ulps */
    c->grad_on = 0;
    hz_par_set_threads(1);
    hz_tensor *y1 = hz_gelu(c, x);
    hz_par_set_threads(0);
    assert_memory_equal(y1->data, y->data, (size_t)N * sizeof(float));
}

/* Naive reference for C = op(A) op(B). */
static void naive_mm(int ta, int tb, int M, int N, int K, const float *a, const float *b, float *o)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < K; k++)
                s += (double)(ta ? a[k * M + i] : a[i * K + k]) *
                     (double)(tb ? b[j * K + k] : b[k * N + j]);
            o[i * N + j] = (float)s;
        }
}

static void test_matmul_exact(void **state)
{
    hz_ctx *c = ctx_new(state);
    hz_tensor *a = from(c, 2, (int[]){2, 2}, (float[]){1, 2, 3, 4});
    hz_tensor *b = from(c, 2, (int[]){2, 2}, (float[]){5, 6, 7, 8});
    assert_values(hz_matmul(c, a, b, 0, 0), (float[]){19, 22, 43, 50}, 4, 0);
    assert_values(hz_matmul(c, a, b, 1, 0), (float[]){26, 30, 38, 44}, 4, 0);
    assert_values(hz_matmul(c, a, b, 0, 1), (float[]){17, 23, 39, 53}, 4, 0);
    assert_values(hz_matmul(c, a, b, 1, 1), (float[]){23, 31, 34, 46}, 4, 0);

    /* batched [2, 3, 4] x shared [4, 5] and batched [2, 4, 5]: small integers, exact */
    float av[24], bv[40], want[30];
    for (int i = 0; i < 24; i++)
        av[i] = (float)(i % 7 - 3);
    for (int i = 0; i < 40; i++)
        bv[i] = (float)(i % 5 - 2);
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            hz_tensor *A = from(c, 3, (int[]){2, ta ? 4 : 3, ta ? 3 : 4}, av);
            hz_tensor *Bs = from(c, 2, (int[]){tb ? 5 : 4, tb ? 4 : 5}, bv);
            hz_tensor *Bb = from(c, 3, (int[]){2, tb ? 5 : 4, tb ? 4 : 5}, bv);
            hz_tensor *o1 = hz_matmul(c, A, Bs, ta, tb), *o2 = hz_matmul(c, A, Bb, ta, tb);
            assert_int_equal(o1->ndim, 3);
            assert_int_equal(o1->shape[1], 3);
            assert_int_equal(o1->shape[2], 5);
            for (int i = 0; i < 2; i++)
                naive_mm(ta, tb, 3, 5, 4, av + 12 * i, bv, want + 15 * i);
            assert_values(o1, want, 30, 0);
            for (int i = 0; i < 2; i++)
                naive_mm(ta, tb, 3, 5, 4, av + 12 * i, bv + 20 * i, want + 15 * i);
            assert_values(o2, want, 30, 0);
        }
}

/* c[m, n] (row stride ldc), which held (i * ldc + j) % 5 before c = a b^T + beta c, against
 * a double-precision product (b: n rows of stride ldb); the padding past n untouched. */
static void check_nt(const float *c, const float *a, int lda, const float *b, int ldb, int m, int n,
                     int k, float beta, int ldc)
{
    for (int i = 0; i < m; i++)
        for (int j = 0; j < ldc; j++) {
            double want = (double)((i * ldc + j) % 5);
            if (j < n) {
                double sum = 0;
                for (int q = 0; q < k; q++)
                    sum += (double)a[i * lda + q] * (double)b[j * ldb + q];
                want = sum + (double)beta * want;
            }
            double got = c[i * ldc + j];
            if (fabs(got - want) > 1e-5 * (1 + fabs(want)))
                fail_msg("m=%d n=%d k=%d beta=%g [%d,%d]: %.7g want %.7g", m, n, k, (double)beta, i,
                         j, got, want);
        }
}

/* The unpacked small-row kernel behind hz_gemm (gemm_small.c): every block shape and edge,
 * strides wider than the rows, beta 0 / 1 / 0.5, against a double-precision reference; the
 * shapes it does not take are refused; one thread or the pool give identical bits. */
static void test_gemm_small_kernel(void **state)
{
    hz_ctx *c = ctx_new(state);
    (void)c;
    enum { MAXM = 32, MAXN = 67, MAXK = 512, PAD = 3 };
    static float a[MAXM * (MAXK + PAD)], b[MAXN * (MAXK + PAD)], out[MAXM * (MAXN + PAD)],
        out1[MAXM * (MAXN + PAD)];
    int ms[] = {1, 5, 6, 7, 24, 32}, ns[] = {4, 7, 33, 67}, ks[] = {16, 48, 512};
    float betas[] = {0, 1, 0.5f};
    for (size_t i = 0; i < sizeof a / sizeof *a; i++)
        a[i] = (float)((i * 7919) % 201) / 100.0f - 1.0f;
    for (size_t i = 0; i < sizeof b / sizeof *b; i++)
        b[i] = (float)((i * 104729) % 199) / 100.0f - 0.99f;
    for (int mi = 0; mi < 6; mi++)
        for (int ni = 0; ni < 4; ni++)
            for (int ki = 0; ki < 3; ki++)
                for (int bi = 0; bi < 3; bi++) {
                    int m = ms[mi], n = ns[ni], k = ks[ki];
                    int lda = k + PAD, ldb = k + PAD, ldc = n + PAD;
                    for (int i = 0; i < m * ldc; i++)
                        out[i] = out1[i] = (float)(i % 5);
                    assert_int_equal(hz_gemm_nt_small(m, n, k, a, lda, b, ldb, betas[bi], out, ldc),
                                     1);
                    hz_par_set_threads(1);
                    hz_gemm_nt_small(m, n, k, a, lda, b, ldb, betas[bi], out1, ldc);
                    hz_par_set_threads(0);
                    assert_memory_equal(out, out1, (size_t)m * ldc * sizeof(float));
                    check_nt(out, a, lda, b, ldb, m, n, k, betas[bi], ldc);
                }
    /* not taken: too many rows, too few columns, k not a multiple of the vector */
    assert_int_equal(hz_gemm_nt_small(HZ_GEMM_SMALL_M + 1, 8, 16, a, 16, b, 16, 0, out, 8), 0);
    assert_int_equal(hz_gemm_nt_small(4, 3, 16, a, 16, b, 16, 0, out, 3), 0);
    assert_int_equal(hz_gemm_nt_small(4, 8, 20, a, 20, b, 20, 0, out, 8), 0);
}

/* The packed-weight kernel (gemm_packed.c): tiles of 12, 6, 4 and 1 rows and their edges,
 * strides wider than the rows, beta 0 / 1 / 0.5, against a double-precision reference; one
 * thread or the pool, AVX-512 or AVX2, give identical bits; the shapes it does not take are
 * refused.  On a CPU without AVX2 and FMA it must refuse everything. */
static void test_gemm_packed_kernel(void **state)
{
    (void)state;
    enum { MAXM = 256, MAXN = 96, MAXK = 512, PAD = 3 };
    static float a[MAXM * (MAXK + PAD)], w[MAXN * MAXK], wp[MAXN * MAXK], out[MAXM * (MAXN + PAD)],
        out1[MAXM * (MAXN + PAD)], out2[MAXM * (MAXN + PAD)];
    int ms[] = {1, 3, 4, 5, 6, 7, 11, 12, 13, 24, 97, 256}, ns[] = {32, 96}, ks[] = {1, 7, 21, 512};
    float betas[] = {0, 1, 0.5f};
    int best = hz_pack_isa();
    if (!hz_pack_ok(32, 16)) {
        assert_int_equal(hz_gemm_packed(4, 32, 16, a, 16, wp, 0, out, 32), 0);
        skip(); /* no AVX2 here: callers keep BLAS */
    }
    for (size_t i = 0; i < sizeof a / sizeof *a; i++)
        a[i] = (float)((i * 7919) % 201) / 100.0f - 1.0f;
    for (size_t i = 0; i < sizeof w / sizeof *w; i++)
        w[i] = (float)((i * 104729) % 199) / 100.0f - 0.99f;
    for (int ni = 0; ni < 2; ni++)
        for (int ki = 0; ki < 4; ki++) {
            int n = ns[ni], k = ks[ki];
            hz_pack_weight(w, n, k, wp);
            for (int mi = 0; mi < (int)(sizeof ms / sizeof *ms); mi++)
                for (int bi = 0; bi < 3; bi++) {
                    int m = ms[mi], lda = k + PAD, ldc = n + PAD;
                    for (int i = 0; i < m * ldc; i++)
                        out[i] = out1[i] = out2[i] = (float)(i % 5);
                    assert_int_equal(hz_gemm_packed(m, n, k, a, lda, wp, betas[bi], out, ldc), 1);
                    hz_par_set_threads(1);
                    hz_gemm_packed(m, n, k, a, lda, wp, betas[bi], out1, ldc);
                    hz_par_set_threads(0);
                    assert_memory_equal(out, out1, (size_t)m * ldc * sizeof(float));
                    check_nt(out, a, lda, w, k, m, n, k, betas[bi], ldc);
                    if (best == HZ_PACK_AVX512) { /* the AVX2 kernel on the same CPU */
                        assert_int_equal(hz_pack_use_isa(HZ_PACK_AVX2), 0);
                        hz_gemm_packed(m, n, k, a, lda, wp, betas[bi], out2, ldc);
                        assert_int_equal(hz_pack_use_isa(best), 0);
                        assert_memory_equal(out, out2, (size_t)m * ldc * sizeof(float));
                    }
                }
        }
    /* not taken: too many rows, a width that is not whole panels, a level the CPU lacks */
    assert_int_equal(hz_gemm_packed(HZ_PACK_MAX_M + 1, 32, 16, a, 16, wp, 0, out, 32), 0);
    assert_int_equal(hz_pack_ok(48, 16), 0);
    assert_int_equal(hz_gemm_packed(4, 48, 16, a, 16, wp, 0, out, 48), 0);
    if (best < HZ_PACK_AVX512)
        assert_int_equal(hz_pack_use_isa(HZ_PACK_AVX512), -1);
    assert_int_equal(hz_pack_use_isa(HZ_PACK_NONE), 0);
    assert_int_equal(hz_gemm_packed(4, 32, 16, a, 16, wp, 0, out, 32), 0);
    assert_int_equal(hz_pack_use_isa(best), 0);
}

/* Packed weights serve forwards without gradients, agree with BLAS on the stored weights,
 * and never outlive a change: the optimiser step drops them, and the next pack sees the new
 * values. */
static void test_params_pack(void **state)
{
    hz_ctx *c = ctx_new(state);
    hz_params p;
    hz_params_init(&p);
    hz_tensor *w = hz_params_add(&p, "l.weight", 1, 2, (int[]){64, 40});
    hz_tensor *bias = hz_params_add(&p, "l.bias", 1, 1, (int[]){64});
    assert_int_equal(hz_params_finalize(&p), 0);
    for (int64_t i = 0; i < w->n; i++)
        w->data[i] = (float)((i * 31) % 17) / 8.0f - 1.0f;
    for (int i = 0; i < 64; i++)
        bias->data[i] = (float)i / 64.0f;
    hz_tensor *x = hz_tensor_new4(c, 2, 5, 40, 0, 0);
    for (int64_t i = 0; i < x->n; i++)
        x->data[i] = (float)((i * 7) % 13) / 6.0f - 1.0f;
    c->grad_on = 0;
    hz_tensor *ref = hz_linear(c, x, w, bias);
    assert_int_equal(hz_params_pack(&p), 0);
    assert_null(bias->packed);
    if (!hz_pack_ok(64, 40)) {
        assert_null(w->packed);
        hz_params_free(&p);
        skip();
    }
    assert_non_null(w->packed);
    hz_tensor *y = hz_linear(c, x, w, bias);
    for (int64_t i = 0; i < y->n; i++)
        assert_float_equal(y->data[i], ref->data[i], 1e-5);
    /* a training step changes the weights: the packed copy goes */
    hz_adam opt;
    assert_int_equal(hz_adam_init(&opt, &p, 0.1, 0, 0), 0);
    for (int64_t i = 0; i < w->n; i++)
        w->grad[i] = 1;
    hz_adam_step(&opt, &p);
    assert_null(w->packed);
    assert_int_equal(p.packed, 0);
    hz_tensor *y2 = hz_linear(c, x, w, bias); /* BLAS on the new weights */
    assert_int_equal(hz_params_pack(&p), 0);
    hz_tensor *y3 = hz_linear(c, x, w, bias);
    for (int64_t i = 0; i < y->n; i++) {
        assert_float_equal(y3->data[i], y2->data[i], 1e-5);
        assert_true(fabsf(y3->data[i] - y->data[i]) > 1e-3); /* not the old weights */
    }
    hz_adam_free(&opt);
    hz_params_free(&p);
}

static void test_linear_bias(void **state)
{
    hz_ctx *c = ctx_new(state);
    hz_tensor *x = from(c, 3, (int[]){1, 2, 3}, (float[]){1, 2, 3, 4, 5, 6});
    hz_tensor *w = from(c, 2, (int[]){2, 3}, (float[]){1, 0, -1, 2, 1, 0});
    hz_tensor *b = from(c, 1, (int[]){2}, (float[]){0.5f, -1});
    hz_tensor *y = hz_linear(c, x, w, b);
    assert_int_equal(y->ndim, 3);
    assert_int_equal(y->shape[2], 2);
    assert_values(y, (float[]){-1.5f, 3, -1.5f, 12}, 4, 0);
    assert_values(hz_linear(c, x, w, NULL), (float[]){-2, 4, -2, 13}, 4, 0);
}

static void test_broadcast_values(void **state)
{
    hz_ctx *c = ctx_new(state);
    hz_tensor *a = from(c, 2, (int[]){2, 3}, (float[]){1, 2, 3, 4, 5, 6});
    hz_tensor *r = from(c, 1, (int[]){3}, (float[]){10, 20, 30});
    hz_tensor *col = from(c, 2, (int[]){2, 1}, (float[]){2, 4});
    assert_values(hz_add(c, a, r), (float[]){11, 22, 33, 14, 25, 36}, 6, 0);
    assert_values(hz_sub(c, r, a), (float[]){9, 18, 27, 6, 15, 24}, 6, 0);
    assert_values(hz_mul(c, a, col), (float[]){2, 4, 6, 16, 20, 24}, 6, 0);
    assert_values(hz_div(c, a, col), (float[]){0.5f, 1, 1.5f, 1, 1.25f, 1.5f}, 6, 0);
    /* [2,1] with [3] -> [2,3] outer sum */
    hz_tensor *o = hz_add(c, col, r);
    assert_int_equal(o->ndim, 2);
    assert_int_equal(o->shape[0], 2);
    assert_int_equal(o->shape[1], 3);
    assert_values(o, (float[]){12, 22, 32, 14, 24, 34}, 6, 0);
    assert_values(hz_scale(c, a, 0.5), (float[]){0.5f, 1, 1.5f, 2, 2.5f, 3}, 6, 0);
    assert_values(hz_add_scalar(c, a, -1), (float[]){0, 1, 2, 3, 4, 5}, 6, 0);
}

static void test_reductions_and_shapes(void **state)
{
    hz_ctx *c = ctx_new(state);
    float v[6] = {1, 2, 3, 4, 5, 6};
    hz_tensor *a = from(c, 2, (int[]){2, 3}, v);
    hz_tensor *s0 = hz_sum(c, a, 0, 0), *m1 = hz_mean(c, a, -1, 1);
    assert_int_equal(s0->ndim, 1);
    assert_values(s0, (float[]){5, 7, 9}, 3, 0);
    assert_int_equal(m1->ndim, 2);
    assert_int_equal(m1->shape[1], 1);
    assert_values(m1, (float[]){2, 5}, 2, 0);
    hz_tensor *tot = hz_sum(c, hz_reshape(c, a, 1, (int[]){-1}), 0, 0);
    assert_int_equal(tot->ndim, 1);
    assert_values(tot, (float[]){21}, 1, 0);

    hz_tensor *r = hz_reshape(c, a, 3, (int[]){3, -1, 1});
    assert_ptr_equal(r->data, a->data);
    assert_int_equal(r->shape[1], 2);

    assert_values(hz_transpose(c, a, 0, 1), (float[]){1, 4, 2, 5, 3, 6}, 6, 0);
    hz_tensor *b3 = from(c, 3, (int[]){2, 3, 1}, v);
    hz_tensor *p = hz_permute(c, b3, (int[]){2, 0, 1});
    assert_int_equal(p->shape[0], 1);
    assert_values(p, v, 6, 0);
    assert_values(hz_slice(c, a, 1, 1, 2), (float[]){2, 3, 5, 6}, 4, 0);
    assert_values(hz_slice(c, a, 0, 1, 1), (float[]){4, 5, 6}, 3, 0);
    hz_tensor *two[2] = {a, hz_slice(c, a, 1, 0, 1)};
    hz_tensor *cat = hz_concat(c, two, 2, -1);
    assert_int_equal(cat->shape[1], 4);
    assert_values(cat, (float[]){1, 2, 3, 1, 4, 5, 6, 4}, 8, 0);
    two[1] = a;
    assert_values(hz_concat(c, two, 2, 0), (float[]){1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6}, 12, 0);
}

static void test_losses_and_kinks(void **state)
{
    hz_ctx *c = ctx_new(state);
    hz_params p;
    hz_params_init(&p);
    hz_tensor *x = hz_params_add(&p, "x", 1, 1, (int[]){4});
    assert_int_equal(hz_params_finalize(&p), 0);
    float xv[4] = {1, 2, 3, 0};
    memcpy(x->data, xv, sizeof xv);
    hz_tensor *t = from(c, 1, (int[]){4}, (float[]){1, 0, 5, -1}); /* diffs 0, 2, -2, 1 */
    c->grad_on = 1;
    hz_tensor *mse = hz_mse_loss(c, x, t), *mae = hz_mae_loss(c, x, t);
    assert_values(mse, (float[]){2.25f}, 1, TOL);
    assert_values(mae, (float[]){1.25f}, 1, TOL);
    hz_backward(c, mae);
    /* sign(diff) / n, 0 where pred == target (PyTorch) */
    float gmae[4] = {0, 0.25f, -0.25f, 0.25f};
    for (int i = 0; i < 4; i++)
        assert_float_equal(x->grad[i], gmae[i], 0);
    assert_null(t->grad); /* the target takes no gradient */

    hz_params_zero_grad(&p);
    hz_ctx_reset(c);
    hz_tensor *xr = from(c, 1, (int[]){4}, (float[]){-1, 0, 2, 1});
    hz_params_free(&p);
    /* relu gradient at 0 is 0, as threshold_backward */
    hz_params_init(&p);
    hz_tensor *z = hz_params_add(&p, "z", 1, 1, (int[]){4});
    assert_int_equal(hz_params_finalize(&p), 0);
    memcpy(z->data, xr->data, 4 * sizeof(float));
    hz_tensor *y = hz_sum(c, hz_relu(c, z), 0, 0);
    hz_backward(c, y);
    float grelu[4] = {0, 0, 1, 1};
    for (int i = 0; i < 4; i++)
        assert_float_equal(z->grad[i], grelu[i], 0);
    hz_params_free(&p);
}

/* One training-like step: forward through most ops, loss, backward. */
static double step(hz_ctx *c, hz_params *p, const float *xin, const float *yin)
{
    hz_tensor *w1 = hz_params_find(p, "w1"), *b1 = hz_params_find(p, "b1");
    hz_tensor *w2 = hz_params_find(p, "w2");
    hz_tensor *x = hz_tensor_wrap(c, (float *)xin, 3, (int[]){4, 16, 8});
    hz_tensor *y = hz_tensor_wrap(c, (float *)yin, 3, (int[]){4, 16, 1});
    hz_tensor *h = hz_gelu(c, hz_linear(c, x, w1, b1));                /* [4,16,32] */
    hz_tensor *att = hz_matmul(c, h, h, 0, 1);                         /* [4,16,16] */
    hz_tensor *ctxv = hz_matmul(c, hz_scale(c, att, 0.01), h, 0, 0);   /* [4,16,32] */
    hz_tensor *cat = hz_concat(c, (hz_tensor *[]){h, ctxv}, 2, -1);    /* [4,16,64] */
    hz_tensor *m = hz_mean(c, cat, 1, 1);                              /* [4,1,64] */
    hz_tensor *z = hz_sub(c, cat, m);                                  /* [4,16,64] */
    hz_tensor *o = hz_linear(c, hz_softplus(c, z), w2, NULL);          /* [4,16,1] */
    hz_tensor *perm = hz_transpose(c, hz_slice(c, o, 1, 0, 16), 0, 1); /* [16,4,1] */
    hz_tensor *back = hz_reshape(c, hz_transpose(c, perm, 0, 1), 3, (int[]){4, 16, -1});
    hz_tensor *loss = hz_add(c, hz_mse_loss(c, back, y), hz_mae_loss(c, back, y));
    hz_backward(c, loss);
    return loss->data[0];
}

static void test_arena_steady_state(void **state)
{
    hz_ctx *c = ctx_new(state);
    hz_ctx_free(c);
    hz_ctx_init(c, 4096, 7); /* deliberately small: the first step overflows */
    hz_params p;
    hz_params_init(&p);
    hz_params_add(&p, "w1", 1, 2, (int[]){32, 8});
    hz_params_add(&p, "b1", 1, 1, (int[]){32});
    hz_params_add(&p, "w2", 1, 2, (int[]){1, 64});
    assert_int_equal(hz_params_finalize(&p), 0);
    for (size_t i = 0; i < p.len; i++)
        hz_init_kaiming_uniform(p.t[i], &c->rng, 8);
    float x[4 * 16 * 8], y[4 * 16];
    for (int i = 0; i < 4 * 16 * 8; i++)
        x[i] = (float)hz_rng_normal(&c->rng);
    for (int i = 0; i < 4 * 16; i++)
        y[i] = (float)hz_rng_normal(&c->rng);

    c->grad_on = 1;
    hz_ctx_reset(c);
    double l1 = step(c, &p, x, y);
    assert_true(c->arena.n_mallocs > 1); /* it did overflow */
    hz_ctx_reset(c);                     /* one malloc here: the block of the peak size */
    uint64_t before = c->arena.n_mallocs;
    hz_params_zero_grad(&p);
    double l2 = step(c, &p, x, y);
    assert_int_equal(c->arena.n_mallocs, before);
    hz_ctx_reset(c);
    hz_params_zero_grad(&p);
    double l3 = step(c, &p, x, y);
    assert_int_equal(c->arena.n_mallocs, before);
    assert_true(l1 == l2 && l2 == l3); /* same inputs, same loss */
    assert_true(isfinite(l1) && l1 > 0);
    hz_params_free(&p);
}

/* Past its base, an arena bumps inside the newest chained block: a first step of many small
 * tensors makes a few blocks, not one per tensor; every pointer is aligned and distinct
 * memory; the reset then gives one block of the peak. */
static void test_arena_overflow_bumps(void **state)
{
    (void)state;
    hz_arena a;
    hz_arena_init(&a, 1 << 16); /* 64 KiB */
    char *prev = NULL;
    for (int i = 0; i < 20000; i++) { /* ~1.3 MB of 64-byte pieces: 20x the base */
        char *p = hz_arena_alloc(&a, 50);
        assert_int_equal((uintptr_t)p % 64, 0);
        memset(p, i & 0xff, 50);
        if (prev)
            assert_int_equal((unsigned char)prev[49], (unsigned char)((i - 1) & 0xff));
        prev = p;
    }
    assert_true(a.overflow != NULL);
    assert_in_range(a.n_mallocs, 2, 12); /* was one block per piece past the base */
    hz_arena_reset(&a);
    assert_null(a.overflow);
    assert_true(a.cap >= 20000 * 64);
    uint64_t before = a.n_mallocs;
    for (int i = 0; i < 20000; i++)
        hz_arena_alloc(&a, 50);
    assert_int_equal(a.n_mallocs, before);
    hz_arena_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_activations_known_values, teardown),
        cmocka_unit_test_teardown(test_gelu_dense_range, teardown),
        cmocka_unit_test_teardown(test_matmul_exact, teardown),
        cmocka_unit_test_teardown(test_gemm_small_kernel, teardown),
        cmocka_unit_test_teardown(test_linear_bias, teardown),
        cmocka_unit_test_teardown(test_broadcast_values, teardown),
        cmocka_unit_test_teardown(test_reductions_and_shapes, teardown),
        cmocka_unit_test_teardown(test_losses_and_kinks, teardown),
        cmocka_unit_test_teardown(test_arena_steady_state, teardown),
        cmocka_unit_test(test_arena_overflow_bumps),
        cmocka_unit_test(test_gemm_packed_kernel),
        cmocka_unit_test_teardown(test_params_pack, teardown),
    };
    return cmocka_run_group_tests_name("ops_basic", tests, NULL, NULL);
}
