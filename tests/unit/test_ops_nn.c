/* test_ops_nn.c — forward values of engine/ops_nn.c (float build) against hand-worked
 * examples: BatchNorm1d running statistics (PyTorch rule, unbiased variance) and eval mode,
 * Conv1d padding modes and dilation, MaxPool1d length and -inf padding, causal softmax,
 * multi-head attention (hz_mha, fused and taped) against loops in double,
 * dropout statistics and determinism, and the arena steady state (no malloc after step 1). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "engine/ops.h"
#include "engine/tensor.h"

static hz_tensor *literal(hz_ctx *c, const float *v, int ndim, int d0, int d1, int d2)
{
    hz_tensor *t = hz_tensor_new4(c, ndim, d0, d1, d2, 0);
    memcpy(t->data, v, (size_t)t->n * sizeof *v);
    return t;
}

static void test_batchnorm_running_stats_and_eval(void **state)
{
    hz_ctx c;
    hz_ctx_init(&c, 1 << 16, 1);
    hz_params p;
    hz_params_init(&p);
    int s2[1] = {2};
    hz_tensor *gamma = hz_params_add(&p, "bn.weight", 1, 1, s2);
    hz_tensor *beta = hz_params_add(&p, "bn.bias", 1, 1, s2);
    hz_tensor *rm = hz_params_add(&p, "bn.running_mean", 0, 1, s2);
    hz_tensor *rv = hz_params_add(&p, "bn.running_var", 0, 1, s2);
    assert_int_equal(hz_params_finalize(&p), 0);
    gamma->data[0] = 2;
    gamma->data[1] = 1;
    beta->data[0] = 0.5f;
    beta->data[1] = -1;
    hz_init_const(rv, 1); /* PyTorch's initial buffers: mean 0, var 1 */

    /* x (B=2, L=2, C=2): channel 0 = {1, 2, 3, 6}, channel 1 = {-1, -1, 1, 1} */
    static const float xv[8] = {1, -1, 2, -1, 3, 1, 6, 1};
    hz_ctx_reset(&c);
    c.training = 1;
    hz_tensor *x = literal(&c, xv, 3, 2, 2, 2);
    hz_tensor *y = hz_batchnorm1d(&c, x, gamma, beta, rm, rv, 0.1, 1e-5);
    /* channel 0: mean 3, biased var 14/4 normalises, unbiased 14/3 goes to running_var */
    assert_float_equal(rm->data[0], 0.1 * 3, 1e-6);
    assert_float_equal(rv->data[0], 0.9 * 1 + 0.1 * 14.0 / 3.0, 1e-6);
    /* channel 1: mean 0, biased var 1, unbiased 4/3 */
    assert_float_equal(rm->data[1], 0, 1e-6);
    assert_float_equal(rv->data[1], 0.9 + 0.1 * 4.0 / 3.0, 1e-6);
    for (int i = 0; i < 4; i++) {
        double want0 = 2 * (xv[2 * i] - 3) / sqrt(3.5 + 1e-5) + 0.5;
        double want1 = (xv[2 * i + 1] - 0) / sqrt(1 + 1e-5) - 1;
        assert_float_equal(y->data[2 * i], want0, 1e-5);
        assert_float_equal(y->data[2 * i + 1], want1, 1e-5);
    }

    /* eval: the running statistics, not the batch's */
    hz_ctx_reset(&c);
    c.training = 0;
    x = literal(&c, xv, 3, 2, 2, 2);
    y = hz_batchnorm1d(&c, x, gamma, beta, rm, rv, 0.1, 1e-5);
    double m0 = 0.3, v0 = 0.9 + 1.4 / 3.0, v1 = 0.9 + 0.4 / 3.0;
    for (int i = 0; i < 4; i++) {
        assert_float_equal(y->data[2 * i], 2 * (xv[2 * i] - m0) / sqrt(v0 + 1e-5) + 0.5, 1e-5);
        assert_float_equal(y->data[2 * i + 1], xv[2 * i + 1] / sqrt(v1 + 1e-5) - 1, 1e-5);
    }
    /* eval leaves the buffers alone */
    assert_float_equal(rm->data[0], 0.3, 1e-6);
    assert_float_equal(rv->data[0], v0, 1e-6);
    hz_params_free(&p);
    hz_ctx_free(&c);
}

