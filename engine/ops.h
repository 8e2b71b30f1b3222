/* ops.h — differentiable ops on hz_tensor (see tensor.h for the calling convention).
 *
 * All ops allocate their output from c->arena and record a backward node when the tape is
 * on.  Shapes are asserted.  Layout conventions:
 *   - sequences are channels-last: [B, L, C] (conv1d, maxpool1d, batchnorm1d take this layout
 *     and use PyTorch's weight layouts, so official state_dicts load unchanged);
 *   - Linear weights are [out, in] as in nn.Linear (y = x W^T + b);
 *   - index tensors are plain int32 arrays (not differentiable).
 * Implemented in ops_basic.c (elementwise, broadcasting, reductions, shapes, matmul, losses)
 * and ops_nn.c (softmax, norms, conv, pooling, dropout, gather/scatter, cumsum). */
#ifndef HZ_OPS_H
#define HZ_OPS_H

#include "engine/tensor.h"

/* ---------------- ops_basic.c */

/* Batched matmul.  a: [..., M, K] ([..., K, M] if ta); b: [K, N] ([N, K] if tb), shared by
 * every batch, or with the same leading dims as a.  Out: [..., M, N].  cblas_sgemm. */
hz_tensor *hz_matmul(hz_ctx *c, hz_tensor *a, hz_tensor *b, int ta, int tb);
/* nn.Linear: x [..., in], w [out, in], bias [out] or NULL -> [..., out].  One GEMM. */
hz_tensor *hz_linear(hz_ctx *c, hz_tensor *x, hz_tensor *w, hz_tensor *bias);
/* y[rows, out] = x[rows, k] w^T + bias (NULL: none), w [out, k]: the product behind
 * hz_linear and hz_conv1d, no tape.  Without gradients and with packed (w's
 * hz_params_pack copy, or NULL) it runs the packed-weight kernel where that applies. */
void hz_rows_affine(const hz_ctx *c, int rows, int out, int k, const hz_real *x, const hz_real *w,
                    const hz_real *packed, const hz_real *bias, hz_real *y);

/* Elementwise with NumPy broadcasting (shapes aligned on the right). */
hz_tensor *hz_add(hz_ctx *c, hz_tensor *a, hz_tensor *b);
hz_tensor *hz_sub(hz_ctx *c, hz_tensor *a, hz_tensor *b);
hz_tensor *hz_mul(hz_ctx *c, hz_tensor *a, hz_tensor *b);
hz_tensor *hz_div(hz_ctx *c, hz_tensor *a, hz_tensor *b);
hz_tensor *hz_scale(hz_ctx *c, hz_tensor *a, double s);      /* a * s */
hz_tensor *hz_add_scalar(hz_ctx *c, hz_tensor *a, double s); /* a + s */

/* Reductions over one axis (negative counts from the end); keepdim keeps it as size 1. */
hz_tensor *hz_sum(hz_ctx *c, hz_tensor *a, int axis, int keepdim);
hz_tensor *hz_mean(hz_ctx *c, hz_tensor *a, int axis, int keepdim);

/* Shapes.  reshape is a view (shares data, not gradient); one dim may be -1. */
hz_tensor *hz_reshape(hz_ctx *c, hz_tensor *a, int ndim, const int *shape);
hz_tensor *hz_permute(hz_ctx *c, hz_tensor *a, const int *perm);  /* copy */
hz_tensor *hz_transpose(hz_ctx *c, hz_tensor *a, int d0, int d1); /* copy */
hz_tensor *hz_concat(hz_ctx *c, hz_tensor **ts, int n, int axis);
hz_tensor *hz_slice(hz_ctx *c, hz_tensor *a, int axis, int start, int len);

/* Activations and pointwise maths. */
hz_tensor *hz_gelu(hz_ctx *c, hz_tensor *a); /* exact: 0.5 x (1 + erf(x / sqrt 2)) */
hz_tensor *hz_elu(hz_ctx *c, hz_tensor *a, double alpha);
hz_tensor *hz_relu(hz_ctx *c, hz_tensor *a);
hz_tensor *hz_softplus(hz_ctx *c, hz_tensor *a); /* log(1 + e^x), beta 1, threshold 20 */
hz_tensor *hz_exp(hz_ctx *c, hz_tensor *a);
hz_tensor *hz_ln(hz_ctx *c, hz_tensor *a); /* natural log */
hz_tensor *hz_sqrt(hz_ctx *c, hz_tensor *a);

