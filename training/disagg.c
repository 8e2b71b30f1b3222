/* disagg.c — the disaggregation data path (disagg.h): one appliance's view of a pipeline,
 * max-scaling and non-overlapping windows without gaps, the backtest in watts. */
#include "training/disagg.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hz.h"
#include "engine/tensor.h"
#include "models/checkpoint.h"

int hz_disagg_find(const hz_pipeline_conf *p, const char *name)
{
    for (size_t i = 0; i < p->model.data.n_appliances; i++)
        if (!strcmp(p->model.data.appliances[i].name, name))
            return (int)i;
    return -1;
}

void hz_disagg_checkpoint(const char *ckpt, const char *appliance, char *out, size_t n)
{
    size_t stem = hz_ckpt_stem(ckpt);
    snprintf(out, n, "%.*s.%s%s", (int)stem, ckpt, appliance, ckpt + stem);
}

void hz_disagg_plain_checkpoint(const char *ckpt, char *out, size_t n)
{
    hz_disagg_checkpoint(ckpt, "plain", out, n);
}

int hz_disagg_view_init(const hz_pipeline_conf *p, int i, hz_disagg_view *v, char *err,
                        size_t errlen)
{
    const hz_cfg_data *dc = &p->model.data;
    if (p->model.task != HZ_CFG_TASK_DISAGGREGATE || i < 0 || (size_t)i >= dc->n_appliances ||
        p->source.fields.n_values != 1)
        return hz_err(err, errlen, HZ_EINVAL, "pipeline %s: no appliance %d to disaggregate",
                      p->name, i);
    hz_cfg_appliance *a = &dc->appliances[i];
    v->p = *p;
    v->values[0] = p->source.fields.values[0];
    v->values[1] = a->name;
    v->p.source.fields.values = v->values;
    v->p.source.fields.n_values = 2;
    v->p.model.data.appliances = a;
    v->p.model.data.n_appliances = 1;
    v->p.model.data.target = a->name;
    v->p.model.data.features = HZ_CFG_FEATURES_MS;
    v->p.model.data.n_known = 0;
    v->p.model.data.pool = 0;
    hz_disagg_checkpoint(p->model.checkpoint, a->name, v->checkpoint, sizeof v->checkpoint);
    if (strlen(v->checkpoint) + 1 >= sizeof v->checkpoint)
        return hz_err(err, errlen, HZ_EINVAL, "pipeline %s: checkpoint path too long", p->name);
    v->p.model.checkpoint = v->checkpoint;
    return 0;
}

/* Both columns divided by the view's max_power, else by the largest finite aggregate of the
 * training rows [r0, r1). */
static void fit_max(const hz_pipeline_conf *p, const hz_table *t, int r0, int r1, hz_scaler *s)
{
    double mx = p->model.data.max_power;
    int fit = mx <= 0;
    for (int r = r0; r < r1 && fit; r++) {
        double x = t->values[(size_t)r * t->cols];
        if (isfinite(x) && x > mx)
            mx = x;
    }
    memset(s, 0, sizeof *s);
    s->cols = t->cols;
    for (int c = 0; c < t->cols; c++) {
        s->mean[c] = 0;
        s->std[c] = mx > 0 ? mx : 1;
    }
}

/* The target's mean over rows [r0, r1), finite values only (NaN when none). */
static double column_mean(const hz_table *t, int c, int r0, int r1)
{
    double sum = 0;
    long n = 0;
    for (int r = r0; r < r1; r++) {
        double x = t->values[(size_t)r * t->cols + c];
        if (isfinite(x)) {
            sum += x;
            n++;
        }
    }
    return n ? sum / (double)n : NAN;
}

/* Whether the window [a, a + W) of d spans a hole (a stretch starting inside it) or holds a
 * value that is not finite. */
static int window_has_gap(const hz_prepared *d, int a, int W)
{
    for (int j = 0; j < d->n_stretch; j++)
        if (d->stretch[j] > a && d->stretch[j] < a + W)
            return 1;
    const float *v = d->table.values + (size_t)a * d->table.cols;
    for (size_t i = 0; i < (size_t)W * d->table.cols; i++)
        if (!isfinite(v[i]))
            return 1;
    return 0;
}

/* Split s's windows: rows [r0, r1) cut every W from r0, those with a gap left out. */
static int split_windows(hz_prepared *d, int s, int r0, int r1, int W)
{
    hz_windows *w = &d->win[s];
    int cap = (r1 - r0) / W + 1, n = 0;
    hz_windows_init(w, d->scaled, d->marks, d->table.cols, d->n_marks, r0, r1, W, 0, W);
    if (!(d->starts[s] = malloc((size_t)cap * sizeof(int))))
        return HZ_ENOMEM;
    for (int a = r0; a + W <= r1; a += W) {
        if (window_has_gap(d, a, W))
            d->gap_windows[s]++;
        else
            d->starts[s][n++] = a;
    }
    w->starts = d->starts[s];
    w->count = n;
    w->same_rows = 1;
    w->input = 0;
    w->target = 1;
    return 0;
}

/* Scaled values and TimeRPE marks of d's table. */
static int scale_and_mark(hz_prepared *d, int n_marks)
{
    const hz_table *t = &d->table;
    d->scaled = malloc((size_t)t->rows * t->cols * sizeof(float));
    d->n_marks = n_marks;
    d->marks = n_marks ? malloc((size_t)t->rows * n_marks * sizeof(float)) : NULL;
    if (!d->scaled || (n_marks && !d->marks))
        return HZ_ENOMEM;
    hz_scaler_apply(&d->scaler, t->values, d->scaled, (size_t)t->rows);
    for (int r = 0; r < t->rows && n_marks; r++)
        hz_timef(n_marks, t->ts_ms[r], d->marks + (size_t)r * n_marks);
    return 0;
}

