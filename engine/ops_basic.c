/* ops_basic.c — elementwise maths with NumPy broadcasting, reductions, shape ops, matmul and
 * nn.Linear through GEMM, activations and the regression losses (ops.h), each with its
 * reverse-mode backward.  Numerics follow PyTorch (docs/MODELS.md): exact-erf GELU, softplus
 * with beta 1 and threshold 20, relu/mae gradients 0 at the kink.
 *
 * Layout of the hot paths: broadcasting shapes are padded to 4-D and adjacent dims that are
 * contiguous for every operand are merged, so a same-shape op is one flat loop and a bias
 * broadcast over rows is a [rows, n] loop with unit inner strides.  Nothing here calls
 * malloc: outputs, gradients and saved state come from c->arena. */
#include "engine/gemm_packed.h"
#include "engine/ops.h"

#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "engine/par.h"
#include "engine/vmath.h"

#ifdef HZ_DOUBLE
#define R_EXP   exp
#define R_LOG   log
#define R_LOG1P log1p
#define R_SQRT  sqrt
#define R_ERF   erf
#define R_FABS  fabs
#else
#define R_EXP   expf
#define R_LOG   logf
#define R_LOG1P log1pf
#define R_SQRT  sqrtf
#define R_ERF   erff
#define R_FABS  fabsf
#endif

static int wants_grad(const hz_tensor *t)
{
    return t && t->requires_grad;
}

static int norm_axis(int axis, int ndim)
{
    if (axis < 0)
        axis += ndim;
    assert(axis >= 0 && axis < ndim);
    return axis;
}

/* Products of the dims before and after axis: a tensor seen as [outer, shape[axis], inner]. */
static void split_at(const hz_tensor *t, int axis, int64_t *outer, int64_t *inner)
{
    *outer = 1;
    *inner = 1;
    for (int i = 0; i < axis; i++)
        *outer *= t->shape[i];
    for (int i = axis + 1; i < t->ndim; i++)
        *inner *= t->shape[i];
}

/* ================================================================ matmul / linear */

/* C[m,n] = op(A)[m,k] op(B)[k,n] + beta C; A stored [m,k] ([k,m] if ta), B [k,n] ([n,k] if tb). */
static void mm(int ta, int tb, int m, int n, int k, const hz_real *a, const hz_real *b, hz_real *cm,
               hz_real beta)
{
    hz_gemm(ta, tb, m, n, k, 1, a, ta ? m : k, b, tb ? k : n, beta, cm, n);
}

/* Batched products of small matrices (attention scores per batch item and head) run one per
 * thread: OpenBLAS computes a product of m n k <= 4 * 65536 on the calling thread anyway
 * (its SMP threshold), so the batch loop is where the parallelism is. */
#define SMALL_GEMM 262144

typedef struct bmm_job {
    int ta, tb, m, n, k;
    const hz_real *a, *b;
    hz_real *c;
    int64_t sa, sb, sc;
    hz_real beta;
} bmm_job;

static void bmm_range(void *arg, int64_t lo, int64_t hi)
{
    const bmm_job *j = arg;
    for (int64_t i = lo; i < hi; i++)
        mm(j->ta, j->tb, j->m, j->n, j->k, j->a + i * j->sa, j->b + i * j->sb, j->c + i * j->sc,
           j->beta);
}

/* C_i = op(A_i) op(B_i) + beta C_i for i < batch (strides sa, sb, sc in elements). */
static void bmm(int batch, int ta, int tb, int m, int n, int k, const hz_real *a, int64_t sa,
                const hz_real *b, int64_t sb, hz_real *cm, int64_t sc, hz_real beta)
{
    bmm_job j = {ta, tb, m, n, k, a, b, cm, sa, sb, sc, beta};
    int64_t work = (int64_t)m * n * k;
    if (work <= SMALL_GEMM && sc != 0) /* sc == 0: every item accumulates into one C */
        hz_par_for(batch, work, bmm_range, &j);
    else
        bmm_range(&j, 0, batch);
}

/* iarg: 0 ta, 1 tb, 2 batch, 3 M, 4 N, 5 K, 6 b shared */
static void matmul_backward(hz_ctx *c, hz_node *nd)
{
    hz_tensor *a = nd->in[0], *b = nd->in[1];
    int ta = nd->iarg[0], tb = nd->iarg[1], batch = nd->iarg[2];
    int M = nd->iarg[3], N = nd->iarg[4], K = nd->iarg[5], shared = nd->iarg[6];
    const hz_real *g = nd->out->grad;
    int64_t sa = (int64_t)M * K, sc = (int64_t)M * N, sb = shared ? 0 : (int64_t)K * N;
    if (wants_grad(a)) {
        hz_real *ga = hz_grad(c, a);
        if (!ta && shared) /* dA = dC op(B)^T over all batch rows at once */
            mm(0, !tb, batch * M, K, N, g, b->data, ga, 1);
        else if (!ta)
            bmm(batch, 0, !tb, M, K, N, g, sc, b->data, sb, ga, sa, 1);
        else /* A^T: dA = op(B) dC^T, [K, M] */
            bmm(batch, tb, 1, K, M, N, b->data, sb, g, sc, ga, sa, 1);
    }
    if (wants_grad(b)) {
        hz_real *gb = hz_grad(c, b);
        if (!ta && shared) { /* sum over the batch is a GEMM over batch*M rows */
            if (!tb)
                mm(1, 0, K, N, batch * M, a->data, g, gb, 1);
            else
                mm(1, 0, N, K, batch * M, g, a->data, gb, 1);
        } else if (!tb) /* dB = op(A)^T dC, [K, N] */
            bmm(batch, !ta, 0, K, N, M, a->data, sa, g, sc, gb, sb, 1);
        else /* dB = dC^T op(A), [N, K] */
            bmm(batch, 1, ta, N, K, M, g, sc, a->data, sa, gb, sb, 1);
    }
}

