/* nilmformer.c — NILMFormer (Petralia et al., KDD 2025; docs/MODELS.md section 8): one window
 * of aggregate power and its calendar encoding in, one or more appliances' power over the
 * same window out.  The window is normalised by its own mean and deviation; a stack of
 * dilated residual convolutions embeds it on 3d/4 channels and a kernel-1 convolution of the
 * TimeRPE channels fills the other d/4; a token projected from (mean, deviation) is appended;
 * encoder layers that normalise before each residual add, with attention that keeps a token
 * from attending to itself, and a final LayerNorm follow; a replicate-padded convolution
 * reads each step out, and an affine map of the stats token (as it was before the encoder)
 * restores the scale.  Parameter names are the official state_dict keys of
 * adrienpetralia/NILMFormer src/nilmformer/model.py.
 *
 * Layout: channels-last like every sequence in the engine (engine/ops.h), so the input x is
 * [B, W, 1], the TimeRPE marks [B, W, n_marks] and the output [B, W, c_out].
 *
 * With conf.forecast the same network forecasts (not part of the official model; docs/
 * MODELS.md section 8.7): x [B, W, C] -> [B, pred_len, c_out], each variable alone.
 *
 * With conf.plain it is the baseline NILMFormer is measured against, a plain transformer
 * (docs/MODELS.md section 8.10): a Linear(1 -> d) of the aggregate plus a fixed sinusoid
 * position table, then the same encoder layers, final LayerNorm and head; no window
 * statistics, stats token or TimeRPE (the marks are not read). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hz.h"
#include "models/layers.h"
#include "models/model.h"

#define MAX_LAYERS   16
#define MAX_KERNEL   64
#define MAX_DILATION 1024
#define STATS_EPS    1e-6 /* inside the square root of the window variance */
#define BN_MOMENTUM  0.1
#define BN_EPS       1e-5

/* One residual unit of the embedding: x + BN(GELU(conv(x))). */
typedef struct res_unit {
    hz_tensor *w, *b;        /* layers.0: Conv1d [c_out, c_in, k], bias or NULL */
    hz_tensor *g, *beta;     /* layers.2: BatchNorm1d affine */
    hz_tensor *rmean, *rvar; /* layers.2: running statistics (buffers) */
    int dilation;
} res_unit;

/* Encoder layer: x = LN1(x); x += attn(x); x = LN2(x); x += drop(FFN(x)). */
typedef struct nf_layer {
    hz_lin wq, wk, wv, wo; /* attention_layer: no biases */
    hz_norm norm1, norm2;
    hz_lin ff1, ff2; /* pffn.layer1, pffn.layer2 */
} nf_layer;

typedef struct nf {
    hz_model base;
    res_unit units[HZ_MAX_DILATIONS]; /* EmbedBlock.network.<i> */
    hz_lin time_proj;                 /* ProjEmbedding: Conv1d(n_marks -> d/4, kernel 1) */
    hz_lin stats1;                    /* ProjStats1: Linear(2 -> d) */
    hz_lin stats2;                    /* ProjStats2: Linear(d -> 2) */
    nf_layer layers[MAX_LAYERS];      /* EncoderBlock.<i> */
    hz_norm norm;                     /* EncoderBlock.<e_layers>: final LayerNorm */
    hz_tensor *head_w, *head_b;       /* DownstreamTaskHead: Conv1d [c_out or 1, d, k_head] */
    hz_lin horizon;                   /* forecasting: ProjHorizon, Linear(seq_len -> pred_len) */
    hz_lin plain_in;                  /* plain: PlainEmbedding, Linear(1 -> d) */
    hz_real *pe;                      /* plain: [W, d] sinusoid position table, not trained */
} nf;

/* ------------------------------------------------------------------------ forward */

/* Conv with PyTorch's padding "same" at stride 1: dilation (k - 1) zeros in all, the odd one
 * on the right.  hz_conv1d pads both sides alike, so pad by the right amount and drop the
 * surplus first step. */
