/* layers.c — Linear, LayerNorm, multi-head attention and the post-LN encoder layer of the
 * Informer / iTransformer lineage (docs/MODELS.md).  See layers.h. */
#include "models/layers.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>

#include "common/hz.h"

static int add_named(hz_params *p, hz_tensor **out, const char *prefix, const char *leaf,
                     int trainable, int ndim, const int *shape)
{
    char name[256];
    snprintf(name, sizeof name, "%s.%s", prefix, leaf);
    *out = hz_params_add(p, name, trainable, ndim, shape);
    return *out ? 0 : HZ_ENOMEM;
}

int hz_lin_add(hz_params *p, hz_lin *l, const char *prefix, int in, int out, int bias, int conv1x1)
{
    int ws[3] = {out, in, 1}, bs[1] = {out};
    l->in = in;
    l->out = out;
    l->b = NULL;
    int rc = add_named(p, &l->w, prefix, "weight", 1, conv1x1 ? 3 : 2, ws);
    if (!rc && bias)
        rc = add_named(p, &l->b, prefix, "bias", 1, 1, bs);
    return rc;
}

void hz_lin_init(hz_lin *l, hz_rng *r)
{
    hz_init_kaiming_uniform(l->w, r, l->in);
    if (l->b)
        hz_init_kaiming_uniform(l->b, r, l->in);
}

hz_tensor *hz_lin_fwd(hz_ctx *c, const hz_lin *l, hz_tensor *x)
{
    hz_tensor *w = l->w;
    if (w->ndim == 3) {
        /* kernel-1 conv weight [out, in, 1]: a 2-D header over the same data and grad */
        int s[2] = {l->out, l->in};
        hz_tensor *v = hz_tensor_wrap(c, w->data, 2, s);
        v->grad = w->grad;
        v->requires_grad = w->requires_grad;
        v->is_param = 1;
        v->packed = w->packed;
        w = v;
    }
    return hz_linear(c, x, w, l->b);
}

int hz_norm_add(hz_params *p, hz_norm *n, const char *prefix, int d)
{
    int s[1] = {d};
    n->eps = 1e-5;
    int rc = add_named(p, &n->g, prefix, "weight", 1, 1, s);
    return rc ? rc : add_named(p, &n->b, prefix, "bias", 1, 1, s);
}

void hz_norm_init(hz_norm *n)
{
    hz_init_const(n->g, 1.0);
    hz_init_const(n->b, 0.0);
    n->eps = 1e-5;
}

hz_tensor *hz_norm_fwd(hz_ctx *c, const hz_norm *n, hz_tensor *x)
{
    return hz_layernorm(c, x, n->g, n->b, n->eps);
}

int hz_attn_layer_add(hz_params *p, hz_attn_layer *a, const char *prefix, int d_model, int n_heads,
                      int mix)
{
    char name[200]; /* + ".weight" fits add_named's 256 */
    int rc = 0;
    assert(d_model % n_heads == 0);
    a->d_model = d_model;
    a->n_heads = n_heads;
    a->mix = mix;
    const char *names[4] = {"query_projection", "key_projection", "value_projection",
                            "out_projection"};
    hz_lin *lins[4] = {&a->q, &a->k, &a->v, &a->o};
    int ws[2] = {d_model, d_model}, bs[1] = {d_model};
    /* the four weights first, then the four biases: q, k and v then lie back to back in the
     * parameter block, so inference can project with one [3d, d] product (hz_attn_fused) */
    for (int i = 0; i < 4 && !rc; i++) {
        snprintf(name, sizeof name, "%s.%s", prefix, names[i]);
        lins[i]->in = lins[i]->out = d_model;
        rc = add_named(p, &lins[i]->w, name, "weight", 1, 2, ws);
    }
    for (int i = 0; i < 4 && !rc; i++) {
        snprintf(name, sizeof name, "%s.%s", prefix, names[i]);
        rc = add_named(p, &lins[i]->b, name, "bias", 1, 1, bs);
    }
    return rc;
}

void hz_attn_layer_init(hz_attn_layer *a, hz_rng *r)
{
    hz_lin_init(&a->q, r);
    hz_lin_init(&a->k, r);
    hz_lin_init(&a->v, r);
    hz_lin_init(&a->o, r);
}

int hz_attn_fused(const hz_attn_layer *a, int n)
{
    size_t dd = (size_t)a->d_model * a->d_model;
    const hz_lin *l[3] = {&a->q, &a->k, &a->v};
    for (int i = 1; i < n; i++)
        if (l[3 - n + i]->w->data != l[3 - n]->w->data + i * dd ||
            l[3 - n + i]->b->data != l[3 - n]->b->data + (size_t)i * a->d_model)
            return 0;
    return 1;
}

hz_tensor *hz_split_heads(hz_ctx *c, hz_tensor *x, int n_heads)
{
    int B = x->shape[0], L = x->shape[1], d = x->shape[2];
    int s4[4] = {B, L, n_heads, d / n_heads};
    int perm[4] = {0, 2, 1, 3};
    return hz_permute(c, hz_reshape(c, x, 4, s4), perm);
}