hz_tensor *hz_matmul(hz_ctx *c, hz_tensor *a, hz_tensor *b, int ta, int tb)
{
    assert(a->ndim >= 2 && b->ndim >= 2);
    int na = a->ndim;
    int M = ta ? a->shape[na - 1] : a->shape[na - 2];
    int K = ta ? a->shape[na - 2] : a->shape[na - 1];
    int nb = b->ndim;
    int Kb = tb ? b->shape[nb - 1] : b->shape[nb - 2];
    int N = tb ? b->shape[nb - 2] : b->shape[nb - 1];
    assert(K == Kb);
    (void)Kb;
    int shared = nb == 2;
    int batch = 1;
    for (int i = 0; i < na - 2; i++)
        batch *= a->shape[i];
    if (!shared) {
        assert(nb == na);
        for (int i = 0; i < na - 2; i++)
            assert(a->shape[i] == b->shape[i]);
    }
    int shape[HZ_MAXDIM];
    memcpy(shape, a->shape, sizeof shape);
    shape[na - 2] = M;
    shape[na - 1] = N;
    hz_tensor *out = hz_tensor_new(c, na, shape);
    int64_t sa = (int64_t)M * K, sc = (int64_t)M * N, sb = shared ? 0 : (int64_t)K * N;
    if (!ta && shared)
        mm(0, tb, batch * M, N, K, a->data, b->data, out->data, 0);
    else
        bmm(batch, ta, tb, M, N, K, a->data, sa, b->data, sb, out->data, sc, 0);
    hz_node *nd = hz_tape_push(c, matmul_backward, out, a, b, NULL, NULL);
    if (nd) {
        int ia[7] = {ta, tb, batch, M, N, K, shared};
        memcpy(nd->iarg, ia, sizeof ia);
    }
    return out;
}

/* gb[o] += sum over rows of g[r, o], for columns [lo, hi), rows in order. */
typedef struct colsum_job {
    const hz_real *g;
    hz_real *gb;
    int R, O;
} colsum_job;

static void colsum_range(void *arg, int64_t lo, int64_t hi)
{
    const colsum_job *j = arg;
    for (int r = 0; r < j->R; r++) {
        const hz_real *gr = j->g + (int64_t)r * j->O;
        for (int64_t o = lo; o < hi; o++)
            j->gb[o] += gr[o];
    }
}

/* iarg: 0 rows, 1 in, 2 out */
static void linear_backward(hz_ctx *c, hz_node *nd)
{
    hz_tensor *x = nd->in[0], *w = nd->in[1], *bias = nd->in[2];
    int R = nd->iarg[0], I = nd->iarg[1], O = nd->iarg[2];
    const hz_real *g = nd->out->grad; /* (R, O) */
    if (wants_grad(x))
        mm(0, 0, R, I, O, g, w->data, hz_grad(c, x), 1); /* dx = dy W */
    if (wants_grad(w))
        mm(1, 0, O, I, R, g, x->data, hz_grad(c, w), 1); /* dW = dy^T x */
    if (wants_grad(bias)) {
        colsum_job j = {g, hz_grad(c, bias), R, O};
        hz_par_for(O, R, colsum_range, &j);
    }
}

typedef struct bias_job {
    hz_real *out;
    const hz_real *bias;
    int O;
} bias_job;

static void bias_rows(void *arg, int64_t lo, int64_t hi)
{
    const bias_job *j = arg;
    for (int64_t r = lo; r < hi; r++)
        memcpy(j->out + r * j->O, j->bias, (size_t)j->O * sizeof(hz_real));
}

void hz_rows_affine(const hz_ctx *c, int rows, int out, int k, const hz_real *x, const hz_real *w,
                    const hz_real *packed, const hz_real *bias, hz_real *y)
{
    if (bias) { /* rows start as the bias, the product is added */
        bias_job j = {y, bias, out};
        hz_par_for(rows, out, bias_rows, &j);
    }
    hz_real beta = bias ? 1 : 0;
    if (c->grad_on || !packed || !hz_gemm_packed(rows, out, k, x, k, packed, beta, y, out))
        mm(0, 1, rows, out, k, x, w, y, beta);
}

hz_tensor *hz_linear(hz_ctx *c, hz_tensor *x, hz_tensor *w, hz_tensor *bias)
{
    assert(w->ndim == 2);
    int O = w->shape[0], I = w->shape[1];
    assert(x->shape[x->ndim - 1] == I);
    assert(!bias || bias->n == O);
    int R = (int)(x->n / (I ? I : 1));
    int shape[HZ_MAXDIM];
    memcpy(shape, x->shape, sizeof shape);
    shape[x->ndim - 1] = O;
    hz_tensor *out = hz_tensor_new(c, x->ndim, shape);
    hz_rows_affine(c, R, O, I, x->data, w->data, w->packed, bias ? bias->data : NULL, out->data);
    hz_node *nd = hz_tape_push(c, linear_backward, out, x, w, bias, NULL);
    if (nd) {
        nd->iarg[0] = R;
        nd->iarg[1] = I;
        nd->iarg[2] = O;
    }
    return out;
}

/* ================================================================ broadcasting binary ops */

enum { OP_ADD, OP_SUB, OP_MUL, OP_DIV };

/* A broadcast plan: nd (1..4) merged dims, the output contiguous, a and b by strides
 * (0 on broadcast dims).  Saved in the node's iarg: 0 op, 1 nd, then shape/strides in aux. */
typedef struct bplan {
    int nd;
    int64_t shape[HZ_MAXDIM];
    int64_t sa[HZ_MAXDIM], sb[HZ_MAXDIM];
} bplan;