static hz_tensor *conv_same(hz_ctx *c, const res_unit *u, hz_tensor *x)
{
    int L = x->shape[1], total = u->dilation * (u->w->shape[2] - 1);
    int left = total / 2, right = total - left;
    hz_tensor *h = hz_conv1d(c, x, u->w, u->b, right, HZ_PAD_ZERO, u->dilation);
    return right == left ? h : hz_slice(c, h, 1, right - left, L);
}

/* [B, W, 1] normalised aggregate -> [B, W, 3d/4].  The first unit's residual is its one
 * input channel broadcast over every output channel (the official model has no 1x1
 * projection when the input has a single channel). */
static hz_tensor *embed_fwd(hz_ctx *c, const nf *t, hz_tensor *x)
{
    for (int i = 0; i < t->base.conf.n_dilations; i++) {
        const res_unit *u = &t->units[i];
        hz_tensor *h = hz_gelu(c, conv_same(c, u, x));
        h = hz_batchnorm1d(c, h, u->g, u->beta, u->rmean, u->rvar, BN_MOMENTUM, BN_EPS);
        x = hz_add(c, x, h);
    }
    return x;
}

/* Multi-head self-attention without biases; key i is masked for query i. */
static hz_tensor *attn_fwd(hz_ctx *c, const nf_layer *l, hz_tensor *x, int H, double p)
{
    int E = l->wq.out / H;
    hz_tensor *q = hz_lin_fwd(c, &l->wq, x); /* [B, L, d], head h in columns h E .. */
    hz_tensor *k = hz_lin_fwd(c, &l->wk, x);
    hz_tensor *v = hz_lin_fwd(c, &l->wv, x);
    hz_tensor *o = hz_mha(c, q, k, v, H, 1.0 / sqrt((double)E), HZ_MASK_DIAG, p); /* [B, L, d] */
    return hz_dropout(c, hz_lin_fwd(c, &l->wo, o), p);
}

static hz_tensor *layer_fwd(hz_ctx *c, const nf_layer *l, hz_tensor *x, int H, double p)
{
    x = hz_norm_fwd(c, &l->norm1, x);
    x = hz_add(c, x, attn_fwd(c, l, x, H, p));
    x = hz_norm_fwd(c, &l->norm2, x);
    return hz_add(c, x, hz_ffn_fwd(c, &l->ff1, &l->ff2, HZ_ACT_GELU, p, x));
}

/* What the two tasks share: the network from the raw windows a [N, W, 1] and the TimeRPE
 * marks mk [N, W, F] to the head's output [N, W, head channels], with the window
 * statistics mu, sd [N, 1, 1] and the stats token as it entered the encoder [N, 1, d]. */
typedef struct trunk_out {
    hz_tensor *y, *mu, *sd, *stats;
} trunk_out;

static trunk_out trunk_fwd(hz_ctx *c, const nf *t, hz_tensor *a, hz_tensor *mk)
{
    const hz_model_conf *f = &t->base.conf;
    int W = f->seq_len;
    trunk_out o;
    /* window statistics of data: constants of the graph, as the official detach() */
    o.mu = hz_mean(c, a, 1, 1);
    hz_tensor *ac = hz_sub(c, a, o.mu);
    o.sd = hz_sqrt(c, hz_add_scalar(c, hz_mean(c, hz_mul(c, ac, ac), 1, 1), STATS_EPS));
    hz_tensor *parts[2] = {embed_fwd(c, t, hz_div(c, ac, o.sd)), hz_lin_fwd(c, &t->time_proj, mk)};
    hz_tensor *tokens = hz_concat(c, parts, 2, 2); /* [N, W, d] */
    int ms[3] = {o.mu->shape[0], 1, 1};
    hz_tensor *st[2] = {f->stats_mu ? o.mu : hz_tensor_zeros(c, 3, ms), o.sd};
    o.stats = hz_lin_fwd(c, &t->stats1, hz_concat(c, st, 2, 2)); /* [N, 1, d] */
    hz_tensor *seq[2] = {tokens, o.stats};
    hz_tensor *h = hz_concat(c, seq, 2, 1); /* [N, W + 1, d], the stats token last */
    for (int i = 0; i < f->e_layers; i++)
        h = layer_fwd(c, &t->layers[i], h, f->n_heads, f->dropout);
    h = hz_slice(c, hz_norm_fwd(c, &t->norm, h), 1, 0, W);
    o.y = hz_conv1d(c, h, t->head_w, t->head_b, f->kernel_size_head / 2, HZ_PAD_REPLICATE, 1);
    return o;
}

