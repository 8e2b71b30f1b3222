/* interval.h — forecast intervals that are calibrated, asymmetric and locally adaptive, per
 * (series, variable, step); the residual score of a reading; the calibration `horizon train`
 * stores in a checkpoint.  docs/ANOMALIES.md explains the method for operators.
 *
 * Space.  Each variable is looked at in its interval space z: z = log1p(max(x, 0)) with
 * `transform: log1p` (flows, loads: errors grow with the level), else the checkpoint's
 * z-score (x - mean) / std.  Forecasts and bounds go back through the inverse and are clipped
 * to the variable's physical bounds (`bounds: [0, null]`: never negative).
 *
 * Local scale.  s = mean |z[t] - z[t-1]| over the window's last HZ_IV_SCALE_W differences,
 * at least HZ_IV_FLOOR_FRAC of the typical s the calibration saw: bands widen in a storm and
 * narrow at base flow (Lei et al. 2018, "Distribution-free predictive inference for
 * regression", §5.2: locally weighted conformal).
 *
 * Calibration.  On the validation split, the normalised signed residual
 * u = (z(actual) - z(forecast)) / s is collected per (step, variable); the checkpoint keeps
 * its quantiles at the HZ_IV_GRID probabilities hz_iv_grid_p (conformal ranks: ceil((n+1)p)
 * above the median, floor((n+1)p) below).  A level a takes the lower quantile at (1-a)/2 and
 * the upper at (1+a)/2 (linear between grid points): separate tails for skewed series.
 *
 * Online adaptation.  Per (series, variable) and level, one offset per side, in units of the
 * step's half-width w = (q_hi - q_lo) / 2: upper = z(fc) + s (q_hi + d_hi w).  Each reading
 * checked moves d by gamma (miss - (1-a)/2), the quantile tracker of Angelopoulos, Candès and
 * Tibshirani 2023 ("Conformal PID control", §2.1): whatever the data, the long-run share of
 * misses on each side tends to (1-a)/2.  The daemon checks a reading against the forecast
 * of earliest step (step 1 at stride 1), so that step adapts exactly; the offset carries to
 * the longer steps in their own width units.
 *
 * Nothing here allocates after hz_iv_init; state per series is an hz_iv_adapt (a few
 * floats, no pointers). */
#ifndef HZ_INTERVAL_H
#define HZ_INTERVAL_H

#include <stddef.h>

#define HZ_IV_MAX_LEVELS 4
#define HZ_IV_MAX_VARS   32 /* as HZ_DS_MAXVARS, training/dataset.h */
#define HZ_IV_GRID       25
#define HZ_IV_TENSOR     "calib.norm_residual_grid" /* F32 [pred_len, variables, HZ_IV_GRID] */
#define HZ_IV_SCALE_W    8                          /* differences in the local scale */
#define HZ_IV_FLOOR_FRAC 1.0  /* floor of s, as a share of the calibration's median s */
#define HZ_IV_CAP_FRAC   1.0  /* cap of s, as a multiple of the calibration's median s */
#define HZ_IV_GAMMA      0.05 /* adaptation step, in half-widths */
#define HZ_IV_MIN_HALF                                                                             \
    0.5 /* least half-width, in local scales: below the series' own                                \
           movement nothing is an anomaly (a constant series) */

/* Probabilities of the calibration grid, ascending, symmetric around 0.5. */
extern const double hz_iv_grid_p[HZ_IV_GRID];

enum { HZ_TF_NONE = 0, HZ_TF_LOG1P = 1 };

/* Parses "none" / "log1p"; returns HZ_TF_* or -1. */
int hz_iv_transform_parse(const char *s);
const char *hz_iv_transform_name(int tf);

/* One variable's interval space. */
typedef struct hz_iv_var {
    int transform;    /* HZ_TF_* */
    double mean, std; /* the checkpoint's scaler (z-score space when no transform) */
    double lo, hi;    /* physical bounds in original units; NaN: none */
    double scale_med; /* typical local scale on the calibration split; <= 0: unknown */
    int scaled_log1p; /* the model works on (log1p(x) - mean) / std (the scaler's flag) */
} hz_iv_var;