static void bplan_make(bplan *p, const hz_tensor *a, const hz_tensor *b, int *ondim, int *oshape)
{
    int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
    int as[HZ_MAXDIM], bs[HZ_MAXDIM], os[HZ_MAXDIM];
    for (int i = 0; i < HZ_MAXDIM; i++) {
        int ia = i - (HZ_MAXDIM - a->ndim), ib = i - (HZ_MAXDIM - b->ndim);
        as[i] = ia >= 0 ? a->shape[ia] : 1;
        bs[i] = ib >= 0 ? b->shape[ib] : 1;
        assert(as[i] == bs[i] || as[i] == 1 || bs[i] == 1);
        os[i] = as[i] > bs[i] ? as[i] : bs[i];
        if (as[i] == 0 || bs[i] == 0)
            os[i] = 0;
    }
    *ondim = nd;
    for (int i = 0; i < nd; i++)
        oshape[i] = os[HZ_MAXDIM - nd + i];
    /* contiguous strides, zeroed where broadcast */
    int64_t sa[HZ_MAXDIM], sb[HZ_MAXDIM], ra = 1, rb = 1;
    for (int i = HZ_MAXDIM - 1; i >= 0; i--) {
        sa[i] = (as[i] == 1 && os[i] != 1) ? 0 : ra;
        sb[i] = (bs[i] == 1 && os[i] != 1) ? 0 : rb;
        ra *= as[i];
        rb *= bs[i];
    }
    /* drop size-1 dims, then merge dim i into the next one when both operands allow it */
    p->nd = 0;
    for (int i = 0; i < HZ_MAXDIM; i++) {
        if (os[i] == 1)
            continue;
        int k = p->nd;
        if (k > 0 && p->sa[k - 1] == sa[i] * os[i] && p->sb[k - 1] == sb[i] * os[i]) {
            p->shape[k - 1] *= os[i];
            p->sa[k - 1] = sa[i];
            p->sb[k - 1] = sb[i];
            continue;
        }
        p->shape[k] = os[i];
        p->sa[k] = sa[i];
        p->sb[k] = sb[i];
        p->nd++;
    }
    if (p->nd == 0) { /* every dim is 1 */
        p->nd = 1;
        p->shape[0] = 1;
        p->sa[0] = p->sb[0] = 1;
    }
    /* pad at the front to 4 dims so the loops below are fixed */
    int sh = HZ_MAXDIM - p->nd;
    for (int i = HZ_MAXDIM - 1; i >= 0; i--) {
        if (i >= sh) {
            p->shape[i] = p->shape[i - sh];
            p->sa[i] = p->sa[i - sh];
            p->sb[i] = p->sb[i - sh];
        } else {
            p->shape[i] = 1;
            p->sa[i] = p->sb[i] = 0;
        }
    }
}

/* Inner loops over n elements; x, y strides 0 or 1 (or general).  The stride-1 variants are
 * separate so the compiler vectorises them. */
#define BIN_LOOP(EXPR)                                                                             \
    do {                                                                                           \
        if (sx == 1 && sy == 1)                                                                    \
            for (int64_t i = 0; i < n; i++) {                                                      \
                hz_real u = x[i], v = y[i];                                                        \
                o[i] = (EXPR);                                                                     \
            }                                                                                      \
        else if (sy == 0) {                                                                        \
            hz_real v = y[0];                                                                      \
            for (int64_t i = 0; i < n; i++) {                                                      \
                hz_real u = x[i * sx];                                                             \
                o[i] = (EXPR);                                                                     \
            }                                                                                      \
        } else if (sx == 0) {                                                                      \
            hz_real u = x[0];                                                                      \
            for (int64_t i = 0; i < n; i++) {                                                      \
                hz_real v = y[i * sy];                                                             \
                o[i] = (EXPR);                                                                     \
            }                                                                                      \
        } else {                                                                                   \
            for (int64_t i = 0; i < n; i++) {                                                      \
                hz_real u = x[i * sx], v = y[i * sy];                                              \
                o[i] = (EXPR);                                                                     \
            }                                                                                      \
        }                                                                                          \
    } while (0)

static void bin_fwd_inner(int op, hz_real *o, const hz_real *x, int64_t sx, const hz_real *y,
                          int64_t sy, int64_t n)
{
    switch (op) {
    case OP_ADD:
        BIN_LOOP(u + v);
        break;
    case OP_SUB:
        BIN_LOOP(u - v);
        break;
    case OP_MUL:
        BIN_LOOP(u * v);
        break;
    default:
        BIN_LOOP(u / v);
        break;
    }
}

/* Gradient accumulation into gt (stride st, equal to sx for a's gradient, sy for b's): for
 * each output element i, gt[i*st] += EXPR(g, u = x, v = y).  st == 0 is a reduction. */
#define GRAD_LOOP(EXPR)                                                                            \
    do {                                                                                           \
        if (st == 1 && sx == 1 && sy == 1)                                                         \
            for (int64_t i = 0; i < n; i++) {                                                      \
                hz_real gg = g[i], u = x[i], v = y[i];                                             \
                (void)u;                                                                           \
                (void)v;                                                                           \
                gt[i] += (EXPR);                                                                   \
            }                                                                                      \
        else if (st == 0) {                                                                        \
            hz_real acc = 0;                                                                       \
            for (int64_t i = 0; i < n; i++) {                                                      \
                hz_real gg = g[i], u = x[i * sx], v = y[i * sy];                                   \
                (void)u;                                                                           \
                (void)v;                                                                           \
                acc += (EXPR);                                                                     \
            }                                                                                      \
            gt[0] += acc;                                                                          \
        } else {                                                                                   \
            for (int64_t i = 0; i < n; i++) {                                                      \
                hz_real gg = g[i], u = x[i * sx], v = y[i * sy];                                   \
                (void)u;                                                                           \
                (void)v;                                                                           \
                gt[i * st] += (EXPR);                                                              \
            }                                                                                      \
        }                                                                                          \
    } while (0)

