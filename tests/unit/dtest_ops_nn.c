/* dtest_ops_nn.c — finite-difference gradient checks (double build, tests/unit/gradcheck.h) for
 * every op in engine/ops_nn.c: softmax (plain / causal / diagonal mask, unscaled and scaled, Lq ==
 * Lk and Lq < Lk), LayerNorm, BatchNorm1d (training and eval), Conv1d (each padding mode, dilation
 * 1 and 2, kernel 1 and 3), MaxPool1d, dropout, gather/scatter rows and cumsum. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "gradcheck.h"

/* Shapes are drawn from a fixed seed so a failure reproduces. */
static int pick(hz_rng *r, int lo, int hi)
{
    return lo + (int)hz_rng_below(r, (uint32_t)(hi - lo + 1));
}

static gc_case mkcase(int nin)
{
    gc_case k;
    memset(&k, 0, sizeof k);
    k.nin = nin;
    for (int i = 0; i < nin; i++)
        k.needs_grad[i] = 1;
    return k;
}

static void set_shape(gc_case *k, int i, int ndim, int d0, int d1, int d2, int d3)
{
    int d[4] = {d0, d1, d2, d3};
    k->ndim[i] = ndim;
    for (int j = 0; j < ndim; j++)
        k->shape[i][j] = d[j];
}

/* ------------------------------------------------------------------ softmax */
static hz_tensor *f_softmax(hz_ctx *c, hz_tensor **in, const void *arg)
{
    return hz_softmax(c, in[0], *(const int *)arg);
}

static hz_tensor *f_softmax_scaled(hz_ctx *c, hz_tensor **in, const void *arg)
{
    return hz_softmax_scaled(c, in[0], 0.37, *(const int *)arg);
}

static void test_softmax_grad(void **state)
{
    hz_rng r;
    hz_rng_seed(&r, 11);
    for (int mask = HZ_MASK_NONE; mask <= HZ_MASK_DIAG; mask++)
        for (int square = 0; square <= 1; square++) {
            int Lk = pick(&r, 4, 7), Lq = square ? Lk : pick(&r, 2, Lk - 1);
            gc_case k = mkcase(1);
            set_shape(&k, 0, 3, 2, Lq, Lk, 0);
            k.lo = -3;
            k.hi = 3;
            char label[64];
            snprintf(label, sizeof label, "softmax mask=%d %dx%d", mask, Lq, Lk);
            assert_true(gc_run(label, f_softmax, &k, &mask, 100 + mask * 2 + square) <= GC_TOL);
            snprintf(label, sizeof label, "softmax scaled 0.37 mask=%d %dx%d", mask, Lq, Lk);
            assert_true(gc_run(label, f_softmax_scaled, &k, &mask, 110 + mask * 2 + square) <=
                        GC_TOL);
        }
}

/* ------------------------------------------------------------------ layernorm */
static hz_tensor *f_layernorm(hz_ctx *c, hz_tensor **in, const void *arg)
{
    return hz_layernorm(c, in[0], in[1], in[2], 1e-5);
}

static void test_layernorm_grad(void **state)
{
    hz_rng r;
    hz_rng_seed(&r, 12);
    for (int rep = 0; rep < 2; rep++) {
        int D = pick(&r, 3, 9);
        gc_case k = mkcase(3);
        set_shape(&k, 0, 3, pick(&r, 1, 3), pick(&r, 2, 4), D, 0);
        set_shape(&k, 1, 1, D, 0, 0, 0);
        set_shape(&k, 2, 1, D, 0, 0, 0);
        assert_true(gc_run("layernorm x,gamma,beta", f_layernorm, &k, NULL, 200 + rep) <= GC_TOL);
    }
}

/* ------------------------------------------------------------------ batchnorm */
typedef struct bn_arg {
    int C;
    hz_real *rm, *rv; /* running stats (caller buffers) */
} bn_arg;

static hz_tensor *f_batchnorm(hz_ctx *c, hz_tensor **in, const void *arg)
{
    const bn_arg *a = arg;
    int s[1] = {a->C};
    hz_tensor *rm = hz_tensor_wrap(c, a->rm, 1, s), *rv = hz_tensor_wrap(c, a->rv, 1, s);
    return hz_batchnorm1d(c, in[0], in[1], in[2], rm, rv, 0.1, 1e-5);
}

