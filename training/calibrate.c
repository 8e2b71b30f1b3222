/* calibrate.c — the intervals' calibration on validation windows and their online backtest
 * on test windows (calibrate.h). */
#include "training/calibrate.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/hz.h"

void hz_calib_vars(const hz_pipeline_conf *pc, char *const *names, int C, const hz_scaler *sc,
                   hz_iv_var *vars)
{
    for (int k = 0; k < C; k++) {
        hz_iv_var *v = &vars[k];
        memset(v, 0, sizeof *v);
        v->mean = sc->mean[k];
        v->std = sc->std[k] > 0 ? sc->std[k] : 1;
        v->scaled_log1p = sc->log1p[k];
        v->lo = v->hi = NAN;
        for (size_t i = 0; pc && i < pc->n_variables; i++) {
            const hz_cfg_variable *cv = &pc->variables[i];
            if (strcmp(cv->name, names[k]) || (cv->series && *cv->series))
                continue;
            v->transform = cv->transform;
            if (cv->n_bounds == 2) {
                v->lo = cv->bounds[0];
                v->hi = cv->bounds[1];
            }
        }
        if (v->scaled_log1p) /* the model's space decides */
            v->transform = HZ_TF_LOG1P;
    }
}

/* Original value of row r, output column k (hz_windows_out_col) of w's scaled data. */
static double orig(const hz_windows *w, const hz_iv_var *v, int r, int k)
{
    return hz_iv_unscale(v, w->data[(size_t)r * w->cols + hz_windows_out_col(w, k)]);
}