static void bin_grad_inner(int op, int which, hz_real *gt, const hz_real *g, const hz_real *x,
                           int64_t sx, const hz_real *y, int64_t sy, int64_t n)
{
    int64_t st = which == 0 ? sx : sy;
    switch (op * 2 + which) {
    case OP_ADD * 2 + 0:
    case OP_ADD * 2 + 1:
    case OP_SUB * 2 + 0:
        GRAD_LOOP(gg);
        break;
    case OP_SUB * 2 + 1:
        GRAD_LOOP(-gg);
        break;
    case OP_MUL * 2 + 0:
        GRAD_LOOP(gg * v);
        break;
    case OP_MUL * 2 + 1:
        GRAD_LOOP(gg * u);
        break;
    case OP_DIV * 2 + 0:
        GRAD_LOOP(gg / v);
        break;
    default: /* d(u/v)/dv = -u / v^2 */
        GRAD_LOOP(-gg * u / (v * v));
        break;
    }
}

/* Offsets into a and b of outer row r of a plan (its first three dims flattened, in order);
 * the row's output starts at r * shape[3]. */
static void plan_row(const bplan *p, int64_t r, int64_t *ia, int64_t *ib)
{
    int64_t i2 = r % p->shape[2], i1 = (r / p->shape[2]) % p->shape[1];
    int64_t i0 = r / (p->shape[2] * p->shape[1]);
    *ia = i0 * p->sa[0] + i1 * p->sa[1] + i2 * p->sa[2];
    *ib = i0 * p->sb[0] + i1 * p->sb[1] + i2 * p->sb[2];
}

typedef struct bin_grad_job {
    const bplan *p;
    int op, which;
    hz_real *gt;
    const hz_real *g, *a, *b;
} bin_grad_job;

/* Gradient into an operand of the output's full shape (no broadcast, so every element of
 * gt is written from one output element): over flat elements [lo, hi). */
static void bin_grad_range(void *arg, int64_t lo, int64_t hi)
{
    const bin_grad_job *j = arg;
    const bplan *p = j->p;
    int64_t sa = p->sa[3], sb = p->sb[3]; /* a one-row plan: the whole tensor is dim 3 */
    bin_grad_inner(j->op, j->which, j->gt + lo, j->g + lo, j->a + lo * sa, sa, j->b + lo * sb, sb,
                   hi - lo);
}

static void bin_grad(const bplan *p, int op, int which, hz_real *gt, const hz_real *g,
                     const hz_real *a, const hz_real *b)
{
    int64_t rows = p->shape[0] * p->shape[1] * p->shape[2];
    int64_t st = which == 0 ? p->sa[3] : p->sb[3];
    if (rows == 1 && st == 1) {
        bin_grad_job j = {p, op, which, gt, g, a, b};
        hz_par_for(p->shape[3], 1, bin_grad_range, &j);
        return;
    }
    /* broadcast operands sum over output elements: in order, on this thread */
    int64_t n = p->shape[3];
    for (int64_t r = 0; r < rows; r++) {
        int64_t ia, ib;
        plan_row(p, r, &ia, &ib);
        bin_grad_inner(op, which, gt + (which == 0 ? ia : ib), g + r * n, a + ia, p->sa[3], b + ib,
                       p->sb[3], n);
    }
}

static void binary_backward(hz_ctx *c, hz_node *nd)
{
    const bplan *p = nd->aux;
    int op = nd->iarg[0];
    hz_tensor *a = nd->in[0], *b = nd->in[1];
    if (wants_grad(a))
        bin_grad(p, op, 0, hz_grad(c, a), nd->out->grad, a->data, b->data);
    if (wants_grad(b))
        bin_grad(p, op, 1, hz_grad(c, b), nd->out->grad, a->data, b->data);
}

typedef struct bin_job {
    const bplan *p;
    int op;
    hz_real *o;
    const hz_real *a, *b;
} bin_job;

/* Forward over outer rows [lo, hi) of the plan, or, when the plan is one flat row, over
 * elements [lo, hi) of it. */
HZ_SIMD_CLONES static void bin_fwd_range(void *arg, int64_t lo, int64_t hi)
{
    const bin_job *j = arg;
    const bplan *p = j->p;
    int64_t n = p->shape[3], rows = p->shape[0] * p->shape[1] * p->shape[2];
    if (rows == 1) {
        bin_fwd_inner(j->op, j->o + lo, j->a + lo * p->sa[3], p->sa[3], j->b + lo * p->sb[3],
                      p->sb[3], hi - lo);
        return;
    }
    for (int64_t r = lo; r < hi; r++) {
        int64_t ia, ib;
        plan_row(p, r, &ia, &ib);
        bin_fwd_inner(j->op, j->o + r * n, j->a + ia, p->sa[3], j->b + ib, p->sb[3], n);
    }
}

static hz_tensor *binary(hz_ctx *c, hz_tensor *a, hz_tensor *b, int op)
{
    bplan plan;
    int nd, shape[HZ_MAXDIM];
    bplan_make(&plan, a, b, &nd, shape);
    hz_tensor *out = hz_tensor_new(c, nd, shape);
    if (out->n > 0) {
        bin_job j = {&plan, op, out->data, a->data, b->data};
        int64_t rows = plan.shape[0] * plan.shape[1] * plan.shape[2];
        if (rows == 1)
            hz_par_for(plan.shape[3], 1, bin_fwd_range, &j);
        else
            hz_par_for(rows, plan.shape[3], bin_fwd_range, &j);
    }
    hz_node *node = hz_tape_push(c, binary_backward, out, a, b, NULL, NULL);
    if (node) {
        node->iarg[0] = op;
        bplan *saved = hz_arena_alloc(&c->arena, sizeof *saved);
        *saved = plan;
        node->aux = saved;
    }
    return out;
}

hz_tensor *hz_add(hz_ctx *c, hz_tensor *a, hz_tensor *b)
{
    return binary(c, a, b, OP_ADD);
}

