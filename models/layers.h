/* layers.h — building blocks shared by the models, named after the official PyTorch modules
 * so that parameter names follow their state_dict keys (docs/MODELS.md):
 *   hz_lin          nn.Linear                 <prefix>.weight [out, in], <prefix>.bias [out]
 *   hz_attn_layer   AttentionLayer            query/key/value/out_projection
 *   hz_enc_layer    EncoderLayer (post-LN)    attention, conv1, conv2 (kernel-1), norm1, norm2
 *   hz_norm         nn.LayerNorm              <prefix>.weight, <prefix>.bias
 * Each has _add (declare its parameters in an hz_params store under a name prefix), _init
 * (PyTorch default init from an RNG) and a forward. */
#ifndef HZ_LAYERS_H
#define HZ_LAYERS_H

#include "engine/ops.h"
#include "engine/tensor.h"

typedef struct hz_lin {
    hz_tensor *w; /* [out, in] (kernel-1 convs: a 2-D view of [out, in, 1]) */
    hz_tensor *b; /* [out] or NULL */
    int in, out;
} hz_lin;

/* Declares <prefix>.weight [out, in] (or [out, in, 1] when conv1x1) and <prefix>.bias. */
int hz_lin_add(hz_params *p, hz_lin *l, const char *prefix, int in, int out, int bias, int conv1x1);
/* After hz_params_finalize: PyTorch default init, U(+-1/sqrt(in)) for weight and bias. */
void hz_lin_init(hz_lin *l, hz_rng *r);
hz_tensor *hz_lin_fwd(hz_ctx *c, const hz_lin *l, hz_tensor *x);

typedef struct hz_norm {
    hz_tensor *g, *b;
    double eps;
} hz_norm;
int hz_norm_add(hz_params *p, hz_norm *n, const char *prefix, int d);
void hz_norm_init(hz_norm *n); /* gamma 1, beta 0, eps 1e-5 */
hz_tensor *hz_norm_fwd(hz_ctx *c, const hz_norm *n, hz_tensor *x);

/* Multi-head attention with Q/K/V/O projections (biased). */
typedef struct hz_attn_layer {
    hz_lin q, k, v, o;
    int d_model, n_heads;
    int mix; /* Informer decoder quirk: head-major output reinterpreted (§2.3) */
} hz_attn_layer;
int hz_attn_layer_add(hz_params *p, hz_attn_layer *a, const char *prefix, int d_model, int n_heads,
                      int mix);
void hz_attn_layer_init(hz_attn_layer *a, hz_rng *r);
/* Full (canonical) attention: xq [B, L, d], xkv [B, S, d] -> [B, L, d].  causal masks keys
 * after each query; dropout on the attention probabilities (training only). */
hz_tensor *hz_attn_full_fwd(hz_ctx *c, const hz_attn_layer *a, hz_tensor *xq, hz_tensor *xkv,
                            int causal, double dropout);
/* 1 when the last n of (q, k, v) have their weights and biases back to back in memory (as
 * hz_attn_layer_add lays them out), so one product of [n*d, d] projects them all. */
int hz_attn_fused(const hz_attn_layer *a, int n);
/* Splits [B, L, H*E] into heads: [B, H, L, E] (copy). */
hz_tensor *hz_split_heads(hz_ctx *c, hz_tensor *x, int n_heads);
/* Output of an attention kernel [B, H, L, E] back to [B, L, H*E], honouring mix. */
hz_tensor *hz_merge_heads(hz_ctx *c, hz_tensor *x, int mix);

enum { HZ_ACT_GELU = 0, HZ_ACT_RELU = 1 };

/* Post-LN encoder layer: x = LN1(x + drop(attn(x))); out = LN2(x + drop(W2 drop(act(W1 x)))).
 * The attention kernel is full attention unless the caller passes its own output. */
typedef struct hz_enc_layer {
    hz_attn_layer attn;
    hz_lin conv1, conv2;
    hz_norm norm1, norm2;
    int activation;
    double dropout;
} hz_enc_layer;
int hz_enc_layer_add(hz_params *p, hz_enc_layer *l, const char *prefix, int d_model, int n_heads,
                     int d_ff, int activation, double dropout);
void hz_enc_layer_init(hz_enc_layer *l, hz_rng *r);
/* x [B, L, d] -> [B, L, d] with full attention. */
hz_tensor *hz_enc_layer_fwd(hz_ctx *c, const hz_enc_layer *l, hz_tensor *x);
/* The same layer around an attention output computed by the caller (ProbSparse). */
hz_tensor *hz_enc_layer_finish(hz_ctx *c, const hz_enc_layer *l, hz_tensor *x, hz_tensor *attn_out);
/* FFN part alone: drop(W2 drop(act(W1 x))). */
hz_tensor *hz_ffn_fwd(hz_ctx *c, const hz_lin *w1, const hz_lin *w2, int activation, double dropout,
                      hz_tensor *x);

/* The fixed sinusoid position table of "Attention is all you need", rows x d into pe:
 * pe[p][2i] = sin(p w_i), pe[p][2i + 1] = cos(p w_i), w_i = 10000^(-2i/d), in float32 as
 * the official Informer builds it (models/informer.c; the plain transformer of
 * models/nilmformer.c). */
void hz_sinusoid_table(hz_real *pe, int rows, int d);

#endif
