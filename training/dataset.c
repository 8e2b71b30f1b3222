/* dataset.c — split borders, scaling, windows and timeF marks (dataset.h; docs/MODELS.md). */
#include "training/dataset.h"

#include <math.h>
#include <string.h>
#include <time.h>

#include "common/hz.h"

/* x as the scaler fits it: log1p(max(x, 0)) for a log1p column. */
static double value_of(const hz_scaler *s, int c, double x)
{
    return s->log1p[c] ? hz_log1p0(x) : x;
}

void hz_scaler_fit_col(hz_scaler *s, int c, const float *x, size_t stride, int n)
{
    double sum = 0, ss = 0;
    for (int r = 0; r < n; r++)
        sum += value_of(s, c, x[(size_t)r * stride]);
    double mean = n > 0 ? sum / n : 0;
    for (int r = 0; r < n; r++) {
        double d = value_of(s, c, x[(size_t)r * stride]) - mean;
        ss += d * d;
    }
    double sd = n > 0 ? sqrt(ss / n) : 0;
    s->mean[c] = mean;
    s->std[c] = sd > 0 ? sd : 1.0;
}

void hz_scaler_fit(hz_scaler *s, const hz_table *t, int r0, int r1)
{
    s->cols = t->cols;
    for (int c = 0; c < t->cols; c++)
        hz_scaler_fit_col(s, c, t->values + (size_t)r0 * t->cols + c, (size_t)t->cols, r1 - r0);
}

void hz_scaler_apply(const hz_scaler *s, const float *in, float *out, size_t rows)
{
    for (size_t r = 0; r < rows; r++)
        for (int c = 0; c < s->cols; c++) {
            size_t i = r * (size_t)s->cols + (size_t)c;
            out[i] = (float)hz_scaler_fwd(s, c, in[i]);
        }
}

void hz_scaler_invert(const hz_scaler *s, const float *in, float *out, size_t rows)
{
    for (size_t r = 0; r < rows; r++)
        for (int c = 0; c < s->cols; c++) {
            size_t i = r * (size_t)s->cols + (size_t)c;
            out[i] = (float)hz_scaler_inv(s, c, in[i]);
        }
}

int hz_split_borders(hz_split_kind kind, const double ratios[3], int rows, int seq_len,
                     int begin[3], int end[3], char *err, size_t errlen)
{
    int b2[3];
    if (kind == HZ_SPLIT_ETT_HOUR || kind == HZ_SPLIT_ETT_MINUTE) {
        int day = kind == HZ_SPLIT_ETT_HOUR ? 24 : 96, month = 30 * day;
        b2[0] = 12 * month;
        b2[1] = 16 * month;
        b2[2] = 20 * month;
    } else {
        int n_train = (int)(ratios[0] * rows), n_test = (int)(ratios[2] * rows);
        b2[0] = n_train;
        b2[1] = rows - n_test;
        b2[2] = rows;
    }
    if (b2[2] > rows)
        return hz_err(err, errlen, HZ_EINVAL,
                      "split needs %d rows (12/4/4 months of 30 days), the data has %d", b2[2],
                      rows);
    begin[0] = 0;
    begin[1] = b2[0] - seq_len;
    begin[2] = b2[1] - seq_len;
    end[0] = b2[0];
    end[1] = b2[1];
    end[2] = b2[2];
    if (begin[1] < 0 || begin[2] < 0)
        return hz_err(err, errlen, HZ_EINVAL, "split: seq_len %d is longer than the train part",
                      seq_len);
    return 0;
}

void hz_timef_hour(int64_t ts_ms, float out[4])
{
    /* UTC calendar by integer arithmetic (common/hz.c), as gmtime_r gives it but without its
     * time-zone lock: the daemon computes (lookback + horizon) of these per window */
    int64_t days = hz_floor_div(ts_ms, 86400000), ms = ts_ms - days * 86400000;
    int64_t y;
    int m, d;
    hz_civil_from_days(days, &y, &m, &d);
    int hour = (int)(ms / 3600000);
    int weekday = (int)(((days + 3) % 7 + 7) % 7);     /* 1970-01-01 a Thursday; Monday = 0 */
    int64_t yday = days - hz_days_from_civil(y, 1, 1); /* 0-based = dayofyear - 1 */
    out[0] = (float)(hour / 23.0 - 0.5);
    out[1] = (float)(weekday / 6.0 - 0.5);
    out[2] = (float)((d - 1) / 30.0 - 0.5);
    out[3] = (float)((double)yday / 365.0 - 0.5);
}

int hz_timef_features(int64_t period_ms)
{
    return period_ms >= 86400000 ? 3 : period_ms >= 3600000 ? 4 : 5;
}

void hz_timef(int n, int64_t ts_ms, float *out)
{
    float h[4];
    hz_timef_hour(ts_ms, h);
    if (n == 3) {
        memcpy(out, h + 1, 3 * sizeof *out);
    } else if (n == 5) {
        int64_t min = hz_floor_div(ts_ms, 60000) - hz_floor_div(ts_ms, 3600000) * 60;
        out[0] = (float)(min / 59.0 - 0.5);
        memcpy(out + 1, h, 4 * sizeof *out);
    } else if (n == 4) {
        memcpy(out, h, 4 * sizeof *out);
    } else if (n == HZ_TIMERPE_FEATURES) {
        hz_timerpe(ts_ms, out);
    } else { /* never more than out[n] (training/prepare.c sizes the marks by n) */
        for (int i = 0; i < n; i++)
            out[i] = i < 4 ? h[i] : 0.0f;
    }
}