hz_tensor *hz_sub(hz_ctx *c, hz_tensor *a, hz_tensor *b)
{
    return binary(c, a, b, OP_SUB);
}

hz_tensor *hz_mul(hz_ctx *c, hz_tensor *a, hz_tensor *b)
{
    return binary(c, a, b, OP_MUL);
}

hz_tensor *hz_div(hz_ctx *c, hz_tensor *a, hz_tensor *b)
{
    return binary(c, a, b, OP_DIV);
}

/* ---- scalar variants */
static void scale_backward(hz_ctx *c, hz_node *nd)
{
    hz_real *ga = hz_grad(c, nd->in[0]);
    const hz_real *g = nd->out->grad;
    hz_real s = (hz_real)nd->farg[0];
    for (int64_t i = 0; i < nd->out->n; i++)
        ga[i] += s * g[i];
}

hz_tensor *hz_scale(hz_ctx *c, hz_tensor *a, double s)
{
    hz_tensor *out = hz_tensor_new(c, a->ndim, a->shape);
    hz_real r = (hz_real)s;
    for (int64_t i = 0; i < a->n; i++)
        out->data[i] = a->data[i] * r;
    hz_node *nd = hz_tape_push(c, scale_backward, out, a, NULL, NULL, NULL);
    if (nd)
        nd->farg[0] = s;
    return out;
}

hz_tensor *hz_add_scalar(hz_ctx *c, hz_tensor *a, double s)
{
    hz_tensor *out = hz_tensor_new(c, a->ndim, a->shape);
    hz_real r = (hz_real)s;
    for (int64_t i = 0; i < a->n; i++)
        out->data[i] = a->data[i] + r;
    hz_node *nd = hz_tape_push(c, scale_backward, out, a, NULL, NULL, NULL);
    if (nd)
        nd->farg[0] = 1.0;
    return out;
}

/* ================================================================ reductions */

/* iarg: 0 outer, 1 len, 2 inner; farg 0: scale (1 or 1/len) */
static void reduce_backward(hz_ctx *c, hz_node *nd)
{
    int64_t outer = nd->iarg[0], len = nd->iarg[1], inner = nd->iarg[2];
    hz_real s = (hz_real)nd->farg[0];
    hz_real *ga = hz_grad(c, nd->in[0]);
    const hz_real *g = nd->out->grad;
    for (int64_t o = 0; o < outer; o++) {
        const hz_real *go = g + o * inner;
        for (int64_t k = 0; k < len; k++) {
            hz_real *gr = ga + (o * len + k) * inner;
            for (int64_t j = 0; j < inner; j++)
                gr[j] += s * go[j];
        }
    }
}

static hz_tensor *reduce(hz_ctx *c, hz_tensor *a, int axis, int keepdim, int mean)
{
    axis = norm_axis(axis, a->ndim);
    int64_t outer, inner, len = a->shape[axis];
    split_at(a, axis, &outer, &inner);
    int shape[HZ_MAXDIM], nd = 0;
    for (int i = 0; i < a->ndim; i++) {
        if (i != axis)
            shape[nd++] = a->shape[i];
        else if (keepdim)
            shape[nd++] = 1;
    }
    if (nd == 0) /* a 1-D tensor reduced to a scalar is kept as [1] */
        shape[nd++] = 1;
    hz_tensor *out = hz_tensor_new(c, nd, shape);
    hz_real s = mean ? (hz_real)(1.0 / (double)(len ? len : 1)) : 1;
    if (inner == 1) {
        for (int64_t o = 0; o < outer; o++) {
            const hz_real *x = a->data + o * len;
            hz_real acc = 0;
            for (int64_t k = 0; k < len; k++)
                acc += x[k];
            out->data[o] = acc * s;
        }
    } else {
        for (int64_t o = 0; o < outer; o++) {
            hz_real *y = out->data + o * inner;
            memset(y, 0, (size_t)inner * sizeof(hz_real));
            for (int64_t k = 0; k < len; k++) {
                const hz_real *x = a->data + (o * len + k) * inner;
                for (int64_t j = 0; j < inner; j++)
                    y[j] += x[j];
            }
            if (mean)
                for (int64_t j = 0; j < inner; j++)
                    y[j] *= s;
        }
    }
    hz_node *node = hz_tape_push(c, reduce_backward, out, a, NULL, NULL, NULL);
    if (node) {
        node->iarg[0] = (int)outer;
        node->iarg[1] = (int)len;
        node->iarg[2] = (int)inner;
        node->farg[0] = s;
    }
    return out;
}

hz_tensor *hz_sum(hz_ctx *c, hz_tensor *a, int axis, int keepdim)
{
    return reduce(c, a, axis, keepdim, 0);
}

hz_tensor *hz_mean(hz_ctx *c, hz_tensor *a, int axis, int keepdim)
{
    return reduce(c, a, axis, keepdim, 1);
}

/* ================================================================ shapes */

static void add_into(hz_real *dst, const hz_real *src, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        dst[i] += src[i];
}

static void reshape_backward(hz_ctx *c, hz_node *nd)
{
    add_into(hz_grad(c, nd->in[0]), nd->out->grad, nd->out->n);
}

hz_tensor *hz_reshape(hz_ctx *c, hz_tensor *a, int ndim, const int *shape)
{
    assert(ndim >= 1 && ndim <= HZ_MAXDIM);
    int s[HZ_MAXDIM], infer = -1;
    int64_t known = 1;
    for (int i = 0; i < ndim; i++) {
        s[i] = shape[i];
        if (s[i] == -1) {
            assert(infer < 0);
            infer = i;
        } else
            known *= s[i];
    }
    if (infer >= 0) {
        assert(known > 0 && a->n % known == 0);
        s[infer] = (int)(a->n / known);
    }
    assert(hz_shape_numel(ndim, s) == a->n);
    hz_tensor *out = hz_tensor_wrap(c, a->data, ndim, s);
    hz_tape_push(c, reshape_backward, out, a, NULL, NULL, NULL);
    return out;
}

