/* checkpoint.c — model <-> safetensors (checkpoint.h).  The configuration travels as JSON in
 * the metadata so a checkpoint alone is enough to rebuild its model. */
#include "models/checkpoint.h"

#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/hz.h"

/* clang-format off */
#define CONF_INTS(X)                                                                        \
    X(seq_len) X(label_len) X(pred_len) X(enc_in) X(c_out) X(out_col) X(n_marks) X(d_model) \
    X(n_heads) X(e_layers) X(d_layers) X(d_ff) X(activation) X(use_norm) X(norm_last)       \
    X(factor) X(attn_full) X(distil) X(mix) X(kernel_size) X(kernel_size_head) X(conv_bias) \
    X(forecast) X(stats_mu)
/* clang-format on */

char *hz_model_conf_to_json(const hz_model_conf *c)
{
    json_t *o = json_object();
    json_object_set_new(o, "kind", json_string(hz_model_kind_name(c->kind)));
#define PUT(f) json_object_set_new(o, #f, json_integer(c->f));
    CONF_INTS(PUT)
#undef PUT
    if (c->n_dilations > 0) {
        json_t *a = json_array();
        for (int i = 0; i < c->n_dilations && i < HZ_MAX_DILATIONS; i++)
            json_array_append_new(a, json_integer(c->dilations[i]));
        json_object_set_new(o, "dilations", a);
    }
    if (c->plain) /* only then: older files and other models stay as they were */
        json_object_set_new(o, "plain", json_integer(c->plain));
    json_object_set_new(o, "dropout", json_real(c->dropout));
    json_object_set_new(o, "seed", json_integer((json_int_t)c->seed));
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return s;
}

/* "dilations": an array of 1..HZ_MAX_DILATIONS int-sized integers (their range is the
 * model's to check). */
static int dilations_from_json(const json_t *a, hz_model_conf *c, char *err, size_t errlen)
{
    size_t n = json_array_size(a);
    if (!json_is_array(a) || n < 1 || n > HZ_MAX_DILATIONS)
        return hz_err(err, errlen, HZ_EFORMAT,
                      "config metadata: dilations must be an array of 1..%d integers",
                      HZ_MAX_DILATIONS);
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_array_get(a, i);
        if (!json_is_integer(v) || json_integer_value(v) < INT_MIN ||
            json_integer_value(v) > INT_MAX)
            return hz_err(err, errlen, HZ_EFORMAT,
                          "config metadata: dilations[%zu] must be an int-sized integer", i);
        c->dilations[i] = (int)json_integer_value(v);
    }
    c->n_dilations = (int)n;
    return 0;
}

