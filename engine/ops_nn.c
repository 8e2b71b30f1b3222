/* ops_nn.c — neural-network ops with their backward passes (ops.h, "ops_nn.c" section):
 * softmax (optional causal or diagonal mask), LayerNorm, BatchNorm1d, Conv1d (zero / circular /
 * replicate padding, dilation), MaxPool1d, inverted dropout, row gather/scatter, cumsum.
 *
 * Numerics follow PyTorch as listed in docs/MODELS.md (LayerNorm/BatchNorm eps inside the
 * sqrt, biased variance to normalise, unbiased variance for BatchNorm's running_var,
 * momentum rule running = (1-m) running + m batch), §2.7 (Informer distilling: circular
 * conv, BatchNorm, MaxPool k3 s2 p1 with -inf padding) and §4.2 (NILMFormer dilated
 * zero-padded convs and replicate-padded head).
 *
 * Conv1d is im2col + one GEMM: with the weight permuted to [Cout, K, Cin], each im2col row
 * for output step t is K contiguous copies of input rows (one memcpy each), so
 * y [B*Lout, Cout] = col [B*Lout, K*Cin] · wp^T.  Backward is two GEMMs plus col2im.
 * All memory comes from c->arena; nothing here calls malloc. */
#include <assert.h>
#include <math.h>
#include <string.h>

#include "engine/gemm_packed.h"
#include "engine/ops.h"
#include "engine/par.h"
#include "engine/vmath.h"
#include "engine/tensor.h"

#ifdef HZ_DOUBLE
#define REXP(x) exp(x)
#else
#define REXP(x) hz_vexpf_clamped(x)
#endif

static void *arena_get(hz_ctx *c, size_t bytes)
{
    return hz_arena_alloc(&c->arena, bytes ? bytes : 1);
}

static hz_tensor *new_like(hz_ctx *c, const hz_tensor *a)
{
    return hz_tensor_new(c, a->ndim, a->shape);
}

/* Gradient of t if it takes one, else NULL (so buffers never get an arena gradient). */
static hz_real *grad_of(hz_ctx *c, hz_tensor *t)
{
    return (t && t->requires_grad) ? hz_grad(c, t) : NULL;
}

/* ======================================================================== softmax */

/* Number of leading keys row i may see; Lk when there is no causal mask. */
static int softmax_visible(int mask, int i, int Lq, int Lk)
{
    if (mask != HZ_MASK_CAUSAL)
        return Lk;
    int v = i + (Lk - Lq) + 1;
    return v < 0 ? 0 : (v > Lk ? Lk : v);
}

typedef struct softmax_bw_job {
    const hz_real *y, *dy;
    hz_real *da;
    int Lk;
    hz_real scale; /* the forward's factor on its input */
} softmax_bw_job;

static void softmax_bw_rows(void *arg, int64_t lo, int64_t hi)
{
    const softmax_bw_job *j = arg;
    int Lk = j->Lk;
    for (int64_t r = lo; r < hi; r++) {
        const hz_real *yr = j->y + r * Lk, *dyr = j->dy + r * Lk;
        hz_real *dar = j->da + r * Lk;
        double dot = 0;
        for (int k = 0; k < Lk; k++)
            dot += (double)yr[k] * dyr[k];
        /* masked entries have y = 0, so they receive nothing */
        if (j->scale == 1)
            for (int k = 0; k < Lk; k++)
                dar[k] += yr[k] * (hz_real)(dyr[k] - dot);
        else
            for (int k = 0; k < Lk; k++)
                dar[k] += j->scale * (yr[k] * (hz_real)(dyr[k] - dot));
    }
}

/* farg: 0 scale */
static void softmax_backward(hz_ctx *c, hz_node *n)
{
    hz_tensor *a = n->in[0], *y = n->out;
    int Lk = a->shape[a->ndim - 1];
    softmax_bw_job j = {y->data, y->grad, hz_grad(c, a), Lk, (hz_real)n->farg[0]};
    hz_par_for(a->n / (Lk ? Lk : 1), 4 * (int64_t)Lk, softmax_bw_rows, &j);
}

/* Sum of x[0..n) in double with eight independent partial sums, so the loop vectorises; the
 * order is fixed, so results do not depend on threads. */
