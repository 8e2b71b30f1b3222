/* probsparse.h — Informer's ProbSparse self-attention kernel (Zhou et al., AAAI 2021;
 * docs/MODELS.md, official-code semantics).
 *
 * Per layer: U_part = min(c ceil(ln L_K), L_K) keys are sampled per query (one index table
 * [L_Q, U_part] shared by every batch item and head); the sparsity measure
 * M_i = max_k q_i.k_S[i,k] - sum_k q_i.k_S[i,k] / L_K picks u = min(c ceil(ln L_Q), L_Q)
 * queries per (batch, head); those rows get softmax(q k^T / sqrt(E)) v (keys after the query
 * masked when `masked`), every other row the lazy value: mean_j v_j, or the cumulative SUM
 * of v when masked.  No attention dropout.  No L_Q x L_K matrix is ever formed: the sampled
 * scores are dot products, the exact scores a [B, H, u, L_K] block. */
#ifndef HZ_PROBSPARSE_H
#define HZ_PROBSPARSE_H

#include <stdint.h>

#include "engine/tensor.h"

/* U_part (sampled keys per query) and u (selected queries) for factor c. */
void hz_probsparse_sizes(int factor, int L_Q, int L_K, int *U_part, int *u);

/* Draws an index table [L_Q, U_part] uniformly from [0, L_K) with replacement into idx. */
void hz_probsparse_sample(hz_rng *r, int L_Q, int U_part, int L_K, int32_t *idx);

/* q [B, H, L_Q, E], k and v [B, H, L_K, E] -> [B, H, L_Q, E] (arena).  idx: [L_Q, U_part]
 * table (borrowed).  masked requires L_Q == L_K.  When top_out is not NULL it receives the
 * selected queries [B, H, u], ascending, in arena memory valid until the next context reset.
 * Gradients flow to q, k and v through every op except the (index-valued) selection. */
hz_tensor *hz_probsparse_attn(hz_ctx *c, hz_tensor *q, hz_tensor *k, hz_tensor *v, int factor,
                              int masked, const int32_t *idx, const int32_t **top_out);

/* Inference only (no tape): unmasked ProbSparse self-attention, heads merged (no mix) and
 * projected by the output layer w [D, H*E] (PyTorch Linear layout), bias [D] or NULL, in one
 * step -> [B, L_Q, D].  Equal, up to float rounding, to the output layer applied to
 * hz_probsparse_attn's merged result, without its [B, L_Q, D] x [D, D] product: every lazy row
 * is mean(v) in each head, so one projected row per batch item serves them all, and a
 * selected row adds (its value - mean(v)) through that head's columns of w.  top_out as
 * above. */
hz_tensor *hz_probsparse_self_proj(hz_ctx *c, hz_tensor *q, hz_tensor *k, hz_tensor *v, int factor,
                                   const int32_t *idx, const hz_tensor *w, const hz_tensor *bias,
                                   const int32_t **top_out);

#endif