/* Disaggregation: x [B, W, 1] -> [B, W, c_out] = head * s' + m'. */
static hz_tensor *disaggregate_fwd(hz_ctx *c, const nf *t, const hz_model_input *in)
{
    const hz_model_conf *f = &t->base.conf;
    int B = in->batch, W = f->seq_len, F = f->n_marks;
    int xs[3] = {B, W, 1}, ms[3] = {B, W, F};
    hz_tensor *a = hz_tensor_wrap(c, (hz_real *)in->x, 3, xs);
    /* the marks are data: without them (a caller without timestamps) they read as zeros */
    hz_tensor *mk =
        in->x_mark ? hz_tensor_wrap(c, (hz_real *)in->x_mark, 3, ms) : hz_tensor_zeros(c, 3, ms);
    trunk_out o = trunk_fwd(c, t, a, mk);
    hz_tensor *ab = hz_lin_fwd(c, &t->stats2, o.stats); /* [B, 1, 2]: offset, scale */
    return hz_add(c, hz_mul(c, o.y, hz_slice(c, ab, 2, 1, 1)), hz_slice(c, ab, 2, 0, 1));
}

/* Forecasting inputs: variable col0 + j of window b becomes row b * n + j, alone: a
 * [B n, W, 1], its marks repeated [B n, W, F] (zeros without marks).  Data, copied. */
static void split_variables(hz_ctx *c, const hz_model_conf *f, const hz_model_input *in, int col0,
                            int n, hz_tensor **a, hz_tensor **mk)
{
    int B = in->batch, W = f->seq_len, C = f->enc_in, F = f->n_marks;
    int ms[3] = {B * n, W, F};
    *a = hz_tensor_new4(c, 3, B * n, W, 1, 0);
    *mk = in->x_mark ? hz_tensor_new(c, 3, ms) : hz_tensor_zeros(c, 3, ms);
    for (int b = 0; b < B; b++)
        for (int j = 0; j < n; j++) {
            hz_real *dst = (*a)->data + ((size_t)b * n + j) * W;
            for (int s = 0; s < W; s++)
                dst[s] = in->x[((size_t)b * W + s) * C + col0 + j];
            if (in->x_mark)
                memcpy((*mk)->data + ((size_t)b * n + j) * W * F, in->x_mark + (size_t)b * W * F,
                       (size_t)W * F * sizeof(hz_real));
        }
}

/* Forecasting: x [B, W, C] -> [B, pred_len, c_out].  Each forecast variable's window goes
 * through the network alone; the head's one channel is mapped W -> pred_len; the window's
 * own statistics restore the level, corrected by the stats token:
 *   y = sd (z (1 + ds) + dm) + mu,  [dm, ds] = ProjStats2(stats token), zero at init. */