/* Permuted copy: dst (shape os = src shape permuted by perm) from src, or, when back, the
 * gradient of src accumulated from dst's.  Work is split over the output's rows (its first
 * three dims, padded to 4-D); each output row is one run of os[3] elements. */
typedef struct permute_job {
    const hz_tensor *src;
    const int *perm;
    hz_real *sd, *dd;
    int back;
} permute_job;

static void permute_plan(const hz_tensor *src, const int *perm, int64_t os[HZ_MAXDIM],
                         int64_t ss[HZ_MAXDIM])
{
    int nd = src->ndim;
    int64_t st[HZ_MAXDIM], r = 1;
    for (int i = nd - 1; i >= 0; i--) {
        st[i] = r;
        r *= src->shape[i];
    }
    for (int i = 0; i < HZ_MAXDIM; i++) { /* out shape and matching source strides, 4-D */
        int k = i - (HZ_MAXDIM - nd);
        os[i] = k >= 0 ? src->shape[perm[k]] : 1;
        ss[i] = k >= 0 ? st[perm[k]] : 0;
    }
}

static int64_t permute_rows(const hz_tensor *src, const int *perm)
{
    int64_t os[HZ_MAXDIM], ss[HZ_MAXDIM];
    permute_plan(src, perm, os, ss);
    return os[0] * os[1] * os[2];
}

static void permute_range(void *arg, int64_t lo, int64_t hi)
{
    const permute_job *j = arg;
    int64_t os[HZ_MAXDIM], ss[HZ_MAXDIM];
    permute_plan(j->src, j->perm, os, ss);
    hz_real *sd = j->sd, *dd = j->dd;
    for (int64_t row = lo; row < hi; row++) {
        int64_t i2 = row % os[2], i1 = (row / os[2]) % os[1], i0 = row / (os[2] * os[1]);
        int64_t base = i0 * ss[0] + i1 * ss[1] + i2 * ss[2], io = row * os[3];
        if (!j->back) {
            if (ss[3] == 1)
                memcpy(dd + io, sd + base, (size_t)os[3] * sizeof(hz_real));
            else
                for (int64_t i3 = 0; i3 < os[3]; i3++)
                    dd[io + i3] = sd[base + i3 * ss[3]];
        } else {
            for (int64_t i3 = 0; i3 < os[3]; i3++)
                sd[base + i3 * ss[3]] += dd[io + i3];
        }
    }
}

static void permute_backward(hz_ctx *c, hz_node *nd)
{
    /* a permutation: every gradient element is written from exactly one output element */
    hz_tensor *a = nd->in[0];
    permute_job j = {a, nd->iarg, hz_grad(c, a), nd->out->grad, 1};
    int64_t rows = permute_rows(a, nd->iarg);
    hz_par_for(rows, 1 + a->n / (rows ? rows : 1), permute_range, &j);
}

hz_tensor *hz_permute(hz_ctx *c, hz_tensor *a, const int *perm)
{
    int shape[HZ_MAXDIM], seen = 0;
    for (int i = 0; i < a->ndim; i++) {
        assert(perm[i] >= 0 && perm[i] < a->ndim && !(seen & (1 << perm[i])));
        seen |= 1 << perm[i];
        shape[i] = a->shape[perm[i]];
    }
    hz_tensor *out = hz_tensor_new(c, a->ndim, shape);
    permute_job j = {a, perm, a->data, out->data, 0};
    int64_t rows = permute_rows(a, perm);
    hz_par_for(rows, 1 + a->n / (rows ? rows : 1), permute_range, &j);
    hz_node *nd = hz_tape_push(c, permute_backward, out, a, NULL, NULL, NULL);
    if (nd)
        memcpy(nd->iarg, perm, (size_t)a->ndim * sizeof(int));
    return out;
}

hz_tensor *hz_transpose(hz_ctx *c, hz_tensor *a, int d0, int d1)
{
    d0 = norm_axis(d0, a->ndim);
    d1 = norm_axis(d1, a->ndim);
    int perm[HZ_MAXDIM];
    for (int i = 0; i < a->ndim; i++)
        perm[i] = i;
    perm[d0] = d1;
    perm[d1] = d0;
    return hz_permute(c, a, perm);
}

/* iarg: 0 n, 1 outer, 2 inner, 3 output length along axis; aux: hz_tensor *[n] */
static void concat_backward(hz_ctx *c, hz_node *nd)
{
    hz_tensor **ts = nd->aux;
    int n = nd->iarg[0];
    int64_t outer = nd->iarg[1], inner = nd->iarg[2], olen = nd->iarg[3];
    const hz_real *g = nd->out->grad;
    int64_t off = 0;
    for (int k = 0; k < n; k++) {
        int64_t chunk = ts[k]->n / (outer ? outer : 1);
        if (wants_grad(ts[k])) {
            hz_real *gk = hz_grad(c, ts[k]);
            for (int64_t o = 0; o < outer; o++)
                add_into(gk + o * chunk, g + o * olen * inner + off, chunk);
        }
        off += chunk;
    }
}

