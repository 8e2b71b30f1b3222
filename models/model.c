/* model.c — model kinds, paper defaults and the factory behind the model interface. */
#include "models/model.h"

#include <string.h>

#include "common/hz.h"
#include "models/layers.h"

static const char *const kind_names[] = {"informer", "itransformer", "nilmformer"};

const char *hz_model_kind_name(hz_model_kind k)
{
    return (unsigned)k < 3 ? kind_names[k] : "unknown";
}

int hz_model_kind_parse(const char *s, hz_model_kind *out)
{
    for (int i = 0; i < 3; i++)
        if (!strcmp(s, kind_names[i])) {
            *out = (hz_model_kind)i;
            return 0;
        }
    return HZ_EINVAL;
}

void hz_model_conf_defaults(hz_model_conf *c, hz_model_kind kind)
{
    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->seq_len = 96;
    c->label_len = 48;
    c->pred_len = 96;
    c->enc_in = c->c_out = 7;
    c->n_marks = 4;
    c->activation = HZ_ACT_GELU;
    c->seed = 2021;
    switch (kind) {
    case HZ_MODEL_INFORMER: /* docs/MODELS.md */
        c->pred_len = 24;
        c->d_model = 512;
        c->n_heads = 8;
        c->e_layers = 2;
        c->d_layers = 1;
        c->d_ff = 2048;
        c->dropout = 0.05;
        c->factor = 5;
        c->distil = 1;
        c->mix = 1;
        break;
    case HZ_MODEL_ITRANSFORMER: /* docs/MODELS.md, ETTh1 S=96 script */
        c->d_model = 256;
        c->n_heads = 8;
        c->e_layers = 2;
        c->d_ff = 256;
        c->dropout = 0.1;
        c->use_norm = 1;
        c->factor = 1;
        c->seed = 2023;
        break;
    case HZ_MODEL_NILMFORMER: /* docs/MODELS.md: the official config, window 256 */
        c->seq_len = c->pred_len = 256;
        c->label_len = 0;
        c->enc_in = c->c_out = 1;
        c->n_marks = 8;
        c->d_model = 96;
        c->n_heads = 8;
        c->e_layers = 3;
        c->d_ff = 384;
        c->dropout = 0.2;
        c->kernel_size = c->kernel_size_head = 3;
        c->conv_bias = 1;
        c->stats_mu = 1;
        c->n_dilations = 4;
        for (int i = 0; i < 4; i++)
            c->dilations[i] = 1 << i;
        c->seed = 0;
        break;
    }
}

int hz_model_create(const hz_model_conf *conf, hz_model **out, char *err, size_t errlen)
{
    *out = NULL;
    if (conf->seq_len < 1 || conf->pred_len < 1 || conf->enc_in < 1 || conf->d_model < 1 ||
        conf->n_heads < 1)
        return hz_err(err, errlen, HZ_EINVAL,
                      "model: seq_len, pred_len, variables, d_model and n_heads must be "
                      "positive");
    switch (conf->kind) {
    case HZ_MODEL_INFORMER:
        return hz_informer_create(conf, out, err, errlen);
    case HZ_MODEL_ITRANSFORMER:
        return hz_itransformer_create(conf, out, err, errlen);
    case HZ_MODEL_NILMFORMER:
        return hz_nilmformer_create(conf, out, err, errlen);
    default:
        return hz_err(err, errlen, HZ_EINVAL, "model: unknown kind %d", (int)conf->kind);
    }
}

void hz_model_free(hz_model *m)
{
    if (m)
        m->vt->free(m);
}