static hz_tensor *forecast_fwd(hz_ctx *c, const nf *t, const hz_model_input *in)
{
    const hz_model_conf *f = &t->base.conf;
    int B = in->batch, W = f->seq_len, P = f->pred_len, n = f->c_out;
    int col0 = n == f->enc_in ? 0 : f->out_col;
    hz_tensor *a, *mk;
    split_variables(c, f, in, col0, n, &a, &mk);
    trunk_out o = trunk_fwd(c, t, a, mk);
    int s1[3] = {B * n, 1, W};
    hz_tensor *z = hz_lin_fwd(c, &t->horizon, hz_reshape(c, o.y, 3, s1)); /* [Bn, 1, P] */
    hz_tensor *ab = hz_lin_fwd(c, &t->stats2, o.stats);                   /* [Bn, 1, 2] */
    hz_tensor *scale = hz_add_scalar(c, hz_slice(c, ab, 2, 1, 1), 1.0);
    z = hz_add(c, hz_mul(c, z, scale), hz_slice(c, ab, 2, 0, 1));
    z = hz_add(c, hz_mul(c, z, o.sd), o.mu);
    int s2[3] = {B, n, P}, perm[3] = {0, 2, 1};
    return hz_permute(c, hz_reshape(c, z, 3, s2), perm); /* [B, P, n] */
}

/* The plain transformer: x [B, W, 1] -> [B, W, c_out] = head(LN(encoder(Linear(x) + PE))),
 * on the max-scaled aggregate as it comes. */
static hz_tensor *plain_fwd(hz_ctx *c, const nf *t, const hz_model_input *in)
{
    const hz_model_conf *f = &t->base.conf;
    int W = f->seq_len, xs[3] = {in->batch, W, 1}, ps[2] = {W, f->d_model};
    hz_tensor *h = hz_lin_fwd(c, &t->plain_in, hz_tensor_wrap(c, (hz_real *)in->x, 3, xs));
    h = hz_add(c, h, hz_tensor_wrap(c, t->pe, 2, ps)); /* [B, W, d] */
    for (int i = 0; i < f->e_layers; i++)
        h = layer_fwd(c, &t->layers[i], h, f->n_heads, f->dropout);
    h = hz_norm_fwd(c, &t->norm, h);
    return hz_conv1d(c, h, t->head_w, t->head_b, f->kernel_size_head / 2, HZ_PAD_REPLICATE, 1);
}

static hz_tensor *nf_forward(hz_model *m, hz_ctx *c, const hz_model_input *in)
{
    const nf *t = (const nf *)m;
    if (m->conf.plain)
        return plain_fwd(c, t, in);
    return m->conf.forecast ? forecast_fwd(c, t, in) : disaggregate_fwd(c, t, in);
}

/* ------------------------------------------------------------------------ parameters */

static hz_tensor *add_param(hz_params *p, const char *prefix, const char *leaf, int trainable,
                            int ndim, int d0, int d1, int d2)
{
    char name[160];
    int shape[3] = {d0, d1, d2};
    snprintf(name, sizeof name, "%s.%s", prefix, leaf);
    return hz_params_add(p, name, trainable, ndim, shape);
}

static int unit_add(hz_params *p, res_unit *u, int i, int c_in, int c_out, const hz_model_conf *f)
{
    char pre[96];
    snprintf(pre, sizeof pre, "EmbedBlock.network.%d.layers", i);
    u->dilation = f->dilations[i];
    u->w = add_param(p, pre, "0.weight", 1, 3, c_out, c_in, f->kernel_size);
    u->b = f->conv_bias ? add_param(p, pre, "0.bias", 1, 1, c_out, 0, 0) : NULL;
    u->g = add_param(p, pre, "2.weight", 1, 1, c_out, 0, 0);
    u->beta = add_param(p, pre, "2.bias", 1, 1, c_out, 0, 0);
    u->rmean = add_param(p, pre, "2.running_mean", 0, 1, c_out, 0, 0);
    u->rvar = add_param(p, pre, "2.running_var", 0, 1, c_out, 0, 0);
    return u->w && (u->b || !f->conv_bias) && u->g && u->beta && u->rmean && u->rvar ? 0
                                                                                     : HZ_ENOMEM;
}

