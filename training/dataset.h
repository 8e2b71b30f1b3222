/* dataset.h — the forecasting data protocol of the Informer / iTransformer repositories
 * (docs/MODELS.md): split borders, train-fit z-score scaling, sliding windows and calendar
 * features ("timeF" marks).  Works on arrays handed over by the caller (training/prepare.c
 * fills them from the CSV and SQLite readers of connectors/). */
#ifndef HZ_DATASET_H
#define HZ_DATASET_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/tensor.h"

#define HZ_DS_MAXVARS 32

typedef enum { HZ_SPLIT_ETT_HOUR = 0, HZ_SPLIT_ETT_MINUTE = 1, HZ_SPLIT_RATIO = 2 } hz_split_kind;

/* A whole series table: rows time steps of cols variables, row-major, raw units. */
typedef struct hz_table {
    int rows, cols;
    int64_t *ts_ms; /* [rows] UTC ms */
    float *values;  /* [rows, cols] */
} hz_table;

typedef struct hz_scaler {
    int cols;
    double mean[HZ_DS_MAXVARS], std[HZ_DS_MAXVARS];
    unsigned char log1p[HZ_DS_MAXVARS]; /* 1: the column is modelled as log1p(max(x, 0)) */
} hz_scaler;

/* Mean and population std (ddof 0) of rows [r0, r1) per column, of log1p(x) where the
 * column's log1p flag is set (set before fitting); std 0 becomes 1. */
void hz_scaler_fit(hz_scaler *s, const hz_table *t, int r0, int r1);
/* The same for column c alone, over n values x[0], x[stride], ... (a window in the daemon:
 * a pooled checkpoint's series not seen in training, training/pool.h). */
void hz_scaler_fit_col(hz_scaler *s, int c, const float *x, size_t stride, int n);
void hz_scaler_apply(const hz_scaler *s, const float *in, float *out, size_t rows);
void hz_scaler_invert(const hz_scaler *s, const float *in, float *out, size_t rows);
/* log1p(max(x, 0)): a log1p column's value as modelled (NaN stays NaN). */
static inline double hz_log1p0(double x)
{
    return log1p(x < 0 ? 0 : x);
}
/* A scaled value z back in original units: z * std + mean, through expm1 when log1p. */
static inline double hz_unscale(double z, double mean, double std, int log1p)
{
    double y = z * std + mean;
    return log1p ? expm1(y) : y;
}
/* One value of column c to the model's space and back (NaN stays NaN). */
static inline double hz_scaler_fwd(const hz_scaler *s, int c, double x)
{
    return ((s->log1p[c] ? hz_log1p0(x) : x) - s->mean[c]) / s->std[c];
}
static inline double hz_scaler_inv(const hz_scaler *s, int c, double z)
{
    return hz_unscale(z, s->mean[c], s->std[c], s->log1p[c]);
}

/* Row ranges [begin, end) of train / val / test slices (each starting seq_len early).
 * ETT: 12/4/4 months of 30 days at 24 (hour) or 96 (minute) rows a day; ratio: 0.7/0.2 test
 * as the custom loader (ratios[0] train, ratios[2] test).  Returns 0 or HZ_EINVAL (too few
 * rows; message in err). */
int hz_split_borders(hz_split_kind kind, const double ratios[3], int rows, int seq_len,
                     int begin[3], int end[3], char *err, size_t errlen);

/* timeF calendar features (freq h: 4 features in [-0.5, 0.5]:
 * hour/23, weekday/6 (Mon=0), (day-1)/30, (yday-1)/365, each minus 0.5).  Fills out[4]. */
enum { HZ_TIMEF_H_FEATURES = 4, HZ_TIMEF_MAX_FEATURES = 8 }; /* the most: TimeRPE's 8 */
void hz_timef_hour(int64_t ts_ms, float out[4]);
/* The features of the papers' `freq` that fits a grid period, told apart by their count:
 * 3 for a day or longer (freq d: weekday, day of month, day of year), 4 for an hour up to a
 * day (freq h, as hz_timef_hour), 5 below an hour (freq t: minute/59 - 0.5 first). */
