/* model.h — the one interface of the three models (docs/ARCHITECTURE.md):
 * create from a config, forward a batch of windows, parameters for the optimiser and the
 * checkpoint, free.  A fourth model is one new file that fills an hz_model_vt. */
#ifndef HZ_MODEL_H
#define HZ_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "engine/tensor.h"

#define HZ_MAX_DILATIONS 16

typedef enum {
    HZ_MODEL_INFORMER = 0,
    HZ_MODEL_ITRANSFORMER = 1,
    HZ_MODEL_NILMFORMER = 2
} hz_model_kind;

/* Every field any model reads; each model documents which it uses.  Defaults: see
 * hz_model_conf_defaults (the papers' settings). */
typedef struct hz_model_conf {
    hz_model_kind kind;
    int seq_len, label_len, pred_len;
    int enc_in; /* variables in the input window */
    int c_out;  /* variables forecast */
    /* iTransformer with c_out 1 (features MS): the variate token whose forecast is the
     * output; every other token is an input only.  Informer projects to c_out directly. */
    int out_col;
    int n_marks; /* calendar features per step (timeF freq h: 4); 0 = none */
    int d_model, n_heads, e_layers, d_layers, d_ff;
    double dropout;
    int activation; /* HZ_ACT_GELU / HZ_ACT_RELU */
    int use_norm;   /* iTransformer instance normalisation */
    int norm_last;  /* with use_norm: centred on the window's last value, not its mean */
    /* Informer */
    int factor;
    int attn_full; /* 0: ProbSparse, 1: canonical full attention */
    int distil, mix;
    /* NILMFormer (models/nilmformer.c): seq_len = pred_len = the window W, enc_in 1 (the
     * aggregate), n_marks = TimeRPE channels (c_embedding), c_out appliance outputs */
    int kernel_size;      /* embedding convolutions, zero "same" padding */
    int kernel_size_head; /* head convolution, replicate padding kernel_size_head / 2 */
    int conv_bias;        /* the embedding convolutions have biases */
    int n_dilations;      /* residual units of the embedding, 1..HZ_MAX_DILATIONS */
    int dilations[HZ_MAX_DILATIONS];
    /* 0: disaggregation, the official model (pred_len = seq_len, enc_in 1); 1: forecasting,
     * each variable's window alone through the same network, a Linear(seq_len -> pred_len)
     * after the head and a zero-initialised correction of the window's own statistics
     * (docs/MODELS.md section 8.7) */
    int forecast;
    /* 1 (the official model): the stats token is made of the window's mean and deviation;
     * 0: of its deviation alone (the mean's input held at 0), so a forecast moves exactly
     * with the level of its window (docs/MODELS.md section 8.7) */
    int stats_mu;
    /* 1: NILMFormer's baseline, a plain transformer for disaggregation (docs/MODELS.md
     * section 8.10): the same encoder layers, final LayerNorm and head, but a Linear(1 -> d)
     * embedding plus a fixed sinusoid of the position instead of the dilated convolutions and
     * TimeRPE, and no window statistics (no stats token, no de-stationarisation); the marks
     * are not read */
    int plain;
    uint64_t seed; /* init and (Informer) key sampling */
} hz_model_conf;

/* The papers' defaults for kind (docs/MODELS.md): seq/pred 96, 7 variables, 4 marks;
 * NILMFormer's official disaggregation configuration (window 256, 1 input, 8 TimeRPE). */
void hz_model_conf_defaults(hz_model_conf *c, hz_model_kind kind);
const char *hz_model_kind_name(hz_model_kind k);
int hz_model_kind_parse(const char *s, hz_model_kind *out);

/* One batch of windows, row-major, owned by the caller. */
typedef struct hz_model_input {
    int batch;
    const hz_real *x;          /* [B, seq_len, enc_in] */
    const hz_real *x_mark;     /* [B, seq_len, n_marks] or NULL */
    const hz_real *x_dec;      /* [B, label_len + pred_len, enc_in] (Informer) */
    const hz_real *x_mark_dec; /* [B, label_len + pred_len, n_marks] (Informer) */
} hz_model_input;

typedef struct hz_model hz_model;
typedef struct hz_model_vt {
    /* Output [B, pred_len, c_out] in the arena of c.  c->training selects train/eval mode;
     * c->grad_on records the tape. */
    hz_tensor *(*forward)(hz_model *m, hz_ctx *c, const hz_model_input *in);
    void (*free)(hz_model *m);
} hz_model_vt;

struct hz_model {
    const hz_model_vt *vt;
    hz_model_conf conf;
    hz_params params; /* every state_dict entry under its official name */
    /* NULL, or the generator the model draws from itself while training (Informer's key
     * samples); part of a training run's state (train.h) */
    hz_rng *rng;
};

/* Creates a model with freshly initialised weights (PyTorch default inits, conf.seed).
 * Returns 0 or HZ_EINVAL (bad conf, message in err) / HZ_ENOMEM. */
int hz_model_create(const hz_model_conf *conf, hz_model **out, char *err, size_t errlen);
void hz_model_free(hz_model *m);
/* A forward without gradients first packs the weights for the inference kernel (once;
 * any change to the weights drops the packing, see hz_params_unpack), so the model must
 * not be shared between threads that run forwards at the same time. */
static inline hz_tensor *hz_model_forward(hz_model *m, hz_ctx *c, const hz_model_input *in)
{
    if (!c->grad_on && !m->params.packed)
        hz_params_pack(&m->params); /* out of memory: the BLAS path, unpacked */
    return m->vt->forward(m, c, in);
}

/* Per-kind constructors (used by hz_model_create). */
int hz_informer_create(const hz_model_conf *conf, hz_model **out, char *err, size_t errlen);
int hz_itransformer_create(const hz_model_conf *conf, hz_model **out, char *err, size_t errlen);
int hz_nilmformer_create(const hz_model_conf *conf, hz_model **out, char *err, size_t errlen);

/* NILMFormer's trainable parameters for conf (BatchNorm running statistics are buffers, not
 * counted): what hz_nilmformer_create's params.n_trainable will be, conf.plain or not. */
int64_t hz_nilmformer_n_params(const hz_model_conf *conf);
/* The d_ff that gives the plain transformer (conf.plain 1, conf's other sizes) the
 * parameter count closest to the NILMFormer of conf (conf.plain 0, conf.d_ff): the baseline
 * "of equal parameter count" (docs/MODELS.md section 8.10).  At least 1. */
int hz_nilmformer_plain_d_ff(const hz_model_conf *conf);

#endif