hz_tensor *hz_concat(hz_ctx *c, hz_tensor **ts, int n, int axis)
{
    assert(n >= 1);
    axis = norm_axis(axis, ts[0]->ndim);
    int shape[HZ_MAXDIM];
    memcpy(shape, ts[0]->shape, sizeof shape);
    shape[axis] = 0;
    hz_tensor *grad_in = NULL; /* one input needing a gradient makes the tape record */
    for (int k = 0; k < n; k++) {
        assert(ts[k]->ndim == ts[0]->ndim);
        for (int i = 0; i < ts[0]->ndim; i++)
            assert(i == axis || ts[k]->shape[i] == ts[0]->shape[i]);
        shape[axis] += ts[k]->shape[axis];
        if (!grad_in && wants_grad(ts[k]))
            grad_in = ts[k];
    }
    int64_t outer, inner;
    split_at(ts[0], axis, &outer, &inner);
    hz_tensor *out = hz_tensor_new(c, ts[0]->ndim, shape);
    int64_t orow = (int64_t)shape[axis] * inner, off = 0;
    for (int k = 0; k < n; k++) {
        int64_t chunk = (int64_t)ts[k]->shape[axis] * inner;
        for (int64_t o = 0; o < outer; o++)
            memcpy(out->data + o * orow + off, ts[k]->data + o * chunk,
                   (size_t)chunk * sizeof(hz_real));
        off += chunk;
    }
    hz_node *nd = hz_tape_push(c, concat_backward, out, grad_in, NULL, NULL, NULL);
    if (nd) {
        hz_tensor **saved = hz_arena_alloc(&c->arena, (size_t)n * sizeof *saved);
        memcpy(saved, ts, (size_t)n * sizeof *saved);
        nd->aux = saved;
        nd->iarg[0] = n;
        nd->iarg[1] = (int)outer;
        nd->iarg[2] = (int)inner;
        nd->iarg[3] = shape[axis];
    }
    return out;
}

/* iarg: 0 outer, 1 input length along axis, 2 inner, 3 start, 4 len */
static void slice_backward(hz_ctx *c, hz_node *nd)
{
    int64_t outer = nd->iarg[0], alen = nd->iarg[1], inner = nd->iarg[2];
    int64_t start = nd->iarg[3], len = nd->iarg[4];
    hz_real *ga = hz_grad(c, nd->in[0]);
    const hz_real *g = nd->out->grad;
    for (int64_t o = 0; o < outer; o++)
        add_into(ga + (o * alen + start) * inner, g + o * len * inner, len * inner);
}

hz_tensor *hz_slice(hz_ctx *c, hz_tensor *a, int axis, int start, int len)
{
    axis = norm_axis(axis, a->ndim);
    assert(start >= 0 && len >= 0 && start + len <= a->shape[axis]);
    int64_t outer, inner, alen = a->shape[axis];
    split_at(a, axis, &outer, &inner);
    int shape[HZ_MAXDIM];
    memcpy(shape, a->shape, sizeof shape);
    shape[axis] = len;
    hz_tensor *out = hz_tensor_new(c, a->ndim, shape);
    for (int64_t o = 0; o < outer; o++)
        memcpy(out->data + o * len * inner, a->data + (o * alen + start) * inner,
               (size_t)(len * inner) * sizeof(hz_real));
    hz_node *nd = hz_tape_push(c, slice_backward, out, a, NULL, NULL, NULL);
    if (nd) {
        nd->iarg[0] = (int)outer;
        nd->iarg[1] = (int)alen;
        nd->iarg[2] = (int)inner;
        nd->iarg[3] = start;
        nd->iarg[4] = len;
    }
    return out;
}

/* ================================================================ pointwise */

enum { U_GELU, U_ELU, U_RELU, U_SOFTPLUS, U_EXP, U_LOG, U_SQRT };

static const hz_real inv_sqrt2pi = (hz_real)0.39894228040143267794;

#ifndef HZ_DOUBLE
/* Phi(x) = (1 + erf(x / sqrt 2)) / 2 through erfc of |x|, which keeps the relative accuracy
 * of the small tail on either side: for x < 0 Phi = erfc(|x|/sqrt2)/2, else 1 - that. */
static inline float phi_vec(float x)
{
    float h = 0.5f * hz_verfc_pos(__builtin_fabsf(x) * 0.70710678118654752440f);
    return x < 0 ? h : 1.0f - h;
}
#define GELU_CDF(x) phi_vec(x)
#define GELU_EXP(x) hz_vexpf_clamped(x)
#define ELU_EXP(x)  hz_vexpf_clamped(x)
#else
#define GELU_EXP(x) R_EXP(x)
#define ELU_EXP(x)  R_EXP(x)
#define GELU_CDF(x) ((hz_real)0.5 * (1 + R_ERF((x) * (hz_real)0.70710678118654752440)))
#endif

typedef struct unary_job {
    int kind;
    hz_real alpha;
    const hz_real *x, *y, *g;
    hz_real *o;
} unary_job;

/* farg 0: alpha (elu).  Backward reads the input x and the output y. */
HZ_SIMD_CLONES static void unary_backward_range(void *arg, int64_t lo, int64_t hi)
{
    const unary_job *j = arg;
    const hz_real *x = j->x, *y = j->y, *g = j->g;
    hz_real *ga = j->o, alpha = j->alpha;
    switch (j->kind) {
    case U_GELU:
        for (int64_t i = lo; i < hi; i++) {
            hz_real cdf = GELU_CDF(x[i]);
            hz_real pdf = inv_sqrt2pi * GELU_EXP((hz_real)-0.5 * x[i] * x[i]);
            ga[i] += g[i] * (cdf + x[i] * pdf);
        }
        break;
    case U_ELU:
        for (int64_t i = lo; i < hi; i++)
            ga[i] += x[i] > 0 ? g[i] : g[i] * (y[i] + alpha);
        break;
    case U_RELU:
        for (int64_t i = lo; i < hi; i++)
            ga[i] += x[i] > 0 ? g[i] : 0;
        break;
    case U_SOFTPLUS: /* PyTorch: z = e^x; x > 20 ? g : g z / (z + 1) */
        for (int64_t i = lo; i < hi; i++) {
            if (x[i] > 20)
                ga[i] += g[i];
            else {
                hz_real z = R_EXP(x[i]);
                ga[i] += g[i] * z / (z + 1);
            }
        }
        break;
    case U_EXP:
        for (int64_t i = lo; i < hi; i++)
            ga[i] += g[i] * y[i];
        break;
    case U_LOG:
        for (int64_t i = lo; i < hi; i++)
            ga[i] += g[i] / x[i];
        break;
    default: /* sqrt */
        for (int64_t i = lo; i < hi; i++)
            ga[i] += g[i] * (hz_real)0.5 / y[i];
        break;
    }
}