static int layer_add(hz_params *p, nf_layer *l, int i, const hz_model_conf *f)
{
    char pre[96], name[128];
    int d = f->d_model, rc = 0;
    snprintf(pre, sizeof pre, "EncoderBlock.%d", i);
    hz_lin *att[4] = {&l->wq, &l->wk, &l->wv, &l->wo};
    const char *att_names[4] = {"wq", "wk", "wv", "wo"};
    for (int k = 0; k < 4 && !rc; k++) {
        snprintf(name, sizeof name, "%s.attention_layer.%s", pre, att_names[k]);
        rc = hz_lin_add(p, att[k], name, d, d, 0, 0);
    }
    snprintf(name, sizeof name, "%s.norm1", pre);
    if (!rc)
        rc = hz_norm_add(p, &l->norm1, name, d);
    snprintf(name, sizeof name, "%s.norm2", pre);
    if (!rc)
        rc = hz_norm_add(p, &l->norm2, name, d);
    snprintf(name, sizeof name, "%s.pffn.layer1", pre);
    if (!rc)
        rc = hz_lin_add(p, &l->ff1, name, d, f->d_ff, 1, 0);
    snprintf(name, sizeof name, "%s.pffn.layer2", pre);
    if (!rc)
        rc = hz_lin_add(p, &l->ff2, name, f->d_ff, d, 1, 0);
    return rc;
}

/* Every tensor, in the official state_dict order (plain: PlainEmbedding in place of the
 * embedding block, TimeRPE and stats projections). */
static int nf_add(nf *t)
{
    const hz_model_conf *f = &t->base.conf;
    hz_params *p = &t->base.params;
    int d = f->d_model, rc = 0;
    if (f->plain)
        rc = hz_lin_add(p, &t->plain_in, "PlainEmbedding", 1, d, 1, 0);
    for (int i = 0; i < f->n_dilations && !rc && !f->plain; i++)
        rc = unit_add(p, &t->units[i], i, i ? 3 * d / 4 : 1, 3 * d / 4, f);
    if (!rc && !f->plain)
        rc = hz_lin_add(p, &t->time_proj, "ProjEmbedding", f->n_marks, d / 4, 1, 1);
    if (!rc && !f->plain)
        rc = hz_lin_add(p, &t->stats1, "ProjStats1", 2, d, 1, 0);
    if (!rc && !f->plain)
        rc = hz_lin_add(p, &t->stats2, "ProjStats2", d, 2, 1, 0);
    for (int i = 0; i < f->e_layers && !rc; i++)
        rc = layer_add(p, &t->layers[i], i, f);
    char name[64];
    snprintf(name, sizeof name, "EncoderBlock.%d", f->e_layers);
    if (!rc)
        rc = hz_norm_add(p, &t->norm, name, d);
    int head_out = f->forecast ? 1 : f->c_out; /* forecasting: one variable per row */
    if (!rc && !(t->head_w = add_param(p, "DownstreamTaskHead", "weight", 1, 3, head_out, d,
                                       f->kernel_size_head)))
        rc = HZ_ENOMEM;
    if (!rc && !(t->head_b = add_param(p, "DownstreamTaskHead", "bias", 1, 1, head_out, 0, 0)))
        rc = HZ_ENOMEM;
    if (!rc && f->forecast)
        rc = hz_lin_add(p, &t->horizon, "ProjHorizon", f->seq_len, f->pred_len, 1, 0);
    return rc ? rc : hz_params_finalize(p);
}

/* Linear layers: Xavier-uniform weight, zero bias (the official init); convolutions:
 * PyTorch's default U(+-1/sqrt(fan_in)); norms (1, 0); running statistics (0, 1). */
static void xavier(hz_lin *l, hz_rng *r)
{
    hz_init_xavier_uniform(l->w, r, l->in, l->out);
    if (l->b)
        hz_init_const(l->b, 0);
}