/* Losses: mean over every element; target takes no gradient.  Out: [1]. */
hz_tensor *hz_mse_loss(hz_ctx *c, hz_tensor *pred, hz_tensor *target);
hz_tensor *hz_mae_loss(hz_ctx *c, hz_tensor *pred, hz_tensor *target);

/* ---------------- ops_nn.c */

/* Masks of hz_softmax over the last two dims [Lq, Lk], query row i. */
enum {
    HZ_MASK_NONE = 0,
    HZ_MASK_CAUSAL = 1, /* keys j > i + (Lk - Lq) masked, PyTorch's triu(1) when Lq == Lk */
    HZ_MASK_DIAG = 2    /* key j == i masked (a token does not attend to itself); a row with
                         * no other key (Lk == 1) keeps it, as a finite fill value would */
};
/* Softmax over the last axis, numerically stable; mask is an HZ_MASK_* (masked keys get
 * probability 0 and no gradient). */
hz_tensor *hz_softmax(hz_ctx *c, hz_tensor *a, int mask);
/* Softmax of scale a (scale > 0): the product before it need not be scaled on its own. */
hz_tensor *hz_softmax_scaled(hz_ctx *c, hz_tensor *a, double scale, int mask);
/* Multi-head attention core on rows with the heads side by side: q [B, L, H E], k and v
 * [B, S, H E] -> [B, L, H E], head h in columns [h E, (h + 1) E):
 * dropout(softmax(scale q_h k_h^T, mask), p) v_h (dropout as hz_dropout).  Without the tape
 * and without dropout it runs fused, a block of query rows of one head at a time, and never
 * holds the [B, H, L, S] scores; otherwise it is hz_matmul, hz_softmax_scaled, hz_dropout
 * and hz_matmul over [B, H, L, E] copies (the backward needs the probabilities). */
hz_tensor *hz_mha(hz_ctx *c, hz_tensor *q, hz_tensor *k, hz_tensor *v, int H, double scale,
                  int mask, double p);
/* LayerNorm over the last axis, biased variance, eps inside the sqrt (nn.LayerNorm). */
hz_tensor *hz_layernorm(hz_ctx *c, hz_tensor *x, hz_tensor *gamma, hz_tensor *beta, double eps);
/* BatchNorm1d on [B, L, C] (statistics per channel over B*L).  c->training: batch stats
 * (biased for normalising), running stats updated in place with momentum and the UNBIASED
 * variance (PyTorch rule); otherwise running stats.  running_* are param buffers; may be
 * NULL in training only. */
hz_tensor *hz_batchnorm1d(hz_ctx *c, hz_tensor *x, hz_tensor *gamma, hz_tensor *beta,
                          hz_tensor *running_mean, hz_tensor *running_var, double momentum,
                          double eps);

enum { HZ_PAD_ZERO = 0, HZ_PAD_CIRCULAR = 1, HZ_PAD_REPLICATE = 2 };
/* Conv1d, stride 1: x [B, L, Cin], w [Cout, Cin, K] (PyTorch layout), bias [Cout] or NULL,
 * padding `pad` on each side of kind pad_mode, dilation.  Out: [B, L + 2 pad - dil (K-1),
 * Cout].  Cross-correlation as in PyTorch. */
hz_tensor *hz_conv1d(hz_ctx *c, hz_tensor *x, hz_tensor *w, hz_tensor *bias, int pad, int pad_mode,
                     int dilation);
/* MaxPool1d over time on [B, L, C] with -inf padding: out [B, (L + 2 pad - k) / stride + 1, C]. */
hz_tensor *hz_maxpool1d(hz_ctx *c, hz_tensor *x, int k, int stride, int pad);
/* Inverted dropout with c->rng when c->training and p > 0; otherwise returns x itself. */
hz_tensor *hz_dropout(hz_ctx *c, hz_tensor *x, double p);

/* Rows: x is viewed as [G, L, D] with G = product of the leading dims.  idx is [G, n]
 * (int32, 0 <= idx < L).  gather -> [G, n, D] (leading dims kept: [..., n, D]).
 * scatter -> a copy of base with row idx[g][i] of group g replaced by src[g][i]. */
hz_tensor *hz_gather_rows(hz_ctx *c, hz_tensor *x, const int32_t *idx, int n);
hz_tensor *hz_scatter_rows(hz_ctx *c, hz_tensor *base, hz_tensor *src, const int32_t *idx, int n);
/* Cumulative sum along axis. */
hz_tensor *hz_cumsum(hz_ctx *c, hz_tensor *x, int axis);

#endif