static void check_conv(hz_ctx *c, int pad, int mode, int dil, const float *want)
{
    static const float xv[4] = {1, 2, 3, 4};
    static const float wv[3] = {1, 10, 100};
    hz_ctx_reset(c);
    hz_tensor *x = literal(c, xv, 3, 1, 4, 1);
    hz_tensor *w = literal(c, wv, 3, 1, 1, 3);
    hz_tensor *y = hz_conv1d(c, x, w, NULL, pad, mode, dil);
    assert_int_equal(y->shape[1], 4);
    for (int t = 0; t < 4; t++)
        assert_float_equal(y->data[t], want[t], 1e-4);
}

static void test_conv1d_padding_hand_examples(void **state)
{
    hz_ctx c;
    hz_ctx_init(&c, 1 << 16, 1);
    /* y[t] = p[t] + 10 p[t+d] + 100 p[t+2d] on the padded sequence p */
    static const float circular[4] = {214, 321, 432, 143};  /* p = 4 1 2 3 4 1 */
    static const float replicate[4] = {211, 321, 432, 443}; /* p = 1 1 2 3 4 4 */
    static const float zero[4] = {210, 321, 432, 43};       /* p = 0 1 2 3 4 0 */
    static const float dil2[4] = {310, 420, 31, 42};        /* p = 0 0 1 2 3 4 0 0 */
    static const float circ2[4] = {313, 424, 131, 242};     /* p = 3 4 1 2 3 4 1 2 */
    check_conv(&c, 1, HZ_PAD_CIRCULAR, 1, circular);
    check_conv(&c, 1, HZ_PAD_REPLICATE, 1, replicate);
    check_conv(&c, 1, HZ_PAD_ZERO, 1, zero);
    check_conv(&c, 2, HZ_PAD_ZERO, 2, dil2);
    check_conv(&c, 2, HZ_PAD_CIRCULAR, 2, circ2);
    hz_ctx_free(&c);
}

/* The GEMM path against the definition, with several channels, bias, and PyTorch's
 * [Cout, Cin, K] weight layout; both column layouts (k-major when training or with more
 * rows than output channels, channel-major for inference with fewer). */
static void test_conv1d_matches_direct_sum(void **state)
{
    hz_ctx c;
    hz_ctx_init(&c, 1 << 20, 1);
    hz_rng r;
    hz_rng_seed(&r, 3);
    const int B = 2, L = 11, Cin = 5;
    for (int v = 0; v < 4; v++)
        for (int mode = 0; mode < 3; mode++)
            for (int K = 1; K <= 3; K += 2) {
                int dil = K == 3 ? 2 : 1, pad = K == 3 ? 2 : 0, Cout = v & 1 ? 40 : 7;
                hz_ctx_reset(&c);
                c.grad_on = v >> 1;
                hz_tensor *x = hz_tensor_new4(&c, 3, B, L, Cin, 0);
                hz_tensor *w = hz_tensor_new4(&c, 3, Cout, Cin, K, 0);
                hz_tensor *b = hz_tensor_new4(&c, 1, Cout, 0, 0, 0);
                hz_init_uniform(x, &r, 1);
                hz_init_uniform(w, &r, 1);
                hz_init_uniform(b, &r, 1);
                hz_tensor *y = hz_conv1d(&c, x, w, b, pad, mode, dil);
                int Lout = L + 2 * pad - dil * (K - 1);
                assert_int_equal(y->shape[1], Lout);
                for (int bb = 0; bb < B; bb++)
                    for (int t = 0; t < Lout; t++)
                        for (int o = 0; o < Cout; o++) {
                            double s = b->data[o];
                            for (int ci = 0; ci < Cin; ci++)
                                for (int k = 0; k < K; k++) {
                                    int q = t + k * dil - pad;
                                    if (q < 0 || q >= L) {
                                        if (mode == HZ_PAD_ZERO)
                                            continue;
                                        q = mode == HZ_PAD_CIRCULAR ? (q + L) % L
                                                                    : (q < 0 ? 0 : L - 1);
                                    }
                                    s += w->data[(o * Cin + ci) * K + k] *
                                         x->data[(bb * L + q) * Cin + ci];
                                }
                            assert_float_equal(y->data[(bb * Lout + t) * Cout + o], s, 1e-4);
                        }
            }
    c.grad_on = 0;
    hz_ctx_free(&c);
}