static void nf_init(nf *t)
{
    const hz_model_conf *f = &t->base.conf;
    hz_rng r;
    hz_rng_seed(&r, f->seed);
    if (f->plain) { /* Xavier as every Linear; then the shared layers' init below */
        xavier(&t->plain_in, &r);
        hz_sinusoid_table(t->pe, f->seq_len, f->d_model);
    }
    for (int i = 0; i < f->n_dilations && !f->plain; i++) {
        res_unit *u = &t->units[i];
        int fan_in = u->w->shape[1] * u->w->shape[2];
        hz_init_kaiming_uniform(u->w, &r, fan_in);
        if (u->b)
            hz_init_kaiming_uniform(u->b, &r, fan_in);
        hz_init_const(u->g, 1);
        hz_init_const(u->beta, 0);
        hz_init_const(u->rmean, 0);
        hz_init_const(u->rvar, 1);
    }
    if (!f->plain) {
        hz_lin_init(&t->time_proj, &r);
        xavier(&t->stats1, &r);
        xavier(&t->stats2, &r);
    }
    for (int i = 0; i < f->e_layers; i++) {
        nf_layer *l = &t->layers[i];
        hz_lin *lins[6] = {&l->wq, &l->wk, &l->wv, &l->wo, &l->ff1, &l->ff2};
        for (int k = 0; k < 6; k++)
            xavier(lins[k], &r);
        hz_norm_init(&l->norm1);
        hz_norm_init(&l->norm2);
    }
    hz_norm_init(&t->norm);
    int fan_head = f->d_model * f->kernel_size_head;
    hz_init_kaiming_uniform(t->head_w, &r, fan_head);
    hz_init_kaiming_uniform(t->head_b, &r, fan_head);
    if (f->forecast) { /* training starts at plain instance normalisation */
        hz_lin_init(&t->horizon, &r);
        hz_init_const(t->stats2.w, 0);
    }
}

/* ------------------------------------------------------------------------ create */

static void nf_free(hz_model *m)
{
    hz_params_free(&m->params);
    free(((nf *)m)->pe);
    free(m);
}

static const hz_model_vt nf_vt = {nf_forward, nf_free};

/* The sizes the official model accepts and the engine can run; a checkpoint's configuration
 * comes from its file (models/checkpoint.c), so nothing here may be assumed. */
static int nf_check(const hz_model_conf *f, char *err, size_t errlen)
{
    const char *why = NULL;
    if (f->seq_len < 2)
        why = "the window (seq_len) must be at least 2 steps";
    else if (!f->forecast && (f->pred_len != f->seq_len || f->enc_in != 1 || f->c_out < 1))
        why = "disaggregation: pred_len = seq_len, one input variable (the aggregate) and at "
              "least one output";
    else if (f->forecast && (f->pred_len < 1 || f->enc_in < 1 ||
                             (f->c_out != f->enc_in &&
                              (f->c_out != 1 || f->out_col < 0 || f->out_col >= f->enc_in))))
        why = "forecasting: pred_len >= 1 and every input variable forecast, or one (c_out 1, "
              "out_col among them)";
    else if (f->d_model % 4 || f->d_model % f->n_heads)
        why = "d_model must be a multiple of 4 and of n_heads";
    else if (f->e_layers < 1 || f->e_layers > MAX_LAYERS || f->d_ff < 1 || f->n_marks < 1)
        why = "e_layers must be 1..16, d_ff and n_marks (c_embedding) positive";
    else if (f->kernel_size < 1 || f->kernel_size > MAX_KERNEL)
        why = "kernel_size must be 1..64";
    else if (f->kernel_size_head < 1 || f->kernel_size_head > MAX_KERNEL ||
             f->kernel_size_head % 2 == 0 || f->kernel_size_head / 2 > f->seq_len)
        why = "kernel_size_head must be odd, at most 64 and at most 2 seq_len + 1";
    else if (f->n_dilations < 1 || f->n_dilations > HZ_MAX_DILATIONS)
        why = "1..16 dilations";
    for (int i = 0; !why && i < f->n_dilations; i++)
        if (f->dilations[i] < 1 || f->dilations[i] > MAX_DILATION)
            why = "each dilation must be 1..1024";
    if (!why && f->forecast != 0 && f->forecast != 1)
        why = "forecast must be 0 or 1";
    if (!why && (f->plain != 0 && f->plain != 1))
        why = "plain must be 0 or 1";
    if (!why && f->plain && f->forecast)
        why = "the plain transformer disaggregates only (forecast 0)";
    if (why)
        return hz_err(err, errlen, HZ_EINVAL,
                      "nilmformer: %s (seq_len %d, pred_len %d, enc_in %d, "
                      "c_out %d, d_model %d, n_heads %d)",
                      why, f->seq_len, f->pred_len, f->enc_in, f->c_out, f->d_model, f->n_heads);
    return 0;
}

