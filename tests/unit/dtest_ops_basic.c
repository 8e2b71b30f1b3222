/* dtest_ops_basic.c — finite-difference gradient checks (double build) for every op of
 * ops_basic.c, on shapes drawn from a seeded RNG, including broadcasting, all four matmul
 * transpose combinations, shared and batched b, 3-D and 4-D.  One test proves the harness
 * catches a wrong backward. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gradcheck.h"

/* Shape drawing: dims in [1, 4]. */
static int rdim(hz_rng *r)
{
    return 1 + (int)hz_rng_below(r, 4);
}

static void set_shape(gc_case *k, int i, int nd, const int *s)
{
    k->ndim[i] = nd;
    for (int d = 0; d < nd; d++)
        k->shape[i][d] = s[d];
    k->needs_grad[i] = 1;
}

static void check(const char *label, gc_fn f, const gc_case *k, const void *arg, unsigned seed)
{
    double err = gc_run(label, f, k, arg, seed);
    if (err > GC_TOL)
        fail_msg("%s: gradient error %.3e > %.0e", label, err, GC_TOL);
}

/* ---------------------------------------------------------------- matmul / linear */
typedef struct {
    int ta, tb;
} mm_arg;

static hz_tensor *f_matmul(hz_ctx *c, hz_tensor **in, const void *arg)
{
    const mm_arg *m = arg;
    return hz_matmul(c, in[0], in[1], m->ta, m->tb);
}

static void test_matmul(void **state)
{
    hz_rng r;
    hz_rng_seed(&r, 11);
    /* mode: 0 2-D, 1 3-D shared b, 2 3-D batched, 3 4-D shared, 4 4-D batched */
    for (int mode = 0; mode < 5; mode++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                int M = rdim(&r), N = rdim(&r), K = rdim(&r);
                int nd = mode == 0 ? 2 : mode <= 2 ? 3 : 4;
                int batched = mode == 2 || mode == 4;
                int sa[4], sb[4], lead = nd - 2;
                for (int i = 0; i < lead; i++)
                    sa[i] = sb[i] = 1 + (int)hz_rng_below(&r, 3);
                sa[lead] = ta ? K : M;
                sa[lead + 1] = ta ? M : K;
                gc_case k = {.nin = 2};
                set_shape(&k, 0, nd, sa);
                if (batched) {
                    sb[lead] = tb ? N : K;
                    sb[lead + 1] = tb ? K : N;
                    set_shape(&k, 1, nd, sb);
                } else {
                    int s2[2] = {tb ? N : K, tb ? K : N};
                    set_shape(&k, 1, 2, s2);
                }
                mm_arg a = {ta, tb};
                char label[48];
                snprintf(label, sizeof label, "matmul m%d ta%d tb%d", mode, ta, tb);
                check(label, f_matmul, &k, &a, 100 + mode * 4 + ta * 2 + tb);
            }
}

static hz_tensor *f_linear(hz_ctx *c, hz_tensor **in, const void *arg)
{
    return hz_linear(c, in[0], in[1], *(const int *)arg ? in[2] : NULL);
}

static void test_linear(void **state)
{
    hz_rng r;
    hz_rng_seed(&r, 12);
    for (int nd = 1; nd <= 4; nd++)
        for (int bias = 0; bias < 2; bias++) {
            int I = rdim(&r) + 1, O = rdim(&r), s[4];
            for (int i = 0; i < nd - 1; i++)
                s[i] = rdim(&r);
            s[nd - 1] = I;
            gc_case k = {.nin = bias ? 3 : 2};
            set_shape(&k, 0, nd, s);
            int w[2] = {O, I};
            set_shape(&k, 1, 2, w);
            set_shape(&k, 2, 1, &O);
            char label[48];
            snprintf(label, sizeof label, "linear %dd bias%d", nd, bias);
            check(label, f_linear, &k, &bias, 200 + nd * 2 + bias);
        }
}

/* ---------------------------------------------------------------- broadcasting binary ops */
static hz_tensor *f_binary(hz_ctx *c, hz_tensor **in, const void *arg)
{
    switch (*(const int *)arg) {
    case 0:
        return hz_add(c, in[0], in[1]);
    case 1:
        return hz_sub(c, in[0], in[1]);
    case 2:
        return hz_mul(c, in[0], in[1]);
    default:
        return hz_div(c, in[0], in[1]);
    }
}

static void check_binary(int na, const int *sa, int nb, const int *sb, unsigned seed)
{
    static const char *names[4] = {"add", "sub", "mul", "div"};
    for (int op = 0; op < 4; op++) {
        gc_case k = {.nin = 2};
        set_shape(&k, 0, na, sa);
        set_shape(&k, 1, nb, sb);
        if (op == 3) { /* keep the divisor away from 0 */
            k.lo = 0.5;
            k.hi = 1.5;
        }
        char label[48];
        snprintf(label, sizeof label, "%s %dd/%dd", names[op], na, nb);
        check(label, f_binary, &k, &op, seed * 4 + op);
    }
}