static void test_maxpool_length_and_neg_inf_padding(void **state)
{
    hz_ctx c;
    hz_ctx_init(&c, 1 << 20, 1);
    hz_tensor *x = hz_tensor_zeros(&c, 3, (int[]){2, 96, 3});
    hz_tensor *y = hz_maxpool1d(&c, x, 3, 2, 1);
    assert_int_equal(y->ndim, 3);
    assert_int_equal(y->shape[0], 2);
    assert_int_equal(y->shape[1], 48); /* Informer distil: L = 96 -> 48 */
    assert_int_equal(y->shape[2], 3);
    y = hz_maxpool1d(&c, hz_tensor_zeros(&c, 3, (int[]){1, 95, 1}), 3, 2, 1);
    assert_int_equal(y->shape[1], 48);

    /* all-negative input: padding must be -inf, not 0 */
    static const float neg[5] = {-1, -5, -2, -4, -3};
    y = hz_maxpool1d(&c, literal(&c, neg, 3, 1, 5, 1), 3, 2, 1);
    assert_int_equal(y->shape[1], 3);
    assert_float_equal(y->data[0], -1, 0);
    assert_float_equal(y->data[1], -2, 0);
    assert_float_equal(y->data[2], -3, 0);
    static const float pos[5] = {1, 5, 2, 4, 3};
    y = hz_maxpool1d(&c, literal(&c, pos, 3, 1, 5, 1), 3, 2, 1);
    assert_float_equal(y->data[0], 5, 0);
    assert_float_equal(y->data[1], 5, 0);
    assert_float_equal(y->data[2], 4, 0);
    /* NaN wins its windows (as in PyTorch), with the tape off (values only) and on */
    static const float nan5[5] = {1, NAN, 2, 0, 3};
    for (int taped = 0; taped <= 1; taped++) {
        c.grad_on = taped;
        y = hz_maxpool1d(&c, literal(&c, nan5, 3, 1, 5, 1), 3, 2, 1);
        assert_true(isnan(y->data[0]) && isnan(y->data[1]));
        assert_float_equal(y->data[2], 3, 0);
    }
    c.grad_on = 0;
    hz_ctx_free(&c);
}

static void test_softmax_causal_rows(void **state)
{
    hz_ctx c;
    hz_ctx_init(&c, 1 << 20, 1);
    hz_rng r;
    hz_rng_seed(&r, 5);
    for (int Lq = 3; Lq <= 6; Lq += 3) {
        const int Lk = 6;
        hz_ctx_reset(&c);
        hz_tensor *a = hz_tensor_new4(&c, 3, 2, Lq, Lk, 0);
        hz_init_uniform(a, &r, 30); /* large logits: the max-shift must keep this finite */
        hz_tensor *y = hz_softmax(&c, a, 1);
        for (int b = 0; b < 2; b++)
            for (int i = 0; i < Lq; i++) {
                const float *row = y->data + (b * Lq + i) * Lk;
                double s = 0;
                for (int j = 0; j < Lk; j++) {
                    assert_true(isfinite(row[j]) && row[j] >= 0);
                    if (j > i + (Lk - Lq))
                        assert_float_equal(row[j], 0, 0);
                    s += row[j];
                }
                assert_float_equal(s, 1, 1e-5);
            }
    }
    /* diagonal mask: row i gives key i nothing and spreads 1 over the others, as a softmax
     * of the row without it; a single key is kept */
    hz_ctx_reset(&c);
    float d[9] = {5, 0, logf(3), 0, 9, 0, 1, 1, -2};
    hz_tensor *yd = hz_softmax(&c, literal(&c, d, 2, 3, 3, 0), HZ_MASK_DIAG);
    const float want[9] = {0, 0.25f, 0.75f, 0.5f, 0, 0.5f, 0.5f, 0.5f, 0};
    for (int i = 0; i < 9; i++)
        assert_float_equal(yd->data[i], want[i], 1e-6);
    float one = 3;
    assert_float_equal(hz_softmax(&c, literal(&c, &one, 2, 1, 1, 0), HZ_MASK_DIAG)->data[0], 1, 0);
    /* unmasked small example: softmax(0, log 3) = (1/4, 3/4) */
    hz_ctx_reset(&c);
    float v[2] = {0, logf(3)};
    hz_tensor *y = hz_softmax(&c, literal(&c, v, 1, 2, 0, 0), 0);
    assert_float_equal(y->data[0], 0.25, 1e-6);
    assert_float_equal(y->data[1], 0.75, 1e-6);
    hz_ctx_free(&c);
}

/* hz_mha against the attention written out in double, per head: fused (no tape), and the
 * taped path of the same call; every mask, two blocks of query rows, keys fewer than
 * queries for the causal mask. */