static inline double sum8(const hz_real *x, int n)
{
    double acc[8] = {0};
    int j = 0;
    for (; j + 8 <= n; j += 8)
        for (int k = 0; k < 8; k++)
            acc[k] += x[j + k];
    double s = 0;
    for (; j < n; j++)
        s += x[j];
    return s + ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

typedef struct softmax_job {
    const hz_real *x;
    hz_real *y;
    int mask, Lq, Lk;
    hz_real scale;
} softmax_job;

/* Softmax of scale x over one row of n keys, in place in o (o may be x); key `skip` (-1:
 * none) gets 0.  Straight loops over the row, so they vectorise in the SIMD clones of the
 * callers; the maximum is taken over x itself (scale > 0), the skipped key set to -inf
 * first so that its exponential is exactly 0 (REXP clamps). */
static inline void softmax_row(const hz_real *x, hz_real *o, int n, int skip, hz_real scale)
{
    if (skip >= 0) {
        if (o != x)
            memcpy(o, x, (size_t)n * sizeof *o);
        o[skip] = -INFINITY;
        x = o;
    }
    hz_real m = x[0];
    for (int k = 1; k < n; k++)
        m = x[k] > m ? x[k] : m;
    m *= scale;
    for (int k = 0; k < n; k++)
        o[k] = REXP(scale * x[k] - m);
    hz_real inv = (hz_real)(1.0 / sum8(o, n));
    for (int k = 0; k < n; k++)
        o[k] *= inv;
}

HZ_SIMD_CLONES static void softmax_rows(void *arg, int64_t lo, int64_t hi)
{
    const softmax_job *j = arg;
    int Lk = j->Lk;
    for (int64_t r = lo; r < hi; r++) {
        const hz_real *x = j->x + r * Lk;
        hz_real *o = j->y + r * Lk;
        int i = (int)(r % j->Lq);
        if (j->mask == HZ_MASK_DIAG && i < Lk && Lk > 1) {
            softmax_row(x, o, Lk, i, j->scale);
            continue;
        }
        int vis = softmax_visible(j->mask, i, j->Lq, Lk);
        if (vis == 0) { /* fully masked row (Lq > Lk only): zeros instead of NaN */
            memset(o, 0, (size_t)Lk * sizeof *o);
            continue;
        }
        softmax_row(x, o, vis, -1, j->scale);
        for (int k = vis; k < Lk; k++)
            o[k] = 0;
    }
}

hz_tensor *hz_softmax_scaled(hz_ctx *c, hz_tensor *a, double scale, int mask)
{
    assert(mask >= HZ_MASK_NONE && mask <= HZ_MASK_DIAG);
    assert(a->ndim >= 1 && (!mask || a->ndim >= 2));
    assert(scale > 0);
    int Lk = a->shape[a->ndim - 1];
    int Lq = mask ? a->shape[a->ndim - 2] : 1;
    int64_t rows = a->n / (Lk ? Lk : 1);
    hz_tensor *y = new_like(c, a);
    softmax_job j = {a->data, y->data, mask, Lq, Lk, (hz_real)scale};
    hz_par_for(rows, 20 * (int64_t)Lk, softmax_rows, &j);
    hz_node *nd = hz_tape_push(c, softmax_backward, y, a, NULL, NULL, NULL);
    if (nd)
        nd->farg[0] = (hz_real)scale;
    return y;
}

hz_tensor *hz_softmax(hz_ctx *c, hz_tensor *a, int mask)
{
    return hz_softmax_scaled(c, a, 1.0, mask);
}

/* ======================================================================== attention */

/* Rows of a product handed to one hz_gemm call: OpenBLAS runs m n k <= 4 * 65536 on the
 * calling thread (its SMP threshold), so the fused kernel's products stay under it and the
 * parallelism is over (batch, head, block of query rows). */
#define MHA_GEMM_WORK 262144
#define MHA_MAX_ROWS  64
#define MHA_MIN_ROWS  8

typedef struct mha_job {
    const hz_real *q, *k, *v;
    hz_real *o, *scr; /* scr: parts x rb x S */
    int L, S, H, E, rb, nblk, mask, parts;
    int64_t items;
    hz_real scale;
} mha_job;

/* Part t of the items (batch, head, row block), with its own scratch block of scores. */
HZ_SIMD_CLONES static void mha_parts(void *arg, int64_t lo, int64_t hi)
{
    const mha_job *j = arg;
    int d = j->H * j->E, S = j->S;
    for (int64_t t = lo; t < hi; t++) {
        hz_real *sc = j->scr + t * (int64_t)j->rb * S;
        for (int64_t it = t * j->items / j->parts; it < (t + 1) * j->items / j->parts; it++) {
            int64_t bh = it / j->nblk;
            int b = (int)(bh / j->H), h = (int)(bh % j->H), r0 = (int)(it % j->nblk) * j->rb;
            int rows = j->L - r0 < j->rb ? j->L - r0 : j->rb;
            const hz_real *kb = j->k + (int64_t)b * S * d + h * j->E;
            const hz_real *vb = j->v + (int64_t)b * S * d + h * j->E;
            hz_gemm(0, 1, rows, S, j->E, 1, j->q + ((int64_t)b * j->L + r0) * d + h * j->E, d, kb,
                    d, 0, sc, S);
            for (int r = 0; r < rows; r++) {
                hz_real *x = sc + (int64_t)r * S;
                int i = r0 + r;
                if (j->mask == HZ_MASK_DIAG && i < S && S > 1) {
                    softmax_row(x, x, S, i, j->scale);
                    continue;
                }
                int vis = softmax_visible(j->mask, i, j->L, S);
                if (vis > 0)
                    softmax_row(x, x, vis, -1, j->scale);
                for (int k = vis; k < S; k++)
                    x[k] = 0;
            }
            hz_gemm(0, 0, rows, j->E, S, 1, sc, S, vb, d, 0,
                    j->o + ((int64_t)b * j->L + r0) * d + h * j->E, d);
        }
    }
}

/* [B, L, H E] -> [B, H, L, E] and back, through the differentiable copies. */
static hz_tensor *heads_split(hz_ctx *c, hz_tensor *x, int H)
{
    int s4[4] = {x->shape[0], x->shape[1], H, x->shape[2] / H}, perm[4] = {0, 2, 1, 3};
    return hz_permute(c, hz_reshape(c, x, 4, s4), perm);
}

static hz_tensor *heads_merge(hz_ctx *c, hz_tensor *x)
{
    int perm[4] = {0, 2, 1, 3}, s3[3] = {x->shape[0], x->shape[2], x->shape[1] * x->shape[3]};
    return hz_reshape(c, hz_permute(c, x, perm), 3, s3);
}

hz_tensor *hz_mha(hz_ctx *c, hz_tensor *q, hz_tensor *k, hz_tensor *v, int H, double scale,
                  int mask, double p)
{
    assert(q->ndim == 3 && k->ndim == 3 && v->ndim == 3 && H > 0 && q->shape[2] % H == 0);
    assert(k->shape[0] == q->shape[0] && v->shape[0] == q->shape[0]);
    assert(k->shape[2] == q->shape[2] && v->shape[2] == q->shape[2]);
    assert(k->shape[1] == v->shape[1]);
    int B = q->shape[0], L = q->shape[1], S = k->shape[1], E = q->shape[2] / H;
    int tape = c->grad_on && (q->requires_grad || k->requires_grad || v->requires_grad);
    int rb = (int)(MHA_GEMM_WORK / ((int64_t)S * E));
    rb = rb > MHA_MAX_ROWS ? MHA_MAX_ROWS : rb;
    if (tape || (c->training && p > 0) || rb < MHA_MIN_ROWS || L < 1 || S < 1) {
        hz_tensor *qh = heads_split(c, q, H), *kh = heads_split(c, k, H);
        hz_tensor *vh = heads_split(c, v, H);
        hz_tensor *pr = hz_softmax_scaled(c, hz_matmul(c, qh, kh, 0, 1), scale, mask);
        return heads_merge(c, hz_matmul(c, hz_dropout(c, pr, p), vh, 0, 0));
    }
    int nblk = (L + rb - 1) / rb;
    rb = (L + nblk - 1) / nblk; /* blocks of even size */
    int parts = hz_par_threads();
    hz_tensor *o = hz_tensor_new(c, 3, q->shape);
    hz_real *scr = arena_get(c, (size_t)parts * rb * S * sizeof(hz_real));
    mha_job j = {q->data,
                 k->data,
                 v->data,
                 o->data,
                 scr,
                 L,
                 S,
                 H,
                 E,
                 rb,
                 nblk,
                 mask,
                 parts,
                 (int64_t)B * H * nblk,
                 (hz_real)scale};
    hz_par_for(parts, 4 * (int64_t)B * H * L * S * E / parts, mha_parts, &j);
    return o;
}

/* ======================================================================== layernorm */

typedef struct ln_bw_job {
    const hz_real *x, *dy, *g, *mean, *rstd;
    hz_real *dx, *dg, *db;
    int D;
    int64_t rows_n;
} ln_bw_job;

/* dx for rows [lo, hi): each row on its own. */
static void ln_bw_rows(void *arg, int64_t lo, int64_t hi)
{
    const ln_bw_job *j = arg;
    int D = j->D;
    for (int64_t r = lo; r < hi; r++) {
        const hz_real *xr = j->x + r * D, *dyr = j->dy + r * D;
        hz_real mu = j->mean[r], rs = j->rstd[r];
        double s1 = 0, s2 = 0; /* mean of dxhat and of dxhat * xhat */
        for (int k = 0; k < D; k++) {
            hz_real xh = (xr[k] - mu) * rs;
            hz_real dxh = dyr[k] * (j->g ? j->g[k] : 1);
            s1 += dxh;
            s2 += (double)dxh * xh;
        }
        hz_real m1 = (hz_real)(s1 / D), m2 = (hz_real)(s2 / D);
        hz_real *dxr = j->dx + r * D;
        for (int k = 0; k < D; k++) {
            hz_real xh = (xr[k] - mu) * rs;
            hz_real dxh = dyr[k] * (j->g ? j->g[k] : 1);
            dxr[k] += rs * (dxh - m1 - xh * m2);
        }
    }
}

/* dgamma, dbeta for columns [lo, hi), summed over every row in order (so the sums do not
 * depend on how columns are split). */
static void ln_bw_cols(void *arg, int64_t lo, int64_t hi)
{
    const ln_bw_job *j = arg;
    int D = j->D;
    for (int64_t r = 0; r < j->rows_n; r++) {
        const hz_real *xr = j->x + r * D, *dyr = j->dy + r * D;
        hz_real mu = j->mean[r], rs = j->rstd[r];
        for (int64_t k = lo; k < hi; k++) {
            if (j->dg)
                j->dg[k] += dyr[k] * ((xr[k] - mu) * rs);
            if (j->db)
                j->db[k] += dyr[k];
        }
    }
}

/* aux: mean[rows], rstd[rows] */
static void layernorm_backward(hz_ctx *c, hz_node *n)
{
    hz_tensor *x = n->in[0], *gamma = n->in[1], *beta = n->in[2], *y = n->out;
    int D = x->shape[x->ndim - 1];
    int64_t rows = x->n / (D ? D : 1);
    const hz_real *mean = n->aux;
    ln_bw_job j = {x->data,       y->grad,           gamma ? gamma->data : NULL, mean, mean + rows,
                   grad_of(c, x), grad_of(c, gamma), grad_of(c, beta),           D,    rows};
    if (j.dx)
        hz_par_for(rows, 8 * (int64_t)D, ln_bw_rows, &j);
    if (j.dg || j.db)
        hz_par_for(D, 4 * rows, ln_bw_cols, &j);
}

/* Sum of (x - mu)^2, the same way. */
static inline double sqdev8(const hz_real *x, int n, double mu)
{
    double acc[8] = {0};
    int j = 0;
    for (; j + 8 <= n; j += 8)
        for (int k = 0; k < 8; k++) {
            double d = x[j + k] - mu;
            acc[k] += d * d;
        }
    double s = 0;
    for (; j < n; j++)
        s += (x[j] - mu) * (x[j] - mu);
    return s + ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

typedef struct ln_job {
    const hz_real *x, *g, *b;
    hz_real *y, *stats;
    int64_t rows;
    int D;
    double eps;
} ln_job;

HZ_SIMD_CLONES static void layernorm_rows(void *arg, int64_t lo, int64_t hi)
{
    const ln_job *j = arg;
    int D = j->D;
    for (int64_t r = lo; r < hi; r++) {
        const hz_real *xr = j->x + r * D;
        hz_real *yr = j->y + r * D;
        double mu = sum8(xr, D) / D;
        double rs = 1.0 / sqrt(sqdev8(xr, D, mu) / D + j->eps);
        j->stats[r] = (hz_real)mu;
        j->stats[j->rows + r] = (hz_real)rs;
        hz_real m = (hz_real)mu, s = (hz_real)rs;
        if (j->g && j->b)
            for (int k = 0; k < D; k++)
                yr[k] = (xr[k] - m) * s * j->g[k] + j->b[k];
        else
            for (int k = 0; k < D; k++)
                yr[k] = (xr[k] - m) * s * (j->g ? j->g[k] : 1) + (j->b ? j->b[k] : 0);
    }
}

hz_tensor *hz_layernorm(hz_ctx *c, hz_tensor *x, hz_tensor *gamma, hz_tensor *beta, double eps)
{
    int D = x->shape[x->ndim - 1];
    assert(!gamma || gamma->n == D);
    assert(!beta || beta->n == D);
    int64_t rows = x->n / (D ? D : 1);
    hz_tensor *y = new_like(c, x);
    hz_real *stats = arena_get(c, 2 * (size_t)rows * sizeof *stats);
    ln_job j = {
        x->data, gamma ? gamma->data : NULL, beta ? beta->data : NULL, y->data, stats, rows, D,
        eps};
    hz_par_for(rows, 4 * (int64_t)D, layernorm_rows, &j);
    hz_node *n = hz_tape_push(c, layernorm_backward, y, x, gamma, beta, NULL);
    if (n)
        n->aux = stats;
    return y;
}

/* ======================================================================== batchnorm1d */

/* aux: mean[C], rstd[C] used by the forward; iarg[0] = 1 when they were batch statistics. */
static void batchnorm_backward(hz_ctx *c, hz_node *n)
{
    hz_tensor *x = n->in[0], *gamma = n->in[1], *beta = n->in[2], *y = n->out;
    const hz_real *dy = y->grad;
    int C = x->shape[x->ndim - 1];
    int64_t N = x->n / (C ? C : 1);
    int batch_stats = n->iarg[0];
    const hz_real *mean = n->aux, *rstd = mean + C;
    hz_real *dx = grad_of(c, x), *dg = grad_of(c, gamma), *db = grad_of(c, beta);
    double *s1 = arena_get(c, 2 * (size_t)C * sizeof *s1), *s2 = s1 + C; /* sum dy, dy*xhat */
    memset(s1, 0, 2 * (size_t)C * sizeof *s1);
    for (int64_t r = 0; r < N; r++) {
        const hz_real *xr = x->data + r * C, *dyr = dy + r * C;
        for (int j = 0; j < C; j++) {
            s1[j] += dyr[j];
            s2[j] += (double)dyr[j] * ((xr[j] - mean[j]) * rstd[j]);
        }
    }
    for (int j = 0; j < C; j++) {
        if (dg)
            dg[j] += (hz_real)s2[j];
        if (db)
            db[j] += (hz_real)s1[j];
    }
    if (!dx)
        return;
    for (int64_t r = 0; r < N; r++) {
        const hz_real *xr = x->data + r * C, *dyr = dy + r * C;
        hz_real *dxr = dx + r * C;
        for (int j = 0; j < C; j++) {
            hz_real g = (gamma ? gamma->data[j] : 1) * rstd[j];
            if (batch_stats) {
                hz_real xh = (xr[j] - mean[j]) * rstd[j];
                dxr[j] += g * (dyr[j] - (hz_real)(s1[j] / N) - xh * (hz_real)(s2[j] / N));
            } else {
                dxr[j] += g * dyr[j];
            }
        }
    }
}

hz_tensor *hz_batchnorm1d(hz_ctx *c, hz_tensor *x, hz_tensor *gamma, hz_tensor *beta,
                          hz_tensor *running_mean, hz_tensor *running_var, double momentum,
                          double eps)
{
    int C = x->shape[x->ndim - 1]; // x: (B, L, C) or (N, C)
    int64_t N = x->n / (C ? C : 1);
    assert(!gamma || gamma->n == C);
    assert(!beta || beta->n == C);
    assert(!running_mean || running_mean->n == C);
    assert(!running_var || running_var->n == C);
    assert(c->training || (running_mean && running_var));
    hz_tensor *y = new_like(c, x);
    hz_real *stats = arena_get(c, 2 * (size_t)C * sizeof *stats);
    hz_real *mean = stats, *rstd = stats + C;
    if (c->training) {
        assert(N > 1);
        double *s = arena_get(c, 2 * (size_t)C * sizeof *s), *ss = s + C;
        memset(s, 0, 2 * (size_t)C * sizeof *s);
        for (int64_t r = 0; r < N; r++)
            for (int j = 0; j < C; j++)
                s[j] += x->data[r * C + j];
        for (int j = 0; j < C; j++)
            s[j] /= (double)N;
        for (int64_t r = 0; r < N; r++)
            for (int j = 0; j < C; j++) {
                double d = x->data[r * C + j] - s[j];
                ss[j] += d * d;
            }
        for (int j = 0; j < C; j++) {
            double var = ss[j] / (double)N; /* biased: normalises */
            mean[j] = (hz_real)s[j];
            rstd[j] = (hz_real)(1.0 / sqrt(var + eps));
            if (running_mean)
                running_mean->data[j] =
                    (hz_real)((1 - momentum) * running_mean->data[j] + momentum * s[j]);
            if (running_var) /* unbiased: the running estimate (PyTorch rule) */
                running_var->data[j] = (hz_real)((1 - momentum) * running_var->data[j] +
                                                 momentum * ss[j] / (double)(N - 1));
        }
    } else {
        for (int j = 0; j < C; j++) {
            mean[j] = running_mean->data[j];
            rstd[j] = (hz_real)(1.0 / sqrt((double)running_var->data[j] + eps));
        }
    }
    for (int64_t r = 0; r < N; r++) {
        const hz_real *xr = x->data + r * C;
        hz_real *yr = y->data + r * C;
        for (int j = 0; j < C; j++) {
            hz_real v = (xr[j] - mean[j]) * rstd[j];
            if (gamma)
                v *= gamma->data[j];
            if (beta)
                v += beta->data[j];
            yr[j] = v;
        }
    }
    hz_node *n = hz_tape_push(c, batchnorm_backward, y, x, gamma, beta, NULL);
    if (n) {
        n->aux = stats;
        n->iarg[0] = c->training;
    }
    return y;
}

/* ======================================================================== conv1d */

/* Source time index for padded position p (in [-pad, L + pad)), or -1 for a zero. */
static int pad_src(int p, int L, int mode)
{
    if (p >= 0 && p < L)
        return p;
    switch (mode) {
    case HZ_PAD_CIRCULAR:
        return ((p % L) + L) % L;
    case HZ_PAD_REPLICATE:
        return p < 0 ? 0 : L - 1;
    default:
        return -1;
    }
}

typedef struct conv_saved {
    hz_real *col; /* (B*Lout, K*Cin); NULL for the kernel-1 no-pad case (col = x) */
    hz_real *wp;  /* (Cout, K*Cin) weight permuted from (Cout, Cin, K); NULL when K == 1 */
} conv_saved;

/* iarg: B, L, Cin, Cout, K, pad, pad_mode, dilation */
static void conv1d_backward(hz_ctx *c, hz_node *n)
{
    hz_tensor *x = n->in[0], *w = n->in[1], *bias = n->in[2], *y = n->out;
    int B = n->iarg[0], L = n->iarg[1], Cin = n->iarg[2], Cout = n->iarg[3], K = n->iarg[4];
    int pad = n->iarg[5], mode = n->iarg[6], dil = n->iarg[7];
    int Lout = y->shape[1], M = B * Lout, KC = K * Cin;
    const conv_saved *sv = n->aux;
    const hz_real *dy = y->grad; // (B*Lout, Cout)
    const hz_real *col = sv->col ? sv->col : x->data;
    const hz_real *wp = sv->wp ? sv->wp : w->data;

    hz_real *db = grad_of(c, bias);
    if (db)
        for (int r = 0; r < M; r++)
            for (int o = 0; o < Cout; o++)
                db[o] += dy[(int64_t)r * Cout + o];

    hz_real *dw = grad_of(c, w);
    if (dw) {
        if (K == 1) { /* layouts agree: accumulate straight into dw */
            hz_gemm(1, 0, Cout, KC, M, 1, dy, Cout, col, KC, 1, dw, KC);
        } else {
            hz_real *dwp = arena_get(c, (size_t)Cout * KC * sizeof *dwp); // (Cout, K*Cin)
            hz_gemm(1, 0, Cout, KC, M, 1, dy, Cout, col, KC, 0, dwp, KC);
            for (int o = 0; o < Cout; o++)
                for (int ci = 0; ci < Cin; ci++)
                    for (int k = 0; k < K; k++)
                        dw[((int64_t)o * Cin + ci) * K + k] += dwp[(int64_t)o * KC + k * Cin + ci];
        }
    }

    hz_real *dx = grad_of(c, x);
    if (!dx)
        return;
    if (!sv->col) { /* col is x itself */
        hz_gemm(0, 0, M, Cin, Cout, 1, dy, Cout, wp, KC, 1, dx, Cin);
        return;
    }
    hz_real *dcol = arena_get(c, (size_t)M * KC * sizeof *dcol); // (B*Lout, K*Cin)
    hz_gemm(0, 0, M, KC, Cout, 1, dy, Cout, wp, KC, 0, dcol, KC);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < Lout; t++) {
            const hz_real *dr = dcol + ((int64_t)b * Lout + t) * KC;
            for (int k = 0; k < K; k++) {
                int s = pad_src(t + k * dil - pad, L, mode);
                if (s < 0)
                    continue;
                hz_real *dxr = dx + ((int64_t)b * L + s) * Cin;
                const hz_real *src = dr + k * Cin;
                for (int ci = 0; ci < Cin; ci++)
                    dxr[ci] += src[ci];
            }
        }
}

typedef struct im2col_job {
    const hz_real *x;
    hz_real *col;
    int L, Cin, K, Lout, pad, pad_mode, dilation, ci_major;
} im2col_job;

/* Column rows [lo, hi) of the flattened (b, t): k-major [k * Cin + ci] (one copy per tap) or
 * channel-major [ci * K + k]. */
static void im2col_rows(void *arg, int64_t lo, int64_t hi)
{
    const im2col_job *j = arg;
    int Cin = j->Cin, K = j->K, KC = K * Cin;
    for (int64_t row = lo; row < hi; row++) {
        int64_t b = row / j->Lout;
        int t = (int)(row % j->Lout);
        hz_real *cr = j->col + row * KC;
        for (int k = 0; k < K; k++) {
            int s = pad_src(t + k * j->dilation - j->pad, j->L, j->pad_mode);
            const hz_real *xs = s < 0 ? NULL : j->x + (b * j->L + s) * Cin;
            if (!j->ci_major) {
                if (xs)
                    memcpy(cr + k * Cin, xs, (size_t)Cin * sizeof *cr);
                else
                    memset(cr + k * Cin, 0, (size_t)Cin * sizeof *cr);
            } else
                for (int ci = 0; ci < Cin; ci++)
                    cr[ci * K + k] = xs ? xs[ci] : 0;
        }
    }
}

hz_tensor *hz_conv1d(hz_ctx *c, hz_tensor *x, hz_tensor *w, hz_tensor *bias, int pad, int pad_mode,
                     int dilation)
{
    assert(x->ndim == 3 && w->ndim == 3);
    int B = x->shape[0], L = x->shape[1], Cin = x->shape[2]; // x: (B, L, Cin)
    int Cout = w->shape[0], K = w->shape[2];                 // w: (Cout, Cin, K)
    assert(w->shape[1] == Cin && K >= 1 && dilation >= 1 && pad >= 0);
    assert(!bias || bias->n == Cout);
    assert(pad_mode == HZ_PAD_ZERO ||
           ((pad_mode == HZ_PAD_CIRCULAR || pad_mode == HZ_PAD_REPLICATE) && L > 0 && pad <= L));
    int Lout = L + 2 * pad - dilation * (K - 1);
    assert(Lout >= 1);
    int M = B * Lout, KC = K * Cin;
    hz_tensor *y = hz_tensor_new4(c, 3, B, Lout, Cout, 0); // (B, Lout, Cout)

    conv_saved *sv = arena_get(c, sizeof *sv);
    sv->col = NULL;
    sv->wp = NULL;
    /* Inference with fewer output rows than channels (batch 1): lay the columns out
     * channel-major, [t][ci * K + k], which is the weight's own layout, instead of re-laying
     * the whole weight k-major on every call.  Training keeps the k-major layout its
     * backward reads. */
    int packed = !c->grad_on && w->packed != NULL && M <= HZ_PACK_MAX_M;
    int ci_major = K > 1 && !c->grad_on && (M < Cout || packed);
    if (K > 1 && !ci_major) {
        sv->wp = arena_get(c, (size_t)Cout * KC * sizeof *sv->wp);
        for (int o = 0; o < Cout; o++)
            for (int ci = 0; ci < Cin; ci++)
                for (int k = 0; k < K; k++)
                    sv->wp[(int64_t)o * KC + k * Cin + ci] =
                        w->data[((int64_t)o * Cin + ci) * K + k];
    }
    if (K > 1 || pad > 0) {
        sv->col = arena_get(c, (size_t)M * KC * sizeof *sv->col); // (B*Lout, K*Cin)
        im2col_job j = {x->data, sv->col, L, Cin, K, Lout, pad, pad_mode, dilation, ci_major};
        hz_par_for(M, KC, im2col_rows, &j);
    }
    const hz_real *col = sv->col ? sv->col : x->data;
    const hz_real *wp = sv->wp ? sv->wp : w->data;
    /* packed: the weight's own [Cout][ci * K + k] layout, as the channel-major columns */
    hz_rows_affine(c, M, Cout, KC, col, wp, w->packed, bias ? bias->data : NULL, y->data);

    hz_node *n = hz_tape_push(c, conv1d_backward, y, x, w, bias, NULL);
    if (n) {
        int ia[8] = {B, L, Cin, Cout, K, pad, pad_mode, dilation};
        memcpy(n->iarg, ia, sizeof ia);
        n->aux = sv;
    }
    return y;
}

/* ======================================================================== maxpool1d */

static void maxpool1d_backward(hz_ctx *c, hz_node *n)
{
    hz_tensor *x = n->in[0], *y = n->out;
    int B = x->shape[0], L = x->shape[1], C = x->shape[2], Lout = y->shape[1];
    const int32_t *arg = n->aux; // (B, Lout, C): source time index
    const hz_real *dy = y->grad;
    hz_real *dx = hz_grad(c, x);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < Lout; t++) {
            int64_t o = ((int64_t)b * Lout + t) * C;
            for (int j = 0; j < C; j++)
                dx[((int64_t)b * L + arg[o + j]) * C + j] += dy[o + j];
        }
}