int hz_timef_features(int64_t period_ms);
/* The n features (3, 4 or 5, as above; 8: NILMFormer's TimeRPE, hz_timerpe) of ts_ms into
 * out[n].  Any other n (a checkpoint's n_marks is read from its file) writes exactly n values
 * too: the hourly ones, cut short or followed by zeros. */
void hz_timef(int n, int64_t ts_ms, float *out);
/* NILMFormer's TimeRPE (docs/MODELS.md section 8) of the UTC time ts_ms: sin and cos of
 * 2 pi minute/60, hour/24, weekday/7 (Mon=0) and month/12 (month 1..12), in that order. */
enum { HZ_TIMERPE_FEATURES = 8 };
void hz_timerpe(int64_t ts_ms, float out[8]);

/* Windows over one split: sample i covers rows [s+i, s+i+seq_len) as input and
 * [s+i+seq_len-label_len, s+i+seq_len+pred_len) as decoder/target block, where s+i is
 * hz_windows_start(w, i): begin + i, or starts[i] for the windows of several series laid
 * end to end (training/pool.h), where groups say which windows are whose. */
typedef struct hz_windows {
    const float *data;  /* scaled [rows, cols] */
    const float *marks; /* [rows, n_marks] or NULL */
    int cols, n_marks;
    int begin, end; /* with starts: the rows the windows may read (the data hash's span) */
    int seq_len, label_len, pred_len;
    int count; /* end - begin - seq_len - pred_len + 1 (0 if negative); with starts, theirs */
    /* NULL (one series), or [count] each window's first row; borrowed */
    const int *starts;
    /* with starts: n_groups series, series g's windows are [group_end[g-1], group_end[g])
     * (group_end[-1] = 0); borrowed.  hz_train draws the same number from each. */
    const int *group_end;
    int n_groups;
    /* features MS: -1 (the model predicts every column) or the one column it predicts */
    int target;
    /* columns known over the horizon (a weather forecast, docs/MODELS.md §4.7): n_known
     * column indices.  known_tokens 0: the decoder input's horizon rows carry their values
     * (Informer); 1: x carries, after the cols observed columns, one more column per known
     * variable holding its values pred_len rows later, up to the window's last target row
     * (iTransformer's extra variate tokens). */
    int n_known, known_tokens;
    int known[HZ_DS_MAXVARS];
    /* disaggregation (training/disagg.h), 0 otherwise: same_rows makes x the column
     * `input` alone and y the target column over the input's own rows (pred_len = seq_len,
     * no label rows) instead of the rows after them */
    int same_rows, input;
} hz_windows;

/* Columns of a batch's x (the model's enc_in) and of its y (the model's c_out); the table
 * column of output column j. */
static inline int hz_windows_in_cols(const hz_windows *w)
{
    if (w->same_rows)
        return 1;
    return w->cols + (w->known_tokens ? w->n_known : 0);
}
static inline int hz_windows_out_cols(const hz_windows *w)
{
    return w->target < 0 ? w->cols : 1;
}
static inline int hz_windows_out_col(const hz_windows *w, int j)
{
    return w->target < 0 ? j : w->target;
}

static inline int hz_windows_start(const hz_windows *w, int i)
{
    return w->starts ? w->starts[i] : w->begin + i;
}

void hz_windows_init(hz_windows *w, const float *data, const float *marks, int cols, int n_marks,
                     int begin, int end, int seq_len, int label_len, int pred_len);
/* in's statistics for w's output columns (features MS: the target's alone) into out. */
void hz_scaler_out(const hz_scaler *in, const hz_windows *w, hz_scaler *out);

/* Copies samples idx[0..n) into batch buffers (any may be NULL):
 * x [n, seq_len, in_cols], x_mark [n, seq_len, n_marks], x_dec [n, label+pred, cols] (label
 * part known, pred part zeros but for known columns), x_mark_dec [n, label+pred, n_marks],
 * y [n, pred_len, out_cols].  With known_tokens the window's rows must reach
 * start + seq_len + pred_len, as they do for y. */
void hz_windows_batch(const hz_windows *w, const int *idx, int n, hz_real *x, hz_real *x_mark,
                      hz_real *x_dec, hz_real *x_mark_dec, hz_real *y);

#endif