static void test_mha_fused_matches_loops(void **state)
{
    hz_ctx c;
    hz_ctx_init(&c, 1 << 20, 1);
    hz_rng r;
    hz_rng_seed(&r, 9);
    const int B = 2, H = 3, E = 4, d = H * E;
    const double scale = 0.45;
    for (int mask = HZ_MASK_NONE; mask <= HZ_MASK_DIAG; mask++)
        for (int taped = 0; taped <= 1; taped++) {
            int L = 70, S = mask == HZ_MASK_CAUSAL ? 67 : 70;
            hz_ctx_reset(&c);
            hz_tensor *q = hz_tensor_new4(&c, 3, B, L, d, 0),
                      *k = hz_tensor_new4(&c, 3, B, S, d, 0);
            hz_tensor *v = hz_tensor_new4(&c, 3, B, S, d, 0);
            hz_init_uniform(q, &r, 2);
            hz_init_uniform(k, &r, 2);
            hz_init_uniform(v, &r, 2);
            q->requires_grad = taped;
            c.grad_on = taped;
            hz_tensor *o = hz_mha(&c, q, k, v, H, scale, mask, 0.3);
            c.grad_on = 0;
            assert_int_equal(o->ndim, 3);
            assert_int_equal(o->shape[1], L);
            assert_int_equal(o->shape[2], d);
            double p[70];
            for (int b = 0; b < B; b++)
                for (int h = 0; h < H; h++)
                    for (int i = 0; i < L; i++) {
                        double m = -INFINITY, sum = 0;
                        for (int j = 0; j < S; j++) {
                            int hidden = (mask == HZ_MASK_DIAG && j == i) ||
                                         (mask == HZ_MASK_CAUSAL && j > i + (S - L));
                            double t = 0;
                            for (int e = 0; e < E; e++)
                                t += (double)q->data[(b * L + i) * d + h * E + e] *
                                     k->data[(b * S + j) * d + h * E + e];
                            p[j] = hidden ? -INFINITY : scale * t;
                            m = p[j] > m ? p[j] : m;
                        }
                        for (int j = 0; j < S; j++)
                            sum += p[j] = m == -INFINITY ? 0 : exp(p[j] - m);
                        for (int e = 0; e < E; e++) {
                            double want = 0;
                            for (int j = 0; j < S; j++)
                                want += (sum > 0 ? p[j] / sum : 0) *
                                        v->data[(b * S + j) * d + h * E + e];
                            assert_float_equal(o->data[(b * L + i) * d + h * E + e], want, 1e-5);
                        }
                    }
        }
    hz_ctx_free(&c);
}

static void test_dropout_fraction_scale_determinism(void **state)
{
    const int n = 100000;
    const double p = 0.2;
    hz_ctx c1, c2;
    hz_ctx_init(&c1, 1 << 20, 42);
    hz_ctx_init(&c2, 1 << 20, 42);
    c1.training = c2.training = 1;
    hz_tensor *x1 = hz_tensor_new4(&c1, 1, n, 0, 0, 0);
    hz_tensor *x2 = hz_tensor_new4(&c2, 1, n, 0, 0, 0);
    hz_init_const(x1, 3);
    hz_init_const(x2, 3);
    hz_tensor *y1 = hz_dropout(&c1, x1, p), *y2 = hz_dropout(&c2, x2, p);
    int kept = 0;
    for (int i = 0; i < n; i++) {
        if (y1->data[i] != 0) {
            kept++;
            assert_float_equal(y1->data[i], 3 / (1 - p), 1e-5);
        }
        assert_true(y1->data[i] == y2->data[i]); /* same seed, same mask */
    }
    /* binomial: sd = sqrt(n p (1-p)) ~ 126; allow 5 sd */
    assert_true(fabs(kept - n * (1 - p)) < 5 * sqrt(n * p * (1 - p)));

    /* the next mask differs (the rng moved on) */
    hz_tensor *y3 = hz_dropout(&c1, x1, p);
    int same = 0;
    for (int i = 0; i < n; i++)
        same += (y3->data[i] == y1->data[i]);
    assert_true(same < n);

    /* identity in eval and for p = 0 */
    c1.training = 0;
    assert_ptr_equal(hz_dropout(&c1, x1, p), x1);
    c1.training = 1;
    assert_ptr_equal(hz_dropout(&c1, x1, 0), x1);
    hz_ctx_free(&c1);
    hz_ctx_free(&c2);
}