static void test_binary_fixed_shapes(void **state)
{
    int a1[3] = {2, 3, 4}, b1[1] = {4};
    check_binary(3, a1, 3, a1, 1);
    check_binary(3, a1, 1, b1, 2);
    check_binary(1, b1, 3, a1, 3);
    int a2[3] = {2, 1, 4}, b2[2] = {3, 1};
    check_binary(3, a2, 2, b2, 4);
    int a3[4] = {2, 3, 1, 5}, b3[4] = {1, 3, 4, 1};
    check_binary(4, a3, 4, b3, 5);
    int one[1] = {1};
    check_binary(3, a1, 1, one, 6);
    int a4[2] = {3, 1}, b4[3] = {2, 3, 4}; /* a broadcast on the inner axis */
    check_binary(2, a4, 3, b4, 7);
}

static void test_binary_random_broadcast(void **state)
{
    hz_rng r;
    hz_rng_seed(&r, 13);
    for (int t = 0; t < 12; t++) {
        int nd = 1 + (int)hz_rng_below(&r, 4), full[4], sa[4], sb[4];
        for (int i = 0; i < nd; i++)
            full[i] = rdim(&r);
        int na = nd - (int)hz_rng_below(&r, (uint32_t)nd); /* a may have fewer dims */
        int nb = nd;
        for (int i = 0; i < nd; i++) {
            int pick = (int)hz_rng_below(&r, 3); /* 0 both full, 1 a is 1, 2 b is 1 */
            sb[i] = pick == 2 ? 1 : full[i];
            if (i >= nd - na)
                sa[i - (nd - na)] = pick == 1 ? 1 : full[i];
        }
        check_binary(na, sa, nb, sb, 100 + t);
    }
}

static hz_tensor *f_square(hz_ctx *c, hz_tensor **in, const void *arg)
{
    hz_tensor *s = hz_mul(c, in[0], in[0]); /* the same tensor on both sides */
    return hz_div(c, s, in[1]);
}

static void test_same_input_twice(void **state)
{
    gc_case k = {.nin = 2, .lo = 0.5, .hi = 1.5};
    int s[2] = {3, 4}, b[1] = {4};
    set_shape(&k, 0, 2, s);
    set_shape(&k, 1, 1, b);
    check("x*x/b", f_square, &k, NULL, 7);
}

static hz_tensor *f_scalar(hz_ctx *c, hz_tensor **in, const void *arg)
{
    return *(const int *)arg ? hz_add_scalar(c, in[0], 0.75) : hz_scale(c, in[0], -1.5);
}

static void test_scalar_ops(void **state)
{
    int s[3] = {2, 3, 5};
    for (int which = 0; which < 2; which++) {
        gc_case k = {.nin = 1};
        set_shape(&k, 0, 3, s);
        check(which ? "add_scalar" : "scale", f_scalar, &k, &which, 8 + which);
    }
}

/* ---------------------------------------------------------------- reductions */
typedef struct {
    int mean, axis, keepdim;
} red_arg;

static hz_tensor *f_reduce(hz_ctx *c, hz_tensor **in, const void *arg)
{
    const red_arg *a = arg;
    return a->mean ? hz_mean(c, in[0], a->axis, a->keepdim) : hz_sum(c, in[0], a->axis, a->keepdim);
}

static void test_reductions(void **state)
{
    hz_rng r;
    hz_rng_seed(&r, 14);
    for (int nd = 1; nd <= 4; nd++)
        for (int axis = -nd; axis < nd; axis++) {
            int s[4];
            for (int i = 0; i < nd; i++)
                s[i] = rdim(&r) + 1;
            red_arg a = {(int)hz_rng_below(&r, 2), axis, (int)hz_rng_below(&r, 2)};
            gc_case k = {.nin = 1};
            set_shape(&k, 0, nd, s);
            char label[48];
            snprintf(label, sizeof label, "%s %dd axis %d keep %d", a.mean ? "mean" : "sum", nd,
                     axis, a.keepdim);
            check(label, f_reduce, &k, &a, 300 + nd * 10 + axis + 5);
        }
}

/* ---------------------------------------------------------------- shapes */
static hz_tensor *f_reshape(hz_ctx *c, hz_tensor **in, const void *arg)
{
    int s[2] = {-1, 4};
    hz_tensor *v = hz_reshape(c, in[0], 2, s);
    assert_ptr_equal(v->data, in[0]->data); /* a view */
    /* used twice: through the view and directly */
    hz_tensor *flat = hz_reshape(c, in[0], 2, (int[]){24, 1});
    hz_tensor *back = hz_reshape(c, hz_mul(c, flat, flat), 3, (int[]){2, 3, 4});
    return hz_add(c, hz_reshape(c, v, 3, (int[]){2, 3, 4}), back);
}