/* The local scale of window i's variable k (its last HZ_IV_SCALE_W + 1 inputs). */
static double window_scale(const hz_windows *w, const hz_iv_var *v, int i, int k, int floor)
{
    float x[HZ_IV_SCALE_W + 1];
    int L = w->seq_len, n = L < HZ_IV_SCALE_W + 1 ? L : HZ_IV_SCALE_W + 1;
    int r0 = hz_windows_start(w, i) + L - n;
    for (int j = 0; j < n; j++)
        x[j] = (float)orig(w, v, r0 + j, k);
    return floor ? hz_iv_scale(v, x, 1, n) : hz_iv_scale_raw(v, x, 1, n);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int hz_calib_fit(const hz_windows *w, const float *pred, int n, hz_iv_var *vars, float *grid,
                 char *err, size_t errlen)
{
    int P = w->pred_len, C = hz_windows_out_cols(w), L = w->seq_len;
    double *s = malloc(((size_t)n + 1) * sizeof *s);
    float *u = malloc(((size_t)n + 1) * sizeof *u);
    if (!s || !u) {
        free(s);
        free(u);
        return hz_err(err, errlen, HZ_ENOMEM, "calibration: out of memory");
    }
    for (int k = 0; k < C; k++) {
        hz_iv_var *v = &vars[k];
        for (int i = 0; i < n; i++)
            s[i] = window_scale(w, v, i, k, 0);
        qsort(s, (size_t)n, sizeof *s, cmp_double);
        v->scale_med = n ? s[n / 2] : 0;
        if (!(v->scale_med > 0)) /* no movement at all */
            v->scale_med = 0.01;
        for (int i = 0; i < n; i++) /* now with the floor and cap of scale_med */
            s[i] = window_scale(w, v, i, k, 1);
        for (int h = 0; h < P; h++) {
            size_t m = 0;
            for (int i = 0; i < n; i++) {
                double sc = s[i];
                double fc = hz_iv_unscale(v, pred[((size_t)i * P + h) * C + k]);
                double y = orig(w, v, hz_windows_start(w, i) + L + h, k);
                double r = (hz_iv_z(v, y) - hz_iv_z(v, hz_iv_clip(v, fc))) / sc;
                if (isfinite(r))
                    u[m++] = (float)r;
            }
            float *g = grid + ((size_t)h * C + k) * HZ_IV_GRID;
            if (m)
                hz_iv_grid_fill(u, m, g);
            else
                hz_iv_grid_default(g);
        }
    }
    free(s);
    free(u);
    return 0;
}

char *hz_calib_meta_json(const hz_iv_var *vars, int C)
{
    json_t *o = json_object(), *tf = json_array(), *sm = json_array(), *lo = json_array(),
           *hi = json_array();
    for (int k = 0; k < C; k++) {
        json_array_append_new(tf, json_string(hz_iv_transform_name(vars[k].transform)));
        json_array_append_new(sm, json_real(vars[k].scale_med));
        json_array_append_new(lo, isnan(vars[k].lo) ? json_null() : json_real(vars[k].lo));
        json_array_append_new(hi, isnan(vars[k].hi) ? json_null() : json_real(vars[k].hi));
    }
    json_object_set_new(o, "transform", tf);
    json_object_set_new(o, "scale_med", sm);
    json_object_set_new(o, "lower_bound", lo);
    json_object_set_new(o, "upper_bound", hi);
    json_object_set_new(o, "scale_window", json_integer(HZ_IV_SCALE_W));
    char *r = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
    json_decref(o);
    return r;
}

/* A bound from the metadata: a number, or null (none). */
static double bound_of(json_t *a, int k)
{
    json_t *v = json_array_get(a, (size_t)k);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

int hz_calib_load(const hz_st_file *f, int P, int C, hz_iv_var *vars, const void **grid,
                  int take_bounds)
{
    *grid = NULL;
    const hz_st_tensor *t = hz_st_find(f, HZ_IV_TENSOR);
    const char *mj = hz_st_meta(f, "calib");
    if (!t || !mj || t->dtype != HZ_ST_F32 || t->ndim != 3 || t->shape[0] != P ||
        t->shape[1] != C || t->shape[2] != HZ_IV_GRID)
        return 0;
    json_t *o = json_loads(mj, 0, NULL);
    json_t *tf = json_object_get(o, "transform"), *sm = json_object_get(o, "scale_med");
    int ok = json_is_array(tf) && json_is_array(sm) && (int)json_array_size(tf) == C &&
             (int)json_array_size(sm) == C &&
             json_integer_value(json_object_get(o, "scale_window")) == HZ_IV_SCALE_W;
    for (int k = 0; ok && k < C; k++) {
        const char *name = json_string_value(json_array_get(tf, (size_t)k));
        int t2 = name ? hz_iv_transform_parse(name) : -1;
        if (t2 < 0) {
            ok = 0;
            break;
        }
        vars[k].transform = t2;
        vars[k].scale_med = json_number_value(json_array_get(sm, (size_t)k));
        if (take_bounds) {
            vars[k].lo = bound_of(json_object_get(o, "lower_bound"), k);
            vars[k].hi = bound_of(json_object_get(o, "upper_bound"), k);
        }
    }
    json_decref(o);
    if (ok)
        *grid = t->data;
    return ok;
}

int hz_calib_intervals(const hz_st_file *f, const hz_pipeline_conf *pc, char *const *names, int P,
                       int C, const hz_scaler *sc, const double *levels, int nl, int take_bounds,
                       hz_iv *iv, int *calibrated, char *err, size_t errlen)
{
    hz_iv_var vars[HZ_IV_MAX_VARS];
    const void *grid = NULL;
    hz_calib_vars(pc, names, C, sc, vars);
    *calibrated = hz_calib_load(f, P, C, vars, &grid, take_bounds);
    return hz_iv_init(iv, P, C, levels, nl, vars, grid, err, errlen);
}

/* The lowest-quartile threshold of each variable's actual values over the windows' targets. */
static int low_quartiles(const hz_windows *w, const hz_iv *iv, int n, double *q25, char *err,
                         size_t errlen)
{
    int P = w->pred_len, C = hz_windows_out_cols(w), L = w->seq_len;
    size_t m = (size_t)n + (size_t)P - 1; /* the targets of n windows */
    double *a = malloc(m * sizeof *a);
    if (!a)
        return hz_err(err, errlen, HZ_ENOMEM, "backtest: out of memory");
    for (int k = 0; k < C; k++) {
        for (size_t r = 0; r < m; r++)
            a[r] = orig(w, &iv->var[k], w->begin + L + (int)r, k);
        qsort(a, m, sizeof *a, cmp_double);
        q25[k] = a[m / 4];
    }
    free(a);
    return 0;
}

/* The backtest's state: every variable's per-step offsets and the ring of issued intervals,
 * as the daemon keeps them for one series (pipeline/forecaster.c). */
typedef struct bt_state {
    hz_iv_adapt *ad; /* [C, steps] */
    float *ring;
    int64_t *tags;
} bt_state;

static void bt_free(bt_state *b)
{
    free(b->ad);
    free(b->ring);
    free(b->tags);
}

static int bt_init(const hz_iv *iv, bt_state *b, char *err, size_t errlen)
{
    b->ad = calloc((size_t)iv->C * iv->steps, sizeof *b->ad);
    b->ring = malloc(hz_iv_ring_len(iv) * sizeof *b->ring);
    b->tags = malloc((size_t)iv->P * sizeof *b->tags);
    if (!b->ad || !b->ring || !b->tags) {
        bt_free(b);
        return hz_err(err, errlen, HZ_ENOMEM, "backtest: out of memory");
    }
    hz_iv_ring_reset(iv, b->ring, b->tags);
    return 0;
}

/* Window i of w: the reading that ends its input meets the intervals issued for it (every
 * variable, before the ring row is reused); then the window's intervals are issued, kept in
 * the ring and scored in out. */
static void bt_window(const hz_iv *iv, bt_state *b, const hz_windows *w, const float *pred, int i,
                      const double *q25, hz_calib_cov *out, size_t *in, size_t *nlow)
{
    int P = w->pred_len, C = hz_windows_out_cols(w), L = w->seq_len, nl = iv->nl;
    int64_t issued = hz_windows_start(w, i) + L - 1; /* row numbers serve as slots */
    for (int k = 0; k < C; k++)
        hz_iv_ring_learn(iv, b->ad + (size_t)k * iv->steps, b->ring, b->tags, issued, k,
                         orig(w, &iv->var[k], (int)issued, k));
    for (int k = 0; k < C; k++) {
        const hz_iv_var *v = &iv->var[k];
        hz_iv_adapt *a = b->ad + (size_t)k * iv->steps;
        double s = window_scale(w, v, i, k, 1), lo[HZ_IV_MAX_LEVELS], hi[HZ_IV_MAX_LEVELS];
        for (int h = 1; h <= P; h++) {
            double fc = hz_iv_unscale(v, pred[((size_t)i * P + h - 1) * C + k]);
            double y = orig(w, v, (int)issued + h, k);
            hz_iv_interval(iv, a, k, h, fc, s, lo, hi);
            hz_iv_ring_put(iv, b->ring, b->tags, issued + h, h, k, lo, hi);
            int low = y <= q25[k];
            *nlow += low;
            for (int l = 0; l < nl; l++) {
                in[l] += y >= lo[l] && y <= hi[l];
                out->width[l] += hi[l] - lo[l];
                if (low)
                    out->width_low[l] += hi[l] - lo[l];
            }
            out->points++;
        }
    }
}

int hz_calib_backtest(const hz_iv *iv, const hz_windows *w, const float *pred, int n,
                      hz_calib_cov *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    double q25[HZ_IV_MAX_VARS];
    bt_state b = {0};
    int rc = low_quartiles(w, iv, n, q25, err, errlen);
    if (rc || n < 1 || (rc = bt_init(iv, &b, err, errlen)))
        return rc;
    size_t in[HZ_IV_MAX_LEVELS] = {0}, nlow = 0;
    for (int i = 0; i < n; i++)
        bt_window(iv, &b, w, pred, i, q25, out, in, &nlow);
    bt_free(&b);
    for (int l = 0; l < iv->nl; l++) {
        out->cover[l] = (double)in[l] / (double)out->points;
        out->width[l] /= (double)out->points;
        out->width_low[l] = nlow ? out->width_low[l] / (double)nlow : NAN;
    }
    return 0;
}