typedef struct pool_job {
    const hz_real *x;
    hz_real *y;
    int32_t *arg;
    int L, C, Lout, k, stride, pad;
} pool_job;

/* Output rows [lo, hi) of the flattened (b, t); p->arg NULL (no tape): values only, a loop
 * the compiler vectorises. */
HZ_SIMD_CLONES static void maxpool_rows(void *argp, int64_t lo_row, int64_t hi_row)
{
    const pool_job *p = argp;
    int L = p->L, C = p->C;
    for (int64_t row = lo_row; row < hi_row; row++) {
        int64_t b = row / p->Lout;
        int t = (int)(row % p->Lout);
        int lo = t * p->stride - p->pad, hi = lo + p->k;
        if (lo < 0)
            lo = 0;
        if (hi > L)
            hi = L;
        /* pad <= k/2 guarantees each window holds a real step; -inf pads never win */
        hz_real *y = p->y + row * C;
        const hz_real *first = p->x + (b * L + lo) * C;
        if (!p->arg) {
            memcpy(y, first, (size_t)C * sizeof *y);
            for (int s = lo + 1; s < hi; s++) {
                const hz_real *xr = p->x + (b * L + s) * C;
                for (int j = 0; j < C; j++)
                    y[j] = (xr[j] > y[j] || isnan(xr[j])) ? xr[j] : y[j];
            }
            continue;
        }
        int32_t *arg = p->arg + row * C;
        for (int j = 0; j < C; j++) {
            y[j] = first[j];
            arg[j] = lo;
        }
        for (int s = lo + 1; s < hi; s++) {
            const hz_real *xr = p->x + (b * L + s) * C;
            for (int j = 0; j < C; j++)
                if (xr[j] > y[j] || isnan(xr[j])) {
                    y[j] = xr[j];
                    arg[j] = s;
                }
        }
    }
}