int hz_model_conf_from_json(const char *json, hz_model_conf *c, char *err, size_t errlen)
{
    json_error_t je;
    json_t *o = json_loads(json, 0, &je);
    if (!o || !json_is_object(o)) {
        json_decref(o);
        return hz_err(err, errlen, HZ_EFORMAT, "config metadata is not a JSON object (%s)",
                      o ? "wrong type" : je.text);
    }
    const char *kind = json_string_value(json_object_get(o, "kind"));
    hz_model_kind k;
    if (!kind || hz_model_kind_parse(kind, &k)) {
        /* kind belongs to o: the message is written before o is freed */
        int rc = hz_err(err, errlen, HZ_EFORMAT, "config metadata: unknown model kind '%s'",
                        kind ? kind : "(none)");
        json_decref(o);
        return rc;
    }
    hz_model_conf_defaults(c, k);
    json_t *v;
#define GET(f)                                                                                     \
    if ((v = json_object_get(o, #f))) {                                                            \
        if (!json_is_integer(v) || json_integer_value(v) < INT_MIN ||                              \
            json_integer_value(v) > INT_MAX) {                                                     \
            json_decref(o);                                                                        \
            return hz_err(err, errlen, HZ_EFORMAT,                                                 \
                          "config metadata: %s must be an int-sized integer", #f);                 \
        }                                                                                          \
        c->f = (int)json_integer_value(v);                                                         \
    }
    CONF_INTS(GET)
    GET(plain)
#undef GET
    if ((v = json_object_get(o, "dropout"))) {
        /* a probability: hz_dropout asserts it, even in a forward without dropout */
        double p = json_number_value(v);
        if (!json_is_number(v) || !(p >= 0 && p <= 1)) {
            json_decref(o);
            return hz_err(err, errlen, HZ_EFORMAT, "config metadata: dropout must be in 0..1");
        }
        c->dropout = p;
    }
    if ((v = json_object_get(o, "dilations"))) {
        int rc = dilations_from_json(v, c, err, errlen);
        if (rc) {
            json_decref(o);
            return rc;
        }
    }
    if ((v = json_object_get(o, "seed")))
        c->seed = (uint64_t)json_integer_value(v);
    json_decref(o);
    return 0;
}

/* Every parameter of m finite (a NaN or Inf weight makes every forecast NaN). */
static int check_finite(const hz_model *m, const char *path, char *err, size_t errlen)
{
    const hz_params *p = &m->params;
    for (size_t i = 0; i < p->len; i++) {
        const hz_tensor *t = p->t[i];
        for (int64_t k = 0; k < t->n; k++)
            if (!isfinite(t->data[k]))
                return hz_err(err, errlen, HZ_EFORMAT,
                              "%s: tensor '%s' holds a non-finite weight (%g at element %lld)",
                              path, t->name, (double)t->data[k], (long long)k);
    }
    return 0;
}

int hz_ckpt_save(const hz_model *m, const char *path, const char *const (*meta)[2], int n_meta,
                 const hz_ckpt_extra *extra, int n_extra, char *err, size_t errlen)
{
    /* a diverged training must not leave a file that forecasts NaN (nor rename one over the
     * served checkpoint: the daemon's retrain writes <checkpoint>.next first) */
    int frc = check_finite(m, path, err, errlen);
    if (frc)
        return frc;
    hz_st_writer *w = hz_st_writer_new();
    if (!w)
        return hz_err(err, errlen, HZ_ENOMEM, "%s: out of memory", path);
    int rc = 0;
    const hz_params *p = &m->params;
    for (size_t i = 0; i < p->len && !rc; i++) {
        const hz_tensor *t = p->t[i];
        int64_t shape[HZ_MAXDIM];
        for (int d = 0; d < t->ndim; d++)
            shape[d] = t->shape[d];
        rc = hz_st_writer_add(w, t->name, HZ_ST_F32, t->ndim, shape, t->data, err, errlen);
    }
    for (int i = 0; i < n_extra && !rc; i++) {
        if (strncmp(extra[i].name, "calib.", 6))
            rc = hz_err(err, errlen, HZ_EINVAL, "%s: extra tensor '%s' must start with calib.",
                        path, extra[i].name);
        else
            rc = hz_st_writer_add(w, extra[i].name, HZ_ST_F32, extra[i].ndim, extra[i].shape,
                                  extra[i].data, err, errlen);
    }
    char *conf = hz_model_conf_to_json(&m->conf);
    if (!rc)
        rc = conf ? 0 : HZ_ENOMEM;
    if (!rc)
        rc = hz_st_writer_meta(w, "format", "horizon-1", err, errlen);
    if (!rc)
        rc = hz_st_writer_meta(w, "model", hz_model_kind_name(m->conf.kind), err, errlen);
    if (!rc)
        rc = hz_st_writer_meta(w, "config", conf, err, errlen);
    for (int i = 0; i < n_meta && !rc; i++)
        rc = hz_st_writer_meta(w, meta[i][0], meta[i][1], err, errlen);
    if (!rc)
        rc = hz_st_writer_save(w, path, err, errlen);
    free(conf);
    hz_st_writer_free(w);
    return rc;
}

static int ignorable(const char *name)
{
    size_t n = strlen(name);
    if (!strncmp(name, "calib.", 6))
        return 1;
    static const char *const suffixes[] = {"position_embedding.pe", "num_batches_tracked"};
    for (int i = 0; i < 2; i++) {
        size_t k = strlen(suffixes[i]);
        if (n >= k && !strcmp(name + n - k, suffixes[i]))
            return 1;
    }
    return 0;
}

int hz_ckpt_load_weights(hz_model *m, const hz_st_file *f, char *err, size_t errlen)
{
    hz_params *p = &m->params;
    hz_params_unpack(p);
    for (size_t i = 0; i < p->len; i++) {
        hz_tensor *t = p->t[i];
        int64_t shape[HZ_MAXDIM];
        for (int d = 0; d < t->ndim; d++)
            shape[d] = t->shape[d];
        int rc = hz_st_read_f32(f, t->name, t->ndim, shape, t->data, err, errlen);
        if (rc)
            return rc;
    }
    for (size_t i = 0; i < hz_st_count(f); i++) {
        const hz_st_tensor *t = hz_st_at(f, i);
        if (!hz_params_find(p, t->name) && !ignorable(t->name))
            return hz_err(err, errlen, HZ_EFORMAT,
                          "%s: tensor '%s' is not a parameter of this %s model", hz_st_path(f),
                          t->name, hz_model_kind_name(m->conf.kind));
    }
    return 0;
}

/* The sizes a "config" may claim, checked against the file before the model is allocated:
 * every width (d_model, d_ff, variables, kernel sizes) is a dimension of some tensor of the
 * file, so none
 * exceeds the file's largest dimension; a layer count is at most the number of tensors; the
 * window lengths are at most HZ_CKPT_MAX_LEN (iTransformer's embedding has seq_len columns,
 * Informer allocates a positional table of seq_len rows). */
static int check_conf_bounds(const hz_model_conf *c, const hz_st_file *f, char *err, size_t errlen)
{
    int64_t maxdim = 1;
    size_t nt = hz_st_count(f);
    for (size_t i = 0; i < nt; i++) {
        const hz_st_tensor *t = hz_st_at(f, i);
        for (int d = 0; d < t->ndim; d++)
            if (t->shape[d] > maxdim)
                maxdim = t->shape[d];
    }
    const struct {
        const char *name;
        int v;
        int64_t max;
    } b[] = {{"seq_len", c->seq_len, HZ_CKPT_MAX_LEN},
             {"label_len", c->label_len, HZ_CKPT_MAX_LEN},
             {"pred_len", c->pred_len, HZ_CKPT_MAX_LEN},
             {"enc_in", c->enc_in, HZ_CKPT_MAX_LEN},
             {"c_out", c->c_out, HZ_CKPT_MAX_LEN},
             {"n_marks", c->n_marks, HZ_CKPT_MAX_LEN},
             {"d_model", c->d_model, maxdim},
             {"d_ff", c->d_ff, maxdim},
             {"n_heads", c->n_heads, maxdim},
             {"e_layers", c->e_layers, (int64_t)nt},
             {"d_layers", c->d_layers, (int64_t)nt},
             {"kernel_size", c->kernel_size, maxdim},
             {"kernel_size_head", c->kernel_size_head, maxdim}};
    for (size_t i = 0; i < sizeof b / sizeof *b; i++)
        if (b[i].v < 0 || b[i].v > b[i].max)
            return hz_err(err, errlen, HZ_EFORMAT,
                          "%s: \"config\" claims %s %d, beyond what the file's tensors can hold "
                          "(at most %lld); refused before allocating",
                          hz_st_path(f), b[i].name, b[i].v, (long long)b[i].max);
    return 0;
}

int hz_ckpt_load(const char *path, hz_model **out, hz_st_file **file_out, char *err, size_t errlen)
{
    *out = NULL;
    if (file_out)
        *file_out = NULL;
    hz_st_file *f;
    int rc = hz_st_open(path, &f, err, errlen);
    if (rc)
        return rc;
    const char *conf_json = hz_st_meta(f, "config");
    hz_model_conf conf;
    char sub[HZ_ERRLEN];
    if (!conf_json) {
        rc = hz_err(err, errlen, HZ_EFORMAT,
                    "%s: no \"config\" in __metadata__; not a horizon checkpoint", path);
    } else if ((rc = hz_model_conf_from_json(conf_json, &conf, sub, sizeof sub))) {
        hz_err(err, errlen, rc, "%s: %s", path, sub);
    } else if ((rc = check_conf_bounds(&conf, f, err, errlen))) {
        /* refused before hz_model_create allocates */
    } else if ((rc = hz_model_create(&conf, out, sub, sizeof sub))) {
        hz_err(err, errlen, rc, "%s: %s", path, sub);
    } else if ((rc = hz_ckpt_load_weights(*out, f, err, errlen)) ||
               (rc = check_finite(*out, path, err, errlen))) {
        hz_model_free(*out);
        *out = NULL;
    }
    if (rc || !file_out)
        hz_st_close(f);
    else
        *file_out = f;
    return rc;
}

size_t hz_ckpt_stem(const char *path)
{
    static const char ext[] = ".safetensors";
    size_t len = strlen(path), el = sizeof ext - 1;
    return len > el && !strcmp(path + len - el, ext) ? len - el : len;
}