/* rough cost per element, in simple operations, for hz_par_for */
static int64_t unary_cost(int kind)
{
    return kind == U_RELU ? 1 : kind == U_GELU ? 40 : 20;
}

static void unary_backward(hz_ctx *c, hz_node *nd)
{
    hz_tensor *a = nd->in[0];
    unary_job j = {nd->iarg[0],   (hz_real)nd->farg[0], a->data,
                   nd->out->data, nd->out->grad,        hz_grad(c, a)};
    hz_par_for(a->n, unary_cost(j.kind), unary_backward_range, &j);
}

HZ_SIMD_CLONES static void unary_range(void *arg, int64_t lo, int64_t hi)
{
    const unary_job *j = arg;
    const hz_real *x = j->x;
    hz_real *y = j->o, al = j->alpha;
    switch (j->kind) {
    case U_GELU:
        for (int64_t i = lo; i < hi; i++)
            y[i] = x[i] * GELU_CDF(x[i]);
        break;
    case U_ELU:
        for (int64_t i = lo; i < hi; i++)
            y[i] = x[i] > 0 ? x[i] : al * (ELU_EXP(x[i]) - 1);
        break;
    case U_RELU:
        for (int64_t i = lo; i < hi; i++)
            y[i] = x[i] > 0 ? x[i] : 0;
        break;
    case U_SOFTPLUS:
        for (int64_t i = lo; i < hi; i++)
            y[i] = x[i] > 20 ? x[i] : R_LOG1P(R_EXP(x[i]));
        break;
    case U_EXP:
        for (int64_t i = lo; i < hi; i++)
            y[i] = R_EXP(x[i]);
        break;
    case U_LOG:
        for (int64_t i = lo; i < hi; i++)
            y[i] = R_LOG(x[i]);
        break;
    default:
        for (int64_t i = lo; i < hi; i++)
            y[i] = R_SQRT(x[i]);
        break;
    }
}

static hz_tensor *unary(hz_ctx *c, hz_tensor *a, int kind, double alpha)
{
    hz_tensor *out = hz_tensor_new(c, a->ndim, a->shape);
    unary_job j = {kind, (hz_real)alpha, a->data, NULL, NULL, out->data};
    hz_par_for(a->n, unary_cost(kind), unary_range, &j);
    hz_node *nd = hz_tape_push(c, unary_backward, out, a, NULL, NULL, NULL);
    if (nd) {
        nd->iarg[0] = kind;
        nd->farg[0] = alpha;
    }
    return out;
}

hz_tensor *hz_gelu(hz_ctx *c, hz_tensor *a)
{
    return unary(c, a, U_GELU, 0);
}

hz_tensor *hz_elu(hz_ctx *c, hz_tensor *a, double alpha)
{
    return unary(c, a, U_ELU, alpha);
}

hz_tensor *hz_relu(hz_ctx *c, hz_tensor *a)
{
    return unary(c, a, U_RELU, 0);
}

hz_tensor *hz_softplus(hz_ctx *c, hz_tensor *a)
{
    return unary(c, a, U_SOFTPLUS, 0);
}

hz_tensor *hz_exp(hz_ctx *c, hz_tensor *a)
{
    return unary(c, a, U_EXP, 0);
}

hz_tensor *hz_ln(hz_ctx *c, hz_tensor *a)
{
    return unary(c, a, U_LOG, 0);
}

hz_tensor *hz_sqrt(hz_ctx *c, hz_tensor *a)
{
    return unary(c, a, U_SQRT, 0);
}

/* ================================================================ losses */

/* iarg 0: 0 mse, 1 mae; aux: the target tensor (never differentiated) */
static void loss_backward(hz_ctx *c, hz_node *nd)
{
    hz_tensor *p = nd->in[0];
    const hz_tensor *t = nd->aux;
    hz_real *gp = hz_grad(c, p);
    int64_t n = p->n;
    hz_real s = nd->out->grad[0] / (hz_real)(n ? n : 1);
    if (nd->iarg[0] == 0) {
        s *= 2;
        for (int64_t i = 0; i < n; i++)
            gp[i] += s * (p->data[i] - t->data[i]);
    } else {
        for (int64_t i = 0; i < n; i++) {
            hz_real d = p->data[i] - t->data[i];
            gp[i] += d > 0 ? s : d < 0 ? -s : 0;
        }
    }
}

static hz_tensor *loss(hz_ctx *c, hz_tensor *pred, hz_tensor *target, int mae)
{
    assert(pred->n == target->n);
    hz_tensor *out = hz_tensor_new4(c, 1, 1, 0, 0, 0);
    double acc = 0; /* double accumulator: the float sum of many squares drifts */
    for (int64_t i = 0; i < pred->n; i++) {
        double d = (double)pred->data[i] - (double)target->data[i];
        acc += mae ? fabs(d) : d * d;
    }
    out->data[0] = (hz_real)(acc / (double)(pred->n ? pred->n : 1));
    hz_node *nd = hz_tape_push(c, loss_backward, out, pred, NULL, NULL, NULL);
    if (nd) {
        nd->iarg[0] = mae;
        nd->aux = target;
    }
    return out;
}

hz_tensor *hz_mse_loss(hz_ctx *c, hz_tensor *pred, hz_tensor *target)
{
    return loss(c, pred, target, 0);
}

hz_tensor *hz_mae_loss(hz_ctx *c, hz_tensor *pred, hz_tensor *target)
{
    return loss(c, pred, target, 1);
}