hz_tensor *hz_maxpool1d(hz_ctx *c, hz_tensor *x, int k, int stride, int pad)
{
    assert(x->ndim == 3 && k >= 1 && stride >= 1 && pad >= 0 && 2 * pad <= k);
    int B = x->shape[0], L = x->shape[1], C = x->shape[2]; // x: (B, L, C)
    int Lout = (L + 2 * pad - k) / stride + 1;
    assert(L + 2 * pad >= k && Lout >= 1);
    hz_tensor *y = hz_tensor_new4(c, 3, B, Lout, C, 0); // (B, Lout, C)
    int32_t *arg = c->grad_on ? arena_get(c, (size_t)y->n * sizeof *arg) : NULL;
    pool_job j = {x->data, y->data, arg, L, C, Lout, k, stride, pad};
    hz_par_for((int64_t)B * Lout, (int64_t)k * C, maxpool_rows, &j);
    hz_node *n = hz_tape_push(c, maxpool1d_backward, y, x, NULL, NULL, NULL);
    if (n)
        n->aux = arg;
    return y;
}

/* ======================================================================== dropout */

typedef struct dropout_bw_job {
    const hz_real *dy, *mask;
    hz_real *dx;
} dropout_bw_job;

static void dropout_bw_range(void *arg, int64_t lo, int64_t hi)
{
    const dropout_bw_job *j = arg;
    for (int64_t i = lo; i < hi; i++)
        j->dx[i] += j->dy[i] * j->mask[i];
}