static void test_batchnorm_grad(void **state)
{
    hz_rng r;
    hz_rng_seed(&r, 13);
    for (int training = 1; training >= 0; training--)
        for (int rep = 0; rep < 2; rep++) {
            int C = pick(&r, 1, 6);
            hz_real rm[6], rv[6];
            for (int j = 0; j < C; j++) {
                rm[j] = hz_rng_uniform(&r) - 0.5;
                rv[j] = 0.5 + hz_rng_uniform(&r);
            }
            bn_arg a = {C, rm, rv};
            gc_case k = mkcase(3);
            set_shape(&k, 0, 3, pick(&r, 1, 3), pick(&r, 3, 6), C, 0);
            set_shape(&k, 1, 1, C, 0, 0, 0);
            set_shape(&k, 2, 1, C, 0, 0, 0);
            k.training = training;
            char label[64];
            snprintf(label, sizeof label, "batchnorm1d %s C=%d", training ? "train" : "eval", C);
            assert_true(gc_run(label, f_batchnorm, &k, &a, 300 + 2 * training + rep) <= GC_TOL);
        }
}

/* ------------------------------------------------------------------ conv1d */
typedef struct conv_arg {
    int pad, mode, dil, bias;
} conv_arg;

static hz_tensor *f_conv(hz_ctx *c, hz_tensor **in, const void *arg)
{
    const conv_arg *a = arg;
    return hz_conv1d(c, in[0], in[1], a->bias ? in[2] : NULL, a->pad, a->mode, a->dil);
}

static void test_conv1d_grad(void **state)
{
    static const int chans[] = {1, 2, 3, 5};
    hz_rng r;
    hz_rng_seed(&r, 14);
    unsigned seed = 400;
    for (int mode = 0; mode < 3; mode++)
        for (int K = 1; K <= 3; K += 2)
            for (int dil = 1; dil <= 2; dil++) {
                if (K == 1 && dil == 2)
                    continue; /* dilation is meaningless for kernel 1 */
                int B = pick(&r, 1, 2), L = pick(&r, 5, 9);
                int Cin = chans[pick(&r, 0, 3)], Cout = chans[pick(&r, 0, 3)];
                /* "same" padding for K = 3 (pad = dil); K = 1 without and with padding */
                conv_arg a = {K == 3 ? dil : (mode == 0 ? 0 : 1), mode, dil, (int)(seed % 2)};
                gc_case k = mkcase(a.bias ? 3 : 2);
                set_shape(&k, 0, 3, B, L, Cin, 0);
                set_shape(&k, 1, 3, Cout, Cin, K, 0);
                set_shape(&k, 2, 1, Cout, 0, 0, 0);
                char label[64];
                snprintf(label, sizeof label, "conv1d m%d K%d d%d p%d %d->%d", mode, K, dil, a.pad,
                         Cin, Cout);
                assert_true(gc_run(label, f_conv, &k, &a, seed++) <= GC_TOL);
            }
    /* the Informer distil conv shape: kernel 3, circular pad 1, channels equal */
    conv_arg a = {1, HZ_PAD_CIRCULAR, 1, 1};
    gc_case k = mkcase(3);
    set_shape(&k, 0, 3, 2, 6, 4, 0);
    set_shape(&k, 1, 3, 4, 4, 3, 0);
    set_shape(&k, 2, 1, 4, 0, 0, 0);
    assert_true(gc_run("conv1d informer distil", f_conv, &k, &a, seed) <= GC_TOL);
}

/* ------------------------------------------------------------------ maxpool1d */
static hz_tensor *f_maxpool(hz_ctx *c, hz_tensor **in, const void *arg)
{
    return hz_maxpool1d(c, in[0], 3, 2, 1);
}

static void test_maxpool1d_grad(void **state)
{
    for (int L = 7; L <= 8; L++) {
        gc_case k = mkcase(1);
        set_shape(&k, 0, 3, 2, L, 3, 0);
        char label[64];
        snprintf(label, sizeof label, "maxpool1d k3 s2 p1 L=%d", L);
        assert_true(gc_run(label, f_maxpool, &k, NULL, 500 + L) <= GC_TOL);
    }
}