int hz_disagg_split(const hz_pipeline_conf *p, const hz_model_conf *mc, const hz_scaler *scaler,
                    hz_prepared *d, char *err, size_t errlen)
{
    const hz_table *t = &d->table;
    int W = mc->seq_len;
    if (t->cols != 2 || mc->pred_len != W || W < 1)
        return hz_err(err, errlen, HZ_EINVAL,
                      "pipeline %s: disaggregation reads [aggregate, appliance] in windows of "
                      "equal input and output length (got %d columns, %d -> %d)",
                      p->name, t->cols, W, mc->pred_len);
    const double *ratios = p->model.data.n_ratios == 3 ? p->model.data.ratios : NULL;
    double def[3] = {0.7, 0.1, 0.2};
    hz_split_kind kind = p->model.data.split == HZ_CFG_SPLIT_ETT_HOUR     ? HZ_SPLIT_ETT_HOUR
                         : p->model.data.split == HZ_CFG_SPLIT_ETT_MINUTE ? HZ_SPLIT_ETT_MINUTE
                                                                          : HZ_SPLIT_RATIO;
    int rc =
        hz_split_borders(kind, ratios ? ratios : def, t->rows, 0, d->begin, d->end, err, errlen);
    if (rc)
        return rc;
    if (scaler && scaler->cols != t->cols)
        return hz_err(err, errlen, HZ_EINVAL, "scaler has %d variables, the data %d", scaler->cols,
                      t->cols);
    if (p->model.data.zero_is_gap) /* a missing reading filled with 0: NaN, so a gap */
        for (int r = 0; r < t->rows; r++)
            if (d->table.values[(size_t)r * t->cols] == 0) {
                d->table.values[(size_t)r * t->cols] = NAN;
                d->zero_rows++;
            }
    if (scaler)
        d->scaler = *scaler;
    else
        fit_max(p, t, d->begin[0], d->end[0], &d->scaler);
    d->train_mean = column_mean(t, 1, d->begin[0], d->end[0]);
    if (scale_and_mark(d, mc->n_marks))
        return hz_err(err, errlen, HZ_ENOMEM, "out of memory");
    for (int s = 0; s < 3; s++)
        if (split_windows(d, s, d->begin[s], d->end[s], W))
            return hz_err(err, errlen, HZ_ENOMEM, "out of memory");
    return 0;
}

char *hz_disagg_meta_json(const hz_pipeline_conf *view, const hz_prepared *d)
{
    const hz_cfg_appliance *a = &view->model.data.appliances[0];
    json_t *o =
        json_pack("{s:s, s:s, s:f, s:f, s:f}", "aggregate", view->source.fields.values[0],
                  "appliance", a->name, "on_threshold", a->on_threshold, "max_power",
                  d->scaler.std[0], "train_mean", isfinite(d->train_mean) ? d->train_mean : 0.0);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

/* The n x W values of column c of batch buffer y (scaled) back in watts into out. */
static void to_watts(const hz_scaler *sc, int c, const hz_real *y, float *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = (float)hz_scaler_inv(sc, c, y[i]);
}

int hz_disagg_backtest(hz_model *m, const hz_windows *w, const hz_scaler *sc, int batch,
                       double threshold, double base, hz_disagg_result *res)
{
    int W = w->seq_len;
    size_t nb = (size_t)batch * W;
    hz_real *x = malloc(nb * sizeof *x), *mk = malloc(nb * (w->n_marks + 1) * sizeof *mk),
            *y = malloc(nb * sizeof *y);
    float *pw = malloc(nb * sizeof *pw), *yw = malloc(nb * sizeof *yw),
          *bw = malloc(nb * sizeof *bw);
    int *idx = malloc((size_t)batch * sizeof *idx);
    int rc = x && mk && y && pw && yw && bw && idx ? 0 : HZ_ENOMEM;
    hz_nilm_acc am, ab;
    hz_nilm_acc_init(&am, threshold);
    hz_nilm_acc_init(&ab, threshold);
    hz_ctx c;
    hz_ctx_init(&c, (size_t)16 << 20, 0);
    c.grad_on = 0;
    c.training = 0;
    for (int s = 0; !rc && s < w->count; s += batch) {
        int n = w->count - s < batch ? w->count - s : batch;
        for (int j = 0; j < n; j++)
            idx[j] = s + j;
        hz_windows_batch(w, idx, n, x, w->n_marks ? mk : NULL, NULL, NULL, y);
        hz_model_input in = {.batch = n, .x = x, .x_mark = w->n_marks ? mk : NULL};
        hz_ctx_reset(&c);
        hz_tensor *out = hz_model_forward(m, &c, &in);
        size_t k = (size_t)n * W;
        to_watts(sc, w->target, out->data, pw, k);
        to_watts(sc, w->target, y, yw, k);
        for (size_t i = 0; i < k; i++)
            bw[i] = (float)base;
        hz_nilm_acc_add(&am, pw, yw, k);
        hz_nilm_acc_add(&ab, bw, yw, k);
    }
    res->windows = w->count;
    hz_nilm_acc_scores(&am, &res->model);
    hz_nilm_acc_scores(&ab, &res->base);
    hz_ctx_free(&c);
    free(x);
    free(mk);
    free(y);
    free(pw);
    free(yw);
    free(bw);
    free(idx);
    return rc;
}