static void dropout_backward(hz_ctx *c, hz_node *n)
{
    hz_tensor *x = n->in[0], *y = n->out;
    const hz_real *mask = n->aux, *dy = y->grad;
    dropout_bw_job j = {dy, mask, hz_grad(c, x)};
    hz_par_for(x->n, 1, dropout_bw_range, &j);
}

hz_tensor *hz_dropout(hz_ctx *c, hz_tensor *x, double p)
{
    assert(p >= 0 && p <= 1);
    if (!c->training || p == 0)
        return x;
    hz_tensor *y = new_like(c, x);
    hz_real *mask = arena_get(c, (size_t)x->n * sizeof *mask);
    hz_real scale = p < 1 ? (hz_real)(1.0 / (1.0 - p)) : 0;
    for (int64_t i = 0; i < x->n; i++) {
        mask[i] = hz_rng_uniform(&c->rng) < p ? 0 : scale;
        y->data[i] = x->data[i] * mask[i];
    }
    hz_node *n = hz_tape_push(c, dropout_backward, y, x, NULL, NULL, NULL);
    if (n)
        n->aux = mask;
    return y;
}

/* ======================================================================== gather / scatter */

/* x viewed as (G, L, D) from its last two dims. */
static void rows_view(const hz_tensor *x, int64_t *G, int *L, int *D)
{
    assert(x->ndim >= 2);
    *L = x->shape[x->ndim - 2];
    *D = x->shape[x->ndim - 1];
    /* from the leading dimensions, not n / (L * D): a tensor of no rows still has its groups
     * (ProbSparse selects no query of a sequence of one, models/probsparse.c) */
    *G = 1;
    for (int i = 0; i < x->ndim - 2; i++)
        *G *= x->shape[i];
}

