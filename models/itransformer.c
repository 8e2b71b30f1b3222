/* itransformer.c — iTransformer (Liu et al., ICLR 2024; docs/MODELS.md).  Each variate's whole
 * lookback window is one token: instance-normalise each variate, embed the window with one
 * shared Linear(seq_len -> d_model) (calendar features become extra tokens), run post-LN
 * encoder layers with full attention across tokens, project each token to pred_len values,
 * drop the calendar tokens and de-normalise.  Parameter names are the official state_dict
 * keys of thuml/iTransformer model/iTransformer.py. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hz.h"
#include "models/layers.h"
#include "models/model.h"

#define MAX_LAYERS 16

typedef struct itr {
    hz_model base;
    hz_lin embed; /* enc_embedding.value_embedding: Linear(seq_len -> d_model) */
    hz_enc_layer layers[MAX_LAYERS];
    hz_norm norm; /* encoder.norm */
    hz_lin proj;  /* projector: Linear(d_model -> pred_len) */
} itr;

static hz_tensor *itr_forward(hz_model *m, hz_ctx *c, const hz_model_input *in)
{
    itr *t = (itr *)m;
    const hz_model_conf *f = &m->conf;
    int B = in->batch, T = f->seq_len, N = f->enc_in, F = in->x_mark ? f->n_marks : 0;
    int xs[3] = {B, T, N};
    hz_tensor *x = hz_tensor_wrap(c, (hz_real *)in->x, 3, xs); /* [B, T, N] */
    hz_tensor *mu = NULL, *sigma = NULL;
    if (f->use_norm) {
        /* x is data (no gradient), so mu and sigma are constants as in the official code */
        mu = hz_mean(c, x, 1, 1); /* [B, 1, N] */
        hz_tensor *xc = hz_sub(c, x, mu);
        sigma = hz_sqrt(c, hz_add_scalar(c, hz_mean(c, hz_mul(c, xc, xc), 1, 1), 1e-5));
        if (f->norm_last) /* centred on the last value: zero output = persistence */
            xc = hz_sub(c, x, mu = hz_slice(c, x, 1, T - 1, 1));
        x = hz_div(c, xc, sigma);
    }
    int perm[3] = {0, 2, 1};
    hz_tensor *tok = hz_permute(c, x, perm); /* [B, N, T] */
    if (F > 0) {
        int ms[3] = {B, T, F};
        hz_tensor *mk = hz_permute(c, hz_tensor_wrap(c, (hz_real *)in->x_mark, 3, ms), perm);
        hz_tensor *parts[2] = {tok, mk};
        tok = hz_concat(c, parts, 2, 1); /* [B, N + F, T] */
    }
    hz_tensor *h = hz_dropout(c, hz_lin_fwd(c, &t->embed, tok), f->dropout); /* [B, N+F, d] */
    for (int i = 0; i < f->e_layers; i++)
        h = hz_enc_layer_fwd(c, &t->layers[i], h);
    h = hz_norm_fwd(c, &t->norm, h);
    hz_tensor *y = hz_permute(c, hz_lin_fwd(c, &t->proj, h), perm); /* [B, S, N+F] */
    int o0 = f->c_out == N ? 0 : f->out_col, no = f->c_out;
    if (F > 0 || no != N)
        y = hz_slice(c, y, 2, o0, no); /* [B, S, c_out] */
    if (f->use_norm) {
        if (no != N) {
            mu = hz_slice(c, mu, 2, o0, no);
            sigma = hz_slice(c, sigma, 2, o0, no);
        }
        y = hz_add(c, hz_mul(c, y, sigma), mu);
    }
    return y;
}

static void itr_free(hz_model *m)
{
    hz_params_free(&m->params);
    free(m);
}

static const hz_model_vt itr_vt = {itr_forward, itr_free};

int hz_itransformer_create(const hz_model_conf *conf, hz_model **out, char *err, size_t errlen)
{
    *out = NULL;
    if (conf->e_layers < 1 || conf->e_layers > MAX_LAYERS)
        return hz_err(err, errlen, HZ_EINVAL, "itransformer: e_layers must be 1..%d, got %d",
                      MAX_LAYERS, conf->e_layers);
    if (conf->d_model % conf->n_heads)
        return hz_err(err, errlen, HZ_EINVAL,
                      "itransformer: d_model %d is not a multiple of n_heads %d", conf->d_model,
                      conf->n_heads);
    /* a checkpoint's configuration comes from its file (models/checkpoint.c) */
    if (conf->d_ff < 1 || conf->n_marks < 0)
        return hz_err(err, errlen, HZ_EINVAL,
                      "itransformer: d_ff must be positive and n_marks >= 0, got %d and %d",
                      conf->d_ff, conf->n_marks);
    if (conf->c_out != conf->enc_in &&
        (conf->c_out != 1 || conf->out_col < 0 || conf->out_col >= conf->enc_in))
        return hz_err(err, errlen, HZ_EINVAL,
                      "itransformer: forecasts every input variable or one (c_out %d, enc_in "
                      "%d, out_col %d)",
                      conf->c_out, conf->enc_in, conf->out_col);
    itr *t = calloc(1, sizeof *t);
    if (!t)
        return HZ_ENOMEM;
    t->base.vt = &itr_vt;
    t->base.conf = *conf;
    hz_params *p = &t->base.params;
    hz_params_init(p);
    int rc = hz_lin_add(p, &t->embed, "enc_embedding.value_embedding", conf->seq_len, conf->d_model,
                        1, 0);
    char name[64];
    for (int i = 0; !rc && i < conf->e_layers; i++) {
        snprintf(name, sizeof name, "encoder.attn_layers.%d", i);
        rc = hz_enc_layer_add(p, &t->layers[i], name, conf->d_model, conf->n_heads, conf->d_ff,
                              conf->activation, conf->dropout);
    }
    if (!rc)
        rc = hz_norm_add(p, &t->norm, "encoder.norm", conf->d_model);
    if (!rc)
        rc = hz_lin_add(p, &t->proj, "projector", conf->d_model, conf->pred_len, 1, 0);
    if (!rc)
        rc = hz_params_finalize(p);
    if (rc) {
        itr_free(&t->base);
        return hz_err(err, errlen, rc, "itransformer: out of memory");
    }
    hz_rng r;
    hz_rng_seed(&r, conf->seed);
    hz_lin_init(&t->embed, &r);
    for (int i = 0; i < conf->e_layers; i++)
        hz_enc_layer_init(&t->layers[i], &r);
    hz_norm_init(&t->norm);
    hz_lin_init(&t->proj, &r);
    *out = &t->base;
    return 0;
}