/* A model-space value of v back in original units. */
double hz_iv_unscale(const hz_iv_var *v, double zs);

double hz_iv_z(const hz_iv_var *v, double x);
/* The inverse of hz_iv_z, clipped to the bounds. */
double hz_iv_x(const hz_iv_var *v, double z);
/* x clipped to the bounds (NaN stays NaN). */
double hz_iv_clip(const hz_iv_var *v, double x);
/* Local scale of n window values x[0], x[stride], ... (original units, oldest first) with the
 * floor applied; non-finite values are skipped.  Without a floor (scale_med <= 0) and with
 * no movement, returns 1e-6. */
double hz_iv_scale(const hz_iv_var *v, const float *x, size_t stride, int n);
/* The raw local scale (no floor); 0 when there are no two consecutive finite values. */
double hz_iv_scale_raw(const hz_iv_var *v, const float *x, size_t stride, int n);

/* Quantiles of r[0..n) (sorted in place) at the grid probabilities; n >= 1. */
void hz_iv_grid_fill(float *r, size_t n, float out[HZ_IV_GRID]);
/* A grid for an uncalibrated model: a Laplace distribution of unit scale, wide on purpose
 * (the online adaptation narrows it). */
void hz_iv_grid_default(float out[HZ_IV_GRID]);
/* The grid's quantile at probability p (linear between grid points, clamped at its ends). */
double hz_iv_grid_at(const float g[HZ_IV_GRID], double p);

/* The intervals of one model: levels, variables and per (step, variable, level) quantiles. */
typedef struct hz_iv {
    int P, C, nl;
    double levels[HZ_IV_MAX_LEVELS]; /* ascending, in (0, 1) */
    hz_iv_var var[HZ_IV_MAX_VARS];
    float *qlo, *qhi; /* [P, C, nl] normalised lower / upper quantiles */
} hz_iv;

/* grid: [P, C, HZ_IV_GRID] (a checkpoint's HZ_IV_TENSOR, any alignment) or NULL for the
 * default grid.  vars: C entries.  Returns 0, HZ_EINVAL (bad levels, named) or HZ_ENOMEM. */
int hz_iv_init(hz_iv *iv, int P, int C, const double *levels, int nl, const hz_iv_var *vars,
               const void *grid, char *err, size_t errlen);
void hz_iv_free(hz_iv *iv);

/* Online offsets of one (series, variable); all-zero is the start state. */
typedef struct hz_iv_adapt {
    float d[HZ_IV_MAX_LEVELS][2]; /* [level][0 lower, 1 upper] */
} hz_iv_adapt;

/* The interval at every level of forecast fc (original units) of variable k at step h
 * (1-based) with local scale s: lo[nl], hi[nl] in original units, nested, within the
 * bounds.  a may be NULL (no adaptation). */
void hz_iv_interval(const hz_iv *iv, const hz_iv_adapt *a, int k, int h, double fc, double s,
                    double *lo, double *hi);

typedef struct hz_iv_result {
    double lo[HZ_IV_MAX_LEVELS], hi[HZ_IV_MAX_LEVELS]; /* the intervals it was scored against */
    int exceeded; /* levels whose interval excludes the actual value (0: inside all) */
    int flagged;  /* outside the highest level's interval */
    double score; /* z / (1 + z), z = distance from the forecast in half-widths of the
                     highest level on that side: 0.5 at its bound, -> 1 far outside */
    double u;     /* signed distance from the forecast in half-widths of the lowest level on
                     that side (the shift detector's input, pipeline/anomaly.h) */
} hz_iv_result;

/* Scores actual against fc (variable k, step h, scale s) with a's offsets, then (a not NULL)
 * moves the offsets.  Returns 0, or -1 when actual or fc is not finite (nothing changed). */
int hz_iv_observe(const hz_iv *iv, hz_iv_adapt *a, int k, int h, double actual, double fc, double s,
                  hz_iv_result *r);

#endif