static void gather_backward(hz_ctx *c, hz_node *n)
{
    hz_tensor *x = n->in[0], *y = n->out;
    int64_t G;
    int L, D, cnt = n->iarg[0];
    rows_view(x, &G, &L, &D);
    const int32_t *idx = n->aux;
    const hz_real *dy = y->grad;
    hz_real *dx = hz_grad(c, x);
    for (int64_t g = 0; g < G; g++)
        for (int i = 0; i < cnt; i++) {
            hz_real *d = dx + (g * L + idx[g * cnt + i]) * D;
            const hz_real *s = dy + (g * cnt + i) * D;
            for (int j = 0; j < D; j++)
                d[j] += s[j];
        }
}

hz_tensor *hz_gather_rows(hz_ctx *c, hz_tensor *x, const int32_t *idx, int n)
{
    int64_t G;
    int L, D;
    rows_view(x, &G, &L, &D);
    int shape[HZ_MAXDIM];
    memcpy(shape, x->shape, sizeof shape);
    shape[x->ndim - 2] = n;
    hz_tensor *y = hz_tensor_new(c, x->ndim, shape); // (..., n, D)
    int32_t *saved = arena_get(c, (size_t)(G * n) * sizeof *saved);
    for (int64_t g = 0; g < G; g++)
        for (int i = 0; i < n; i++) {
            int32_t r = idx[g * n + i];
            assert(r >= 0 && r < L);
            saved[g * n + i] = r;
            memcpy(y->data + (g * n + i) * D, x->data + (g * L + r) * D,
                   (size_t)D * sizeof(hz_real));
        }
    hz_node *nd = hz_tape_push(c, gather_backward, y, x, NULL, NULL, NULL);
    if (nd) {
        nd->iarg[0] = n;
        nd->aux = saved;
    }
    return y;
}