int hz_nilmformer_create(const hz_model_conf *conf, hz_model **out, char *err, size_t errlen)
{
    *out = NULL;
    int rc = nf_check(conf, err, errlen);
    if (rc)
        return rc;
    nf *t = calloc(1, sizeof *t);
    if (!t)
        return hz_err(err, errlen, HZ_ENOMEM, "nilmformer: out of memory");
    t->base.vt = &nf_vt;
    t->base.conf = *conf;
    hz_params_init(&t->base.params);
    if (conf->plain && !(t->pe = malloc((size_t)conf->seq_len * conf->d_model * sizeof *t->pe)))
        rc = HZ_ENOMEM;
    if (rc || (rc = nf_add(t))) {
        nf_free(&t->base);
        return hz_err(err, errlen, rc, "nilmformer: out of memory");
    }
    nf_init(t);
    *out = &t->base;
    return 0;
}

/* ------------------------------------------------------------------------ sizes */

int64_t hz_nilmformer_n_params(const hz_model_conf *f)
{
    int64_t d = f->d_model, ff = f->d_ff, out = f->forecast ? 1 : f->c_out;
    int64_t layer = 4 * d * d + 2 * 2 * d + (d * ff + ff) + (ff * d + d); /* Q K V O, 2 LN, FFN */
    int64_t n = f->e_layers * layer + 2 * d + out * d * f->kernel_size_head + out;
    if (f->plain)
        return n + 2 * d; /* PlainEmbedding */
    int64_t e = 3 * d / 4, c_in = 1;
    for (int i = 0; i < f->n_dilations; i++, c_in = e) /* conv (+ bias), BatchNorm affine */
        n += e * c_in * f->kernel_size + (f->conv_bias ? e : 0) + 2 * e;
    n += (int64_t)f->n_marks * (d / 4) + d / 4; /* ProjEmbedding */
    n += (2 * d + d) + (d * 2 + 2);             /* ProjStats1, ProjStats2 */
    if (f->forecast)
        n += (int64_t)f->seq_len * f->pred_len + f->pred_len; /* ProjHorizon */
    return n;
}

int hz_nilmformer_plain_d_ff(const hz_model_conf *f)
{
    hz_model_conf q = *f;
    q.plain = 0;
    int64_t target = hz_nilmformer_n_params(&q);
    q.plain = 1;
    q.forecast = 0;
    q.d_ff = 1;
    /* the count grows by e_layers (2 d + 1) with each unit of d_ff: the nearest step */
    int64_t at1 = hz_nilmformer_n_params(&q), slope = (int64_t)f->e_layers * (2 * f->d_model + 1);
    if (slope < 1 || target <= at1)
        return 1;
    int64_t k = (target - at1 + slope / 2) / slope;
    return k < INT32_MAX ? (int)(1 + k) : INT32_MAX;
}