void hz_timerpe(int64_t ts_ms, float out[8])
{
    int64_t days = hz_floor_div(ts_ms, 86400000), ms = ts_ms - days * 86400000;
    int64_t y;
    int month, d;
    hz_civil_from_days(days, &y, &month, &d);
    /* minute, hour, weekday (1970-01-01 a Thursday; Monday = 0), month; and their periods */
    const int64_t v[4] = {ms / 60000 % 60, ms / 3600000, ((days + 3) % 7 + 7) % 7, month};
    const double period[4] = {60, 24, 7, 12};
    for (int i = 0; i < 4; i++) {
        double a = 2 * M_PI * (double)v[i] / period[i];
        out[2 * i] = (float)sin(a);
        out[2 * i + 1] = (float)cos(a);
    }
}

void hz_windows_init(hz_windows *w, const float *data, const float *marks, int cols, int n_marks,
                     int begin, int end, int seq_len, int label_len, int pred_len)
{
    w->data = data;
    w->marks = marks;
    w->cols = cols;
    w->n_marks = marks ? n_marks : 0;
    w->begin = begin;
    w->end = end;
    w->seq_len = seq_len;
    w->label_len = label_len;
    w->pred_len = pred_len;
    int n = end - begin - seq_len - pred_len + 1;
    w->count = n > 0 ? n : 0;
    w->starts = w->group_end = NULL;
    w->n_groups = 0;
    w->target = -1;
    w->n_known = w->known_tokens = 0;
    w->same_rows = w->input = 0;
}

static void copy_rows(hz_real *dst, const float *src, int row0, int nrows, int cols)
{
    const float *s = src + (size_t)row0 * cols;
    for (size_t i = 0; i < (size_t)nrows * cols; i++)
        dst[i] = s[i];
}

void hz_scaler_out(const hz_scaler *in, const hz_windows *w, hz_scaler *out)
{
    *out = *in;
    if (w->target < 0)
        return;
    out->cols = 1;
    out->mean[0] = in->mean[w->target];
    out->std[0] = in->std[w->target];
    out->log1p[0] = in->log1p[w->target];
}

/* Column c of rows [row0, row0 + nrows) into dst, whose rows are stride apart. */
static void copy_col(hz_real *dst, size_t stride, const float *src, int cols, int c, int row0,
                     int nrows)
{
    for (int r = 0; r < nrows; r++)
        dst[(size_t)r * stride] = src[(size_t)(row0 + r) * cols + c];
}

/* x of one window: the observed columns, then the known columns pred_len rows ahead. */
static void window_x(const hz_windows *w, hz_real *x, int s0)
{
    int L = w->seq_len, C = w->cols, I = hz_windows_in_cols(w);
    if (w->same_rows) {
        copy_col(x, 1, w->data, C, w->input, s0, L);
        return;
    }
    if (I == C) {
        copy_rows(x, w->data, s0, L, C);
        return;
    }
    for (int c = 0; c < C; c++)
        copy_col(x + c, (size_t)I, w->data, C, c, s0, L);
    for (int k = 0; k < w->n_known; k++)
        copy_col(x + C + k, (size_t)I, w->data, C, w->known[k], s0 + w->pred_len, L);
}

void hz_windows_batch(const hz_windows *w, const int *idx, int n, hz_real *x, hz_real *x_mark,
                      hz_real *x_dec, hz_real *x_mark_dec, hz_real *y)
{
    int L = w->seq_len, lab = w->label_len, P = w->pred_len, C = w->cols, F = w->n_marks;
    int I = hz_windows_in_cols(w), O = hz_windows_out_cols(w);
    if (w->same_rows) /* no decoder: its rows would lie past the window */
        x_dec = x_mark_dec = NULL;
    for (int b = 0; b < n; b++) {
        int s0 = hz_windows_start(w, idx[b]), r0 = s0 + L - lab; /* decoder block start */
        if (x)
            window_x(w, x + (size_t)b * L * I, s0);
        if (x_mark && F)
            copy_rows(x_mark + (size_t)b * L * F, w->marks, s0, L, F);
        if (x_dec) {
            hz_real *d = x_dec + (size_t)b * (lab + P) * C;
            copy_rows(d, w->data, r0, lab, C);
            memset(d + (size_t)lab * C, 0, (size_t)P * C * sizeof(hz_real));
            for (int k = 0; k < w->n_known && !w->known_tokens; k++)
                copy_col(d + (size_t)lab * C + w->known[k], (size_t)C, w->data, C, w->known[k],
                         s0 + L, P);
        }
        if (x_mark_dec && F)
            copy_rows(x_mark_dec + (size_t)b * (lab + P) * F, w->marks, r0, lab + P, F);
        int y0 = w->same_rows ? s0 : s0 + L; /* the target's first row */
        if (y && O == C)
            copy_rows(y + (size_t)b * P * C, w->data, y0, P, C);
        else if (y)
            copy_col(y + (size_t)b * P, 1, w->data, C, w->target, y0, P);
    }
}