static void test_cumsum_gather_scatter_values(void **state)
{
    hz_ctx c;
    hz_ctx_init(&c, 1 << 16, 1);
    static const float v[6] = {1, 2, 3, 4, 5, 6}; /* (2, 3) */
    hz_tensor *x = literal(&c, v, 2, 2, 3, 0);
    hz_tensor *y = hz_cumsum(&c, x, 1);
    static const float row[6] = {1, 3, 6, 4, 9, 15};
    for (int i = 0; i < 6; i++)
        assert_float_equal(y->data[i], row[i], 0);
    y = hz_cumsum(&c, x, 0);
    static const float col[6] = {1, 2, 3, 5, 7, 9};
    for (int i = 0; i < 6; i++)
        assert_float_equal(y->data[i], col[i], 0);

    /* x viewed as (G=1, L=3, D=2) */
    hz_tensor *x3 = literal(&c, v, 3, 1, 3, 2);
    static const int32_t idx[2] = {2, 0};
    hz_tensor *g = hz_gather_rows(&c, x3, idx, 2);
    assert_int_equal(g->shape[1], 2);
    static const float gw[4] = {5, 6, 1, 2};
    for (int i = 0; i < 4; i++)
        assert_float_equal(g->data[i], gw[i], 0);
    static const float src[4] = {-1, -2, -3, -4};
    hz_tensor *s = hz_scatter_rows(&c, x3, literal(&c, src, 3, 1, 2, 2), idx, 2);
    static const float sw[6] = {-3, -4, 3, 4, -1, -2};
    for (int i = 0; i < 6; i++)
        assert_float_equal(s->data[i], sw[i], 0);
    hz_ctx_free(&c);
}

/* A training step through every op; from the second step on, the arena makes no malloc. */
static void test_steady_state_allocates_nothing(void **state)
{
    hz_ctx c;
    hz_ctx_init(&c, 1 << 12, 9); /* deliberately small: the first step overflows */
    hz_params p;
    hz_params_init(&p);
    hz_tensor *w = hz_params_add(&p, "w", 1, 3, (int[]){8, 8, 3});
    hz_tensor *b = hz_params_add(&p, "b", 1, 1, (int[]){8});
    hz_tensor *g = hz_params_add(&p, "g", 1, 1, (int[]){8});
    hz_tensor *be = hz_params_add(&p, "be", 1, 1, (int[]){8});
    hz_tensor *rm = hz_params_add(&p, "rm", 0, 1, (int[]){8});
    hz_tensor *rv = hz_params_add(&p, "rv", 0, 1, (int[]){8});
    assert_int_equal(hz_params_finalize(&p), 0);
    hz_init_uniform(w, &c.rng, 0.3);
    hz_init_const(g, 1);
    hz_init_const(rv, 1);
    c.training = 1;
    c.grad_on = 1;
    uint64_t after[3];
    for (int step = 0; step < 3; step++) {
        hz_ctx_reset(&c);
        hz_tensor *x = hz_tensor_new4(&c, 3, 4, 32, 8, 0);
        hz_init_uniform(x, &c.rng, 1);
        hz_tensor *h = hz_conv1d(&c, x, w, b, 1, HZ_PAD_CIRCULAR, 1);
        h = hz_batchnorm1d(&c, h, g, be, rm, rv, 0.1, 1e-5);
        h = hz_maxpool1d(&c, h, 3, 2, 1);
        h = hz_dropout(&c, h, 0.1);
        h = hz_layernorm(&c, h, g, be, 1e-5);
        h = hz_softmax(&c, h, 0);
        h = hz_cumsum(&c, h, 1);
        hz_real *seed = hz_arena_alloc(&c.arena, (size_t)h->n * sizeof *seed);
        for (int64_t i = 0; i < h->n; i++)
            seed[i] = 1;
        hz_params_zero_grad(&p);
        hz_backward_from(&c, h, seed);
        after[step] = c.arena.n_mallocs;
    }
    assert_true(after[0] > 1);
    assert_int_equal(after[2], after[1]);
    hz_params_free(&p);
    hz_ctx_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batchnorm_running_stats_and_eval),
        cmocka_unit_test(test_conv1d_padding_hand_examples),
        cmocka_unit_test(test_conv1d_matches_direct_sum),
        cmocka_unit_test(test_maxpool_length_and_neg_inf_padding),
        cmocka_unit_test(test_softmax_causal_rows),
        cmocka_unit_test(test_mha_fused_matches_loops),
        cmocka_unit_test(test_dropout_fraction_scale_determinism),
        cmocka_unit_test(test_cumsum_gather_scatter_values),
        cmocka_unit_test(test_steady_state_allocates_nothing),
    };
    return cmocka_run_group_tests_name("ops_nn", tests, NULL, NULL);
}