hz_tensor *hz_merge_heads(hz_ctx *c, hz_tensor *x, int mix)
{
    int B = x->shape[0], H = x->shape[1], L = x->shape[2], E = x->shape[3];
    int s3[3] = {B, L, H * E};
    if (mix) /* [B, H, L, E] memory reinterpreted as [B, L, H*E] (official quirk) */
        return hz_reshape(c, x, 3, s3);
    int perm[4] = {0, 2, 1, 3};
    return hz_reshape(c, hz_permute(c, x, perm), 3, s3);
}

hz_tensor *hz_attn_full_fwd(hz_ctx *c, const hz_attn_layer *a, hz_tensor *xq, hz_tensor *xkv,
                            int causal, double dropout)
{
    int H = a->n_heads, E = a->d_model / H;
    hz_tensor *q = hz_split_heads(c, hz_lin_fwd(c, &a->q, xq), H);               /* [B, H, L, E] */
    hz_tensor *k = hz_split_heads(c, hz_lin_fwd(c, &a->k, xkv), H);              /* [B, H, S, E] */
    hz_tensor *v = hz_split_heads(c, hz_lin_fwd(c, &a->v, xkv), H);              /* [B, H, S, E] */
    hz_tensor *s = hz_scale(c, hz_matmul(c, q, k, 0, 1), 1.0 / sqrt((double)E)); /* [B,H,L,S] */
    hz_tensor *pr = hz_dropout(c, hz_softmax(c, s, causal), dropout);
    hz_tensor *o = hz_matmul(c, pr, v, 0, 0); /* [B, H, L, E] */
    return hz_lin_fwd(c, &a->o, hz_merge_heads(c, o, a->mix));
}

int hz_enc_layer_add(hz_params *p, hz_enc_layer *l, const char *prefix, int d_model, int n_heads,
                     int d_ff, int activation, double dropout)
{
    char name[256];
    int rc;
    l->activation = activation;
    l->dropout = dropout;
    snprintf(name, sizeof name, "%s.attention", prefix);
    if ((rc = hz_attn_layer_add(p, &l->attn, name, d_model, n_heads, 0)))
        return rc;
    snprintf(name, sizeof name, "%s.conv1", prefix);
    if ((rc = hz_lin_add(p, &l->conv1, name, d_model, d_ff, 1, 1)))
        return rc;
    snprintf(name, sizeof name, "%s.conv2", prefix);
    if ((rc = hz_lin_add(p, &l->conv2, name, d_ff, d_model, 1, 1)))
        return rc;
    snprintf(name, sizeof name, "%s.norm1", prefix);
    if ((rc = hz_norm_add(p, &l->norm1, name, d_model)))
        return rc;
    snprintf(name, sizeof name, "%s.norm2", prefix);
    return hz_norm_add(p, &l->norm2, name, d_model);
}

void hz_enc_layer_init(hz_enc_layer *l, hz_rng *r)
{
    hz_attn_layer_init(&l->attn, r);
    hz_lin_init(&l->conv1, r);
    hz_lin_init(&l->conv2, r);
    hz_norm_init(&l->norm1);
    hz_norm_init(&l->norm2);
}

hz_tensor *hz_ffn_fwd(hz_ctx *c, const hz_lin *w1, const hz_lin *w2, int activation, double dropout,
                      hz_tensor *x)
{
    hz_tensor *h = hz_lin_fwd(c, w1, x);
    h = activation == HZ_ACT_RELU ? hz_relu(c, h) : hz_gelu(c, h);
    h = hz_dropout(c, h, dropout);
    return hz_dropout(c, hz_lin_fwd(c, w2, h), dropout);
}

hz_tensor *hz_enc_layer_finish(hz_ctx *c, const hz_enc_layer *l, hz_tensor *x, hz_tensor *attn_out)
{
    x = hz_norm_fwd(c, &l->norm1, hz_add(c, x, hz_dropout(c, attn_out, l->dropout)));
    hz_tensor *f = hz_ffn_fwd(c, &l->conv1, &l->conv2, l->activation, l->dropout, x);
    return hz_norm_fwd(c, &l->norm2, hz_add(c, x, f));
}

hz_tensor *hz_enc_layer_fwd(hz_ctx *c, const hz_enc_layer *l, hz_tensor *x)
{
    hz_tensor *a = hz_attn_full_fwd(c, &l->attn, x, x, 0, l->dropout);
    return hz_enc_layer_finish(c, l, x, a);
}

void hz_sinusoid_table(hz_real *pe, int rows, int d)
{
    /* w_i = exp(2i * -(ln 10000 / d)) in float32, positions as float32 (official table) */
    float step = (float)(-(log(10000.0) / d));
    for (int i = 0; 2 * i < d; i++) {
        float w = expf((float)(2 * i) * step);
        for (int p = 0; p < rows; p++) {
            float a = (float)p * w;
            pe[(int64_t)p * d + 2 * i] = sinf(a);
            if (2 * i + 1 < d)
                pe[(int64_t)p * d + 2 * i + 1] = cosf(a);
        }
    }
}