static void test_reshape(void **state)
{
    gc_case k = {.nin = 1};
    set_shape(&k, 0, 3, (int[]){2, 3, 4});
    check("reshape", f_reshape, &k, NULL, 15);
}

static hz_tensor *f_permute(hz_ctx *c, hz_tensor **in, const void *arg)
{
    return hz_permute(c, in[0], arg);
}

static hz_tensor *f_transpose(hz_ctx *c, hz_tensor **in, const void *arg)
{
    const int *d = arg;
    return hz_transpose(c, in[0], d[0], d[1]);
}

static void test_permute_transpose(void **state)
{
    hz_rng r;
    hz_rng_seed(&r, 16);
    for (int t = 0; t < 8; t++) {
        int nd = 2 + t % 3, s[4], perm[4];
        for (int i = 0; i < nd; i++) {
            s[i] = rdim(&r) + 1;
            perm[i] = i;
        }
        for (int i = nd - 1; i > 0; i--) { /* Fisher-Yates */
            int j = (int)hz_rng_below(&r, (uint32_t)(i + 1)), tmp = perm[i];
            perm[i] = perm[j];
            perm[j] = tmp;
        }
        gc_case k = {.nin = 1};
        set_shape(&k, 0, nd, s);
        check("permute", f_permute, &k, perm, 400 + t);
        int d[2] = {-1, (int)hz_rng_below(&r, (uint32_t)nd)};
        check("transpose", f_transpose, &k, d, 500 + t);
    }
}

static hz_tensor *f_concat(hz_ctx *c, hz_tensor **in, const void *arg)
{
    const int *a = arg; /* axis, count (5 repeats inputs to exceed a node's 4 slots) */
    hz_tensor *ts[5] = {in[0], in[1], in[2], in[0], in[1]};
    return hz_concat(c, ts, a[1], a[0]);
}

static void test_concat(void **state)
{
    hz_rng r;
    hz_rng_seed(&r, 17);
    for (int nd = 1; nd <= 4; nd++)
        for (int axis = 0; axis < nd; axis++)
            for (int cnt = 2; cnt <= 5; cnt += 3) {
                int s[4];
                for (int i = 0; i < nd; i++)
                    s[i] = rdim(&r);
                gc_case k = {.nin = 3};
                for (int j = 0; j < 3; j++) {
                    s[axis] = rdim(&r);
                    set_shape(&k, j, nd, s);
                }
                if (cnt == 2)
                    k.needs_grad[0] = 0;                  /* an input without gradient */
                int a[2] = {axis - (axis & 1) * nd, cnt}; /* odd axes given negative */
                char label[48];
                snprintf(label, sizeof label, "concat %dd axis %d n %d", nd, a[0], cnt);
                check(label, f_concat, &k, a, 600 + nd * 10 + axis + cnt);
            }
}

static hz_tensor *f_slice(hz_ctx *c, hz_tensor **in, const void *arg)
{
    const int *a = arg;
    return hz_slice(c, in[0], a[0], a[1], a[2]);
}

static void test_slice(void **state)
{
    hz_rng r;
    hz_rng_seed(&r, 18);
    for (int nd = 1; nd <= 4; nd++)
        for (int axis = 0; axis < nd; axis++) {
            int s[4];
            for (int i = 0; i < nd; i++)
                s[i] = rdim(&r) + 1;
            int start = (int)hz_rng_below(&r, (uint32_t)s[axis]);
            int len = 1 + (int)hz_rng_below(&r, (uint32_t)(s[axis] - start));
            int a[3] = {axis, start, len};
            gc_case k = {.nin = 1};
            set_shape(&k, 0, nd, s);
            check("slice", f_slice, &k, a, 700 + nd * 10 + axis);
        }
}

/* ---------------------------------------------------------------- pointwise */
static hz_tensor *f_unary(hz_ctx *c, hz_tensor **in, const void *arg)
{
    switch (*(const int *)arg) {
    case 0:
        return hz_gelu(c, in[0]);
    case 1:
        return hz_elu(c, in[0], 1.0);
    case 2:
        return hz_elu(c, in[0], 0.7);
    case 3:
        return hz_relu(c, in[0]);
    case 4:
        return hz_softplus(c, in[0]);
    case 5:
        return hz_exp(c, in[0]);
    case 6:
        return hz_ln(c, in[0]);
    default:
        return hz_sqrt(c, in[0]);
    }
}