/* aux: owner (G, L): index i of the src row that wrote row l last, -1 when base shows.
 * With repeated indices the last write wins, so only that src row gets a gradient. */
static void scatter_backward(hz_ctx *c, hz_node *n)
{
    hz_tensor *base = n->in[0], *src = n->in[1], *y = n->out;
    int64_t G;
    int L, D, cnt = n->iarg[0];
    rows_view(base, &G, &L, &D);
    const int32_t *owner = n->aux;
    const hz_real *dy = y->grad;
    hz_real *dbase = grad_of(c, base), *dsrc = grad_of(c, src);
    for (int64_t g = 0; g < G; g++)
        for (int l = 0; l < L; l++) {
            int32_t i = owner[g * L + l];
            const hz_real *s = dy + (g * L + l) * D;
            hz_real *d = NULL;
            if (i < 0 && dbase)
                d = dbase + (g * L + l) * D;
            else if (i >= 0 && dsrc)
                d = dsrc + (g * cnt + i) * D;
            if (d)
                for (int j = 0; j < D; j++)
                    d[j] += s[j];
        }
}

hz_tensor *hz_scatter_rows(hz_ctx *c, hz_tensor *base, hz_tensor *src, const int32_t *idx, int n)
{
    int64_t G, Gs;
    int L, D, Ls, Ds;
    rows_view(base, &G, &L, &D);
    rows_view(src, &Gs, &Ls, &Ds);
    assert(Gs == G && Ls == n && Ds == D);
    hz_tensor *y = new_like(c, base); // (..., L, D)
    memcpy(y->data, base->data, (size_t)base->n * sizeof(hz_real));
    int32_t *owner = arena_get(c, (size_t)(G * L) * sizeof *owner);
    for (int64_t i = 0; i < G * L; i++)
        owner[i] = -1;
    for (int64_t g = 0; g < G; g++)
        for (int i = 0; i < n; i++) {
            int32_t r = idx[g * n + i];
            assert(r >= 0 && r < L);
            owner[g * L + r] = i;
            memcpy(y->data + (g * L + r) * D, src->data + (g * n + i) * D,
                   (size_t)D * sizeof(hz_real));
        }
    hz_node *nd = hz_tape_push(c, scatter_backward, y, base, src, NULL, NULL);
    if (nd) {
        nd->iarg[0] = n;
        nd->aux = owner;
    }
    return y;
}