/* ------------------------------------------------------------------ dropout */
static hz_tensor *f_dropout(hz_ctx *c, hz_tensor **in, const void *arg)
{
    return hz_dropout(c, in[0], 0.3);
}

static void test_dropout_grad(void **state)
{
    gc_case k = mkcase(1);
    set_shape(&k, 0, 2, 6, 7, 0, 0);
    k.training = 1;
    assert_true(gc_run("dropout p=0.3 train", f_dropout, &k, NULL, 600) <= GC_TOL);
    k.training = 0;
    assert_true(gc_run("dropout eval (identity)", f_dropout, &k, NULL, 601) <= GC_TOL);
}

/* ------------------------------------------------------------------ gather / scatter */
typedef struct rows_arg {
    const int32_t *idx;
    int n;
} rows_arg;

static hz_tensor *f_gather(hz_ctx *c, hz_tensor **in, const void *arg)
{
    const rows_arg *a = arg;
    return hz_gather_rows(c, in[0], a->idx, a->n);
}

static hz_tensor *f_scatter(hz_ctx *c, hz_tensor **in, const void *arg)
{
    const rows_arg *a = arg;
    return hz_scatter_rows(c, in[0], in[1], a->idx, a->n);
}

static void test_gather_rows_grad(void **state)
{
    /* G = 2 * 3 groups of L = 5 rows; indices repeat inside a group */
    static const int32_t idx[6 * 4] = {0, 0, 4, 2, 1, 3, 3, 3, 4, 0, 1, 4,
                                       2, 2, 2, 0, 1, 0, 1, 0, 3, 4, 4, 3};
    rows_arg a = {idx, 4};
    gc_case k = mkcase(1);
    set_shape(&k, 0, 4, 2, 3, 5, 3);
    assert_true(gc_run("gather_rows repeated", f_gather, &k, &a, 700) <= GC_TOL);
}

static void test_scatter_rows_grad(void **state)
{
    /* G = 3 groups of L = 6 rows, n = 3 distinct indices per group */
    static const int32_t distinct[9] = {5, 0, 2, 1, 3, 4, 0, 5, 3};
    rows_arg a = {distinct, 3};
    gc_case k = mkcase(2);
    set_shape(&k, 0, 3, 3, 6, 4, 0);
    set_shape(&k, 1, 3, 3, 3, 4, 0);
    assert_true(gc_run("scatter_rows distinct", f_scatter, &k, &a, 800) <= GC_TOL);
    /* repeated indices: the last write wins, earlier ones get no gradient */
    static const int32_t repeated[9] = {2, 2, 1, 0, 4, 0, 3, 3, 3};
    rows_arg b = {repeated, 3};
    assert_true(gc_run("scatter_rows repeated", f_scatter, &k, &b, 801) <= GC_TOL);
}

/* ------------------------------------------------------------------ cumsum */
static hz_tensor *f_cumsum(hz_ctx *c, hz_tensor **in, const void *arg)
{
    return hz_cumsum(c, in[0], *(const int *)arg);
}

static void test_cumsum_grad(void **state)
{
    static const int axes[] = {1, -1, 2, 0};
    for (int i = 0; i < 4; i++) {
        gc_case k = mkcase(1);
        set_shape(&k, 0, 3, 2, 5, 4, 0);
        char label[64];
        snprintf(label, sizeof label, "cumsum axis %d", axes[i]);
        assert_true(gc_run(label, f_cumsum, &k, &axes[i], 900 + (unsigned)i) <= GC_TOL);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_softmax_grad),     cmocka_unit_test(test_layernorm_grad),
        cmocka_unit_test(test_batchnorm_grad),   cmocka_unit_test(test_conv1d_grad),
        cmocka_unit_test(test_maxpool1d_grad),   cmocka_unit_test(test_dropout_grad),
        cmocka_unit_test(test_gather_rows_grad), cmocka_unit_test(test_scatter_rows_grad),
        cmocka_unit_test(test_cumsum_grad),
    };
    return cmocka_run_group_tests_name("ops_nn gradients", tests, NULL, NULL);
}