static void test_pointwise(void **state)
{
    static const struct {
        const char *name;
        int op;
        double lo, hi;
    } cases[] = {
        {"gelu", 0, -3, 3},           {"elu+", 1, 0.1, 1},
        {"elu-", 1, -2, -0.1},        {"elu a=0.7 -", 2, -2, -0.1},
        {"relu+", 3, 0.1, 1},         {"relu-", 3, -1, -0.1},
        {"softplus", 4, -5, 5},       {"softplus>20", 4, 20.5, 25},
        {"softplus<<0", 4, -30, -20}, {"exp", 5, -2, 2},
        {"log", 6, 0.3, 3},           {"sqrt", 7, 0.3, 3},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gc_case k = {.nin = 1, .lo = cases[i].lo, .hi = cases[i].hi};
        set_shape(&k, 0, 3, (int[]){2, 3, 4});
        check(cases[i].name, f_unary, &k, &cases[i].op, 800 + (unsigned)i);
    }
}

/* ---------------------------------------------------------------- losses */
static hz_tensor *f_loss(hz_ctx *c, hz_tensor **in, const void *arg)
{
    /* inputs in [0.1, 1]; the target is shifted by +-1.1 (alternating) so pred - target never
     * comes near mae's kink and has both signs */
    hz_tensor *shift = hz_tensor_new(c, in[1]->ndim, in[1]->shape);
    for (int64_t i = 0; i < shift->n; i++)
        shift->data[i] = i % 2 ? 1.1 : -1.1;
    hz_tensor *t = hz_add(c, in[1], shift);
    return *(const int *)arg ? hz_mae_loss(c, in[0], t) : hz_mse_loss(c, in[0], t);
}

static void test_losses(void **state)
{
    for (int mae = 0; mae < 2; mae++) {
        gc_case k = {.nin = 2, .lo = 0.1, .hi = 1};
        set_shape(&k, 0, 3, (int[]){2, 3, 5});
        set_shape(&k, 1, 3, (int[]){2, 3, 5});
        k.needs_grad[1] = 0;
        check(mae ? "mae_loss" : "mse_loss", f_loss, &k, &mae, 900 + (unsigned)mae);
    }
}

/* ---------------------------------------------------------------- a chain through GEMMs */
static hz_tensor *f_chain(hz_ctx *c, hz_tensor **in, const void *arg)
{
    /* x [2,5,3] -> linear(w [4,3], b) -> gelu -> attention-like x x^T -> mean */
    hz_tensor *h = hz_gelu(c, hz_linear(c, in[0], in[1], in[2]));
    hz_tensor *s = hz_matmul(c, h, h, 0, 1); /* [2,5,5] */
    return hz_mean(c, hz_transpose(c, s, 1, 2), -1, 0);
}

static void test_chain(void **state)
{
    gc_case k = {.nin = 3};
    set_shape(&k, 0, 3, (int[]){2, 5, 3});
    set_shape(&k, 1, 2, (int[]){4, 3});
    set_shape(&k, 2, 1, (int[]){4});
    check("chain", f_chain, &k, NULL, 31);
}

/* ---------------------------------------------------------------- the harness can fail */
static void bad_backward(hz_ctx *c, hz_node *nd)
{
    hz_real *ga = hz_grad(c, nd->in[0]);
    for (int64_t i = 0; i < nd->out->n; i++)
        ga[i] += 2 * 3 * nd->out->grad[i]; /* wrong: the derivative of 3x is 3 */
}

static hz_tensor *f_bad(hz_ctx *c, hz_tensor **in, const void *arg)
{
    hz_tensor *out = hz_tensor_new(c, in[0]->ndim, in[0]->shape);
    for (int64_t i = 0; i < out->n; i++)
        out->data[i] = 3 * in[0]->data[i];
    hz_tape_push(c, bad_backward, out, in[0], NULL, NULL, NULL);
    return out;
}

static void test_harness_catches_wrong_backward(void **state)
{
    gc_case k = {.nin = 1};
    set_shape(&k, 0, 2, (int[]){3, 4});
    double err = gc_run("deliberately wrong", f_bad, &k, NULL, 41);
    assert_true(err > 1e-2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matmul),
        cmocka_unit_test(test_linear),
        cmocka_unit_test(test_binary_fixed_shapes),
        cmocka_unit_test(test_binary_random_broadcast),
        cmocka_unit_test(test_same_input_twice),
        cmocka_unit_test(test_scalar_ops),
        cmocka_unit_test(test_reductions),
        cmocka_unit_test(test_reshape),
        cmocka_unit_test(test_permute_transpose),
        cmocka_unit_test(test_concat),
        cmocka_unit_test(test_slice),
        cmocka_unit_test(test_pointwise),
        cmocka_unit_test(test_losses),
        cmocka_unit_test(test_chain),
        cmocka_unit_test(test_harness_catches_wrong_backward),
    };
    return cmocka_run_group_tests_name("ops_basic (double, gradient checks)", tests, NULL, NULL);
}