/* ======================================================================== cumsum */

/* x viewed as (outer, len, inner) around axis. */
static void axis_view(const hz_tensor *x, int axis, int64_t *outer, int *len, int64_t *inner)
{
    *outer = 1;
    *inner = 1;
    for (int i = 0; i < axis; i++)
        *outer *= x->shape[i];
    for (int i = axis + 1; i < x->ndim; i++)
        *inner *= x->shape[i];
    *len = x->shape[axis];
}

static void cumsum_backward(hz_ctx *c, hz_node *n)
{
    hz_tensor *x = n->in[0], *y = n->out;
    int64_t outer, inner;
    int len;
    axis_view(x, n->iarg[0], &outer, &len, &inner);
    const hz_real *dy = y->grad;
    hz_real *dx = hz_grad(c, x);
    /* d x_i = sum_{t >= i} d y_t: a reverse cumulative sum */
    for (int64_t o = 0; o < outer; o++)
        for (int64_t in = 0; in < inner; in++) {
            hz_real acc = 0;
            for (int t = len - 1; t >= 0; t--) {
                int64_t k = (o * len + t) * inner + in;
                acc += dy[k];
                dx[k] += acc;
            }
        }
}

hz_tensor *hz_cumsum(hz_ctx *c, hz_tensor *x, int axis)
{
    if (axis < 0)
        axis += x->ndim;
    assert(axis >= 0 && axis < x->ndim);
    int64_t outer, inner;
    int len;
    axis_view(x, axis, &outer, &len, &inner);
    hz_tensor *y = new_like(c, x);
    for (int64_t o = 0; o < outer; o++) {
        const hz_real *xs = x->data + o * len * inner;
        hz_real *ys = y->data + o * len * inner;
        if (len > 0)
            memcpy(ys, xs, (size_t)inner * sizeof *ys);
        for (int t = 1; t < len; t++)
            for (int64_t in = 0; in < inner; in++)
                ys[t * inner + in] = ys[(t - 1) * inner + in] + xs[t * inner + in];
    }
    hz_node *n = hz_tape_push(c, cumsum_backward, y, x, NULL, NULL, NULL);
    if (n)
        n->iarg[0] = axis;
    return y;
}
